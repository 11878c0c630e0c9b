"""Explain: how the picked layer turned this image's features into its weights or mask, step by step.

The steps were worked out at analysis time (``LensResult.explanations``), so
picking a layer here only draws. The section is closed at first and draws only
while open: six small figures cost more than every other panel together.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import gradio as gr

from attention.errors import InputError
from webapp import explain
from webapp.state import LensResult

from .common import LATER_EVENTS, PANEL_BUTTONS, RENDER_EVENTS, user_errors


@dataclass
class ExplainSection:
    open_: gr.State
    layer: gr.Dropdown
    heading: gr.Markdown
    rows: list[gr.Row]
    images: list[gr.Image]
    captions: list[gr.Markdown]
    slide_button: gr.Button
    slide_file: gr.File
    events: ClassVar[dict[str, Any]] = LATER_EVENTS

    @property
    def inputs(self) -> list[Any]:
        return [self.open_, self.layer]

    @property
    def outputs(self) -> list[Any]:
        return [self.layer, self.heading, *self.rows, *self.images, *self.captions]

    def view(self, result: LensResult | None, layer: str | None) -> dict[Any, Any]:
        """Every slot for one layer: a shown step gets its picture, a missing one its sentence, unused slots hide."""
        shown = explain.explain_view(result, layer)
        update: dict[Any, Any] = {self.heading: shown.heading}
        for index, (row, image, caption) in enumerate(zip(self.rows, self.images, self.captions)):
            if index >= len(shown.steps):
                update[row] = gr.Row(visible=False)
                continue
            step = shown.steps[index]
            update[row] = gr.Row(visible=True)
            # gr.update, not gr.Image(value=...): a component built with a value encodes it at once.
            update[image] = gr.update(value=step.image, visible=step.image is not None)
            update[caption] = step.caption
        return update

    def follow(self, result: LensResult | None, open_: bool, layer: str | None) -> dict[Any, Any]:
        """After an analysis: the picker offers the new result's layers; the steps are drawn only while open."""
        if result is None:
            return {}
        choices = explain.layer_choices(result)
        picked = explain.explanation_for(result, layer)
        value = None if picked is None else picked.layer
        update: dict[Any, Any] = {self.layer: gr.Dropdown(choices=choices, value=value)}
        if open_:
            update.update(self.view(result, value))
        return update


def explain_section(result: gr.State, names: list[str], folder: Path) -> ExplainSection:
    """The section, closed; ``names`` are the default model's layers, offered before the first analysis."""
    with gr.Accordion(
        "Explain: how a layer computes its attention", open=False, elem_id="explain-section"
    ) as accordion:
        gr.Markdown(
            "Pick a layer to see, with the real numbers of this image's single forward pass, how it turned "
            "its input into channel weights (ECA), a mask (spatial attention) or attention over tokens "
            "(a vision transformer's self-attention)."
        )
        with gr.Row():
            layer = gr.Dropdown(
                choices=names, value=names[0] if names else None, label="Layer to explain", elem_id="explain-layer"
            )
            slide_button = gr.Button("Download as one PNG (slide)", size="sm", elem_id="explain-slide-button")
            slides_button = gr.Button(
                "Slides for a class (PDF, one 1920×1080 page per step)", size="sm", elem_id="explain-slides-button"
            )
            present_button = gr.Button(
                "Present the steps (full screen, ← → keys)", size="sm", elem_id="explain-present-button"
            )
            slide_file = gr.File(label="Slide PNG or slides PDF", interactive=False, elem_id="explain-slide")
        # The presentation view: one slide at a time, the arrow keys step through them, the corner button fills
        # the screen. Hidden until asked for.
        presentation = gr.Gallery(
            label="Slides: ← and → go through the steps",
            columns=1,
            preview=True,
            object_fit="contain",
            buttons=["fullscreen", "download"],
            elem_id="explain-slides",
            visible=False,
        )
        heading = gr.Markdown(explain.NO_RESULT, elem_id="explain-heading")
        rows, images, captions = [], [], []
        for index in range(explain.MAX_STEPS):
            with gr.Row(equal_height=False, elem_id=f"explain-step-{index}") as row:
                images.append(
                    gr.Image(
                        label=f"Step {index + 1}",
                        show_label=False,
                        type="pil",
                        format="png",
                        interactive=False,
                        elem_id=f"explain-image-{index}",
                        elem_classes="explain-image",
                        buttons=PANEL_BUTTONS,
                        scale=3,
                        # On a phone the caption wraps below the picture instead of squeezing both into a column.
                        min_width=360,
                    )
                )
                captions.append(gr.Markdown(elem_id=f"explain-caption-{index}", elem_classes="explain-caption"))
            rows.append(row)
    open_ = gr.State(False)
    section = ExplainSection(open_, layer, heading, rows, images, captions, slide_button, slide_file)

    @user_errors
    def opened(result_: LensResult | None, layer_: str | None) -> dict[Any, Any]:
        return {open_: True, **section.view(result_, layer_)}

    @user_errors
    def redraw(result_: LensResult | None, layer_: str | None) -> dict[Any, Any]:
        return section.view(result_, layer_)

    @user_errors
    def slide(result_: LensResult | None, layer_: str | None) -> dict[Any, Any]:
        path = explain.slide_png(result_, layer_, folder)
        if path is None:
            raise InputError("analyze an image first")
        return {slide_file: str(path)}

    view_outputs = [heading, *rows, *images, *captions]
    accordion.expand(opened, [result, layer], [open_, *view_outputs], show_progress="minimal", **RENDER_EVENTS)
    accordion.collapse(lambda: {open_: False}, None, [open_], queue=False, api_visibility="private")
    layer.input(redraw, [result, layer], view_outputs, show_progress="minimal", **RENDER_EVENTS)
    slide_button.click(slide, [result, layer], [slide_file], **RENDER_EVENTS)

    @user_errors
    def slides(result_: LensResult | None, layer_: str | None) -> dict[Any, Any]:
        path = explain.slides_pdf(result_, layer_, folder)
        if path is None:
            raise InputError("analyze an image first")
        return {slide_file: str(path)}

    slides_button.click(slides, [result, layer], [slide_file], **RENDER_EVENTS)

    @user_errors
    def present(result_: LensResult | None, layer_: str | None) -> dict[Any, Any]:
        shown = explain.slide_images(result_, layer_)
        if not shown:
            raise InputError("analyze an image first")
        return {presentation: gr.Gallery(value=shown, visible=True, selected_index=0)}

    present_button.click(present, [result, layer], [presentation], **RENDER_EVENTS)
    return section
