"""Live camera: the picked model's attention on every webcam frame, with its label, a channel chart and the rate.

The camera is Gradio's streaming image input. ``#live-start`` and
``#live-stop`` press its own controls (grant access, then record; or stop),
so there is one stream whichever a user clicks. A stream ends when it is
stopped, when the tab closes (its connection goes), or after
``LIVE_TIME_LIMIT_S``. Streams have a queue of their own (at most
``LIVE_STREAMS`` at once), so a waiting stream never holds up an analysis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from webapp import live
from webapp.inputs import UploadRoots
from webapp.state import ModelCache

from .common import user_errors

# The browser sends a frame this often (seconds); the server keeps only the newest while it works on one.
STREAM_EVERY_S = 0.04
LIVE_TIME_LIMIT_S = 600
LIVE_STREAMS = 2
# 320x240 is what the view needs: a larger frame costs encoding, sending and decoding, and is shrunk anyway.
CAMERA = {"video": {"width": {"ideal": 320}, "height": {"ideal": 240}}}
INTRO = (
    "Hold a drawing up to the camera: the picked model labels every frame, and its picked spatial layer's mask "
    "(a vision transformer's self-attention) is drawn over it with the page's colormap and opacity. "
    f"A stream stops after {LIVE_TIME_LIMIT_S // 60} minutes; press Start again to go on. "
    "Frames stay on this server only while they are analysed. "
    "Browsers lend the camera only to pages served over https or from this computer (localhost)."
)

# Press the camera's own buttons: first the one that asks for access, then Record once the video plays.
START = """() => {
  const press = (tries) => {
    const camera = document.querySelector('#live-camera');
    if (!camera) return;
    const access = camera.querySelector('[title="grant webcam access"] button');
    if (access) { access.click(); if (tries > 0) setTimeout(() => press(tries - 1), 150); return; }
    const record = camera.querySelector('button.capture-button');
    const video = camera.querySelector('video');
    if (!record || !video || !video.videoWidth) { if (tries > 0) setTimeout(() => press(tries - 1), 150); return; }
    if (camera.querySelector('[title="start recording"]')) record.click();
  };
  press(60);
}"""
STOP = """() => {
  const camera = document.querySelector('#live-camera');
  const record = camera && camera.querySelector('button.capture-button');
  if (record && camera.querySelector('[title="stop recording"]')) record.click();
}"""


@dataclass
class LiveSection:
    camera: gr.Image
    start: gr.Button
    stop: gr.Button
    view: gr.HTML
    state: gr.State


def live_section(
    model: gr.Dropdown,
    checkpoint: gr.File,
    map_layers: tuple[gr.Dropdown, gr.Dropdown],
    channel_layer: gr.Dropdown,
    colormap: gr.Dropdown,
    opacity: gr.Slider,
    cache: ModelCache,
    roots: UploadRoots,
) -> LiveSection:
    """The camera and its view; ``map_layers`` are the spatial and self-attention pickers, tried in that order."""
    gr.Markdown("### Live camera: attention on every frame", elem_classes="lens-heading")
    gr.Markdown(INTRO, elem_id="live-intro")
    with gr.Row(equal_height=False, elem_id="live-row"):
        with gr.Column(scale=1, min_width=300):
            camera = gr.Image(
                label="Camera",
                sources=["webcam"],
                streaming=True,
                type="pil",
                height=260,
                elem_id="live-camera",
                webcam_options=gr.WebcamOptions(constraints=CAMERA),
            )
            with gr.Row():
                start = gr.Button("Start live view", variant="primary", elem_id="live-start")
                stop = gr.Button("Stop", elem_id="live-stop")
        with gr.Column(scale=2, min_width=320):
            view = gr.HTML(live.placeholder(), elem_id="live-view")
    state = gr.State(live.LiveState())
    section = LiveSection(camera, start, stop, view, state)
    spatial_layer, token_layer = map_layers

    @user_errors
    def frame(
        image: Any,
        picked: str | None,
        checkpoint_file: Any,
        spatial: str | None,
        token: str | None,
        channel: str | None,
        colormap_: str | None,
        opacity_: float | None,
        state_: live.LiveState | None,
    ) -> dict[Any, Any]:
        drawn = live.live_frame(
            image,
            picked,
            checkpoint_file,
            spatial or token,
            channel,
            colormap_,
            opacity_,
            state_,
            cache=cache,
            roots=roots,
        )
        return {} if drawn is None else {view: drawn.html, state: drawn.state}

    camera.stream(
        frame,
        [camera, model, checkpoint, spatial_layer, token_layer, channel_layer, colormap, opacity, state],
        [view, state],
        stream_every=STREAM_EVERY_S,
        time_limit=LIVE_TIME_LIMIT_S,
        concurrency_id="live",
        concurrency_limit=LIVE_STREAMS,
        show_progress="hidden",
        api_visibility="private",
    )
    start.click(None, None, None, js=START)
    stop.click(None, None, None, js=STOP)
    return section
