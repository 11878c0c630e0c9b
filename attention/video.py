"""Attention over a video: frames read with PyAV, each frame's attention drawn on it, written as MP4 or GIF.

PyAV (FFmpeg's libraries, bundled in its wheel) both decodes and encodes, so
one dependency covers every container FFmpeg reads and H.264 output, with no
``ffmpeg`` program to find on the PATH; it is imported only here, so the rest
of the library works without it. A video is hostile input like any file: its
frame size is checked before a frame is decoded, at most ``MAX_FRAMES`` frames
are analysed, and a damaged or truncated stream ends in one ``InputError``
line, not a traceback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from .analysis import Analyzer, ImageAnalysis, layer_statistics
from .display import DEFAULT_COLORMAP, DEFAULT_OPACITY
from .errors import InputError
from .render import enlarged, overlay
from .render_frames import attention_map, default_layer, label_strip

LOGGER = logging.getLogger(__name__)

MAX_SIDE = 4096  # pixels on a frame's longer side
MAX_FRAMES = 3000  # frames analysed per run (at 25 fps, two minutes of every frame)
MAX_GIF_FRAMES = 300  # a GIF is held in memory until it is written: slides want a short one anyway
OUTPUTS = (".mp4", ".gif")
BAR_HEIGHT = 40
# libx264's "veryfast" preset: about a third of "medium"'s time on these frames, at the same quality setting
# (CRF 23) and files somewhat larger; the encoder's threads otherwise take the cores the next frames' passes need.
ENCODER_OPTIONS = {"preset": "veryfast", "crf": "23"}
LINE = "#ffcc00"
BAR_FILL = (30, 30, 30)


@dataclass(frozen=True)
class Frame:
    index: int  # in the input video
    seconds: float
    image: Image.Image


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    fps: float
    frames: int | None  # as the container declares it, when it does
    seconds: float | None


def _av() -> Any:
    try:
        import av
    except ImportError as error:  # pragma: no cover - av is in requirements.txt
        raise InputError("reading video needs PyAV: pip install av") from error
    return av


def check_output(path: Path) -> str:
    """The output format from the file name; one-line InputError for another."""
    suffix = path.suffix.lower()
    if suffix not in OUTPUTS:
        raise InputError(f"write the video as .mp4 or .gif, not {path.name!r}")
    return suffix


def probe(path: str | Path) -> VideoInfo:
    """The first video stream's size, rate and length, checked before any frame is decoded."""
    av = _av()
    try:
        with av.open(str(path)) as container:
            streams = container.streams.video
            if not streams:
                raise InputError(f"{Path(path).name} has no video stream")
            stream = streams[0]
            width, height = int(stream.codec_context.width or 0), int(stream.codec_context.height or 0)
            rate = stream.average_rate or stream.guessed_rate or Fraction(25)
            seconds = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else None
            frames = int(stream.frames) if stream.frames else None
    except InputError:
        raise
    except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError) as error:
        raise InputError(f"could not read {Path(path).name} as a video ({_reason(error)})") from None
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise InputError(f"{Path(path).name}: frames of {width}x{height} pixels; at most {MAX_SIDE} on a side")
    return VideoInfo(width, height, float(rate), frames, seconds)


def _reason(error: BaseException) -> str:
    """FFmpeg's own words for what went wrong, without the file's full path (the message names the file)."""
    text = getattr(error, "strerror", None) or (str(error).strip().splitlines() or [type(error).__name__])[0]
    return str(text)[:200]


def read_frames(path: str | Path, every: int = 1, max_frames: int = MAX_FRAMES) -> Iterator[Frame]:
    """Every ``every``-th frame as RGB, at most ``max_frames`` of them; a damaged stream ends in one InputError line."""
    if every < 1:
        raise InputError("--every must be at least 1")
    info = probe(path)
    av = _av()
    yielded = 0
    index = -1
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                index += 1
                if index % every:
                    continue
                if yielded == max_frames:
                    LOGGER.warning("%s: stopped after %d frames (the limit)", Path(path).name, max_frames)
                    return
                image = frame.to_image()
                if image.size != (info.width, info.height) and max(image.size) > MAX_SIDE:
                    raise InputError(f"{Path(path).name}: frame {index} is {image.width}x{image.height} pixels")
                seconds = float(frame.time) if frame.time is not None else index / info.fps
                yielded += 1
                yield Frame(index, seconds, image.convert("RGB"))
    except InputError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as error:
        raise InputError(
            f"{Path(path).name} is damaged or truncated after frame {max(index, 0)} ({_reason(error)})"
        ) from None
    if yielded == 0:
        raise InputError(f"{Path(path).name} holds no frame that could be decoded")


