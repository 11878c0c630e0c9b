"""``python -m attention analyze`` as users and scripts run it: a real subprocess."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cli
from attention import render
from tests.badfiles import (
    BAD_IMAGE_MESSAGES,
    write_bad_checkpoints,
    write_bad_images,
    write_invalid_checkpoints,
    write_odd_mode_images,
    write_plain_checkpoint,
    write_zip_bomb,
)
from tests.commands import run_attention

ROOT = Path(__file__).resolve().parent.parent


def refuse_constant(token: str) -> None:
    raise AssertionError(f"non-strict JSON token {token}")


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return run_attention("analyze", *args)


@pytest.fixture(scope="module")
def scenes(shape_images: list[Path]) -> list[Path]:
    """Three of the shared shapes uploads (PNG and JPEG, non-square, larger than the model's input)."""
    return shape_images[:3]


# What the shipped shapes model's documents must say, written out rather than read from the code that writes them.
SHAPES_CLASSES = ["circle", "ring", "square", "triangle", "star", "cross"]
SHAPES_LAYERS = [
    ("stages.0.0.attention.channel", "eca", 24, 3),
    ("stages.0.0.attention.spatial", "spatial", [64, 64], 7),
    ("stages.1.0.attention.channel", "eca", 48, 3),
    ("stages.1.0.attention.spatial", "spatial", [32, 32], 7),
    ("stages.2.0.attention.channel", "eca", 96, 3),
    ("stages.2.0.attention.spatial", "spatial", [16, 16], 7),
    ("stages.3.0.attention.channel", "eca", 192, 5),
    ("stages.3.0.attention.spatial", "spatial", [8, 8], 7),
]


def check_schema(document: dict, count: int) -> None:
    assert set(document) == {"checkpoint", "classes", "preprocessing", "discovery", "results"}
    assert document["discovery"] == {
        "found": [{"name": name, "type": "ECA" if kind == "eca" else "SpatialAttention", "kind":
                   "channel" if kind == "eca" else "spatial", "by": "registered type"}
                  for name, kind, _size, _kernel in SHAPES_LAYERS],
        "rejected": []}  # fmt: skip
    assert document["preprocessing"] == {
        "input_size": [128, 128], "channels": 3, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25],
        "resize": "squash", "crop_pct": 1.0, "interpolation": "bilinear"}  # fmt: skip
    classes = document["classes"]
    assert classes == SHAPES_CLASSES
    assert len(document["results"]) == count
    for result in document["results"]:
        assert set(result) == {"image", "prediction", "top", "view", "layers"}
        assert result["view"] == [0.0, 0.0, 1.0, 1.0]
        prediction = result["prediction"]
        assert set(prediction) == {"label", "index", "probability"}
        assert classes[prediction["index"]] == prediction["label"]
        top = result["top"]
        assert 1 <= len(top) <= 5 and top[0]["label"] == prediction["label"]
        probabilities = [t["probability"] for t in top]
        assert probabilities == sorted(probabilities, reverse=True)
        assert all(0 <= p <= 1 for p in probabilities)
        written = [
            (layer["name"], layer["type"], layer.get("channels", layer.get("size")), layer["kernel_size"])
            for layer in result["layers"]
        ]
        assert written == SHAPES_LAYERS
        for layer in result["layers"]:
            if layer["type"] == "eca":
                assert set(layer) == {"name", "type", "channels", "kernel_size", "weights", "branches"}
                assert len(layer["weights"]) == layer["channels"]
                assert set(layer["branches"]) == {"avg", "max"}
                assert all(len(v) == layer["channels"] for v in layer["branches"].values())
                assert all(0 <= w <= 1 for w in layer["weights"])
                assert layer["kernel_size"] % 2 == 1
            else:
                assert set(layer) == {"name", "type", "kernel_size", "size", "mask"}
                height, width = layer["size"]
                mask = np.asarray(layer["mask"])
                assert mask.shape == (height, width)
                assert mask.min() >= 0 and mask.max() <= 1


