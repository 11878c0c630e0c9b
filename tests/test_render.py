"""Rendering against known inputs: the pixels and bars users see, not only their types and sizes."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib import colormaps
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba
from PIL import Image, ImageDraw

from attention import render
from attention.analysis import ChannelLayer, ImageAnalysis, SpatialLayer, channel_statistics, mask_statistics
from attention.errors import InputError


def colour(name: str, value: float) -> np.ndarray:
    """The colormap's RGB bytes at ``value``, from matplotlib itself."""
    return (np.asarray(colormaps[name](value)[:3]) * 255).astype(np.uint8)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


@pytest.mark.parametrize("name", ["jet", "viridis", "gray"])
def test_absolute_scale_paints_the_colormap_at_the_mask_value(name: str) -> None:
    mask = np.full((4, 5), 0.9, dtype=np.float32)
    assert (pixels(render.mask_image(mask, name)) == colour(name, 0.9)).all()
    assert (pixels(render.mask_image(mask, name, size=(50, 40))) == colour(name, 0.9)).all()
    photo = Image.new("RGB", (37, 23), (10, 200, 30))
    assert (pixels(render.overlay(photo, mask, name, opacity=1.0)) == colour(name, 0.9)).all()
    # Half opacity: halfway between the photo and the colour, on every pixel.
    half = pixels(render.overlay(photo, mask, name, opacity=0.5)).astype(int)
    expected = (np.array([10, 200, 30]) + colour(name, 0.9).astype(int)) / 2
    assert np.abs(half - expected).max() <= 1


def test_absolute_scale_keeps_a_gradient_values_and_stretch_spans_the_colormap() -> None:
    name = "viridis"
    mask = np.linspace(0.2, 0.7, 12, dtype=np.float32).reshape(3, 4)
    absolute = pixels(render.mask_image(mask, name))
    for (row, column), value in np.ndenumerate(mask):
        assert (absolute[row, column] == colour(name, float(value))).all()
    stretched = pixels(render.mask_image(mask, name, stretch=True))
    assert (stretched[0, 0] == colour(name, 0.0)).all()  # the minimum goes to the low end
    assert (stretched[-1, -1] == colour(name, 1.0)).all()  # the maximum to the high end
    assert not (stretched[0, 0] == colour(name, 0.2)).all()
    photo = Image.new("RGB", (4, 3), "white")  # the mask's own size: no resampling
    over = pixels(render.overlay(photo, mask, name, opacity=1.0, stretch=True))
    assert (over[0, 0] == colour(name, 0.0)).all() and (over[-1, -1] == colour(name, 1.0)).all()
    over = pixels(render.overlay(photo, mask, name, opacity=1.0))
    assert (over[0, 0] == colour(name, 0.2)).all() and (over[-1, -1] == colour(name, 0.7)).all()
    # A constant mask has no range to stretch: it shows the low end, never false contrast.
    flat = pixels(render.mask_image(np.full((2, 2), 0.9), name, stretch=True))
    assert (flat == colour(name, 0.0)).all()


def test_a_cropped_view_puts_the_mask_on_the_crop_and_fades_what_the_model_never_saw() -> None:
    name = "viridis"
    photo = Image.new("RGB", (400, 300), (10, 200, 30))
    mask = np.array([[0.2, 0.9]], dtype=np.float32)
    view = (0.125, 0.0, 0.875, 1.0)  # a 4:3 picture centre-cropped to a square
    over = pixels(render.overlay(photo, mask, name, opacity=1.0, min_side=0, view=view)).astype(int)
    assert over.shape == (300, 400, 3)
    # The crop spans columns 50-350: its left half is the mask's first cell, its right half the second.
    assert (over[150, 60] == colour(name, 0.2)).all() and (over[150, 190] == colour(name, 0.2)).all()
    assert (over[150, 210] == colour(name, 0.9)).all() and (over[150, 340] == colour(name, 0.9)).all()
    # Outside it, the photo faded towards white, never the mask's colours.
    faded = np.array([10, 200, 30]) * (1 - render.CUT_FADE) + 255 * render.CUT_FADE
    for column in (10, 45, 355, 390):
        assert np.abs(over[150, column] - faded).max() <= 1
    assert (over[150, 50] == to_rgb_bytes(render.CUT_OUTLINE)).all()  # the crop's edge is drawn
    assert (over[150, 349] == to_rgb_bytes(render.CUT_OUTLINE)).all()
    # The whole view is the plain overlay, pixel for pixel.
    whole = render.overlay(photo, mask, name, opacity=0.5, min_side=0, view=(0.0, 0.0, 1.0, 1.0))
    assert (pixels(whole) == pixels(render.overlay(photo, mask, name, opacity=0.5, min_side=0))).all()


