"""The first look at a PyTorch file: its zip directory, before ``torch.load`` reads anything.

``torch.save`` writes a zip archive whose entries are stored uncompressed, and
PyTorch allocates each entry at its declared size before reading it; checking
the declared sizes first makes a zip bomb cost only its directory.
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

from attention.errors import CheckpointError

LOGGER = logging.getLogger(__name__)

MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_UNPACKED_BYTES = MAX_FILE_BYTES
MAX_COMPRESSION_RATIO = 50  # for entries over 64 KiB
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


def check_archive(path: Path) -> None:
    """Refuse an archive whose directory declares more data than a checkpoint may hold.

    ``torch.save`` writes a zip archive whose entries are stored uncompressed,
    and PyTorch allocates each entry at its declared size before reading it.
    Checking the declared sizes first makes a zip bomb cost only its directory.
    Files in PyTorch's legacy (pre-1.6, non-zip) format are refused outright:
    their pickle declares storage sizes that are allocated before being read.
    """
    label = path.name
    unreadable = f"{label} is not a readable PyTorch checkpoint (corrupt or truncated)"
    try:
        with open(path, "rb") as file:
            head = file.read(2)
        is_zip = zipfile.is_zipfile(path)
        entries: list[zipfile.ZipInfo] = []
        if is_zip:
            with zipfile.ZipFile(path) as archive:
                entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as error:
        LOGGER.warning("unreadable checkpoint archive %s: %s", path, error)
        raise CheckpointError(unreadable) from error
    if not is_zip:
        if head[:1] == b"\x80":  # a pickle's PROTO opcode: PyTorch's legacy format
            raise CheckpointError(
                f"{label} is in PyTorch's legacy (non-zip) format, which is not accepted; "
                "load it with an older tool and save it again with torch.save"
            )
        raise CheckpointError(unreadable)
    if len(entries) > MAX_ARCHIVE_ENTRIES:
        raise CheckpointError(f"{label} holds {len(entries):,} archive entries; the limit is {MAX_ARCHIVE_ENTRIES:,}")
    unpacked = sum(entry.file_size for entry in entries)
    if unpacked > MAX_UNPACKED_BYTES:
        raise CheckpointError(
            f"{label} would unpack to {unpacked >> 20:,} MB; the limit is {MAX_UNPACKED_BYTES >> 20} MB"
        )
    for entry in entries:
        if entry.filename.endswith(".pkl") and entry.file_size > MAX_PICKLE_BYTES:
            raise CheckpointError(
                f"{label}: its {entry.filename} is {entry.file_size >> 20:,} MB; "
                f"the limit is {MAX_PICKLE_BYTES >> 20} MB"
            )
        ratio = entry.file_size / max(entry.compress_size, 1)
        if entry.file_size > 64 * 1024 and ratio > MAX_COMPRESSION_RATIO:
            raise CheckpointError(
                f"{label}: its entry {entry.filename} is compressed {ratio:,.0f} to 1; "
                f"the limit is {MAX_COMPRESSION_RATIO} to 1 (torch.save does not compress)"
            )