@pytest.mark.slow
def test_json_one_document_for_many_images(scenes: list[Path]) -> None:
    result = run_cli(*scenes, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout, parse_constant=refuse_constant)  # exactly one strict JSON document
    check_schema(document, len(scenes))
    assert document["checkpoint"] == "shapes"
    assert [r["image"] for r in document["results"]] == [str(p) for p in scenes]


@pytest.mark.slow
def test_batched_equals_single(scenes: list[Path]) -> None:
    together = json.loads(run_cli(*scenes, "--json").stdout)["results"]
    alone = json.loads(run_cli(scenes[1], "--json", "--batch-size", "1").stdout)["results"][0]
    assert together[1]["prediction"]["index"] == alone["prediction"]["index"]
    for a, b in zip(together[1]["layers"], alone["layers"]):
        key = "weights" if a["type"] == "eca" else "mask"
        np.testing.assert_allclose(np.asarray(a[key]), np.asarray(b[key]), atol=1e-5)


@pytest.mark.slow
def test_out_writes_pngs(scenes: list[Path], tmp_path: Path) -> None:
    result = run_cli(scenes[0], "--out", tmp_path / "figs")
    assert result.returncode == 0, result.stderr
    assert "shape0" in result.stdout
    written = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert "shape0_summary.png" in written
    assert sum(name.endswith("_overlay.png") for name in written) == 4
    assert sum(name.endswith("_weights.png") for name in written) == 4
    overlay = Image.open(next((tmp_path / "figs").glob("*_overlay.png")))
    original = Image.open(scenes[0]).size  # at the original image's resolution, but at least 256 px
    assert max(overlay.size) == max(max(original), render.MIN_HEATMAP_SIDE)
    assert overlay.size[0] * original[1] == overlay.size[1] * original[0]


@pytest.mark.slow
def test_odd_modes_analyse(tmp_path: Path) -> None:
    paths = write_odd_mode_images(tmp_path)
    result = run_cli(*paths.values(), "--json")
    assert result.returncode == 0, result.stderr
    check_schema(json.loads(result.stdout), len(paths))


@pytest.mark.slow
def test_bad_images_exit_2_with_one_line(tmp_path: Path) -> None:
    for name, path in write_bad_images(tmp_path).items():
        result = run_cli(path, "--json")
        assert result.returncode == 2, name
        assert result.stdout == "", name
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (name, result.stderr)
        assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_bad_checkpoints_exit_2(tmp_path: Path, scenes: list[Path]) -> None:
    marker = tmp_path / "pwned"
    cases = write_bad_checkpoints(tmp_path, marker)
    cases["missing.pt"] = tmp_path / "missing.pt"
    for name, path in cases.items():
        result = run_cli(scenes[0], "--checkpoint", path)
        assert result.returncode == 2, name
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (name, result.stderr)
    assert not marker.exists()


EXAMPLES = ROOT / "assets" / "examples"


def slug(label: str) -> str:
    """How an example's file name spells its class: "T-shirt/top" -> "t-shirt-top", "Ankle boot" -> "ankle-boot"."""
    return "-".join("".join(c if c.isalnum() else " " for c in label.lower()).split())


@pytest.mark.slow
@pytest.mark.parametrize("model", ["shapes", "fashion", "shapes-vit"])
def test_every_shipped_example_is_labelled_right(model: str) -> None:
    """The file names of the shipped examples carry their true class: the CLI must predict it."""
    examples = sorted(EXAMPLES.glob(f"{model}_*.png"))
    assert len(examples) >= 5
    result = run_cli(*examples, "--checkpoint", model, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout, parse_constant=refuse_constant)
    assert document["checkpoint"] == model
    for path, entry in zip(examples, document["results"]):
        true_label = path.stem.split("_")[1]
        assert slug(entry["prediction"]["label"]) == true_label, (path.name, entry["top"][:3])
        assert entry["image"] == str(path)
    if model == "shapes":  # the README's example
        star = document["results"][[p.name for p in examples].index("shapes_star_11.png")]
        assert star["prediction"]["label"] == "star" and star["prediction"]["probability"] > 0.99


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory, scenes: list[Path]) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    invalid = write_invalid_checkpoints(folder / "invalid")
    paths = {name: path for name, (path, _) in invalid.items()}
    paths["plain.pt"] = write_plain_checkpoint(folder / "plain.pt")
    paths["bomb.pt"] = write_zip_bomb(folder / "bomb.pt")
    paths["folder"] = folder / "invalid"
    blocker = folder / "blocker.txt"
    blocker.write_text("a file where --out wants a folder")
    paths["blocker"] = blocker
    paths.update(write_bad_images(folder / "images"))
    paths["scene"] = scenes[0]
    return paths


