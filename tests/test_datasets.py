"""Tests for models/datasets/: shapes generator, IDX reader, Fashion-MNIST, image folders, factory."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import models.datasets.fashion as fashion_module
from attention.errors import ImageInputError
from attention.images import Preprocessing, load_image, preprocess
from models.datasets import (
    BACKGROUND_KINDS,
    DATASET_INFO,
    DEFAULT_FASHION_ROOT,
    FASHION_CLASSES,
    SHAPE_CLASSES,
    FashionMNISTIdx,
    ImageFolderDataset,
    ShapesDataset,
    build_dataset,
    generate_scene,
    read_idx,
    render_shape_scene,
)
from models.datasets.shapes_backgrounds import dilate_square
from models.datasets.shapes_photographed import photographed_parts
from models.datasets.shapes_scene import _unit_shape
from models.datasets.shapes_strokes import thickest_circle_line, thinnest_ring_band
from models.transforms import eval_transform

SIZE = 64


def _bbox_sides(mask: np.ndarray) -> tuple[int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def _touches_border(mask: np.ndarray) -> bool:
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


# ----------------------------------------------------------------------------- shapes


def test_shape_classes_are_fixed() -> None:
    assert SHAPE_CLASSES == ("circle", "ring", "square", "triangle", "star", "cross")


def test_render_is_deterministic_and_index_dependent() -> None:
    a = render_shape_scene(np.random.default_rng([0, 0, 7]))
    b = render_shape_scene(np.random.default_rng([0, 0, 7]))
    c = render_shape_scene(np.random.default_rng([0, 0, 8]))
    assert a[0].dtype == np.uint8 and a[0].shape == (SIZE, SIZE, 3)
    assert a[1].dtype == bool and a[1].shape == (SIZE, SIZE)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[2] == b[2]
    assert not np.array_equal(a[0], c[0])


def test_dataset_determinism_and_disjoint_splits() -> None:
    first = ShapesDataset("train", length=40, seed=3)
    again = ShapesDataset("train", length=40, seed=3)
    other_seed = ShapesDataset("train", length=40, seed=4)
    for i in (0, 17, 39):
        img1, mask1, label1 = first.sample(i)
        img2, mask2, label2 = again.sample(i)
        np.testing.assert_array_equal(img1, img2)
        np.testing.assert_array_equal(mask1, mask2)
        assert label1 == label2
    assert not np.array_equal(first.sample(0)[0], other_seed.sample(0)[0])

    hashes: dict[str, set[bytes]] = {}
    for split in ("train", "val", "test"):
        ds = ShapesDataset(split, length=40, seed=3)
        hashes[split] = {ds.sample(i)[0].tobytes() for i in range(len(ds))}
        assert len(hashes[split]) == 40  # no duplicate scenes inside a split either
    assert not hashes["train"] & hashes["val"]
    assert not hashes["train"] & hashes["test"]
    assert not hashes["val"] & hashes["test"]


def test_dataset_lengths_items_and_cache() -> None:
    assert len(ShapesDataset("train")) == 24000
    assert len(ShapesDataset("val")) == 2000
    assert len(ShapesDataset("test")) == 2000
    with pytest.raises(ValueError):
        ShapesDataset("holdout")

    ds = ShapesDataset("val", length=12, seed=1)
    image, label = ds[5]
    assert isinstance(image, Image.Image) and image.mode == "RGB" and image.size == (SIZE, SIZE)
    assert ds.classes == list(SHAPE_CLASSES)
    cached = ds.sample(5)
    fresh = render_shape_scene(ds.rng_for(5), SIZE)
    np.testing.assert_array_equal(cached[0], fresh[0])
    np.testing.assert_array_equal(cached[1], fresh[1])
    np.testing.assert_array_equal(np.asarray(image), fresh[0])
    assert label == fresh[2] == ds.targets[5]
    assert ds[-1][1] == ds.targets[-1]
    with pytest.raises(IndexError):
        ds[12]

    ds.materialize()
    assert ds._filled.all()
    # targets are computed without rendering and must agree with the rendered labels
    assert ShapesDataset("val", length=12, seed=1).targets == [ds.sample(i)[2] for i in range(12)]

    with_transform = ShapesDataset("val", length=3, seed=1, transform=lambda im: np.asarray(im).mean())
    value, _ = with_transform[0]
    assert isinstance(value, float)


def test_every_class_and_background_appears() -> None:
    targets = ShapesDataset("train", length=300).targets
    assert set(targets) == set(range(len(SHAPE_CLASSES)))
    counts = np.bincount(targets, minlength=len(SHAPE_CLASSES))
    assert counts.min() > 25  # roughly balanced
    kinds = {generate_scene(np.random.default_rng([9, i])).background for i in range(60)}
    assert kinds == set(BACKGROUND_KINDS)
    for label in range(len(SHAPE_CLASSES)):
        assert render_shape_scene(np.random.default_rng(label), label=label)[2] == label
    with pytest.raises(ValueError):
        render_shape_scene(np.random.default_rng(0), background="plaid")


def test_mask_matches_drawn_object_on_solid_background() -> None:
    """Without degradations, a pixel is in the mask iff it is closer to the object colour than to the background."""
    for i in range(48):
        scene = generate_scene(np.random.default_rng([5, i]), SIZE, label=i % 6, background="solid", degrade=False)
        image = scene.image.astype(np.float32)
        obj = np.array(scene.object_colour, np.float32)
        untouched = scene.alpha == 0
        assert untouched.any()
        bg = image[untouched][0]
        assert np.abs(image[untouched] - bg).max() <= 1  # solid really is solid
        assert np.linalg.norm(obj - bg) >= 60, "object must contrast with its background"
        closer_to_object = np.linalg.norm(image - obj, axis=2) < np.linalg.norm(image - bg, axis=2)
        # pixels covered exactly half (alpha 128/255) are a coin toss after rounding to uint8
        decided = np.abs(scene.alpha - 0.5) > 0.01
        mismatch = np.count_nonzero((closer_to_object != scene.mask) & decided)
        assert mismatch == 0, (i, mismatch, scene.mask.sum())
        if scene.filled and scene.mask.sum() > 30:
            interior = scene.alpha >= 0.999
            assert np.abs(image[interior] - obj).max() <= 1


def test_masked_pixels_stay_close_to_object_colour_with_degradations() -> None:
    for i in range(40):
        scene = generate_scene(np.random.default_rng([6, i]), SIZE, background="solid")
        # Lines, blobs and a second-colour outline are drawn over the object on purpose,
        # and blur mixes a thin pen line with its background.
        if scene.crossed or scene.occluded or scene.bordered or 0 < scene.line_width < 3:
            continue
        obj = np.array(scene.object_colour, np.float32)
        # A pixel away from every edge: blur mixes a thin ring's band with its background all the way through.
        core = ~dilate_square(scene.alpha < 0.95, 1)
        if core.sum() < 10:
            continue
        median = np.median(scene.image[core].astype(np.float32), axis=0)
        assert np.linalg.norm(median - obj) < 60, (i, median, obj)


def test_object_size_and_mask_area() -> None:
    low, high = 0.10 * SIZE, 0.75 * SIZE  # the Live view shows a sheet held close: shapes up to 75% of the side
    for i in range(150):
        scene = generate_scene(np.random.default_rng([7, i]), SIZE)
        assert scene.mask.any(), i
        assert low - 1e-6 <= scene.extent <= high + 1e-6
        if scene.background == "photographed":  # a pen line seen in perspective: its own test below
            continue
        area = int(scene.mask.sum())
        assert 12 <= area <= (high + 2) ** 2, (i, area)
        if scene.occluded:  # a blob hides part of it: the visible outline is shorter
            continue
        width, height = _bbox_sides(scene.mask)
        longest = max(width, height)
        assert longest <= high + 2, (i, longest)
        if _touches_border(scene.mask):
            assert longest >= 0.6 * low, (i, longest)  # at most ~20% of the object is cut off
        else:
            assert longest >= low - 3.5, (i, longest, scene.extent)
            assert abs(longest - scene.extent) <= 3.5, (i, longest, scene.extent)  # sharp star tips thin out


def test_distractors_appear_and_occluders_hide_only_a_part() -> None:
    everything = [generate_scene(np.random.default_rng([8, i]), SIZE) for i in range(280)]
    scenes = [scene for scene in everything if scene.background != "photographed"]  # painted ones: their own rates
    assert 0.6 * 0.7 * len(everything) <= len(scenes) <= 1.4 * 0.7 * len(everything)
    for flag, share in (("occluded", 0.12), ("crossed", 0.45), ("wobbly", 0.35), ("bordered", 0.3 * 0.7)):
        count = sum(getattr(scene, flag) for scene in scenes)
        assert 0.4 * share * len(scenes) <= count <= 1.6 * share * len(scenes), (flag, count)
    for scene in scenes:
        # The mask is what stays visible: an occluded object keeps most of itself, never none.
        assert scene.mask.any() and np.array_equal(scene.mask, scene.alpha >= 0.5)


def test_photographed_drawings_are_ink_on_paper_whose_mask_follows_the_camera() -> None:
    scenes = [generate_scene(np.random.default_rng([9, i]), SIZE, background="photographed") for i in range(60)]
    for scene in scenes:
        assert scene.image.shape == (SIZE, SIZE, 3) and scene.mask.shape == (SIZE, SIZE) and scene.mask.any()
        ink = scene.image[scene.mask].astype(float).mean(axis=0)
        paper = scene.image[dilate_square(scene.mask, 6) & ~dilate_square(scene.mask, 3)].astype(float)
        # The drawing differs from the paper around it, where the mask says it is (marker or pen).
        assert np.abs(ink - np.median(paper, axis=0)).sum() > 40, scene.label
    hands = sum(scene.occluded for scene in scenes)
    assert 0.15 * len(scenes) <= hands <= 0.55 * len(scenes)  # a hand holds the sheet in about a third
    # The scene's centre is the drawing's: the ink sits around it (a hand or the perspective moves it a little).
    offsets = []
    for scene in scenes:
        ys, xs = np.nonzero(scene.mask)
        offsets.append(np.hypot(xs.mean() + 0.5 - scene.center[0], ys.mean() + 0.5 - scene.center[1]) / scene.extent)
    assert float(np.median(offsets)) < 0.2, offsets
    assert {SHAPE_CLASSES[scene.label] for scene in scenes} == set(SHAPE_CLASSES)


def test_a_photographed_circle_keeps_a_thin_line_and_a_ring_drawn_as_one_loop_a_band_twice_as_wide() -> None:
    sheet = 3 * SIZE  # photographed_parts draws on a sheet three times the output size
    styles: set[str] = set()
    ink_over_drawn: list[float] = []
    spans: list[float] = []
    for label in (0, 1):
        for index in range(40):
            rng = np.random.default_rng([5, label, index])
            outer, hole, _ = _unit_shape(label, rng)
            parts = photographed_parts(rng, SHAPE_CLASSES[label], outer, hole, SIZE, rng.uniform(0.1, 0.6))
            radius, line, mask = parts["radius"], parts["line"], parts["mask"]
            styles.add(f"{SHAPE_CLASSES[label]} {parts['style']}")
            if label == 0:
                assert line <= round(thickest_circle_line(radius, sheet)), (index, line, radius)
            elif parts["style"] == "marker loop":
                assert line >= thinnest_ring_band(radius, sheet) - 0.5, (index, line, radius)
                ys, xs = np.nonzero(mask)
                assert not mask[round(ys.mean()), round(xs.mean())]  # the band leaves a hole
                # The ink covers the band the scene records, ``line`` wide, with its outer edge on the outline.
                ink_over_drawn.append(mask.sum() / (np.pi * (radius**2 - (radius - line) ** 2) / 9))
                spans.append((max(np.ptp(xs), np.ptp(ys)) + 1) / (2 * radius / 3))
    assert styles == {"circle pen", "circle marker", "ring pen", "ring marker loop"}
    assert len(ink_over_drawn) >= 10 and 0.85 <= float(np.median(ink_over_drawn)) <= 1.35, ink_over_drawn
    assert 0.95 <= float(np.median(spans)) <= 1.12, spans  # a loop on the outline would span 1.15-1.25


def test_the_stroke_rule_keeps_a_circle_line_under_a_tenth_of_its_radius_and_a_ring_band_twice_that() -> None:
    sheet = 192
    assert thickest_circle_line(50.0, sheet) == pytest.approx(5.0)  # a tenth of the radius
    assert thickest_circle_line(10.0, sheet) == pytest.approx(2.0)  # never under 2 px of a 192-px sheet
    assert thickest_circle_line(10.0, 2 * sheet) == pytest.approx(4.0)  # the floor scales with the sheet
    for radius in (5.0, 20.0, 50.0, 90.0):
        assert thinnest_ring_band(radius, sheet) == pytest.approx(2 * thickest_circle_line(radius, sheet))


@pytest.mark.parametrize("background", ["photographed", "solid", "pattern"])
def test_sizes_are_drawn_on_a_log_scale_so_small_shapes_are_as_common_as_large_ones(background: str) -> None:
    extents = (
        np.array(
            [generate_scene(np.random.default_rng([8, i]), SIZE, background=background).extent for i in range(300)]
        )
        / SIZE
    )
    small, large = np.mean((extents >= 0.10) & (extents < 0.15)), np.mean((extents >= 0.50) & (extents <= 0.75))
    assert extents.min() >= 0.10 and extents.max() <= 0.75
    assert 0.12 <= small <= 0.28 and 0.12 <= large <= 0.28, (small, large)  # log(1.5) / log(7.5) = 0.20 each


@pytest.mark.parametrize("pattern", [0, 1, 2, 3], ids=["weave", "grid", "waves", "marks"])
def test_a_pattern_puts_edges_all_over_the_picture_and_the_object_still_stands_out(pattern: int) -> None:
    from models.datasets.shapes_backgrounds import _PATTERNS, contrast

    black, white = np.zeros(3, np.float32), np.full(3, 255.0, np.float32)
    busy_cells, tones, lines = [], [], []
    for i in range(12):
        picture = _PATTERNS[pattern](np.random.default_rng([4, i]), 96, black, white)
        assert picture.shape == (96, 96, 3) and np.isfinite(picture).all()
        grey = picture.mean(axis=2)
        steps = (np.abs(np.diff(grey, axis=1))[:-1] > 40) | (np.abs(np.diff(grey, axis=0))[:, :-1] > 40)
        busy_cells.append(steps[:88, :88].reshape(8, 11, 8, 11).any(axis=(1, 3)).mean())  # 11 x 11 px cells
        tones.append(min(np.mean(np.abs(grey - level) < 1) for level in (0.0, 127.5, 255.0)))
        lines.append(np.mean(grey > 127.5))
    assert np.median(busy_cells) > 0.75, busy_cells  # edges everywhere, not a feature in one place
    if pattern == 0:  # a weave's two sets of bands cross: each colour, and their overlap, cover a tenth at least
        assert np.median(tones) > 0.1, tones
    if pattern == 1:  # grid lines are thin: the second colour is a minority, and never absent
        assert 0.05 < np.median(lines) < 0.6, lines
    chosen = []
    for i in range(40):
        scene = generate_scene(np.random.default_rng([11, i]), SIZE, background="pattern", degrade=False)
        around = dilate_square(scene.mask, 3) & ~scene.mask
        gap = contrast(np.array(scene.object_colour, np.float32), scene.image[around].astype(np.float32))
        chosen.append(np.percentile(gap, 20))
    assert np.median(chosen) >= 80  # ensure_contrast picked the object's colour against the pattern around it


@pytest.mark.parametrize("name", ["_pattern_grid", "_pattern_weave"])
def test_grids_and_checks_keep_their_proportions_at_every_picture_size(name: str) -> None:
    from models.datasets import shapes_backgrounds as backgrounds

    pattern = getattr(backgrounds, name)
    assert pattern in backgrounds._PATTERNS
    black, white = np.zeros(3, np.float32), np.full(3, 255.0, np.float32)
    for i in range(12):  # the same draws at 64 and 128 px: lines and bands as wide beside their period at both
        shares = [
            (pattern(np.random.default_rng([7, i]), size, black, white).mean(axis=2) > 63).mean() for size in (64, 128)
        ]
        assert 0.8 < shares[1] / shares[0] < 1.25, (i, shares)


def test_most_weaves_are_gingham_with_square_checks_and_the_rest_plaid() -> None:
    from models.datasets.shapes_backgrounds import _pattern_weave

    size, black, white = 256, np.zeros(3, np.float32), np.full(3, 255.0, np.float32)
    fy, fx = np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size), indexing="ij")
    frequencies = np.hypot(fy, fx)
    square = []
    for i in range(60):  # the strongest band and the strongest one across it repeat equally often on gingham only
        grey = _pattern_weave(np.random.default_rng([19, i]), size, black, white).mean(axis=2)
        spectrum = np.abs(np.fft.fft2(grey - grey.mean()))
        first = np.unravel_index(np.argmax(spectrum), spectrum.shape)
        across = np.abs(fy * fy[first] + fx * fx[first]) < 0.1 * frequencies * frequencies[first]
        second = np.unravel_index(np.argmax(np.where(across, spectrum, 0)), spectrum.shape)
        square.append(abs(frequencies[first] - frequencies[second]) < 0.03 * frequencies[first])
    assert 0.5 < np.mean(square) < 0.75, np.mean(square)  # three fifths gingham; plaid keeps its oblong checks


def test_about_a_third_of_grids_are_brickwork_whose_upright_joints_break_at_every_course() -> None:
    from models.datasets.shapes_backgrounds import _pattern_grid

    size, black, white = 256, np.zeros(3, np.float32), np.full(3, 255.0, np.float32)
    fy, fx = np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size), indexing="ij")
    frequencies = np.hypot(fy, fx)
    bricks = []
    for i in range(60):  # a square grid repeats as often a quarter turn from its lines; running bond does not
        grey = _pattern_grid(np.random.default_rng([20, i]), size, black, white).mean(axis=2)
        spectrum = np.abs(np.fft.fft2(grey - grey.mean()))
        lowest = np.unravel_index(np.argmin(np.where(spectrum > 0.3 * spectrum.max(), frequencies, np.inf)), grey.shape)
        turned = round(-fx[lowest] * size), round(fy[lowest] * size)
        partner = max(spectrum[(turned[0] + a) % size, (turned[1] + b) % size] for a in (-1, 0, 1) for b in (-1, 0, 1))
        bricks.append(partner < 0.5 * spectrum[lowest])
    assert 0.15 < np.mean(bricks) < 0.5, np.mean(bricks)  # about a third of the grids are brick walls


def test_print_runs_in_lines_with_empty_rows_between_them() -> None:
    from models.datasets.shapes_backgrounds import _PATTERNS, _pattern_print

    assert _pattern_print in _PATTERNS
    black, white = np.zeros(3, np.float32), np.full(3, 255.0, np.float32)
    for paper, ink_colour in ((white, black), (black, white), (white, np.full(3, 240.0, np.float32))):
        for i in range(8):
            grey = _pattern_print(np.random.default_rng([6, i]), 96, paper, ink_colour).mean(axis=2)
            ink = np.abs(grey - paper.mean()) > 127.5  # a pale second colour prints in black instead: still legible
            assert 0.15 < ink.mean() < 0.7, (i, ink.mean())
            assert np.mean(ink.mean(axis=1) < 0.05) > 0.2, i  # the leading between lines of text


def test_some_printed_pages_open_with_a_headline_of_words_taller_than_any_line_of_text() -> None:
    from models.datasets.shapes_backgrounds import _pattern_print

    white, black, headlines = np.full(3, 255.0, np.float32), np.zeros(3, np.float32), []
    for i in range(60):
        grey = _pattern_print(np.random.default_rng([21, i]), 96, white, black).mean(axis=2)
        inked_rows = (grey < 127.5).mean(axis=1)
        run = tallest = 0
        for row in inked_rows > 0.5:  # a line of text is at most 6.3 px tall at 96 px; a headline at least 7.7
            run = run + 1 if row else 0
            tallest = max(tallest, run)
        headlines.append(tallest >= 8)
    assert 0.15 < np.mean(headlines) < 0.45, np.mean(headlines)  # three pages in ten, less those cut off at the top


def test_relief_is_shaded_everywhere_and_never_flat() -> None:
    from models.datasets.shapes_backgrounds import _PATTERNS, _pattern_relief

    assert _pattern_relief in _PATTERNS
    flats = []
    for i in range(16):
        rng = np.random.default_rng([7, i])
        picture = _pattern_relief(rng, 96, np.full(3, 200.0, np.float32), np.full(3, 120.0, np.float32))
        grey = picture.mean(axis=2)
        assert picture.shape == (96, 96, 3) and picture.min() >= 0 and picture.max() <= 255
        flats.append(np.mean(np.abs(np.diff(grey, axis=1)) < 0.01))
        assert np.percentile(grey, 95) - np.percentile(grey, 5) > 20, i  # the slopes are seen
    # Light falls on slopes everywhere: no painted flat areas, bar the steepest slopes' full light or shadow.
    assert max(flats) < 0.25 and np.median(flats) < 0.05, flats


def test_pebbles_are_many_round_bumps_lit_from_one_side() -> None:
    from scipy import ndimage

    from models.datasets.shapes_backgrounds import _PATTERNS, _pattern_pebbles

    assert _pattern_pebbles in _PATTERNS
    tone = np.full(3, 160.0, np.float32)
    for i in range(12):
        grey = _pattern_pebbles(np.random.default_rng([8, i]), 96, tone, tone).mean(axis=2)
        assert grey.min() >= 0 and grey.max() <= 255 and np.isfinite(grey).all()
        assert np.percentile(grey, 95) - np.percentile(grey, 5) > 40, i  # the bumps' slopes are seen
        # Each bump has a lit side and a shaded side: the brightness gradient points one way over the picture.
        gy, gx = np.gradient(ndimage.gaussian_filter(grey, 0.7))
        mean_slope = np.hypot(gx.mean(), gy.mean()) / (np.hypot(gx, gy).mean() + 1e-6)
        assert mean_slope < 0.2, (i, mean_slope)  # bumps rise and fall, so the slopes cancel over the picture
        assert np.mean(np.hypot(gx, gy) > 4) > 0.5, i  # slopes all over, not one feature on a flat ground
        # Light from one side shades every bump along one axis, so the gradients line up; head-on light would
        # shade a bump's rim alike all round, and their orientations would spread evenly (measured 0.02-0.09).
        weight = np.hypot(gx, gy)
        alignment = np.abs(((gx + 1j * gy) ** 2 / (weight + 1e-9)).sum()) / weight.sum()
        assert alignment > 0.2, (i, alignment)  # measured 0.35-0.51
        _, count = ndimage.label(grey > np.percentile(grey, 80))
        assert count >= 4, (i, count)  # separate highlights: a surface of bumps, not one object


def test_cells_are_a_thin_bright_net_round_shape_sized_cells_or_dark_holes_lit_from_one_side() -> None:
    from scipy import ndimage

    from models.datasets.shapes_backgrounds import _PATTERNS, _pattern_cells

    assert _pattern_cells in _PATTERNS
    size, tone, kinds = 96, np.full(3, 140.0, np.float32), []
    for i in range(24):
        grey = np.clip(_pattern_cells(np.random.default_rng([9, i]), size, tone, tone), 0, 255).mean(axis=2)
        values, counts = np.unique(np.round(grey), return_counts=True)
        flat = values[counts.argmax()]  # the water inside the cells, or the surface between the holes
        # A net rises from the flat; holes sink into it.
        kinds.append("net" if np.mean(grey > flat + 10) > np.mean(grey < flat - 10) else "holes")
        base = np.median(grey)
        if kinds[-1] == "net":
            assert grey.max() - base > 30, i  # the threads are far brighter than the water between them
            net = grey > base + 0.5 * (grey.max() - base)
            assert 0.04 < net.mean() < 0.45, (i, net.mean())  # measured 0.14-0.30: threads, not a lit sheet
            cells, count = ndimage.label(~net)
            areas = np.sort(ndimage.sum(~net, cells, range(1, count + 1)))[::-1]
            typical = areas[np.searchsorted(np.cumsum(areas), areas.sum() / 2)]  # half the water is in cells this big
            assert 0.08 < np.sqrt(typical) / size < 0.5, (i, np.sqrt(typical) / size)  # measured 0.11-0.42: shape-sized
            assert count >= 5, (i, count)  # a net of closed cells, not a few stray lines
            continue
        holes = grey < 0.75 * base
        labels, count = ndimage.label(holes)
        largest = ndimage.sum(holes, labels, range(1, count + 1)).max() / grey.size
        assert 0.05 < holes.mean() < 0.35 and count >= 8 and largest < 0.05, (i, holes.mean(), count, largest)
        # Light from one side darkens each pit's near wall and lights its far one, so the gradients line up
        # (measured 0.22-0.40); light from above would ring each pit alike all round.
        gy, gx = np.gradient(ndimage.gaussian_filter(grey, 0.7))
        weight = np.hypot(gx, gy)
        alignment = np.abs(((gx + 1j * gy) ** 2 / (weight + 1e-9)).sum()) / weight.sum()
        assert alignment > 0.15, (i, alignment)
    assert 6 <= kinds.count("net") <= 18, kinds


def test_coats_are_broken_rings_or_a_hexagonal_net_round_shape_sized_cells() -> None:
    from scipy import ndimage

    from models.datasets.shapes_backgrounds import _PATTERNS, _pattern_coat

    assert _pattern_coat in _PATTERNS
    size, coat, ink, kinds = 96, np.full(3, 200.0, np.float32), np.full(3, 40.0, np.float32), []
    for i in range(24):
        grey = _pattern_coat(np.random.default_rng([10, i]), size, coat, ink).mean(axis=2)
        assert grey.min() >= 0 and grey.max() <= 255 and np.isfinite(grey).all()
        marks = grey < 60  # the ink: arcs and spots, or walls; the coat and the cells stay lighter
        assert 0.03 < marks.mean() < 0.45, (i, marks.mean())
        labels, count = ndimage.label(marks)
        areas = ndimage.sum(marks, labels, range(1, count + 1))
        if areas.max() > 0.8 * marks.sum():  # one connected net of walls
            kinds.append("net")
            cells, cell_count = ndimage.label(~marks)
            cell_areas = np.sort(ndimage.sum(~marks, cells, range(1, cell_count + 1)))[::-1]
            typical = cell_areas[np.searchsorted(np.cumsum(cell_areas), cell_areas.sum() / 2)]
            assert 0.06 < np.sqrt(typical) / size < 0.5, (i, np.sqrt(typical) / size)  # shape-sized cells
            assert cell_count >= 4, (i, cell_count)
            continue
        kinds.append("rosettes")
        assert count >= 8 and areas.max() < 0.04 * grey.size, (i, count, areas.max())  # many separate arcs
        filled = ndimage.binary_fill_holes(marks).sum() / marks.sum()
        assert filled < 1.3, (i, filled)  # broken rings: a closed one would hold its middle, like the class ring
        # Closing the gaps between a rosette's arcs and filling it gives a disc as large as a small shape.
        rosettes = ndimage.binary_fill_holes(ndimage.binary_closing(marks, iterations=2))
        blobs, _ = ndimage.label(rosettes)
        sides = np.sqrt(np.sort(np.bincount(blobs.ravel())[1:])[::-1])
        assert 0.06 < np.median(sides[:5]) / size < 0.4, (i, sides[:5] / size)
    assert 6 <= kinds.count("net") <= 18, kinds


def test_rounds_are_many_sizes_of_disc_ring_or_hole_scattered_off_a_lattice_the_largest_shape_sized() -> None:
    from scipy import ndimage

    from models.datasets.shapes_backgrounds import _ROUND_KINDS, _SHAPE_SCALE_PATTERNS, _pattern_rounds, _round

    assert _pattern_rounds in _SHAPE_SCALE_PATTERNS
    size, ground, ink = 96, np.full(3, 200.0, np.float32), np.full(3, 40.0, np.float32)
    spreads, largest, gaps = [], [], []
    for i in range(24):
        grey = _pattern_rounds(np.random.default_rng([13, i]), size, ground, ink).mean(axis=2)
        assert grey.min() >= 0 and grey.max() <= 255 and np.isfinite(grey).all()
        marks = ndimage.binary_fill_holes(np.abs(grey - grey.mean()) > 45)  # a rim's or a thread's middle too
        labels, count = ndimage.label(marks)
        if count < 3:  # faint glows, or one merged field: nothing to measure apart
            continue
        areas = ndimage.sum(marks, labels, range(1, count + 1))
        across = 2 * np.sqrt(areas[areas >= 4] / np.pi) / size  # each mark's diameter as a fraction of the side
        spreads.append(across.max() / across.min())
        largest.append(across.max())
        centres = np.array(ndimage.center_of_mass(marks, labels, range(1, count + 1)))
        nearest = np.sort(np.hypot(*(centres[:, None] - centres[None]).transpose(2, 0, 1)), axis=1)[:, 1]
        gaps.append(nearest.std() / nearest.mean())
    assert len(spreads) >= 12, len(spreads)  # glows alone are too faint to threshold
    assert np.median(spreads) > 2.5, spreads  # many sizes, not one cell's
    assert 0.12 < np.median(largest) < 0.6, largest  # the largest as large as a shape, not the whole picture
    assert np.median(gaps) > 0.3, gaps  # spacing as uneven as scattered seeds, not a lattice's
    xs, ys = np.meshgrid(np.arange(64) + 0.5, np.arange(64) + 0.5)
    for kind in _ROUND_KINDS:  # each kind is round, centred where it was put, and reaches no further than its rim
        cover, light = _round(xs, ys, 31.5, 31.5, 10.0, kind)
        assert cover.shape == light.shape == (64, 64) and 0 <= cover.min() and cover.max() <= 1, kind
        assert cover[31, 31 - 14] == 0 and cover[0, 0] == 0 and np.allclose(cover, cover.T), kind
    rim, _ = _round(xs, ys, 31.5, 31.5, 10.0, "rim")
    assert rim[31, 41] > 0.9 > 0.2 > rim[31, 31]  # a bubble is a ring, not a disc
    hole, thread = _round(xs, ys, 31.5, 31.5, 10.0, "hole")
    assert hole[31, 31] == 1 and thread[31, 31] == 0 and thread[31, 42] > 0.5  # dark inside, a pale thread round it


def test_glass_is_flat_panes_of_many_colours_each_near_a_shape_in_size() -> None:
    from models.datasets.shapes_backgrounds import _SHAPE_SCALE_PATTERNS, _pattern_glass

    assert _pattern_glass in _SHAPE_SCALE_PATTERNS
    size, light, dark, sides, flats = 96, np.full(3, 220.0, np.float32), np.full(3, 30.0, np.float32), [], []
    for i in range(12):
        picture = _pattern_glass(np.random.default_rng([15, i]), size, light, dark)
        assert picture.min() >= 0 and picture.max() <= 255 and np.isfinite(picture).all()
        flats.append((np.abs(np.diff(picture, axis=1)).sum(axis=2) == 0).mean())
        binned = (picture // 8).astype(np.int64) @ np.array([1024, 32, 1])
        _, counts = np.unique(binned, return_counts=True)
        panes = counts[counts > 0.002 * size * size]
        assert len(panes) >= 15, (i, len(panes))  # many colours, not the two it was given
        sides.append(np.sqrt(np.median(panes)) / size)
    assert 0.05 < np.median(sides) < 0.25, sides  # a typical pane near a small shape's size
    assert np.median(flats) > 0.5, flats  # each pane one colour, edge to edge; not a noise field


def test_spots_are_two_colour_blobs_the_largest_as_large_as_a_shape() -> None:
    from scipy import ndimage

    from models.datasets.shapes_backgrounds import _SHAPE_SCALE_PATTERNS, _pattern_spots

    assert _pattern_spots in _SHAPE_SCALE_PATTERNS
    size, light, dark, largest = 96, np.full(3, 220.0, np.float32), np.full(3, 30.0, np.float32), []
    for i in range(12):
        grey = _pattern_spots(np.random.default_rng([16, i]), size, light, dark).mean(axis=2)
        crisp = ((grey > 200) | (grey < 50)).mean()
        assert crisp > 0.85, (i, crisp)  # two tones with an anti-aliased edge, not a smooth blend
        spots = grey < 125
        assert 0.2 < spots.mean() < 0.7, (i, spots.mean())
        labels, count = ndimage.label(spots)
        largest.append(np.sqrt(ndimage.sum(spots, labels, range(1, count + 1)).max()) / size)
    assert 0.2 < np.median(largest) < 0.8, largest  # blobs and mazes as large as a shape, not specks


def test_contours_are_thin_level_lines_closing_round_knots() -> None:
    from scipy import ndimage

    from models.datasets.shapes_backgrounds import _SHAPE_SCALE_PATTERNS, _pattern_contours

    assert _pattern_contours in _SHAPE_SCALE_PATTERNS
    size, light, dark, closed, thick = 96, np.full(3, 220.0, np.float32), np.full(3, 30.0, np.float32), 0, []
    for i in range(12):
        grey = _pattern_contours(np.random.default_rng([17, i]), size, light, dark).mean(axis=2)
        lines = grey < 125
        assert 0.05 < lines.mean() < 0.85, (i, lines.mean())
        thick.append(ndimage.binary_erosion(lines, iterations=3).mean() / lines.mean())
        labels, count = ndimage.label(~lines)
        edge = {*labels[0], *labels[-1], *labels[:, 0], *labels[:, -1]}
        closed += len(set(range(1, count + 1)) - edge) >= 3  # bands ringed all round by lines, inside the picture
    assert closed >= 8, closed
    assert np.median(thick) < 0.1, thick  # lines a few pixels wide; only where they crowd do they merge into a tone


def test_tiles_are_gingham_checks_or_tiled_floors_each_square_near_a_shape_in_size() -> None:
    from scipy import ndimage

    from models.datasets.shapes_backgrounds import _SHAPE_SCALE_PATTERNS, _pattern_tiles, _pattern_weave

    assert _pattern_tiles in _SHAPE_SCALE_PATTERNS
    size, light, dark = 96, np.full(3, 220.0, np.float32), np.full(3, 30.0, np.float32)

    def squares(picture: np.ndarray) -> tuple[float, float]:  # share of the picture in flat squares, the largest's side
        grey = picture.mean(axis=2)
        edge = np.zeros(grey.shape, bool)
        edge[:, 1:] |= np.abs(np.diff(grey, axis=1)) > 20
        edge[1:, :] |= np.abs(np.diff(grey, axis=0)) > 20
        labels, count = ndimage.label(~edge)
        sides = np.sqrt(ndimage.sum(~edge, labels, range(1, count + 1))) / size
        return float(np.isin(labels, 1 + np.flatnonzero(sides >= 0.07)).mean()), float(sides.max())

    covers, kinds, floors = [], [], []
    for i in range(12):
        picture = _pattern_tiles(np.random.default_rng([18, i]), size, light, dark)
        assert picture.min() >= 30 and picture.max() <= 220 and np.isfinite(picture).all()
        cover, largest = squares(picture)
        assert 0.06 < largest < 0.35, (i, largest)  # no square smaller than a small shape, none filling the picture
        covers.append(cover)
        kinds.append(len(np.unique(picture.mean(axis=2).round())) <= 3)  # gingham: two colours and their overlap
        if not kinds[-1]:  # a floor: checked ones have half their tiles in the dark colour, plain ones only grout
            floors.append(float((picture.mean(axis=2) < 78).mean()))
    assert np.median(covers) > 0.5, covers  # most of the picture lies in squares a small shape's size or more
    assert 3 <= sum(kinds) <= 9, kinds  # both gingham and tiles (each its own shade, in grout) are drawn
    assert sum(f > 0.3 for f in floors) >= 2 and sum(f < 0.2 for f in floors) >= 1, floors  # checked and plain
    weave = [squares(_pattern_weave(np.random.default_rng([18, i]), size, light, dark))[0] for i in range(12)]
    assert np.median(weave) < 0.1, weave  # unlike the fine weave, whose checks are far smaller than any shape


def test_lozenges_tile_every_picture_in_cells_near_a_shape_in_size_never_a_plain_ground() -> None:
    from scipy import ndimage

    from models.datasets.shapes_backgrounds import _SHAPE_SCALE_PATTERNS, _pattern_lozenges

    assert _pattern_lozenges in _SHAPE_SCALE_PATTERNS
    size, light, dark = 96, np.full(3, 220.0, np.float32), np.full(3, 30.0, np.float32)
    covers, two_tone = [], []
    for i in range(16):
        picture = _pattern_lozenges(np.random.default_rng([24, i]), size, light, dark)
        assert picture.shape == (size, size, 3) and np.isfinite(picture).all()
        grey = picture.mean(axis=2)
        assert grey.max() - grey.min() > 60, i  # never a plain ground: checks, cores or lines always show
        edge = np.zeros(grey.shape, bool)
        edge[:, 1:] |= np.abs(np.diff(grey, axis=1)) > 20
        edge[1:, :] |= np.abs(np.diff(grey, axis=0)) > 20
        labels, count = ndimage.label(~edge)
        sides = np.sqrt(ndimage.sum(~edge, labels, range(1, count + 1))) / size
        assert 0.06 < sides.max() < 0.75, (i, sides.max())  # cells as large as a small shape, none filling the picture
        covers.append(float(np.isin(labels, 1 + np.flatnonzero(sides >= 0.07)).mean()))
        two_tone.append(min((grey == 220).mean(), (grey == 30).mean()) > 0.2)  # harlequin: lozenges of both colours
    assert np.median(covers) > 0.5, covers  # most of the picture lies in cells a small shape's size or more
    assert 3 <= sum(two_tone) <= 13, two_tone  # harlequin, and lattices on one ground, outlined or cored


def test_a_hex_lattice_gives_every_point_six_neighbours_one_cell_away_and_covers_the_picture() -> None:
    from scipy.spatial import cKDTree

    from models.datasets.shapes_backgrounds import _hex_lattice

    size, cell = 96, 10.0
    for i in range(4):
        points = _hex_lattice(np.random.default_rng([22, i]), size, cell, jitter=0.0)
        inside = points[np.all((points > cell) & (points < size - cell), axis=1)]
        tree = cKDTree(points)
        closest = tree.query(inside, k=2)[0][:, 1]
        assert np.allclose(closest, cell, rtol=1e-4), closest.min()  # no two points nearer than a cell
        neighbours = [len(near) - 1 for near in tree.query_ball_point(inside, 1.05 * cell)]
        assert set(neighbours) == {6}, set(neighbours)  # each in the middle of a hexagon of six
        gaps = tree.query(np.random.default_rng(i).uniform(0, size, (500, 2)))[0]
        assert gaps.max() <= cell / np.sqrt(3) + 1e-3  # nowhere farther from a point than a hexagon's corner is


def test_three_fifths_of_the_patterns_drawn_are_surfaces_with_features_as_large_as_a_shape(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from models.datasets import shapes_backgrounds as backgrounds

    drawn: list[str] = []

    def tagged(name: str):  # each pattern, standing in as a flat picture that says which family drew it
        return lambda rng, size, c1, c2: drawn.append(name) or np.broadcast_to(c1, (size, size, 3)).astype(np.float32)

    fine, coarse = len(backgrounds._FINE_PATTERNS), len(backgrounds._SHAPE_SCALE_PATTERNS)
    assert (
        fine >= 6
        and coarse >= 6
        and set(backgrounds._PATTERNS) == {*backgrounds._FINE_PATTERNS, *backgrounds._SHAPE_SCALE_PATTERNS}
    )
    monkeypatch.setattr(backgrounds, "_FINE_PATTERNS", tuple(tagged(f"fine{i}") for i in range(fine)))
    monkeypatch.setattr(backgrounds, "_SHAPE_SCALE_PATTERNS", tuple(tagged(f"coarse{i}") for i in range(coarse)))
    rng, grey = np.random.default_rng(14), np.full(3, 128.0, np.float32)
    for _ in range(2000):
        backgrounds._background_pattern(rng, 8, grey, grey)
    coarse_share = sum(name.startswith("coarse") for name in drawn) / len(drawn)
    assert 0.55 < coarse_share < 0.65, coarse_share
    assert len(set(drawn)) == fine + coarse  # every pattern still drawn


def test_motifs_repeat_in_a_lattice_each_far_smaller_than_any_shape() -> None:
    import cv2

    from models.datasets.shapes_backgrounds import _PATTERNS, _pattern_motif

    assert _pattern_motif in _PATTERNS
    black, white = np.zeros(3, np.float32), np.full(3, 255.0, np.float32)
    for i in range(16):
        grey = _pattern_motif(np.random.default_rng([9, i]), 96, black, white).mean(axis=2)
        count, _, stats, _ = cv2.connectedComponentsWithStats((grey > 220).astype(np.uint8), connectivity=8)
        inside = stats[1:][(stats[1:, 0] > 0) & (stats[1:, 1] > 0)]  # not cut by the picture's top or left edge
        inside = inside[(inside[:, 0] + inside[:, 2] < 96) & (inside[:, 1] + inside[:, 3] < 96)]
        assert len(inside) >= 25, (i, len(inside))  # a lattice, not a feature in one place
        assert inside[:, 2:4].max() <= 0.09 * 96 + 1, (i, inside[:, 2:4].max())  # shapes start at 10% of the side


def test_each_of_the_four_motifs_is_drawn_told_apart_by_how_much_of_its_box_it_fills() -> None:
    import cv2

    from models.datasets.shapes_backgrounds import _pattern_motif

    black, white, side = np.zeros(3, np.float32), np.full(3, 255.0, np.float32), 384  # large, so fills are exact
    fills = []
    for i in range(16):
        grey = _pattern_motif(np.random.default_rng([9, i]), side, black, white).mean(axis=2)
        _, _, stats, _ = cv2.connectedComponentsWithStats((grey > 128).astype(np.uint8), connectivity=8)
        stats = stats[1:][(stats[1:, 0] > 0) & (stats[1:, 1] > 0)]
        stats = stats[(stats[:, 0] + stats[:, 2] < side) & (stats[:, 1] + stats[:, 3] < side)]
        fills.append(float(np.median(stats[:, 4] / (stats[:, 2] * stats[:, 3]))))
    fills = np.array(fills)
    # a diamond fills half its box, a plus with arms 0.35 of its reach about 0.58, four petals about 0.66, a dot 0.79
    for low, high in ((0.45, 0.55), (0.555, 0.62), (0.63, 0.72), (0.75, 0.85)):
        assert ((fills > low) & (fills < high)).any(), (low, high, fills.round(3))


def test_a_third_of_photographed_drawings_are_on_a_painted_surface_and_still_stand_out_from_it() -> None:
    from models.datasets.shapes_backgrounds import contrast

    gaps = []
    for index in range(60):
        rng = np.random.default_rng([12, index])
        label = index % len(SHAPE_CLASSES)
        outer, hole, _ = _unit_shape(label, rng)
        parts = photographed_parts(rng, SHAPE_CLASSES[label], outer, hole, SIZE, rng.uniform(0.2, 0.6))
        if parts["surface"]:
            image, mask = parts["image"].astype(np.float32), parts["mask"]
            around = dilate_square(mask, 4) & ~dilate_square(mask, 1)
            gaps.append(np.median(contrast(np.median(image[mask], axis=0), image[around])))
    assert 0.2 * 60 <= len(gaps) <= 0.5 * 60, len(gaps)
    # Through blur, noise and JPEG a drawing on a busy surface stays visible, if less so than on paper (about 150).
    assert np.median(gaps) > 40, sorted(gaps)


def test_an_ink_that_would_vanish_into_a_surface_is_swapped_for_one_that_stands_out() -> None:
    from PIL import Image

    from models.datasets.shapes_backgrounds import contrast
    from models.datasets.shapes_photographed import INKS, MARKERS, _visible

    rng = np.random.default_rng(3)
    for tone in (20.0, 60.0, 235.0):
        surface = np.clip(tone + rng.normal(0, 6, (48, 48, 3)), 0, 255).astype(np.uint8)
        sheet = Image.fromarray(surface)
        for colour in INKS + MARKERS:
            chosen = np.array(_visible(rng, colour, sheet), np.float32)
            seen = np.percentile(contrast(surface.reshape(-1, 3).astype(np.float32), chosen), 5)
            assert seen >= 80, (tone, colour, chosen, seen)
            if np.percentile(contrast(surface.reshape(-1, 3).astype(np.float32), np.array(colour)), 5) >= 80:
                assert tuple(chosen) == colour  # a visible ink is kept: the pen's colour is the drawer's choice


def test_occluder_sits_beside_the_object_and_wobble_stays_close_to_the_outline() -> None:
    from models.datasets.shapes_distractors import occluder, wobble

    rng = np.random.default_rng(3)
    cover, colour = occluder(rng, SIZE, (32.0, 32.0), 10.0)
    assert cover.shape == (SIZE, SIZE) and 0.0 <= cover.min() and cover.max() == 1.0 and colour.shape == (3,)
    ys, xs = np.nonzero(cover > 0.5)
    distance = np.hypot(xs.mean() + 0.5 - 32.0, ys.mean() + 0.5 - 32.0)
    assert 6.0 <= distance <= 14.0  # centred about the object's half-size away from its centre
    assert cover.sum() < np.pi * 10.0**2  # smaller than the object's bounding disc
    square = np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
    shaky = wobble(square, rng, 0.05, np.zeros(2))
    assert len(shaky) == 24
    ratio = np.linalg.norm(shaky, axis=1) / np.linalg.norm(
        np.concatenate(
            [
                s + (e - s) * np.linspace(0, 1, 6, endpoint=False)[:, None]
                for s, e in zip(square, np.roll(square, -1, axis=0))
            ]
        ),
        axis=1,
    )
    assert np.all(np.abs(ratio - 1.0) <= 0.05 + 1e-9) and np.abs(ratio - 1.0).max() > 0.005


def test_other_sizes_render() -> None:
    image, mask, _ = render_shape_scene(np.random.default_rng(1), size=96)
    assert image.shape == (96, 96, 3) and mask.shape == (96, 96) and mask.any()


# ----------------------------------------------------------------------------- IDX


def _write_idx(path: Path, array: np.ndarray, code: int, compress: bool) -> None:
    """Write an IDX file independently of the reader: big-endian header then big-endian data."""
    big_endian = array.astype(array.dtype.newbyteorder(">"))
    payload = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload += big_endian.tobytes()
    if compress:
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trip(tmp_path: Path, compress: bool) -> None:
    images = np.random.default_rng(0).integers(0, 256, (5, 4, 3), dtype=np.uint8)
    ints = np.arange(-6, 6, dtype=np.int32).reshape(3, 4)
    floats = np.linspace(-1, 1, 7, dtype=np.float32)
    for name, array, code in (("u8", images, 0x08), ("i32", ints, 0x0C), ("f32", floats, 0x0D)):
        path = tmp_path / (name + (".gz" if compress else ""))
        _write_idx(path, array, code, compress)
        loaded = read_idx(path)
        assert loaded.shape == array.shape
        assert loaded.dtype.isnative
        np.testing.assert_array_equal(loaded, array)


def test_read_idx_rejects_bad_files(tmp_path: Path) -> None:
    bad_magic = tmp_path / "bad-magic"
    bad_magic.write_bytes(b"\x12\x34\x08\x01" + struct.pack(">I", 2) + b"\x00\x01")
    with pytest.raises(ValueError, match="magic"):
        read_idx(bad_magic)
    truncated = tmp_path / "truncated"
    truncated.write_bytes(b"\x00\x00\x08\x01" + struct.pack(">I", 10) + b"\x00\x01")
    with pytest.raises(ValueError, match="data bytes"):
        read_idx(truncated)
    bad_type = tmp_path / "bad-type"
    bad_type.write_bytes(b"\x00\x00\x42\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(ValueError, match="type"):
        read_idx(bad_type)
    broken_gzip = tmp_path / "broken.gz"
    broken_gzip.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + b"\x00" * 100)[:20])
    with pytest.raises(ValueError):
        read_idx(broken_gzip)


# ----------------------------------------------------------------------------- Fashion-MNIST


def _fake_fashion(root: Path, n_train: int = 20, n_test: int = 6) -> None:
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        _write_idx(root / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), 8, True)
        _write_idx(root / f"{prefix}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8), 8, False)


def test_fashion_split_logic_on_small_files(tmp_path: Path) -> None:
    _fake_fashion(tmp_path)
    train = FashionMNISTIdx(tmp_path, "train", val_size=4)
    val = FashionMNISTIdx(tmp_path, "val", val_size=4)
    test = FashionMNISTIdx(tmp_path, "test", val_size=4)
    assert (len(train), len(val), len(test)) == (16, 4, 6)
    assert not set(train.indices.tolist()) & set(val.indices.tolist())
    np.testing.assert_array_equal(FashionMNISTIdx(tmp_path, "val", val_size=4).indices, val.indices)
    image, label = val[0]
    assert image.mode == "L" and image.size == (28, 28) and label == val.targets[0]
    assert len(FashionMNISTIdx(tmp_path, "train", val_size=4, limit=5)) == 5


def test_fashion_missing_files_message(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        FashionMNISTIdx(tmp_path / "nowhere", "train")


def test_fashion_download_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With download=True, missing files are fetched (here: faked) into torchvision's layout."""
    calls: list[Path] = []

    def fake_download(root: Path) -> None:
        calls.append(root)
        raw = root / "FashionMNIST" / "raw"
        raw.mkdir(parents=True)
        _fake_fashion(raw)

    monkeypatch.setattr(fashion_module, "_download_fashion", fake_download)
    ds = FashionMNISTIdx(tmp_path, "test", download=True)
    assert calls == [tmp_path] and len(ds) == 6


