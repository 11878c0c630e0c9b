"""Video: upload a short clip, receive it with the picked model's attention drawn on every frame, and its JSON."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from webapp import video
from webapp.inputs import UploadRoots
from webapp.state import ModelCache

from .common import MODEL_EVENTS, user_errors

INTRO = (
    "Each frame gets the picked spatial layer's mask (a vision transformer's self-attention), its top label, and "
    "under it a time bar of that label's probability, as `python -m attention video` draws them. "
)


@dataclass
class VideoSection:
    clip: gr.Video
    button: gr.Button
    annotated: gr.Video
    document: gr.File
    status: gr.Markdown


def video_section(
    model: gr.Dropdown,
    checkpoint: gr.File,
    map_layers: tuple[gr.Dropdown, gr.Dropdown],
    colormap: gr.Dropdown,
    opacity: gr.Slider,
    cache: ModelCache,
    roots: UploadRoots,
    folder: Path,
) -> VideoSection:
    with gr.Accordion("Video: attention on every frame of a clip", open=False, elem_id="video-section"):
        gr.Markdown(INTRO + video.BOUNDS, elem_id="video-intro")
        with gr.Row(equal_height=False):
            clip = gr.Video(label="Clip", sources=["upload"], height=260, elem_id="video-input")
            annotated = gr.Video(label="With its attention", interactive=False, height=260, elem_id="video-output")
        button = gr.Button("Draw the attention on every frame", variant="primary", elem_id="video-button")
        status = gr.Markdown(elem_id="video-status")
        document = gr.File(label="Per-frame predictions and layer statistics (JSON)", elem_id="video-json")
    section = VideoSection(clip, button, annotated, document, status)
    spatial_layer, token_layer = map_layers

    @user_errors
    def annotate(
        clip_: Any,
        picked: str | None,
        checkpoint_file: Any,
        spatial: str | None,
        token: str | None,
        colormap_: str | None,
        opacity_: float | None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - Gradio's way of asking for a progress bar
    ) -> dict[Any, Any]:
        done = 0

        def advance(frames: int) -> None:
            nonlocal done
            done += frames
            progress((done, None), desc="frames analysed", unit="frames")

        result = video.annotate_upload(
            clip_,
            picked,
            checkpoint_file,
            spatial or token,
            colormap_,
            opacity_,
            cache=cache,
            roots=roots,
            directory=folder,
            progress=advance,
        )
        return {annotated: str(result.video), document: str(result.document), status: result.status}

    button.click(
        annotate,
        [clip, model, checkpoint, spatial_layer, token_layer, colormap, opacity],
        [annotated, document, status],
        preprocess=False,
        api_visibility="private",
        **MODEL_EVENTS,
    )
    return section
