"""What every dataset here shares: the split names and the transform type."""

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
