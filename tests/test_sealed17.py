"""Rules for the seventeenth sealed renderer (shapes-sealed-17): ground markings drawn from their Fourier transform,
seen by a drone.

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
from models.datasets import shapes_sealed17 as sealed17
from models.datasets.shapes_sealed import SealedScene
from models.datasets.shapes_sealed17 import OUTLINED17, STYLES17, SURFACES17, ShapesSealed17Dataset
from models.datasets.shapes_strokes import CIRCLE_LINE_SHARE
from tests.sealed_measures import (
    KEYSTONED_OUTLINES,
    LUMA,
    assert_bands_outlines_and_groups,
    assert_boxes_within_a_pixel,
    assert_builds_a_test_split_of_400,
    assert_clear_of_the_frame,
    assert_drawn_on_the_ground_its_group_names,
    assert_first_draws_and_groups,
    assert_ground_at_a_shapes_scale,
    assert_lines_are_closed_loops_on_large_shapes,
    assert_stands_apart,
    scenes_at_192,
)


@pytest.fixture(scope="module")
def seventeenth_at_192() -> list[SealedScene]:
    """48 pictures of the seventeenth set at 192 px, rendered once for the rules that measure them."""
    return scenes_at_192(ShapesSealed17Dataset, 48)


def _level(**changes: float) -> dict[str, float]:
    """A drone's view looking straight down, heading north, its shutter still, with ``changes`` made."""
    view = {"pitch": 0.0, "lean": 0.0, "heading": 0.0, "shake": 0.0, "period": 50.0, "phase": 0.0}
    view.update(changes)
    return view


def _inside_at(frame_loops: list[np.ndarray], points: np.ndarray) -> np.ndarray:
    """Inside the loops by the even-odd rule, counted apart from the module by matplotlib's point-in-path."""
    crossings = sum(MplPath(loop).contains_points(points).astype(int) for loop in frame_loops)
    return crossings % 2 == 1


