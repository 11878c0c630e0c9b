"""Spatial attention: every mask over the image, the selected one large, and its raw mask."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import gradio as gr

from attention.display import COLORMAPS, DEFAULT_COLORMAP, DEFAULT_OPACITY
from webapp import notes, panels
from webapp.state import LensResult

from .common import PANEL_EVENTS, RENDER_EVENTS, output_panel, user_errors


@dataclass
class SpatialSection:
    layer: gr.Dropdown
    colormap: gr.Dropdown
    opacity: gr.Slider
    scale: gr.Radio
    grid: gr.Image
    overlay: gr.Image
    mask: gr.Image
    heading: gr.Markdown
    views: gr.Row
    events: ClassVar[dict[str, Any]] = PANEL_EVENTS

    @property
    def inputs(self) -> list[Any]:
        return [self.layer, self.colormap, self.opacity, self.scale]

    @property
    def pictures(self) -> list[Any]:
        return [self.grid, self.overlay, self.mask]

    @property
    def outputs(self) -> list[Any]:
        return [self.layer, self.heading, self.views, *self.pictures]

    def panels(self, result: LensResult, layer: str | None, colormap: str, opacity: float, scale: str) -> dict:
        drawn = panels.spatial_panels(result, layer, colormap, opacity, scale)
        overlay_label, mask_label = notes.spatial_labels(result, layer, scale)
        return {
            self.grid: drawn.grid,
            self.overlay: gr.update(value=drawn.overlay, label=overlay_label),
            self.mask: gr.update(value=drawn.mask, label=mask_label),
        }

    def follow(self, result: LensResult, layer: str | None, colormap: str, opacity: float, scale: str) -> dict:
        """A new result: the picker offers its layers (another model may have others) and the panels draw one."""
        layer = panels.pick_layer(result.spatial_layer_names, layer)
        shown = panels.shows_kind(result.spatial_layer_names, result.token_layer_names)
        picker = gr.Dropdown(choices=result.spatial_layer_names, value=layer, visible=shown)
        drawn = self.panels(result, layer, colormap, opacity, scale)
        drawn[self.grid] = gr.update(value=drawn[self.grid], visible=shown)
        return {
            self.layer: picker,
            self.heading: gr.Markdown(visible=shown),
            self.views: gr.Row(visible=shown),
            **drawn,
        }


def grid_panel(visible: bool = True) -> gr.Image:
    """Every spatial layer's overlay, placed among the first results; ``spatial_section`` draws it."""
    # JPEG for the photographic overlays: it encodes in about 1 ms where WebP or PNG take 20-30 ms.
    return output_panel("Every spatial layer", "overlay-grid", "jpeg", visible=visible)


def spatial_section(result: gr.State, names: list[str], grid: gr.Image, visible: bool = True) -> SpatialSection:
    """The large view of one spatial layer; ``visible`` False hides all but the display controls (``shows_kind``)."""
    heading = gr.Markdown("### Spatial attention: one layer up close", elem_classes="lens-heading", visible=visible)
    with gr.Row(elem_classes="lens-controls"):
        layer = gr.Dropdown(
            choices=names,
            value=names[0] if names else None,
            label="Spatial layer (large view)",
            scale=2,
            visible=visible,
            min_width=320,
            elem_id="spatial-layer",
        )
        colormap = gr.Dropdown(choices=list(COLORMAPS), value=DEFAULT_COLORMAP, label="Colormap", elem_id="colormap")
        opacity = gr.Slider(0.0, 1.0, value=DEFAULT_OPACITY, step=0.05, label="Overlay opacity", elem_id="opacity")
        scale = gr.Radio(choices=list(panels.SCALES), value=panels.DEFAULT_SCALE, label="Colour scale", elem_id="scale")
    with gr.Row(visible=visible) as views:
        overlay = output_panel(notes.OVERLAY_LABEL, "overlay", "jpeg")
        mask = output_panel(notes.MASK_LABEL, "raw-mask", "png")
    section = SpatialSection(layer, colormap, opacity, scale, grid, overlay, mask, heading, views)

    @user_errors
    def redraw(result_: LensResult | None, layer_: str | None, colormap_: str, alpha: float, scale_: str) -> dict:
        return {} if result_ is None else section.panels(result_, layer_, colormap_, alpha, scale_)

    inputs = [result, *section.inputs]
    outputs = section.pictures
    for control in (layer, colormap, scale):
        control.input(redraw, inputs, outputs, show_progress="hidden", **RENDER_EVENTS)
    opacity.release(redraw, inputs, outputs, show_progress="hidden", **RENDER_EVENTS)
    return section
