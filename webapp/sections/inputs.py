"""The image, drawing and model pickers."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr
from PIL import Image

from attention.images import MAX_PIXELS
from webapp import analysis, notes
from webapp.inputs import CHECKPOINT_SUFFIXES, UploadRoots
from webapp.state import ModelCache

from .common import MODEL_CHECK_EVENTS, user_errors


def refusing_huge_drawings(preprocess: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The sketchpad's own decoding, with the app's one-line refusal where Pillow refuses a huge drawing.

    Gradio decodes the drawing before the handler runs; Pillow's process-wide
    limit (webapp.runtime.limit_pillow) refuses a huge one before decoding,
    with an error Gradio would report only as a generic failure. Wrapping the
    instance's method rather than subclassing keeps Gradio from writing a
    type-stub file next to this module.
    """

    @functools.wraps(preprocess)
    def wrapper(payload: Any) -> Any:
        try:
            return preprocess(payload)
        except Image.DecompressionBombError as error:
            raise gr.Error(f"the drawing is too large: {MAX_PIXELS:,} pixels at most", print_exception=False) from error

    return wrapper


# Gradio's sketchpad starts with no tool picked and ignores strokes until one is: pick the brush as the tab opens.
PICK_BRUSH = """() => {
  const pick = (tries) => {
    const brush = document.querySelector('#sketchpad button[aria-label=Brush]');
    if (brush) { if (!brush.classList.contains('selected')) brush.click(); }
    else if (tries > 0) setTimeout(() => pick(tries - 1), 100);
  };
  setTimeout(() => pick(20), 50);
}"""


@dataclass
class InputSection:
    image: gr.Image
    analyze_button: gr.Button
    sketch: gr.Sketchpad
    sketch_button: gr.Button


def input_section() -> InputSection:
    """The image and drawing inputs; the examples come after the model picker (``example_section``)."""
    with gr.Tab("Image"):
        image = gr.Image(
            label="Image (upload, paste or webcam)",
            sources=["upload", "webcam", "clipboard"],
            type="filepath",
            image_mode=None,
            height=260,
            elem_id="input-image",
        )
        analyze_button = gr.Button("Analyze", variant="primary", elem_id="analyze-button")
    with gr.Tab("Draw") as draw_tab:
        sketch = gr.Sketchpad(
            label="Draw a shape",
            type="pil",
            canvas_size=(256, 256),
            height=380,
            brush=gr.Brush(default_size=6, colors=["#000000", "#d62728", "#1f77b4"], color_mode="defaults"),
            elem_id="sketchpad",
        )
        sketch.preprocess = refusing_huge_drawings(sketch.preprocess)
        sketch_button = gr.Button("Analyze drawing", variant="primary", elem_id="analyze-sketch-button")
    draw_tab.select(None, None, None, js=PICK_BRUSH, queue=False, api_visibility="private")
    return InputSection(image, analyze_button, sketch, sketch_button)


@dataclass
class ModelSection:
    model: gr.Dropdown
    checkpoint: gr.File
    status: gr.Markdown


def model_section(cache: ModelCache, roots: UploadRoots) -> ModelSection:
    """The model picker (launch model, shipped models, architectures by name) and the file upload.

    The picker's values are exactly what the API's ``model`` parameter takes.
    For a picked architecture the upload is its weights; otherwise an upload is
    an Attention Lens checkpoint that replaces the picked model.
    """
    with gr.Accordion("Model", open=True):
        model = gr.Dropdown(
            choices=cache.choices(),
            value=cache.default_name,
            label="Model: a shipped one, or an architecture with attention to upload weights for (type to search)",
            elem_id="model",
            # Any timm or torchvision name may be typed: the server lays it out and says whether it has gates.
            allow_custom_value=True,
        )
        # Closed until wanted, so its empty drop zone does not stand between the picker and the examples.
        with gr.Accordion("Upload weights or a checkpoint", open=False, elem_id="checkpoint-section"):
            checkpoint = gr.File(
                label="Weights for the picked architecture, or a checkpoint to use instead ("
                + ", ".join(CHECKPOINT_SUFFIXES)
                + ")",
                file_types=list(CHECKPOINT_SUFFIXES),
                type="filepath",
                elem_id="checkpoint-upload",
            )
        status = gr.Markdown(
            analysis.check_checkpoint(None, cache.default_name, cache=cache, roots=roots), elem_id="model-status"
        )

    @user_errors
    def check_checkpoint(checkpoint_file: Any, model_name: str | None) -> dict[Any, Any]:
        return {status: analysis.check_checkpoint(checkpoint_file, model_name, cache=cache, roots=roots)}

    for trigger in (checkpoint.change, model.change):
        trigger(check_checkpoint, [checkpoint, model], [status], preprocess=False, **MODEL_CHECK_EVENTS)
    return ModelSection(model, checkpoint, status)


def example_section(
    inputs: InputSection, model: ModelSection, examples: list[str], default: str, launched: Sequence[str] = ()
) -> None:
    """The example images, one captioned group per model they were made for; picking one also picks its model."""
    groups = notes.example_groups(examples, default, launched)
    if not groups:
        gr.Markdown("*No example images yet: add image files to `assets/examples`.*")
        return
    for group in groups:
        examples_ = gr.Examples(
            examples=[[path] for path in group.paths],
            inputs=[inputs.image],
            label=group.caption,
            examples_per_page=12,
            elem_id=f"examples-{group.model}",
        )
        # One input keeps the thumbnails a gallery; the click picks the group's model beside it.
        examples_.dataset.click(
            lambda name=group.model: gr.Dropdown(value=name), None, [model.model], queue=False, api_visibility="private"
        )
