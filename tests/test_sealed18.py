"""Rules for the eighteenth sealed renderer (shapes-sealed-18): objects contoured by marching squares on their signed
distance, shot on 35 mm film and scanned.

The rules draw with the real module at seeds the evaluation never uses, and no model is run here: the set's own
pictures stay unseen until its one run.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib.path import Path as MplPath
from scipy import spatial

from models.datasets import SHAPE_CLASSES
from models.datasets import shapes_sealed18 as sealed18
from models.datasets.shapes_sealed import SealedScene
from models.datasets.shapes_sealed17 import line_half, loops, shoelace
from models.datasets.shapes_sealed18 import OUTLINED18, STYLES18, SURFACES18, ShapesSealed18Dataset
from models.datasets.shapes_strokes import CIRCLE_LINE_SHARE
from tests import sealed_measures as measures


@pytest.fixture(scope="module")
def eighteenth_at_192() -> list[SealedScene]:
    """The set's first 48 frames as scanned at 192 px (seed 5), shared by the rules on whole pictures."""
    return measures.scenes_at_192(ShapesSealed18Dataset, 48)


def _level(**changes: float) -> dict[str, float]:
    """A camera held square to the ground and level, with ``changes`` made."""
    camera = {"pitch": 0.0, "lean": 0.0, "heading": 0.0}
    camera.update(changes)
    return camera


def _inside_at(frame_loops: list[np.ndarray], points: np.ndarray) -> np.ndarray:
    """Inside the loops by the even-odd rule, counted apart from the module by matplotlib's point-in-path."""
    crossings = sum(MplPath(loop).contains_points(points).astype(int) for loop in frame_loops)
    return crossings % 2 == 1


def _supersampled(frame_loops: list[np.ndarray], side: int, per: int = 8) -> np.ndarray:
    """Each pixel's share inside the loops, from ``per`` x ``per`` point-in-path tests a pixel, apart from the
    module."""
    steps = (np.arange(side * per) + 0.5) / per
    xs, ys = np.meshgrid(steps, steps)
    inside = _inside_at(frame_loops, np.c_[xs.ravel(), ys.ravel()]).reshape(side, per, side, per)
    return inside.mean(axis=(1, 3))


def _corner_field(frame_loops: list[np.ndarray], side: int) -> np.ndarray:
    """The module's signed distance at every pixel corner of a ``side`` px frame."""
    cols, rows = np.meshgrid(np.arange(side + 1.0), np.arange(side + 1.0))
    return sealed18.signed_distance(frame_loops, np.c_[cols.ravel(), rows.ravel()]).reshape(side + 1, side + 1)


FRAMED = {  # a class's loop laid in a 96 px frame at 60 px across, turned a little (a ring's two loops)
    name: [loop @ np.array([[0.96, 0.28], [-0.28, 0.96]]) * 30 + 48 for loop in loops(name, 0.55)]
    for name in SHAPE_CLASSES
}


def test_every_eighteenth_first_draw_is_the_label_surface_and_band_and_a_picture_is_rebuilt_alike() -> None:
    measures.assert_first_draws_and_groups(ShapesSealed18Dataset, SURFACES18)


def test_every_eighteenth_set_name_builds_a_test_split_of_400_with_the_groups_evaluate_reports() -> None:
    """Asked for by name, the factory builds the 400 scans evaluate scores, refusing a training split."""
    measures.assert_builds_a_test_split_of_400("shapes-sealed-18", ShapesSealed18Dataset)


def test_every_eighteenth_picture_is_drawn_on_the_ground_its_group_names(monkeypatch: pytest.MonkeyPatch) -> None:
    measures.assert_drawn_on_the_ground_its_group_names(monkeypatch, sealed18, ShapesSealed18Dataset)


