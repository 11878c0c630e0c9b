"""``python -m attention analyze`` as users and scripts run it: a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.badfiles import write_bad_checkpoints, write_bad_images, write_odd_mode_images

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "attention", "analyze", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def scenes(shape_images: list[Path]) -> list[Path]:
    """Three of the shared shapes uploads (PNG and JPEG, non-square, larger than the model's input)."""
    return shape_images[:3]


def check_schema(document: dict, count: int) -> None:
    assert set(document) == {"checkpoint", "classes", "results"}
    classes = document["classes"]
    assert len(document["results"]) == count
    for result in document["results"]:
        assert set(result) == {"image", "prediction", "top", "layers"}
        prediction = result["prediction"]
        assert set(prediction) == {"label", "index", "probability"}
        assert classes[prediction["index"]] == prediction["label"]
        top = result["top"]
        assert 1 <= len(top) <= 5 and top[0]["label"] == prediction["label"]
        probabilities = [t["probability"] for t in top]
        assert probabilities == sorted(probabilities, reverse=True)
        assert all(0 <= p <= 1 for p in probabilities)
        types = [layer["type"] for layer in result["layers"]]
        assert "eca" in types and "spatial" in types
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


def test_json_one_document_for_many_images(scenes: list[Path]) -> None:
    result = run_cli(*scenes, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)  # exactly one JSON document
    check_schema(document, len(scenes))
    assert document["checkpoint"] == "shapes"
    assert [r["image"] for r in document["results"]] == [str(p) for p in scenes]


def test_batched_equals_single(scenes: list[Path]) -> None:
    together = json.loads(run_cli(*scenes, "--json").stdout)["results"]
    alone = json.loads(run_cli(scenes[1], "--json", "--batch-size", "1").stdout)["results"][0]
    assert together[1]["prediction"]["index"] == alone["prediction"]["index"]
    for a, b in zip(together[1]["layers"], alone["layers"]):
        key = "weights" if a["type"] == "eca" else "mask"
        np.testing.assert_allclose(np.asarray(a[key]), np.asarray(b[key]), atol=1e-5)


def test_out_writes_pngs(scenes: list[Path], tmp_path: Path) -> None:
    result = run_cli(scenes[0], "--out", tmp_path / "figs")
    assert result.returncode == 0, result.stderr
    assert "shape0" in result.stdout
    written = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert "shape0_summary.png" in written
    assert sum(name.endswith("_overlay.png") for name in written) == 4
    assert sum(name.endswith("_weights.png") for name in written) == 4
    overlay = Image.open(next((tmp_path / "figs").glob("*_overlay.png")))
    assert overlay.size == Image.open(scenes[0]).size  # the original image's resolution


def test_odd_modes_analyse(tmp_path: Path) -> None:
    paths = write_odd_mode_images(tmp_path)
    result = run_cli(*paths.values(), "--json")
    assert result.returncode == 0, result.stderr
    check_schema(json.loads(result.stdout), len(paths))


def test_bad_images_exit_2_with_one_line(tmp_path: Path) -> None:
    for name, path in write_bad_images(tmp_path).items():
        result = run_cli(path, "--json")
        assert result.returncode == 2, name
        assert result.stdout == "", name
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (name, result.stderr)
        assert "Traceback" not in result.stderr


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


def test_bad_options_exit_2(scenes: list[Path]) -> None:
    assert run_cli(scenes[0], "--colormap", "nope").returncode == 2
    assert run_cli(scenes[0], "--opacity", "3").returncode == 2
    assert run_cli("/no/such/file.png").returncode == 2
