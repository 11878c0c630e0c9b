"""Rules for the sixteenth sealed renderer (shapes-sealed-16): heaps of small discs ray-cast through a shop's CCTV.

Every rule draws real pictures with the real module, at a seed other than the evaluation's, so the pictures a model
is scored on stay unseen; nothing here runs a model.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from matplotlib.path import Path as MplPath
from scipy import ndimage

from models.datasets import SHAPE_CLASSES
from models.datasets import shapes_sealed16 as sealed16
from models.datasets.shapes_sealed import SealedScene
from models.datasets.shapes_sealed16 import OUTLINED16, STYLES16, SURFACES16, ShapesSealed16Dataset
from models.datasets.shapes_strokes import CIRCLE_LINE_SHARE
from tests.sealed_measures import (
    LUMA,
    assert_bands_outlines_and_groups,
    assert_builds_a_test_split_of_400,
    assert_drawn_on_the_ground_its_group_names,
    assert_first_draws_and_groups,
    assert_stands_apart,
    outline_measures,
    scenes_at_192,
)

POLYGONS = ("square", "triangle", "star", "cross")


@pytest.fixture(scope="module")
def sixteenth_at_192() -> list[SealedScene]:
    """48 pictures of the sixteenth set at 192 px, rendered once for the rules that measure them."""
    return scenes_at_192(ShapesSealed16Dataset, 48)


def _inside(name: str, points: np.ndarray) -> np.ndarray:
    """Inside the class, checked apart from the module: matplotlib's point-in-path for a polygon written out here,
    the distance from the middle for a circle and a ring."""
    rho = np.hypot(points[:, 0], points[:, 1])
    if name == "circle":
        return rho < 1
    if name == "ring":
        return (rho < 1) & (rho > 0.55)
    if name == "square":
        corners = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
    elif name == "triangle":
        corners = [(0, -1), (math.sqrt(3) / 2, 0.5), (-math.sqrt(3) / 2, 0.5)]
    elif name == "star":
        turns = np.arange(10) * math.pi / 5 - math.pi / 2
        radii = np.where(np.arange(10) % 2 == 0, 1.0, 0.45)
        corners = list(zip(radii * np.cos(turns), radii * np.sin(turns), strict=True))
    else:
        a = 0.32
        corners = [(-a, -1), (a, -1), (a, -a), (1, -a), (1, a), (a, a), (a, 1), (-a, 1), (-a, a), (-1, a), (-1, -a)]
        corners.append((-a, -a))
    return MplPath(np.array(corners, float)).contains_points(points)


def _heap_cover(middles: np.ndarray, radii: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Which points some disc reaches, by brute force over every disc."""
    return (np.linalg.norm(points[:, None] - middles[None], axis=2) < radii[None]).any(axis=1)


SIXTEENTH_OUTLINES = {  # (spread, solidity) of each filled class, bent a little by the fisheye and the tilt
    "circle": lambda spread, solidity: spread > 0.68 and solidity > 0.94,
    "square": lambda spread, solidity: 0.4 < spread < 0.58 and solidity > 0.93,
    "triangle": lambda spread, solidity: spread < 0.48 and solidity > 0.9,
    "star": lambda spread, solidity: spread < 0.45 and 0.45 < solidity < 0.75,
    "cross": lambda spread, solidity: spread > 0.38 and 0.55 < solidity < 0.82,
}


def test_every_sixteenth_first_draw_is_the_label_surface_and_band_and_a_picture_is_rebuilt_alike() -> None:
    assert_first_draws_and_groups(ShapesSealed16Dataset, SURFACES16)


def test_every_sixteenth_set_name_builds_a_test_split_of_400_with_the_groups_evaluate_reports() -> None:
    """The factory's name gives the set evaluate reads: 400 pictures, a test split only, and per picture its
    background and size band (its class from the label), an image and a mask to point at."""
    assert_builds_a_test_split_of_400("shapes-sealed-16", ShapesSealed16Dataset)


