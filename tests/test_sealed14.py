"""Rules for the fourteenth sealed renderer (shapes-sealed-14): outlines filled by their winding number, scanned.

Every rule draws real pictures with the real module, at a seed other than the evaluation's, so the pictures a model
is scored on stay unseen; nothing here runs a model.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from scipy import ndimage

from models.datasets import SHAPE_CLASSES
from models.datasets import shapes_sealed14 as sealed14
from models.datasets.shapes_sealed import SealedScene
from models.datasets.shapes_sealed14 import STYLES14, SURFACES14, ShapesSealed14Dataset
from tests.sealed_measures import (
    LUMA,
    assert_bands_outlines_and_groups,
    assert_builds_a_test_split_of_400,
    assert_first_draws_and_groups,
    scenes_at_192,
)


@pytest.fixture(scope="module")
def fourteenth_at_192() -> list[SealedScene]:
    """120 pictures of the fourteenth set at 192 px, rendered once for the rules that measure them."""
    return scenes_at_192(ShapesSealed14Dataset, 120)


def _even_odd(corners: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Inside a polygon by brute force: a ray to the right crosses its edges an odd number of times."""
    a, b = corners, np.roll(corners, -1, axis=0)
    x, y = points[:, 0:1], points[:, 1:2]
    with np.errstate(divide="ignore", invalid="ignore"):  # a level edge is never crossed, whatever it divides
        crosses = ((a[:, 1] > y) != (b[:, 1] > y)) & (
            x < a[:, 0] + (y - a[:, 1]) * (b[:, 0] - a[:, 0]) / (b[:, 1] - a[:, 1])
        )
    return crosses.sum(axis=1) % 2 == 1


FOURTEENTH_OUTLINES = {  # (spread, solidity) of each filled class, turned a little by the scan
    "circle": lambda spread, solidity: spread > 0.7 and solidity > 0.96,
    "square": lambda spread, solidity: 0.45 < spread < 0.56 and solidity > 0.95,
    "triangle": lambda spread, solidity: spread < 0.48 and solidity > 0.93,
    "star": lambda spread, solidity: spread < 0.42 and 0.5 < solidity < 0.72,
    "cross": lambda spread, solidity: spread > 0.4 and 0.6 < solidity < 0.8,
}


def test_every_fourteenth_first_draw_is_the_label_surface_and_band_and_a_picture_is_rebuilt_alike() -> None:
    """The groups evaluate reports come from the first three draws alone; a picture is the same when drawn again
    and differs with the seed; over the 400 pictures every surface, band and class occurs, the classes near even."""
    assert_first_draws_and_groups(ShapesSealed14Dataset, SURFACES14, indices=(0, 1, 7, 123, 399))


def test_every_fourteenth_set_name_builds_a_test_split_of_400_with_the_groups_evaluate_reports() -> None:
    """The factory's name gives the set evaluate reads: 400 pictures, a test split only, and per picture its
    background and size band (its class from the label), an image and a mask to point at."""
    assert_builds_a_test_split_of_400("shapes-sealed-14", ShapesSealed14Dataset)


def test_every_fourteenth_picture_is_drawn_on_the_surface_its_group_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """The surface a picture is painted on is the one its "background" group reports, picture by picture, and every
    page is 192 px, three times the side the model reads, so the scan shrinks each picture by the same whole factor."""
    drawn: list[str] = []
    sides: set[int] = set()
    surface = sealed14._surface

    def spy(rng: np.random.Generator, kind: str, side: int) -> np.ndarray:
        drawn.append(kind)
        sides.add(side)
        return surface(rng, kind, side)

    monkeypatch.setattr(sealed14, "_surface", spy)
    data = ShapesSealed14Dataset(length=24, seed=5)
    assert [data.scene(index).surface for index in range(24)] == drawn and len(set(drawn)) >= 4
    assert sides == {192}


def test_every_fourteenth_mask_spans_its_band_keeps_its_class_outline_and_every_group_occurs(
    fourteenth_at_192: list[SealedScene],
) -> None:
    """The object is sized in the scan itself, so its box spans its band in the frame (within a pixel either
    side); a filled shape keeps its class's proportions and only a ring has a hole; every class, band, style and
    surface occurs."""
    assert_bands_outlines_and_groups(fourteenth_at_192, FOURTEENTH_OUTLINES, (STYLES14, SURFACES14))
    assert {SHAPE_CLASSES[scene.label] for scene in fourteenth_at_192} == set(SHAPE_CLASSES)


def test_every_fourteenth_object_stays_clear_of_every_edge_of_the_frame(fourteenth_at_192: list[SealedScene]) -> None:
    """The box is placed 7% inside each edge of the scan itself, so nothing of the object is cut off (measured:
    7.3% left at the closest)."""
    for index, scene in enumerate(fourteenth_at_192):
        ys, xs = np.nonzero(scene.mask)
        margin = min(xs.min(), ys.min(), 191 - xs.max(), 191 - ys.max()) / 192
        assert margin >= 0.065, (index, margin)


