"""Tests for the deletion and insertion curves (models/evaluation/curves.py) and ``models.evaluate --curves``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from attention import SpatialAttention
from models.evaluate import main
from models.evaluation import (
    CENTRE_PRIOR,
    GRAD_CAM,
    RANDOM,
    block_of,
    curve_auc,
    deletion_insertion,
    pixel_ranks,
    step_counts,
)
from models.networks import AttentionResNet

ROOT = Path(__file__).resolve().parent.parent
SHAPES_CHECKPOINT = ROOT / "assets" / "shapes.pt"

SIDE = 16
SQUARE = (slice(4, 12), slice(2, 10))  # rows 4..11, columns 2..9: 64 of the 256 pixels
SCALE = 0.01


class SquareSum(nn.Module):
    """Two logits, +s and -s, where s is SCALE times the sum of the input inside SQUARE: only those pixels matter."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = SCALE * x[:, :, SQUARE[0], SQUARE[1]].sum(dim=(1, 2, 3))
        return torch.stack([s, -s], dim=1)


def _images(count: int = 6, seed: int = 0) -> torch.Tensor:
    """Positive pixels everywhere, so every square pixel deleted lowers s and the predicted class is 0."""
    generator = torch.Generator().manual_seed(seed)
    return 0.5 + torch.rand((count, 2, SIDE, SIDE), generator=generator)


def _square_map(count: int) -> torch.Tensor:
    saliency = torch.zeros((count, SIDE, SIDE))
    saliency[:, SQUARE[0], SQUARE[1]] = 1.0
    return saliency


def _class0_probability(square_sums: np.ndarray) -> np.ndarray:
    """softmax([s, -s])[0] = sigmoid(2 s), written out here instead of asking the model."""
    return 1.0 / (1.0 + np.exp(-2.0 * SCALE * square_sums))


# --------------------------------------------------------------------------------------
# Pieces
# --------------------------------------------------------------------------------------


def test_step_counts_run_from_nothing_to_everything() -> None:
    assert step_counts(256, 4) == [0, 64, 128, 192, 256]
    assert step_counts(10, 4) == [0, 2, 5, 8, 10]  # round(2.5) = 2, round(7.5) = 8 (to even)
    assert step_counts(10, 1) == [0, 10]
    with pytest.raises(ValueError):
        step_counts(10, 0)


def test_pixel_ranks_order_by_saliency_and_break_ties_in_row_major_order() -> None:
    saliency = torch.tensor([[[0.2, 0.9], [0.2, 0.5]], [[1.0, 1.0], [1.0, 1.0]]])
    assert pixel_ranks(saliency).tolist() == [[2, 0, 3, 1], [0, 1, 2, 3]]


def test_curve_auc_is_the_trapezoid_rule() -> None:
    fractions = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    values = np.array([[1.0, 0.5, 0.5, 0.5, 0.5], [0.0, 0.0, 1.0, 1.0, 1.0]])
    # First: 0.25 * (1 + 0.5) / 2 + 0.75 * 0.5; second: 0.25 / 2 + 0.5.
    assert curve_auc(fractions, values).tolist() == pytest.approx([0.5625, 0.625])
    uneven = np.array([0.0, 0.1, 1.0])
    assert curve_auc(uneven, np.array([1.0, 1.0, 0.0])) == pytest.approx(0.1 + 0.45)
    with pytest.raises(ValueError):
        curve_auc(fractions, values[:, :3])


def test_block_of_a_spatial_layer_is_its_residual_block() -> None:
    model = AttentionResNet(num_classes=3, in_channels=3, widths=(8, 16), depths=(1, 1), stem_stride=2)
    assert block_of(model, "stages.0.0.attention.spatial") == "stages.0.0"
    assert block_of(model, "stages.1.0.attention.channel") == "stages.1.0"


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.attention = SpatialAttention()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attention(self.conv(x))


