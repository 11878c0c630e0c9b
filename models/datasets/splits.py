"""What every dataset here shares: the split names, the transform type and index checking."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PIL import Image

Transform = Callable[[Image.Image], Any]

SPLITS: tuple[str, ...] = ("train", "val", "test")


def check_split(split: str) -> int:
    """The split's index in ``SPLITS``; a ValueError names the valid ones."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return SPLITS.index(split)


def checked_index(index: int, length: int) -> int:
    """``index`` into a dataset of ``length`` samples, negative ones counted from the end; IndexError outside."""
    index = int(index)
    if index < 0:
        index += length
    if not 0 <= index < length:
        raise IndexError(f"index {index} out of range for {length} samples")
    return index
