"""Rules for the fifteenth sealed renderer (shapes-sealed-15): shapes of discs and half-planes under a document camera.

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
from models.datasets import shapes_sealed15 as sealed15
from models.datasets.shapes_sealed import SealedScene
from models.datasets.shapes_sealed15 import STYLES15, SURFACES15, ShapesSealed15Dataset
from tests.sealed_measures import (
    LUMA,
    assert_bands_outlines_and_groups,
    assert_builds_a_test_split_of_400,
    assert_first_draws_and_groups,
    scenes_at_192,
)


@pytest.fixture(scope="module")
def fifteenth_at_192() -> list[SealedScene]:
    """120 pictures of the fifteenth set at 192 px, rendered once for the rules that measure them."""
    return scenes_at_192(ShapesSealed15Dataset, 120)


def _crossings(corners: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Inside a polygon by brute force: a ray straight down from the point crosses its edges an odd number of times."""
    a, b = corners, np.roll(corners, -1, axis=0)
    x, y = points[:, 0:1], points[:, 1:2]
    spans = (a[:, 0] > x) != (b[:, 0] > x)
    with np.errstate(divide="ignore", invalid="ignore"):  # an upright edge never spans the ray, whatever it divides
        meet = a[:, 1] + (x - a[:, 0]) * (b[:, 1] - a[:, 1]) / (b[:, 0] - a[:, 0])
    return (spans & (meet > y)).sum(axis=1) % 2 == 1


def _polygon(name: str) -> np.ndarray:
    """The class's outline as one polygon in the box from -1 to 1, written out corner by corner for the check."""
    if name == "square":
        return np.array([(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)])
    if name == "triangle":
        return np.array([(0.0, -1.0), (math.sqrt(3) / 2, 0.5), (-math.sqrt(3) / 2, 0.5)])
    if name == "star":
        turns = np.arange(10) * math.pi / 5 - math.pi / 2
        radii = np.where(np.arange(10) % 2 == 0, 1.0, 0.45)
        return np.c_[radii * np.cos(turns), radii * np.sin(turns)]
    arm = 0.32  # the cross, walked round its twelve corners
    return np.array(
        [(-arm, -1), (arm, -1), (arm, -arm), (1, -arm), (1, arm), (arm, arm)]
        + [(arm, 1), (-arm, 1), (-arm, arm), (-1, arm), (-1, -arm), (-arm, -arm)],
        dtype=float,
    )


FIFTEENTH_OUTLINES = {  # (spread, solidity) of each filled class, bent a little by the lens and the lean
    "circle": lambda spread, solidity: spread > 0.7 and solidity > 0.96,
    "square": lambda spread, solidity: 0.44 < spread < 0.56 and solidity > 0.95,
    "triangle": lambda spread, solidity: spread < 0.48 and solidity > 0.93,
    "star": lambda spread, solidity: spread < 0.42 and 0.5 < solidity < 0.72,
    "cross": lambda spread, solidity: spread > 0.4 and 0.6 < solidity < 0.8,
}


def test_every_fifteenth_first_draw_is_the_label_surface_and_band_and_a_picture_is_rebuilt_alike() -> None:
    assert_first_draws_and_groups(ShapesSealed15Dataset, SURFACES15, (0, 1, 7, 123, 399))


def test_every_fifteenth_set_name_builds_a_test_split_of_400_with_the_groups_evaluate_reports() -> None:
    """The factory's name gives the set evaluate reads: 400 pictures, a test split only, and per picture its
    background and size band (its class from the label), an image and a mask to point at."""
    assert_builds_a_test_split_of_400("shapes-sealed-15", ShapesSealed15Dataset)


def test_every_fifteenth_picture_is_drawn_on_the_surface_its_group_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """The surface a picture is painted on is the one its "background" group reports, picture by picture, and every
    desk is 192 px, three times the side the model reads, so the resize shrinks each by the same whole factor."""
    drawn: list[str] = []
    sides: set[int] = set()
    surface = sealed15._surface

    def spy(rng: np.random.Generator, kind: str, side: int) -> np.ndarray:
        drawn.append(kind)
        sides.add(side)
        return surface(rng, kind, side)

    monkeypatch.setattr(sealed15, "_surface", spy)
    data = ShapesSealed15Dataset(length=24, seed=5)
    assert [data.scene(index).surface for index in range(24)] == drawn and len(set(drawn)) >= 4
    assert sides == {192}


