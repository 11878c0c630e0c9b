"""Tests for models/evaluation/ and the models.evaluate command: localization, Grad-CAM, checkpoint runs."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from attention.errors import InputError
from models.checkpoint import load_checkpoint
from models.datasets import ShapesDataset
from models.evaluate import main
from models.evaluation import (
    CENTRE_PRIOR,
    GRAD_CAM,
    GradCAM,
    auroc,
    centre_prior,
    dilate,
    disk_offsets,
    energy_inside,
    evaluate_checkpoint,
    format_report,
    grad_cam,
    pointing_game,
    precise_mask,
    tolerance_px,
)
from models.networks import AttentionResNet

ROOT = Path(__file__).resolve().parent.parent
SHAPES_CHECKPOINT = ROOT / "assets" / "shapes.pt"


def _tiny_model(seed: int = 0) -> AttentionResNet:
    torch.manual_seed(seed)
    return AttentionResNet(num_classes=4, in_channels=3, widths=(8, 16), depths=(1, 1), stem_stride=2).eval()


def _forward_hook_count(model: nn.Module) -> int:
    return sum(len(module._forward_hooks) for module in model.modules())


# --------------------------------------------------------------------------------------
# AUROC
# --------------------------------------------------------------------------------------


def test_auroc_perfect_reversed_and_all_tied() -> None:
    labels = [False, False, True, True]
    assert auroc([0.1, 0.2, 0.8, 0.9], labels) == 1.0
    assert auroc([0.9, 0.8, 0.2, 0.1], labels) == 0.0
    assert auroc([0.5, 0.5, 0.5, 0.5], labels) == 0.5


def test_auroc_hand_computed_with_ties() -> None:
    # Positives 0.8, 0.5; negatives 0.5, 0.2, 0.1. Pairs (pos > neg counts 1, tie 1/2):
    # 0.8 beats all three (3); 0.5 ties 0.5 (0.5) and beats 0.2, 0.1 (2) -> 5.5 / 6.
    scores = np.array([0.8, 0.5, 0.5, 0.2, 0.1])
    labels = np.array([1, 1, 0, 0, 0])
    assert auroc(scores, labels) == pytest.approx(5.5 / 6)
    # Order of the inputs does not matter, and torch tensors work too.
    order = np.array([3, 0, 4, 2, 1])
    assert auroc(torch.tensor(scores[order]), torch.tensor(labels[order]).bool()) == pytest.approx(5.5 / 6)
    # One positive and one negative that tie: exactly chance.
    assert auroc([1.0, 1.0], [True, False]) == 0.5


def test_auroc_matches_pairwise_definition() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, 60).astype(float)  # many ties
    labels = rng.random(60) < 0.4
    pos, neg = scores[labels], scores[~labels]
    pairwise = ((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (pos.size * neg.size)
    assert auroc(scores, labels) == pytest.approx(pairwise)


def test_auroc_needs_both_classes() -> None:
    with pytest.raises(ValueError):
        auroc([0.1, 0.2], [True, True])
    with pytest.raises(ValueError):
        auroc([0.1, float("nan")], [True, False])


# --------------------------------------------------------------------------------------
# Dilation, pointing game, energy
# --------------------------------------------------------------------------------------


def test_dilation_is_a_disk_of_the_given_radius() -> None:
    mask = torch.zeros(11, 11, dtype=torch.bool)
    mask[5, 5] = True
    assert torch.equal(dilate(mask, 0), mask)
    grown = dilate(mask, 2)
    assert int(grown.sum()) == 13 == len(disk_offsets(2))
    assert grown[5, 7] and grown[3, 5] and grown[6, 6]  # distance 2 along an axis, sqrt(2) diagonal
    assert not grown[6, 7] and not grown[7, 7]  # sqrt(5) and sqrt(8) are beyond 2
    assert int(dilate(mask, 3).sum()) == 29
    # Dilation never shrinks, clips at the border, and works on numpy and batches.
    corner = np.zeros((2, 6, 6), dtype=bool)
    corner[1, 0, 0] = True
    batch = dilate(corner, 1)
    assert batch.shape == (2, 6, 6) and not batch[0].any()
    assert int(batch[1].sum()) == 3  # the corner and its two in-image neighbours
    with pytest.raises(ValueError):
        dilate(mask, -1)


def test_tolerance_is_four_percent_of_the_side() -> None:
    assert tolerance_px(64, 64) == 3  # round(2.56)
    assert tolerance_px(28, 28) == 1  # round(1.12)
    assert tolerance_px(224, 224) == 9  # round(8.96)
    assert tolerance_px(10, 10) == 0


def _square_object(size: int = 64) -> torch.Tensor:
    mask = torch.zeros(size, size, dtype=torch.bool)
    mask[20:30, 20:30] = True  # rows/columns 20..29
    return mask


def _peak_at(y: int, x: int, size: int = 64) -> torch.Tensor:
    saliency = torch.full((size, size), 0.1)
    saliency[y, x] = 1.0
    return saliency


def test_pointing_game_hit_and_far_miss() -> None:
    target = _square_object()
    assert pointing_game(_peak_at(25, 25), target, 3)  # on the object
    assert not pointing_game(_peak_at(50, 50), target, 3)  # far away
    assert not pointing_game(_peak_at(25, 25), torch.zeros(64, 64, dtype=torch.bool), 3)  # no object


def test_pointing_game_boundary_of_the_tolerance() -> None:
    target = _square_object()
    assert pointing_game(_peak_at(25, 32), target, 3)  # 3 px right of the object: inside the tolerance
    assert not pointing_game(_peak_at(25, 33), target, 3)  # 4 px right: just outside
    assert pointing_game(_peak_at(25, 33), target, 4)
    assert not pointing_game(_peak_at(32, 32), target, 3)  # (3, 3) diagonal = 4.24 px: outside the disk
    assert not pointing_game(torch.ones(64, 64), target, 3)  # a constant map points nowhere
    assert pointing_game(_peak_at(25, 25).numpy(), target.numpy(), 0)


def test_saturated_mask_is_scored_by_its_logits() -> None:
    """float32 rounds sigmoid(x) to 1.0 for x above ~17: the pointing game must still find the top logit."""
    from attention.recorder import SpatialRecord
    from attention.spatial import SpatialAttention

    target = _square_object()
    logits = torch.full((1, 64, 64), 20.0)
    logits[0, 25, 25] = 30.0  # the layer's real favourite, on the object
    mask32 = torch.sigmoid(logits)
    assert bool((mask32 == 1.0).all())  # every pixel ties in float32 ...
    assert not pointing_game(mask32[0], target, 3)  # ... so argmax falls on (0, 0)
    record = SpatialRecord(name="sa", mask=mask32, kernel_size=7, logits=logits)
    precise = precise_mask(record, SpatialAttention())
    assert precise.dtype == torch.float64
    assert pointing_game(precise[0], target, 3)
    torch.testing.assert_close(precise.float(), mask32)
    without_logits = SpatialRecord(name="sa", mask=mask32, kernel_size=7)
    assert torch.equal(precise_mask(without_logits, SpatialAttention()), mask32.double())


def test_pointing_game_agrees_with_dilation() -> None:
    rng = np.random.default_rng(1)
    for _ in range(40):
        target = torch.from_numpy(rng.random((20, 24)) < 0.03)
        if not target.any():
            continue
        radius = int(rng.integers(0, 4))
        saliency = torch.from_numpy(rng.random((20, 24)))
        y, x = divmod(int(saliency.argmax()), 24)
        assert pointing_game(saliency, target, radius) == bool(dilate(target, radius)[y, x])


def test_energy_inside() -> None:
    target = _square_object()  # 100 of 4096 pixels
    inside_only = torch.zeros(64, 64)
    inside_only[target] = 0.7
    assert energy_inside(inside_only, target) == pytest.approx(1.0)
    assert energy_inside(torch.ones(64, 64), target) == pytest.approx(100 / 4096)
    half = torch.zeros(64, 64)
    half[25, 25] = 1.0
    half[60, 60] = 1.0
    assert energy_inside(half, target) == pytest.approx(0.5)
    assert energy_inside(torch.zeros(64, 64), target) == pytest.approx(100 / 4096)  # no mass: like uniform
    with pytest.raises(ValueError):
        energy_inside(-torch.ones(64, 64), target)
    with pytest.raises(ValueError):
        energy_inside(torch.ones(32, 32), target)


def test_centre_prior() -> None:
    prior = centre_prior(64, 64)
    assert prior.shape == (64, 64)
    assert float(prior.max()) <= 1.0 and float(prior.min()) > 0
    assert int(prior.argmax()) // 64 in (31, 32) and int(prior.argmax()) % 64 in (31, 32)
    assert torch.allclose(prior, prior.flip(0)) and torch.allclose(prior, prior.T)
    # sigma = 64 / 4 = 16 px; pixel centres sit at i + 0.5, the image centre at 32.
    distance_sq = (31.5 - 32) ** 2 + (47.5 - 32) ** 2
    assert float(prior[31, 47]) == pytest.approx(math.exp(-distance_sq / (2 * 16**2)), rel=1e-5)


# --------------------------------------------------------------------------------------
# Grad-CAM
# --------------------------------------------------------------------------------------


def test_gradcam_shape_non_negative_and_matches_cam() -> None:
    model = _tiny_model()
    images = torch.randn(3, 3, 32, 32)
    activations: list[torch.Tensor] = []
    handle = model.stages[-1].register_forward_hook(lambda _m, _i, out: activations.append(out.detach()))
    try:
        with torch.no_grad():
            expected_logits = model(images)
    finally:
        handle.remove()
    with GradCAM(model) as cam:
        out = cam(images)
    assert cam.layer_name == "stages.1"
    assert out.maps.shape == (3, 8, 8)  # 32 px, stem stride 2, one more stride-2 stage
    assert float(out.maps.min()) >= 0.0
    assert torch.allclose(out.logits, expected_logits, atol=1e-5)
    assert torch.equal(out.targets, expected_logits.argmax(1))
    # With global average pooling before a linear head, Grad-CAM equals CAM scaled by 1/(h*w).
    weights = model.fc.weight[out.targets].detach()  # (B, C)
    cam_reference = torch.relu(torch.einsum("bc,bchw->bhw", weights, activations[0]) / 64)
    assert torch.allclose(out.maps, cam_reference, atol=1e-5)


def test_gradcam_leaves_model_state_alone() -> None:
    model = _tiny_model()
    model.train()
    model.stem[0].weight.requires_grad_(False)
    before = {name: p.requires_grad for name, p in model.named_parameters()}
    hooks_before = _forward_hook_count(model)
    with torch.inference_mode(), GradCAM(model) as cam:  # works even under a caller's inference mode
        out = cam(torch.randn(2, 3, 32, 32), target=1)
    assert torch.equal(out.targets, torch.tensor([1, 1]))
    assert model.training
    assert {name: p.requires_grad for name, p in model.named_parameters()} == before
    assert all(p.grad is None for p in model.parameters())
    assert _forward_hook_count(model) == hooks_before


def test_grad_cam_function_gives_the_class_maps_as_numpy() -> None:
    """The one-call form other code uses: same maps as the context manager, per-image classes, no hook left."""
    model = _tiny_model()
    images = torch.randn(2, 3, 32, 32)
    hooks_before = _forward_hook_count(model)
    maps = grad_cam(model, images, "stages.0", class_index=torch.tensor([2, 0]))
    assert isinstance(maps, np.ndarray) and maps.dtype == np.float32 and maps.shape == (2, 16, 16)
    with GradCAM(model, model.stages[0]) as cam:
        expected = cam(images, torch.tensor([2, 0])).maps
    np.testing.assert_allclose(maps, expected.numpy(), atol=1e-6)
    with GradCAM(model, model.stages[0]) as cam:
        other_class = cam(images, torch.tensor([1, 1])).maps
    assert not np.allclose(maps, other_class.numpy())  # the class index is honoured
    assert _forward_hook_count(model) == hooks_before
    assert grad_cam(model, images).shape == (2, 8, 8)  # default layer: the last stage


def test_gradcam_hooks_removed_after_exit_and_exception() -> None:
    model = _tiny_model()
    hooks_before = _forward_hook_count(model)
    cam = GradCAM(model)
    with cam:
        assert cam.active and _forward_hook_count(model) == hooks_before + 1
    assert not cam.active and _forward_hook_count(model) == hooks_before

    with pytest.raises(RuntimeError, match="boom"), GradCAM(model) as cam:
        raise RuntimeError("boom")
    assert _forward_hook_count(model) == hooks_before

    # An exception inside the call (wrong input channels) propagates, and state is restored.
    model.train()
    with pytest.raises(RuntimeError), GradCAM(model) as cam:
        cam(torch.randn(1, 5, 32, 32))
    assert model.training and _forward_hook_count(model) == hooks_before

    with pytest.raises(RuntimeError, match="with"):
        GradCAM(model)(torch.randn(1, 3, 32, 32))


# --------------------------------------------------------------------------------------
# Whole checkpoint and CLI
# --------------------------------------------------------------------------------------


SCENES = 64
"""Scenes of the shapes test split (seed 0) the checkpoint is scored on: enough for stable floors, about 2 s."""

# Floors for the first spatial-attention layer of assets/shapes.pt on those scenes, a safe margin below the
# measured values (pointing game on the displayed mask 0.531, from the logits 0.547, median mask range 0.992, AUROC
# 0.712; centre prior 0.266 and 0.722; measured 2026-12-06 with `evaluate_checkpoint(load_checkpoint("shapes"), None,
# "test", 64, 32, seed=0)`, on step 18). The split has 30% photographed pen drawings since issue 27: a line a pixel
# or two wide, where the mask's peak lands within 4 px in about half the frames (0.52 on the camera set), many
# objects under 15% of the side since step 13, and since step 18 shapes up to 75% of the side, which the centre
# prior finds more often. On all 2,000 scenes of the split step 18 points at 0.566 and the centre prior at 0.274;
# step 16 reads the same 2,000 at 0.564 and the same 64 at 0.531, so these floors follow the split, not the model
# (step 13, on its own split: 0.641 on the 64). Scoring each map against another image's mask gives about 0.2.
FIRST_STAGE_POINTING_FLOOR = 0.45
FIRST_STAGE_RANGE_FLOOR = 0.5  # issue 14: the overlay must separate object from background on the 0-1 scale
FIRST_STAGE_AUROC_FLOOR = 0.65
MARGIN_OVER_CENTRE_PRIOR = {"pointing_game_displayed": 0.2}
# On 100 pictures of the independent renderer (`--dataset shapes-heldout --limit 100`): accuracy 97.0%, displayed
# pointing game 0.910, median range 0.987, centre prior 0.530 (2026-12-05, step 13).
HELDOUT_PICTURES = 100
HELDOUT_ACCURACY_FLOOR = 0.88
HELDOUT_POINTING_FLOOR = 0.8


@pytest.fixture(scope="module")
def shapes_result() -> dict:
    if not SHAPES_CHECKPOINT.exists():
        pytest.skip("assets/shapes.pt is not there")
    torch.manual_seed(0)
    return evaluate_checkpoint(load_checkpoint(SHAPES_CHECKPOINT), None, "test", SCENES, 32, False, seed=0)


@pytest.mark.slow
def test_evaluate_checkpoint_on_shapes(shapes_result: dict) -> None:
    result = shapes_result
    assert result["dataset"] == "shapes" and result["n"] == SCENES
    assert 0.0 <= result["accuracy"] <= 1.0
    confusion = np.array(result["confusion_matrix"])
    classes = result["classes"]
    assert confusion.shape == (len(classes), len(classes)) and confusion.sum() == SCENES
    assert result["accuracy"] == pytest.approx(np.trace(confusion) / SCENES)
    localization = result["localization"]
    assert localization is not None
    keys = list(localization)
    assert keys[-2:] == [CENTRE_PRIOR, GRAD_CAM]
    spatial = keys[:-2]
    assert spatial and all(key.endswith("spatial") for key in spatial)
    for key, row in localization.items():
        assert 0.0 <= row["pointing_game"] <= 1.0, key
        assert 0.0 <= row["energy_inside"] <= 1.0, key
        assert 0.0 <= row["auroc"] <= 1.0, key
        assert len(row["size"]) == 2 and row["n"] == SCENES, key
    assert localization[CENTRE_PRIOR]["size"] == list(load_checkpoint(SHAPES_CHECKPOINT).preprocessing.input_size)
    settings = result["localization_settings"]
    assert settings["tolerance_px"] == tolerance_px(*localization[CENTRE_PRIOR]["size"])
    assert 0.0 < settings["object_share"] < 1.0
    report = format_report(result)
    assert "pointing game" in report and classes[0] in report
    assert "centre prior (baseline)" in report


@pytest.mark.slow
def test_first_attention_layer_finds_the_object_better_than_the_centre_prior(shapes_result: dict) -> None:
    """The shipped model's first SA mask points at the object: above stated floors and well above the centre prior."""
    localization = shapes_result["localization"]
    first = localization["stages.0.0.attention.spatial"]
    prior = localization[CENTRE_PRIOR]
    assert first["n"] == prior["n"] == SCENES
    assert first["pointing_game_displayed"] >= FIRST_STAGE_POINTING_FLOOR, first
    assert first["pointing_game"] >= FIRST_STAGE_POINTING_FLOOR, first
    assert first["mask_range_median"] >= FIRST_STAGE_RANGE_FLOOR, first
    assert first["auroc"] >= FIRST_STAGE_AUROC_FLOOR, first
    for score, margin in MARGIN_OVER_CENTRE_PRIOR.items():
        assert first[score] >= prior[score] + margin, (score, first, prior)