def test_shapes_pickle_round_trip() -> None:
    ds = ShapesDataset("test", length=4)
    empty = pickle.loads(pickle.dumps(ds))
    assert empty._images is None and empty.targets == ds.targets
    ds.sample(1)
    filled = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(filled.sample(1)[0], ds.sample(1)[0])


@pytest.mark.skipif(
    not DEFAULT_FASHION_ROOT.is_dir(),
    reason=f"{DEFAULT_FASHION_ROOT} absent: install the Debian package dataset-fashion-mnist",
)
def test_fashion_real_debian_files() -> None:
    train = FashionMNISTIdx(split="train")
    val = FashionMNISTIdx(split="val")
    test = FashionMNISTIdx(split="test", transform=lambda im: np.asarray(im))
    assert (len(train), len(val), len(test)) == (55000, 5000, 10000)
    assert train.classes == FASHION_CLASSES and len(train.classes) == 10
    image, label = train[0]
    assert isinstance(image, Image.Image) and image.mode == "L" and image.size == (28, 28)
    assert 0 <= label < 10
    array, _ = test[0]
    assert array.shape == (28, 28) and array.dtype == np.uint8
    assert set(test.targets) == set(range(10))
    assert np.bincount(test.targets).tolist() == [1000] * 10  # the official test set is balanced
    assert not set(train.indices.tolist()) & set(val.indices.tolist())


