"""Rules for the thirteenth sealed renderer (shapes-sealed-13): objects cut to exact signed distances, seen by a webcam.

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
from models.datasets import shapes_sealed13 as sealed13
from models.datasets.shapes_sealed import SealedScene
from models.datasets.shapes_sealed13 import STYLES13, SURFACES13, ShapesSealed13Dataset
from tests.sealed_measures import (
    LUMA,
    assert_bands_outlines_and_groups,
    assert_builds_a_test_split_of_400,
    assert_first_draws_and_groups,
    scenes_at_192,
)


@pytest.fixture(scope="module")
def thirteenth_at_192() -> list[SealedScene]:
    """240 pictures of the thirteenth set at 192 px, rendered once for the rules that measure them."""
    return scenes_at_192(ShapesSealed13Dataset, 240)


def _polygon(name: str) -> np.ndarray:
    """The class's outline as a polygon in the box from -1 to 1 (a circle's and a ring's are not needed)."""
    if name == "square":
        return np.array([(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)])
    if name == "triangle":
        turns = np.radians([-90.0, 30.0, 150.0])
        return np.c_[np.cos(turns), np.sin(turns)]
    if name == "star":
        turns, radii = np.arange(10) * math.pi / 5 - math.pi / 2, np.where(np.arange(10) % 2, sealed13._STAR_INNER, 1.0)
        return np.c_[np.cos(turns) * radii, np.sin(turns) * radii]
    arm = sealed13._ARM
    quarter = np.array([(arm, -1.0), (arm, -arm), (1.0, -arm)])
    turn = np.array([[0.0, 1.0], [-1.0, 0.0]])
    return np.concatenate([quarter @ np.linalg.matrix_power(turn, k) for k in range(4)])


