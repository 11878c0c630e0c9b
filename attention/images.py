"""Turn whatever a user uploads into an RGB image, and an image into model input.

Every failure is an ImageInputError with one line of text, because the CLI and
the web app both show it to a person, not a developer. Size limits are checked
from the header before any pixel is decoded, so a decompression bomb costs
nothing.
"""

from __future__ import annotations

import io
import logging
import math
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


RESIZE_MODES = ("squash", "shorter-crop")
# The names timm and torchvision give Pillow's resampling filters.
RESAMPLING = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
    "lanczos": Image.Resampling.LANCZOS,
}
INTERPOLATIONS = tuple(RESAMPLING)
CROP_PCT_RANGE = (0.25, 1.0)
WHOLE = (0.0, 0.0, 1.0, 1.0)  # the view of a model that sees the whole image


def _layout(
    size: tuple[int, int], input_size: tuple[int, int], resize: str, crop_pct: float
) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """The resized image's (height, width), and the centre crop in its pixels (left, top, right, bottom).

    ``squash`` scales each side to input/crop_pct and ``shorter-crop`` keeps the
    aspect with the shorter side there (timm's ``squash`` and ``center`` crop
    modes); a non-square input keeps the aspect too, large enough to cover it.
    """
    width, height = size
    crop_h, crop_w = input_size
    # The tolerance keeps torchvision's 224 / (224 / 232) at 232 where float division lands just below.
    scale_h, scale_w = math.floor(crop_h / crop_pct + 1e-6), math.floor(crop_w / crop_pct + 1e-6)
    if resize == "squash":
        resized = (scale_h, scale_w)
    elif height <= width:  # the shorter side set, the longer truncated, as torchvision's one-number Resize does
        short = max(scale_h, math.ceil(scale_w * height / width))
        resized = (short, int(short * width / height))
    else:
        short = max(scale_w, math.ceil(scale_h * width / height))
        resized = (int(short * height / width), short)
    top, left = round((resized[0] - crop_h) / 2), round((resized[1] - crop_w) / 2)
    return resized, (left, top, left + crop_w, top + crop_h)


def fit(
    image: Image.Image,
    input_size: tuple[int, int],
    resize: str = "squash",
    crop_pct: float = 1.0,
    interpolation: str = "bilinear",
) -> Image.Image:
    """The part of ``image`` the model sees, at its input size, resized as timm and torchvision evaluate."""
    (height, width), box = _layout(image.size, input_size, resize, crop_pct)
    if image.size != (width, height):
        image = image.resize((width, height), RESAMPLING[interpolation])
    return image if box == (0, 0, width, height) else image.crop(box)


def view_of(
    size: tuple[int, int], input_size: tuple[int, int], resize: str = "squash", crop_pct: float = 1.0
) -> tuple[float, float, float, float]:
    """Where the model's view lies in an image of ``size``: left, top, right and bottom as fractions of it."""
    (height, width), (left, top, right, bottom) = _layout(size, input_size, resize, crop_pct)
    return (left / width, top / height, right / width, bottom / height)


def preprocess(
    images: Sequence[Image.Image],
    input_size: tuple[int, int],
    channels: int,
    mean: Sequence[float],
    std: Sequence[float],
    resize: str = "squash",
    crop_pct: float = 1.0,
    interpolation: str = "bilinear",
) -> torch.Tensor:
    """Batch (B, C, H, W) for the model: resize and crop, channel conversion, normalisation.

    Training evaluates with this same function, so what the app feeds the
    model is exactly what the reported accuracy was measured on.
    """
    mode = "L" if channels == 1 else "RGB"
    arrays = []
    for image in images:
        converted = image.convert(mode) if image.mode != mode else image
        converted = fit(converted, input_size, resize, crop_pct, interpolation)
        array = np.asarray(converted, dtype=np.float32) / 255.0
        arrays.append(array[None] if array.ndim == 2 else array.transpose(2, 0, 1))
    batch = torch.from_numpy(np.stack(arrays))
    mean_t = torch.tensor(mean, dtype=torch.float32)[None, :, None, None]
    std_t = torch.tensor(std, dtype=torch.float32)[None, :, None, None]
    return (batch - mean_t) / std_t


class Preprocessor:
    """``Preprocessing.batch`` for one image, usable as a torchvision-style transform."""

    def __init__(self, preprocessing: Preprocessing):
        self.preprocessing = preprocessing

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.preprocessing.batch([image])[0]


@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes the model's input tensor."""

    input_size: tuple[int, int]
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize: str = "squash"
    crop_pct: float = 1.0
    interpolation: str = "bilinear"

    def batch(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """The model's input (B, C, H, W) for these images, so a caller never repeats the fields."""
        return preprocess(
            images,
            self.input_size,
            self.channels,
            self.mean,
            self.std,
            self.resize,
            self.crop_pct,
            self.interpolation,
        )

    def view(self, image: Image.Image) -> tuple[float, float, float, float]:
        """The part of ``image`` the model sees, as fractions (left, top, right, bottom), for overlays."""
        return view_of(image.size, self.input_size, self.resize, self.crop_pct)

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_size": list(self.input_size),
            "channels": self.channels,
            "mean": list(self.mean),
            "std": list(self.std),
            "resize": self.resize,
            "crop_pct": self.crop_pct,
            "interpolation": self.interpolation,
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
        resize = str(data.get("resize", "squash"))
        crop_pct = float(data.get("crop_pct", 1.0))
        interpolation = str(data.get("interpolation", "bilinear"))
        check_fit(resize, crop_pct, interpolation)
        return cls(size, channels, mean, std, resize, crop_pct, interpolation)


def check_fit(resize: str, crop_pct: float, interpolation: str) -> None:
    """Refuse a resize, crop fraction or interpolation that ``fit`` does not know, with a one-line ValueError."""
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be {' or '.join(RESIZE_MODES)}, not {resize!r}")
    low, high = CROP_PCT_RANGE
    if not low <= crop_pct <= high:  # NaN fails too
        raise ValueError(f"crop_pct must be between {low} and {high}, not {crop_pct}")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, not {interpolation!r}")