@pytest.mark.parametrize("name", list(SHAPE_CLASSES))
def test_every_eighteenth_signed_distance_is_the_way_to_the_outline_negative_inside(name: str) -> None:
    """Each point's value is its distance to the nearest point of the outline (walked densely apart from the
    module), negative exactly where point-in-path says it is inside; a ring's hole counts as outside."""
    shape = FRAMED[name]
    rng = np.random.default_rng(8)
    points = rng.uniform(5, 91, (3000, 2))
    field = sealed18.signed_distance(shape, points)
    walked = np.concatenate(
        [
            a + np.linspace(0, 1, int(np.linalg.norm(b - a) / 0.02) + 1, endpoint=False)[:, None] * (b - a)
            for loop in shape
            for a, b in zip(loop, np.roll(loop, -1, axis=0))
        ]
    )
    nearest = spatial.cKDTree(walked).query(points)[0]
    assert np.allclose(np.abs(field), nearest, atol=0.02), np.abs(np.abs(field) - nearest).max()
    assert np.array_equal(field < 0, _inside_at(shape, points))
    if name == "ring":
        assert sealed18.signed_distance(shape, np.array([[48.0, 48.0]]))[0] > 0


def test_every_eighteenth_marching_cover_is_exact_on_a_straight_edge() -> None:
    """Where the field is a plane, its nought a straight line, each cell's cover is the exact share of the cell on
    the line's inside (counted on a fine grid apart from the module), at any slope and offset."""
    rng = np.random.default_rng(3)
    cols, rows = np.meshgrid(np.arange(9.0), np.arange(9.0))
    fine = (np.arange(400) + 0.5) / 400
    fx, fy = np.meshgrid(fine, fine)
    for _ in range(12):
        turn, offset = rng.uniform(0, 2 * math.pi), rng.uniform(-4, 4)
        a, b = math.cos(turn), math.sin(turn)
        cover = sealed18.marching_cover(a * (cols - 4) + b * (rows - 4) - offset)
        for r, c in ((1, 1), (3, 4), (4, 4), (6, 2), (7, 7)):
            share = (a * (c + fx - 4) + b * (r + fy - 4) - offset < 0).mean()
            assert cover[r, c] == pytest.approx(share, abs=0.006), (turn, offset, r, c)


def test_every_eighteenth_saddle_cell_is_joined_only_when_its_middle_is_inside() -> None:
    """A cell whose opposite corners are inside is one piece across its middle when the corners' mean is below
    nought (its cover one less the two outside corners' triangles) and two corners apart when not (the two inside
    corners' triangles); a cell wholly in or out is covered wholly or not at all."""
    joined = sealed18.marching_cover(np.array([[-3.0, 1.0], [1.0, -3.0]]))  # crossings a quarter from each outside
    assert joined[0, 0] == pytest.approx(1 - 2 * 0.5 * 0.25 * 0.25)
    apart = sealed18.marching_cover(np.array([[-1.0, 3.0], [3.0, -1.0]]))  # crossings a quarter from each inside
    assert apart[0, 0] == pytest.approx(2 * 0.5 * 0.25 * 0.25)
    other = sealed18.marching_cover(np.array([[3.0, -1.0], [-1.0, 3.0]]))
    assert other[0, 0] == pytest.approx(2 * 0.5 * 0.25 * 0.25)
    assert sealed18.marching_cover(np.full((2, 2), -0.5))[0, 0] == 1.0
    assert sealed18.marching_cover(np.full((2, 2), 0.5))[0, 0] == 0.0
    corner = sealed18.marching_cover(np.array([[1.0, 1.0], [-1.0, 1.0]]))  # only the bottom-left corner inside
    assert corner[0, 0] == pytest.approx(0.125)


@pytest.mark.parametrize("name", list(SHAPE_CLASSES))
def test_every_eighteenth_cover_is_the_class_area_and_agrees_with_point_in_path(name: str) -> None:
    """The marching-squares cover of the class's signed distance adds up to its area, is whole well inside and
    nothing well outside, and differs from 64 point-in-path tests a pixel by little along its edges (more only
    where a sharp corner is cut off)."""
    shape = FRAMED[name]
    cover = sealed18.marching_cover(_corner_field(shape, 96))
    truth = _supersampled(shape, 96)
    assert cover.sum() == pytest.approx(sum(shoelace(loop) for loop in shape), rel=3e-3)
    rows, cols = np.mgrid[0:96, 0:96] + 0.5
    corners = np.concatenate(shape) if name not in ("circle", "ring") else np.empty((0, 2))
    near = np.zeros((96, 96), bool)
    for x, y in corners:  # a sharp corner is cut across by the line between its cell's edge crossings
        near |= np.hypot(cols - x, rows - y) < 2.5
    gap = np.abs(cover - truth)
    assert gap.mean() < 0.002 and gap[~near].max() < 0.05 and gap.max() < 0.4, (gap[~near].max(), gap.max())
    assert np.array_equal(cover[truth == 1] > 0.95, np.ones(int((truth == 1).sum()), bool))
    assert cover[truth == 0].max() < 0.1
    if name == "ring":
        assert cover[48, 48] == 0.0