def test_every_fourteenth_object_stands_apart_from_the_surface_round_it(fourteenth_at_192: list[SealedScene]) -> None:
    """A person reads the shape at a glance: the object's middle differs from the surface just outside it, darker
    on a pale surface (measured on 114 of 120 pictures: 71 grey levels at the least, 90 at the tenth percentile, 119
    at the median); every picture is a uint8 frame with object and surface."""
    gaps = []
    for scene in fourteenth_at_192:
        luma = scene.image.astype(np.float64) @ LUMA
        assert scene.image.dtype == np.uint8 and luma.std() > 8 and scene.mask.any() and not scene.mask.all()
        core = ndimage.binary_erosion(scene.mask, iterations=4)
        if core.sum() < 30:
            continue
        around = ndimage.binary_dilation(scene.mask, iterations=9) & ~ndimage.binary_dilation(scene.mask, iterations=3)
        inside, outside = np.median(luma[core]), np.median(luma[around])
        gaps.append(abs(inside - outside))
        if outside > 150:
            assert inside < outside, (scene.surface, scene.style, inside, outside)
    assert len(gaps) >= 100 and min(gaps) > 50 and np.percentile(gaps, 10) >= 75 and np.median(gaps) > 100, (
        len(gaps),
        sorted(gaps)[:8],
    )


@pytest.mark.parametrize("name", list(SHAPE_CLASSES))
def test_every_fourteenth_winding_number_is_inside_exactly_where_the_polygons_are(name: str) -> None:
    """The winding of the outline is one turn inside and none outside, at every point where an even-odd count of
    the class's polygons says so (a ring's hole inside two of them, so outside it)."""
    points = np.random.default_rng(3).uniform(-1.4, 1.4, (4000, 2))
    loops = sealed14.outline(name)
    turns = sealed14.winding(loops, points)
    odd = np.sum([_even_odd(loop, points) for loop in loops], axis=0) % 2 == 1
    assert np.allclose(np.abs(turns), odd.astype(float), atol=1e-9)
    assert 0.1 < odd.mean() < 0.6


def test_every_fourteenth_class_is_solid_or_empty_at_known_points() -> None:
    """A ring's middle and hole are empty and its band full; a cross is solid where its bars meet and empty
    between its arms; a star's points are full and the notches between them empty; a triangle points up."""

    def inside(name: str, points: list[tuple[float, float]]) -> list[bool]:
        return list(np.abs(sealed14.winding(sealed14.outline(name), np.array(points, float))) > 0.5)

    assert inside("ring", [(0, 0), (0.3, -0.3), (0.78, 0), (0, -0.9), (1.1, 0)]) == [False, False, True, True, False]
    assert inside("cross", [(0, 0), (0.3, 0.3), (0.9, 0), (0, -0.9), (0.6, 0.6)]) == [True, True, True, True, False]
    tips = [(0.9 * math.cos(t), 0.9 * math.sin(t)) for t in np.arange(5) * 2 * math.pi / 5 - math.pi / 2]
    notches = [(0.6 * math.cos(t), 0.6 * math.sin(t)) for t in np.arange(5) * 2 * math.pi / 5 + math.pi / 2]
    assert inside("star", [(0, 0), *tips]) == [True] * 6 and inside("star", notches) == [False] * 5
    assert inside("triangle", [(0, -0.9), (0, 0.6), (0.8, 0.2), (-0.8, 0.2)]) == [True, False, False, False]
    assert inside("circle", [(0, 0), (0.7, 0.7), (0.72, 0.72)]) == [True, True, False]
    assert inside("square", [(0.99, -0.99), (1.01, 0), (0, 0)]) == [True, False, True]


def test_every_fourteenth_cover_is_the_area_tested_at_a_rank_one_lattice_where_the_edge_is() -> None:
    """The eight lattice points lie one in each row and one in each column of an 8 x 8 grid of a pixel; a disc's
    cover is its area; pixels whose neighbours all lie on one side are wholly in or out, and only edge pixels
    take a share between."""
    cells = np.floor(sealed14._LATTICE * 8)
    assert sorted(cells[:, 0]) == list(range(8)) and sorted(cells[:, 1]) == list(range(8))
    assert len({tuple(cell) for cell in cells}) == 8
    disc = [sealed14._round(40.0) + 96.3]
    share = sealed14.cover(disc, 192, np.array([0.3, 0.7]))
    polygon = 0.5 * sealed14._SIDES * 40.0**2 * math.sin(2 * math.pi / sealed14._SIDES)
    assert share.sum() == pytest.approx(polygon, rel=0.002)
    rows, cols = np.mgrid[0:192, 0:192] + 0.5
    d = np.hypot(cols - 96.3, rows - 96.3) - 40
    assert share[d < -2].min() == 1.0 and share[d > 2].max() == 0.0
    assert 0 < ((share > 0) & (share < 1)).sum() < 2 * math.pi * 40 * 2.5


