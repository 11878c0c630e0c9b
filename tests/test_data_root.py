"""A checkpoint trained on a folder remembers it, so evaluating it needs no options; a bad record is one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from attention.errors import InputError
from models.checkpoint import SHIPPED, load_checkpoint
from models.datasets import SHAPE_CLASSES
from models.evaluation import evaluate_checkpoint


def image_folder(root: Path, per_class: int = 4) -> Path:
    """One subfolder per class the shapes model predicts, a few noise pictures in each."""
    rng = np.random.default_rng(0)
    for name in SHAPE_CLASSES:
        (root / name).mkdir(parents=True)
        for index in range(per_class):
            Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(root / name / f"{index}.png")
    return root


def trained_on(tmp_path: Path, data_root: object, folder_classes: bool = True) -> Path:
    """The shipped shapes model, its training record saying it was trained on an image folder at ``data_root``."""
    payload = torch.load(SHIPPED["shapes"], map_location="cpu", weights_only=True)
    payload["training"] = {**payload["training"], "dataset": "imagefolder", "data_root": data_root}
    if folder_classes:
        payload["classes"] = sorted(payload["classes"])  # an image folder's classes are its sorted subfolders
    path = tmp_path / "my_model.pt"
    torch.save(payload, path)
    return path


def test_evaluate_finds_the_folder_the_checkpoint_was_trained_on(tmp_path: Path) -> None:
    folder = image_folder(tmp_path / "my_images")
    result = evaluate_checkpoint(load_checkpoint(trained_on(tmp_path, str(folder))), progress=False)
    assert result["dataset"] == "imagefolder" and result["data_root"] == str(folder)
    assert result["n"] >= 1


@pytest.mark.slow
def test_an_explicit_data_root_wins_over_the_recorded_one(tmp_path: Path) -> None:
    folder = image_folder(tmp_path / "elsewhere")
    loaded = load_checkpoint(trained_on(tmp_path, str(tmp_path / "gone")))
    assert evaluate_checkpoint(loaded, progress=False, data_root=str(folder))["data_root"] == str(folder)


@pytest.mark.parametrize(
    ("data_root", "wording"),
    [
        ("{tmp}/gone", r"trained on '.*/gone', which is not a folder here; pass --data-root$"),
        ("{tmp}/file.txt", r"which is not a folder here; pass --data-root$"),
        (["/etc"], r"records a malformed data root \['/etc'\]; pass --data-root$"),
        ("/tmp\0/x", r"records a malformed data root '/tmp\\x00/x'; pass --data-root$"),
        ("x" * 5000, r"records a malformed data root 'x+; pass --data-root$"),
        (None, r"does not record its image folder; pass --data-root$"),
    ],
)
def test_a_missing_or_hostile_recorded_root_is_one_line(tmp_path: Path, data_root: object, wording: str) -> None:
    (tmp_path / "file.txt").write_text("not a folder")
    if isinstance(data_root, str):
        data_root = data_root.replace("{tmp}", str(tmp_path))
    loaded = load_checkpoint(trained_on(tmp_path, data_root))
    with pytest.raises(InputError, match=wording) as refused:
        evaluate_checkpoint(loaded, progress=False)
    assert "\n" not in str(refused.value) and len(str(refused.value)) < 400


@pytest.mark.slow
def test_a_root_recorded_for_another_dataset_is_not_used(tmp_path: Path) -> None:
    """Evaluating on shapes ignores the folder a checkpoint was fine-tuned on: shapes has no root."""
    loaded = load_checkpoint(trained_on(tmp_path, str(tmp_path / "gone"), folder_classes=False))
    result = evaluate_checkpoint(loaded, "shapes", limit=8, progress=False)
    assert result["dataset"] == "shapes" and result["data_root"] is None
