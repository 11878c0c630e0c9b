"""The first look at a PyTorch file: its zip directory before ``torch.load`` reads anything, and its tensors' layout.

``torch.save`` writes a zip archive whose entries are stored uncompressed, and
PyTorch allocates each entry at its declared size before reading it; checking
the declared sizes first makes a zip bomb cost only its directory. A tensor
may also declare a shape far larger than the bytes behind it (a zero-stride
view of one element), so every tensor read must fill its own storage before
anything uses its shape.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from attention.errors import CheckpointError

LOGGER = logging.getLogger(__name__)

MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_UNPACKED_BYTES = MAX_FILE_BYTES
MAX_PICKLE_BYTES = 16 * 1024 * 1024  # the pickled structure; tensors are separate entries
MAX_ARCHIVE_ENTRIES = 4096

# What torch.load raises for a damaged or foreign file (beyond UnpicklingError, which says more).
UNREADABLE_FILE_ERRORS: tuple[type[BaseException], ...] = (
    RuntimeError,
    EOFError,
    OSError,
    ValueError,
    zipfile.BadZipFile,
    AttributeError,
    TypeError,
    KeyError,
    IndexError,
    MemoryError,
)


@dataclass(frozen=True)
class ArchiveLimits:
    """What a zip archive's directory may declare: checkpoints and users' weights files differ only here."""

    unpacked_bytes: int = MAX_UNPACKED_BYTES
    entries: int = MAX_ARCHIVE_ENTRIES
    pickle_bytes: int = MAX_PICKLE_BYTES


CHECKPOINT_LIMITS = ArchiveLimits()


def zip_entries(path: Path, label: str) -> list[zipfile.ZipInfo] | None:
    """The archive's directory, or None when ``path`` is not a zip file; CheckpointError when it cannot be read."""
    try:
        if not zipfile.is_zipfile(path):
            return None
        with zipfile.ZipFile(path) as archive:
            return archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as error:
        LOGGER.warning("unreadable archive %s: %s", path, error)
        raise CheckpointError(f"{label} is not a readable PyTorch file (a damaged zip archive)") from error


def check_entries(entries: list[zipfile.ZipInfo], label: str, limits: ArchiveLimits, file_bytes: int) -> None:
    """Refuse a directory that declares more data than ``limits`` or the file itself allow, before anything is unpacked.

    ``torch.save`` stores every entry uncompressed, so a compressed entry is
    refused outright and the entries together cannot hold more than the file.
    """
    if len(entries) > limits.entries:
        raise CheckpointError(f"{label} holds {len(entries):,} archive entries; the limit is {limits.entries:,}")
    unpacked = sum(entry.file_size for entry in entries)
    if unpacked > limits.unpacked_bytes:
        raise CheckpointError(
            f"{label} would unpack to {unpacked >> 20:,} MB; the limit is {limits.unpacked_bytes >> 20:,} MB"
        )
    compressed = next((entry for entry in entries if entry.compress_type != zipfile.ZIP_STORED), None)
    if compressed is not None:
        raise CheckpointError(
            f"{label}: its entry {compressed.filename} is compressed, which torch.save never does; "
            "save the file again with torch.save"
        )
    if unpacked > file_bytes:
        raise CheckpointError(f"{label} declares {unpacked:,} bytes of entries in a {file_bytes:,}-byte file")
    for entry in entries:
        if entry.filename.endswith(".pkl") and entry.file_size > limits.pickle_bytes:
            raise CheckpointError(
                f"{label}: its {entry.filename} is {entry.file_size >> 20:,} MB; "
                f"the limit is {limits.pickle_bytes >> 20} MB"
            )


def _fills_its_storage(tensor: torch.Tensor) -> bool:
    """Whether the tensor's elements are laid out densely, in some dimension order, over exactly its own storage."""
    if tensor.storage_offset() != 0 or tensor.untyped_storage().nbytes() != tensor.numel() * tensor.element_size():
        return False
    expected = 1
    for stride, size in sorted((stride, size) for stride, size in zip(tensor.stride(), tensor.shape) if size != 1):
        if stride != expected:
            return False
        expected *= size
    return True


def check_dense(tensors: Mapping[str, Any], label: str) -> None:
    """Refuse a tensor that declares more elements than the bytes the file holds for it, before its shape is used.

    A zero-stride view of one element saves as one element but claims any
    shape, and building or checking a network from that shape would cost
    gigabytes; a dense tensor costs exactly its bytes in the file.
    """
    for key, value in tensors.items():
        if not isinstance(value, torch.Tensor):
            continue
        if value.layout != torch.strided:
            raise CheckpointError(f"{label}: tensor {key:.80} is {value.layout}, not a dense tensor")
        if not _fills_its_storage(value):
            raise CheckpointError(
                f"{label}: tensor {key:.80} declares shape {list(value.shape)} over "
                f"{value.untyped_storage().nbytes():,} bytes; each tensor must fill its own storage"
            )


def check_archive(path: Path) -> None:
    """Refuse a checkpoint whose directory declares more data than a checkpoint may hold.

    Files in PyTorch's legacy (pre-1.6, non-zip) format are refused outright:
    their pickle declares storage sizes that are allocated before being read.
    """
    label = path.name
    unreadable = f"{label} is not a readable PyTorch checkpoint (corrupt or truncated)"
    try:
        with open(path, "rb") as file:
            head = file.read(2)
    except OSError as error:
        raise CheckpointError(unreadable) from error
    try:
        entries = zip_entries(path, label)
    except CheckpointError as error:
        raise CheckpointError(unreadable) from error
    if entries is None:
        if head[:1] == b"\x80":  # a pickle's PROTO opcode: PyTorch's legacy format
            raise CheckpointError(
                f"{label} is in PyTorch's legacy (non-zip) format, which is not accepted; "
                "load it with an older tool and save it again with torch.save"
            )
        raise CheckpointError(unreadable)
    check_entries(entries, label, CHECKPOINT_LIMITS, path.stat().st_size)