def test_every_sixteenth_picture_is_drawn_on_the_counter_its_group_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """The counter a picture's rays land on is the one its "background" group reports, picture by picture, and
    every frame casts four rays a pixel at 192 px, three times the side the model reads."""
    assert_drawn_on_the_ground_its_group_names(monkeypatch, sealed16, ShapesSealed16Dataset, "counter", 192 * 192 * 4)


@pytest.mark.parametrize("name", list(SHAPE_CLASSES))
def test_every_sixteenth_scatter_falls_uniformly_inside_the_class(name: str) -> None:
    """Every scattered point lies inside the class (checked apart from the module), and they spread evenly over
    it: each of its four quarters about the middle gets the share of points that its share of area gives."""
    points = sealed16.scatter(np.random.default_rng(2), name, 40_000)
    assert _inside(name, points).all()
    grid = np.mgrid[-1:1:400j, -1:1:400j].reshape(2, -1).T
    inside = grid[_inside(name, grid)]
    for sx, sy in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
        want = ((inside[:, 0] * sx > 0) & (inside[:, 1] * sy > 0)).mean()
        got = ((points[:, 0] * sx > 0) & (points[:, 1] * sy > 0)).mean()
        assert got == pytest.approx(want, abs=0.012), (name, sx, sy, got, want)
    assert sealed16.area(name) == pytest.approx(4 * _inside(name, grid).mean(), rel=0.02)


@pytest.mark.parametrize("name", list(SHAPE_CLASSES))
def test_every_sixteenth_clearance_is_the_distance_to_the_outline(name: str) -> None:
    """A point's clearance is its distance to the nearest point of the class's outline, as the outline walked at a
    thousandth of a unit finds it, inside and outside alike."""
    rng = np.random.default_rng(9)
    points = rng.uniform(-1.3, 1.3, (400, 2))
    if name in ("circle", "ring"):
        turns = np.linspace(0, 2 * math.pi, 6000, endpoint=False)
        loops = [np.c_[np.cos(turns), np.sin(turns)]]
        if name == "ring":
            loops.append(0.55 * loops[0])
        walked = np.concatenate(loops)
    else:
        corners = sealed16.corners(name)
        walked = np.concatenate(
            [a + np.linspace(0, 1, 3000)[:, None] * (b - a) for a, b in zip(corners, np.roll(corners, -1, axis=0))]
        )
    truth = np.linalg.norm(points[:, None] - walked[None], axis=2).min(axis=1)
    assert np.allclose(sealed16.clearance(name, points), truth, atol=2e-3)


@pytest.mark.parametrize("name", list(SHAPE_CLASSES))
def test_every_sixteenth_heap_lies_inside_its_class_and_fills_it(name: str) -> None:
    """Every disc of a heap lies inside the class (points round its rim all inside), and the heap fills the class
    but for a rim of under a disc's width: nearly every point a radius and a half clear of the outline is covered."""
    rng = np.random.default_rng(4)
    middles, radii = sealed16.heap(rng, name, 0.08)
    turns = np.linspace(0, 2 * math.pi, 24, endpoint=False)
    rims = (middles[:, None] + 0.999 * radii[:, None, None] * np.c_[np.cos(turns), np.sin(turns)][None]).reshape(-1, 2)
    assert _inside(name, rims).all()
    grid = np.mgrid[-1:1:100j, -1:1:100j].reshape(2, -1).T
    deep = grid[_inside(name, grid) & (sealed16.clearance(name, grid) > 0.12)]
    assert _heap_cover(middles, radii, deep).mean() > 0.995
    assert len(middles) > 8 * sealed16.area(name) / (math.pi * 0.08**2) * 0.4


