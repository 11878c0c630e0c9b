"""Tests for the held-out shapes renderer and the displayed-mask scores of ``python -m models.evaluate``."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import models.datasets.shapes_heldout as heldout_module
from attention.analysis import Analyzer, analysis_to_dict
from attention.recorder import AttentionRecorder, SpatialRecord
from attention.spatial import SpatialAttention
from models.checkpoint import load_checkpoint
from models.datasets import (
    DATASET_INFO,
    HELDOUT_BACKGROUNDS,
    HELDOUT_STYLES,
    SHAPE_CLASSES,
    ShapesHeldoutDataset,
    build_dataset,
    render_heldout_scene,
)
from models.evaluate import main
from models.evaluation import (
    CENTRE_PRIOR,
    GRAD_CAM,
    displayed_mask,
    mask_range,
    pointing_game,
    precise_mask,
    upsample,
)

ROOT = Path(__file__).resolve().parent.parent
SHAPES_CHECKPOINT = ROOT / "assets" / "shapes.pt"


# --------------------------------------------------------------------------------------
# The renderer
# --------------------------------------------------------------------------------------


def test_renderer_is_deterministic_and_seeded() -> None:
    first, again = ShapesHeldoutDataset(length=6), ShapesHeldoutDataset(length=6)
    other = ShapesHeldoutDataset(length=6, seed=1)
    for index in range(6):
        image, mask, label = first.sample(index)
        image2, mask2, label2 = again.sample(index)
        assert np.array_equal(image, image2) and np.array_equal(mask, mask2) and label == label2
        assert image.shape == (64, 64, 3) and image.dtype == np.uint8
        assert mask.shape == (64, 64) and mask.dtype == bool
    assert any(not np.array_equal(first.sample(i)[0], other.sample(i)[0]) for i in range(6))
    rebuilt = render_heldout_scene(np.random.default_rng([0, 7919, 3]), 64)
    assert np.array_equal(rebuilt.image, first.sample(3)[0])
    pil, label = first[2]
    assert isinstance(pil, Image.Image) and pil.size == (64, 64) and label == first.sample(2)[2]
    assert ShapesHeldoutDataset(length=2, size=40).sample(1)[0].shape == (40, 40, 3)


def test_every_class_background_style_and_many_native_sizes_appear() -> None:
    data = ShapesHeldoutDataset(length=120)
    assert data.classes == list(SHAPE_CLASSES)
    assert set(data.targets) == set(range(len(SHAPE_CLASSES)))
    assert set(data.backgrounds) == set(HELDOUT_BACKGROUNDS)
    scenes = [data.scene(i) for i in range(60)]
    # The cheap label and background lists agree with what is drawn.
    assert data.targets[:60] == [scene.label for scene in scenes]
    assert data.backgrounds[:60] == [scene.background for scene in scenes]
    assert {scene.style for scene in scenes} == set(HELDOUT_STYLES)
    natives = [scene.native_size for scene in scenes]
    assert min(natives) < 70 and max(natives) > 140 and len(set(natives)) > 30
    extents = [scene.extent for scene in scenes]
    assert min(extents) < 0.3 and max(extents) > 0.5
    assert all(scene.mask.sum() > 10 for scene in scenes)  # thin outlines survive the resize in the mask


def test_round_classes_are_never_outlines_and_barely_squashed() -> None:
    for index in range(80):
        scene = render_heldout_scene(np.random.default_rng([5, index]), 64)
        if SHAPE_CLASSES[scene.label] in ("circle", "ring"):
            assert scene.style in ("filled", "bordered")  # an outlined circle would be a ring
            assert 0.9 <= scene.aspect <= 1.1


def _eroded(mask: np.ndarray, radius: int) -> np.ndarray:
    """Pixels whose whole (2r+1)^2 neighbourhood is in ``mask`` (outside the image counts as not)."""
    padded = np.pad(mask, radius, constant_values=False)
    out = np.ones_like(mask)
    size = mask.shape[0]
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            out &= padded[dy : dy + size, dx : dx + size]
    return out


@pytest.mark.parametrize("label", range(len(SHAPE_CLASSES)))
def test_mask_is_the_drawn_object_on_solid_backgrounds(label: int) -> None:
    """Away from anti-aliased edges, a pixel looks like the object exactly where the mask says so."""
    checked = 0
    for index in range(400):
        rng = np.random.default_rng([11, index])
        if int(np.random.default_rng([11, index]).integers(len(SHAPE_CLASSES))) != label:
            continue
        scene = render_heldout_scene(rng, 64, background="solid", style="filled")
        inside, outside = _eroded(scene.mask, 1), _eroded(~scene.mask, 2)
        background = np.median(scene.image[outside], axis=0)
        pixels = scene.image.astype(np.float64)
        to_object = np.linalg.norm(pixels - np.array(scene.object_colour), axis=-1)
        to_background = np.linalg.norm(pixels - background, axis=-1)
        closer = to_object < to_background
        assert inside.sum() > 0 and closer[inside].all(), index
        assert not closer[outside].any(), index
        checked += 1
        if checked == 4:
            break
    assert checked == 4


def test_ring_has_a_hole_and_cross_leaves_its_corners_empty() -> None:
    for index in range(300):
        rng = np.random.default_rng([13, index])
        label = int(np.random.default_rng([13, index]).integers(len(SHAPE_CLASSES)))
        if SHAPE_CLASSES[label] not in ("ring", "cross"):
            continue
        scene = render_heldout_scene(rng, 64, background="solid", style="filled")
        ys, xs = np.nonzero(scene.mask)
        cy, cx = int(round(ys.mean())), int(round(xs.mean()))
        box_share = scene.mask.sum() / ((ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1))
        if SHAPE_CLASSES[label] == "ring":
            assert not scene.mask[cy, cx], index  # the centre is the hole
        else:
            assert scene.mask[cy, cx] and box_share < 0.75, index  # arms, not a blob


def test_renderer_does_not_use_the_training_generator() -> None:
    """Other drawing code, not other seeds: only the class names come from shapes_scene, and no PIL polygons."""
    source = Path(heldout_module.__file__).read_text()
    tree = ast.parse(source)
    imported: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported.setdefault(node.module or "", set()).update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                imported.setdefault(alias.name, set())
    assert imported["shapes_scene"] == {"SHAPE_CLASSES"}
    for forbidden in ("shapes_backgrounds", "shapes_distractors", "shapes"):
        assert not any(module.split(".")[-1] == forbidden for module in imported), forbidden
    assert imported["PIL"] == {"Image"}
    assert "ImageDraw" not in source


def test_factory_builds_only_the_test_split() -> None:
    assert DATASET_INFO["shapes-heldout"]["has_masks"] is True
    assert list(DATASET_INFO["shapes-heldout"]["classes"]) == list(SHAPE_CLASSES)
    data = build_dataset("heldout", "test")
    assert isinstance(data, ShapesHeldoutDataset) and len(data) == 300
    assert len(build_dataset("shapes-heldout", "test", length=7, size=48)) == 7
    with pytest.raises(ValueError, match="only a test split"):
        build_dataset("shapes-heldout", "train")


# --------------------------------------------------------------------------------------
# Displayed masks
# --------------------------------------------------------------------------------------


def _saturating_layer() -> SpatialAttention:
    """A real SA layer whose logits are the channel maximum of its input (one centre tap)."""
    layer = SpatialAttention(kernel_size=3).eval()
    with torch.no_grad():
        layer.conv.weight.zero_()
        layer.conv.weight[0, 0, 1, 1] = 1.0  # the channel maximum (every channel is alike below)
    return layer


def test_displayed_pointing_game_sees_the_ties_the_logits_do_not() -> None:
    """Logits 15 and 16 both round to 1.000000 on display: the displayed peak is the first tied pixel."""
    size = 16
    features = torch.full((1, 4, size, size), 15.0)
    features[..., 12:, :] = -3.0  # a dim strip, so the displayed mask is not constant
    features[..., 9, 9] = 16.0  # the layer's favourite pixel, on the object
    target = torch.zeros(size, size, dtype=torch.bool)
    target[7:12, 7:12] = True
    layer = _saturating_layer()
    model = nn.Sequential(layer)
    with AttentionRecorder(model) as recorder, torch.no_grad():
        model(features)
    (record,) = [r for r in recorder.records if isinstance(r, SpatialRecord)]
    assert record.logits is not None and float(record.logits[0, 9, 9]) == pytest.approx(16.0)
    assert float(record.mask[0, 9, 9]) > float(record.mask[0, 0, 0])  # float32 still tells them apart ...
    shown = displayed_mask(record)
    assert float(shown[0, 9, 9]) == float(shown[0, 0, 0]) == 1.0  # ... the 6-decimal display does not
    precise = precise_mask(record, layer)
    assert pointing_game(precise[0], target, 0)
    assert not pointing_game(shown[0], target, 0)  # argmax of the tie: pixel (0, 0), off the object
    upsampled = upsample(shown, (64, 64))
    assert not pointing_game(upsampled[0], target.repeat_interleave(4, 0).repeat_interleave(4, 1), 3)
    assert float(mask_range(shown)[0]) == pytest.approx(1.0 - round(1 / (1 + np.exp(3.0)), 6))


def test_mask_range_per_image() -> None:
    maps = torch.tensor([[[0.2, 0.9], [0.5, 0.4]], [[0.7, 0.7], [0.7, 0.7]]])
    assert torch.allclose(mask_range(maps), torch.tensor([0.7, 0.0]))


@pytest.fixture(scope="module")
def shapes_checkpoint():
    if not SHAPES_CHECKPOINT.exists():
        pytest.skip("assets/shapes.pt is not there")
    return load_checkpoint(str(SHAPES_CHECKPOINT))


def test_displayed_mask_is_what_the_json_export_shows(shapes_checkpoint) -> None:
    loaded = shapes_checkpoint
    image = Image.fromarray(ShapesHeldoutDataset(length=1).sample(0)[0])
    with Analyzer(loaded.model, loaded.classes, loaded.preprocessing) as analyzer:
        (analysis,) = analyzer.analyze([image])
        batch = analyzer.preprocess([image])
    exported = {layer["name"]: layer["mask"] for layer in analysis_to_dict(analysis)["layers"] if "mask" in layer}
    assert exported
    with AttentionRecorder(loaded.model) as recorder, torch.no_grad():
        loaded.model(batch)
    for record in recorder.records:
        if isinstance(record, SpatialRecord):
            assert np.array_equal(displayed_mask(record)[0].numpy(), np.array(exported[record.name])), record.name


def test_evaluate_on_heldout_reports_displayed_scores(
    shapes_checkpoint, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "heldout.json"
    argv = [str(SHAPES_CHECKPOINT), "--dataset", "shapes-heldout", "--limit", "40", "--json", str(out), "--no-progress"]
    assert main(argv) == 0
    report = capsys.readouterr().out
    for words in ("pointing (displayed)", "pointing (logits)", "median range", "Accuracy by background"):
        assert words in report
    result = json.loads(out.read_text())
    assert result["dataset"] == "shapes-heldout" and result["n"] == 40
    groups = result["accuracy_by_background"]
    assert set(groups) <= set(HELDOUT_BACKGROUNDS) and sum(row["n"] for row in groups.values()) == 40
    data = ShapesHeldoutDataset(length=40)
    assert {kind: data.backgrounds.count(kind) for kind in groups} == {kind: row["n"] for kind, row in groups.items()}
    rows = result["localization"]
    layers = [key for key in rows if key not in (CENTRE_PRIOR, GRAD_CAM)]
    assert len(layers) == 4
    for key in layers:
        row = rows[key]
        for field in ("pointing_game", "pointing_game_displayed", "mask_range_median", "mask_range_mean"):
            assert 0.0 <= row[field] <= 1.0, (key, field)
    for key in (CENTRE_PRIOR, GRAD_CAM):
        assert rows[key]["pointing_game_displayed"] == rows[key]["pointing_game"]
        assert rows[key]["mask_range_median"] is None
    # The other splits are refused in one line.
    assert main([str(SHAPES_CHECKPOINT), "--dataset", "heldout", "--split", "train", "--limit", "4"]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "only a test split" in error