def test_every_fifteenth_mask_spans_its_band_keeps_its_class_outline_and_every_group_occurs(
    fifteenth_at_192: list[SealedScene],
) -> None:
    """The object is sized in the frame itself, so its box spans its band (within a pixel either side); a filled
    shape keeps its class's proportions through the lens and only a ring has a hole; every class, band, style and
    surface occurs."""
    assert_bands_outlines_and_groups(fifteenth_at_192, FIFTEENTH_OUTLINES, (STYLES15, SURFACES15))


def test_every_fifteenth_object_stays_clear_of_every_edge_of_the_frame(fifteenth_at_192: list[SealedScene]) -> None:
    """The box is placed 7% inside each edge of the frame itself, so nothing of the object is cut off (measured:
    7.3% left at the closest)."""
    for index, scene in enumerate(fifteenth_at_192):
        ys, xs = np.nonzero(scene.mask)
        margin = min(xs.min(), ys.min(), 191 - xs.max(), 191 - ys.max()) / 192
        assert margin >= 0.065, (index, margin)


def test_every_fifteenth_object_stands_apart_from_the_surface_round_it(fifteenth_at_192: list[SealedScene]) -> None:
    """A person reads the shape at a glance: the object's middle differs from the surface just outside it, darker
    on a pale surface (measured on 110 of 120 pictures: 74 grey levels at the least, 107 at the tenth percentile, 146
    at the median); every picture is a uint8 frame with object and surface."""
    gaps = []
    for scene in fifteenth_at_192:
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
        if outside < 100:
            assert inside > outside, (scene.surface, scene.style, inside, outside)
    assert len(gaps) >= 100 and min(gaps) > 60 and np.percentile(gaps, 10) >= 90 and np.median(gaps) > 120, (
        len(gaps),
        sorted(gaps)[:8],
    )


@pytest.mark.parametrize("name", list(SHAPE_CLASSES))
def test_every_fifteenth_formula_is_below_nought_exactly_inside_the_class_outline(name: str) -> None:
    """The formula's sign agrees with a check written apart from it at 6000 points: a crossing count of the class's
    polygon, or the distance from the middle for a circle and a ring (a ring's hole outside); turned and moved
    onto the desk, it agrees again at the points moved with it."""
    points = np.random.default_rng(3).uniform(-1.4, 1.4, (6000, 2))
    radius = np.hypot(points[:, 0], points[:, 1])
    if name == "circle":
        truth = radius < 1
    elif name == "ring":
        truth = (radius < 1) & (radius > 0.55)
    else:
        truth = _crossings(_polygon(name), points)
    shape = sealed15.formula(name)
    assert np.array_equal(sealed15.value(shape, points[:, 0], points[:, 1]) < 0, truth)
    assert 0.1 < truth.mean() < 0.6
    turn, middle, scale = 0.7, np.array([90.0, 100.0]), 37.0
    moved = middle + scale * points @ np.array([[math.cos(turn), math.sin(turn)], [-math.sin(turn), math.cos(turn)]])
    on_desk = sealed15.placed(shape, middle, scale, turn)
    near = np.abs(sealed15.value(shape, points[:, 0], points[:, 1])) < 1e-6
    assert np.array_equal((sealed15.value(on_desk, moved[:, 0], moved[:, 1]) < 0)[~near], truth[~near])