def to_rgb_bytes(colour_name: str) -> np.ndarray:
    return (np.asarray(to_rgba(colour_name)[:3]) * 255).round().astype(int)


def test_out_of_range_masks_are_clipped_on_the_absolute_scale() -> None:
    mask = np.array([[-0.5, 1.5]], dtype=np.float32)
    image = pixels(render.mask_image(mask, "jet"))
    assert (image[0, 0] == colour("jet", 0.0)).all() and (image[0, 1] == colour("jet", 1.0)).all()


def test_colormaps_are_checked_in_one_place() -> None:
    for name in render.COLORMAPS:
        assert render.check_colormap(name) == name
    with pytest.raises(InputError, match="unknown colormap 'rainbowz'; choose one of jet") as error:
        render.check_colormap("rainbowz")
    assert "\n" not in str(error.value)
    with pytest.raises(InputError, match="unknown colormap"):
        render.mask_image(np.zeros((2, 2)), "rainbowz")


def test_bar_colours_highlight_the_top_k() -> None:
    weights = np.array([0.1, 0.9, 0.3, 0.8, 0.5, 0.9, 0.2])
    colours = render.bar_colours(weights, 3)
    highlighted = [index for index, value in enumerate(colours) if value == render.HIGHLIGHT]
    assert highlighted == [1, 3, 5]
    assert all(value == render.BASE for index, value in enumerate(colours) if index not in highlighted)
    order = np.argsort(-weights, kind="stable")
    assert render.bar_colours(weights, 3, order) == [render.HIGHLIGHT] * 3 + [render.BASE] * 4
    assert render.bar_colours(weights, 0) == [render.BASE] * 7
    assert render.bar_colours(weights, 99) == [render.HIGHLIGHT] * 7
    # Ties keep channel order: of two equal weights the first channel wins.
    assert render.bar_colours(np.array([0.5, 0.5, 0.1]), 1) == [render.HIGHLIGHT, render.BASE, render.BASE]


def _bars_of(axes) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001 - a matplotlib Axes
    (collection,) = [c for c in axes.collections if isinstance(c, PolyCollection)]
    heights = np.array([path.vertices[:, 1].max() for path in collection.get_paths()])
    return heights, collection.get_facecolors()


@pytest.mark.parametrize("sort", [False, True])
def test_bar_chart_draws_the_weights_and_highlights_the_top_k(sort: bool) -> None:
    rng = np.random.default_rng(0)
    weights = rng.uniform(0, 1, 24).astype(np.float32)
    layer = ChannelLayer("stage.0", "eca", weights, None, None, 3)
    figure = render.channel_bar_chart(layer, top_k=4, sort=sort)
    heights, faces = _bars_of(figure.axes[0])
    order = np.argsort(-weights, kind="stable") if sort else np.arange(24)
    np.testing.assert_allclose(heights, weights[order], rtol=1e-6)
    red = np.flatnonzero(np.all(np.isclose(faces, to_rgba(render.HIGHLIGHT)), axis=1))
    top = set(np.argsort(-weights)[:4].tolist())
    assert {int(order[i]) for i in red} == top
    assert np.all(np.isclose(np.delete(faces, red, axis=0), to_rgba(render.BASE)))
    axes = figure.axes[0]
    assert axes.get_title() == "stage.0 (eca, 24 channels, k=3); top 4 in red"  # what is drawn, and what red means
    assert axes.get_ylim() == (0.0, 1.0)  # the gate's absolute scale
    assert axes.get_xlim() == (-0.7, 23.7)  # every bar in view
    (collection,) = [c for c in axes.collections if isinstance(c, PolyCollection)]
    for position, path in enumerate(collection.get_paths()):  # one 0.85-wide bar per channel, centred on its slot
        np.testing.assert_allclose(
            [path.vertices[:, 0].min(), path.vertices[:, 0].max()], [position - 0.425, position + 0.425]
        )
    assert not collection.get_linewidths().any()
    assert axes.get_ylabel() == "weight"
    assert axes.get_xlabel() == ("channels, sorted by weight" if sort else "channel")
    if sort:  # the top-k channels are named under their bars
        assert [label.get_text() for label in axes.get_xticklabels()] == [str(int(c)) for c in order[:4]]
    else:
        assert all(float(tick).is_integer() for tick in axes.get_xticks())


