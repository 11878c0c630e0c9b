"""Pictures drawn for every frame of a live stream or a video: array operations and cached pieces, no figure.

A stream wants each frame drawn in a few milliseconds, so the map is coloured
through the colormap's lookup table, enlarged nearest-neighbour and blended
(``render.overlay``), the channel chart is filled in as an array, and what
does not change between frames (the colour bar, a chart's axes and title, a
label's text) is drawn once and cached. Cached pictures are shared between
threads and only ever pasted, never drawn on.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image, ImageDraw

from .analysis import ChannelLayer, ImageAnalysis, SpatialLayer, TokenLayer
from .display import DEFAULT_COLORMAP, DEFAULT_OPACITY
from .render import BASE, TEXT_PX, _font, colour_bar, enlarged, mask_ticks, overlay

LABEL_FILL = (0, 0, 0)
CHART_SIZE = (320, 110)  # the live view's channel chart, in pixels
BAR_RGB = tuple(int(BASE[i : i + 2], 16) for i in (1, 3, 5))
AXIS_RGB = (60, 60, 60)
GUIDE_RGB = (225, 225, 225)
# Self-attention has no fixed 0-1 scale: each frame's map is divided by its largest value.
RELATIVE_CAPTION = "self-attention over the patches, divided by its largest value"


def attention_map(analysis: ImageAnalysis, layer: str) -> np.ndarray | None:
    """The map drawn over a frame, on 0-1: a spatial mask as it is, self-attention divided by its largest value."""
    chosen = analysis.layer(layer)
    if isinstance(chosen, SpatialLayer):
        return chosen.mask
    if isinstance(chosen, TokenLayer) and chosen.grid is not None:
        values = chosen.attention_map()
        peak = float(values.max())
        return values / peak if peak > 0 else values
    return None


def default_layer(analysis: ImageAnalysis) -> str | None:
    """The deepest layer with a map to draw: the last spatial layer, else the last self-attention layer."""
    for layers in (analysis.spatial_layers, [layer for layer in analysis.token_layers if layer.grid is not None]):
        if layers:
            return layers[-1].name
    return None


def drawn_layer(analysis: ImageAnalysis, wanted: str | None) -> str | None:
    """``wanted`` when this analysis has a map for it, else ``default_layer``: another model has other layers."""
    known = wanted is not None and any(layer.name == wanted for layer in analysis.layers)
    if known and attention_map(analysis, wanted) is not None:  # type: ignore[arg-type]
        return wanted
    return default_layer(analysis)


def charted_layer(analysis: ImageAnalysis, wanted: str | None) -> ChannelLayer | None:
    """The channel layer ``wanted`` names, else the first: another model has other layers; None without any."""
    layers = analysis.channel_layers
    return next((layer for layer in layers if layer.name == wanted), layers[0] if layers else None)


@functools.lru_cache(maxsize=512)
def label_strip(text: str) -> Image.Image:
    """White text on a black strip; a stream repeats its few labels, and drawing text is most of a frame's cost."""
    font = _font()
    width = round(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(text, font=font)) + 8
    strip = Image.new("RGB", (width, TEXT_PX + 8), LABEL_FILL)
    ImageDraw.Draw(strip).text((4, 3), text, fill="white", font=font)
    return strip


@functools.lru_cache(maxsize=64)
def scale_bar(colormap: str, width: int, relative: bool = False) -> Image.Image:
    """The colour bar under a frame: the mask's true 0-1 scale, or self-attention's relative one."""
    if relative:
        return colour_bar(colormap, width, [(0.0, "0"), (1.0, "largest")], RELATIVE_CAPTION)
    ticks, caption = mask_ticks(None, stretch=False)
    return colour_bar(colormap, width, ticks, caption)


def frame_overlay(
    analysis: ImageAnalysis,
    layer: str | None,
    colormap: str = DEFAULT_COLORMAP,
    opacity: float = DEFAULT_OPACITY,
) -> Image.Image:
    """The frame with the layer's map over it and its colour bar beneath; the frame alone when there is no map."""
    values = None if layer is None else attention_map(analysis, layer)
    if values is None:
        return enlarged(analysis.image.convert("RGB"))
    picture = overlay(analysis.image, values, colormap, opacity, view=analysis.view)
    bar = scale_bar(colormap, picture.width, isinstance(analysis.layer(layer), TokenLayer))  # type: ignore[arg-type]
    canvas = Image.new("RGB", (picture.width, picture.height + bar.height), "white")
    canvas.paste(picture, (0, 0))
    canvas.paste(bar, (0, picture.height))
    return canvas


@functools.lru_cache(maxsize=64)
def _chart_frame(title: str, size: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A chart's fixed parts as a read-only array: title, 0/0.5/1 guides and labels, axes; and its plot box."""
    width, height = size
    font = _font(12)
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.text((4, 2), title, fill="black", font=font)
    left, top, right, bottom = 30, 22, width - 6, height - 8
    for value, label in ((1.0, "1"), (0.5, "0.5"), (0.0, "0")):
        y = round(bottom - value * (bottom - top))
        draw.line((left, y, right, y), fill=GUIDE_RGB)
        draw.text((left - 4 - draw.textlength(label, font=font), y - 7), label, fill=AXIS_RGB, font=font)
    draw.line((left - 1, top, left - 1, bottom), fill=AXIS_RGB)
    draw.line((left - 1, bottom + 1, right, bottom + 1), fill=AXIS_RGB)
    array = np.asarray(image).copy()
    array.setflags(write=False)
    return array, (left, top, right, bottom)


def channel_chart(layer: ChannelLayer, size: tuple[int, int] = CHART_SIZE) -> Image.Image:
    """One channel layer's weights as bars on the true 0-1 scale, in channel order, filled in as an array.

    With more channels than pixel columns, a column shows the largest weight
    among the channels it covers, so a channel that stands out is never lost.
    """
    weights = np.clip(np.asarray(layer.weights, dtype=np.float64).reshape(-1), 0.0, 1.0)
    fixed, (left, top, right, bottom) = _chart_frame(f"{layer.name}: {weights.size} channel weights", size)
    canvas = fixed.copy()
    columns = right - left
    channels = weights.size
    if channels == 0:
        return Image.fromarray(canvas)
    if channels > columns:
        column_values = np.maximum.reduceat(weights, np.arange(columns) * channels // columns)
        filled = np.ones(columns, dtype=bool)
    else:
        owner = np.arange(columns) * channels // columns
        column_values = weights[owner]
        # A bar three pixels wide or more gives up its last column, a gap that keeps neighbours apart.
        filled = np.diff(owner, append=channels) == 0 if columns // channels >= 3 else np.ones(columns, dtype=bool)
    plot_height = bottom - top
    tops = np.round(plot_height * (1.0 - column_values)).astype(np.intp)
    rows = np.arange(plot_height)[:, None]
    bars = (rows >= tops[None, :]) & filled[None, :]
    canvas[top:bottom, left:right][bars] = BAR_RGB
    return Image.fromarray(canvas)