def test_every_sixteenth_class_is_solid_or_empty_at_known_points() -> None:
    """A ring's middle and hole are bare and its band covered; a cross is covered where its bars meet and bare
    between its arms; a star's points and middle are covered and its notches bare; a triangle points up."""

    def covered(name: str, points: list[tuple[float, float]]) -> list[bool]:
        middles, radii = sealed16.heap(np.random.default_rng(6), name, 0.03)
        return list(_heap_cover(middles, radii, np.array(points, float)))

    assert covered("ring", [(0, 0), (0.3, -0.3), (0.78, 0), (0, -0.78), (1.05, 0)]) == [False, False, True, True, False]
    assert covered("cross", [(0, 0), (0.2, 0.2), (0.85, 0), (0, -0.85), (0.6, 0.6)]) == [True, True, True, True, False]
    tips = [(0.8 * math.cos(t), 0.8 * math.sin(t)) for t in np.arange(5) * 2 * math.pi / 5 - math.pi / 2]
    notches = [(0.6 * math.cos(t), 0.6 * math.sin(t)) for t in np.arange(5) * 2 * math.pi / 5 + math.pi / 2]
    assert covered("star", [(0, 0), *tips]) == [True] * 6 and covered("star", notches) == [False] * 5
    assert covered("triangle", [(0, -0.8), (0, 0.7), (0.8, 0.2), (-0.8, 0.2)]) == [True, False, False, False]


@pytest.mark.parametrize("name", list(SHAPE_CLASSES))
def test_every_sixteenth_necklace_strings_touching_beads_along_the_outline(name: str) -> None:
    """A necklace's beads sit on the class's outline, one at every corner, each touching the next, so the line
    has no gaps; a ring, which an outline cannot tell from a circle, is a heap filling its band instead."""
    middles, radii = sealed16.necklace(np.random.default_rng(8), name, sealed16._BEAD)
    if name == "ring":
        rho = np.hypot(middles[:, 0], middles[:, 1])
        assert rho.min() >= 0.55 + radii.min() - 1e-9 and rho.max() <= 1 - radii.min() + 1e-9
        assert len(middles) > 200
        return
    assert sealed16.clearance(name, middles).max() < 0.3 * sealed16._BEAD
    gaps = np.linalg.norm(middles - np.roll(middles, -1, axis=0), axis=1)
    assert gaps.max() < radii.min() + np.roll(radii, -1).min(), gaps.max()
    if name != "circle":
        for corner in sealed16.corners(name):
            assert np.linalg.norm(middles - corner, axis=1).min() < 0.3 * sealed16._BEAD


def test_every_sixteenth_necklace_circle_line_is_thinner_than_a_rings_band() -> None:
    """A circle strung as a necklace and a ring heaped as one are told apart by their width: the circle's line is
    within the project's share of its radius and under half as wide as the ring's band (each width its area over
    its middle line's length)."""
    grid = np.mgrid[-1.1:1.1:300j, -1.1:1.1:300j].reshape(2, -1).T
    cell = (2.2 / 299) ** 2
    widths = {}
    for name, middle_radius in (("circle", 1.0), ("ring", 0.775)):
        middles, radii = sealed16.necklace(np.random.default_rng(3), name, sealed16._BEAD)
        covered = np.zeros(len(grid), bool)
        for start in range(0, len(grid), 25_000):
            covered[start : start + 25_000] = _heap_cover(middles, radii, grid[start : start + 25_000])
        widths[name] = covered.sum() * cell / (2 * math.pi * middle_radius)
    assert widths["circle"] <= CIRCLE_LINE_SHARE < 0.5 * widths["ring"], widths