# ----------------------------------------------------------------------------- image folders


def _png(path: Path, colour: tuple[int, ...], mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, (10, 8), colour).save(path)  # the app's decoder refuses sides under 8 px


def test_imagefolder_single_folder_split(tmp_path: Path) -> None:
    for c, name in enumerate(("cat", "dog", "emu")):
        for k in range(10):
            _png(tmp_path / name / f"{k}.png", (c * 80, k * 20, 0))
    splits = {s: ImageFolderDataset(tmp_path, s, seed=1) for s in ("train", "val", "test")}
    assert [len(splits[s]) for s in ("train", "val", "test")] == [24, 3, 3]
    paths = {s: {p for p, _ in ds.samples} for s, ds in splits.items()}
    assert not paths["train"] & paths["val"] and not paths["train"] & paths["test"]
    assert not paths["val"] & paths["test"]
    assert len(paths["train"] | paths["val"] | paths["test"]) == 30
    assert splits["train"].classes == ["cat", "dog", "emu"]
    assert ImageFolderDataset(tmp_path, "val", seed=1).samples == splits["val"].samples
    image, label = splits["test"][0]
    assert image.mode == "RGB" and image.size == (10, 8)
    assert label == splits["test"].targets[0]


def test_imagefolder_with_split_folders(tmp_path: Path) -> None:
    for name in ("a", "b"):
        for k in range(10):
            _png(tmp_path / "train" / name / f"{k}.png", (k, 0, 0))
    _png(tmp_path / "test" / "b" / "only.png", (0, 0, 0, 0), mode="RGBA")  # class "a" missing in test
    train = ImageFolderDataset(tmp_path, "train")
    val = ImageFolderDataset(tmp_path, "val")
    test = ImageFolderDataset(tmp_path, "test")
    assert (len(train), len(val), len(test)) == (18, 2, 1)  # val carved from train, test from its folder
    assert test.classes == ["a", "b"] and test.targets == [1]  # label of "b" follows train's numbering
    image, _ = test[0]
    assert image.getpixel((0, 0)) == (255, 255, 255)  # transparency flattened onto white


