"""The Live view's event: a camera frame in; the top label, the map over the frame, a channel chart and the rate out.

Gradio keeps only the newest frame a browser has sent while the last one is
being analysed, so a slow frame drops the ones behind it instead of queueing
them, and latency cannot grow. Each frame takes one of the server's forward
slots (``runtime.FORWARD_SLOTS``), the same ones ordinary analyses take. The
view is one HTML block with the pictures inline (JPEG and PNG data URLs):
one message per frame, and no file left behind per frame.
"""

from __future__ import annotations

import base64
import html
import io
import time
import weakref
from dataclasses import dataclass
from typing import Any

from PIL import Image

from attention import render_frames
from attention.analysis import Analyzer, ImageAnalysis
from attention.errors import InputError

from .analysis import display_image, picked_analyzer
from .inputs import UploadRoots, path_of
from .panels import colormap_of, opacity_of
from .runtime import FORWARD_SLOTS
from .state import ModelCache

# A frame's long side is brought down to this before it is analysed and drawn: a webcam's 1080p frame says
# no more to a 64-224 px model, and a smaller overlay travels faster.
LIVE_MAX_SIDE = 480
RATE_WINDOW_S = 2.0  # the frame rate is counted over the frames delivered in the last two seconds
JPEG_QUALITY = 85


@dataclass(frozen=True)
class LiveState:
    """What one browser's stream keeps between frames: when frames were delivered, and the model it resolved."""

    times: tuple[float, ...] = ()
    model_key: tuple[str, str] | None = None
    analyzer: weakref.ref[Analyzer] | None = None
    model_name: str = ""

    def rate(self) -> float:
        """Frames per second over the last ``RATE_WINDOW_S``; 0 until two frames have been delivered."""
        if len(self.times) < 2 or self.times[-1] <= self.times[0]:
            return 0.0
        return (len(self.times) - 1) / (self.times[-1] - self.times[0])


@dataclass(frozen=True)
class LiveFrame:
    html: str
    state: LiveState
    analysis: ImageAnalysis


def _resolve(state: LiveState, cache: ModelCache, picked: str | None, checkpoint_file: Any, roots: UploadRoots):
    """The analyzer for the picked model (and upload), resolved once per stream rather than once per frame."""
    key = (str(picked or ""), str(path_of(checkpoint_file) or ""))
    analyzer = state.analyzer() if state.analyzer is not None and state.model_key == key else None
    if analyzer is not None:
        return state, analyzer
    analyzer, name = picked_analyzer(cache, picked, checkpoint_file, roots)
    return LiveState(state.times, key, weakref.ref(analyzer), name), analyzer


def data_url(image: Image.Image, kind: str = "JPEG") -> str:
    buffer = io.BytesIO()
    if kind == "JPEG":
        image.save(buffer, "JPEG", quality=JPEG_QUALITY)
    else:
        image.save(buffer, "PNG", compress_level=1)
    return f"data:image/{kind.lower()};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def view_html(
    label: str,
    overlay_url: str | None = None,
    chart_url: str | None = None,
    rate: str = "0.0 frames/s",
    caption: str = "",
    started: float | None = None,
) -> str:
    """The Live view's block; its element ids (live-label, live-overlay, live-fps) are what outside checks read.

    ``started`` (seconds since the epoch) is when the server began this frame, in ``data-frame-start``, so
    a benchmark in the browser can tell how old the frame it shows is.
    """
    chart = (
        f'<img src="{chart_url}" alt="channel weights of the picked channel layer">'
        if chart_url
        else f"<p>{'The channel chart shows here.' if overlay_url is None else 'This model has no channel layer.'}</p>"
    )
    picture = (
        '<div class="live-empty">The camera\'s frames show here, with their attention.</div>'
        if overlay_url is None
        else f'<img src="{overlay_url}" alt="attention over the frame">'
    )
    label_class = "live-label live-waiting" if overlay_url is None else "live-label"
    return (
        f'<div class="live-view" data-frame-start="{0 if started is None else round(started * 1000)}">'
        f'<div id="live-label" class="{label_class}">{html.escape(label)}</div>'
        '<div class="live-pictures">'
        f'<div id="live-overlay" class="live-overlay">{picture}</div>'
        '<div class="live-side">'
        f'<div id="live-chart" class="live-chart">{chart}</div>'
        f'<div id="live-fps" class="live-fps">{html.escape(rate)}</div>'
        f'<div class="live-caption">{html.escape(caption)}</div>'
        "</div></div></div>"
    )


def placeholder() -> str:
    return view_html("Press Start live view to see the camera's attention")


def live_frame(
    frame: Image.Image | None,
    picked: str | None,
    checkpoint_file: Any,
    map_layer: str | None,
    channel_layer: str | None,
    colormap: str | None,
    opacity: float | None,
    state: LiveState | None,
    *,
    cache: ModelCache,
    roots: UploadRoots,
    now: float | None = None,
) -> LiveFrame | None:
    """Analyse one camera frame and draw the Live view; None for an empty frame (the camera is still starting)."""
    if frame is None:
        return None
    started, clock = time.time(), time.perf_counter()
    if not isinstance(frame, Image.Image):
        raise InputError("a live frame must be an image")
    state = state if isinstance(state, LiveState) else LiveState()
    colormap, opacity = colormap_of(colormap), opacity_of(opacity)
    state, analyzer = _resolve(state, cache, picked, checkpoint_file, roots)
    image = display_image(frame.convert("RGB"), LIVE_MAX_SIDE)
    with FORWARD_SLOTS:
        analysis = analyzer.analyze([image], ["frame"])[0]
    layer = render_frames.drawn_layer(analysis, map_layer)
    overlay_url = data_url(render_frames.frame_overlay(analysis, layer, colormap, opacity))
    channels = render_frames.charted_layer(analysis, channel_layer)
    chart_url = None if channels is None else data_url(render_frames.channel_chart(channels), "PNG")
    best, probability = analysis.top(1)[0]
    now = time.monotonic() if now is None else now
    times = tuple(t for t in state.times if now - t <= RATE_WINDOW_S) + (now,)
    state = LiveState(times, state.model_key, state.analyzer, state.model_name)
    shown = f"{layer} over the frame" if layer else "no spatial or self-attention map"
    caption = f"{state.model_name}: {shown}; {1000 * (time.perf_counter() - clock):.0f} ms a frame on the server"
    return LiveFrame(
        view_html(
            f"{analysis.classes[best]} {probability:.0%}",
            overlay_url,
            chart_url,
            f"{state.rate():.1f} frames/s",
            caption,
            started,
        ),
        state,
        analysis,
    )