def test_every_eighteenth_band_is_even_round_its_outline() -> None:
    """A band of half width h round a square of side L covers the area of its outer offset less its inner one,
    2 (4L) h + pi h^2 - 4 h^2; a band round a circle (a ring) covers pi ((r + h)^2 - (r - h)^2)."""
    square = [np.array([[30.0, 30.0], [70.0, 30.0], [70.0, 70.0], [30.0, 70.0]])]
    for h in (1.5, 3.0, 5.0):
        field, _, (x0, y0, x1, y1) = sealed18.object_field(square, h, 100)
        want = 2 * 160 * h + math.pi * h * h - 4 * h * h
        assert sealed18.marching_cover(field).sum() == pytest.approx(want, rel=0.01), h
        assert x0 <= 30 - h - 1 and y0 <= 30 - h - 1 and x1 >= 70 + h + 1 and y1 >= 70 + h + 1
    turns = np.linspace(0, 2 * math.pi, 192, endpoint=False)
    circle = [np.c_[np.cos(turns), np.sin(turns)] * 25 + 50]
    field, _, _ = sealed18.object_field(circle, 8.0, 100)
    assert sealed18.marching_cover(field).sum() == pytest.approx(math.pi * (33**2 - 17**2), rel=0.01)


def test_every_eighteenth_circle_rope_is_thinner_than_a_rings_band() -> None:
    """A rope round a circle is at most the project's share of its radius, under half as wide as the thinnest
    ring's band; a rope round any other class is a few hundredths of its size."""
    rng = np.random.default_rng(3)
    band = 1 - sealed18._RING_HOLE[1]
    for _ in range(50):
        assert 0 < 2 * line_half(rng, "circle") <= CIRCLE_LINE_SHARE < 0.5 * band
        assert 0 < line_half(rng, "star") < 0.06


def test_every_eighteenth_camera_maps_the_ground_and_back_with_a_keystone() -> None:
    """Ground points seen in the frame and taken back land where they were, for any hold; a level camera sees the
    ground at a pixel a unit about the frame's middle; a tilted one sees a unit step over 3% longer at one edge than
    at the opposite one, and its turn is a few degrees at most."""
    rng = np.random.default_rng(2)
    points = rng.uniform(-120, 120, (500, 2))
    assert np.allclose(sealed18.to_frame(_level(), points), points + 96)
    for seed in range(10):
        camera = sealed18._camera(np.random.default_rng([9, seed]))
        frame = sealed18.to_frame(camera, points)
        assert np.allclose(sealed18.to_ground(camera, frame), points, atol=1e-7)
        assert 2 <= math.degrees(camera["pitch"]) <= 9 and abs(math.degrees(camera["heading"])) <= 7
        spans = []
        for spot in ((96.0, 10.0), (96.0, 182.0), (10.0, 96.0), (182.0, 96.0)):
            under = sealed18.to_ground(camera, np.array([spot]))[0]
            seen = sealed18.to_frame(camera, np.array([under, under + (0.5, 0.0)]))
            spans.append(float(np.linalg.norm(np.diff(seen, axis=0))) / 0.5)
        top, bottom, left, right = spans
        assert max(top / bottom, bottom / top, left / right, right / left) > 1.03, spans


