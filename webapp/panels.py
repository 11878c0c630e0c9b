"""Every panel the page shows, drawn from a stored ``LensResult`` and the display options alone.

Nothing here takes a model, so moving a display control can never start a
forward pass; option values from the page (or a raw API call) are checked or
clamped here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from PIL import Image

from attention import render, render_tokens
from attention.analysis import TOP_K_PREDICTIONS, BranchLayer, ElementLayer, SpatialLayer
from attention.display import DEFAULT_COLORMAP, DEFAULT_OPACITY, DEFAULT_TOP_K, MAX_TOP_K
from attention.errors import InputError

from .state import LensResult

SCALES: tuple[tuple[str, str], ...] = (("absolute 0–1", "absolute"), ("min–max", "minmax"))
DEFAULT_SCALE = "absolute"
MASK_VIEW_SIDE = render.MIN_HEATMAP_SIDE
# Three 256 px maps a row fit the page's column at full size, so their labels are not shrunk.
FEATURE_COLUMNS = 3
STATISTICS_HEADERS = render.STATISTICS_HEADERS


def stretch_of(scale: str | None) -> bool:
    if scale in (None, "", "absolute"):
        return False
    if scale == "minmax":
        return True
    raise InputError(f"unknown scale {scale!r}; choose 'absolute' or 'minmax'")


def colormap_of(colormap: str | None) -> str:
    return render.check_colormap(colormap or DEFAULT_COLORMAP)


def opacity_of(opacity: float | None) -> float:
    return DEFAULT_OPACITY if opacity is None else min(1.0, max(0.0, float(opacity)))


def top_k_of(top_k: float | None) -> int:
    return DEFAULT_TOP_K if top_k is None else max(1, min(MAX_TOP_K, int(top_k)))


def top_predictions(result: LensResult, k: int = TOP_K_PREDICTIONS) -> dict[str, float]:
    """Top-k labels and probabilities, in the form gr.Label shows."""
    analysis = result.analysis
    return {analysis.classes[index]: probability for index, probability in analysis.top(k)}


def statistics_table(result: LensResult) -> dict[str, list[Any]]:
    """Per-layer statistics in the form gr.Dataframe takes."""
    headers, rows = render.statistics_rows(result.analysis)
    return {"headers": list(headers), "data": rows}


# --------------------------------------------------------------------------- re-rendering panels


def shows_kind(names: Sequence[str], token_names: Sequence[str]) -> bool:
    """Whether the page shows a kind's views: when the model has such layers (``names``), or no self-attention.

    A CNN without spatial gates keeps its spatial panels, which say so; a
    vision transformer's page shows its self-attention in their place.
    """
    return bool(names) or not token_names


def pick_layer(names: Sequence[str], wanted: str | None) -> str | None:
    """The wanted layer if this result has it, else the first: a new model may have other layers."""
    if wanted in names:
        return wanted
    return names[0] if names else None


class ChannelPanels(NamedTuple):
    bar_chart: Image.Image | None
    branches: Image.Image | None
    feature_maps: Image.Image | None


class SpatialPanels(NamedTuple):
    grid: Image.Image | None
    overlay: Image.Image | None
    mask: Image.Image | None


def channel_panels(
    result: LensResult | None,
    layer: str | None = None,
    sort: bool = False,
    top_k: float | None = DEFAULT_TOP_K,
    branches: bool = True,
) -> ChannelPanels:
    """Bar chart, avg/max branch chart and top-k feature maps of one channel layer, from the record alone.

    ``branches=False`` skips the branch chart (its field is None): the page
    keeps that chart in a closed section and draws it only while the section
    is open, since it costs as much as the bar chart.
    """
    if result is None:
        return ChannelPanels(None, None, None)
    name = pick_layer(result.channel_layer_names, layer)
    if name is None:
        return ChannelPanels(None, None, None)
    k = top_k_of(top_k)
    channel = result.analysis.layer(name)
    if isinstance(channel, BranchLayer):  # weights over branches: one stacked bar per channel, no pooling parts
        return ChannelPanels(render.figure_to_image(render.branch_weights_chart(channel, sort=bool(sort))), None, None)
    bar = render.figure_to_image(render.channel_bar_chart(channel, top_k=k, sort=bool(sort)))  # type: ignore[arg-type]
    branch_image = branch_panel(result, name, sort) if branches else None
    feature_maps = None
    if name in result.analysis.feature_maps:
        feature_maps = render.feature_maps_image(result.analysis, name, top_k=k, columns=FEATURE_COLUMNS)
    return ChannelPanels(bar, branch_image, feature_maps)


def branch_panel(result: LensResult | None, layer: str | None = None, sort: bool = False) -> Image.Image | None:
    """The avg and max pooling parts of one channel layer before its gate."""
    if result is None:
        return None
    name = pick_layer(result.channel_layer_names, layer)
    if name is None:
        return None
    channel = result.analysis.layer(name)
    if isinstance(channel, BranchLayer):
        return None
    return render.figure_to_image(render.branch_chart(channel, sort=bool(sort)))


def _mask_view_size(layer: SpatialLayer, side: int = MASK_VIEW_SIDE) -> tuple[int, int]:
    """Whole-number enlargement to at least ``side`` px, so every mask cell stays a crisp square."""
    height, width = layer.size
    factor = max(1, -(-side // max(height, width)))
    return width * factor, height * factor


def spatial_panels(
    result: LensResult | None,
    layer: str | None = None,
    colormap: str | None = DEFAULT_COLORMAP,
    opacity: float | None = DEFAULT_OPACITY,
    scale: str | None = DEFAULT_SCALE,
) -> SpatialPanels:
    """Grid of every mask overlay, the selected layer's overlay at the image's resolution, and its raw mask."""
    if result is None:
        return SpatialPanels(None, None, None)
    colormap, alpha, stretch = colormap_of(colormap), opacity_of(opacity), stretch_of(scale)
    grid = render.overlay_grid(result.analysis, colormap, alpha, stretch)
    name = pick_layer(result.spatial_layer_names, layer)
    if name is None:
        return SpatialPanels(grid, None, None)
    spatial = result.analysis.layer(name)
    assert isinstance(spatial, SpatialLayer)
    ticks, caption = render.mask_ticks(spatial.mask, stretch)
    large = render.overlay(result.analysis.image, spatial.mask, colormap, alpha, stretch, view=result.analysis.view)
    large = render.with_colour_bar(large, colormap, ticks, caption)
    if isinstance(spatial, ElementLayer) and spatial.rows is not None:
        mask = render.rows_and_columns_image(spatial, colormap, stretch, size=_mask_view_size(spatial))
    else:
        mask = render.mask_image(spatial.mask, colormap, stretch, size=_mask_view_size(spatial))
    mask = render.with_colour_bar(mask, colormap, ticks, caption)
    return SpatialPanels(grid, large, mask)


class DisplayOptions(NamedTuple):
    """Every display control of the page, with the page's defaults."""

    channel_layer: str | None = None
    sort: bool = False
    top_k: float = DEFAULT_TOP_K
    spatial_layer: str | None = None
    colormap: str = DEFAULT_COLORMAP
    opacity: float = DEFAULT_OPACITY
    scale: str = DEFAULT_SCALE
    branches: bool = False  # the branch chart's section starts closed