def test_every_sixteenth_ray_hits_exactly_where_a_disc_reaches_and_names_a_disc_that_does() -> None:
    """The k-d tree's answer agrees with a brute-force search over every disc: a ray hits just when some disc
    reaches it, and the disc it names is one of those that do, the last laid among its nearest."""
    rng = np.random.default_rng(12)
    middles, radii = sealed16.heap(rng, "star", 0.05)
    points = rng.uniform(-1.1, 1.1, (6000, 2))
    top = sealed16.hits(points, middles, radii)
    reach = np.linalg.norm(points[:, None] - middles[None], axis=2) < radii[None]
    assert np.array_equal(top >= 0, reach.any(axis=1))
    hit = np.nonzero(top >= 0)[0]
    assert reach[hit, top[hit]].all() and 0.2 < len(hit) / len(points) < 0.5
    lasts = np.where(reach, np.arange(len(middles)), -1).max(axis=1)
    assert (top[hit] == lasts[hit]).mean() > 0.8
    assert (sealed16.hits(points + 50, middles, radii) == -1).all()


def test_every_sixteenth_fisheye_is_equidistant_and_a_level_camera_sees_a_pixel_at_its_middle() -> None:
    """With no roll or pitch the angle off the axis grows as the distance from the frame's middle, so a point lands
    tan(field x distance) / field out; a step at the middle sees one counter pixel and a step near a corner more."""
    field = math.radians(38)
    view = np.array([field, 0.0, 0.0, 0.0])
    points = np.random.default_rng(1).uniform(0, 192, (300, 2))
    land = sealed16.to_counter(view, points, 192)
    rho = np.hypot(*(points - 96).T) / 96
    assert np.allclose(np.hypot(*(land - 96).T) / 96, np.tan(field * rho) / field, atol=1e-9)
    assert np.allclose(np.arctan2(*(land - 96).T[::-1]), np.arctan2(*(points - 96).T[::-1]), atol=1e-9)

    def step(spot: np.ndarray) -> float:
        pair = sealed16.to_counter(view, np.array([spot, spot + (0.01, 0)]), 192)
        return float(np.linalg.norm(np.diff(pair, axis=0))) / 0.01

    assert step(np.array([96.0, 96.0])) == pytest.approx(1.0, rel=1e-3)
    assert step(np.array([2.0, 2.0])) > 1.4


def test_every_sixteenth_view_rolls_a_little_and_pitches_into_a_keystone() -> None:
    """The camera is rolled at most 7 degrees, pitched 4-14 degrees either way and shaken under a pixel between its
    fields; its pitch makes the frame's top and bottom edges see different widths of counter (a keystone)."""
    keystones = []
    for seed in range(30):
        view = sealed16._view(np.random.default_rng([13, seed]))
        assert 30 <= math.degrees(view[0]) <= 42 and abs(math.degrees(view[1])) <= 7
        assert 4 <= abs(math.degrees(view[2])) <= 14 and 0.2 <= abs(view[3]) <= 0.8
        level = view.copy()
        level[1] = 0.0
        top, bottom = (sealed16.to_counter(level, np.array([(0.0, y), (192.0, y)]), 192) for y in (0.0, 192.0))
        keystones.append(np.linalg.norm(np.diff(top, axis=0)) / np.linalg.norm(np.diff(bottom, axis=0)))
    assert min(abs(k - 1) for k in keystones) > 0.05 and max(keystones) > 1.1 and min(keystones) < 0.9


def test_every_sixteenth_odd_rows_are_a_second_field_shaken_sideways() -> None:
    """The even rows' rays land where the lens sends them and the odd rows' the shake further along, so an upright
    edge of the object comes out combed: its odd rows start that far over."""
    view = np.array([math.radians(35), 0.0, 0.0, 3.0])
    land = sealed16.rays(view, 64)
    rows, cols = np.mgrid[0:64, 0:64]
    first = sealed16.to_counter(view, np.c_[cols.ravel() + 0.25, rows.ravel() + 0.25], 64).reshape(64, 64, 2)
    assert np.allclose(land[0::2, :, 0], first[0::2]) and np.allclose(land[1::2, :, 0] - [3.0, 0], first[1::2])
    assert land.shape == (64, 64, 4, 2)
    middles = np.c_[np.full(40, 50.0), np.linspace(0, 64, 40)]
    cover = sealed16._cover(land, middles, np.full(40, 20.0))
    starts = np.argmax(cover[10:54] >= 0.5, axis=1)
    assert np.mean(starts[1::2]) - np.mean(starts[0::2]) < -2.5  # odd rows (even indices from 10) shifted


