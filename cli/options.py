"""What every command shares beyond the model options (``models.options``): checked numbers and the output folder."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from attention.errors import InputError

BATCH_SIZE_RANGE = (1, 256)
# One reader beside the model on a small machine, up to four on a large one: decoding is a sliver of the work.
DEFAULT_WORKERS = max(1, min(4, (os.cpu_count() or 2) // 2))


def int_in(low: int, high: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range; give {low} to {high}")
        return value

    return parse


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text} is out of range; give 0 to 1")
    return value


def unread_line(path: str | Path, reason: str) -> str:
    """``path: why`` for a file a long run skips, the file named once even when the reason names it too."""
    name = Path(path).name
    why = reason.removeprefix(name).removeprefix(":").strip().removeprefix("is ") if reason.startswith(name) else reason
    return f"{path}: {why}"


def check_layer(model: str, layers: list[str], wanted: str) -> None:
    """Refuse, in one line that lists the model's layers, a layer name the model does not have."""
    if wanted not in layers:
        shown = ", ".join(layers[:6]) + (", ..." if len(layers) > 6 else "")
        raise InputError(f"{model} has no attention layer {wanted!r}; its layers are {shown}")


def check_out_folder(out: Path) -> None:
    """Fail before any work when ``--out`` cannot take files, rather than after the work is done."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as error:
        raise InputError(f"cannot write figures to --out {out}: {error.strerror or error}") from error
