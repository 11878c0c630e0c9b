"""Self-attention: every head's class-token attention, the rollout, and the attention from a patch the user clicks.

The section shows only for a model with self-attention layers (a vision
transformer); it shares the spatial section's colormap, opacity and scale, so
one set of display controls drives every overlay on the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import gradio as gr

from attention import render_tokens
from webapp import panels
from webapp.state import LensResult

from .common import PANEL_EVENTS, RENDER_EVENTS, output_panel, user_errors

INTRO = (
    "Each head of a self-attention layer spreads the class token's attention over the patches; "
    "the colour bar gives the real probabilities. Click a patch on the grid to see where it looks."
)


@dataclass
class TokenSection:
    column: gr.Column
    layer: gr.Dropdown
    colormap: gr.Dropdown
    opacity: gr.Slider
    scale: gr.Radio
    patch: gr.State
    heads: gr.Image
    grid: gr.Image
    patch_view: gr.Image
    rollout: gr.Image
    events: ClassVar[dict[str, Any]] = PANEL_EVENTS

    @property
    def inputs(self) -> list[Any]:
        return [self.layer, self.colormap, self.opacity, self.scale]

    @property
    def pictures(self) -> list[Any]:
        return [self.heads, self.grid, self.patch_view, self.rollout]

    @property
    def outputs(self) -> list[Any]:
        return [self.column, self.layer, self.patch, *self.pictures]

    def panels(
        self, result: LensResult, layer: str | None, colormap: str, opacity: float, scale: str, patch: Any
    ) -> dict:
        drawn = panels.token_panels(result, layer, colormap, opacity, scale, patch)
        return {
            self.heads: drawn.heads,
            self.grid: drawn.grid,
            self.patch_view: drawn.patch,
            self.rollout: drawn.rollout,
        }

    def follow(self, result: LensResult, layer: str | None, colormap: str, opacity: float, scale: str) -> dict:
        """A new result: shown only when it has self-attention layers; the clicked patch starts at the centre."""
        names = result.token_layer_names
        if not names:
            return {self.column: gr.Column(visible=False), self.patch: None}
        layer = panels.pick_layer(names, layer)
        return {
            self.column: gr.Column(visible=True),
            self.layer: gr.Dropdown(choices=names, value=layer),
            self.patch: None,
            **self.panels(result, layer, colormap, opacity, scale, None),
        }


def token_section(
    result: gr.State, names: list[str], colormap: gr.Dropdown, opacity: gr.Slider, scale: gr.Radio
) -> TokenSection:
    with gr.Column(visible=bool(names), elem_id="token-section") as column:
        gr.Markdown("### Self-attention: where each head looks", elem_classes="lens-heading")
        gr.Markdown(INTRO, elem_id="token-intro")
        layer = gr.Dropdown(
            choices=names, value=names[0] if names else None, label="Self-attention layer", elem_id="token-layer"
        )
        heads = output_panel("Every head of this layer", "token-heads", "jpeg")
        with gr.Row():
            grid = gr.Image(
                label="Click a patch",
                type="pil",
                format="jpeg",
                interactive=False,
                elem_id="patch-grid",
                elem_classes="lens-panel",
                buttons=[],
            )
            patch_view = output_panel("Attention from the clicked patch", "patch-attention", "jpeg")
        rollout = output_panel("Attention rollout over every layer", "rollout", "jpeg")
    patch = gr.State(None)
    section = TokenSection(column, layer, colormap, opacity, scale, patch, heads, grid, patch_view, rollout)

    @user_errors
    def redraw(
        result_: LensResult | None, layer_: str | None, colormap_: str, alpha: float, scale_: str, at: Any
    ) -> dict:
        return {} if result_ is None else section.panels(result_, layer_, colormap_, alpha, scale_, at)

    @user_errors
    def clicked(
        result_: LensResult | None, layer_: str | None, colormap_: str, alpha: float, scale_: str, evt: gr.SelectData
    ) -> dict:
        if result_ is None or not result_.token_layer_names:
            return {}
        name = panels.pick_layer(result_.token_layer_names, layer_)
        assert name is not None
        size = render_tokens.grid_picture(result_.analysis, name, None).size
        at = panels.clicked_patch(result_, name, evt.index, size)
        return {patch: at, **section.panels(result_, name, colormap_, alpha, scale_, at)}

    inputs = [result, *section.inputs, patch]
    for control in (layer, colormap, scale):
        control.input(redraw, inputs, section.pictures, show_progress="hidden", **RENDER_EVENTS)
    opacity.release(redraw, inputs, section.pictures, show_progress="hidden", **RENDER_EVENTS)
    grid.select(clicked, [result, *section.inputs], [patch, *section.pictures], show_progress="hidden", **RENDER_EVENTS)
    return section