class _OneBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = _Block()
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(x).mean(dim=(2, 3)))


def test_block_of_a_top_level_block() -> None:
    assert block_of(_OneBlock(), "block.attention") == "block"


# --------------------------------------------------------------------------------------
# A model whose answer is known: only the pixels of SQUARE count
# --------------------------------------------------------------------------------------


def test_curve_ends_are_the_whole_image_and_the_baseline_probabilities() -> None:
    images = _images()
    curves = deletion_insertion(SquareSum(), images, torch.rand((len(images), SIDE, SIDE)), steps=16)
    whole = _class0_probability(images[:, :, SQUARE[0], SQUARE[1]].sum(dim=(1, 2, 3)).double().numpy())
    assert curves.targets.tolist() == [0] * len(images)
    assert curves.fractions[0] == 0.0 and curves.fractions[-1] == 1.0 and len(curves.fractions) == 17
    np.testing.assert_allclose(curves.deletion[:, 0], whole, rtol=1e-5)
    np.testing.assert_allclose(curves.insertion[:, -1], whole, rtol=1e-5)
    np.testing.assert_allclose(curves.deletion[:, -1], 0.5, rtol=1e-6)  # zero baseline: s = 0
    np.testing.assert_allclose(curves.insertion[:, 0], 0.5, rtol=1e-6)