@pytest.mark.parametrize("style", STYLES14)
def test_every_fourteenth_style_paints_only_round_its_object_and_within_the_grey_scale(style: str) -> None:
    """Every layer is a blend of the page and a colour, so the scene stays within 0-255; nothing changes further
    than a shadow from the object, and the object's middle is painted."""
    rows, cols = np.mgrid[0:192, 0:192] + 0.5
    share = sealed14.cover([sealed14._round(40.0) + 96.0], 192, np.zeros(2))
    d = np.hypot(cols - 96, rows - 96) - 40
    for seed, kind in enumerate(SURFACES14):
        rng = np.random.default_rng([29, seed])
        sheet = sealed14._surface(rng, kind, 192)
        painted = sealed14._paint(rng, sheet, share, style)
        assert painted.min() >= 0.0 and painted.max() <= 255.0, (kind, painted.min(), painted.max())
        beyond = d > 14  # a shadow falls at most a few pixels from the object
        assert np.array_equal(painted[beyond], sheet[beyond]), kind
        change = np.abs(painted - sheet).sum(axis=2)
        assert np.median(change[d < -10]) > 60, (kind, np.median(change[d < -10]))


@pytest.mark.parametrize("kind", SURFACES14)
def test_every_fourteenth_surface_is_a_patterned_picture_of_a_shapes_scale_within_the_grey_scale(kind: str) -> None:
    """Every surface is drawn within 0-255 before the scan and none is flat; its features are as large as the
    shapes, so a blur of 5 px leaves half its spread standing (measured: 0.55 at least, a stamp sheet); its middle
    tones leave room for a dark or a light object."""
    for seed in range(5):
        picture = sealed14._surface(np.random.default_rng([41, seed]), kind, 192)
        assert picture.shape == (192, 192, 3) and picture.min() >= 0 and picture.max() <= 255, seed
        luma = picture @ LUMA
        blurred = cv2.GaussianBlur(luma, (0, 0), 5)
        assert luma.std() > 20 and blurred.std() > 0.5 * luma.std(), (seed, luma.std(), blurred.std())
        assert 60 < np.median(luma) < 200, (seed, np.median(luma))


def test_every_fourteenth_glass_is_read_wholly_and_to_glass_undoes_the_scan() -> None:
    """Every frame pixel reads a point on the glass, the scan is turned a little, and ``to_glass`` undoes it."""
    edge = np.concatenate([np.c_[np.linspace(0, 192, 49), np.zeros(49)], np.c_[np.zeros(49), np.linspace(0, 192, 49)]])
    edge = np.concatenate([edge, 192 - edge])
    turns = []
    for seed in range(20):
        glass = sealed14._glass(np.random.default_rng([13, seed]), 192)
        back = sealed14.to_glass(glass, edge)
        assert back.min() >= 0 and back.max() <= 192, (seed, back.min(), back.max())
        assert cv2.transform(back[None], glass)[0] == pytest.approx(edge, abs=1e-6)
        turns.append(abs(math.degrees(math.atan2(glass[1, 0], glass[0, 0]))))
    assert max(turns) > 2 and max(turns) <= 4


def test_every_fourteenth_scan_keeps_the_mask_on_the_object() -> None:
    """A pale square on a dark page comes out where the mask says: the mask is the cover through the scan's own
    map, and the object is placed through that map's inverse."""
    share = np.zeros((192, 192))
    share[30:100, 60:150] = 1.0
    scene = np.repeat(30.0 + 200.0 * share[..., None], 3, axis=2)
    for seed in range(12):
        rng = np.random.default_rng([7, seed])
        glass = sealed14._glass(rng, 192)
        image, mask = sealed14._scan(rng, scene, share, glass, 192)
        bright = image.astype(np.float64) @ LUMA > 128
        assert 0.1 < mask.mean() < 0.3 and (bright == mask).mean() > 0.98, (seed, (bright == mask).mean())
        corners = sealed14.to_glass(glass, np.array([(40.0, 40.0), (160.0, 40.0), (160.0, 100.0), (40.0, 100.0)]))
        placed = sealed14.cover([corners], 192, np.zeros(2))
        _, seen = sealed14._scan(rng, scene, placed, glass, 192)
        ys, xs = np.nonzero(seen)
        assert (
            abs(xs.min() - 40) <= 1
            and abs(xs.max() + 1 - 160) <= 1
            and abs(ys.min() - 40) <= 1
            and abs(ys.max() + 1 - 100) <= 1
        ), seed