def test_imagefolder_decodes_16_bit_like_the_app(tmp_path: Path) -> None:
    """A 16-bit PNG is scaled into 0-255, not clipped, and the model gets exactly what the app would feed it."""
    levels = np.array([[0, 30000, 65535, 1000, 40000, 20000, 50000, 10000, 60000, 5000]], dtype=np.uint16)
    for name in ("a", "b"):
        for k in range(5):
            path = tmp_path / name / f"{k}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.repeat(np.roll(levels, k), 10, axis=0)).save(path)  # 16-bit grayscale PNG
    with Image.open(tmp_path / "a" / "0.png") as raw:
        assert raw.mode.startswith("I")  # really stored with more than 8 bits
    prep = Preprocessing((16, 16), 3, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    plain = ImageFolderDataset(tmp_path, "train", val_fraction=0.0, test_fraction=0.0)
    fed = ImageFolderDataset(tmp_path, "train", transform=eval_transform(prep), val_fraction=0.0, test_fraction=0.0)
    assert len(plain) == 10
    for index, (path, _) in enumerate(plain.samples):
        image, _ = plain[index]
        app_image = load_image(path)  # what the CLI and the page decode an upload with
        np.testing.assert_array_equal(np.asarray(image), np.asarray(app_image))
        app_input = preprocess([app_image], prep.input_size, prep.channels, prep.mean, prep.std)[0]
        assert torch.equal(fed[index][0], app_input)
    first, _ = plain[plain.samples.index((str(tmp_path / "a" / "0.png"), 0))]
    row = np.asarray(first)[0, :, 0]
    assert row[2] == 255 and row[0] == 0
    assert abs(int(row[1]) - 30000 / 257) <= 1 and abs(int(row[3]) - 1000 / 257) <= 1  # scaled: 117 and 4, not 255


def test_imagefolder_too_small_image_is_one_line_naming_the_folder(tmp_path: Path) -> None:
    for k in range(4):
        _png(tmp_path / "a" / f"{k}.png", (k, 0, 0))
        _png(tmp_path / "b" / f"{k}.png", (0, k, 0))
    Image.new("RGB", (4, 4)).save(tmp_path / "a" / "0.png")
    data = ImageFolderDataset(tmp_path, "train", val_fraction=0.0, test_fraction=0.0)
    index = data.samples.index((str(tmp_path / "a" / "0.png"), 0))
    with pytest.raises(ImageInputError, match=r"^in .*/a: 0\.png is too small: 4x4 pixels"):
        data[index]


# ----------------------------------------------------------------------------- factory


def test_build_dataset_and_info(tmp_path: Path) -> None:
    shapes = build_dataset("shapes", "val", length=5, seed=2)
    assert isinstance(shapes, ShapesDataset) and len(shapes) == 5
    _fake_fashion(tmp_path)
    fashion = build_dataset("fashion", "test", root=tmp_path)
    assert isinstance(fashion, FashionMNISTIdx) and len(fashion) == 6
    with pytest.raises(ValueError, match="shapes"):
        build_dataset("cifar", "train")
    with pytest.raises(ValueError):
        build_dataset("imagefolder", "train")
    assert DATASET_INFO["shapes"] == {"channels": 3, "input_size": 64, "classes": SHAPE_CLASSES, "has_masks": True}
    assert DATASET_INFO["fashion-mnist"] == {
        "channels": 1,
        "input_size": 28,
        "classes": FASHION_CLASSES,
        "has_masks": False,
    }