def test_square_map_curves_step_by_step() -> None:
    """With 4 steps the square map deletes (or inserts) exactly the square in the first step."""
    images = _images()
    curves = deletion_insertion(SquareSum(), images, _square_map(len(images)), steps=4)
    whole = _class0_probability(images[:, :, SQUARE[0], SQUARE[1]].sum(dim=(1, 2, 3)).double().numpy())
    np.testing.assert_allclose(curves.fractions, [0.0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(curves.deletion, np.stack([whole] + [np.full_like(whole, 0.5)] * 4, 1), rtol=1e-5)
    np.testing.assert_allclose(curves.insertion, np.stack([np.full_like(whole, 0.5)] + [whole] * 4, 1), rtol=1e-5)
    expected_deletion = 0.25 * (whole + 0.5) / 2 + 0.75 * 0.5
    np.testing.assert_allclose(curve_auc(curves.fractions, curves.deletion), expected_deletion, rtol=1e-5)


def test_a_given_baseline_replaces_the_pixels() -> None:
    images = _images()
    baseline = torch.full((1, 2, 1, 1), 0.25)
    curves = deletion_insertion(SquareSum(), images, _square_map(len(images)), baseline, steps=4)
    empty = _class0_probability(np.array(0.25 * 2 * 64))
    np.testing.assert_allclose(curves.deletion[:, 1:], empty, rtol=1e-5)
    np.testing.assert_allclose(curves.insertion[:, 0], empty, rtol=1e-5)


def test_the_faithful_map_beats_a_random_and_the_inverted_map() -> None:
    images = _images(count=8)
    model = SquareSum()
    square = _square_map(len(images))
    maps = {
        "square": square,
        "random": torch.rand(square.shape, generator=torch.Generator().manual_seed(1)),
        "inverted": 1.0 - square,
    }
    aucs = {}
    for name, saliency in maps.items():
        curves = deletion_insertion(model, images, saliency, steps=16)
        aucs[name] = (curve_auc(curves.fractions, curves.deletion), curve_auc(curves.fractions, curves.insertion))
    for other in ("random", "inverted"):
        assert (aucs["square"][0] < aucs[other][0]).all(), (other, aucs)
        assert (aucs["square"][1] > aucs[other][1]).all(), (other, aucs)
    assert (aucs["random"][0] < aucs["inverted"][0]).all() and (aucs["random"][1] > aucs["inverted"][1]).all()


def test_curves_follow_a_given_class_and_restore_the_mode() -> None:
    images = _images(count=3)
    model = SquareSum().train()
    curves = deletion_insertion(model, images, _square_map(3), steps=4, target=torch.tensor(1))
    assert model.training
    assert curves.targets.tolist() == [1, 1, 1]
    np.testing.assert_allclose(curves.deletion[:, 0], curves.insertion[:, 1], rtol=1e-5)  # the whole image
    with pytest.raises(ValueError):
        deletion_insertion(model, images, torch.rand(3, SIDE, SIDE - 1))


# --------------------------------------------------------------------------------------
# The shipped shapes model, through the command
# --------------------------------------------------------------------------------------

CURVE_IMAGES = 32
# Measured on those 32 scenes (`python -m models.evaluate shapes --limit 32 --curves --curve-steps 8`). Step 15, the
# 128-pixel model (2026-12-05): insertion - deletion of the first SA mask 0.157 (0.615 - 0.458), of the best SA
# layer (stages.2) 0.369, of the random map -0.010. Step 12, the 96-pixel model (2026-12-04): first mask 0.172
# (0.573 - 0.401), best layer 0.274, random map -0.031. One of the two curves alone can sit near the random map's
# (step 12's first-mask insertion, step 15's first-mask deletion: it also lights up clutter), so the test holds
# each map to the gap between them. The margin is about a third of the smallest lead over the random map (0.167).
RANDOM_MARGIN = 0.06


@pytest.mark.slow
def test_evaluate_curves_on_the_shipped_shapes_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not SHAPES_CHECKPOINT.exists():
        pytest.skip("assets/shapes.pt is not there")
    out = tmp_path / "eval.json"
    arguments = [str(SHAPES_CHECKPOINT), "--limit", str(CURVE_IMAGES), "--curves", "--curve-steps", "8"]
    assert main([*arguments, "--json", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "deletion AUC" in printed and "insertion AUC" in printed and "random map (baseline)" in printed
    data = json.loads(out.read_text())
    rows, settings = data["curves"], data["curves_settings"]
    keys = list(rows)
    assert keys[-3:] == [CENTRE_PRIOR, RANDOM, GRAD_CAM]
    spatial = keys[:-3]
    assert spatial == [f"stages.{i}.0.attention.spatial" for i in range(4)]
    assert settings["steps"] == 8 and settings["images"] == CURVE_IMAGES and len(settings["fractions"]) == 9
    assert settings["best_spatial_layer"] in spatial
    assert settings["grad_cam_layer"] == settings["best_spatial_layer"].removesuffix(".attention.spatial")
    for key, row in rows.items():
        assert row["n"] == CURVE_IMAGES, key
        assert 0.0 <= row["deletion_auc"] <= 1.0 and 0.0 <= row["insertion_auc"] <= 1.0, key
        assert len(row["deletion_curve"]) == len(row["insertion_curve"]) == 9, key
        assert row["deletion_auc"] == pytest.approx(float(curve_auc(settings["fractions"], row["deletion_curve"])))
        # Every map starts from the same whole images and ends at the same baseline.
        assert row["deletion_curve"][0] == pytest.approx(rows[RANDOM]["deletion_curve"][0]), key
        assert row["insertion_curve"][0] == pytest.approx(rows[RANDOM]["insertion_curve"][0]), key
        assert math.isclose(row["deletion_curve"][0], row["insertion_curve"][-1], rel_tol=1e-6), key
    assert rows[spatial[0]]["size"] == [64, 64] and rows[RANDOM]["size"] == [128, 128]
    first, best, random_map = rows[spatial[0]], rows[settings["best_spatial_layer"]], rows[RANDOM]

    def gap(row: dict) -> float:
        return row["insertion_auc"] - row["deletion_auc"]

    assert gap(first) > gap(random_map) + RANDOM_MARGIN, (first, random_map)
    assert gap(best) > gap(random_map) + RANDOM_MARGIN, (best, random_map)
    assert gap(best) == max(gap(rows[key]) for key in spatial)