@pytest.mark.parametrize("name", list(SHAPE_CLASSES))
def test_every_eighteenth_object_is_laid_with_the_box_asked(name: str) -> None:
    """Laid through a tilted camera, filled or as a rope, a shape's mask has the box asked for: its longer side
    within a pixel of the extent (a star's thin points made up for) and its middle within a pixel and a half of the
    goal."""
    for seed in range(4):
        camera = sealed18._camera(np.random.default_rng([7, seed]))
        shape = [loops(name)[0]]
        half = 0.05 * (seed % 2)
        goal, extent = np.array([80.0 + seed * 8, 100.0]), 21.0 + seed * 37
        cover, _, _, band_px = sealed18.placed_cover(camera, shape, half, goal, extent, 192)
        ys, xs = np.nonzero(cover >= 0.5)
        assert abs(max(np.ptp(xs), np.ptp(ys)) + 1 - extent) <= 1.0, (seed, np.ptp(xs), np.ptp(ys), extent)
        assert (
            abs((xs.min() + xs.max() + 1) / 2 - goal[0]) <= 1.5 and abs((ys.min() + ys.max() + 1) / 2 - goal[1]) <= 1.5
        )
        assert band_px == pytest.approx(half * extent / 2, rel=0.15)


def test_every_eighteenth_vignette_darkens_the_corners_by_its_strength() -> None:
    """The lens's falloff is one at the middle, falls steadily outwards and is ``strength`` darker at the corners."""
    for strength in (0.12, 0.3):
        shade = sealed18.vignette(192, strength)
        assert shade[95:97, 95:97].min() > 0.999 and shade.max() <= 1.0
        assert shade[0, 0] == pytest.approx(1 - strength, abs=0.01)
        assert np.all(np.diff(shade[96, 96:]) < 0) and np.all(np.diff(shade[96, :96]) > 0)


def test_every_eighteenth_halation_glows_red_round_highlights_only() -> None:
    """A bright spot on black gets a red-orange halo beyond its edge (red most, blue least); a picture with nothing
    brighter than grey 180 is left alone."""
    picture = np.zeros((64, 64, 3))
    picture[28:36, 28:36] = 250.0
    glow = sealed18.halation(picture, 0.3, 4.0) - picture
    red, green, blue = glow[32, 40]
    assert red > 5 and red > green > blue >= 0 and glow[32, 40, 0] > glow[32, 50, 0] > glow[32, 63, 0]
    dull = np.full((64, 64, 3), 170.0)
    assert np.allclose(sealed18.halation(dull, 0.3, 4.0), dull)


def test_every_eighteenth_grain_is_strongest_in_the_midtones() -> None:
    """Grain leaves the mean where it was and spreads mid-grey far more than near-black or near-white; its channels
    move mostly together."""
    rng = np.random.default_rng(4)
    for level, low, high in ((128.0, 6.0, 12.0), (6.0, 0.0, 2.0), (250.0, 0.0, 2.0)):
        picture = np.full((96, 96, 3), level)
        noisy = sealed18.grain(rng, picture, 8.0)
        assert abs(noisy.mean() - level) < 0.3 and low < (noisy - picture).std() < high, (level, noisy.std())
    noisy = sealed18.grain(rng, np.full((96, 96, 3), 128.0), 8.0) - 128
    assert np.corrcoef(noisy[..., 0].ravel(), noisy[..., 2].ravel())[0, 1] > 0.6


def test_every_eighteenth_ageing_lifts_the_blacks_fades_the_whites_and_keeps_order() -> None:
    """Aged dyes take black to each channel's lift and white to its top, never reverse two levels, and with no
    curve are a straight line between them."""
    ramp = np.repeat(np.linspace(0, 255, 256)[:, None], 3, axis=1)
    lift, top = np.array([20.0, 10.0, 25.0]), np.array([240.0, 250.0, 230.0])
    for curve in (0.0, 0.3, 0.5):
        aged = sealed18.age(ramp, lift, top, curve)
        assert np.allclose(aged[0], lift) and np.allclose(aged[-1], top)
        assert np.all(np.diff(aged, axis=0) > 0)
    straight = sealed18.age(ramp, lift, top, 0.0)
    assert np.allclose(straight[128], lift + (top - lift) * 128 / 255)
    curved = sealed18.age(ramp, lift, top, 0.4)
    assert curved[64, 0] < straight[64, 0] and curved[192, 0] > straight[192, 0]  # an S: more contrast


