"""The page's Video input: an uploaded clip in, the same clip with each frame's attention drawn on it out.

It runs ``attention.video.annotate_video``, as ``python -m attention video``
does, within bounds a shared server can afford, stated on the page: the clip
is probed before a frame is decoded, and refused in one line when it is too
long or its frames too large.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from attention import video
from attention.errors import InputError
from attention.files import dumps, safe_stem

from .analysis import picked_analyzer
from .downloads import new_download_folder
from .inputs import UploadRoots, markdown_text, uploaded_path
from .panels import colormap_of, opacity_of
from .runtime import FORWARD_SLOTS
from .state import ModelCache

MAX_SECONDS = 30
MAX_FRAME_PIXELS = 1920 * 1080
MAX_FRAMES = 900  # thirty seconds at 30 frames a second, however long the container says the clip is
FRAME_SIDE = 480  # frames are shrunk to this before they are analysed and drawn: the model sees less anyway
NO_VIDEO = "no video uploaded: choose a clip first"
BOUNDS = (
    f"At most {MAX_SECONDS} s and {MAX_FRAMES} frames, of at most 1920x1080 pixels; "
    f"frames are shrunk to {FRAME_SIDE} px on their long side."
)


class VideoResult(NamedTuple):
    video: Path
    document: Path
    status: str


def check_bounds(info: video.VideoInfo, name: str) -> None:
    """Refuse, in one line, a clip longer or larger than the page takes, before a frame is decoded."""
    if info.width * info.height > MAX_FRAME_PIXELS:
        raise InputError(f"{name}: frames of {info.width}x{info.height} pixels; the page takes up to 1920x1080")
    seconds = info.seconds if info.seconds is not None else (info.frames or 0) / max(info.fps, 1e-6)
    if seconds > MAX_SECONDS:
        raise InputError(f"{name} lasts {seconds:.0f} s; the page takes clips of up to {MAX_SECONDS} s")


def annotate_upload(
    clip: Any,
    picked: str | None,
    checkpoint_file: Any,
    layer: str | None,
    colormap: str | None,
    opacity: float | None,
    *,
    cache: ModelCache,
    roots: UploadRoots,
    directory: str | Path,
    progress: Callable[[int], None] | None = None,
) -> VideoResult:
    """Draw the picked model's attention on every frame of an uploaded clip: the MP4, its JSON and a status line."""
    if isinstance(clip, Mapping) and "video" in clip:  # the Video component's raw value wraps the file
        clip = clip["video"]
    found = uploaded_path(clip, roots, NO_VIDEO)
    if found is None:
        raise InputError(NO_VIDEO)
    path, name = found
    info = video.probe(path)
    check_bounds(info, name)
    analyzer, model_name = picked_analyzer(cache, picked, checkpoint_file, roots)
    wanted = layer if layer in analyzer.spatial_layer_names + analyzer.token_layer_names else None
    folder = new_download_folder(directory)
    out = folder / f"{safe_stem(Path(name).stem)}_attention.mp4"
    document = video.annotate_video(
        analyzer,
        path,
        out,
        wanted,
        max_frames=MAX_FRAMES,
        colormap=colormap_of(colormap),
        opacity=opacity_of(opacity),
        max_side=FRAME_SIDE,
        guard=lambda: FORWARD_SLOTS,
        progress=progress,
    )
    document["video"] = name
    document["checkpoint"] = model_name
    json_path = out.with_suffix(".json")
    json_path.write_text(dumps(document) + "\n", encoding="utf-8")
    frames = document["frames"]
    labels = [entry["prediction"]["label"] for entry in frames]
    common = max(set(labels), key=labels.count)
    status = (
        f"**{markdown_text(name)}** with model **{markdown_text(model_name)}**: {len(frames)} frames, "
        f"layer {markdown_text(str(document['layer']))}; most often **{markdown_text(common)}** "
        f"({labels.count(common)} of {len(frames)} frames); {document['timings']['total']:.1f} s."
    )
    return VideoResult(out, json_path, status)
