"""The files the app writes: where they go, how long they live, and the two downloads.

Every file the server writes lives under one folder of its own in the system
temp directory (``attention-lens-*``): Gradio's upload cache (unless
GRADIO_TEMP_DIR names another) and the app's download folders. A background
pruner deletes what is older than an age cap and, oldest first, what is over a
size cap, so a long-running server's disk use stays bounded; a normal stop
(SIGINT or SIGTERM) removes the whole folder.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread
from starlette.responses import PlainTextResponse

from attention import render
from attention.display import DEFAULT_COLORMAP, DEFAULT_OPACITY, DEFAULT_TOP_K
from attention.files import dumps, safe_stem

from . import debug
from .panels import DEFAULT_SCALE, colormap_of, opacity_of, stretch_of, top_k_of
from .state import LensResult

LOGGER = logging.getLogger(__name__)

# Gradio copies a returned file into its own cache, so a download folder is needed only until its event returns.
DOWNLOADS_MAX_AGE_S = 600.0
DOWNLOADS_MAX_BYTES = 64 << 20
# Uploads and the copies the page links to: kept as long as a session's state (30 minutes).
CACHE_MAX_AGE_S = 1800.0
CACHE_MAX_BYTES = 512 << 20
# Size pruning never takes an entry younger than this: a request may still be reading it.
MIN_AGE_S = 30.0
PRUNE_EVERY_S = 30.0


def _entry_stats(entry: Path) -> tuple[float, int]:
    """(newest modification time, bytes) of a file or a folder tree, without following symlinks."""
    newest = entry.lstat().st_mtime
    size = 0
    if entry.is_dir() and not entry.is_symlink():
        for folder, _dirs, files in os.walk(entry):
            for name in files:
                try:
                    stat = os.lstat(os.path.join(folder, name))
                except OSError:
                    continue
                newest = max(newest, stat.st_mtime)
                size += stat.st_size
    else:
        size = entry.lstat().st_size
    return newest, size


def _remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)


def prune_folder(
    folder: str | Path, max_age_s: float, max_bytes: int, min_age_s: float = MIN_AGE_S, now: float | None = None
) -> int:
    """Delete the folder's entries older than ``max_age_s``, then the oldest until it holds ≤ ``max_bytes``.

    An entry is one child (a file, or a folder with everything in it). Returns
    the bytes left. Entries younger than ``min_age_s`` are never taken for
    size, since a request may be reading them.
    """
    folder = Path(folder)
    now = time.time() if now is None else now
    entries = []
    try:
        children = list(folder.iterdir())
    except OSError:
        return 0
    for entry in children:
        try:
            newest, size = _entry_stats(entry)
        except OSError:
            continue
        if now - newest > max_age_s:
            _remove(entry)
        else:
            entries.append((newest, size, entry))
    total = sum(size for _newest, size, _entry in entries)
    for newest, size, entry in sorted(entries, key=lambda item: item[0]):
        if total <= max_bytes:
            break
        if now - newest < min_age_s:
            break
        _remove(entry)
        total -= size
    return total


def folder_bytes(folder: str | Path) -> int:
    """Bytes of every file under ``folder`` (0 when it is missing)."""
    total = 0
    for base, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(base, name)).st_size
            except OSError:
                continue
    return total


@dataclass
class TempSpace:
    """The server's own temp folder, its two parts, and their caps."""

    root: Path
    uploads: Path  # Gradio's upload cache: what GRADIO_TEMP_DIR points at
    downloads: Path
    owns_uploads: bool = True  # False when GRADIO_TEMP_DIR was set by whoever started the server
    downloads_max_age_s: float = DOWNLOADS_MAX_AGE_S
    downloads_max_bytes: int = DOWNLOADS_MAX_BYTES
    cache_max_age_s: float = CACHE_MAX_AGE_S
    cache_max_bytes: int = CACHE_MAX_BYTES
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)

    @classmethod
    def create(cls, parent: str | Path | None = None) -> TempSpace:
        """A fresh ``attention-lens-*`` folder in the temp directory; points GRADIO_TEMP_DIR into it if unset.

        Call it before gradio is imported: some of its modules read GRADIO_TEMP_DIR at import.
        """
        root = Path(tempfile.mkdtemp(prefix="attention-lens-", dir=parent))
        downloads = root / "downloads"
        downloads.mkdir()
        chosen = os.environ.get("GRADIO_TEMP_DIR")
        if chosen:
            return cls(root, Path(chosen), downloads, owns_uploads=False)
        uploads = root / "gradio"
        uploads.mkdir()
        os.environ["GRADIO_TEMP_DIR"] = str(uploads)
        return cls(root, uploads, downloads)

    def prune(self) -> tuple[int, int]:
        """Apply both folders' caps now; (uploads bytes, downloads bytes) left."""
        uploads = prune_folder(self.uploads, self.cache_max_age_s, self.cache_max_bytes)
        downloads = prune_folder(self.downloads, self.downloads_max_age_s, self.downloads_max_bytes)
        return uploads, downloads

    def upload_room(self) -> bool:
        """Prune the upload folder now and say whether it is back under its size cap."""
        return prune_folder(self.uploads, self.cache_max_age_s, self.cache_max_bytes) <= self.cache_max_bytes

    def start_pruning(self, every_s: float = PRUNE_EVERY_S) -> threading.Thread:
        def loop() -> None:
            while not self._stop.wait(every_s):
                try:
                    self.prune()
                except Exception:  # noqa: BLE001 - pruning must never stop the server
                    LOGGER.exception("pruning the temp folders failed")

        thread = threading.Thread(target=loop, name="temp-pruner", daemon=True)
        thread.start()
        return thread

    def remove(self) -> None:
        """Delete everything the server wrote (at a normal stop)."""
        self._stop.set()
        shutil.rmtree(self.root, ignore_errors=True)
        if not self.owns_uploads:
            LOGGER.info("left %s in place: GRADIO_TEMP_DIR was chosen by the caller", self.uploads)


