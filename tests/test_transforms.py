"""Training augmentations: stray lines, hard or soft, cross the picture on torch's random stream; caches stay clean."""

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


@pytest.mark.parametrize("soft", [False, True])
def test_stray_lines_run_from_edge_to_edge_and_cross_the_object(soft: bool) -> None:
    dataset = ShapesDataset("train", length=8, seed=3)
    crossed = 0
    for index in range(8):
        image, mask, _ = dataset.sample(index)
        picture = Image.fromarray(np.array(image))
        torch.manual_seed(index)
        drawn = StrayLines(1.0, soft=soft)(picture)
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


def test_soft_stray_lines_blend_into_the_picture_and_hard_ones_do_not() -> None:
    picture = Image.new("RGB", (64, 64), (128, 128, 128))
    colours = {}
    for soft in (False, True):
        torch.manual_seed(2)
        drawn = np.asarray(StrayLines(1.0, soft=soft)(picture)).reshape(-1, 3)
        colours[soft] = len(np.unique(drawn, axis=0))
    # hard: the grey and at most one colour per line and dot (10 + 8); soft: edges mix line and grey
    assert colours[False] <= 1 + 10 + 8
    assert colours[True] > 40


def test_soft_stray_lines_give_every_pixel_they_miss_back_exactly() -> None:
    dataset = ShapesDataset("train", length=6, seed=3)
    for index in range(6):
        picture = Image.fromarray(np.array(dataset.sample(index)[0]))  # noisy, textured scenes
        torch.manual_seed(index)
        moved = changed(picture, StrayLines(1.0, soft=True)(picture))
        # a blur or a shifted resample would move nearly every pixel of a textured picture
        assert 0.0 < moved.mean() < 0.6


def test_soft_stray_lines_are_wider_on_average_than_hard_ones() -> None:
    picture = Image.new("RGB", (64, 64), (128, 128, 128))
    covered = {}
    for soft in (False, True):
        torch.manual_seed(4)
        covered[soft] = np.mean([changed(picture, StrayLines(1.0, soft=soft)(picture)).mean() for _ in range(40)])
    assert covered[True] > 1.3 * covered[False]


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
    assert not composed.transforms[0].soft
    assert train_transform("shapes", prep, stray_lines=0.5, soft_lines=True).transforms[0].soft


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
    assert payload["training"]["stray_lines"] == 0.25 and payload["training"]["soft_lines"] is False
    assert torch.load(tmp_path / "model.pt", weights_only=True)["training"]["stray_lines"] == 0.25
    soft = train(parse_args([*args[:-1], str(tmp_path / "soft.pt"), "--soft-lines"]))
    assert soft["training"]["soft_lines"] is True
