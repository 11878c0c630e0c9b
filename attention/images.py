"""Turn whatever a user uploads into an RGB image, and an image into model input.

Every failure is an ImageInputError with one line of text, because the CLI and
the web app both show it to a person, not a developer. Size limits are checked
from the header before any pixel is decoded, so a decompression bomb costs
nothing.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageInputError

LOGGER = logging.getLogger(__name__)

MAX_PIXELS = 40_000_000  # refused above this, before decoding
MAX_SIDE = 2048  # larger images are downscaled for display and overlays
MIN_SIDE = 8
# File names the app's gallery and the profile's folders treat as images.
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".ico"}
)

ImageSource = str | Path | bytes | Image.Image


def _open(source: ImageSource) -> tuple[Image.Image, str]:
    if isinstance(source, Image.Image):
        return source, "image"
    if isinstance(source, (bytes, bytearray)):
        return Image.open(io.BytesIO(source)), "upload"
    path = Path(source)
    if not path.is_file():
        if path.is_dir():
            raise ImageInputError(f"{path} is a directory, not an image file")
        if path.exists():
            raise ImageInputError(f"{path} is not a regular file")
        raise ImageInputError(f"{path}: no such file")
    return Image.open(path), path.name


def _to_8bit(image: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer and float grayscale scaled into 0-255 instead of clipped."""
    array = np.asarray(image, dtype=np.float64)
    if image.mode.startswith("I;16"):
        array = array / 257.0
    else:
        low, high = float(np.nanmin(array)), float(np.nanmax(array))
        already_8bit = image.mode != "F" and low >= 0 and high <= 255
        if not already_8bit:
            array = (array - low) * (255.0 / (high - low)) if high > low else np.zeros_like(array)
    return Image.fromarray(np.clip(np.nan_to_num(array), 0, 255).astype(np.uint8), mode="L")


def _flatten_alpha(image: Image.Image) -> Image.Image:
    """Transparent areas become white, as drawings from paint programs expect."""
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return _to_8bit(image).convert("RGB")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info):
        return _flatten_alpha(image)
    return image.convert("RGB")


def load_image(source: ImageSource, max_pixels: int = MAX_PIXELS, max_side: int = MAX_SIDE) -> Image.Image:
    """Decode an upload or a file into an RGB image ready for analysis.

    EXIF orientation is applied; animated images give their first frame;
    images larger than ``max_side`` are downscaled (aspect kept) so overlays
    stay responsive; images over ``max_pixels`` are refused before decoding.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image, label = _open(source)
            width, height = image.size
            if width * height > max_pixels:
                raise ImageInputError(
                    f"{label} is too large: {width}x{height} pixels (limit {max_pixels // 1_000_000} megapixels)"
                )
            if min(width, height) < MIN_SIDE:
                raise ImageInputError(
                    f"{label} is too small: {width}x{height} pixels (at least {MIN_SIDE}x{MIN_SIDE} needed)"
                )
            if getattr(image, "is_animated", False):
                image.seek(0)
            # Let the JPEG decoder skip detail we would throw away anyway: it reduces by a power of two and never
            # below max_side; other formats ignore a draft.
            image.draft("RGB", (max_side, max_side))
            image.load()
            image = ImageOps.exif_transpose(image) or image
            image = to_rgb(image)
    except ImageInputError:
        raise
    except UnidentifiedImageError as error:
        raise ImageInputError(f"{_name(source)} is not an image Pillow can read") from error
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageInputError(f"{_name(source)} is too large to decode safely") from error
    except (OSError, SyntaxError, ValueError, EOFError, TypeError, IndexError, MemoryError) as error:
        LOGGER.info("failed to decode %s: %s", _name(source), error)
        reason = "truncated" if "truncated" in str(error).lower() else "damaged"
        raise ImageInputError(f"{_name(source)} could not be decoded: the file is {reason} or corrupt") from error
    if max(image.size) > max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image


def _name(source: ImageSource) -> str:
    if isinstance(source, (str, Path)):
        return Path(source).name
    return "the uploaded file" if isinstance(source, (bytes, bytearray)) else "the image"


def preprocess(
    images: Sequence[Image.Image],
    input_size: tuple[int, int],
    channels: int,
    mean: Sequence[float],
    std: Sequence[float],
) -> torch.Tensor:
    """Batch (B, C, H, W) for the model: resize, channel conversion, normalisation.

    Training evaluates with this same function, so what the app feeds the
    model is exactly what the reported accuracy was measured on.
    """
    height, width = input_size
    mode = "L" if channels == 1 else "RGB"
    arrays = []
    for image in images:
        converted = image.convert(mode) if image.mode != mode else image
        if converted.size != (width, height):
            converted = converted.resize((width, height), Image.Resampling.BILINEAR)
        array = np.asarray(converted, dtype=np.float32) / 255.0
        arrays.append(array[None] if array.ndim == 2 else array.transpose(2, 0, 1))
    batch = torch.from_numpy(np.stack(arrays))
    mean_t = torch.tensor(mean, dtype=torch.float32)[None, :, None, None]
    std_t = torch.tensor(std, dtype=torch.float32)[None, :, None, None]
    return (batch - mean_t) / std_t


class Preprocessor:
    """``preprocess`` for one image, usable as a torchvision-style transform."""

    def __init__(self, input_size: tuple[int, int], channels: int, mean: Sequence[float], std: Sequence[float]):
        self.args = (tuple(input_size), channels, tuple(mean), tuple(std))

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return preprocess([image], *self.args)[0]


@dataclass
class Preprocessing:
    """How an image becomes the model's input tensor."""

    input_size: tuple[int, int]
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def batch(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """The model's input (B, C, H, W) for these images, so a caller never repeats the four fields."""
        return preprocess(images, self.input_size, self.channels, self.mean, self.std)

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_size": list(self.input_size),
            "channels": self.channels,
            "mean": list(self.mean),
            "std": list(self.std),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        size = data["input_size"]
        size = (int(size), int(size)) if isinstance(size, (int, float)) else tuple(int(s) for s in size)
        channels = int(data["channels"])
        mean = tuple(float(v) for v in data["mean"])
        std = tuple(float(v) for v in data["std"])
        if len(size) != 2 or min(size) < 1 or channels not in (1, 3):
            raise ValueError("input_size must be [H, W] and channels 1 or 3")
        if len(mean) != channels or len(std) != channels or min(std) <= 0:
            raise ValueError("mean and std need one positive entry per channel")
        return cls(size, channels, mean, std)
