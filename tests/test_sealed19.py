"""Rules for the nineteenth sealed renderer (shapes-sealed-19): outlines fanned into triangles clipped to each pixel
by Sutherland-Hodgman, on a shop window's display boards, photographed through the glass.

The rules draw with the real module at seeds the evaluation never uses, and no model is run here: the set's own
pictures stay unseen until its one run.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib.path import Path as MplPath
from scipy import ndimage

from models.datasets import SHAPE_CLASSES
from models.datasets import shapes_sealed19 as sealed19
from models.datasets.shapes_sealed import SealedScene
from models.datasets.shapes_sealed17 import loops, shoelace
from models.datasets.shapes_sealed19 import OUTLINED19, STYLES19, SURFACES19, ShapesSealed19Dataset
from tests import sealed_measures as measures


@pytest.fixture(scope="module")
def nineteenth_at_192() -> list[SealedScene]:
    """The set's first 48 frames at 192 px (seed 5), shared by the rules on whole pictures."""
    return measures.scenes_at_192(ShapesSealed19Dataset, 48)


def _supersampled(frame_loops: list[np.ndarray], side: int, per: int = 8) -> np.ndarray:
    """Each pixel's share inside the loops (even-odd), from ``per`` x ``per`` point-in-path tests a pixel by
    matplotlib, apart from the module."""
    steps = (np.arange(side * per) + 0.5) / per
    xs, ys = np.meshgrid(steps, steps)
    points = np.c_[xs.ravel(), ys.ravel()]
    inside = sum(MplPath(loop).contains_points(points).astype(int) for loop in frame_loops) % 2 == 1
    return inside.reshape(side, per, side, per).mean(axis=(1, 3))


FRAMED = {  # a class's loops laid in a 96 px frame at about 60 px across, turned a little, wound as the module winds
    name: sealed19._wound([loop @ np.array([[0.96, 0.28], [-0.28, 0.96]]) * 30 + 48.3 for loop in loops(name, 0.55)])
    for name in SHAPE_CLASSES
}


def test_every_nineteenth_first_draw_is_the_label_surface_and_band_and_a_picture_is_rebuilt_alike() -> None:
    measures.assert_first_draws_and_groups(ShapesSealed19Dataset, SURFACES19)


def test_every_nineteenth_clip_keeps_the_part_of_a_triangle_inside_its_square() -> None:
    """A triangle clipped to a unit square keeps exactly its part inside (counted on a fine grid apart from the
    module): all of it when it lies inside, the whole square when it covers it, nothing when it misses, and the
    signed area's sign follows the triangle's winding."""
    inside = np.array([[[0.2, 0.2], [0.8, 0.3], [0.4, 0.9]]])
    covering = np.array([[[-5.0, -5.0], [10.0, -5.0], [0.5, 10.0]]])
    missing = np.array([[[2.0, 2.0], [3.0, 2.0], [2.0, 3.0]]])
    corner = np.zeros((1, 2))
    assert sealed19.polygon_areas(sealed19.clip_to_squares(inside, corner))[0] == pytest.approx(shoelace(inside[0]))
    assert sealed19.polygon_areas(sealed19.clip_to_squares(covering, corner))[0] == pytest.approx(1.0)
    assert sealed19.polygon_areas(sealed19.clip_to_squares(missing, corner))[0] == 0.0
    assert sealed19.polygon_areas(sealed19.clip_to_squares(covering[:, ::-1], corner))[0] == pytest.approx(-1.0)
    rng = np.random.default_rng(4)
    triangles = rng.uniform(-1.5, 2.5, (40, 3, 2)) + np.array([3.0, 7.0])
    corners = np.tile([3.0, 7.0], (40, 1))
    areas = sealed19.polygon_areas(sealed19.clip_to_squares(triangles, corners))
    fine = (np.arange(300) + 0.5) / 300
    fx, fy = np.meshgrid(fine + 3, fine + 7)
    for triangle, area in zip(triangles, areas, strict=True):
        counted = MplPath(triangle).contains_points(np.c_[fx.ravel(), fy.ravel()]).mean()
        assert abs(abs(area) - counted) < 0.01, (triangle, area, counted)
        assert np.sign(area) == np.sign(shoelace(triangle)) or abs(area) < 1e-12