def test_every_eighteenth_scanner_marks_are_few_and_scratches_run_down_the_strip() -> None:
    """Dust, a hair and scratches change under 3% of the frame, each to the one level of that scan's dust; a
    scratch runs most of the frame's height in a column or two."""
    columns = 0
    for seed in range(30):
        picture = np.full((192, 192, 3), 128.0)
        marked = sealed18.dust_and_scratches(np.random.default_rng([3, seed]), picture)
        changed = np.abs(marked - picture).max(axis=2) > 1
        assert 0 < changed.mean() < 0.03, changed.mean()
        assert len({float(np.sign(v)) for v in (marked - picture)[changed][:, 0]}) == 1
        columns += int((changed.mean(axis=0) > 0.8).sum() > 0)
    assert 8 <= columns <= 28, columns


def test_every_eighteenth_shot_keeps_the_mask_on_the_object() -> None:
    """A pale square on dark ground comes out where the mask says (but for its edge) at every size asked, through
    the lens, the vignette, halation, grain, aged dyes, the scanner's marks and the JPEG."""
    measures.assert_shot_keeps_the_mask(sealed18.shoot)


def test_every_eighteenth_jpeg_rounds_to_the_nearest_level_and_keeps_the_channels() -> None:
    """A flat grey comes back from a fine JPEG at its nearest level (100.6 as 101, 100.3 as 100), and a flat colour
    keeps its red, green and blue in their places within a level or two."""
    assert np.all(sealed18.jpeg(np.full((16, 16, 3), 100.6), 95) == 101)
    assert np.all(sealed18.jpeg(np.full((16, 16, 3), 100.3), 95) == 100)
    colour = sealed18.jpeg(np.tile([200.0, 50.0, 90.0], (16, 16, 1)), 95)
    assert colour.dtype == np.uint8 and np.abs(colour.astype(int) - [200, 50, 90]).max() <= 2


def test_every_eighteenth_ink_is_chosen_against_the_ground_round_the_object(monkeypatch: pytest.MonkeyPatch) -> None:
    measures.assert_ink_chosen_round_the_object(monkeypatch, sealed18, ShapesSealed18Dataset)


@pytest.mark.parametrize("kind", SURFACES18)
def test_every_eighteenth_ground_is_a_patterned_picture_of_a_shapes_scale(kind: str) -> None:
    measures.assert_ground_at_a_shapes_scale(sealed18.ground, kind)


def test_every_eighteenth_stick_is_found_from_any_cell_it_reaches() -> None:
    """Sticks strewn over cells are found wherever they lie: asking the cells three times as far off finds no stick
    more, so none reaches further than the cells asked; they cover most of the ground but not all, each point within
    its top stick."""
    rng = np.random.default_rng(6)
    x, y = rng.uniform(-40, 40, 4000), rng.uniform(-40, 40, 4000)
    for cell, length, width in ((6.0, (24.0, 44.0), (1.4, 2.6)), (10.0, (12.0, 30.0), (5.0, 11.0))):
        found = sealed18.sticks(x, y, cell, length, width, 77)
        wide = sealed18.sticks(x, y, cell, length, width, 77, reach=3 * math.ceil(length[1] / 2 / cell))
        assert all(np.array_equal(a, b) for a, b in zip(found, wide, strict=True))
        top, along, across = found
        assert 0.3 < (top >= 0).mean() < 0.97 and np.abs(along).max() < 1 and np.abs(across).max() < 1


