"""Which device a model runs on: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``, checked in one line.

Records are always CPU copies (``records.cpu_copy``), whatever the device, so
everything after a forward pass reads the same arrays on any machine.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from .errors import InputError

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N or mps"


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(spec: str | None) -> torch.device:
    """The device ``spec`` names; ``auto`` (or None) is the first GPU PyTorch sees, else the CPU."""
    text = (spec or "auto").strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "mps":
        if not _mps_available():
            raise InputError("--device mps: PyTorch sees no Apple GPU (MPS) on this machine")
        return torch.device("mps")
    match = re.fullmatch(r"cuda(?::(\d{1,3}))?", text)
    if match is None:
        raise InputError(f"--device {spec!r}: choose {DEVICE_CHOICES}")
    if not torch.cuda.is_available():
        raise InputError(f"--device {text}: PyTorch sees no CUDA GPU on this machine (use cpu or auto)")
    index = int(match.group(1) or torch.cuda.current_device())
    if index >= torch.cuda.device_count():
        raise InputError(f"--device {text}: this machine has {torch.cuda.device_count()} CUDA GPU(s), 0 to N-1")
    return torch.device("cuda", index)


def device_of(model: nn.Module) -> torch.device:
    """Where ``model``'s parameters (or buffers) live; the CPU for a model with neither."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")
