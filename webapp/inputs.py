"""What arrives from outside: uploaded files, their names, and drawings.

The API is public, and with ``preprocess=False`` a client sends the file
payload itself, path included. So a path is trusted only when it lies inside a
folder the server put it in: Gradio's upload folder (files it received for a
request) or the examples folder the page serves. Anything else is refused with
the same line whether or not the file exists, so the answer never tells a
client which files the server has.
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from attention.errors import CheckpointError, InputError
from attention.images import IMAGE_SUFFIXES, ImageSource, load_image
from models.weights import WEIGHT_SUFFIXES

NO_IMAGE = "no image was uploaded: upload, paste or photograph an image first"
NO_CHECKPOINT = "no checkpoint was uploaded: upload the checkpoint file again"
# File names the checkpoint picker offers and the API accepts: one list for both.
CHECKPOINT_SUFFIXES: tuple[str, ...] = WEIGHT_SUFFIXES
MAX_NAME_CHARS = 120


@dataclass(frozen=True)
class UploadRoots:
    """The folders whose files a request may name: fixed when the app is built."""

    folders: tuple[Path, ...]

    @classmethod
    def of(cls, folders: Iterable[str | Path]) -> UploadRoots:
        # realpath once here, so a symlinked temp dir (macOS /tmp, say) still matches resolved uploads.
        return cls(tuple(Path(os.path.realpath(folder)) for folder in folders))

    def contains(self, path: str | Path) -> bool:
        """Whether ``path``, with every symlink and ``..`` resolved, lies inside one of the folders."""
        resolved = Path(os.path.realpath(path))
        return any(resolved != folder and resolved.is_relative_to(folder) for folder in self.folders)


def gradio_upload_folder() -> Path:
    """Where Gradio stores what it receives (GRADIO_TEMP_DIR, or <tmp>/gradio), as gradio.utils reports it."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder())


def one_line(text: str, limit: int = MAX_NAME_CHARS) -> str:
    """A user-chosen name on one line: control characters (newlines included) become spaces."""
    cleaned = "".join(" " if (ord(c) < 32 or 127 <= ord(c) < 160 or c in "\u2028\u2029") else c for c in str(text))
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def markdown_text(text: str) -> str:
    """User-chosen text (a file name) shown literally in Markdown on one line, never as markup or HTML."""
    escaped = html.escape(one_line(text), quote=False)
    return "".join("\\" + c if c in "\\`*_{}[]()#+-.!|~" else c for c in escaped)


def path_of(value: Any) -> str | None:
    """The path in what a Gradio file or image component sends, raw or preprocessed."""
    if value is None or value == "":
        return None
    if isinstance(value, (str, Path)):
        return str(value)
    if isinstance(value, Mapping):
        path = value.get("path")
        return str(path) if path else None
    path = getattr(value, "path", None)
    return str(path) if path else None


def _name_of(value: Any, path: str) -> str:
    name = value.get("orig_name") if isinstance(value, Mapping) else getattr(value, "orig_name", None)
    return one_line(str(name or Path(path).name)) or "upload"


def uploaded_path(value: Any, roots: UploadRoots, refusal: str) -> tuple[str, str] | None:
    """(path, display name) of an uploaded file, None when nothing was sent; InputError(refusal) outside ``roots``."""
    path = path_of(value)
    if path is None:
        return None
    if "\0" in path or not roots.contains(path):
        raise InputError(refusal)
    return path, _name_of(value, path)


def resolve_upload(value: Any, roots: UploadRoots) -> tuple[ImageSource, str]:
    """(something ``load_image`` reads, display name) for an uploaded image in any form.

    The app receives the raw upload (a dict with the server-side path and the
    original file name) so that the original bytes, not a copy Gradio already
    converted, reach ``load_image``: that is where EXIF orientation, 16-bit,
    CMYK and palette images, size limits and broken files are handled.
    """
    if value is None or value == "" or value == {}:
        raise InputError(NO_IMAGE)
    if isinstance(value, Image.Image):
        return value, "image"
    if isinstance(value, (bytes, bytearray)):
        return bytes(value), "upload"
    found = uploaded_path(value, roots, NO_IMAGE)
    if found is None:
        raise InputError(NO_IMAGE)
    return found


def checkpoint_upload(value: Any, roots: UploadRoots) -> tuple[str, str] | None:
    """(path, display name) of an uploaded checkpoint, None when none was sent; refused outside ``roots``."""
    found = uploaded_path(value, roots, NO_CHECKPOINT)
    if found is None:
        return None
    path, name = found
    if not Path(path).name.lower().endswith(CHECKPOINT_SUFFIXES):
        raise CheckpointError(f"{name} is not a checkpoint file; use one of: {', '.join(CHECKPOINT_SUFFIXES)}")
    return found


def sketch_image(value: Any, roots: UploadRoots) -> Image.Image:
    """The drawing on the sketchpad, flattened on white; InputError if nothing was drawn."""
    composite = value.get("composite") if isinstance(value, Mapping) else value
    if composite is None:
        raise InputError("the sketchpad is empty: draw a shape first")
    if isinstance(composite, Image.Image):
        image = composite
    else:
        source, _name = resolve_upload(composite, roots)
        image = load_image(source)
    if image.mode in ("RGBA", "LA", "PA", "P"):
        image = load_image(image)  # flattens transparency on white, like an uploaded drawing
    extrema = image.convert("L").getextrema()
    if extrema[0] == extrema[1]:
        raise InputError("the sketchpad is empty: draw a shape first")
    return image.convert("RGB")


def example_images(folder: str | Path) -> list[str]:
    """Image files in the examples folder, sorted; empty when the folder is empty or missing."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(
        str(path)
        for path in folder.iterdir()
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")
    )