class TimeBar:
    """The strip under each frame: p(top label) so far as a line, one segment added per frame, and a cursor.

    Drawing only the new segment keeps a frame's cost the same at the end of
    a long video as at its start. A video that does not declare its length
    (``duration`` 0) spans the time so far, redrawn for every frame.
    """

    def __init__(self, duration: float) -> None:
        self.known = duration > 0
        self.span = max(duration, 1e-6)
        self.history: list[tuple[float, float]] = []  # (seconds, probability)
        self._strip: Image.Image | None = None

    def _point(self, seconds: float, value: float, width: int) -> tuple[float, float]:
        top, bottom = 4, BAR_HEIGHT - 4
        return min(1.0, seconds / self.span) * (width - 1), bottom - value * (bottom - top)

    def add(self, seconds: float, value: float, width: int) -> Image.Image:
        """The strip, ``width`` px wide, with the point (``seconds``, ``value``) joined to the line."""
        self.history.append((seconds, value))
        if not self.known:
            self.span, self._strip = max(seconds, 1e-6), None
        if self._strip is None or self._strip.width != width:  # the first frame, or frames that changed size
            self._strip = Image.new("RGB", (width, BAR_HEIGHT), BAR_FILL)
            points = [self._point(s, v, width) for s, v in self.history]
        else:
            points = [self._point(s, v, width) for s, v in self.history[-2:]]
        if len(points) > 1:
            ImageDraw.Draw(self._strip).line(points, fill=LINE, width=2)
        shown = self._strip.copy()
        x = points[-1][0]
        ImageDraw.Draw(shown).line((x, 4, x, BAR_HEIGHT - 4), fill="white", width=1)
        return shown


def annotate(
    analysis: ImageAnalysis,
    layer: str | None,
    bar: TimeBar,
    seconds: float,
    colormap: str = DEFAULT_COLORMAP,
    opacity: float = DEFAULT_OPACITY,
) -> Image.Image:
    """The frame with the layer's map over it, its top label, and under it ``bar`` with this frame's point added."""
    values = None if layer is None else attention_map(analysis, layer)
    # A small video is enlarged as every heatmap is (a 96 px clip to 256 px), so the label and cells read on a slide.
    picture = (
        enlarged(analysis.image.convert("RGB"))
        if values is None
        else overlay(analysis.image, values, colormap, opacity, view=analysis.view)
    )
    best, probability = analysis.top(1)[0]
    canvas = Image.new("RGB", (picture.width, picture.height + BAR_HEIGHT), "white")
    canvas.paste(picture, (0, 0))
    label = label_strip(f"{analysis.classes[best]} {probability:.0%}")
    canvas.paste(label.crop((0, 0, min(label.width, picture.width), label.height)), (0, 0))
    canvas.paste(bar.add(seconds, probability, picture.width), (0, picture.height))
    return canvas


def frame_entry(frame: Frame, analysis: ImageAnalysis) -> dict[str, Any]:
    """One frame in the JSON: when it is, the prediction and the per-layer statistics."""
    best, probability = analysis.top(1)[0]
    return {
        "frame": frame.index,
        "seconds": round(frame.seconds, 6),
        "prediction": {"label": analysis.classes[best], "index": best, "probability": round(probability, 6)},
        "top": [{"label": analysis.classes[i], "probability": round(p, 6)} for i, p in analysis.top()],
        "layers": [
            {key: (round(value, 6) if isinstance(value, float) else value) for key, value in row.items()}
            for row in layer_statistics(analysis)
        ],
    }


