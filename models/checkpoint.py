"""The checkpoint format: one file that says how to rebuild, feed and read a model.

A checkpoint is a plain dict saved with ``torch.save``::

    {"format": "attention-lens-checkpoint", "version": 1,
     "arch": name in models.networks.ARCHITECTURES, "config": {...},
     "classes": [...], "preprocessing": {"input_size": [H, W], "channels": 1|3,
     "mean": [...], "std": [...], "resize": "squash"|"shorter-crop", "crop_pct": 0.25-1,
     "interpolation": "bilinear"|...}, "metrics": {...}, "training": {...},
     "state_dict": {...}}

It holds only tensors, strings, numbers, lists and dicts, so it loads with
``torch.load(weights_only=True)``: a file that would need arbitrary Python
objects is refused instead of executed.

A checkpoint comes from outside, so nothing in it is trusted: the archive's
declared sizes are checked before any tensor is read, the config is bounded
(``models.bounds.check_config``) before anything is built, and every tensor
and preprocessing value must be finite. With those bounds, loading any
checkpoint and running one analysis of one image adds at most 1.5 GB
(``MEMORY_BUDGET_BYTES``) to a process's peak memory on a 2-core, 24 GB
machine; tests/test_checkpoint.py measures it with the largest config the
bounds allow.
"""

from __future__ import annotations

import logging
import math
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from attention.errors import CheckpointError
from attention.images import Preprocessing, check_fit

from .archive import MAX_FILE_BYTES, UNREADABLE_FILE_ERRORS, check_archive, check_dense
from .bounds import MAX_ACTIVATIONS, MAX_CLASSES, MAX_INPUT_SIDE, MIN_INPUT_SIDE, ConfigError, check_config
from .networks import ARCHITECTURES, build_model

LOGGER = logging.getLogger(__name__)

FORMAT = "attention-lens-checkpoint"
VERSION = 1
ASSETS = Path(__file__).resolve().parent.parent / "assets"
SHIPPED: dict[str, Path] = {
    "shapes": ASSETS / "shapes.pt",
    "fashion": ASSETS / "fashion.pt",
    "shapes-vit": ASSETS / "shapes-vit.pt",
}
DEFAULT_CHECKPOINT = "shapes"
# The archive may not declare more data than the file itself may hold: torch.save
# stores entries uncompressed, so a real checkpoint unpacks to about its own size.
MAX_CLASS_NAME = 100
MAX_MEAN = 100.0
MIN_STD, MAX_STD = 1e-4, 100.0
# What loading any checkpoint that passes these checks and running one analysis
# may add to a process's peak RSS (tested with the largest config the bounds allow).
MEMORY_BUDGET_BYTES = 1536 * 1024 * 1024
FIT_DEFAULTS = (("resize", "squash"), ("crop_pct", 1.0), ("interpolation", "bilinear"))
REQUIRED_KEYS = ("version", "arch", "config", "classes", "preprocessing", "state_dict")


@dataclass
class LoadedModel:
    """A model in eval mode with everything needed to feed it and name its outputs."""

    model: nn.Module
    name: str
    arch: str
    config: dict[str, Any]
    classes: list[str]
    preprocessing: Preprocessing
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    source: str = ""


