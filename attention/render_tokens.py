"""Pictures of self-attention over tokens: the class token's attention per head, rollout, and one patch's attention.

Attention probabilities share one unit of mass among all the tokens, so over
196 patches a strong patch holds a few hundredths: on the 0-1 scale of a gate
every map would be one dark colour. These pictures keep the spatial masks'
rules otherwise: the colour scale starts at 0 (no attention) and its top is
the largest value shown, written on the colour bar in real probabilities,
with what uniform attention would be; ``stretch`` maps the shown min-max instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from .analysis import ImageAnalysis, TokenLayer
from .display import DEFAULT_COLORMAP, DEFAULT_OPACITY
from .errors import InputError
from .render import MIN_HEATMAP_SIDE, TEXT_PX, _font, enlarged, fit_lines, overlay, stacked, text_image, with_colour_bar
from .tokens import ROLLOUT_NOTE

MARK = "#ff2d2d"
GRID_LINE = "#ffffff"
# The "uniform" tick is left off the colour bar this close to either end, where its label would cover a number.
UNIFORM_TICK_ROOM = 0.15


def attention_ticks(maps: Sequence[np.ndarray], stretch: bool, uniform: float | None) -> tuple[float, float, list, str]:
    """(low, high, ticks, caption) of the colour scale shared by ``maps``: from 0, or from their min when stretched."""
    high = max(float(np.max(values)) for values in maps)
    low = min(float(np.min(values)) for values in maps) if stretch else 0.0
    if high <= low:
        high = low + 1e-12
    ticks = [(0.0, f"{low:.3g}"), (1.0, f"{high:.3g}")]
    caption = f"attention, {'stretched from' if stretch else ''} {low:.3g} to {high:.3g}".replace("  ", " ")
    if uniform is not None:
        place = (uniform - low) / (high - low)
        if UNIFORM_TICK_ROOM <= place <= 1.0 - UNIFORM_TICK_ROOM:
            ticks.insert(1, (place, "uniform"))
        caption += f"; attending to all tokens alike gives {uniform:.3g}"
    return low, high, ticks, caption


def _scaled(values: np.ndarray, low: float, high: float) -> np.ndarray:
    return (np.asarray(values, dtype=np.float32) - low) / (high - low)


def _patch_box(
    size: tuple[int, int], view: tuple[float, float, float, float], grid: tuple[int, int], patch: tuple[int, int]
) -> tuple[int, int, int, int]:
    """The pixel box of one patch of ``grid`` laid over the part ``view`` of a picture of ``size``."""
    width, height = size
    left, top, right, bottom = view[0] * width, view[1] * height, view[2] * width, view[3] * height
    cell_w, cell_h = (right - left) / grid[1], (bottom - top) / grid[0]
    x, y = left + patch[1] * cell_w, top + patch[0] * cell_h
    return round(x), round(y), round(x + cell_w), round(y + cell_h)


def _titled_tiles(
    analysis: ImageAnalysis,
    tiles: Sequence[tuple[str, np.ndarray]],
    colormap: str,
    opacity: float,
    stretch: bool,
    uniform: float | None,
    tile: int,
    columns: int,
    patch: tuple[int, int] | None = None,
) -> Image.Image:
    """Overlays of ``tiles`` (title, map) in rows of ``columns``, on one shared colour scale, over its colour bar."""
    low, high, ticks, caption = attention_ticks([values for _, values in tiles], stretch, uniform)
    # One thumbnail under every tile: a full-size photo is blended once per tile otherwise.
    base = enlarged(analysis.image.convert("RGB"), tile)
    base.thumbnail((tile, tile), Image.Resampling.BILINEAR)
    font = _font()
    gap, line = 6, TEXT_PX + 4
    scratch = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    titles = [fit_lines(scratch, title, font, tile - 4) for title, _ in tiles]
    label_height = 4 + max(len(lines) for lines in titles) * line
    columns = max(1, min(columns, len(tiles)))
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * (tile + gap) - gap, rows * (tile + label_height + gap) - gap), "white")
    draw = ImageDraw.Draw(sheet)
    for index, ((_, values), lines) in enumerate(zip(tiles, titles)):
        picture = overlay(base, _scaled(values, low, high), colormap, opacity, False, min_side=0, view=analysis.view)
        if patch is not None:
            box = _patch_box(picture.size, analysis.view, values.shape, patch)
            ImageDraw.Draw(picture).rectangle(box, outline=MARK, width=3)
        row, column = divmod(index, columns)
        x, y = column * (tile + gap), row * (tile + label_height + gap)
        for number, text in enumerate(lines):
            draw.text((x + 2, y + 2 + number * line), text, fill="black", font=font)
        sheet.paste(picture, (x + (tile - picture.width) // 2, y + label_height + (tile - picture.height) // 2))
    return with_colour_bar(sheet, colormap, ticks, caption)


def _uniform(layer: TokenLayer) -> float | None:
    """The attention each token gets when token 0 attends to every token alike (None: the maps are not one row)."""
    return 1.0 / layer.tokens if layer.layout.has_class_token else None


def token_layer(analysis: ImageAnalysis, name: str) -> TokenLayer:
    """The self-attention layer ``name`` with a patch grid; one-line InputError otherwise."""
    for layer in analysis.token_layers:
        if layer.name == name:
            if layer.grid is None:
                raise InputError(f"{name}: its {layer.tokens} tokens do not form a grid of patches to draw")
            return layer
    raise InputError(f"{name!r} is not a self-attention layer of this analysis")


def what_is_shown(layer: TokenLayer) -> str:
    """Which row of the attention the maps show, said in words."""
    if layer.layout.has_class_token:
        return "the class token's attention to each patch"
    return "the attention each patch receives, averaged over every query (this model has no class token)"


def heads_image(
    analysis: ImageAnalysis,
    name: str,
    colormap: str = DEFAULT_COLORMAP,
    opacity: float = DEFAULT_OPACITY,
    stretch: bool = False,
    tile: int = 192,
    columns: int | None = None,
) -> Image.Image:
    """The head mean first, then every head, over the image on one colour scale, so heads compare at a glance.

    Up to five tiles share one row (the mean and four heads), more wrap four to a row.
    """
    layer = token_layer(analysis, name)
    tiles = [(f"{name}: mean of {layer.heads} heads", layer.attention_map())]
    tiles += [(f"head {head}", layer.attention_map(head)) for head in range(layer.heads)]
    if columns is None:
        columns = len(tiles) if len(tiles) <= 5 else 4
    return _titled_tiles(analysis, tiles, colormap, opacity, stretch, _uniform(layer), tile, columns)


def rollout_image(
    analysis: ImageAnalysis,
    colormap: str = DEFAULT_COLORMAP,
    opacity: float = DEFAULT_OPACITY,
    stretch: bool = False,
    tile: int = MIN_HEATMAP_SIDE,
) -> Image.Image:
    """Attention rollout over every self-attention layer, with the residual term said under it."""
    flow = analysis.rollout()
    if flow is None:
        raise InputError("no self-attention layers with a patch grid to roll out")
    first = analysis.token_layers[0]
    image = _titled_tiles(
        analysis,
        [(f"rollout over {len(analysis.token_layers)} layers", flow)],
        colormap,
        opacity,
        stretch,
        _uniform(first),
        tile,
        1,
    )
    return stacked([image, text_image(ROLLOUT_NOTE, image.width)], gap=0)


def patch_image(
    analysis: ImageAnalysis,
    name: str,
    patch: tuple[int, int],
    colormap: str = DEFAULT_COLORMAP,
    opacity: float = DEFAULT_OPACITY,
    stretch: bool = False,
    tile: int = MIN_HEATMAP_SIDE,
) -> Image.Image:
    """Where one patch (row, column), outlined, looks: the head-mean attention from it to every patch."""
    layer = token_layer(analysis, name)
    values = layer.patch_attention(*patch)
    title = f"{name}: attention from patch ({patch[0]}, {patch[1]}), mean of {layer.heads} heads"
    return _titled_tiles(analysis, [(title, values)], colormap, opacity, stretch, 1.0 / layer.tokens, tile, 1, patch)


def patch_at(analysis: ImageAnalysis, name: str, x: float, y: float) -> tuple[int, int]:
    """The patch (row, column) under a point given as fractions (0-1) of the image the user clicked."""
    layer = token_layer(analysis, name)
    rows, columns = layer.grid  # type: ignore[misc]
    left, top, right, bottom = analysis.view
    u, v = (x - left) / (right - left), (y - top) / (bottom - top)
    if not (0.0 <= u <= 1.0 and 0.0 <= v <= 1.0):
        raise InputError("that point is outside the part of the image the model saw")
    return min(int(v * rows), rows - 1), min(int(u * columns), columns - 1)


def grid_picture(analysis: ImageAnalysis, name: str, patch: tuple[int, int] | None, side: int = 384) -> Image.Image:
    """The image with the patch grid over the part the model saw, and ``patch`` outlined: a map to click on."""
    layer = token_layer(analysis, name)
    rows, columns = layer.grid  # type: ignore[misc]
    picture = enlarged(analysis.image.convert("RGB"), side)
    picture.thumbnail((side, side), Image.Resampling.BILINEAR)
    left, top, right, bottom = analysis.view
    box = (left * picture.width, top * picture.height, right * picture.width, bottom * picture.height)
    draw = ImageDraw.Draw(picture)
    for row in range(rows + 1):
        y = round(box[1] + row * (box[3] - box[1]) / rows)
        draw.line((box[0], y, box[2], y), fill=GRID_LINE, width=1)
    for column in range(columns + 1):
        x = round(box[0] + column * (box[2] - box[0]) / columns)
        draw.line((x, box[1], x, box[3]), fill=GRID_LINE, width=1)
    if patch is not None:
        draw.rectangle(_patch_box(picture.size, analysis.view, (rows, columns), patch), outline=MARK, width=3)
    return picture
