"""Training augmentations: stray lines cross the whole picture, on torch's random stream, and leave the cache alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from models.datasets.shapes import ShapesDataset
from models.train import main, parse_args, preprocessing_for, train
from models.transforms import StrayLines, train_transform


def changed(before: Image.Image, after: Image.Image) -> np.ndarray:
    return (np.asarray(before, dtype=np.int16) != np.asarray(after, dtype=np.int16)).any(axis=2)


def test_stray_lines_run_from_edge_to_edge_and_cross_the_object() -> None:
    dataset = ShapesDataset("train", length=8, seed=3)
    crossed = 0
    for index in range(8):
        image, mask, _ = dataset.sample(index)
        picture = Image.fromarray(np.array(image))
        torch.manual_seed(index)
        drawn = StrayLines(1.0)(picture)
        moved = changed(picture, drawn)
        # at least two lines, each crossing all 64 columns or all 64 rows
        assert moved.sum() >= 2 * 48
        border = np.concatenate([moved[0], moved[-1], moved[:, 0], moved[:, -1]])
        assert border.sum() >= 3  # lines leave the picture rather than stop inside it
        crossed += bool((moved & mask).any())
    assert crossed >= 4  # unlike the generator's clutter, the strokes go over the object too


def test_stray_lines_leave_the_datasets_cached_picture_alone() -> None:
    dataset = ShapesDataset("train", length=2, seed=3)
    before = np.array(dataset.sample(0)[0])
    picture, _ = dataset[0]
    torch.manual_seed(0)
    drawn = StrayLines(1.0)(picture)
    assert changed(picture, drawn).any()
    assert np.array_equal(np.asarray(picture), before) and np.array_equal(dataset.sample(0)[0], before)


def test_stray_lines_follow_their_probability_and_torchs_seed() -> None:
    picture = Image.new("RGB", (32, 32), (128, 128, 128))
    assert StrayLines(0.0)(picture) is picture
    torch.manual_seed(5)
    hits = sum(changed(picture, StrayLines(0.3)(picture)).any() for _ in range(600))
    assert 0.24 * 600 < hits < 0.36 * 600
    torch.manual_seed(9)
    first = np.asarray(StrayLines(1.0)(picture))
    torch.manual_seed(9)
    assert np.array_equal(first, np.asarray(StrayLines(1.0)(picture)))
    assert not np.array_equal(first, np.asarray(StrayLines(1.0)(picture)))


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_a_stray_lines_probability_outside_zero_to_one_is_refused(p: float) -> None:
    with pytest.raises(ValueError, match="from 0 to 1"):
        StrayLines(p)


def test_train_transform_draws_stray_lines_first_only_when_asked() -> None:
    prep = preprocessing_for("shapes", None)
    assert "StrayLines" not in repr(train_transform("shapes", prep))
    composed = train_transform("shapes", prep, stray_lines=0.25)
    assert isinstance(composed.transforms[0], StrayLines) and composed.transforms[0].p == 0.25
    assert composed(Image.new("RGB", (64, 64))).shape == (3, 64, 64)


@pytest.mark.parametrize("p", ["1.5", "-1", "nan"])
def test_the_train_command_refuses_a_stray_lines_probability_in_one_line(tmp_path: Path, p: str) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["--dataset", "shapes", "--stray-lines", p, "--max-steps", "1", "--out", str(tmp_path / "x.pt")])
    message = str(refused.value.code)
    assert message.startswith("error: --stray-lines must be a probability from 0 to 1") and "\n" not in message
    assert not (tmp_path / "x.pt").exists()


def test_training_with_stray_lines_says_so_in_the_checkpoint(tmp_path: Path) -> None:
    args = ["--dataset", "shapes", "--train-size", "32", "--val-size", "16", "--test-size", "16", "--epochs", "1"]
    args += ["--batch-size", "16", "--stray-lines", "0.25", "--no-progress", "--out", str(tmp_path / "model.pt")]
    payload = train(parse_args(args))
    assert payload["training"]["stray_lines"] == 0.25
    assert torch.load(tmp_path / "model.pt", weights_only=True)["training"]["stray_lines"] == 0.25