def checkpoint_dict(
    model: nn.Module,
    arch: str,
    config: dict[str, Any],
    classes: list[str],
    preprocessing: Preprocessing,
    metrics: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "arch": arch,
        "config": config,
        "classes": list(classes),
        "preprocessing": preprocessing.to_dict(),
        "metrics": metrics or {},
        "training": training or {},
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write atomically, so an interrupted save never leaves a half-written file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def resolve_checkpoint(name_or_path: str | Path | None) -> tuple[str, Path]:
    """(display name, file) for a shipped model's short name or a path."""
    if name_or_path is None or str(name_or_path) == "":
        name_or_path = DEFAULT_CHECKPOINT
    key = str(name_or_path)
    if key in SHIPPED:
        return key, SHIPPED[key]
    path = Path(key).expanduser()
    return path.name, path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and validate the dict in a checkpoint file, never unpickling arbitrary objects.

    The archive's directory is checked before any tensor is read, so a small
    file that would unpack to gigabytes is refused at the cost of reading its
    directory; what is read is then checked field by field (``validate_payload``).
    """
    path = Path(path)
    label = path.name
    if not path.exists():
        shipped = ", ".join(SHIPPED)
        raise CheckpointError(f"checkpoint not found: {path} (shipped models: {shipped})")
    if path.is_dir():
        raise CheckpointError(f"checkpoint {label} is a directory, not a file")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {label} is not a regular file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise CheckpointError(f"checkpoint {label} is larger than {MAX_FILE_BYTES >> 20} MB")
    check_archive(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        LOGGER.warning("refused checkpoint %s: %s", path, error)
        if "global" not in str(error).lower():
            raise CheckpointError(f"{label} is not a readable PyTorch checkpoint (corrupt or truncated)") from error
        raise CheckpointError(
            f"refused to load {label}: it contains Python objects that are not allowed "
            "in a checkpoint (loaded with weights_only=True)"
        ) from error
    except UNREADABLE_FILE_ERRORS as error:
        LOGGER.warning("unreadable checkpoint %s: %s", path, error)
        raise CheckpointError(f"{label} is not a readable PyTorch checkpoint (corrupt or truncated)") from error
    return validate_payload(payload, label)


def _finite_numbers(field: str, value: Any, count: int, low: float, high: float) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)) or len(value) != count:
        raise CheckpointError(f"preprocessing {field} must be a list of {count} number{'s' if count > 1 else ''}")
    for index, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise CheckpointError(f"preprocessing {field}[{index}] is {item!r}, not a number")
        if not math.isfinite(item):
            raise CheckpointError(f"preprocessing {field}[{index}] is {item}; it must be a finite number")
        if not low <= item <= high:
            raise CheckpointError(f"preprocessing {field}[{index}] is {item}; it must lie between {low} and {high}")
    return tuple(float(item) for item in value)


def check_preprocessing(data: Any) -> Preprocessing:
    """The preprocessing a checkpoint describes, strictly typed and bounded (one-line errors, no label)."""
    if not isinstance(data, dict):
        raise CheckpointError(f"preprocessing must be a dict, not {type(data).__name__}")
    missing = [key for key in ("input_size", "channels", "mean", "std") if key not in data]
    if missing:
        raise CheckpointError(f"preprocessing is missing {', '.join(missing)}")
    size = data["input_size"]
    sides = [size, size] if not isinstance(size, (list, tuple)) else list(size)
    if len(sides) != 2:
        raise CheckpointError(f"preprocessing input_size must be [height, width], not {len(sides)} numbers")
    for side in sides:
        if isinstance(side, bool) or not isinstance(side, int):
            raise CheckpointError(f"preprocessing input_size must hold integers, not {side!r}")
        if side > MAX_INPUT_SIDE:
            raise CheckpointError(f"preprocessing input_size {side} is over the limit of {MAX_INPUT_SIDE} pixels")
        if side < MIN_INPUT_SIDE:
            raise CheckpointError(f"preprocessing input_size {side} is under the minimum of {MIN_INPUT_SIDE} pixels")
    channels = data["channels"]
    if isinstance(channels, bool) or channels not in (1, 3) or not isinstance(channels, int):
        raise CheckpointError(f"preprocessing channels is {channels!r}; it must be 1 (gray) or 3 (RGB)")
    mean = _finite_numbers("mean", data["mean"], channels, -MAX_MEAN, MAX_MEAN)
    std = _finite_numbers("std", data["std"], channels, MIN_STD, MAX_STD)
    # Older checkpoints name no resize: they were trained and evaluated with the whole image squashed.
    resize, crop_pct, interpolation = (data.get(key, default) for key, default in FIT_DEFAULTS)
    if not isinstance(resize, str) or not isinstance(interpolation, str):
        raise CheckpointError("preprocessing resize and interpolation must be names")
    if isinstance(crop_pct, bool) or not isinstance(crop_pct, (int, float)):
        raise CheckpointError(f"preprocessing crop_pct is {crop_pct!r}, not a number")
    try:
        check_fit(resize, float(crop_pct), interpolation)
    except ValueError as error:
        raise CheckpointError(f"preprocessing {str(error)[:200]}") from error
    return Preprocessing((sides[0], sides[1]), channels, mean, std, resize, float(crop_pct), interpolation)


def _check_classes(classes: Any, label: str) -> list[str]:
    if not isinstance(classes, list) or not classes:
        raise CheckpointError(f"{label} has no list of class names")
    if len(classes) > MAX_CLASSES:
        raise CheckpointError(f"{label} names {len(classes):,} classes; the limit is {MAX_CLASSES:,}")
    for index, name in enumerate(classes):
        if not isinstance(name, str):
            raise CheckpointError(f"{label}: class name {index} is {type(name).__name__} {name!r:.40}, not a string")
        if not name.strip():
            raise CheckpointError(f"{label}: class name {index} is empty")
        if len(name) > MAX_CLASS_NAME:
            raise CheckpointError(
                f"{label}: class name {index} has {len(name)} characters; the limit is {MAX_CLASS_NAME}"
            )
        if any(not character.isprintable() for character in name):
            raise CheckpointError(f"{label}: class name {index} ({name!r:.40}) holds a control character")
    seen: set[str] = set()
    for name in classes:
        if name in seen:
            raise CheckpointError(f"{label} names the class {name!r} twice")
        seen.add(name)
    return classes


def _check_state_dict(state_dict: Any, label: str) -> None:
    """Refuse keys that are not strings, values that are not tensors, and tensors beyond their bytes in the file."""
    if not isinstance(state_dict, dict):
        raise CheckpointError(f"{label} has a malformed state_dict (a {type(state_dict).__name__}, not a dict)")
    for key, value in state_dict.items():
        if not isinstance(key, str):
            raise CheckpointError(f"{label} has a state_dict key that is not a string: {key!r:.40}")
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{label}: state_dict entry {key} is {type(value).__name__}, not a tensor")
    check_dense(state_dict, label)


def check_finite(state_dict: dict[str, torch.Tensor], label: str) -> None:
    """Refuse NaN and infinity, once keys and shapes are known to fit, so only a model's worth of values is read."""
    for key, value in state_dict.items():
        if (value.is_floating_point() or value.is_complex()) and not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"{label}: tensor {key} holds non-finite values (NaN or infinity)")