def _smoothed(frame_loops: list[np.ndarray], side: int, sigma: float, per: int = 11) -> np.ndarray:
    """The shape smoothed by a Gaussian of ``sigma`` px, at each pixel's middle, apart from the module: point-in-path
    tests at ``per`` x ``per`` points a pixel (the middle one at the pixel's middle) and a Gaussian over them."""
    steps = (np.arange(side * per) + 0.5) / per
    xs, ys = np.meshgrid(steps, steps)
    inside = _inside_at(frame_loops, np.c_[xs.ravel(), ys.ravel()]).reshape(side * per, side * per)
    smooth = ndimage.gaussian_filter(inside.astype(float), sigma * per, mode="constant", truncate=5)
    return smooth[per // 2 :: per, per // 2 :: per]


FRAMED = {  # a class's loops laid in a 96 px frame at 60 px across, turned a little
    name: [loop @ np.array([[0.96, 0.28], [-0.28, 0.96]]) * 30 + 48 for loop in sealed17.loops(name, 0.55)]
    for name in SHAPE_CLASSES
}

SEVENTEENTH_OUTLINES = KEYSTONED_OUTLINES  # a filled class bent a little by the gimbal's keystone


def test_every_seventeenth_first_draw_is_the_label_surface_and_band_and_a_picture_is_rebuilt_alike() -> None:
    assert_first_draws_and_groups(ShapesSealed17Dataset, SURFACES17)


def test_every_seventeenth_set_name_builds_a_test_split_of_400_with_the_groups_evaluate_reports() -> None:
    """The factory's name gives the set evaluate reads: 400 pictures, a test split only, and per picture its
    background and size band (its class from the label), an image and a mask to point at."""
    assert_builds_a_test_split_of_400("shapes-sealed-17", ShapesSealed17Dataset)


def test_every_seventeenth_picture_is_drawn_on_the_ground_its_group_names(monkeypatch: pytest.MonkeyPatch) -> None:
    assert_drawn_on_the_ground_its_group_names(monkeypatch, sealed17, ShapesSealed17Dataset)


@pytest.mark.parametrize("name", list(SHAPE_CLASSES))
def test_every_seventeenth_class_winds_its_outer_loop_forward_and_a_rings_hole_back(name: str) -> None:
    """The outer loop's shoelace area is positive and a ring's hole negative, and the loops' net area is the
    class's, as a grid of point-in-path tests counts it apart from the module."""
    shape = sealed17.loops(name, 0.55)
    assert sealed17.shoelace(shape[0]) > 0 and len(shape) == (2 if name == "ring" else 1)
    if name == "ring":
        assert sealed17.shoelace(shape[1]) < 0
    grid = np.mgrid[-1:1:500j, -1:1:500j].reshape(2, -1).T
    counted = 4 * _inside_at(shape, grid).mean()
    assert sum(sealed17.shoelace(loop) for loop in shape) == pytest.approx(counted, rel=0.01)


def test_every_seventeenth_quadrature_integrates_along_the_outline() -> None:
    """The points and weighted normals integrate along the outline as the divergence theorem asks: the normals add
    up to nothing round a closed loop, x n_x to the area and x^2 n_x to twice the area's first moment."""
    for name in SHAPE_CLASSES:
        shape = FRAMED[name]
        points, normals = sealed17.outline_quadrature(shape)
        area = sum(sealed17.shoelace(loop) for loop in shape)
        assert np.abs(normals.sum(axis=0)).max() < 1e-9 * area
        assert (points[:, 0] * normals[:, 0]).sum() == pytest.approx(area, rel=1e-9)
        grid = np.mgrid[0:96:0.125, 0:96:0.125].reshape(2, -1).T + 0.0625
        moment = (grid[_inside_at(shape, grid), 0]).sum() * 0.125**2
        assert (points[:, 0] ** 2 * normals[:, 0]).sum() == pytest.approx(2 * moment, rel=0.01), name
        pieces = np.linalg.norm(np.diff(points[: len(points) // 2], axis=0), axis=1)
        assert np.median(pieces) <= sealed17._PIECE


@pytest.mark.parametrize("name", list(SHAPE_CLASSES))
def test_every_seventeenth_fourier_cover_is_the_class_smoothed_by_its_window(name: str) -> None:
    """The cover from the Fourier transform is the class smoothed by a Gaussian of the window's width (counted by
    point-in-path tests), within 3% at every pixel (the frame's finest frequency cuts the rest); it adds up to the
    area; and half cover falls where the pixel's middle crosses the outline, but for pixels within a pixel of it."""
    shape = FRAMED[name]
    cover = sealed17.fourier_cover(shape, 96)
    truth = _smoothed(shape, 96, sealed17._WINDOW)
    assert np.abs(cover - truth).max() < 0.03 and np.abs(cover - truth).mean() < 0.002, np.abs(cover - truth).max()
    assert cover.sum() == pytest.approx(sum(sealed17.shoelace(loop) for loop in shape), rel=2e-3)
    rows, cols = np.mgrid[0:96, 0:96] + 0.5
    centres = _inside_at(shape, np.c_[cols.ravel(), rows.ravel()]).reshape(96, 96)
    edge = ndimage.binary_dilation(centres, iterations=1) & ~ndimage.binary_erosion(centres, iterations=1)
    assert np.array_equal((cover >= 0.5)[~edge], centres[~edge])
    if name == "ring":
        assert cover[48, 48] < 1e-3 and cover[48, 48 + 23] > 0.999  # the hole is bare and the band full


def test_every_seventeenth_cover_is_the_same_shape_moved_wherever_its_tile_falls() -> None:
    """A shape moved whole pixels is covered alike, moved with it, near the frame's middle and near its edge."""
    square = [np.array([[10.3, 12.0], [30.0, 11.2], [31.5, 33.0], [11.0, 30.4]])]
    first = sealed17.fourier_cover(square, 192)
    for shift in ((50, 70), (150, 3)):
        moved = sealed17.fourier_cover([square[0] + shift], 192)
        assert np.allclose(moved[shift[1] : shift[1] + 40, shift[0] : shift[0] + 40], first[:40, :40], atol=1e-4)


def test_every_seventeenth_painted_line_is_even_along_its_outline() -> None:
    """A line painted along an outline has its edges at half its width either side of it: each corner of the moved
    loops is as far from the nearest edge of the outline as asked, a square grows by that much each side."""
    square = sealed17.loops("square")[0]
    assert sealed17.shoelace(sealed17.offset(square, 0.1)) == pytest.approx(2.2**2)
    assert sealed17.shoelace(sealed17.offset(square, -0.1)) == pytest.approx(1.8**2)
    for name in ("triangle", "star", "cross"):
        outline = sealed17.loops(name)[0]
        walked = np.concatenate(
            [a + np.linspace(0, 1, 2000)[:, None] * (b - a) for a, b in zip(outline, np.roll(outline, -1, axis=0))]
        )
        for distance in (0.05, -0.05):
            moved = sealed17.offset(outline, distance)
            middles = (moved + np.roll(moved, -1, axis=0)) / 2
            gaps = np.linalg.norm(middles[:, None] - walked[None], axis=2).min(axis=1)
            assert np.allclose(gaps, abs(distance), atol=2e-3), (name, distance, gaps)
            assert (sealed17.shoelace(moved) > sealed17.shoelace(outline)) == (distance > 0)


def test_every_seventeenth_painted_circle_line_is_thinner_than_a_rings_band() -> None:
    """A circle's painted line is within the project's share of its radius and under half as wide as the thinnest
    ring's band (a ring is painted as its band, never as a line), so an outlined circle never passes for a ring."""
    rng = np.random.default_rng(3)
    band = 1 - sealed17._RING_HOLE[1]
    for _ in range(50):
        circle = sealed17.loops("circle")[0]
        half = sealed17.line_half(rng, "circle")
        painted = sealed17.shoelace(sealed17.offset(circle, half)) - sealed17.shoelace(sealed17.offset(circle, -half))
        width = painted / sealed17.shoelace(circle) * 1.0 / 2  # the band's area over its middle's length
        assert 0 < width <= CIRCLE_LINE_SHARE < 0.5 * band, width
        assert 0 < sealed17.line_half(rng, "star") < 0.06


def test_every_seventeenth_camera_maps_the_ground_and_back() -> None:
    """Ground points seen in the frame and taken back land where they were, for any view; a level camera with a
    still shutter sees the ground at one pixel a unit, only turned by its heading about the frame's middle."""
    rng = np.random.default_rng(2)
    points = rng.uniform(-120, 120, (500, 2))
    for seed in range(10):
        view = sealed17._view(np.random.default_rng([9, seed]))
        frame = sealed17.to_frame(view, points, 192)
        assert np.allclose(sealed17.to_ground(view, frame, 192), points, atol=1e-7)
        assert np.allclose(sealed17.to_frame(view, sealed17.to_ground(view, frame, 192), 192), frame, atol=1e-7)
    turn = 0.7
    level = sealed17.to_frame(_level(heading=turn), points, 192)
    spin = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
    assert np.allclose(level, points @ spin.T + 96, atol=1e-9)


def test_every_seventeenth_gimbal_pitch_makes_a_keystone() -> None:
    """Pitched off the vertical, the camera sees the ground larger on one side of the frame than the other: a unit
    step of ground spans over 5% more pixels at one edge than at the opposite one; a level camera sees it alike."""

    def spans(view: dict[str, float]) -> list[float]:
        out = []
        for spot in ((96.0, 10.0), (96.0, 182.0), (10.0, 96.0), (182.0, 96.0)):
            under = sealed17.to_ground(view, np.array([spot]), 192)[0]
            seen = sealed17.to_frame(view, np.array([under, under + (0.5, 0.0)]), 192)
            out.append(float(np.linalg.norm(np.diff(seen, axis=0))) / 0.5)
        return out

    assert np.allclose(spans(_level()), 1.0)
    for seed in range(10):
        view = sealed17._view(np.random.default_rng([11, seed]))
        assert 3 <= math.degrees(view["pitch"]) <= 14
        view["shake"] = 0.0
        top, bottom, left, right = spans(view)
        assert max(top / bottom, bottom / top, left / right, right / left) > 1.05, (top, bottom, left, right)


def test_every_seventeenth_shutter_shakes_each_row_sideways_by_the_propellers() -> None:
    """A straight line on the ground along the frame's columns comes out wavy: each row shifted sideways by the
    shake's amplitude times the sine of its row over the period, and nothing moves up or down."""
    view = _level(shake=1.2, period=40.0, phase=0.3)
    line = np.c_[np.full(193, 5.0), np.linspace(-96, 96, 193)]
    seen = sealed17.to_frame(view, line, 192)
    assert np.allclose(seen[:, 1], line[:, 1] + 96)
    want = 101 + 1.2 * np.sin(2 * math.pi * seen[:, 1] / 40 + 0.3)
    assert np.allclose(seen[:, 0], want) and np.ptp(seen[:, 0]) > 2.3
    for seed in range(10):
        view = sealed17._view(np.random.default_rng([12, seed]))
        assert 0.4 <= view["shake"] <= 1.3 and 36 <= view["period"] <= 80


@pytest.mark.parametrize("name", list(SHAPE_CLASSES))
def test_every_seventeenth_object_is_placed_with_the_box_asked(name: str) -> None:
    """Laid out through a pitched and shaken camera, a shape's mask has the box asked for: its longer side within
    a pixel of the extent (a star's points, rounded by the smoothing, made up for) and its middle within a pixel
    and a half of the goal."""
    for seed in range(4):
        view = sealed17._view(np.random.default_rng([7, seed]))
        shape = sealed17.loops(name, 0.55)
        goal, extent = np.array([80.0 + seed * 8, 100.0]), 21.0 + seed * 37
        cover = sealed17._fitted_cover(view, shape, goal, extent, 192)
        ys, xs = np.nonzero(cover >= 0.5)
        assert abs(max(np.ptp(xs), np.ptp(ys)) + 1 - extent) <= 1.0, (seed, np.ptp(xs), np.ptp(ys), extent)
        assert (
            abs((xs.min() + xs.max() + 1) / 2 - goal[0]) <= 1.5 and abs((ys.min() + ys.max() + 1) / 2 - goal[1]) <= 1.5
        )


def test_every_seventeenth_haze_mixes_the_ground_with_the_skys_light() -> None:
    """The air lets ``through`` of the ground's light through and adds the rest of the sky's: nothing changes when
    all gets through, black becomes the sky's share, and contrast shrinks by ``through``."""
    rng = np.random.default_rng(1)
    picture = rng.uniform(0, 255, (20, 20, 3))
    sky = np.array([205.0, 215, 230])
    assert np.allclose(sealed17.haze(picture, 1.0, sky), picture)
    assert np.allclose(sealed17.haze(np.zeros((2, 2, 3)), 0.8, sky), 0.2 * sky)
    hazy = sealed17.haze(picture, 0.8, sky)
    assert np.allclose(hazy - hazy.mean(axis=(0, 1)), 0.8 * (picture - picture.mean(axis=(0, 1))))


def test_every_seventeenth_defocus_spreads_a_point_over_a_disc() -> None:
    """A point out of focus spreads over a disc of the radius asked, evenly, and its light is kept: a flat field
    stays flat and the light within the disc is nearly all of it."""
    point = np.zeros((64, 64, 3))
    point[32, 32] = 1000.0
    spread = sealed17.defocus(point, 4.0)[..., 0]
    assert spread.sum() == pytest.approx(1000.0)
    rows, cols = np.mgrid[0:64, 0:64]
    far = np.hypot(rows - 32, cols - 32)
    assert spread[far <= 4.5].sum() > 0.85 * 1000
    assert np.abs(spread[far <= 2.5] - 1000 / (math.pi * 16)).max() < 0.3 * 1000 / (math.pi * 16)
    assert np.allclose(sealed17.defocus(np.full((32, 32, 3), 90.0), 1.0), 90.0)


def test_every_seventeenth_log_profile_is_opened_with_banding_in_the_highlights() -> None:
    """The log profile and the display lookup undo each other within a code's step there; brighter display levels
    never get lower codes; and a code's step is wider in the highlights than in the shadows (the profile's banding)."""
    ramp = np.linspace(0, 255, 2041)
    codes = sealed17.log_code(ramp)
    assert codes.dtype == np.uint8 and np.all(np.diff(codes.astype(int)) >= 0)
    back = sealed17.display(codes).astype(float)
    steps = np.diff(sealed17.display(np.arange(256, dtype=np.uint8)).astype(float))
    local = np.maximum(steps[np.clip(codes.astype(int) - 1, 0, 254)], steps[np.clip(codes.astype(int), 0, 254)])
    assert np.all(steps >= 0) and np.all(np.abs(back - ramp) <= local + 0.5)
    assert steps[200:].mean() > 2 * steps[30:60].mean(), (steps[200:].mean(), steps[30:60].mean())


def test_every_seventeenth_capture_keeps_the_mask_on_the_object() -> None:
    """A pale square on dark ground comes out where the mask says (but for its edge) at every size asked, through
    cloud, haze, defocus, noise and the log profile; a cloud's shadow only ever darkens."""
    cover = np.zeros((192, 192))
    cover[40:110, 60:150] = 1.0
    picture = np.repeat(30.0 + 200.0 * cover[..., None], 3, axis=2)
    for seed, size in enumerate((64, 96, 192, 224)):
        rng = np.random.default_rng([5, seed])
        image = sealed17.capture(rng, picture, size)
        mask = cv2.resize(cover, (size, size), interpolation=cv2.INTER_AREA if size < 192 else cv2.INTER_LINEAR) >= 0.5
        assert image.shape == (size, size, 3) and image.dtype == np.uint8
        bright = image.astype(np.float64) @ LUMA > 128
        clear = ndimage.binary_erosion(mask, iterations=3) | ~ndimage.binary_dilation(mask, iterations=3)
        assert (bright == mask)[clear].mean() > 0.998, size
    shades = [sealed17._cloud(np.random.default_rng([6, seed]), 64) for seed in range(20)]
    assert all(0.55 < shade.min() and shade.max() <= 1 for shade in shades)
    assert 3 <= sum(shade.min() < 0.85 for shade in shades) <= 17


def test_every_seventeenth_ink_is_dark_on_light_ground_and_light_on_dark() -> None:
    """The object's grey is at least 110 levels from the median of even ground round it, dark on light ground and
    light on dark, and has a hue; on a beach of two parts sand to one of sea it is dark, clear of the sand."""
    rng = np.random.default_rng(4)
    for grey in np.linspace(20, 245, 30):
        around = np.full((50, 3), grey) + rng.normal(0, 5, (50, 3))
        colour = sealed17.ink(rng, around)
        level = colour @ LUMA
        assert abs(level - np.median(around @ LUMA)) >= 110 and (level < grey) == (grey >= 128), (grey, level)
        assert colour.min() >= 0 and colour.max() <= 255 and colour.max() - colour.min() > 10
    beach = np.r_[np.full((60, 3), 190.0), np.full((30, 3), 90.0)]
    for _ in range(10):
        assert sealed17.ink(rng, beach) @ LUMA <= 190 - 110


@pytest.mark.parametrize("kind", SURFACES17)
def test_every_seventeenth_ground_is_a_patterned_picture_of_a_shapes_scale(kind: str) -> None:
    assert_ground_at_a_shapes_scale(sealed17.ground, kind, 0.28, np.float32, 1e-3)


@pytest.mark.parametrize("style", STYLES17)
def test_every_seventeenth_style_stays_near_its_colour_with_its_own_texture(style: str) -> None:
    """A style's colours stay within 0-255 and near the ink's grey, and each has its texture: glass beads that
    sparkle in the paint, a tarpaulin's folds light on one side and dark on the other, flowers among darker
    leaves, a painted line nearly flat."""
    rng = np.random.default_rng(17)
    colour = np.array([40.0, 90, 200])
    x, y = (value.ravel().astype(np.float32) for value in np.mgrid[-60:60:0.5, -60:60:0.5])
    out = sealed17.paint(rng, style, colour, x, y)
    luma = out @ LUMA
    assert out.min() >= 0 and out.max() <= 255
    assert abs(np.median(luma) - colour @ LUMA) < 25
    spread = {"playground paint": (4, 25), "tarpaulin": (2, 20), "flower bed": (6, 30), "line paint": (0.5, 6)}[style]
    assert spread[0] < luma.std() < spread[1], luma.std()
    if style == "playground paint":
        assert 0.005 < (luma > colour @ LUMA + 40).mean() < 0.05
    if style == "flower bed":
        assert 0.2 < (luma < 0.85 * colour @ LUMA).mean() < 0.7


def test_every_seventeenth_mask_is_the_object_as_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the camera taken away and the object painted red on blue ground, the mask is exactly where the frame is
    more red than blue: the cover is laid through the same view as the ground under it."""
    monkeypatch.setattr(sealed17, "capture", lambda rng, picture, size: np.clip(picture + 0.5, 0, 255).astype(np.uint8))
    monkeypatch.setattr(sealed17, "ground", lambda rng, kind, x, y: np.tile([0.0, 0.0, 255.0], (len(x), 1)))
    monkeypatch.setattr(sealed17, "paint", lambda rng, style, colour, x, y: np.tile([255.0, 0.0, 0.0], (len(x), 1)))
    data = ShapesSealed17Dataset(length=12, size=192, seed=5)
    for index in range(12):
        scene = data.scene(index)
        red = scene.image[..., 0].astype(int) > scene.image[..., 2].astype(int)
        assert np.array_equal(red, scene.mask), (index, (red != scene.mask).sum())


def test_every_seventeenth_mask_spans_its_band_keeps_its_class_outline_and_every_group_occurs(
    seventeenth_at_192: list[SealedScene],
) -> None:
    """The object is sized by its own mask in the frame, so its box spans its band (within a pixel either side); a
    filled shape keeps its class's proportions through the camera and only a ring has a hole; every class, band,
    style and ground occurs in the first 48 pictures."""
    assert_bands_outlines_and_groups(
        seventeenth_at_192,
        SEVENTEENTH_OUTLINES,
        (STYLES17, SURFACES17),
        (0.62, 0.8),
        0.99,
        lambda scene: scene.style != OUTLINED17,
    )
    assert_boxes_within_a_pixel(seventeenth_at_192)


def test_every_seventeenth_painted_line_is_a_closed_loop_and_only_on_a_large_shape(
    seventeenth_at_192: list[SealedScene],
) -> None:
    """A painted line is one piece round a hole of most of its area, drawn only at 40% of the side or more, where
    its line is readable at 64 px; a ring in that style is still a band round a hole a third to two thirds of it."""
    assert_lines_are_closed_loops_on_large_shapes(seventeenth_at_192, OUTLINED17)


def test_every_seventeenth_object_stays_clear_of_the_frame(seventeenth_at_192: list[SealedScene]) -> None:
    """The box is placed 6% inside each edge of the frame, so nothing of the object is cut off."""
    assert_clear_of_the_frame(seventeenth_at_192, 0.05)


def test_every_seventeenth_object_stands_apart_from_the_ground_round_it(seventeenth_at_192: list[SealedScene]) -> None:
    """A person reads the shape at a glance: the object's middle differs from the ground just outside it, by at
    least 40 grey levels and by 85 at the median; every picture is a uint8 frame with object and ground."""
    assert_stands_apart(seventeenth_at_192, 36, 40, 85)
