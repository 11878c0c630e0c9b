"""Figures and overlays from recorded attention, with no model and no UI.

Everything here is a pure function of recorded data. Matplotlib is used
through ``Figure`` objects on the Agg canvas, never through pyplot's global
state, so concurrent requests in a web server cannot draw into each other's
figures. Overlays are built with Pillow alone because they must be fast and
keep the uploaded image's own resolution.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib import colormaps  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from matplotlib.ticker import FixedLocator, MaxNLocator  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

from .analysis import BranchLayer, ChannelLayer, ElementLayer, ImageAnalysis, layer_statistics  # noqa: E402
from .display import COLORMAPS, DEFAULT_COLORMAP, DEFAULT_OPACITY, DEFAULT_TOP_K  # noqa: E402
from .errors import InputError  # noqa: E402
from .images import WHOLE  # noqa: E402

STATISTICS_HEADERS = ("layer", "type", "size", "mean", "std", "min", "max", "entropy / kept")
HIGHLIGHT = "#d62728"
# A title with an explicit position: matplotlib otherwise measures the tick
# labels on every draw to decide whether to move it up.
_TITLE = {"y": 1.0, "pad": 6.0}
BASE = "#7f9fbf"
# A mask spanning less than this (max - min) is one flat colour on the true 0-1 scale: its titles say so.
WEAK_MASK_RANGE = 0.1
# A chart's margins in inches (left, bottom, right, top): room for the axis labels and the title.
CHART_MARGINS = (0.6, 0.5, 0.15, 0.5)
# Every heatmap is drawn at least this large on its long side, so a 28 px input still reads on a projector.
MIN_HEATMAP_SIDE = 256
# What the model did not see (cut by its centre crop) is faded this far towards white, inside this outline.
CUT_FADE = 0.6
CUT_OUTLINE = "#333333"
# Text drawn into pictures, in pixels (and chart text in points at 100 dpi): at least 11 px on screen
# when a panel is shown at 80% of its size.
TEXT_PX = 14
SMALL_PT = 10
TITLE_PT = 11


class LiteralFigure(Figure):
    """A figure that draws every text literally, because class and file names come from users.

    Matplotlib reads text between two dollar signs as mathtext, so a class
    named ``$\\undefined$`` would fail the whole figure; turning parsing off
    for every text as the figure draws covers each label, on any canvas and
    in any file format, without a wrapper at each call.
    """

    def draw(self, renderer: Any) -> None:
        for text in self.findobj(Text):
            text.set_parse_math(False)
        super().draw(renderer)


def new_figure(width: float, height: float, margins: tuple[float, float, float, float] | None = None) -> Figure:
    """A figure of its own on the Agg canvas (never pyplot's), so concurrent requests cannot draw into it.

    ``margins`` fix the axes' margins in inches (left, bottom, right, top)
    instead of a layout engine, because a layout engine measures every artist
    on each draw and the web app redraws these figures on every change of a
    display control.
    """
    figure = LiteralFigure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    if margins is not None:
        left, bottom, right, top = margins
        figure.subplots_adjust(left=left / width, bottom=bottom / height, right=1 - right / width, top=1 - top / height)
    return figure


def _bars(
    axes: object,
    positions: np.ndarray,
    heights: np.ndarray,
    colours: Sequence[str] | str,
    width: float = 0.85,
    bottoms: np.ndarray | None = None,
) -> None:
    """Bars as one PolyCollection, because one artist draws far faster than a Rectangle per channel.

    The caller sets the axis limits, since collections do not extend them.
    """
    positions = np.asarray(positions, dtype=np.float64)
    heights = np.asarray(heights, dtype=np.float64)
    half = width / 2
    low = np.zeros_like(heights) if bottoms is None else np.asarray(bottoms, dtype=np.float64)
    high = low + heights
    corners = np.stack(
        [
            np.stack([positions - half, low], axis=1),
            np.stack([positions - half, high], axis=1),
            np.stack([positions + half, high], axis=1),
            np.stack([positions + half, low], axis=1),
        ],
        axis=1,
    )
    axes.add_collection(PolyCollection(corners, facecolors=colours, linewidths=0))  # type: ignore[attr-defined]


def figure_to_image(figure: Figure) -> Image.Image:
    """Rasterise a figure to an RGB image."""
    canvas = figure.canvas if isinstance(figure.canvas, FigureCanvasAgg) else FigureCanvasAgg(figure)
    canvas.draw()
    return Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy())


def figure_to_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def gate_scores(layer: ChannelLayer) -> np.ndarray | None:
    """Each channel's score before the gate (the sum of its pooling branches), None when the layer has none."""
    parts = [part for part in (layer.avg, layer.max) if part is not None]
    if not parts:
        return None
    return np.sum([np.asarray(part, dtype=np.float64) for part in parts], axis=0)


def weight_order(weights: np.ndarray, scores: np.ndarray | None = None) -> np.ndarray:
    """Channels by weight, largest first; equal weights by their score before the gate, then in channel order.

    A saturated gate gives several channels a weight of exactly 1.0; the
    score before the gate still tells them apart.
    """
    weights = np.asarray(weights, dtype=np.float64)
    if scores is None:
        return np.argsort(-weights, kind="stable")
    return np.lexsort((np.arange(len(weights)), -np.asarray(scores, dtype=np.float64), -weights))


def top_k_channels(weights: np.ndarray, k: int, scores: np.ndarray | None = None) -> np.ndarray:
    """Indices of the k largest weights, largest first (ties: see ``weight_order``)."""
    k = max(0, min(int(k), len(weights)))
    return weight_order(weights, scores)[:k]


def tie_note(weights: np.ndarray, k: int, scores: np.ndarray | None = None) -> str | None:
    """ "4 channels tie at w=1.00 for the last 2 places: ranked by score before the gate" when a tie decides the top k.

    None when the k-th and the next channel's weights differ (or there is no next channel).
    """
    order = weight_order(weights, scores)
    k = max(0, min(int(k), len(order)))
    if k == 0 or k >= len(order) or weights[order[k - 1]] != weights[order[k]]:
        return None
    value = weights[order[k - 1]]
    tied = int(np.sum(weights == value))
    places = int(np.sum(weights[order[:k]] == value))
    how = "ranked by score before the gate" if scores is not None else "the first channels taken"
    return f"{tied} channels tie at w={value:.2f} for the last {places} place{'s' if places > 1 else ''}: {how}"


def bar_colours(
    weights: np.ndarray, top_k: int, order: np.ndarray | None = None, scores: np.ndarray | None = None
) -> list[str]:
    """The colour of each bar, in ``order`` (channel order by default): the top-k channels are highlighted."""
    top = set(top_k_channels(weights, top_k, scores).tolist())
    order = np.arange(len(weights)) if order is None else order
    return [HIGHLIGHT if int(channel) in top else BASE for channel in order]


def channel_bar_chart(
    layer: ChannelLayer, top_k: int = DEFAULT_TOP_K, sort: bool = False, figure: Figure | None = None
) -> Figure:
    """Bar chart of one layer's channel weights on the gate's 0-1 scale.

    Channels appear in channel order (so the same channel sits at the same
    place for every image) unless ``sort`` asks for largest first; the top-k
    channels are highlighted and labelled either way.
    """
    figure = figure or new_figure(7.0, 2.8, CHART_MARGINS)
    axes = figure.add_subplot()
    weights = layer.weights
    scores = gate_scores(layer)
    order = weight_order(weights, scores) if sort else np.arange(len(weights))
    top = top_k_channels(weights, top_k, scores)
    positions = np.arange(len(order))
    _bars(axes, positions, weights[order], bar_colours(weights, top_k, order, scores))
    axes.set_ylim(0, 1)
    axes.set_xlim(-0.7, len(order) - 0.3)
    axes.set_ylabel("weight")
    axes.set_xlabel("channels, sorted by weight" if sort else "channel")
    # Few ticks: every tick is several artists, and artists are most of the drawing time.
    axes.yaxis.set_major_locator(FixedLocator([0.0, 0.5, 1.0]))
    axes.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
    if sort:
        labelled = [int(c) for c in order[: min(len(order), max(top_k, 1))]]
        if len(order) <= 40:
            axes.set_xticks(positions[: len(labelled)])
            axes.set_xticklabels([str(c) for c in labelled], fontsize=SMALL_PT)
        else:
            # Bars a few pixels wide leave no room for labels under them: name the top channels instead.
            axes.set_xticks([])
            axes.set_xlabel("channels, sorted by weight; top: " + ", ".join(map(str, labelled)))
    kernel = f", k={layer.kernel_size}" if layer.kernel_size else ""
    gain = f", features × {layer.gain:g}·weight" if layer.gain != 1.0 else ""
    title = f"{layer.name} ({layer.type}, {layer.channels} channels{kernel}{gain}); top {len(top)} in red"
    tie = tie_note(weights, top_k, scores)
    axes.set_title(title + (f"\n{tie}" if tie else ""), fontsize=TITLE_PT, **_TITLE)
    axes.tick_params(labelsize=SMALL_PT)
    axes.xaxis.label.set_size(SMALL_PT)
    axes.yaxis.label.set_size(SMALL_PT)
    axes.grid(axis="y", alpha=0.3)
    return figure


BRANCH_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860")


def branch_weights_chart(layer: BranchLayer, sort: bool = False) -> Figure:
    """Each channel's softmax weights over the layer's branches as one stacked bar on the 0-1 scale.

    A bar split half and half means the channel mixes its branches equally;
    one colour filling it means the channel picked that branch. ``sort``
    orders channels by the first branch's share.
    """
    figure = new_figure(7.0, 2.8, CHART_MARGINS)
    axes = figure.add_subplot()
    weights = layer.weights.astype(np.float64)  # (P, C)
    order = np.argsort(-weights[0], kind="stable") if sort else np.arange(layer.channels)
    positions = np.arange(len(order))
    bottoms = np.zeros(len(order))
    for index, share in enumerate(weights[:, order]):
        colour = BRANCH_COLOURS[index % len(BRANCH_COLOURS)]
        _bars(axes, positions, share, colour, width=1.0, bottoms=bottoms)
        label = layer.branches[index] if index < len(layer.branches) else f"branch {index + 1}"
        axes.plot([], [], color=colour, linewidth=6, label=f"{label}: mean {share.mean():.2f}")
        bottoms = bottoms + share
    axes.set_ylim(0, 1.3)  # the band above 1 holds the legend, clear of the bars
    axes.set_xlim(-0.7, len(order) - 0.3)
    axes.set_ylabel("share")
    axes.set_xlabel(f"channels, sorted by {layer.branches[0] if layer.branches else 'branch 1'}" if sort else "channel")
    axes.yaxis.set_major_locator(FixedLocator([0.0, 0.5, 1.0]))
    axes.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
    axes.legend(loc="upper center", fontsize=SMALL_PT, frameon=False, ncol=min(len(weights), 3))
    axes.set_title(
        f"{layer.name} ({layer.type}): {layer.channels} channels' weights over {len(weights)} branches",
        fontsize=TITLE_PT,
        **_TITLE,
    )
    axes.tick_params(labelsize=SMALL_PT)
    axes.xaxis.label.set_size(SMALL_PT)
    axes.yaxis.label.set_size(SMALL_PT)
    return figure


def rows_and_columns_image(
    layer: ElementLayer, colormap: str = DEFAULT_COLORMAP, stretch: bool = False, size: tuple[int, int] | None = None
) -> Image.Image:
    """A rows-times-columns gate: its per-pixel product (the mean over channels) with the two factors beside it.

    The column factor, averaged over channels, runs along the top and the row
    factor down the left, in the same colours as the product, so a reader
    sees which rows and which columns made each bright pixel; the panel's
    title says which is which.
    """
    if layer.rows is None or layer.columns is None:
        return mask_image(layer.mask, colormap, stretch, size)
    rows, columns = layer.rows.mean(axis=0), layer.columns.mean(axis=0)
    if stretch:  # one stretch for all three, so equal colours stay equal values
        everything = np.concatenate([layer.mask.ravel(), rows, columns])
        low, high = float(everything.min()), float(everything.max())
        span = high - low if high > low else 1.0
        shown = [(values - low) / span for values in (layer.mask, rows, columns)]
    else:
        shown = [layer.mask, rows, columns]
    product = Image.fromarray(colorize(shown[0], colormap))
    if size is not None:
        product = product.resize(size, Image.Resampling.NEAREST)
    strip, gap = max(12, product.width // 12), 6
    nearest = Image.Resampling.NEAREST
    left = Image.fromarray(colorize(shown[1][:, None], colormap)).resize((strip, product.height), nearest)
    top = Image.fromarray(colorize(shown[2][None, :], colormap)).resize((product.width, strip), nearest)
    width = strip + gap + product.width
    label = 2 * TEXT_PX + 4  # clear space above, where a page's panel label sits
    canvas = Image.new("RGB", (width, label + strip + gap + product.height), "white")
    canvas.paste(top, (strip + gap, label))
    canvas.paste(left, (0, label + strip + gap))
    canvas.paste(product, (strip + gap, label + strip + gap))
    return canvas


def branch_chart(layer: ChannelLayer, sort: bool = False) -> Figure:
    """The avg and max branch parts before the gate, side by side, in the same channel order."""
    branches = [(label, values) for label, values in (("avg", layer.avg), ("max", layer.max)) if values is not None]
    figure = new_figure(7.0, 2.8, margins=(0.75, 0.35, 0.15, 0.55))
    if not branches:
        axes = figure.add_subplot()
        axes.text(0.5, 0.5, "this layer has no pooling branches", ha="center", va="center")
        axes.set_axis_off()
        return figure
    order = np.argsort(-layer.weights, kind="stable") if sort else np.arange(layer.channels)
    # All branches share one axes, side by side with a gap: they share the
    # y scale anyway, and each extra axes costs as much to draw as its bars.
    axes = figure.add_subplot()
    count = len(order)
    gap = max(2.0, 0.06 * count)
    low = min(float(values.min()) for _, values in branches)
    high = max(float(values.max()) for _, values in branches)
    pad = 0.05 * max(high - low, 1e-6)
    bottom, top = min(low, 0) - pad, max(high, 0) + pad
    for index, (label, values) in enumerate(branches):
        offset = index * (count + gap)
        colours = np.where(values[order] >= 0, "#2c7fb8", "#f03b20")
        _bars(axes, offset + np.arange(count), values[order], colours.tolist())
        axes.text(
            offset + count / 2, top, f"{label} branch (before the gate)", ha="center", va="bottom", fontsize=SMALL_PT
        )
        if index:
            axes.axvline(offset - gap / 2, color="0.6", linewidth=0.8)
    span = len(branches) * count + (len(branches) - 1) * gap
    axes.axhline(0, color="black", linewidth=0.6)
    axes.set_ylim(bottom, top)
    axes.set_xlim(-0.7, span - 0.3)
    axes.set_xticks([])
    axes.set_xlabel(f"{count} channels per branch, " + ("sorted by final weight" if sort else "in channel order"))
    axes.set_ylabel("logit part")
    axes.yaxis.set_major_locator(MaxNLocator(nbins=5))
    axes.grid(axis="y", alpha=0.3)
    axes.tick_params(labelsize=SMALL_PT)
    figure.suptitle(layer.name, fontsize=TITLE_PT)
    return figure


def unit_scale(values: np.ndarray, stretch: bool = False) -> np.ndarray:
    """Values on the 0-1 colour scale: their own min-max stretched to it, or clipped to it as they are.

    A constant map stretches to all zeros, since it has no contrast to show.
    """
    values = np.asarray(values, dtype=np.float32)
    if stretch:
        low, high = float(values.min()), float(values.max())
        return (values - low) / (high - low) if high > low else np.zeros_like(values)
    return np.clip(values, 0.0, 1.0)


def mask_range_note(mask: np.ndarray) -> str | None:
    """ "mask 0.97–1.00: this layer scales every pixel almost equally" for a weak mask; None otherwise.

    Such a mask looks uniform on the true scale, so its title gives the numbers
    instead of leaving a flat colour unexplained.
    """
    low, high = float(np.min(mask)), float(np.max(mask))
    if high - low >= WEAK_MASK_RANGE:
        return None
    return f"mask {low:.2f}–{high:.2f}: this layer scales every pixel almost equally"


def check_colormap(name: str) -> str:
    """``name`` if it is one of COLORMAPS, else InputError: the one place colormap names are checked."""
    if name not in COLORMAPS:
        raise InputError(f"unknown colormap {name!r}; choose one of {', '.join(COLORMAPS)}")
    return name


@functools.cache
def _lookup(colormap: str) -> np.ndarray:
    """The colormap's 256 colours (256, 3) uint8, made once per name and read-only, so threads can share it."""
    table = np.ascontiguousarray(colormaps[colormap](np.arange(256), bytes=True)[:, :3])
    table.setflags(write=False)
    return table


def colorize(values: np.ndarray, colormap: str = DEFAULT_COLORMAP) -> np.ndarray:
    """RGB uint8 array for values in [0, 1]: the colour ``matplotlib.colormaps[colormap](value, bytes=True)`` gives."""
    # Matplotlib's own binning of [0, 1] into its 256 colours, through one table lookup.
    return _lookup(check_colormap(colormap))[np.minimum((np.clip(values, 0.0, 1.0) * 256).astype(np.intp), 255)]


def mask_image(
    mask: np.ndarray, colormap: str = DEFAULT_COLORMAP, stretch: bool = False, size: tuple[int, int] | None = None
) -> Image.Image:
    """The raw mask in colour, enlarged with nearest-neighbour so each cell stays visible."""
    image = Image.fromarray(colorize(unit_scale(mask, stretch), colormap))
    if size is not None:
        image = image.resize(size, Image.Resampling.NEAREST)
    return image


def enlarged(image: Image.Image, side: int = MIN_HEATMAP_SIDE) -> Image.Image:
    """``image`` scaled up (bicubic) until its long side is at least ``side``; a larger image is left as it is."""
    longest = max(image.size)
    if longest >= side:
        return image
    factor = side / longest
    return image.resize((round(image.width * factor), round(image.height * factor)), Image.Resampling.BICUBIC)


def overlay(
    image: Image.Image,
    mask: np.ndarray,
    colormap: str = DEFAULT_COLORMAP,
    opacity: float = DEFAULT_OPACITY,
    stretch: bool = False,
    min_side: int = MIN_HEATMAP_SIDE,
    view: tuple[float, float, float, float] = WHOLE,
) -> Image.Image:
    """Heatmap of ``mask`` blended over the part of ``image`` the model saw, at least ``min_side`` px.

    The mask's cells are enlarged with nearest-neighbour, so each stays a
    visible square, over the image scaled up smoothly beneath them. By default
    the colour scale is the gate's absolute 0-1 range, so a mask that keeps
    everything looks uniformly hot instead of being stretched into false
    contrast; ``stretch`` maps the mask's own min-max to the full scale. When
    the model saw a crop (``view``, fractions of the image), the rest is faded
    and the crop outlined, so no one reads the mask as covering what was cut.
    """
    if not 0.0 <= opacity <= 1.0:
        raise ValueError("opacity must be between 0 and 1")
    base = enlarged(image.convert("RGB"), min_side)
    left, top, right, bottom = view
    box = (round(left * base.width), round(top * base.height), round(right * base.width), round(bottom * base.height))
    seen = base.crop(box) if box != (0, 0, *base.size) else base
    heat = Image.fromarray(colorize(unit_scale(mask, stretch), colormap)).resize(seen.size, Image.Resampling.NEAREST)
    blended = Image.blend(seen, heat, float(opacity))
    if seen is base:
        return blended
    result = Image.blend(base, Image.new("RGB", base.size, "white"), CUT_FADE)
    result.paste(blended, box[:2])
    ImageDraw.Draw(result).rectangle((box[0], box[1], box[2] - 1, box[3] - 1), outline=CUT_OUTLINE, width=2)
    return result


def _font(size: int = TEXT_PX) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without scalable default font
        return ImageFont.load_default()


def _text_width(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont) -> float:
    return draw.textlength(text, font=font)


def fit_lines(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont, width: float) -> list[str]:
    """``text`` broken into lines no wider than ``width``, after a dot or a space, so a layer name is never cut."""
    pieces: list[str] = []
    current = ""
    for char in text:
        current += char
        if char in ". ":
            pieces.append(current)
            current = ""
    if current:
        pieces.append(current)
    lines: list[str] = []
    line = ""
    for piece in pieces:
        if line and _text_width(draw, (line + piece).rstrip(), font) > width:
            lines.append(line.rstrip())
            line = piece
        else:
            line += piece
    if line:
        lines.append(line.rstrip())
    return lines


def scale_numbers(low: float, high: float) -> str:
    """A range as it is written on the pictures (ASCII: Pillow's default font has no en dash)."""
    return f"{low:.2f} to {high:.2f}"


def colour_bar(
    colormap: str, width: int, ticks: Sequence[tuple[float, str]], caption: str, font_px: int = TEXT_PX
) -> Image.Image:
    """A horizontal colour bar ``width`` px wide: the colormap from 0 to 1, labelled ticks under it, and a caption.

    ``ticks`` are (position on the 0-1 scale, label) pairs.
    """
    font = _font(font_px)
    margin, bar_height = font_px * 2, max(12, font_px)
    length = max(16, width - 2 * margin)
    scratch = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    captions = fit_lines(scratch, caption, font, width - 8) if caption else []
    height = 4 + bar_height + 4 + font_px + 4 + len(captions) * (font_px + 4) + 2
    strip = Image.new("RGB", (width, height), "white")
    values = np.linspace(0.0, 1.0, length, dtype=np.float32)[None, :].repeat(bar_height, axis=0)
    strip.paste(Image.fromarray(colorize(values, colormap)), (margin, 4))
    draw = ImageDraw.Draw(strip)
    draw.rectangle((margin - 1, 3, margin + length, 4 + bar_height), outline="black")
    for position, label in ticks:
        x = margin + position * (length - 1)
        draw.line((x, 4 + bar_height, x, 8 + bar_height), fill="black")
        text_width = _text_width(draw, label, font)
        left = min(max(0.0, x - text_width / 2), width - text_width)
        draw.text((left, 8 + bar_height), label, fill="black", font=font)
    y = 12 + bar_height + font_px
    for line in captions:
        draw.text(((width - _text_width(draw, line, font)) / 2, y), line, fill="black", font=font)
        y += font_px + 4
    return strip


def mask_ticks(mask: np.ndarray | None, stretch: bool) -> tuple[list[tuple[float, str]], str]:
    """The colour bar's ticks and caption for one mask: the true 0-1 scale, or the range it was stretched from."""
    if stretch and mask is not None:
        low, high = float(np.min(mask)), float(np.max(mask))
        return [(0.0, f"{low:.2f}"), (1.0, f"{high:.2f}")], f"mask, stretched from {scale_numbers(low, high)}"
    if stretch:
        return [(0.0, "min"), (1.0, "max")], "each tile stretched from its own min to max"
    return [(0.0, "0"), (0.5, "0.5"), (1.0, "1")], "mask value: 0 suppresses a pixel, 1 keeps it"


def with_colour_bar(
    image: Image.Image, colormap: str, ticks: Sequence[tuple[float, str]], caption: str, min_width: int = 256
) -> Image.Image:
    """``image`` with a colour bar under it, as wide as the image (at least ``min_width``)."""
    return stacked([image, colour_bar(colormap, max(image.width, min_width), ticks, caption)], gap=0)


def stacked(images: Sequence[Image.Image], gap: int = 16) -> Image.Image:
    """Pictures one under another, centred on white, so that separately drawn figures make one page."""
    if not images:
        raise ValueError("nothing to stack")
    width = max(image.width for image in images)
    sheet = Image.new("RGB", (width, sum(image.height for image in images) + gap * (len(images) - 1)), "white")
    y = 0
    for image in images:
        sheet.paste(image.convert("RGB"), ((width - image.width) // 2, y))
        y += image.height + gap
    return sheet


NO_SPATIAL_GATE = "No spatial gate in this model: its attention weights channels, not pixels."
# What a tile of a gate over channels and pixels shows, said where the tile is seen.
ELEMENT_NOTE = "gate's mean over channels"


def text_image(text: str, width: int) -> Image.Image:
    """``text`` in black on white, wrapped to ``width`` pixels: a picture panel that has nothing else to show."""
    font = _font()
    lines = fit_lines(ImageDraw.Draw(Image.new("RGB", (1, 1))), text, font, width - 16)
    line = TEXT_PX + 4
    image = Image.new("RGB", (width, 16 + line * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    for number, words in enumerate(lines):
        draw.text((8, 8 + number * line), words, fill="black", font=font)
    return image


def overlay_grid(
    analysis: ImageAnalysis,
    colormap: str = DEFAULT_COLORMAP,
    opacity: float = DEFAULT_OPACITY,
    stretch: bool = False,
    tile: int = MIN_HEATMAP_SIDE,
    weak_notes: bool = True,
) -> Image.Image:
    """All spatial layers' overlays side by side, each titled with its layer and mask size, over one colour bar.

    With ``weak_notes``, a weak mask's tile gets a line with its range (see
    ``mask_range_note``), so a flat tile is explained where it is seen; a
    stretched tile always states the range it was stretched from.
    """
    layers = analysis.spatial_layers
    if not layers:
        return text_image(NO_SPATIAL_GATE, tile * 2)
    base = analysis.image.convert("RGB")
    base = enlarged(base, tile)
    base.thumbnail((tile, tile), Image.Resampling.BILINEAR)
    font = _font()
    scratch = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    gap, line = 6, TEXT_PX + 4
    titles = []
    for layer in layers:
        height, width = layer.size
        lines = fit_lines(scratch, f"{layer.name} ({height}x{width})", font, tile - 4)
        if isinstance(layer, ElementLayer):
            lines.append(ELEMENT_NOTE)
        low, high = float(np.min(layer.mask)), float(np.max(layer.mask))
        if stretch:
            lines.append(f"stretched from {scale_numbers(low, high)}")
        elif weak_notes and mask_range_note(layer.mask):
            lines.append(f"mask {scale_numbers(low, high)}: almost uniform")
        titles.append(lines)
    label_height = 4 + max(len(lines) for lines in titles) * line
    width = len(layers) * (tile + gap) - gap
    grid = Image.new("RGB", (width, tile + label_height), "white")
    draw = ImageDraw.Draw(grid)
    for index, (layer, lines) in enumerate(zip(layers, titles)):
        tile_image = overlay(base, layer.mask, colormap, opacity, stretch, min_side=0, view=analysis.view)
        x = index * (tile + gap)
        grid.paste(tile_image, (x + (tile - tile_image.width) // 2, label_height + (tile - tile_image.height) // 2))
        for number, text in enumerate(lines):
            weak = number > 0 and text.startswith("mask ")
            draw.text((x + 2, 2 + number * line), text, fill=HIGHLIGHT if weak else "black", font=font)
    ticks, caption = mask_ticks(None, stretch)
    if not stretch:
        caption = "mask value on every tile: 0 suppresses a pixel, 1 keeps it"
    return with_colour_bar(grid, colormap, ticks, caption)


def _feature_channels(analysis: ImageAnalysis, layer_name: str, top_k: int) -> tuple[ChannelLayer, np.ndarray]:
    """The channel layer whose input features were recorded, and its top-k channels."""
    if layer_name not in analysis.feature_maps:
        raise ValueError(f"this analysis recorded no feature maps for {layer_name!r}; analyze with feature_layer set")
    layer = analysis.layer(layer_name)
    if not isinstance(layer, ChannelLayer):
        raise ValueError(f"{layer.name} is not a channel-attention layer")
    return layer, top_k_channels(layer.weights, top_k, gate_scores(layer))


def feature_maps_image(
    analysis: ImageAnalysis,
    layer_name: str,
    top_k: int = 8,
    tile: int = MIN_HEATMAP_SIDE,
    columns: int = 4,
    colormap: str = DEFAULT_COLORMAP,
) -> Image.Image:
    """The input feature maps of ``layer_name`` for its top-k weighted channels, from ``analysis.feature_maps``.

    Each map is stretched to its own min-max, which its label states, and
    enlarged with nearest-neighbour so its cells stay visible. Drawn with
    Pillow rather than matplotlib axes, because a web page redraws it on every
    change of layer or top-k.
    """
    layer, channels = _feature_channels(analysis, layer_name, top_k)
    features = analysis.feature_maps[layer_name]
    columns = min(columns, max(1, len(channels)))
    rows = max(1, int(np.ceil(len(channels) / columns)))
    font = _font()
    line, gap = TEXT_PX + 4, 8
    width = columns * (tile + gap) + gap
    scratch = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    title = fit_lines(scratch, f"Input feature maps of {layer.name}, top {len(channels)} channels", font, width - 12)
    tie = tie_note(layer.weights, top_k, gate_scores(layer))
    if tie:
        title += fit_lines(scratch, tie, font, width - 12)
    title_height = 6 + len(title) * line
    label_height = 2 * line
    height = title_height + rows * (tile + label_height + gap)
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    for number, text in enumerate(title):
        draw.text((gap, 4 + number * line), text, fill="black", font=font)
    for index, channel in enumerate(channels):
        values = features[int(channel)].astype(np.float32)
        tile_image = Image.fromarray(colorize(unit_scale(values, stretch=True), colormap))
        factor = tile / max(tile_image.size)
        size = (max(1, round(tile_image.width * factor)), max(1, round(tile_image.height * factor)))
        resample = Image.Resampling.NEAREST if factor >= 1 else Image.Resampling.BILINEAR
        tile_image = tile_image.resize(size, resample)
        row, column = divmod(index, columns)
        x = gap + column * (tile + gap)
        y = title_height + row * (tile + label_height + gap)
        draw.text((x, y), f"ch {int(channel)}: w={layer.weights[int(channel)]:.2f}", fill="black", font=font)
        numbers = scale_numbers(float(values.min()), float(values.max()))
        draw.text((x, y + line), f"stretched from {numbers}", fill="black", font=font)
        corner = (x + (tile - tile_image.width) // 2, y + label_height + (tile - tile_image.height) // 2)
        sheet.paste(tile_image, corner)
    return with_colour_bar(sheet, colormap, [(0.0, "min"), (1.0, "max")], "each map stretched from its own min to max")


def summary_figure(
    analysis: ImageAnalysis,
    colormap: str = DEFAULT_COLORMAP,
    opacity: float = DEFAULT_OPACITY,
    stretch: bool = False,
    top_k: int = DEFAULT_TOP_K,
) -> Figure:
    """A one-page report: the image and predictions, every mask overlay, every channel layer."""
    spatial = analysis.spatial_layers
    channel = analysis.channel_layers
    columns = max(2, len(spatial) + 1)
    rows = 1 + len(channel)
    figure = new_figure(2.6 * columns, 2.6 + 1.6 * len(channel), margins=(0.55, 0.3, 0.15, 0.4))
    grid = figure.add_gridspec(rows, columns, height_ratios=[2.6] + [1.6] * len(channel), hspace=0.55, wspace=0.08)
    # Each image cell is about 260 px wide at 100 dpi: draw from a thumbnail of
    # twice that size rather than overlaying a full-size upload for matplotlib to shrink.
    image = analysis.image.copy()
    image.thumbnail((520, 520), Image.Resampling.BILINEAR)
    axes = figure.add_subplot(grid[0, 0])
    axes.imshow(np.asarray(image))
    best, probability = analysis.top(1)[0]
    axes.set_title(f"{analysis.classes[best]} ({probability:.1%})", fontsize=TITLE_PT, **_TITLE)
    axes.set_axis_off()
    for index, layer in enumerate(spatial, start=1):
        axes = figure.add_subplot(grid[0, index])
        axes.imshow(np.asarray(overlay(image, layer.mask, colormap, opacity, stretch, view=analysis.view)))
        title = f"{layer.name}\n{layer.size[0]}x{layer.size[1]}, mean {layer.mask.mean():.2f}"
        if isinstance(layer, ElementLayer):
            title += f"\n{ELEMENT_NOTE}"
        axes.set_title(title, fontsize=SMALL_PT, **_TITLE)
        axes.set_axis_off()
    for row, layer in enumerate(channel, start=1):
        axes = figure.add_subplot(grid[row, :])
        scores = gate_scores(layer)
        _bars(axes, np.arange(layer.channels), layer.weights, bar_colours(layer.weights, top_k, scores=scores))
        axes.set_ylim(0, 1)
        axes.set_xlim(-0.7, layer.channels - 0.3)
        axes.set_ylabel("weight", fontsize=SMALL_PT)
        axes.set_title(f"{layer.name}: {layer.channels} channel weights", fontsize=SMALL_PT, **_TITLE)
        axes.yaxis.set_major_locator(FixedLocator([0.0, 0.5, 1.0]))
        axes.tick_params(labelsize=SMALL_PT)
    return figure


def statistics_rows(analysis: ImageAnalysis) -> tuple[list[str], list[list[object]]]:
    """Headers (STATISTICS_HEADERS) and rows of per-layer statistics for a table."""
    rows = []
    for stats in layer_statistics(analysis):
        last = stats.get("entropy", stats.get("kept_fraction"))
        rows.append(
            [stats["layer"], stats["type"], stats["size"]]
            + [round(float(stats[k]), 4) for k in ("mean", "std", "min", "max")]
            + [round(float(last), 4)]
        )
    return list(STATISTICS_HEADERS), rows


def save_report(analysis: ImageAnalysis, path: str, **options: object) -> None:
    """Write the summary figure as a PNG."""
    figure = summary_figure(analysis, **options)  # type: ignore[arg-type]
    figure.savefig(path, format="png")


__all__: Sequence[str] = (
    "COLORMAPS",
    "STATISTICS_HEADERS",
    "bar_colours",
    "branch_chart",
    "channel_bar_chart",
    "check_colormap",
    "colorize",
    "colour_bar",
    "enlarged",
    "gate_scores",
    "feature_maps_image",
    "figure_to_image",
    "figure_to_png",
    "new_figure",
    "mask_image",
    "mask_range_note",
    "overlay",
    "overlay_grid",
    "save_report",
    "stacked",
    "statistics_rows",
    "summary_figure",
    "tie_note",
    "top_k_channels",
    "unit_scale",
    "weight_order",
    "with_colour_bar",
)
