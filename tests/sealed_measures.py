"""What the sealed renderers' rules measure alike: a pixel's grey, a mask's outline, a set's pictures at 192 px."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

import cv2
import numpy as np
import pytest
from scipy import ndimage

from models.datasets import SHAPE_CLASSES, build_dataset
from models.datasets.shapes_camera import EVERY_BAND
from models.datasets.shapes_sealed import SealedScene, ShapesSealedDataset, first_draws

Outline = dict[str, Callable[[float, float], bool]]  # a filled class's test on (spread, solidity)

LUMA = np.array([0.299, 0.587, 0.114])  # a pixel's grey (ITU-R BT.601), as every rule on ink and light measures it

KEYSTONED_OUTLINES: Outline = {  # (spread, solidity) of each filled class, bent a little by a camera's keystone
    "circle": lambda spread, solidity: spread > 0.7 and solidity > 0.95,
    "square": lambda spread, solidity: 0.42 < spread < 0.58 and solidity > 0.95,
    "triangle": lambda spread, solidity: spread < 0.48 and solidity > 0.95,
    "star": lambda spread, solidity: spread < 0.42 and 0.45 < solidity < 0.7,
    "cross": lambda spread, solidity: spread > 0.4 and 0.6 < solidity < 0.8,
}


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


def assert_drawn_on_the_ground_its_group_names(
    monkeypatch: pytest.MonkeyPatch,
    module: ModuleType,
    dataset: type[ShapesSealedDataset],
    painter: str = "ground",
    points: int = 192 * 192,
) -> None:
    """The ground under a picture is the one its "background" group reports, picture by picture: the module's
    ``painter(rng, kind, where, ...)``, watched, is asked once a picture for that kind at ``points`` places of the
    192 px frame (three times the side the model reads)."""
    drawn: list[str] = []
    counts: set[int] = set()
    real = getattr(module, painter)

    def spy(rng: np.random.Generator, kind: str, *where: Any) -> np.ndarray:
        drawn.append(kind)
        counts.add(len(where[0]))
        return real(rng, kind, *where)

    monkeypatch.setattr(module, painter, spy)
    data = dataset(length=8, seed=5)
    assert [data.scene(index).surface for index in range(8)] == drawn and len(set(drawn)) >= 4
    assert counts == {points}


def assert_clear_of_the_frame(scenes: list[SealedScene], margin: float) -> None:
    """Each object's mask keeps ``margin`` of the 192 px frame's side clear of every edge: nothing is cut off."""
    for index, scene in enumerate(scenes):
        ys, xs = np.nonzero(scene.mask)
        clear = min(xs.min(), ys.min(), 191 - xs.max(), 191 - ys.max()) / 192
        assert clear >= margin, (index, clear)


def _gap_round(scene: SealedScene) -> float | None:
    """How far apart in grey the middle of a picture's object and the ground 3 to 9 px round it are (None for an
    object under 30 px once eroded by 3); the picture checked to be a uint8 frame with both object and ground."""
    luma = scene.image.astype(np.float64) @ LUMA
    assert scene.image.dtype == np.uint8 and luma.std() > 8 and scene.mask.any() and not scene.mask.all()
    core = ndimage.binary_erosion(scene.mask, iterations=3)
    around = ndimage.binary_dilation(scene.mask, iterations=9) & ~ndimage.binary_dilation(scene.mask, iterations=3)
    return abs(float(np.median(luma[core]) - np.median(luma[around]))) if core.sum() >= 30 else None


def assert_stands_apart(scenes: list[SealedScene], measured: int, least: float, median: float) -> None:
    """A person reads the shape at a glance: in at least ``measured`` pictures (those whose object keeps 30 px in
    its middle), the object's middle differs from the ground round it by over ``least`` grey levels, and by over
    ``median`` at the median."""
    gaps = [gap for gap in map(_gap_round, scenes) if gap is not None]
    spread = (len(gaps), np.percentile(gaps, [0, 10, 50]))
    assert len(gaps) >= measured and min(gaps) > least and np.median(gaps) > median, spread


def assert_boxes_within_a_pixel(scenes: list[SealedScene]) -> None:
    """Each mask's box spans its band at 192 px within a pixel either side, tighter than the shared rule's 1%."""
    bands = {name: (low, high) for name, low, high in EVERY_BAND}
    for scene in scenes:
        ys, xs = np.nonzero(scene.mask)
        low, high = bands[scene.band]
        assert low * 192 - 1 <= max(np.ptp(xs), np.ptp(ys)) + 1 <= high * 192 + 1, scene.band


def assert_lines_are_closed_loops_on_large_shapes(scenes: list[SealedScene], outlined: str) -> None:
    """Pictures in the ``outlined`` style (at least two) are one piece round a hole of most of their area, drawn
    only at 40% of the side or more, where a line is readable at 64 px; a ring in that style is still a band round
    a hole of a fifth to two fifths of its outline."""
    lines = [scene for scene in scenes if scene.style == outlined]
    assert len(lines) >= 2 and {scene.band for scene in lines} <= {"40-60%", "60-75%"}
    for scene in lines:
        name, holes = SHAPE_CLASSES[scene.label], outline_measures(scene.mask)[2]
        one = ndimage.label(scene.mask)[1] == 1
        assert one and (0.6 < holes < 0.8 if name == "ring" else holes < 0.45), (name, holes)


Painter = Callable[[np.random.Generator, str, np.ndarray, np.ndarray], np.ndarray]  # ground(rng, kind, x, y)


def assert_ground_at_a_shapes_scale(
    ground: Painter, kind: str, standing: float = 0.2, dtype: type = np.float64, atol: float = 1e-6
) -> None:
    """Every ground is drawn within 0-255 and none is flat; its features are as large as the shapes, so a blur of
    5 px leaves over ``standing`` of its spread standing; and it is the same wherever it is asked for."""
    rows, cols = np.mgrid[0:192, 0:192] + 0.5
    for seed in range(3):
        x, y = (cols.ravel() - 96 + 37 * seed).astype(dtype), (rows.ravel() - 96).astype(dtype)
        picture = ground(np.random.default_rng([41, seed]), kind, x, y).reshape(192, 192, 3)
        assert picture.min() >= 0 and picture.max() <= 255, seed
        luma = picture @ LUMA
        blurred = cv2.GaussianBlur(luma, (0, 0), 5)
        assert luma.std() > 18 and blurred.std() > standing * luma.std(), (seed, luma.std(), blurred.std())
        some = ground(np.random.default_rng([41, seed]), kind, x[::7], y[::7])
        assert np.allclose(some, picture.reshape(-1, 3)[::7], atol=atol)


def assert_mask_is_the_object_as_drawn(
    monkeypatch: pytest.MonkeyPatch,
    module: ModuleType,
    dataset: type[ShapesSealedDataset],
    stand_ins: dict[str, Callable[..., np.ndarray]],
) -> None:
    """With the module's camera, ground and material replaced by ``stand_ins`` (a camera that only rounds, blue
    ground, a red object), the mask of each of 12 frames at 192 px is exactly where the frame is more red than
    blue: the cover is the one the picture is painted with."""
    for name, stand_in in stand_ins.items():
        monkeypatch.setattr(module, name, stand_in)
    scenes = map(dataset(length=12, size=192, seed=5).scene, range(12))
    wrong = []
    for scene in scenes:
        red = scene.image[..., 0].astype(int) > scene.image[..., 2].astype(int)
        wrong.append(int((red != scene.mask).sum()))
    assert wrong == [0] * 12, wrong


def assert_ink_chosen_round_the_object(
    monkeypatch: pytest.MonkeyPatch, module: ModuleType, dataset: type[ShapesSealedDataset]
) -> None:
    """The object's colour is chosen against the ground just round it (within 7 px, not under it), not the whole
    frame's: the module's ``ink`` is shown no more pixels than lie within 8 px of the mask and outside it."""
    shown: list[int] = []
    real = module.ink
    monkeypatch.setattr(module, "ink", lambda rng, around: shown.append(len(around)) or real(rng, around))
    data = dataset(length=6, size=192, seed=5)
    for index in range(6):
        mask = data.scene(index).mask
        ring = ndimage.binary_dilation(mask, np.ones((17, 17), bool)) & ~ndimage.binary_erosion(mask)
        assert 0 < shown[index] <= ring.sum() < 0.6 * 192 * 192, (shown[index], ring.sum())


def assert_shot_keeps_the_mask(shoot: Callable[[np.random.Generator, np.ndarray, int], np.ndarray]) -> None:
    """A pale square on dark ground comes out of ``shoot(rng, picture, size)`` where the mask says (but for its
    edge) at every size asked, 64 to 224 px from a 192 px frame."""
    cover = np.zeros((192, 192))
    cover[40:110, 60:150] = 1.0
    picture = np.repeat(30.0 + 200.0 * cover[..., None], 3, axis=2)
    for seed, size in enumerate((64, 96, 192, 224)):
        image = shoot(np.random.default_rng([5, seed]), picture, size)
        mask = cv2.resize(cover, (size, size), interpolation=cv2.INTER_AREA if size < 192 else cv2.INTER_LINEAR) >= 0.5
        assert image.shape == (size, size, 3) and image.dtype == np.uint8
        bright = image.astype(np.float64) @ LUMA > 128
        clear = ndimage.binary_erosion(mask, iterations=3) | ~ndimage.binary_dilation(mask, iterations=3)
        assert (bright == mask)[clear].mean() > 0.99, size
