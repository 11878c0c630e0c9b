"""``python -m attention explain`` and ``profile`` as a user runs them: real processes, real files."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch
from PIL import Image

from models.checkpoint import load_checkpoint
from models.datasets import ShapesDataset
from tests.commands import one_thread_env, run_attention

ROOT = Path(__file__).resolve().parent.parent
CIRCLE = ROOT / "assets" / "examples" / "shapes_circle_2.png"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_attention(*args, env=one_thread_env(), timeout=600)


@pytest.mark.slow
def test_explain_writes_one_slide_per_layer(tmp_path: Path) -> None:
    done = run_cli("explain", "assets/examples/shapes_star_11.png", "--layer", "all", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    slides = sorted(tmp_path.glob("shapes_star_11_*_explain.png"))
    assert len(slides) == 8 and [str(path) for path in slides] == sorted(done.stdout.split())
    for slide in slides:
        with Image.open(slide) as image:
            assert image.width == 750 and image.height > 1000  # a tall slide of 4 or 6 steps
    refused = run_cli("explain", "assets/examples/shapes_star_11.png", "--layer", "stem.0", "--out", str(tmp_path))
    assert refused.returncode == 2 and refused.stderr.startswith("error: shapes has no attention layer 'stem.0'")
    assert len(refused.stderr.splitlines()) == 1


@pytest.mark.slow
def test_explain_slides_writes_one_1920x1080_png_per_step_and_one_pdf(tmp_path: Path) -> None:
    layer = "stages.0.0.attention.spatial"
    done = run_cli("explain", "assets/examples/shapes_star_11.png", "--layer", layer, "--slides", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["slides.pdf"] + [f"step-0{n}.png" for n in range(1, 5)]
    for n in range(1, 5):
        with Image.open(tmp_path / f"step-0{n}.png") as image:
            assert image.size == (1920, 1080)
    assert done.stdout == f"4 slides and {tmp_path / 'slides.pdf'}\n"


@pytest.mark.slow
def test_profile_json_on_shapes_matches_the_model(tmp_path: Path) -> None:
    done = run_cli("profile", "--data", "shapes", "--limit", "32", "--json", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    loaded = load_checkpoint("shapes")
    assert document["images"] == 32 and document["classes"] == loaded.classes
    from models.transforms import eval_transform

    side = loaded.preprocessing.input_size[0]  # the profile draws its scenes at the size the model reads
    dataset = ShapesDataset("test", length=32, size=side, transform=eval_transform(loaded.preprocessing))
    inputs = torch.stack([dataset[index][0] for index in range(32)])
    labels = torch.tensor([dataset[index][1] for index in range(32)])
    with torch.inference_mode():
        accuracy = float((loaded.model(inputs).argmax(1) == labels).float().mean())
    assert abs(document["accuracy"] - accuracy) < 1e-6
    assert [layer["name"] for layer in document["layers"]][:2] == [
        "stages.0.0.attention.channel",
        "stages.0.0.attention.spatial",
    ]
    assert (tmp_path / "profile.md").read_text().count("| `stages.") == 8


def test_the_profile_draws_shapes_scenes_at_the_size_the_model_reads() -> None:
    import argparse

    from cli.profile import _data

    loaded = load_checkpoint("shapes")
    images, name, digest = _data(argparse.Namespace(data="shapes", limit=4), loaded)
    scenes = images.dataset.dataset  # DatasetImages -> Subset -> ShapesDataset
    assert (name, digest, len(images)) == ("shapes", "shapes:4", 4)
    assert scenes.size == loaded.preprocessing.input_size[0] == 128  # not drawn at 64 and enlarged
    assert images[0][0].shape == (3, 128, 128)


@pytest.mark.slow
def test_profile_reads_a_class_folder_and_refuses_a_foreign_one(tmp_path: Path) -> None:
    dataset = ShapesDataset("test", length=12)
    classes = load_checkpoint("shapes").classes
    for index in range(12):
        array, _mask, label = dataset.sample(index)
        folder = tmp_path / "data" / classes[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(folder / f"{index}.png")
    done = run_cli("profile", "--data", str(tmp_path / "data"), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["images"] == 12
    (tmp_path / "data" / "dog").mkdir()
    refused = run_cli("profile", "--data", str(tmp_path / "data"))
    assert refused.returncode == 2 and "dog is not one of the model's classes" in refused.stderr
    assert len(refused.stderr.splitlines()) == 1


def test_cli_ablate_reports_the_change_in_the_target_class() -> None:
    from tests.test_app_debug import check_identity_ablations, model_input

    result = run_attention(
        "analyze", str(CIRCLE), "--ablate", "identity", "--target", "ring", "--json", env=one_thread_env()
    )
    assert result.returncode == 0, result.stderr
    loaded = load_checkpoint("shapes")
    entries = json.loads(result.stdout)["results"][0]["ablations"]
    check_identity_ablations(entries, loaded, model_input(loaded, CIRCLE), "ring")
    for args, message in (
        (("--ablate", "identity", "--target", "dog"), "error: unknown class 'dog'; this model's classes are: circle"),
        (("--target", "ring"), "error: --target LABEL picks the class whose probability --ablate reports"),
    ):
        refused = run_attention("analyze", str(CIRCLE), *args, env=one_thread_env())
        assert refused.returncode == 2 and refused.stderr.startswith(message), refused.stderr
        assert refused.stderr.count("\n") == 1 and not refused.stdout