def validate_payload(payload: Any, label: str) -> dict[str, Any]:
    """``payload`` if it is a checkpoint this program agrees to build; else a one-line CheckpointError.

    Everything is checked before the network is built: types, class names,
    preprocessing, the config against the bounds in ``models.bounds`` (which
    name the field and its limit), and that every tensor fills its own storage;
    values are read for NaN only once keys and shapes fit (``load_checkpoint``).
    """
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{label} is not an Attention Lens checkpoint (it is a PyTorch file, but has no "
            f"'format': '{FORMAT}' entry; save one with models.train)"
        )
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing:
        raise CheckpointError(f"{label} is missing {', '.join(missing)}")
    version = payload["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{label} has a malformed version {version!r:.40} (a positive integer is needed)")
    if version > VERSION:
        raise CheckpointError(f"{label} uses checkpoint version {version}; this program reads up to {VERSION}")
    if not isinstance(payload["arch"], str) or payload["arch"] not in ARCHITECTURES:
        raise CheckpointError(f"{label} names an unknown architecture {payload['arch']!r:.60}")
    if not isinstance(payload["config"], dict):
        raise CheckpointError(f"{label} has a malformed config (a {type(payload['config']).__name__}, not a dict)")
    for key in ("metrics", "training"):
        if payload.get(key) is not None and not isinstance(payload[key], dict):
            raise CheckpointError(f"{label} has malformed {key} (a {type(payload[key]).__name__}, not a dict)")
    _check_classes(payload["classes"], label)
    try:
        preprocessing = check_preprocessing(payload["preprocessing"])
    except CheckpointError as error:
        raise CheckpointError(f"{label}: {error}") from error
    try:
        check_config(payload["arch"], payload["config"], preprocessing.input_size)
    except ConfigError as error:
        raise CheckpointError(f"{label}: {error}") from error
    _check_state_dict(payload["state_dict"], label)
    return payload