def test_every_fifteenth_class_is_solid_or_empty_at_known_points() -> None:
    """A ring's middle and hole are empty and its band full; a cross is solid where its bars meet and empty
    between its arms; a star's points are full, its middle too, and the notches between them empty; a triangle
    points up."""

    def inside(name: str, points: list[tuple[float, float]]) -> list[bool]:
        spots = np.array(points, float)
        return list(sealed15.value(sealed15.formula(name), spots[:, 0], spots[:, 1]) < 0)

    assert inside("ring", [(0, 0), (0.3, -0.3), (0.78, 0), (0, -0.9), (1.1, 0)]) == [False, False, True, True, False]
    assert inside("cross", [(0, 0), (0.3, 0.3), (0.9, 0), (0, -0.9), (0.6, 0.6)]) == [True, True, True, True, False]
    tips = [(0.9 * math.cos(t), 0.9 * math.sin(t)) for t in np.arange(5) * 2 * math.pi / 5 - math.pi / 2]
    notches = [(0.6 * math.cos(t), 0.6 * math.sin(t)) for t in np.arange(5) * 2 * math.pi / 5 + math.pi / 2]
    middles = [(0.3 * math.cos(t), 0.3 * math.sin(t)) for t in np.arange(10) * math.pi / 5]
    assert inside("star", [(0, 0), *tips, *middles]) == [True] * 16 and inside("star", notches) == [False] * 5
    assert inside("triangle", [(0, -0.9), (0, 0.6), (0.8, 0.2), (-0.8, 0.2)]) == [True, False, False, False]
    assert inside("circle", [(0, 0), (0.7, 0.7), (0.72, 0.72)]) == [True, True, False]
    assert inside("square", [(0.99, -0.99), (1.01, 0), (0, 0)]) == [True, False, True]


@pytest.mark.parametrize("name", list(SHAPE_CLASSES))
def test_every_fifteenth_cell_bound_holds_every_value_the_formula_takes_in_the_cell(name: str) -> None:
    """The interval bounds of a cell are never narrower than the values sampled over it (so no cell is kept or
    dropped whole wrongly), and tight for a lone half-plane or disc: its extremes are reached at the cell's edge."""
    rng = np.random.default_rng(11)
    shape = sealed15.placed(sealed15.formula(name), np.array([96.0, 96.0]), 50.0, 0.4)
    middles, half = rng.uniform(20, 172, (300, 2)), rng.choice([0.25, 1.0, 4.0, 8.0], 300)
    offsets = rng.uniform(-1, 1, (300, 200, 2)) * half[:, None, None]
    offsets[:, :4] = np.array([(-1, -1), (1, -1), (-1, 1), (1, 1)]) * half[:, None, None]
    for h in np.unique(half):
        pick = half == h
        low, high = sealed15.bounds(shape, middles[pick, 0], middles[pick, 1], h)
        spots = middles[pick, None] + offsets[pick]
        values = sealed15.value(shape, spots[..., 0], spots[..., 1])
        assert (values >= low[:, None] - 1e-9).all() and (values <= high[:, None] + 1e-9).all(), (name, h)
    for part in (("plane", 0.6, 0.8, 100.0), ("disc", 90.0, 80.0, 30.0)):
        low, high = sealed15.bounds(part, middles[:, 0], middles[:, 1], 4.0)
        grid = np.linspace(-4, 4, 81)
        gx, gy = np.meshgrid(grid, grid)
        for k in range(0, 300, 37):
            values = sealed15.value(part, middles[k, 0] + gx, middles[k, 1] + gy)
            assert values.min() == pytest.approx(low[k], abs=0.05) and values.max() == pytest.approx(high[k], abs=0.05)


@pytest.mark.parametrize("name", list(SHAPE_CLASSES))
def test_every_fifteenth_cover_is_the_sign_at_an_eighth_of_a_pixel_settled_by_the_quadtree(name: str) -> None:
    """A pixel's cover is exactly the share of its 64 sub-cells (an eighth of a pixel each) whose middles lie inside,
    as a brute-force count of the formula's sign finds: the quadtree only saves work, never changes the answer; and
    a disc's cover is its area."""
    shape = sealed15.placed(sealed15.formula(name), np.array([95.3, 97.6]), 61.0, 0.9)
    share = sealed15.cover(shape, 192)
    fine = (np.mgrid[0:1536, 0:1536] + 0.5) / 8
    count = (sealed15.value(shape, fine[1], fine[0]) < 0).reshape(192, 8, 192, 8).mean(axis=(1, 3))
    assert np.array_equal(share, count)
    assert 0 < ((share > 0) & (share < 1)).sum() < 0.2 * (share > 0).sum()
    disc = sealed15.cover(sealed15.placed(sealed15.formula("circle"), np.array([96.3, 96.3]), 40.0, 0.0), 192)
    assert disc.sum() == pytest.approx(math.pi * 40.0**2, rel=0.001)