UPLOAD_FULL = "the server's upload space is full; try again in a minute"


class UploadGuard:
    """ASGI middleware that prunes the upload folder as each upload arrives and refuses uploads while it is full.

    Gradio's upload route is not queued, so a fast client could otherwise fill
    the disk between two runs of the timed pruner.
    """

    def __init__(self, app: Any, space: TempSpace) -> None:
        self.app = app
        self.space = space

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].endswith("/upload"):
            if not await anyio.to_thread.run_sync(self.space.upload_room):
                LOGGER.warning("refused an upload: %s is over its cap", self.space.uploads)
                await PlainTextResponse(UPLOAD_FULL, status_code=503)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def new_download_folder(directory: str | Path) -> Path:
    """One folder per file, so every download keeps a readable name without clashing."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="dl-", dir=directory))


def write_document(result: LensResult, directory: str | Path) -> Path:
    """The analysis JSON (the CLI's ``--json`` schema) as a file to download."""
    path = new_download_folder(directory) / f"{safe_stem(Path(result.image_name).stem)}_analysis.json"
    path.write_text(dumps(result.document), encoding="utf-8")
    return path


def report_png(
    result: LensResult,
    directory: str | Path,
    colormap: str | None = DEFAULT_COLORMAP,
    opacity: float | None = DEFAULT_OPACITY,
    scale: str | None = DEFAULT_SCALE,
    top_k: float | None = DEFAULT_TOP_K,
    ablation: debug.Ablation | None = None,
    cams: debug.GradCams | None = None,
) -> Path:
    """The PNG report with the page's display settings: the summary, then the ablation and Grad-CAM when computed.

    An ablation or Grad-CAM of another analysis is left out, so the report
    never pairs this image with another image's debugging views.
    """
    colormap, stretch = colormap_of(colormap), stretch_of(scale)
    figure = render.summary_figure(
        result.analysis, colormap=colormap, opacity=opacity_of(opacity), stretch=stretch, top_k=top_k_of(top_k)
    )
    pictures = [render.figure_to_image(figure)]
    key = debug.result_key(result)
    ablation = debug.ablation_of(result) if ablation is None or ablation.key != key else ablation
    chart = debug.ablation_chart(ablation)
    if chart is not None:
        pictures.append(chart)
    if cams is not None and debug.belongs(cams, result):
        for layer in result.spatial_layer_names:
            image, _numbers = debug.gradcam_view(cams, layer, colormap, scale)
            if image is not None:
                pictures.append(image)
    path = new_download_folder(directory) / f"{safe_stem(Path(result.image_name).stem)}_report.png"
    render.stacked(pictures).save(path, format="PNG")
    return path
