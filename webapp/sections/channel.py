"""Channel attention: the bar chart of weights, the top channels' feature maps and the branch parts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import gradio as gr

from attention.display import DEFAULT_TOP_K, MAX_TOP_K
from webapp import panels
from webapp.state import LensResult

from .common import PANEL_EVENTS, RENDER_EVENTS, output_panel, user_errors


@dataclass
class ChannelSection:
    layer: gr.Dropdown
    sort: gr.Checkbox
    top_k: gr.Slider
    bar_chart: gr.Image
    feature_maps: gr.Image
    branches_open: gr.State
    branches: gr.Image
    column: gr.Column
    events: ClassVar[dict[str, Any]] = PANEL_EVENTS

    @property
    def inputs(self) -> list[Any]:
        return [self.layer, self.sort, self.top_k, self.branches_open]

    @property
    def pictures(self) -> list[Any]:
        return [self.bar_chart, self.branches, self.feature_maps]

    @property
    def outputs(self) -> list[Any]:
        return [self.layer, self.column, *self.pictures]

    def panels(self, result: LensResult, layer: str | None, sort: bool, top_k: float, open_: bool) -> dict[Any, Any]:
        """This section's pictures for one result; the branch chart only while its section is open."""
        drawn = panels.channel_panels(result, layer, sort, top_k, bool(open_))
        shown = {self.bar_chart: drawn.bar_chart, self.feature_maps: drawn.feature_maps}
        if open_:
            shown[self.branches] = drawn.branches
        return shown

    def follow(self, result: LensResult, layer: str | None, sort: bool, top_k: float, open_: bool) -> dict[Any, Any]:
        """A new result: the picker offers its layers (another model may have others) and the panels draw one."""
        layer = panels.pick_layer(result.channel_layer_names, layer)
        shown = panels.shows_kind(result.channel_layer_names, result.token_layer_names)
        picker = gr.Dropdown(choices=result.channel_layer_names, value=layer)
        drawn = self.panels(result, layer, sort, top_k, open_)
        drawn[self.bar_chart] = gr.update(value=drawn[self.bar_chart], visible=shown)
        return {self.layer: picker, self.column: gr.Column(visible=shown), **drawn}


def bar_chart_panel(visible: bool = True) -> gr.Image:
    """The bar chart, placed among the first results; ``channel_section`` draws it."""
    return output_panel("Channel weights", "bar-chart", "png", visible=visible)


def channel_section(result: gr.State, names: list[str], bar_chart: gr.Image, visible: bool = True) -> ChannelSection:
    with gr.Column(elem_id="channel-section", visible=visible) as column:
        gr.Markdown("### Channel attention: how much each channel is kept", elem_classes="lens-heading")
        with gr.Row(elem_classes="lens-controls"):
            layer = gr.Dropdown(
                choices=names,
                value=names[0] if names else None,
                label="Channel layer",
                elem_id="channel-layer",
                scale=2,
                min_width=320,
            )
            sort = gr.Checkbox(value=False, label="Sort channels by weight", elem_id="sort")
            top_k = gr.Slider(
                1,
                MAX_TOP_K,
                value=DEFAULT_TOP_K,
                step=1,
                label="Top-k channels (highlighted, and their feature maps)",
                elem_id="top-k",
            )
        feature_maps = output_panel("Feature maps of the top-k channels", "feature-maps", "png")
        # Closed at first and drawn only while open: this chart costs as much as the bar chart.
        branches_open = gr.State(False)
        with gr.Accordion(
            "Avg and max pooling branches before the gate", open=False, elem_id="branches-section"
        ) as branches_section:
            branches = output_panel("Avg and max branch parts", "branches", "png")
    section = ChannelSection(layer, sort, top_k, bar_chart, feature_maps, branches_open, branches, column)

    @user_errors
    def redraw(result_: LensResult | None, layer_: str | None, sort_: bool, k: float, open_: bool) -> dict[Any, Any]:
        return {} if result_ is None else section.panels(result_, layer_, sort_, k, open_)

    @user_errors
    def open_branches(result_: LensResult | None, layer_: str | None, sort_: bool) -> dict[Any, Any]:
        return {branches_open: True, branches: panels.branch_panel(result_, layer_, sort_)}

    inputs = [result, *section.inputs]
    outputs = section.pictures
    branches_section.expand(
        open_branches, [result, layer, sort], [branches_open, branches], show_progress="hidden", **RENDER_EVENTS
    )
    branches_section.collapse(
        lambda: {branches_open: False}, None, [branches_open], queue=False, api_visibility="private"
    )
    layer.input(redraw, inputs, outputs, show_progress="hidden", **RENDER_EVENTS)
    sort.input(redraw, inputs, outputs, show_progress="hidden", **RENDER_EVENTS)
    top_k.release(redraw, inputs, outputs, show_progress="hidden", **RENDER_EVENTS)
    return section