def _polygon_distance(corners: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Signed distance by brute force: the nearest of the edges, negative where an even-odd ray count says inside."""
    a, b = corners, np.roll(corners, -1, axis=0)
    along = np.clip(((points[:, None] - a) * (b - a)).sum(-1) / ((b - a) ** 2).sum(-1), 0, 1)
    nearest = np.linalg.norm(points[:, None] - (a + along[..., None] * (b - a)), axis=-1).min(axis=1)
    x, y = points[:, 0:1], points[:, 1:2]
    with np.errstate(divide="ignore", invalid="ignore"):  # a level edge is never crossed, whatever it divides
        crosses = ((a[:, 1] > y) != (b[:, 1] > y)) & (
            x < a[:, 0] + (y - a[:, 1]) * (b[:, 0] - a[:, 0]) / (b[:, 1] - a[:, 1])
        )
    return np.where(crosses.sum(axis=1) % 2 == 1, -nearest, nearest)


THIRTEENTH_OUTLINES = {  # (spread, solidity) of each filled class, rounded a little, leaned and bowed by the webcam
    "circle": lambda spread, solidity: spread > 0.66 and solidity > 0.96,
    "square": lambda spread, solidity: 0.46 < spread < 0.6 and solidity > 0.94,
    "triangle": lambda spread, solidity: spread < 0.54 and solidity > 0.93,
    "star": lambda spread, solidity: spread < 0.48 and 0.52 < solidity < 0.74,
    "cross": lambda spread, solidity: spread > 0.44 and 0.68 < solidity < 0.85,
}


def test_every_thirteenth_first_draw_is_the_label_surface_and_band_and_a_picture_is_rebuilt_alike() -> None:
    """The groups evaluate reports come from the first three draws alone; a picture is the same when drawn again
    and differs with the seed; over the 400 pictures every surface, band and class occurs, the classes near even."""
    assert_first_draws_and_groups(ShapesSealed13Dataset, SURFACES13, indices=(0, 1, 7, 123, 399))


def test_every_thirteenth_set_name_builds_a_test_split_of_400_with_the_groups_evaluate_reports() -> None:
    """The factory's name gives the set evaluate reads: 400 pictures, a test split only, and per picture its
    background and size band (its class from the label), an image and a mask to point at."""
    assert_builds_a_test_split_of_400("shapes-sealed-13", ShapesSealed13Dataset)


def test_every_thirteenth_picture_is_drawn_on_the_surface_its_group_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """The surface a picture is painted on is the one its "background" group reports, picture by picture."""
    drawn: list[str] = []
    surface = sealed13._surface

    def spy(rng: np.random.Generator, kind: str, side: int, light: np.ndarray) -> np.ndarray:
        drawn.append(kind)
        return surface(rng, kind, side, light)

    monkeypatch.setattr(sealed13, "_surface", spy)
    data = ShapesSealed13Dataset(length=24, seed=5)
    assert [data.scene(index).surface for index in range(24)] == drawn and len(set(drawn)) >= 4


def test_every_thirteenth_mask_spans_its_band_keeps_its_class_outline_and_every_group_occurs(
    thirteenth_at_192: list[SealedScene],
) -> None:
    """The object is sized through the webcam's own view and lens, so its box spans its band in the photograph
    (measured: 0.4% under a band's floor and 0.6% over its top at most); a filled shape keeps its class's
    proportions and only a ring has a hole (a wooden block is left out: its side face widens the outline towards the
    camera)."""
    assert_bands_outlines_and_groups(
        thirteenth_at_192,
        THIRTEENTH_OUTLINES,
        (STYLES13, SURFACES13),
        (0.6, 0.85),
        0.98,
        lambda scene: scene.style != "wooden block",
    )


def test_every_thirteenth_object_stays_clear_of_every_edge_of_the_frame(thirteenth_at_192: list[SealedScene]) -> None:
    """The box is placed 7% inside each edge of the photograph itself, so nothing of the object is cut off
    (measured: 6.8% left at the closest)."""
    for index, scene in enumerate(thirteenth_at_192):
        ys, xs = np.nonzero(scene.mask)
        margin = min(xs.min(), ys.min(), 191 - xs.max(), 191 - ys.max()) / 192
        assert margin >= 0.065, (index, margin)


def test_every_thirteenth_object_stands_apart_from_the_surface_round_it(thirteenth_at_192: list[SealedScene]) -> None:
    """A person reads the shape at a glance: the object's middle differs from the surface just outside it (measured
    on 225 pictures: 63 grey levels at the tenth percentile, 87 at the median, 26 at the least, a dark sticker whose
    white border sets it off), darker on a pale surface; every picture is a uint8 frame with object and surface."""
    gaps = []
    for scene in thirteenth_at_192:
        luma = scene.image.astype(np.float64) @ LUMA
        assert scene.image.dtype == np.uint8 and luma.std() > 8 and scene.mask.any() and not scene.mask.all()
        core = ndimage.binary_erosion(scene.mask, iterations=4)
        if core.sum() < 30:
            continue
        around = ndimage.binary_dilation(scene.mask, iterations=9) & ~ndimage.binary_dilation(scene.mask, iterations=3)
        inside, outside = np.median(luma[core]), np.median(luma[around])
        gaps.append(abs(inside - outside))
        if outside > 170:
            assert inside < outside, (scene.surface, scene.style, inside, outside)
    assert len(gaps) >= 180 and min(gaps) > 12 and np.percentile(gaps, 10) >= 45 and np.median(gaps) > 70, (
        len(gaps),
        sorted(gaps)[:8],
    )


@pytest.mark.parametrize("name", ["square", "triangle", "star", "cross"])
def test_every_thirteenth_polygon_distance_is_exact_inside_and_outside(name: str) -> None:
    """Each closed form equals the signed distance to the class's polygon, found by brute force, at every point."""
    points = np.random.default_rng(3).uniform(-1.6, 1.6, (4000, 2))
    assert sealed13.sdf(name, points) == pytest.approx(_polygon_distance(_polygon(name), points), abs=1e-9)


def test_every_thirteenth_round_distance_is_exact_and_a_ring_keeps_its_hole() -> None:
    """A disc's and a ring's distances at known points: a ring's middle and its hole are outside it."""
    points = np.array([(0.0, 0.0), (2.0, 0.0), (0.0, 0.5), (0.78, 0.0), (0.6, 0.8)])
    assert sealed13.sdf("circle", points) == pytest.approx([-1.0, 1.0, -0.5, -0.22, 0.0])
    hole = sealed13._RING_HOLE
    assert sealed13.sdf("ring", points) == pytest.approx([hole, 1.0, hole - 0.5, -min(0.78 - hole, 1 - 0.78), 0.0])
    assert sealed13.sdf("ring", np.array([(0.0, 0.0), (0.2, -0.3), (-0.3, 0.3)])).min() > 0.13


@pytest.mark.parametrize("name", list(SHAPE_CLASSES))
def test_every_thirteenth_rounded_class_is_every_disc_of_its_radius_inside_the_sharp_one(name: str) -> None:
    """Rounding by 0.1 keeps exactly the points within 0.1 of a point 0.1 deep in the sharp class (its opening by a
    disc), found here by a distance transform: corners are rounded, notches kept, nothing grows, and only a ring is
    open in the middle."""
    step = 0.005
    grid = np.stack(np.meshgrid(*(np.linspace(-1.2, 1.2, 481),) * 2), axis=-1)
    sharp, rounded = sealed13.sdf(name, grid), sealed13.sdf(name, grid, 0.1)
    assert np.all(rounded >= sharp - 1e-12)
    opening = ndimage.distance_transform_edt(sharp > -0.1) * step <= 0.1
    assert not np.any((opening != (rounded < 0)) & (np.abs(rounded) > 2.5 * step)), name
    assert (sealed13.sdf(name, np.zeros((1, 2)), 0.1)[0] < 0) == (name != "ring")
    if name == "square":
        assert sealed13.sdf(name, np.array([(1.0, 1.0)]), 0.1)[0] == pytest.approx(0.1 * (math.sqrt(2) - 1))


def test_every_thirteenth_sample_is_jittered_once_into_each_cell_of_its_own_pixel() -> None:
    """Sixteen samples a pixel, one in each cell of its 4 x 4 grid, placed afresh for every pixel (no pattern
    repeats), so the cover of a disc is its area."""
    samples = sealed13.jittered(np.random.default_rng(0), (10, 20), (30, 40))
    assert samples.shape == (16, 30, 40, 2)
    pixel = np.floor(samples)
    assert np.all(pixel[..., 0] == np.arange(40) + 10) and np.all(pixel[..., 1] == (np.arange(30) + 20)[:, None])
    cells = np.floor((samples - pixel) * 4)
    assert np.array_equal(
        np.sort(cells[..., 1] * 4 + cells[..., 0], axis=0),
        np.broadcast_to(np.arange(16.0)[:, None, None], (16, 30, 40)),
    )
    offsets = (samples - pixel).reshape(16, -1, 2)
    assert np.unique(offsets.round(6), axis=1).shape[1] == 1200  # no two pixels share a pattern
    disc = np.hypot(*(sealed13.jittered(np.random.default_rng(1), (0, 0), (80, 80)) - 40).transpose(3, 0, 1, 2)) - 30
    assert sealed13._cover(disc).sum() == pytest.approx(math.pi * 30**2, rel=0.003)


@pytest.mark.parametrize("style", STYLES13)
def test_every_thirteenth_style_paints_only_round_its_object_and_within_the_grey_scale(style: str) -> None:
    """Every layer is a blend of the surface and a colour, so the scene stays within 0-255; nothing changes further
    than a shadow or a block's side from the object, the cover is a share, and the object's middle is painted."""
    rows, cols = np.mgrid[0:192, 0:192] + 0.5
    rng = np.random.default_rng(0)
    samples = np.hypot(*(sealed13.jittered(rng, (0, 0), (192, 192)) - 96).transpose(3, 0, 1, 2)) - 40
    d = np.hypot(cols - 96, rows - 96) - 40
    for seed, kind in enumerate(SURFACES13):
        rng = np.random.default_rng([29, seed])
        light = np.array([0.5, -0.5, math.sqrt(0.5)])
        sheet = sealed13._surface(rng, kind, 192, light)
        stage = sealed13.Stage(light, np.array([0.0, 1.0]), 40.0, 0.06, 0.08)
        painted, cover = sealed13._paint(rng, sheet, samples, style, stage)
        assert painted.min() >= 0.0 and painted.max() <= 255.0, (kind, painted.min(), painted.max())
        assert cover.min() >= 0.0 and cover.max() <= 1.0, kind
        assert cover[d < -2].min() == 1.0 and cover[d > 6].max() == 0.0, kind  # a felt's fibres reach 1.2 px out
        beyond = d > 20  # a shadow falls at most a few pixels from the object, a block's side 3 px
        assert np.array_equal(painted[beyond], sheet[beyond]), kind
        change = np.abs(painted - sheet).sum(axis=2)
        assert np.median(change[d < -10]) > 60, (kind, np.median(change[d < -10]))


@pytest.mark.parametrize("kind", SURFACES13)
def test_every_thirteenth_surface_is_a_patterned_picture_of_a_shapes_scale_within_the_grey_scale(kind: str) -> None:
    """Every surface is drawn within 0-255 before the camera and none is flat; its features are as large as the
    shapes, so a blur of 5 px leaves them standing; a rug is its lattice of lozenges, never one tone with a border."""
    for seed in range(5):
        picture = sealed13._surface(np.random.default_rng([17, seed]), kind, 192, np.array([0.6, 0.0, 0.8]))
        assert picture.shape == (192, 192, 3) and picture.min() >= 0.0 and picture.max() <= 255.0, (seed, kind)
        luma = (picture @ LUMA).astype(np.float32)
        assert luma.std() > 9 and cv2.GaussianBlur(luma, (0, 0), 5).std() > 6, (seed, kind, luma.std())
        if kind == "rug":  # its lozenges: dark cores, darker fills and pale outlines, so no one tone covers most of it
            softened = cv2.GaussianBlur(luma, (0, 0), 2)
            common = float((np.abs(softened - np.median(softened)) < 15).mean())
            assert luma.std() > 40 and common < 0.7, (seed, luma.std(), common)  # measured: 46 and 0.63 at worst


def test_every_thirteenth_lens_reads_only_the_scene_and_maps_forward_as_its_remap_reads() -> None:
    """The view and the barrel lens read every frame pixel from inside the scene; ``to_frame`` undoes
    ``to_scene``; and a lens does bow: a frame's edge reads a curve."""
    edge = np.concatenate([np.c_[np.linspace(0, 192, 49), np.zeros(49)], np.c_[np.zeros(49), np.linspace(0, 192, 49)]])
    edge = np.concatenate([edge, 192 - edge])
    for seed in range(20):
        lens = sealed13._lens(np.random.default_rng([13, seed]), 192)
        scene = sealed13.to_scene(lens, edge, 192)
        assert scene.min() >= 0 and scene.max() <= 192, (seed, scene.min(), scene.max())
        assert sealed13.to_frame(lens, scene, 192) == pytest.approx(edge, abs=1e-6)
        top = sealed13.to_scene(lens, np.c_[np.linspace(0, 192, 9), np.zeros(9)], 192)
        straight = np.linspace(top[0], top[-1], 9)
        assert np.abs(top - straight).max() > 0.3, seed  # the middle of the frame's top edge reads nearer the middle


def test_every_thirteenth_camera_keeps_the_mask_on_the_object_through_its_view_and_lens() -> None:
    """A pale square on a dark scene comes out where the mask says, and a bright dot where ``to_frame`` puts it:
    the mask is the cover through the same remap, and the placement's forward map agrees with the remap."""
    cover = np.zeros((192, 192))
    cover[30:100, 60:150] = 1.0
    scene = np.repeat(30.0 + 200.0 * cover[..., None], 3, axis=2)
    dot = np.full((192, 192, 3), 20.0)
    dot[139:142, 49:52] = 255.0
    for seed in range(12):
        rng = np.random.default_rng([7, seed])
        lens = sealed13._lens(rng, 192)
        image, mask = sealed13._camera(rng, scene, cover, lens, 192)
        bright = image.astype(np.float64) @ LUMA > 128
        assert 0.1 < mask.mean() < 0.4 and (bright == mask).mean() > 0.97, (seed, (bright == mask).mean())
        image, _ = sealed13._camera(rng, dot, np.zeros((192, 192)), lens, 192)
        glow = cv2.GaussianBlur(image.astype(np.float64) @ LUMA, (0, 0), 1.5)
        found = np.array(np.unravel_index(glow.argmax(), glow.shape)[::-1]) + 0.5
        assert np.linalg.norm(found - sealed13.to_frame(lens, np.array([(50.5, 140.5)]), 192)[0]) < 1.6, seed