def test_every_fifteenth_quadtree_splits_only_cells_that_straddle_the_outline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cells wholly inside or outside are settled at the size they were met: a disc 80 px wide asks for bounds of
    few more cells than its outline crosses at each size, not for every cell of the frame."""
    asked: list[int] = []
    bounds = sealed15.bounds

    def spy(shape: tuple, x: np.ndarray, y: np.ndarray, half: float) -> tuple[np.ndarray, np.ndarray]:
        if shape[0] == "disc":
            asked.append(len(x))
        return bounds(shape, x, y, half)

    monkeypatch.setattr(sealed15, "bounds", spy)
    sealed15.cover(sealed15.placed(sealed15.formula("circle"), np.array([96.3, 96.3]), 40.0, 0.0), 192)
    assert len(asked) == 8 and asked[0] == 144  # 16, 8, 4, 2, 1, 1/2, 1/4 and 1/8 px
    assert sum(asked) < 12 * 2 * math.pi * 40 * 8, asked


@pytest.mark.parametrize("style", STYLES15)
def test_every_fifteenth_style_paints_only_round_its_object_and_within_the_grey_scale(style: str) -> None:
    """Every layer is a blend of the desk and a colour, so the scene stays within 0-255; nothing changes further
    than a shadow from the object, and the object's middle is painted."""
    rows, cols = np.mgrid[0:192, 0:192] + 0.5
    middle = np.array([96.0, 96.0])
    share = sealed15.cover(sealed15.placed(sealed15.formula("circle"), middle, 40.0, 0.0), 192)
    d = np.hypot(cols - 96, rows - 96) - 40
    for seed, kind in enumerate(SURFACES15):
        rng = np.random.default_rng([29, seed])
        desk = sealed15._surface(rng, kind, 192)
        painted = sealed15._paint(rng, desk, share, style, (middle, 40.0, 0.3))
        assert painted.min() >= 0.0 and painted.max() <= 255.0, (kind, painted.min(), painted.max())
        beyond = d > 12  # a shadow falls at most a few pixels from the object
        assert np.array_equal(painted[beyond], desk[beyond]), kind
        change = np.abs(painted - desk).sum(axis=2)
        assert np.median(change[d < -10]) > 60, (kind, np.median(change[d < -10]))


@pytest.mark.parametrize("kind", SURFACES15)
def test_every_fifteenth_surface_is_a_patterned_picture_of_a_shapes_scale_within_the_grey_scale(kind: str) -> None:
    """Every surface is drawn within 0-255 before the camera and none is flat; its features are as large as the
    shapes, so a blur of 5 px leaves nearly half its spread standing (measured: 0.47 at least, a metro map); its
    middle tones leave room for a dark or a light object."""
    for seed in range(5):
        picture = sealed15._surface(np.random.default_rng([41, seed]), kind, 192)
        assert picture.shape == (192, 192, 3) and picture.min() >= 0 and picture.max() <= 255, seed
        luma = picture @ LUMA
        blurred = cv2.GaussianBlur(luma, (0, 0), 5)
        assert luma.std() > 18 and blurred.std() > 0.44 * luma.std(), (seed, luma.std(), blurred.std())
        assert 60 < np.median(luma) < 230, (seed, np.median(luma))