def _analysis(weights: np.ndarray, feature_maps: dict[str, np.ndarray] | None = None) -> ImageAnalysis:
    mask = (np.linspace(0.0, 1.0, 16, dtype=np.float32) ** 2).reshape(4, 4)
    layers = [ChannelLayer("c", "eca", weights, weights - 0.5, None, 3), SpatialLayer("s", mask, 7)]
    return ImageAnalysis("img", Image.new("RGB", (16, 16), "white"), ["a", "b"], np.array([0.3, 0.7]), layers,
                         feature_maps or {})  # fmt: skip


def test_branch_chart_draws_each_branch_in_the_chosen_order() -> None:
    weights = np.array([0.2, 0.95, 0.4, 0.7], dtype=np.float32)
    avg, mx = np.array([-1.0, 2.0, 0.5, -0.25]), np.array([0.3, -0.6, 1.5, 0.1])
    layer = ChannelLayer("c", "eca", weights, avg, mx, 3)
    for sort in (False, True):
        axes = render.branch_chart(layer, sort=sort).axes[0]
        heights = []
        for collection in axes.collections:
            for path in collection.get_paths():
                ys = path.vertices[:, 1]
                heights.append(ys.max() if ys.max() > 0 else ys.min())
        order = np.argsort(-weights, kind="stable") if sort else np.arange(4)
        np.testing.assert_allclose(heights, np.concatenate([avg[order], mx[order]]))
        low, high = axes.get_ylim()
        assert low < -1.0 and high > 2.0  # both branches' whole range in view
        # Side by side: every max bar lies right of every average bar, and the figure is titled with the layer.
        centres = [path.vertices[:, 0].mean() for collection in axes.collections for path in collection.get_paths()]
        assert max(centres[:4]) < min(centres[4:])
        assert axes.figure.get_suptitle() == "c"


def test_summary_bars_highlight_the_top_k() -> None:
    weights = np.array([0.2, 0.95, 0.4, 0.7, 0.1, 0.6], dtype=np.float32)
    figure = render.summary_figure(_analysis(weights), top_k=2)
    (channel_axes,) = [axes for axes in figure.axes if axes.collections]
    heights, faces = _bars_of(channel_axes)
    np.testing.assert_allclose(heights, weights, rtol=1e-6)
    red = np.flatnonzero(np.all(np.isclose(faces, to_rgba(render.HIGHLIGHT)), axis=1))
    assert red.tolist() == [1, 3]


