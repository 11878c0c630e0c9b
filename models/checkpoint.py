"""The checkpoint format: one file that says how to rebuild, feed and read a model.

A checkpoint is a plain dict saved with ``torch.save``::

    {"format": "attention-lens-checkpoint", "version": 1,
     "arch": name in models.networks.ARCHITECTURES, "config": {...},
     "classes": [...], "preprocessing": {"input_size": [H, W], "channels": 1|3,
     "mean": [...], "std": [...]}, "metrics": {...}, "training": {...},
     "state_dict": {...}}

It holds only tensors, strings, numbers, lists and dicts, so it loads with
``torch.load(weights_only=True)``: a file that would need arbitrary Python
objects is refused instead of executed.
"""

from __future__ import annotations

import logging
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from attention.errors import CheckpointError
from attention.images import Preprocessing

from .networks import ARCHITECTURES, build_model

LOGGER = logging.getLogger(__name__)

FORMAT = "attention-lens-checkpoint"
VERSION = 1
ASSETS = Path(__file__).resolve().parent.parent / "assets"
SHIPPED: dict[str, Path] = {
    "shapes": ASSETS / "shapes.pt",
    "fashion": ASSETS / "fashion.pt",
}
DEFAULT_CHECKPOINT = "shapes"
MAX_CHECKPOINT_BYTES = 512 * 1024 * 1024


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
    """Load and validate the dict in a checkpoint file, never unpickling arbitrary objects."""
    path = Path(path)
    label = path.name
    if not path.exists():
        shipped = ", ".join(SHIPPED)
        raise CheckpointError(f"checkpoint not found: {path} (shipped models: {shipped})")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {label} is not a file")
    if path.stat().st_size > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"checkpoint {label} is larger than {MAX_CHECKPOINT_BYTES >> 20} MB")
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
    except (
        RuntimeError,
        EOFError,
        OSError,
        ValueError,
        zipfile.BadZipFile,
        AttributeError,
        TypeError,
        KeyError,
        IndexError,
    ) as error:
        LOGGER.warning("unreadable checkpoint %s: %s", path, error)
        raise CheckpointError(f"{label} is not a readable PyTorch checkpoint (corrupt or truncated)") from error
    return validate_payload(payload, label)


def validate_payload(payload: Any, label: str) -> dict[str, Any]:
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{label} is not an Attention Lens checkpoint (it is a PyTorch file, but has no "
            f"'format': '{FORMAT}' entry; save one with models.train)"
        )
    if int(payload.get("version", 0)) > VERSION:
        raise CheckpointError(
            f"{label} uses checkpoint version {payload['version']}; this program reads up to {VERSION}"
        )
    missing = [key for key in ("arch", "config", "classes", "preprocessing", "state_dict") if key not in payload]
    if missing:
        raise CheckpointError(f"{label} is missing {', '.join(missing)}")
    if payload["arch"] not in ARCHITECTURES:
        raise CheckpointError(f"{label} names an unknown architecture {payload['arch']!r}")
    if not isinstance(payload["config"], dict) or not isinstance(payload["state_dict"], dict):
        raise CheckpointError(f"{label} has a malformed config or state_dict")
    classes = payload["classes"]
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise CheckpointError(f"{label} has no list of class names")
    return payload


def load_checkpoint(name_or_path: str | Path | None = None) -> LoadedModel:
    """Model in eval mode, with its metadata, from a short name or a path.

    Every failure (missing, corrupt, foreign, malicious, mismatched) is a
    CheckpointError with a one-line message.
    """
    name, path = resolve_checkpoint(name_or_path)
    payload = read_checkpoint(path)
    label = path.name
    try:
        preprocessing = Preprocessing.from_dict(payload["preprocessing"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{label} has malformed preprocessing: {error}") from error
    config = dict(payload["config"])
    try:
        model = build_model(payload["arch"], **config)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{label} has a config that {payload['arch']} does not accept: {error}") from error
    mismatch = state_dict_mismatch(model, payload["state_dict"])
    if mismatch:
        raise CheckpointError(f"{label} does not match its architecture {payload['arch']}: {mismatch}")
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except (RuntimeError, TypeError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{label} does not match its architecture: {first_line}") from error
    out_features = _output_size(model)
    if out_features is not None and out_features != len(payload["classes"]):
        raise CheckpointError(
            f"{label} names {len(payload['classes'])} classes but the model has {out_features} outputs"
        )
    model.eval()
    LOGGER.info("loaded checkpoint %s (%s, %d classes)", path, payload["arch"], len(payload["classes"]))
    return LoadedModel(
        model=model,
        name=name,
        arch=payload["arch"],
        config=config,
        classes=list(payload["classes"]),
        preprocessing=preprocessing,
        metrics=dict(payload.get("metrics") or {}),
        training=dict(payload.get("training") or {}),
        source=str(path),
    )


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
    head = getattr(model, "fc", None)
    return head.out_features if isinstance(head, nn.Linear) else None


def shipped_models() -> list[str]:
    """Short names of the shipped checkpoints that exist on disk."""
    return [name for name, path in SHIPPED.items() if path.exists()]
