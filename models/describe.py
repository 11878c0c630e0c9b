"""What a user's network reads and what it calls its outputs: preprocessing and class names.

ImageNet models get ImageNet's names and the preprocessing their own library
states (timm's pretrained config, torchvision's weight transforms), both known
offline; a user's ``--classes`` file and ``--input-size``/``--mean``/``--std``
override them.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from attention.errors import InputError
from attention.images import INTERPOLATIONS, RESIZE_MODES, Preprocessing

LOGGER = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_INPUT_SIZE = 224
DEFAULT_CROP_PCT = 0.875  # timm's default, and torchvision's classic resize 256 then crop 224
MAX_CLASSES_BYTES = 4 << 20
MAX_CLASSES = 100_000
MAX_CLASS_NAME = 300
INPUT_SIZE_RANGE = (8, 4096)


# ---------------------------------------------------------------- class names


def imagenet_classes() -> list[str]:
    """ImageNet-1k's class names in the usual index order, from torchvision's metadata (no download)."""
    from torchvision.models import ResNet50_Weights

    return list(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def numbered_classes(count: int) -> list[str]:
    return [f"class {index}" for index in range(count)]


def timm_classes(model: nn.Module, count: int) -> list[str] | None:
    """Class names from timm's dataset info for the label set the model's pretrained config names."""
    from timm.data import ImageNetInfo, infer_imagenet_subset

    try:
        subset = infer_imagenet_subset(model)
        if subset is None:
            return None
        descriptions = ImageNetInfo(subset).label_descriptions()
    except Exception as error:  # noqa: BLE001 - timm's label files are optional data; fall back to numbers
        LOGGER.info("no timm label names for %s: %s", type(model).__name__, error)
        return None
    # "tench, Tinca tinca": the first synonym is the name people use.
    names = [str(text).split(",")[0].strip() for text in descriptions]
    return names if len(names) == count else None


def read_classes(path: str | Path) -> list[str]:
    """Class names from a file: a JSON list of strings, or one name a line (blank lines skipped)."""
    path = Path(path)
    label = path.name
    if not path.is_file():
        raise InputError(f"classes file not found: {path}")
    if path.stat().st_size > MAX_CLASSES_BYTES:
        raise InputError(f"classes file {label} is larger than {MAX_CLASSES_BYTES >> 20} MB")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (UnicodeDecodeError, OSError) as error:
        raise InputError(f"classes file {label} is not UTF-8 text") from error
    if text.lstrip().startswith("["):
        try:
            names = json.loads(text)
        except json.JSONDecodeError as error:
            raise InputError(
                f"classes file {label} is not a valid JSON list: {error.msg} (line {error.lineno})"
            ) from error
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise InputError(f"classes file {label} must be a JSON list of strings")
    else:
        names = [line.strip() for line in text.splitlines() if line.strip()]
    names = [" ".join(name.split()) for name in names]
    if not names:
        raise InputError(f"classes file {label} names no classes")
    if len(names) > MAX_CLASSES:
        raise InputError(f"classes file {label} names {len(names)} classes; the limit is {MAX_CLASSES}")
    long = next((name for name in names if len(name) > MAX_CLASS_NAME), None)
    if long is not None:
        raise InputError(f"classes file {label} has a name longer than {MAX_CLASS_NAME} characters: {long[:40]}...")
    return names


# ---------------------------------------------------------------- preprocessing


def imagenet_preprocessing(size: int | Sequence[int] = DEFAULT_INPUT_SIZE, centre_crop: bool = False) -> Preprocessing:
    """ImageNet's mean and std; ``centre_crop`` is its classic evaluation (shorter side to 256, centre 224 pixels).

    Without it the whole image is squashed to the input size, since a network
    that states no transform may have been trained either way and a squash
    hides no part of the picture.
    """
    return Preprocessing.from_dict(
        {
            "input_size": size,
            "channels": 3,
            "mean": IMAGENET_MEAN,
            "std": IMAGENET_STD,
            "resize": "shorter-crop" if centre_crop else "squash",
            "crop_pct": DEFAULT_CROP_PCT if centre_crop else 1.0,
        }
    )


def timm_preprocessing(model: nn.Module) -> Preprocessing:
    """timm's own evaluation transform for the model: its resolved input size, crop, interpolation, mean and std."""
    from timm.data import resolve_data_config

    config = resolve_data_config({}, model=model)
    channels, height, width = config["input_size"]
    crop_mode = config.get("crop_mode") or "center"
    if crop_mode not in ("center", "squash"):
        LOGGER.info("timm's crop mode %r is not supported; the image is resized by its shorter side instead", crop_mode)
    interpolation = config.get("interpolation") or "bilinear"
    return Preprocessing.from_dict(
        {
            "input_size": [height, width],
            "channels": channels,
            "mean": config["mean"],
            "std": config["std"],
            "resize": "squash" if crop_mode == "squash" else "shorter-crop",
            "crop_pct": config.get("crop_pct") or DEFAULT_CROP_PCT,
            "interpolation": interpolation if interpolation in INTERPOLATIONS else "bilinear",
        }
    )