def load_checkpoint(name_or_path: str | Path | None = None) -> LoadedModel:
    """Model in eval mode, with its metadata, from a short name or a path.

    Every failure (missing, corrupt, foreign, malicious, oversized, mismatched)
    is a CheckpointError with a one-line message. A model that loads has run
    once on a blank input of its preprocessing's shape and given one finite
    output per class, so an analysis cannot fail on the model's own terms.
    """
    name, path = resolve_checkpoint(name_or_path)
    payload = read_checkpoint(path)
    label = path.name
    preprocessing = check_preprocessing(payload["preprocessing"])
    arch = payload["arch"]
    config = dict(payload["config"])
    classes = list(payload["classes"])
    metrics = dict(payload.get("metrics") or {})
    training = dict(payload.get("training") or {})
    try:
        # The config's cost is bounded already (validate_payload), so the network is built for real to compare with.
        model = build_model(arch, **config)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{label} has a config that {arch} does not accept: {error}") from error
    mismatch = state_dict_mismatch(model, payload["state_dict"])
    if mismatch:
        raise CheckpointError(f"{label} does not match its architecture {arch}: {mismatch}")
    check_finite(payload["state_dict"], label)
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except (RuntimeError, TypeError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{label} does not match its architecture: {first_line}") from error
    del payload  # the model holds its own copy of every tensor now
    out_features = _output_size(model)
    if out_features is not None and out_features != len(classes):
        raise CheckpointError(f"{label} names {len(classes)} classes but the model has {out_features} outputs")
    model.eval()
    check_runs(model, preprocessing, len(classes), label)
    LOGGER.info("loaded checkpoint %s (%s, %d classes)", path, arch, len(classes))
    return LoadedModel(
        model=model,
        name=name,
        arch=arch,
        config=config,
        classes=classes,
        preprocessing=preprocessing,
        metrics=metrics,
        training=training,
        source=str(path),
    )


def first_convolution(model: nn.Module) -> tuple[str, nn.Conv2d] | None:
    """The first Conv2d in registration order: for the networks here, the one that sees the image."""
    for module_name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return module_name, module
    return None


def check_runs(model: nn.Module, preprocessing: Preprocessing, num_classes: int, label: str) -> None:
    """Refuse a model that cannot take its preprocessing's input or gives other than one finite score per class.

    The structural check (the first convolution's input channels) gives the
    clearest message; one forward pass of a blank image, whose cost the config
    bounds already limit, catches whatever else would only fail on a user's image.
    """
    found = first_convolution(model)
    if found is not None and found[1].in_channels != preprocessing.channels:
        module_name, conv = found
        plural = "s" if preprocessing.channels > 1 else ""
        raise CheckpointError(
            f"{label}: its preprocessing gives {preprocessing.channels} channel{plural} but the model's first "
            f"convolution ({module_name}) takes {conv.in_channels}"
        )
    height, width = preprocessing.input_size
    blank = torch.zeros(1, preprocessing.channels, height, width)
    try:
        with torch.inference_mode():
            output = model(blank)
    except (RuntimeError, ValueError, TypeError, IndexError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"{label}: the model cannot run on its {preprocessing.channels}x{height}x{width} input: {first_line}"
        ) from error
    if not isinstance(output, torch.Tensor) or tuple(output.shape) != (1, num_classes):
        shape = list(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise CheckpointError(f"{label} names {num_classes} classes but the model's output is {shape} for one image")
    if not bool(torch.isfinite(output).all()):
        raise CheckpointError(f"{label}: the model's output for a blank image is not finite (NaN or infinity)")


def _shape(value: Any) -> str:
    return str(list(value.shape)) if isinstance(value, torch.Tensor) else f"a {type(value).__name__}"


def state_dict_mismatch(model: nn.Module, state_dict: dict[str, Any]) -> str | None:
    """Why ``state_dict`` does not fit ``model``, naming the first tensor that differs; None when it fits.

    PyTorch's own error lists every key over many lines, and its first line
    names none of them; a one-line message needs the first culprit and a count.
    """
    expected = model.state_dict()
    problems: list[str] = []
    for key, tensor in expected.items():
        if key not in state_dict:
            problems.append(f"{key} is missing from the file")
        elif not isinstance(state_dict[key], torch.Tensor) or state_dict[key].shape != tensor.shape:
            problems.append(f"{key} is {_shape(state_dict[key])} in the file but {list(tensor.shape)} in the model")
    problems.extend(f"the file has an unexpected {key}" for key in state_dict if key not in expected)
    if not problems:
        return None
    more = len(problems) - 1
    return problems[0] + (f" ({more} more tensor{'s differ' if more > 1 else ' differs'})" if more else "")


def _output_size(model: nn.Module) -> int | None:
    head = getattr(model, "fc", None) or getattr(model, "head", None)  # the ResNets' fc, a timm ViT's head
    return head.out_features if isinstance(head, nn.Linear) else None


def shipped_models() -> list[str]:
    """Short names of the shipped checkpoints that exist on disk."""
    return [name for name, path in SHIPPED.items() if path.exists()]


FOREIGN_IMAGES_PER_PASS = 8  # an ImageNet ResNet-50's activations at 224 px, eight times, fit the budget


def images_per_pass(loaded: LoadedModel) -> int:
    """How many images one forward pass may hold so its activations stay within one largest-allowed image's.

    The config bounds limit one image; a batch multiplies that, so callers
    that batch (the CLI) cap their batch size with this to keep the memory budget.
    """
    if loaded.arch not in ARCHITECTURES:
        # A network brought by the user (timm:, torchvision:, ...) has no config to estimate from.
        return FOREIGN_IMAGES_PER_PASS
    cost = check_config(loaded.arch, loaded.config, loaded.preprocessing.input_size)
    return max(1, MAX_ACTIVATIONS // max(cost.activations, 1))