def test_every_sixteenth_fit_puts_the_masks_box_where_asked() -> None:
    """A heap fitted through a tilted fisheye is seen with the box asked for: its longer side within a pixel and
    a half of the extent and its middle within a pixel of the goal."""
    for seed in range(5):
        rng = np.random.default_rng([7, seed])
        view = sealed16._view(rng)
        land = sealed16.rays(view, 192)
        middles, radii = sealed16.heap(rng, SHAPE_CLASSES[seed], 0.045)
        goal, extent = np.array([80.0 + seed * 6, 100.0]), 40.0 + seed * 22
        placed, sizes = sealed16._fit((middles, radii), land, view, goal, extent)
        ys, xs = np.nonzero(sealed16._cover(land, placed, sizes) >= 0.5)
        assert abs(max(xs.max() - xs.min(), ys.max() - ys.min()) + 1 - extent) <= 1.5, seed
        assert abs((xs.min() + xs.max() + 1) / 2 - goal[0]) <= 1 and abs((ys.min() + ys.max() + 1) / 2 - goal[1]) <= 1


def test_every_sixteenth_capture_keeps_the_mask_on_the_object_and_darkens_the_corners() -> None:
    """A pale square on a dark counter comes out where the mask says (but for its edge and the timestamp), at
    every size asked; on a flat grey counter
    the fisheye's vignette leaves the corners darker than the middle."""
    cover = np.zeros((192, 192))
    cover[40:110, 60:150] = 1.0
    picture = np.repeat(30.0 + 200.0 * cover[..., None], 3, axis=2)
    flat = np.full((192, 192, 3), 150.0)
    for seed, size in enumerate((64, 96, 192, 224)):
        rng = np.random.default_rng([5, seed])
        view = sealed16._view(rng)
        image, mask = sealed16._capture(rng, picture, cover, view, size)
        assert image.shape == (size, size, 3) and mask.shape == (size, size)
        bright = image.astype(np.float64) @ LUMA > 128
        clear = ndimage.binary_erosion(mask, iterations=4) | ~ndimage.binary_dilation(mask, iterations=4)
        clear[: int(0.05 * size)] = False  # the timestamp's band
        assert (bright == mask)[clear].mean() > 0.998 and 0.1 < mask.mean() < 0.25, (size, (bright == mask).mean())
        grey = sealed16._capture(rng, flat, cover, view, size)[0].astype(np.float64) @ LUMA
        band = size // 8
        corners = np.median(np.r_[grey[-band:, :band].ravel(), grey[-band:, -band:].ravel()])
        assert corners < 0.85 * np.median(
            grey[size // 2 - band : size // 2 + band, size // 2 - band : size // 2 + band]
        )


def test_every_sixteenth_wavelet_rounds_details_and_undoes_itself() -> None:
    """The Haar transform undoes itself when nothing is rounded; a flat plane stays flat; a sharp edge rings only
    in the 4 x 4 blocks it crosses; rounding moves the plane by under a step on average."""
    rng = np.random.default_rng(8)
    plane = rng.uniform(0, 255, (16, 24))
    assert np.allclose(sealed16._haar(plane, 1e-9), plane)
    coarse = sealed16._haar(plane, 10.0)
    assert 1 < np.abs(coarse - plane).mean() < 10
    assert np.allclose(sealed16._haar(np.full((8, 8), 97.3), 10.0), 97.3)
    edge = np.zeros((16, 16))
    edge[:, 6:] = 240.0
    error = np.abs(sealed16._haar(edge, 60.0) - edge)
    assert error[:, 4:8].max() > 3 and error[:, :4].max() < 1e-9 and error[:, 8:].max() < 1e-9


def test_every_sixteenth_recording_keeps_flat_colour_and_shares_colour_along_four_pixels() -> None:
    """The DVR keeps a flat colour (within two levels) and its brightness detail, but gives every four pixels of
    a row one colour: red and blue columns in turn come out alike in hue, their greys still apart."""
    rng = np.random.default_rng(3)
    flat = np.full((32, 32, 3), (170.0, 80.0, 40.0))
    assert np.abs(sealed16._record(rng, flat).astype(float) - flat).max() <= 2
    stripes = np.zeros((32, 32, 3))
    stripes[:, 0::4] = (200.0, 40, 40)
    stripes[:, 1::4] = (200.0, 40, 40)
    stripes[:, 2::4] = (40.0, 40, 200)
    stripes[:, 3::4] = (40.0, 40, 200)
    out = sealed16._record(rng, stripes).astype(float)
    chroma = out - (out @ LUMA)[..., None]
    assert np.abs(chroma[:, 0::4] - chroma[:, 2::4]).mean() < 12
    assert np.abs((out @ LUMA)[:, 0::4] - (out @ LUMA)[:, 2::4]).mean() > 20


def test_every_sixteenth_timestamp_writes_only_along_the_top() -> None:
    """The DVR's date and time are white writing with a dark edge in the top 5% of the frame and nothing else
    changes."""
    for size in (64, 192):
        frame = np.full((size, size, 3), 120, np.uint8)
        out = sealed16.stamp(np.random.default_rng(2), frame)
        band = int(0.05 * size)
        assert np.array_equal(out[band:], frame[band:])
        assert (out[:band] == 235).all(axis=2).sum() >= size // 8
        assert (out[:band] < 120).all(axis=2).any()


def test_every_sixteenth_tone_has_the_grey_asked_whatever_its_hue() -> None:
    """A colour is a grey plus a hue's chroma, so it lands on the grey asked for exactly, within 0-255, and has a
    hue (it is not grey) wherever there is room for one."""
    rng = np.random.default_rng(19)
    for grey in np.linspace(5, 250, 50):
        colour = sealed16._tone(rng, float(grey))
        assert colour @ LUMA == pytest.approx(grey, abs=1e-6) and colour.min() >= -1e-9 and colour.max() <= 255 + 1e-9
        if 30 < grey < 225:
            assert colour.max() - colour.min() > 15, (grey, colour)


def test_every_sixteenth_ink_is_dark_or_light_against_the_counter_round_it() -> None:
    """The object is dark among light things and light among dark ones, and where white cards lie on a mid-grey
    table it is dark: the light end is crowded by the cards, the dark end by nothing."""
    rng = np.random.default_rng(4)
    light, dark = np.full((200, 3), 210.0), np.full((200, 3), 50.0)
    cards = np.r_[np.full((120, 3), 135.0), np.full((80, 3), 245.0)]
    for _ in range(10):
        assert sealed16._ink(rng, light) @ LUMA <= 50 and sealed16._ink(rng, dark) @ LUMA >= 205
        assert sealed16._ink(rng, cards) @ LUMA <= 50


@pytest.mark.parametrize("kind", SURFACES16)
def test_every_sixteenth_counter_is_a_patterned_picture_of_a_shapes_scale(kind: str) -> None:
    """Every counter is drawn within 0-255 where the rays land and none is flat; its features are as large as the
    shapes, so a blur of 5 px leaves over a third of its spread standing; its middle tones leave room for a dark
    or a light object; and it is drawn the same wherever the rays are (a picture of the plane, not of a grid)."""
    rows, cols = np.mgrid[0:192, 0:192] + 0.5
    points = np.c_[cols.ravel(), rows.ravel()]
    for seed in range(3):
        picture = sealed16.counter(np.random.default_rng([41, seed]), kind, points, 192).reshape(192, 192, 3)
        assert picture.min() >= 0 and picture.max() <= 255, seed
        luma = picture @ LUMA
        blurred = cv2.GaussianBlur(luma, (0, 0), 5)
        assert luma.std() > 18 and blurred.std() > 0.34 * luma.std(), (seed, luma.std(), blurred.std())
        assert 40 < np.median(luma) < 235, (seed, np.median(luma))
        some = sealed16.counter(np.random.default_rng([41, seed]), kind, points[::7], 192)
        assert np.allclose(some, picture.reshape(-1, 3)[::7])


@pytest.mark.parametrize("style", STYLES16)
def test_every_sixteenth_style_shades_each_disc_within_the_grey_scale(style: str) -> None:
    """A style's shading stays within 0-255 and near the object's colour; grains, sequins and sweets differ one
    from the next; a sweet's or a bead's highlight is lighter than its rim."""
    rng = np.random.default_rng(17)
    colour = np.array([40.0, 90, 200])
    top = np.repeat(np.arange(50), 20)
    offset = rng.uniform(-0.7, 0.7, (1000, 2))
    out = sealed16.shade(rng, style, colour, top, offset, 50)
    assert out.min() >= 0 and out.max() <= 255
    assert np.median(np.abs(out @ LUMA - colour @ LUMA)) < 30
    means = np.array([(out[top == k] @ LUMA).mean() for k in range(50)])
    assert means.std() > 1.5, means.std()
    if style in ("boiled sweets", "bead necklace"):
        spot = np.array([[-0.35, -0.35], [0.0, 0.95]])
        lit = sealed16.shade(rng, style, colour, np.array([0, 0]), spot, 1) @ LUMA
        assert lit[0] > lit[1] + 20, lit


def test_every_sixteenth_mask_spans_its_band_keeps_its_class_outline_and_every_group_occurs(
    sixteenth_at_192: list[SealedScene],
) -> None:
    """The object is sized by its own rays in the frame, so its box spans its band (within a pixel either side); a
    filled heap keeps its class's proportions through the fisheye and only a ring has a hole; every class, band,
    style and counter occurs."""
    assert_bands_outlines_and_groups(
        sixteenth_at_192,
        SIXTEENTH_OUTLINES,
        (STYLES16, SURFACES16),
        (0.6, 0.82),
        0.99,
        lambda scene: scene.style != OUTLINED16,
    )


def test_every_sixteenth_necklace_is_a_closed_loop_and_only_on_a_large_shape(
    sixteenth_at_192: list[SealedScene],
) -> None:
    """A necklace's beads touch all the way round, so its mask is one piece round a hole of most of its area; it
    is drawn only at 40% of the side or more, where its line is readable at 64 px."""
    necklaces = [scene for scene in sixteenth_at_192 if scene.style == OUTLINED16]
    assert len(necklaces) >= 2
    for scene in necklaces:
        assert scene.band in ("40-60%", "60-75%"), scene.band
        _, pieces = ndimage.label(scene.mask)
        _, _, holes = outline_measures(scene.mask)
        assert pieces == 1 and holes < 0.7, (SHAPE_CLASSES[scene.label], pieces, holes)


def test_every_sixteenth_object_stays_clear_of_the_frame_and_the_timestamp(
    sixteenth_at_192: list[SealedScene],
) -> None:
    """The box is placed 7% inside each edge of the frame, so nothing of the object is cut off and the timestamp
    along the top 5% never covers it."""
    for index, scene in enumerate(sixteenth_at_192):
        ys, xs = np.nonzero(scene.mask)
        margin = min(xs.min(), ys.min(), 191 - xs.max(), 191 - ys.max()) / 192
        assert margin >= 0.065, (index, margin)


def test_every_sixteenth_object_stands_apart_from_the_counter_round_it(sixteenth_at_192: list[SealedScene]) -> None:
    """A person reads the shape at a glance: the object's middle differs from the counter just outside it, by at
    least 40 grey levels and by 85 at the median; every picture is a uint8 frame with object and counter."""
    assert_stands_apart(sixteenth_at_192, 40, 40, 85)