# argv (with {name} for a path from `hostile`) -> the wording of the one error line (a regex).
BAD_ARGV: list[tuple[list[str], str]] = [
    ([], r"^error: the following arguments are required: command$"),
    (["analyze"], r"^error: give at least one image or folder, or --list-layers$"),
    (["explain", "{scene}"], r"^error: say where to write: --out DIR \(one sheet per layer\) or --slides DIR"),
    (["report", "{scene}"], r"^error: argument command: invalid choice: 'report'"),
    (["analyze", "{scene}", "--frobnicate"], r"^error: unrecognized arguments: --frobnicate$"),
    (["analyze", "{scene}", "--top-k", "-3"], r"^error: argument --top-k: -3 is out of range; give 1 to 16$"),
    (["analyze", "{scene}", "--top-k", "0"], r"^error: argument --top-k: 0 is out of range; give 1 to 16$"),
    (["analyze", "{scene}", "--top-k", "100000"], r"^error: argument --top-k: 100000 is out of range; give 1 to 16$"),
    (["analyze", "{scene}", "--top-k", "five"], r"^error: argument --top-k: 'five' is not a whole number$"),
    (["analyze", "{scene}", "--batch-size", "0"], r"^error: argument --batch-size: 0 is out of range; give 1 to 256$"),
    (["analyze", "{scene}", "--batch-size", "1e9"], r"^error: argument --batch-size: '1e9' is not a whole number$"),
    (["analyze", "{scene}", "--opacity", "3"], r"^error: argument --opacity: 3 is out of range; give 0 to 1$"),
    (["analyze", "{scene}", "--opacity", "nan"], r"^error: argument --opacity: nan is out of range; give 0 to 1$"),
    (["analyze", "{scene}", "--colormap", "nope"], r"^error: unknown colormap 'nope'; choose one of "),
    (["analyze", "/no/such/file.png"], r"^error: /no/such/file\.png: no such file$"),
    (["analyze", "{folder}"], r"^error: \S+/invalid holds no images \(\.bmp, \.gif, \.ico, \.jpeg, \.jpg, \.\.\.\)$"),
    (["analyze", "/dev/null"], r"^error: /dev/null is not a regular file$"),
    (["analyze", "{scene}", "--out", "/dev/null"], r"^error: --out /dev/null is not a folder$"),
    (
        ["analyze", "{scene}", "--out", "{blocker}/figures"],
        r"^error: cannot write figures to --out \S+: Not a directory$",
    ),
    (["analyze", "{scene}", "--checkpoint", "{folder}"], r"^error: checkpoint invalid is a directory, not a file$"),
    (["analyze", "{scene}", "--checkpoint", "/dev/null"], r"^error: checkpoint null is not a regular file$"),
    (
        ["analyze", "{scene}", "--checkpoint", "nope"],
        r"^error: checkpoint not found: nope \(shipped models: shapes, fashion, shapes-vit\)$",
    ),
    (
        ["analyze", "{scene}", "--checkpoint", "{plain.pt}"],
        r"^error: plain\.pt has no attention layers the recorder can find: an attention layer is a module whose output "
        r"is its input times a gate",
    ),
    (
        ["analyze", "{scene}", "--checkpoint", "{bomb.pt}"],
        r"^error: bomb\.pt would unpack to 1,02\d MB; the limit is 512 MB$",
    ),
    *[
        (["analyze", f"{{{name}}}"], rf"^error: {re.escape(name)}.*{phrase}")
        for name, phrase in BAD_IMAGE_MESSAGES.items()
    ],
]


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def fill(argv: list[str], paths: dict[str, Path]) -> list[str]:
    """``argv`` with every ``{name}`` replaced by that path."""
    filled = []
    for arg in argv:
        for name, path in paths.items():
            arg = arg.replace(f"{{{name}}}", str(path))
        filled.append(arg)
    return filled


