"""The image, drawing and model pickers."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr
from PIL import Image

from attention.images import MAX_PIXELS
from models.checkpoint import DEFAULT_CHECKPOINT
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


@dataclass
class InputSection:
    image: gr.Image
    analyze_button: gr.Button
    sketch: gr.Sketchpad
    sketch_button: gr.Button


def input_section(examples: list[str], model: str = DEFAULT_CHECKPOINT) -> InputSection:
    # A model trained on drawings is offered no photos (see webapp.notes); one given at launch may read them.
    examples = notes.gallery_examples(examples, model)
    with gr.Tab("Image"):
        image = gr.Image(
            label="Image (upload, paste or webcam)",
            sources=["upload", "webcam", "clipboard"],
            type="filepath",
            image_mode=None,
            height=300,
            elem_id="input-image",
        )
        analyze_button = gr.Button("Analyze", variant="primary", elem_id="analyze-button")
        if examples:
            gr.Examples(examples=[[path] for path in examples], inputs=[image], label="Examples", examples_per_page=12)
        else:
            gr.Markdown("*No example images yet: add image files to `assets/examples`.*")
    with gr.Tab("Draw"):
        sketch = gr.Sketchpad(
            label="Draw a shape (pick the brush on the left first)",
            type="pil",
            canvas_size=(256, 256),
            height=320,
            brush=gr.Brush(default_size=6, colors=["#000000", "#d62728", "#1f77b4"], color_mode="defaults"),
            elem_id="sketchpad",
        )
        sketch.preprocess = refusing_huge_drawings(sketch.preprocess)
        sketch_button = gr.Button("Analyze drawing", variant="primary", elem_id="analyze-sketch-button")
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
        )
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
