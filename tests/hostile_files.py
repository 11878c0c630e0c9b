"""Small files that declare far more than they hold, made on the spot: each must be refused in one line, cheaply.

Each maker writes one file into a folder and returns its path; ``HOSTILE_FILES``
names every one with the model spec it is offered under (None: an Attention
Lens checkpoint) and a phrase its one-line refusal contains.
"""

from __future__ import annotations

import json
import shutil
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from models.checkpoint import SHIPPED

ECA_KERNEL_CLAIM = 20_000_001
HEAD_CLASSES_CLAIM = 1_000_000
EXTRA_ELEMENTS_CLAIM = 250_000_000
SAFETENSORS_ENTRIES = 150_000


def _zero_stride(shape: torch.Size | tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A tensor of any shape over one element: ``torch.save`` writes the one element."""
    return torch.zeros(1, dtype=dtype).expand(*shape) if len(shape) else torch.zeros((), dtype=dtype)


def _zero_stride_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    return {key: _zero_stride(value.shape, value.dtype) for key, value in model.state_dict().items()}


def eca_kernel_bomb(folder: Path) -> Path:
    """ECA-Net ResNet-18 weights whose every ECA kernel claims 20,000,001 taps (40 KB on disk)."""
    from models.ecanet import ARCHITECTURES

    with torch.device("meta"):
        layout = ARCHITECTURES["eca_resnet18"]()
    state = _zero_stride_state_dict(layout)
    for key in state:
        if key.endswith(".eca.conv.weight"):
            state[key] = _zero_stride((1, 1, ECA_KERNEL_CLAIM))
    path = folder / "eca_kernel_bomb.pth"
    torch.save(state, path)
    return path


def head_bomb(folder: Path) -> Path:
    """timm SE-ResNet-18 weights whose classifier claims a million classes (a 513 M-parameter network)."""
    import timm

    with torch.device("meta"):
        layout = timm.create_model("seresnet18")
    state = _zero_stride_state_dict(layout)
    state["fc.weight"] = _zero_stride((HEAD_CLASSES_CLAIM, 512))
    state["fc.bias"] = _zero_stride((HEAD_CLASSES_CLAIM,))
    path = folder / "head_bomb.pth"
    torch.save(state, path)
    return path


def extra_tensor_bomb(folder: Path) -> Path:
    """The shipped shapes checkpoint with one extra tensor claiming 250 M float64 values."""
    payload = torch.load(SHIPPED["shapes"], map_location="cpu", weights_only=True)
    payload["state_dict"]["extra.weight"] = _zero_stride((EXTRA_ELEMENTS_CLAIM,), torch.float64)
    path = folder / "extra_tensor_bomb.pt"
    torch.save(payload, path)
    return path


def deflated_checkpoint(folder: Path) -> Path:
    """The shipped shapes checkpoint with its archive's entries deflated, which torch.save never does."""
    path = folder / "deflated.pt"
    with zipfile.ZipFile(SHIPPED["shapes"]) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            target.writestr(entry.filename, source.read(entry))
    return path


def safetensors_header_bomb(folder: Path, entries: int = SAFETENSORS_ENTRIES) -> Path:
    """A safetensors file whose header names 150,000 empty tensors (about 10 MB of header, no data)."""
    header = {f"t{index}": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]} for index in range(entries)}
    text = json.dumps(header, separators=(",", ":")).encode()
    path = folder / "header_bomb.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text)
    return path


class HostileFile(NamedTuple):
    make: Callable[[Path], Path]
    spec: str | None  # the architecture the file is offered as weights for; None: an Attention Lens checkpoint
    refusal: str  # a phrase of the one-line refusal


HOSTILE_FILES: dict[str, HostileFile] = {
    "zero-stride ECA kernel": HostileFile(eca_kernel_bomb, "ecanet:eca_resnet18", "each tensor must fill its own"),
    "zero-stride head": HostileFile(head_bomb, "timm:seresnet18", "each tensor must fill its own"),
    "zero-stride extra tensor": HostileFile(extra_tensor_bomb, None, "each tensor must fill its own"),
    "deflated entries": HostileFile(deflated_checkpoint, None, "compressed"),
    "huge safetensors header": HostileFile(safetensors_header_bomb, "timm:seresnet18", "tensors"),
}


def write_hostile_files(folder: Path) -> dict[str, tuple[Path, HostileFile]]:
    """Name -> (path, case) of every hostile file, written into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    return {name: (case.make(folder), case) for name, case in HOSTILE_FILES.items()}


def copy_as(path: Path, folder: Path, name: str) -> Path:
    """``path`` copied under another name, for a second upload of the same bytes."""
    target = folder / name
    shutil.copyfile(path, target)
    return target


def status_bytes(pid: int | str, field: str) -> int:
    """A memory figure of a Linux process (VmRSS, VmHWM) in bytes, from /proc."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def reset_peak(pid: int | str) -> None:
    """Make the process's peak resident memory (VmHWM) start again from its current size."""
    with open(f"/proc/{pid}/clear_refs", "w") as handle:
        handle.write("5")