class Panels(NamedTuple):
    channel: ChannelPanels
    spatial: SpatialPanels
    statistics: dict[str, list[Any]]


def render_panels(result: LensResult, options: DisplayOptions = DisplayOptions()) -> Panels:
    """Every panel the page shows for one analysis (the report PNG is made separately)."""
    return Panels(
        channel=channel_panels(result, options.channel_layer, options.sort, options.top_k, options.branches),
        spatial=spatial_panels(result, options.spatial_layer, options.colormap, options.opacity, options.scale),
        statistics=statistics_table(result),
    )


# --------------------------------------------------------------------------- self-attention


class TokenPanels(NamedTuple):
    """A self-attention layer's pictures: every head, the rollout, the patch grid to click on, one patch's attention."""

    heads: Image.Image | None
    rollout: Image.Image | None
    grid: Image.Image | None
    patch: Image.Image | None


def centre_patch(result: LensResult, layer: str) -> tuple[int, int]:
    grid = render_tokens.token_layer(result.analysis, layer).grid
    assert grid is not None
    return grid[0] // 2, grid[1] // 2


def token_panels(
    result: LensResult | None,
    layer: str | None,
    colormap: str | None = DEFAULT_COLORMAP,
    opacity: float | None = DEFAULT_OPACITY,
    scale: str | None = DEFAULT_SCALE,
    patch: Sequence[int] | None = None,
) -> TokenPanels:
    """Every picture of the self-attention section for one layer; a patch outside this layer's grid is its centre."""
    if result is None:
        return TokenPanels(None, None, None, None)
    name = pick_layer(result.token_layer_names, layer)
    if name is None:
        return TokenPanels(None, None, None, None)
    colormap, alpha, stretch = colormap_of(colormap), opacity_of(opacity), stretch_of(scale)
    analysis = result.analysis
    grid = render_tokens.token_layer(analysis, name).grid
    assert grid is not None
    chosen = tuple(int(value) for value in patch) if patch is not None and len(patch) == 2 else None
    if chosen is None or not (0 <= chosen[0] < grid[0] and 0 <= chosen[1] < grid[1]):
        chosen = centre_patch(result, name)
    heads = render_tokens.heads_image(analysis, name, colormap, alpha, stretch)
    rollout = (
        render_tokens.rollout_image(analysis, colormap, alpha, stretch) if analysis.rollout() is not None else None
    )
    return TokenPanels(
        heads,
        rollout,
        render_tokens.grid_picture(analysis, name, chosen),
        render_tokens.patch_image(analysis, name, chosen, colormap, alpha, stretch),
    )


def clicked_patch(
    result: LensResult, layer: str | None, point: Sequence[float], size: Sequence[int]
) -> tuple[int, int]:
    """The patch under a click at ``point`` (x, y px) on the grid picture of ``size`` (width, height px)."""
    name = pick_layer(result.token_layer_names, layer)
    if name is None:
        raise InputError("this analysis has no self-attention layer")
    width, height = size
    return render_tokens.patch_at(result.analysis, name, float(point[0]) / width, float(point[1]) / height)