@pytest.mark.parametrize("style", STYLES18)
def test_every_eighteenth_style_stays_near_its_colour_with_its_own_texture(style: str) -> None:
    """On a disc 40 px across, a style's colours stay within 0-255 and near the ink's grey in the middle, and each
    has its texture: a glaze lit on one side of its rounded rim with a glint, metal streaked along its brushing,
    velvet brighter at its edge than in its middle, a rope's strands with dark grooves between them."""
    rows, cols = np.mgrid[0:80, 0:80] + 0.5
    far = np.hypot(cols - 40, rows - 40).ravel()
    depth = 20 - far
    normal = np.c_[(cols.ravel() - 40), (rows.ravel() - 40)] / np.maximum(far, 1e-9)[:, None]
    rope = np.c_[np.clip((far - 15) / 5, -1, 1), np.arctan2(rows - 40, cols - 40).ravel() * 20]
    spots = np.c_[cols.ravel(), rows.ravel()]
    colour = np.array([40.0, 90, 200])
    on = depth > 0.5 if style != OUTLINED18 else (depth > 0.5) & (np.abs(far - 15) < 5)
    out = sealed18.material(np.random.default_rng(17), style, colour, depth, normal, spots, rope)
    luma = out @ measures.LUMA
    assert out.min() >= 0 and out.max() <= 255
    assert abs(np.median(luma[on]) - colour @ measures.LUMA) < 25, np.median(luma[on])
    if style == "glazed ceramic":
        rim = on & (depth < 2)
        lit = luma[rim]
        assert lit.max() - lit.min() > 40 and luma[on].max() > colour @ measures.LUMA + 60
    if style == "brushed metal":
        picture = luma.reshape(80, 80)
        assert picture[30:50, 30:50].std() > 2 and abs(np.median(out[on][:, 2] - out[on][:, 0])) < 160 * 0.5
    if style == "velvet":
        assert np.median(luma[on & (depth < 1.5)]) > np.median(luma[on & (depth > 8)]) + 15
    if style == OUTLINED18:
        strand = luma[on & (np.abs(far - 15) < 1)]
        assert strand.max() - strand.min() > 30 and np.percentile(strand, 10) < 0.75 * colour @ measures.LUMA
    with pytest.raises(ValueError):
        sealed18.material(np.random.default_rng(1), "paper", colour, depth, normal, spots, rope)


def test_every_eighteenth_mask_is_the_object_as_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the film taken away and the object painted red on blue ground, the mask is exactly where the frame is
    more red than blue: the cover is the one the picture is painted with."""
    stand_ins = {
        "shoot": lambda rng, picture, size: np.clip(picture + 0.5, 0, 255).astype(np.uint8),
        "ground": lambda rng, kind, x, y: np.tile([0.0, 0.0, 255.0], (len(x), 1)),
        "material": lambda rng, style, colour, depth, *rest: np.tile([255.0, 0.0, 0.0], (len(depth), 1)),
    }
    measures.assert_mask_is_the_object_as_drawn(monkeypatch, sealed18, ShapesSealed18Dataset, stand_ins)


def test_every_eighteenth_mask_spans_its_band_keeps_its_class_outline_and_every_group_occurs(
    eighteenth_at_192: list[SealedScene],
) -> None:
    """The object is sized by its own mask in the frame, so its box spans its band (within a pixel either side); a
    filled shape keeps its class's proportions through the camera and only a ring has a hole; every class, band,
    style and ground occurs in the first 48 pictures."""
    measures.assert_bands_outlines_and_groups(
        eighteenth_at_192,
        measures.KEYSTONED_OUTLINES,
        (STYLES18, SURFACES18),
        (0.62, 0.8),
        0.99,
        lambda scene: scene.style != OUTLINED18,
    )
    measures.assert_boxes_within_a_pixel(eighteenth_at_192)


def test_every_eighteenth_rope_is_a_closed_loop_and_only_on_a_large_shape(
    eighteenth_at_192: list[SealedScene],
) -> None:
    """A rope is one piece round its hole, laid only on shapes of 40% of the side or more, where it reads at 64 px;
    a ring of rope is still a band."""
    measures.assert_lines_are_closed_loops_on_large_shapes(eighteenth_at_192, OUTLINED18)


def test_every_eighteenth_object_stays_clear_of_the_frame(eighteenth_at_192: list[SealedScene]) -> None:
    """The box is placed 6% inside each edge of the frame, so the scan never cuts the object off."""
    measures.assert_clear_of_the_frame(eighteenth_at_192, 0.05)


def test_every_eighteenth_object_stands_apart_from_the_ground_round_it(eighteenth_at_192: list[SealedScene]) -> None:
    """Through the film's fade, grain and cast, the object's middle stays over 40 grey levels from the ground just
    round it, and over 80 at the median."""
    measures.assert_stands_apart(eighteenth_at_192, 30, 40, 80)