def test_every_fifteenth_view_reads_only_the_desk_through_a_barrel_lens_a_lean_and_a_small_turn() -> None:
    """Every frame pixel sees a point of the desk; the head turns at most 6 degrees; the lens's barrel makes a
    frame pixel at a corner see more of the desk than one in the middle, where a pixel sees one zoom's worth; the
    lean makes the frame's opposite edges see different widths of desk (a keystone)."""
    edge = np.linspace(0, 192, 49)
    rim = np.concatenate([np.c_[edge, 0 * edge], np.c_[edge, 0 * edge + 192], np.c_[0 * edge, edge]])
    rim = np.concatenate([rim, np.c_[0 * edge + 192, edge]])
    turns, keystones = [], []
    for seed in range(20):
        view = sealed15._view(np.random.default_rng([13, seed]), 192)
        seen = sealed15.to_desk(view, rim, 192)
        assert seen.min() >= 0 and seen.max() <= 192, (seed, seen.min(), seen.max())
        turns.append(abs(math.degrees(view[3])))
        top, bottom = (sealed15.to_desk(view, np.array([(0.0, y), (192.0, y)]), 192) for y in (0.0, 192.0))
        left, right = (sealed15.to_desk(view, np.array([(x, 0.0), (x, 192.0)]), 192) for x in (0.0, 192.0))
        widths = [np.linalg.norm(np.diff(pair, axis=0)) for pair in (top, bottom, left, right)]
        keystones.append(max(abs(widths[0] / widths[1] - 1), abs(widths[2] / widths[3] - 1)))
        straight = view.copy()
        straight[5:7] = 0
        steps = [
            np.linalg.norm(np.diff(sealed15.to_desk(straight, np.array([spot, spot + (1.0, 0)]), 192), axis=0))
            for spot in (np.array([96.0, 96.0]), np.array([1.0, 1.0]))
        ]
        assert steps[0] == pytest.approx(1 / view[2], rel=1e-3), (seed, steps, view[2])  # the zoom at the middle
        assert steps[1] > steps[0] * (1 + 2 * view[4] * 0.9), (seed, steps, view[4])
    assert max(turns) > 3 and max(turns) <= 6
    assert min(keystones) > 0.003 and max(keystones) > 0.05, keystones


def test_every_fifteenth_bicubic_read_returns_pixels_at_their_middles_and_a_slope_anywhere() -> None:
    """Keys's cubic keeps a pixel's own value at its middle and follows a straight slope of grey exactly between
    pixels (its weights sum to one and reproduce a line), so the lens moves the desk without blurring or tilting it."""
    rng = np.random.default_rng(4)
    picture = rng.uniform(0, 255, (40, 40, 3))
    middles = np.c_[rng.integers(0, 40, 200), rng.integers(0, 40, 200)] + 0.5
    read = sealed15.bicubic(picture, middles.astype(float))
    assert np.allclose(read, picture[(middles[:, 1] - 0.5).astype(int), (middles[:, 0] - 0.5).astype(int)])
    rows, cols = np.mgrid[0:40, 0:40] + 0.5
    slope = 3.0 * cols - 2.0 * rows + 100
    spots = rng.uniform(3, 37, (500, 2))
    assert np.allclose(sealed15.bicubic(slope, spots), 3.0 * spots[:, 0] - 2.0 * spots[:, 1] + 100, atol=1e-9)
    assert np.allclose(sealed15._keys(rng.random(50)).sum(axis=1), 1.0)


def test_every_fifteenth_capture_keeps_the_mask_on_the_object_and_the_fit_puts_its_box_where_asked() -> None:
    """A pale square on a dark desk comes out where the mask says: the mask is the cover through the camera's own
    view; and a class fitted to a box in the frame is seen with that box, within a pixel, through the lens."""
    share = np.zeros((192, 192))
    share[30:100, 60:150] = 1.0
    scene = np.repeat(30.0 + 200.0 * share[..., None], 3, axis=2)
    for seed in range(8):
        rng = np.random.default_rng([7, seed])
        view = sealed15._view(rng, 192)
        image, mask = sealed15._capture(rng, scene, share, view, 192)
        bright = image.astype(np.float64) @ LUMA > 128
        assert 0.1 < mask.mean() < 0.4 and (bright == mask).mean() > 0.98, (seed, (bright == mask).mean())
        goal, extent = np.array([80.0 + seed * 4, 110.0]), 70.0 + seed * 5
        shape, _, _ = sealed15._fit(view, sealed15.formula("square"), goal, extent, 0.3 * seed, 192)
        _, seen = sealed15._capture(rng, scene, sealed15.cover(shape, 192), view, 192)
        ys, xs = np.nonzero(seen)
        assert abs(max(xs.max() - xs.min(), ys.max() - ys.min()) + 1 - extent) <= 1.5, seed
        assert abs((xs.min() + xs.max() + 1) / 2 - goal[0]) <= 1 and abs((ys.min() + ys.max() + 1) / 2 - goal[1]) <= 1