def torchvision_preprocessing(name: str) -> Preprocessing:
    """The transforms torchvision states for the model's default weights: resize, centre crop, mean and std."""
    from torchvision.models import get_model_weights

    try:
        transforms = get_model_weights(name).DEFAULT.transforms()
        crop, resize = transforms.crop_size[0], transforms.resize_size[0]
        return Preprocessing.from_dict(
            {
                "input_size": crop,
                "channels": 3,
                "mean": transforms.mean,
                "std": transforms.std,
                "resize": "shorter-crop",
                "crop_pct": crop / resize,
                "interpolation": transforms.interpolation.value,
            }
        )
    except (ValueError, KeyError, AttributeError, TypeError, IndexError) as error:
        LOGGER.info("no torchvision transforms for %s (%s); using ImageNet's", name, error)
        return imagenet_preprocessing(centre_crop=True)


def apply_overrides(base: Preprocessing, overrides: dict[str, Any] | None) -> Preprocessing:
    """``base`` with ``input_size``, ``channels``, ``mean``, ``std`` or ``resize`` replaced; one mean/std fits all.

    ``input_size`` is one side or [height, width]. ``resize`` is ``squash``
    (the whole image, nothing cropped) or ``shorter-crop`` (the aspect kept,
    the model's own crop fraction). Every value is checked, because it comes
    from the command line.
    """
    overrides = {key: value for key, value in (overrides or {}).items() if value is not None}
    if not overrides:
        return base
    unknown = set(overrides) - {"input_size", "channels", "mean", "std", "resize"}
    if unknown:
        raise InputError(f"unknown preprocessing override {sorted(unknown)[0]!r}")
    data = base.to_dict()
    if overrides.get("input_size") is not None:
        size = overrides["input_size"]
        sides = [size] if isinstance(size, int | float) else list(size)
        if len(sides) not in (1, 2) or not all(isinstance(s, int | float) and float(s).is_integer() for s in sides):
            raise InputError("--input-size takes one side, or height and width, in whole pixels")
        sides = [int(s) for s in sides] * (3 - len(sides))
        low, high = INPUT_SIZE_RANGE
        if not all(low <= s <= high for s in sides):
            raise InputError(f"--input-size must be between {low} and {high} pixels")
        data["input_size"] = sides
    if overrides.get("resize") is not None:
        if overrides["resize"] not in RESIZE_MODES:
            raise InputError(f"--resize must be {' or '.join(RESIZE_MODES)}, not {str(overrides['resize'])[:40]!r}")
        data["resize"] = overrides["resize"]
        if data["resize"] == "squash":
            data["crop_pct"] = 1.0
    if overrides.get("channels") is not None:
        if overrides["channels"] not in (1, 3):
            raise InputError("--channels must be 1 or 3")
        data["channels"] = int(overrides["channels"])
    channels = data["channels"]
    for key in ("mean", "std"):
        values = overrides.get(key)
        if values is None:  # keep the model's values; their average when the channel count changes
            values = data[key] if len(data[key]) == channels else [sum(data[key]) / len(data[key])]
        values = [values] if isinstance(values, int | float) else list(values)
        if len(values) not in (1, channels) or not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
            raise InputError(f"--{key} takes one number, or one per input channel ({channels})")
        if key == "std" and min(values) <= 0:
            raise InputError("--std values must be positive")
        data[key] = [float(v) for v in values] * (channels if len(values) == 1 else 1)
    return Preprocessing.from_dict(data)