def test_every_nineteenth_cover_of_a_square_off_the_grid_is_its_exact_overlap() -> None:
    """A square whose sides fall between pixel lines covers each pixel by exactly its overlap: a whole pixel inside,
    the product of the two overlaps at a corner, nothing outside."""
    square = [np.array([[10.3, 20.7], [30.6, 20.7], [30.6, 40.2], [10.3, 40.2]])]
    cover = sealed19.frame_cover(sealed19._wound(square), 64)
    assert cover[20, 10] == pytest.approx(0.7 * 0.3)
    assert cover[40, 30] == pytest.approx(0.6 * 0.2)
    assert cover[30, 10] == pytest.approx(0.7) and cover[20, 20] == pytest.approx(0.3)
    assert np.allclose(cover[25:38, 12:29], 1.0) and cover[:20].max() < 1e-9 and cover[:, 31:].max() < 1e-9
    assert cover.sum() == pytest.approx(20.3 * 19.5)


@pytest.mark.parametrize("name", list(SHAPE_CLASSES))
def test_every_nineteenth_cover_is_each_pixels_share_of_the_class(name: str) -> None:
    """Each pixel's cover is its share inside the loops as 64 point-in-path tests a pixel count it (a ring's hole
    left bare), and the covers add up to the loops' area exactly, as clipping leaves no sampling error."""
    shape = FRAMED[name]
    cover = sealed19.frame_cover(shape, 96)
    sampled = _supersampled(shape, 96)
    assert np.abs(cover - sampled).max() < 0.1 and np.abs(cover - sampled).mean() < 0.003
    assert cover.sum() == pytest.approx(sum(shoelace(loop) for loop in shape), abs=1e-6)
    if name == "ring":
        assert cover[44:52, 44:52].max() == 0.0


def test_every_nineteenth_row_parity_counts_the_crossings_left_of_each_middle() -> None:
    """A pixel's middle is inside where point-in-path says so, for every class, a ring's hole outside."""
    cols = rows = np.arange(96)
    for name, shape in FRAMED.items():
        inside = sealed19.row_parity(shape, cols, rows)
        xs, ys = np.meshgrid(cols + 0.5, rows + 0.5)
        points = np.c_[xs.ravel(), ys.ravel()]
        truth = sum(MplPath(loop).contains_points(points).astype(int) for loop in shape) % 2 == 1
        assert np.array_equal(inside.ravel(), truth), name


def test_every_nineteenth_camera_is_tilted_and_turned_only_a_little() -> None:
    """The phone leans a degree to seven off the glass and is turned at most six degrees, towards any side."""
    leans = []
    for seed in range(30):
        camera = sealed19._camera(np.random.default_rng([9, seed]))
        assert 1 <= math.degrees(camera["pitch"]) <= 7 and abs(math.degrees(camera["heading"])) <= 6
        leans.append(camera["lean"])
    assert np.ptp(leans) > 4


@pytest.mark.parametrize("name", list(SHAPE_CLASSES))
def test_every_nineteenth_object_is_laid_with_the_box_asked(name: str) -> None:
    """Laid through a tilted camera, a shape's mask has the box asked for: its longer side within a pixel of the
    extent (a star's thin points made up for) and its middle within a pixel and a half of the goal; its outer loop
    winds positively and a second loop against it."""
    for seed in range(4):
        camera = sealed19._camera(np.random.default_rng([7, seed]))
        shape = [loop[::2] if len(loop) > 12 else loop for loop in loops(name)]
        goal, extent = np.array([80.0 + seed * 8, 100.0]), 21.0 + seed * 37
        cover, laid = sealed19.placed_cover(camera, shape, goal, extent, 192)
        ys, xs = np.nonzero(cover >= 0.5)
        assert abs(max(np.ptp(xs), np.ptp(ys)) + 1 - extent) <= 1.0, (seed, np.ptp(xs), np.ptp(ys), extent)
        assert abs((xs.min() + xs.max() + 1) / 2 - goal[0]) <= 1.5
        assert abs((ys.min() + ys.max() + 1) / 2 - goal[1]) <= 1.5
        assert shoelace(laid[0]) > 0 and all(shoelace(loop) < 0 for loop in laid[1:])


def test_every_nineteenth_set_name_builds_a_test_split_of_400_with_the_groups_evaluate_reports() -> None:
    """Asked for by name, the factory builds the 400 photographs evaluate scores, refusing a training split."""
    measures.assert_builds_a_test_split_of_400("shapes-sealed-19", ShapesSealed19Dataset)