def test_statistics_rows_have_the_shared_headers_and_the_layer_values() -> None:
    weights = np.array([0.2, 0.95, 0.4, 0.7], dtype=np.float32)
    analysis = _analysis(weights)
    headers, rows = render.statistics_rows(analysis)
    assert tuple(headers) == render.STATISTICS_HEADERS
    assert all(len(row) == len(headers) for row in rows)
    channel = channel_statistics(weights)
    assert rows[0][:3] == ["c", "eca", "4"]
    assert rows[0][3:] == [round(channel[key], 4) for key in ("mean", "std", "min", "max", "entropy")]
    spatial = mask_statistics(analysis.spatial_layers[0].mask)
    assert rows[1][:3] == ["s", "spatial", "4x4"]
    assert rows[1][3:] == [round(spatial[key], 4) for key in ("mean", "std", "min", "max", "kept_fraction")]
    assert rows[1][-1] == 0.3125  # (i/15)**2 > 0.5 for i = 11..15
    share = weights.astype(np.float64) / weights.sum()
    assert rows[0][-1] == round(float(-(share * np.log(share)).sum() / np.log(4)), 4)  # entropy by hand
    assert rows[0][3:7] == [round(float(v), 4) for v in (weights.mean(), weights.std(), 0.2, 0.95)]