@pytest.mark.slow
def test_shipped_model_reads_and_points_at_shapes_another_program_drew() -> None:
    """Issue 14's goals, on the independent renderer: accuracy, and a displayed mask that points and varies."""
    result = evaluate_checkpoint(load_checkpoint("shapes"), "shapes-heldout", limit=HELDOUT_PICTURES, progress=False)
    assert result["n"] == HELDOUT_PICTURES and result["accuracy"] >= HELDOUT_ACCURACY_FLOOR, result["accuracy"]
    first = result["localization"]["stages.0.0.attention.spatial"]
    prior = result["localization"][CENTRE_PRIOR]
    assert first["pointing_game_displayed"] >= HELDOUT_POINTING_FLOOR, first
    assert first["mask_range_median"] >= FIRST_STAGE_RANGE_FLOOR, first
    assert first["pointing_game_displayed"] >= prior["pointing_game_displayed"] + 0.25, (first, prior)


@pytest.mark.slow
def test_centre_prior_baseline_matches_a_count_by_hand(shapes_result: dict) -> None:
    """The reported baseline is what a centred map scores on these very scenes, counted here without the scorer.

    The model reads 128-pixel scenes, so the prior's peak is pixel (63, 63) (the first of its four tied centre
    pixels), and its pointing game is the share of scenes whose object comes within the tolerance of that pixel.
    """
    scenes = ShapesDataset("test", length=SCENES, size=128, seed=0)
    radius = tolerance_px(128, 128)
    hits = 0
    for index in range(SCENES):
        ys, xs = np.nonzero(scenes.sample(index)[1])
        hits += bool((((ys - 63) ** 2 + (xs - 63) ** 2) <= radius * radius).any())
    assert shapes_result["localization"][CENTRE_PRIOR]["pointing_game"] == pytest.approx(hits / SCENES)