class VideoWriter:
    """Frames in, an MP4 (H.264, written as they come) or a GIF (written at the end) out."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path = path
        self.kind = check_output(path)
        self.fps = max(0.1, fps)
        self._container: Any = None
        self._stream: Any = None
        self._gif: list[Image.Image] = []

    def write(self, image: Image.Image) -> None:
        if self.kind == ".gif":
            if len(self._gif) == MAX_GIF_FRAMES:
                raise InputError(f"a GIF holds at most {MAX_GIF_FRAMES} frames; write .mp4, or pass --every")
            self._gif.append(image.convert("P", palette=Image.Palette.ADAPTIVE))
            return
        av = _av()
        # H.264 with 4:2:0 colour wants even sides.
        even = image.crop((0, 0, image.width - image.width % 2, image.height - image.height % 2))
        if self._container is None:
            self._container = av.open(str(self.path), mode="w")
            self._stream = self._container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1000))
            self._stream.width, self._stream.height = even.size
            self._stream.pix_fmt = "yuv420p"
            self._stream.options = dict(ENCODER_OPTIONS)
        for packet in self._stream.encode(av.VideoFrame.from_image(even)):
            self._container.mux(packet)

    def close(self) -> None:
        if self.kind == ".gif":
            if self._gif:
                duration = round(1000 / self.fps)
                self._gif[0].save(self.path, save_all=True, append_images=self._gif[1:], duration=duration, loop=0)
            return
        if self._container is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()


BATCH = 16  # frames per forward pass: faster than one by one, and a few frames' memory at most


def annotate_video(
    analyzer: Analyzer,
    source: str | Path,
    out: Path,
    layer: str | None = None,
    every: int = 1,
    max_frames: int = MAX_FRAMES,
    colormap: str = DEFAULT_COLORMAP,
    opacity: float = DEFAULT_OPACITY,
    max_side: int | None = None,
    guard: Callable[[], AbstractContextManager[Any]] = nullcontext,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Write ``out`` with every ``every``-th frame's attention drawn on it; return the per-frame document.

    ``layer`` (a spatial or self-attention layer; by default the deepest)
    is drawn; ``max_side`` shrinks larger frames first; each batch's forward
    pass runs inside ``guard()`` (a server's shared slots); ``progress`` is
    told how many frames each batch added. The document holds each frame's
    prediction and per-layer statistics, and the seconds spent decoding,
    analysing, drawing and encoding.
    """
    check_output(out)
    info = probe(source)
    if layer is not None and layer not in analyzer.spatial_layer_names + analyzer.token_layer_names:
        raise InputError(f"{layer!r} is not a spatial or self-attention layer of {analyzer.name}")
    duration = info.seconds or ((info.frames or 0) / info.fps if info.fps else 0.0)
    timings = dict.fromkeys(("decode", "analyse", "draw", "encode"), 0.0)
    entries: list[dict[str, Any]] = []
    bar = TimeBar(duration)
    writer = VideoWriter(out, info.fps / every)
    batch: list[Frame] = []
    started = time.perf_counter()

    def flush() -> None:
        nonlocal layer
        moment = time.perf_counter()
        with guard():
            analyses = analyzer.analyze([frame.image for frame in batch], names=[str(f.index) for f in batch])
        timings["analyse"] += time.perf_counter() - moment
        for frame, analysis in zip(batch, analyses):
            layer = layer or default_layer(analysis)
            moment = time.perf_counter()
            picture = annotate(analysis, layer, bar, frame.seconds, colormap, opacity)
            timings["draw"] += time.perf_counter() - moment
            moment = time.perf_counter()
            writer.write(picture)
            timings["encode"] += time.perf_counter() - moment
            entries.append(frame_entry(frame, analysis))
        if progress is not None:
            progress(len(batch))
        batch.clear()

    moment = time.perf_counter()
    for frame in read_frames(source, every, max_frames):
        if max_side is not None and max(frame.image.size) > max_side:
            scale = max_side / max(frame.image.size)
            size = (max(1, round(frame.image.width * scale)), max(1, round(frame.image.height * scale)))
            frame = Frame(frame.index, frame.seconds, frame.image.resize(size, Image.Resampling.BILINEAR))
        timings["decode"] += time.perf_counter() - moment
        batch.append(frame)
        if len(batch) == BATCH:
            flush()
        moment = time.perf_counter()
    if batch:
        flush()
    moment = time.perf_counter()
    writer.close()
    timings["encode"] += time.perf_counter() - moment
    return {
        "checkpoint": analyzer.name,
        "video": Path(source).name,
        "layer": layer,
        "every": every,
        "fps": {"input": round(info.fps, 6), "output": round(info.fps / every, 6)},
        "timings": {
            **{key: round(value, 4) for key, value in timings.items()},
            "total": round(time.perf_counter() - started, 4),
        },
        "frames": entries,
    }