def test_every_fifteenth_stream_quantises_each_four_by_four_block_and_keeps_flat_colour() -> None:
    """The codec's transform undoes itself when nothing is rounded, rounds a block's coefficients to its step once
    scaled to unit rows, and leaves a flat colour its colour (within two grey levels); a sharp edge rings only in the
    blocks it crosses."""
    rng = np.random.default_rng(8)
    plane = rng.uniform(0, 255, (16, 24))
    assert np.allclose(sealed15._blocks(plane, 1e-9), plane)
    step = 9.0
    coarse = sealed15._blocks(plane, step)
    tiles = coarse.reshape(4, 4, 6, 4).transpose(0, 2, 1, 3)
    coefficients = sealed15._CORE @ tiles @ sealed15._CORE.T / np.outer(sealed15._CORE_NORMS, sealed15._CORE_NORMS)
    assert np.allclose(coefficients / step, np.round(coefficients / step), atol=1e-6)
    assert 1 < np.abs(coarse - plane).mean() < step
    flat = np.full((64, 64, 3), (180.0, 90.0, 40.0))
    assert np.abs(sealed15._stream(rng, flat).astype(float) - flat).max() <= 2
    edge = np.zeros((16, 16))
    edge[:, 6:] = 240.0  # inside the second column of blocks, and a flat block of 240 is a whole number of steps
    error = np.abs(sealed15._blocks(edge, 60.0) - edge)
    assert error[:, 4:8].max() > 3 and error[:, :4].max() < 1e-9 and error[:, 8:].max() < 1e-9


def test_every_fifteenth_acrylic_glare_lies_on_the_tile_towards_the_lamp_off_its_middle() -> None:
    """The lamp's glare on an acrylic tile is a bright patch a fifth to a half of the tile's radius from its middle
    (on a plain grey desk, its brightest point away from the polished edge), not at the middle or off the tile."""
    rows, cols = np.mgrid[0:192, 0:192] + 0.5
    middle = np.array([96.0, 96.0])
    share = sealed15.cover(sealed15.placed(sealed15.formula("circle"), middle, 40.0, 0.0), 192)
    d = np.hypot(cols - 96, rows - 96)
    for seed in range(8):
        painted = sealed15._paint(
            np.random.default_rng([17, seed]), np.full((192, 192, 3), 90.0), share, "acrylic", (middle, 40.0, 0.3)
        )
        luma = np.where(d < 32, painted @ LUMA, -1)
        brightest = np.unravel_index(np.argmax(luma), luma.shape)
        assert 0.15 * 40 <= d[brightest] <= 0.55 * 40, (seed, d[brightest])


def test_every_fifteenth_fuse_bead_object_is_nine_to_twelve_beads_across_each_with_a_hole() -> None:
    """Fuse beads are sized to the object, nine to twelve across it, so a small shape keeps its outline in beads
    and a large one is not a fine dot screen: a disc 80 px wide shows 50-130 holes, the desk dark through each."""
    rows, cols = np.mgrid[0:192, 0:192] + 0.5
    middle = np.array([96.0, 96.0])
    share = sealed15.cover(sealed15.placed(sealed15.formula("circle"), middle, 40.0, 0.0), 192)
    inner = np.hypot(cols - 96, rows - 96) < 37
    for seed in range(6):
        rng = np.random.default_rng([23, seed])
        painted = sealed15._paint(rng, np.full((192, 192, 3), 60.0), share, "fuse beads", (middle, 40.0, 0.2 * seed))
        luma = painted @ LUMA
        holes, count = ndimage.label(inner & (luma < np.median(luma[inner]) - 40))
        assert 50 <= count <= 130, (seed, count)


def test_every_fifteenth_tone_has_the_grey_asked_whatever_its_hue() -> None:
    """A colour darkened towards black or lifted towards white lands on the grey asked for exactly, so an object's
    grey and a surface's tones are what their ranges say, and every channel stays within 0-255."""
    rng = np.random.default_rng(19)
    for grey in np.linspace(5, 250, 50):
        colour = sealed15._tone(rng, float(grey))
        assert colour @ LUMA == pytest.approx(grey, abs=1e-6) and colour.min() >= 0 and colour.max() <= 255