def test_feature_maps_show_the_top_k_channels() -> None:
    """Each channel's map is one hot cell at its own column: the tiles show which channels were drawn."""
    channels = 6
    weights = np.array([0.1, 0.8, 0.3, 0.9, 0.2, 0.7], dtype=np.float32)
    maps = np.zeros((channels, 1, channels), dtype=np.float32)
    for channel in range(channels):
        maps[channel, 0, channel] = 1.0
    analysis = _analysis(weights, {"c": maps})
    sheet = pixels(render.feature_maps_image(analysis, "c", top_k=3, tile=120, columns=1))
    low, high = colour("viridis", 0.0), colour("viridis", 1.0)
    is_low, is_high = np.all(sheet == low, axis=2), np.all(sheet == high, axis=2)
    tile_rows = np.flatnonzero((is_low | is_high).any(axis=1))
    starts = [tile_rows[0]] + [row for previous, row in zip(tile_rows, tile_rows[1:]) if row != previous + 1]
    *tiles, bar = starts  # the last band is the colour bar under the tiles: low on the left, high on the right
    shown = []
    for start in tiles:
        columns = np.flatnonzero(is_low[start] | is_high[start])
        cell = (columns.max() - columns.min() + 1) // channels
        hot = np.flatnonzero(is_high[start])
        shown.append(int((hot.min() - columns.min()) // cell))
    assert shown == [3, 1, 5]  # the three largest weights, largest first
    assert np.flatnonzero(is_low[bar]).max() < np.flatnonzero(is_high[bar]).min()
    with pytest.raises(ValueError, match="no feature maps for 's'"):
        render.feature_maps_image(analysis, "s")


def _wide_analysis() -> ImageAnalysis:
    """A spatial mask 3 rows high and 5 columns wide, on an image of the same aspect."""
    mask = np.linspace(0.1, 0.9, 15, dtype=np.float32).reshape(3, 5)
    layers = [SpatialLayer("s", mask, 7)]
    return ImageAnalysis("img", Image.new("RGB", (50, 30), "white"), ["a", "b"], np.array([0.3, 0.7]), layers)


def _label_strip(text: str, width: int, height: int = render.TEXT_PX + 8) -> np.ndarray:
    """A grid's title line as the grid writes ``text`` at the tile's corner."""
    strip = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(strip).text((2, 2), text, fill="black", font=render._font())
    return pixels(strip)


def test_non_square_masks_are_titled_height_by_width_in_every_view() -> None:
    analysis = _wide_analysis()
    assert analysis.spatial_layers[0].size == (3, 5)
    grid = render.overlay_grid(analysis, tile=256, weak_notes=False)  # as wide as its colour bar: no margin
    label = render.TEXT_PX + 8
    strip = pixels(grid)[:label]
    assert (strip == _label_strip("s (3x5)", grid.width)).all()
    assert not (strip == _label_strip("s (5x3)", grid.width)).all()  # the comparison can tell them apart
    # The tile keeps the image's aspect: wider than high, centred under its title.
    tile = pixels(grid)[label : label + 256]
    coloured = np.flatnonzero((tile != 255).any(axis=2).any(axis=1))
    columns = np.flatnonzero((tile != 255).any(axis=2).any(axis=0))
    assert columns.size > coloured.size
    titles = [axes.get_title() for axes in render.summary_figure(analysis).axes]
    assert any(title.startswith("s\n3x5, mean") for title in titles), titles
    headers, rows = render.statistics_rows(analysis)
    assert rows[0][:3] == ["s", "spatial", "3x5"]
    view = render.mask_image(analysis.spatial_layers[0].mask, size=(50, 30))
    assert view.size == (50, 30)
    np.testing.assert_array_equal(pixels(view)[::10, ::10], pixels(render.mask_image(analysis.spatial_layers[0].mask)))


def _contains_text(sheet: np.ndarray, text: str, colour: tuple[int, int, int] = (0, 0, 0)) -> bool:
    """Whether ``text``, drawn on white in the pictures' font and ``colour``, appears in ``sheet`` pixel for pixel."""
    patch = Image.new("RGB", (render.TEXT_PX * len(text), render.TEXT_PX + 8), "white")
    ImageDraw.Draw(patch).text((0, 0), text, fill=colour, font=render._font())
    drawn = pixels(patch).astype(np.int16)
    ink = (drawn != 255).any(axis=2)
    rows, columns = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    want = drawn[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]
    height, width = want.shape[:2]
    sheet = sheet.astype(np.int16)
    # Candidates: where the patch's first inked pixel matches; then the whole patch is compared there.
    y0, x0 = np.argwhere((want != 255).any(axis=2))[0]
    for y, x in np.argwhere(np.all(sheet == want[y0, x0], axis=2)):
        top, left = y - y0, x - x0
        if top < 0 or left < 0 or top + height > sheet.shape[0] or left + width > sheet.shape[1]:
            continue
        if np.array_equal(sheet[top : top + height, left : left + width], want):
            return True
    return False


def test_every_feature_map_tile_names_its_channel_and_weight_and_the_bar_chart_keeps_channel_order() -> None:
    weights = np.array([0.1, 0.8, 0.3, 0.9, 0.2, 0.7], dtype=np.float32)
    maps = np.random.default_rng(0).uniform(0, 1, (6, 3, 3)).astype(np.float32)
    sheet = pixels(render.feature_maps_image(_analysis(weights, {"c": maps}), "c", top_k=2, tile=120, columns=2))
    assert _contains_text(sheet, "ch 3: w=0.90") and _contains_text(sheet, "ch 1: w=0.80")
    assert not _contains_text(sheet, "ch 5: w=0.70")  # only the top 2 are drawn
    # By default the bars keep channel order, so a channel sits at the same place for every image.
    heights, _faces = _bars_of(render.channel_bar_chart(ChannelLayer("c", "eca", weights, None, None, 3)).axes[0])
    np.testing.assert_allclose(heights, weights, rtol=1e-6)


def test_a_weak_mask_s_tile_says_so_in_the_highlight_colour() -> None:
    from PIL import ImageColor

    flat = np.full((4, 4), 0.5, dtype=np.float32)
    flat[0, 0] = 0.52
    analysis = ImageAnalysis(
        "img", Image.new("RGB", (16, 16), "white"), ["a", "b"], np.array([0.3, 0.7]), [SpatialLayer("s", flat, 7)]
    )
    note = render.mask_range_note(flat)
    assert note
    sheet = pixels(render.overlay_grid(analysis, weak_notes=True))
    highlight = ImageColor.getrgb(render.HIGHLIGHT)
    assert _contains_text(sheet, f"mask {render.scale_numbers(0.5, 0.52)}: almost uniform", highlight)
    assert _contains_text(sheet, "s (4x4)")  # the title stays black
    assert not _contains_text(pixels(render.overlay_grid(analysis, weak_notes=False)), "almost uniform", highlight)


def test_channels_tied_at_one_weight_are_ranked_by_their_score_before_the_gate_and_the_tie_is_said() -> None:
    weights = np.array([1.0, 0.4, 1.0, 1.0, 0.9, 1.0], dtype=np.float32)  # four channels saturated at exactly 1
    scores = np.array([7.0, -0.4, 12.0, 9.0, 2.2, 7.0])
    assert render.top_k_channels(weights, 3, scores).tolist() == [2, 3, 0]  # by score; equal scores by channel
    assert render.tie_note(weights, 3, scores) == (
        "4 channels tie at w=1.00 for the last 3 places: ranked by score before the gate"
    )
    assert render.top_k_channels(weights, 3).tolist() == [0, 2, 3]  # no scores: the first channels
    assert render.tie_note(weights, 3) == "4 channels tie at w=1.00 for the last 3 places: the first channels taken"
    assert render.tie_note(weights, 4, scores) is None and render.tie_note(weights, 5, scores) is None
    title = render.channel_bar_chart(ChannelLayer("c", "eca", weights, None, None, 3), top_k=2).axes[0].get_title()
    assert title.endswith("\n4 channels tie at w=1.00 for the last 2 places: the first channels taken")


def test_a_feature_map_keeps_its_aspect_down_to_one_pixel_and_the_image_opens_the_report() -> None:
    weights = np.array([0.5, 0.9], dtype=np.float32)
    maps = np.zeros((2, 1, 400), dtype=np.float32)  # one row of 400 columns: a strip, not a square
    sheet = pixels(render.feature_maps_image(_analysis(weights, {"c": maps}), "c", top_k=1, tile=120, columns=1))
    low = np.all(sheet == colour("viridis", 0.0), axis=2)
    rows = np.flatnonzero(low.any(axis=1))
    bands = np.split(rows, np.flatnonzero(np.diff(rows) != 1) + 1)
    tile, bar = bands[0], bands[-1]
    assert len(bands) == 2 and len(tile) == 1 and np.flatnonzero(low[tile[0]]).size == 120  # 120x1, as 400x1 is
    assert len(bar) > 1
    # The report opens on the image and its prediction, left of every overlay.
    figure = render.summary_figure(_analysis(weights))
    first = next(axes for axes in figure.axes if axes.get_title().startswith("b (70.0%)"))
    overlays = [axes for axes in figure.axes if axes.get_title().startswith("s\n")]
    assert overlays and all(first.get_position().x0 < axes.get_position().x0 for axes in overlays)
    assert first.get_position().y0 == pytest.approx(overlays[0].get_position().y0)


def test_an_enlarged_feature_map_keeps_crisp_cells() -> None:
    weights = np.array([0.5, 0.9], dtype=np.float32)
    maps = np.zeros((2, 80, 80), dtype=np.float32)
    maps[:, ::2, ::2] = 1.0  # a checkerboard of single cells, enlarged 1.5 times into a 120 px tile
    sheet = pixels(render.feature_maps_image(_analysis(weights, {"c": maps}), "c", top_k=1, tile=120, columns=1))
    low, high = np.all(sheet == colour("viridis", 0.0), axis=2), np.all(sheet == colour("viridis", 1.0), axis=2)
    rows = np.flatnonzero(high.any(axis=1))
    tile = sheet[rows.min() : rows.min() + 100]
    columns = np.flatnonzero(high[rows.min()])
    cells = tile[:, columns.min() : columns.min() + 100]
    mixed = ~(np.all(cells == colour("viridis", 0.0), axis=2) | np.all(cells == colour("viridis", 1.0), axis=2))
    assert not mixed.any()  # every pixel is one cell's own colour: no blend between cells
    assert low.any()


def test_the_feature_sheet_ends_in_a_min_to_max_colour_bar() -> None:
    weights = np.array([0.5, 0.9], dtype=np.float32)
    maps = np.random.default_rng(2).uniform(0, 1, (2, 5, 5)).astype(np.float32)
    sheet = render.feature_maps_image(_analysis(weights, {"c": maps}), "c", top_k=2, tile=120, columns=2)
    bar = render.colour_bar(
        "viridis", sheet.width, [(0.0, "min"), (1.0, "max")], "each map stretched from its own min to max"
    )
    assert np.array_equal(pixels(sheet)[-bar.height :], pixels(bar))