def test_evaluate_checkpoint_rejects_mismatched_dataset() -> None:
    if not SHAPES_CHECKPOINT.exists():
        pytest.skip("assets/shapes.pt is not there")
    loaded = load_checkpoint(SHAPES_CHECKPOINT)
    with pytest.raises(InputError):
        evaluate_checkpoint(loaded, "no-such-dataset", limit=4, progress=False)
    with pytest.raises(InputError):
        evaluate_checkpoint(loaded, "shapes", limit=0, progress=False)


@pytest.mark.slow
def test_main_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not SHAPES_CHECKPOINT.exists():
        pytest.skip("assets/shapes.pt is not there")
    out = tmp_path / "eval.json"
    assert main([str(SHAPES_CHECKPOINT), "--limit", "8", "--batch-size", "4", "--json", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "Grad-CAM" in printed
    data = json.loads(out.read_text())
    assert data["n"] == 8 and set(data["localization"]) >= {CENTRE_PRIOR, GRAD_CAM}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["missing", "garbage"])
def test_cli_bad_checkpoint_exits_2_with_one_line(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "model.pt"
    if kind == "garbage":
        path.write_bytes(b"this is not a checkpoint")
    proc = subprocess.run(
        [sys.executable, "-m", "models.evaluate", str(path), "--no-progress"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr


@pytest.mark.slow
def test_fashion_mask_ranges_are_those_of_the_exported_masks() -> None:
    """Without object masks the evaluation still says how much each displayed mask varies, image by image."""
    from attention.analysis import Analyzer, analysis_to_dict
    from models.datasets import FashionMNISTIdx

    loaded = load_checkpoint("fashion")
    result = evaluate_checkpoint(loaded, limit=1, progress=False)
    assert result["localization"] is None
    image, _ = FashionMNISTIdx(split="test")[0]
    with Analyzer(loaded.model, loaded.classes, loaded.preprocessing, loaded.name) as analyzer:
        exported = analysis_to_dict(analyzer.analyze([image])[0])
    spatial = [layer for layer in exported["layers"] if layer["type"] == "spatial"]
    assert [layer["name"] for layer in spatial] == list(result["mask_ranges"])
    for layer in spatial:
        mask = np.array(layer["mask"], dtype=np.float64)
        row = result["mask_ranges"][layer["name"]]
        assert row["n"] == 1 and row["size"] == list(mask.shape)
        assert row["median"] == pytest.approx(mask.max() - mask.min(), abs=1e-9)
    assert "median range" in format_report(result)
