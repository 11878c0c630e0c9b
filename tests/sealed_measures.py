"""What the sealed renderers' rules measure alike: a pixel's grey, a mask's outline, a set's pictures at 192 px."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import cv2
import numpy as np
import pytest
from scipy import ndimage

from models.datasets import SHAPE_CLASSES, build_dataset
from models.datasets.shapes_camera import EVERY_BAND
from models.datasets.shapes_sealed import SealedScene, ShapesSealedDataset, first_draws

Outline = dict[str, Callable[[float, float], bool]]  # a filled class's test on (spread, solidity)

LUMA = np.array([0.299, 0.587, 0.114])  # a pixel's grey (ITU-R BT.601), as every rule on ink and light measures it


def scenes_at_192(dataset: type[ShapesSealedDataset], count: int) -> list[SealedScene]:
    """A sealed set's first ``count`` pictures at three times the side the model reads, at seed 5 (not its own)."""
    data = dataset(length=count, size=192, seed=5)
    return [data.scene(index) for index in range(count)]


def outline_measures(mask: np.ndarray) -> tuple[float, float, float]:
    """(area / longest span squared, area / convex hull's area, area / area with holes filled) of a mask."""
    points = np.argwhere(mask)[:, ::-1].astype(np.float32)
    hull = cv2.convexHull(points)[:, 0]
    span = np.linalg.norm(hull[:, None] - hull[None], axis=-1).max()  # the longest span runs between hull corners
    area = float(mask.sum())
    filled = float(ndimage.binary_fill_holes(mask).sum())
    return area / float(span) ** 2, area / max(cv2.contourArea(hull), 1.0), area / filled


def assert_bands_outlines_and_groups(
    scenes: list[SealedScene],
    outlines: Outline,
    groups: tuple[Iterable[str], Iterable[str]],
    ring_holes: tuple[float, float] = (0.6, 0.8),
    filled: float = 0.99,
    measured: Callable[[SealedScene], bool] = lambda scene: True,
) -> None:
    """Each box spans its band within a pixel either side at 192 px; a large filled shape keeps its class's (spread,
    solidity) and only a ring has a hole (``ring_holes`` of its filled outline); every class, band, style and
    surface (``groups``) occurs, so a renderer that drops one is caught."""
    bands = {name: (low, high) for name, low, high in EVERY_BAND}
    seen = set()
    for index, scene in enumerate(scenes):
        ys, xs = np.nonzero(scene.mask)
        low, high = bands[scene.band]
        longer = max(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1) / 192
        assert low - 0.01 <= longer <= high + 0.01, (index, scene.band, scene.style, longer)
        name = SHAPE_CLASSES[scene.label]
        if scene.band in ("25-40%", "40-60%", "60-75%") and measured(scene):
            seen.add(name)
            spread, solidity, holes = outline_measures(scene.mask)
            if name == "ring":
                assert ring_holes[0] < holes < ring_holes[1], (index, holes)
            else:
                assert holes > filled and outlines[name](spread, solidity), (index, name, spread, solidity)
    styles, surfaces = groups
    assert seen == set(SHAPE_CLASSES)
    assert {scene.band for scene in scenes} == {band for band, _, _ in EVERY_BAND}
    assert {scene.style for scene in scenes} == set(styles)
    assert {scene.surface for scene in scenes} == set(surfaces)


def assert_builds_a_test_split_of_400(name: str, dataset: type[ShapesSealedDataset]) -> None:
    """The factory's ``name`` gives the set evaluate reads: 400 pictures, a test split only, with the background and
    size band groups, and per picture a 64 px image and a mask to point at."""
    data = build_dataset(name, "test")
    assert isinstance(data, dataset) and len(data) == 400 and data.GROUPS == ("background", "size band")
    image, mask, label = data.sample(3)
    assert image.shape == (64, 64, 3) and mask.dtype == bool and mask.any() and label == data.targets[3]
    with pytest.raises(ValueError):
        build_dataset(name, "train")


def assert_first_draws_and_groups(
    dataset: type[ShapesSealedDataset], surfaces: tuple[str, ...], indices: tuple[int, ...] = (0, 7, 399)
) -> None:
    """The groups evaluate reports come from the first three draws alone; a picture is the same when drawn again
    and differs with the seed; over the 400 pictures every surface, band and class occurs, the classes near even."""
    data, again, other = (dataset(seed=seed) for seed in (5, 5, 6))  # not the evaluation seed
    for index in indices:
        label, surface, (band, _, _) = first_draws(data.rng_for(index), surfaces, EVERY_BAND)
        scene = data.scene(index)
        assert (scene.label, scene.surface, scene.band) == (label, surface, band) == data._first_draws(index)
        assert scene.image.shape == (64, 64, 3) and scene.image.dtype == np.uint8 and scene.mask.shape == (64, 64)
        twin = again.scene(index)
        assert np.array_equal(scene.image, twin.image) and np.array_equal(scene.mask, twin.mask)
        assert not np.array_equal(scene.image, other.scene(index).image)
    groups = data.groups
    assert set(groups["background"]) == set(surfaces) and set(groups["class"]) == set(SHAPE_CLASSES)
    assert set(groups["size band"]) == {band for band, _, _ in EVERY_BAND}
    assert groups["class"] == [SHAPE_CLASSES[label] for label in data.targets]
    counts = [groups["class"].count(name) for name in SHAPE_CLASSES]
    assert min(counts) >= 45 and max(counts) <= 90, counts