def test_every_nineteenth_picture_is_drawn_on_the_ground_its_group_names(monkeypatch: pytest.MonkeyPatch) -> None:
    measures.assert_drawn_on_the_ground_its_group_names(monkeypatch, sealed19, ShapesSealed19Dataset)


@pytest.mark.parametrize("kind", SURFACES19)
def test_every_nineteenth_ground_is_a_patterned_picture_of_a_shapes_scale(kind: str) -> None:
    """Every board is drawn within 0-255 and none is flat; its features are as large as the shapes, so a blur of
    5 px leaves over a fifth of its spread standing; and it is the same wherever it is asked for."""
    measures.assert_ground_at_a_shapes_scale(sealed19.ground, kind)


def test_every_nineteenth_mask_is_the_object_as_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the glass taken away and the object painted red on blue ground, the mask is exactly where the frame is
    more red than blue: the cover is the one the picture is painted with."""
    stand_ins = {
        "through_glass": lambda rng, picture, size: np.clip(picture + 0.5, 0, 255).astype(np.uint8),
        "ground": lambda rng, kind, x, y: np.tile([0.0, 0.0, 255.0], (len(x), 1)),
        "material": lambda rng, style, colour, spots: np.tile([255.0, 0.0, 0.0], (len(spots), 1)),
    }
    measures.assert_mask_is_the_object_as_drawn(monkeypatch, sealed19, ShapesSealed19Dataset, stand_ins)


def test_every_nineteenth_board_kind_is_its_own_picture() -> None:
    """Asked for at the same places with the same draws, no two kinds of board come out alike: each kind is
    painted by its own branch."""
    rows, cols = np.mgrid[0:96, 0:96] + 0.5
    pictures = [sealed19.ground(np.random.default_rng(12), kind, cols.ravel(), rows.ravel()) for kind in SURFACES19]
    for first, one in enumerate(pictures):
        for other in pictures[first + 1 :]:
            assert np.abs(one - other).mean() > 15


def test_every_nineteenth_smudge_is_the_view_blurred_both_ways_within_its_oval() -> None:
    """Within the smudge's oval (its middle, radii and strength the first draws), the view is mixed with itself
    blurred by a Gaussian of 2 px across and down (scipy's, apart from the module) and lifted towards grey."""
    picture = np.repeat(np.kron(np.indices((12, 12)).sum(axis=0) % 2, np.ones((8, 8)))[..., None] * 200.0, 3, axis=2)
    rng = np.random.default_rng(5)
    out = sealed19.smudge(rng, picture)
    rng = np.random.default_rng(5)
    (cx, cy), (rx, ry) = rng.uniform(0, 96, 2), rng.uniform(0.1, 0.25, 2) * 96
    rows, cols = np.mgrid[0:96, 0:96] + 0.5
    weight = np.exp(-(((cols - cx) / rx) ** 2 + ((rows - cy) / ry) ** 2))[..., None] * rng.uniform(0.3, 0.6)
    soft = ndimage.gaussian_filter(picture, (2, 2, 0)) * 0.85 + 0.15 * 128
    expected = picture * (1 - weight) + soft * weight
    assert np.abs(out - expected)[10:-10, 10:-10].max() < 2 and np.abs(out - picture).max() > 10


@pytest.mark.parametrize("style", STYLES19)
def test_every_nineteenth_style_stays_near_its_colour_with_its_own_texture(style: str) -> None:
    """A style's colours stay within 0-255 and near the ink's grey at the median, and each has its texture: gold
    leaf's squares differ and its seams are darker, sponge paint is dabbed, knitting's stitches repeat across a few
    px, a wire catches glints brighter than its colour."""
    rows, cols = np.mgrid[0:80, 0:80] + 0.5
    spots = np.c_[cols.ravel(), rows.ravel()]
    colour = np.array([40.0, 90, 200])
    grey = colour @ measures.LUMA
    out = sealed19.material(np.random.default_rng(17), style, colour, spots)
    luma = (out @ measures.LUMA).reshape(80, 80)
    assert out.min() >= 0 and out.max() <= 255
    assert abs(np.median(luma) - grey) < 25, np.median(luma)
    assert luma.std() > 4, luma.std()
    if style == "gold leaf":
        assert np.percentile(luma, 3) < 0.8 * grey and out[..., 0].mean() > colour[0] + 20
    if style == "knitted":
        row = luma[40] - luma[40].mean()
        lags = [float(np.dot(row[:-k], row[k:])) for k in range(1, 12)]
        assert max(lags[2:]) > 0.3 * float(np.dot(row, row)), lags
    if style == OUTLINED19:
        assert luma.max() > grey + 40
    with pytest.raises(ValueError):
        sealed19.material(np.random.default_rng(1), "paper", colour, spots)


def test_every_nineteenth_reflection_and_smudge_soften_but_keep_the_view() -> None:
    """The street's reflection moves the view towards its own picture by its strength and no more; a smudge leaves
    the frame's far side alone and only softens within its oval."""
    picture = np.zeros((96, 96, 3))
    picture[:, 48:] = 200.0
    lit = sealed19.reflect(np.random.default_rng(3), picture, 0.1)
    assert np.abs(lit - picture).max() <= 0.1 * 255 * 1.05 + 1e-9 and np.abs(lit - picture).mean() > 2
    assert lit[:, :48].mean() > 5 and lit[:, 48:].mean() < 199
    assert np.allclose(sealed19.reflect(np.random.default_rng(3), picture, 0.0), picture)
    soft = sealed19.smudge(np.random.default_rng(5), picture)
    assert soft.min() >= 0 and soft.max() <= 200 and np.abs(soft - picture).mean() < 20


def test_every_nineteenth_webp_keeps_a_flat_colour_in_its_channels() -> None:
    """A flat colour comes back from a fine WebP near its level in each of red, green and blue."""
    colour = sealed19.webp(np.tile([200.0, 50.0, 90.0], (32, 32, 1)), 90)
    assert colour.dtype == np.uint8 and np.abs(colour.astype(int) - [200, 50, 90]).max() <= 6


def test_every_nineteenth_photo_keeps_the_mask_on_the_object() -> None:
    """A pale square on dark ground comes out where the mask says (but for its edge) at every size asked, through
    the reflection, the tint, a smudge, the lens, the resize, noise and the WebP."""
    measures.assert_shot_keeps_the_mask(sealed19.through_glass)


def test_every_nineteenth_ink_is_chosen_against_the_ground_round_the_object(monkeypatch: pytest.MonkeyPatch) -> None:
    measures.assert_ink_chosen_round_the_object(monkeypatch, sealed19, ShapesSealed19Dataset)


def test_every_nineteenth_mask_spans_its_band_keeps_its_class_outline_and_every_group_occurs(
    nineteenth_at_192: list[SealedScene],
) -> None:
    """The object is sized by its own mask in the frame, so its box spans its band (within a pixel either side); a
    filled shape keeps its class's proportions through the camera and only a ring has a hole; every class, band,
    style and board occurs in the first 48 pictures."""
    measures.assert_boxes_within_a_pixel(nineteenth_at_192)
    filled = {"measured": lambda scene: scene.style != OUTLINED19, "ring_holes": (0.62, 0.8)}
    groups = (STYLES19, SURFACES19)
    measures.assert_bands_outlines_and_groups(nineteenth_at_192, measures.KEYSTONED_OUTLINES, groups, **filled)


def test_every_nineteenth_wire_is_a_closed_loop_and_only_on_a_large_shape(
    nineteenth_at_192: list[SealedScene],
) -> None:
    """A wire is one piece round its hole, bent only round shapes of 40% of the side or more, where it reads at
    64 px; a ring of wire is still a band."""
    measures.assert_lines_are_closed_loops_on_large_shapes(nineteenth_at_192, OUTLINED19)


def test_every_nineteenth_object_stays_clear_of_the_frame(nineteenth_at_192: list[SealedScene]) -> None:
    """The box is placed 6% inside each edge of the frame, so the photo never cuts the object off."""
    measures.assert_clear_of_the_frame(nineteenth_at_192, 0.05)


def test_every_nineteenth_object_stands_apart_from_the_ground_round_it(nineteenth_at_192: list[SealedScene]) -> None:
    """Through the reflection, the tint, the smudge and the WebP, the object's middle stays over 40 grey levels from
    the board just round it, and over 80 at the median."""
    measures.assert_stands_apart(nineteenth_at_192, 30, 40, 80)