@pytest.mark.parametrize(
    ("argv", "wording"), BAD_ARGV, ids=lambda value: " ".join(value) if isinstance(value, list) else ""
)
def test_bad_input_is_one_error_line(
    hostile: dict[str, Path], capsys: pytest.CaptureFixture[str], argv: list[str], wording: str
) -> None:
    """Every bad command line a user or script can produce: exit 2, nothing on stdout, one line that says why."""
    code, out, err = run_main(fill(argv, hostile), capsys)
    assert code == 2 and out == "", (code, out, err)
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert re.search(wording, lines[0]), lines[0]


def test_every_invalid_checkpoint_is_one_error_line(
    tmp_path: Path, scenes: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    for name, (path, wording) in write_invalid_checkpoints(tmp_path).items():
        code, out, err = run_main(["analyze", str(scenes[0]), "--json", "--checkpoint", str(path)], capsys)
        assert code == 2 and out == "", (name, code, out, err)
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {name}") and wording in lines[0], (name, err)


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(["analyze", "--help"], capsys)
    assert code == 0 and "--top-k" in out and "1-16" in out and err == ""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("argv", "wording"),
    [
        (["--top-k", "-3"], "error: argument --top-k: -3 is out of range; give 1 to 16"),
        (["--batch-size", "0"], "error: argument --batch-size: 0 is out of range; give 1 to 256"),
        (["--out", "{blocker}/figures"], "error: cannot write figures to --out {blocker}/figures: Not a directory"),
        (["--checkpoint", "{gray_for_rgb.pt}"], "error: gray_for_rgb.pt: its preprocessing gives 1 channel but"),
        (["--checkpoint", "{plain.pt}"], "error: plain.pt has no attention layers the recorder can find"),
        (["--checkpoint", "{nan_weight.pt}", "--json"], "error: nan_weight.pt: tensor stem.0.weight holds non-finite"),
    ],
)
def test_bad_input_in_a_real_process(hostile: dict[str, Path], argv: list[str], wording: str) -> None:
    """The same refusals as users meet them: python -m attention, exit status 2, one stderr line, no traceback."""
    result = run_cli(hostile["scene"], *fill(argv, hostile))
    assert result.returncode == 2 and result.stdout == "", result
    assert result.stderr.splitlines() == [fill([wording], hostile)[0]] or (
        len(result.stderr.splitlines()) == 1 and result.stderr.startswith(fill([wording], hostile)[0])
    ), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_an_empty_folder_and_a_device_as_images_in_a_real_process(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "/dev/null")
    assert result.returncode == 2
    assert result.stderr == f"error: {tmp_path} holds no images (.bmp, .gif, .ico, .jpeg, .jpg, ...)\n"
    result = run_cli("/dev/null")
    assert result.returncode == 2 and result.stderr == "error: /dev/null is not a regular file\n"


def test_a_non_square_input_size_gives_masks_of_that_height_and_width(
    scenes: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(["analyze", str(scenes[0]), "--input-size", "48", "64", "--json"], capsys)
    assert code == 0, err
    layers = json.loads(out)["results"][0]["layers"]
    sizes = [(layer["size"], np.asarray(layer["mask"]).shape) for layer in layers if layer["type"] == "spatial"]
    # The shapes network halves the side per stage from 32 px at a 64 px input: 24x32, 12x16, 6x8, 3x4.
    assert [size for size, _shape in sizes] == [[24, 32], [12, 16], [6, 8], [3, 4]]
    assert all(tuple(size) == shape for size, shape in sizes)
    code, out, err = run_main(["analyze", str(scenes[0]), "--input-size", "48", "64", "--out", str(tmp_path)], capsys)
    assert code == 0, err
    width, height = Image.open(scenes[0]).size
    overlays = [Image.open(path).size for path in tmp_path.glob("*_overlay.png")]
    # Drawn at least 256 px on the long side, in the uploaded image's proportions (not the model input's).
    assert overlays and all(max(size) >= 256 and abs(size[0] / size[1] - width / height) < 0.02 for size in overlays)
