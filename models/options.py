"""The launch options that name a model, shared by both entry points (``python app.py`` and ``python -m attention``).

They live here rather than in ``cli/`` so that the web app's entry point does not depend on the command line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, NoReturn

from attention.images import RESIZE_MODES

from .families import FAMILIES


class OneLineParser(argparse.ArgumentParser):
    """argparse, with its errors as one ``error:`` line (exit 2) instead of a usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {' '.join(message.split())}\n")


def add_model_options(parser: argparse.ArgumentParser, several: bool = False) -> None:
    """``--model SPEC`` (alias ``--checkpoint``) and what may override a model's own description.

    With ``several``, ``--model`` may be given more than once and ``args.model`` is a list.
    """
    parser.add_argument(
        "--model",
        "--checkpoint",
        dest="model",
        default=None,
        action="append" if several else "store",
        metavar="SPEC",
        help="shapes, fashion, a checkpoint path, "
        + ", ".join(f"{key}:NAME" for key in FAMILIES)
        + ", or your own factory as path/to/file.py:FUNCTION or package.module:FUNCTION"
        + ("; give it again for more models (the first is the default)" if several else ""),
    )
    parser.add_argument(
        "--weights", type=Path, help="weights file for --model (.pt, .pth, .pth.tar, .ckpt, .safetensors...)"
    )
    parser.add_argument(
        "--weights-key",
        metavar="NAME",
        help="the entry of a training checkpoint to read, such as state_dict_ema or model_ema "
        "(default: its state_dict or model entry, and a note when EMA weights are there too)",
    )
    parser.add_argument("--classes", type=Path, help="class names: one a line, or a JSON list")
    parser.add_argument("--input-size", type=int, nargs="+", metavar="PX", help="model input side, or height width")
    parser.add_argument("--channels", type=int, help="model input channels, 1 or 3")
    parser.add_argument("--mean", type=float, nargs="+", help="normalisation mean, one value or one per channel")
    parser.add_argument("--std", type=float, nargs="+", help="normalisation std, one value or one per channel")
    parser.add_argument(
        "--resize",
        choices=RESIZE_MODES,
        help="squash: the whole image to the input size; shorter-crop: the aspect kept, the centre cropped "
        "(default: the model's own, such as timm's crop_pct and centre crop)",
    )
    parser.add_argument(
        "--device",
        default="auto",
        help="where the model runs: auto (a GPU when PyTorch sees one, else the CPU), cpu, cuda, cuda:N or mps",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress on stderr")


# The options that describe one model; they go with a single --model.
DESCRIBING = ("weights", "weights_key", "classes", "input_size", "channels", "mean", "std", "resize")


def load_model_from(args: argparse.Namespace, device: Any = None) -> Any:
    """The LoadedModel the options name, on ``--device`` (or ``device``); the command line may run a user's factory.

    The device is checked before the model loads, so a machine without a GPU
    refuses ``--device cuda`` at once rather than after a long download.
    """
    from attention.devices import resolve_device
    from models.specs import load_model

    device = device if device is not None else resolve_device(getattr(args, "device", "auto"))

    overrides = {
        "input_size": args.input_size,
        "channels": args.channels,
        "mean": args.mean,
        "std": args.std,
        "resize": args.resize,
    }
    loaded = load_model(
        args.model, args.weights, args.classes, overrides, allow_code=True, weights_key=args.weights_key
    )
    for note in weights_notes(loaded.config.get("weights")):
        sys.stderr.write(f"note: {note}\n")
    loaded.model.to(device)
    return loaded


def weights_notes(weights: dict[str, Any] | None) -> list[str]:
    """What a person should know about how a weights file was read: the entry used beside EMA ones, entries left out."""
    if not weights:
        return []
    notes = []
    if weights["ema"]:
        notes.append(
            f"{weights['file']}: used the weights in {weights['entry']!r}; EMA weights are also in "
            + ", ".join(map(repr, weights["ema"]))
            + f" (--weights-key {weights['ema'][0]} uses them)"
        )
    ignored = weights["ignored"]
    if ignored:
        shown = ", ".join(ignored[:5]) + (f" and {len(ignored) - 5} more" if len(ignored) > 5 else "")
        entries = "1 entry" if len(ignored) == 1 else f"{len(ignored)} entries"
        notes.append(f"{weights['file']}: ignored {entries} outside the model: {shown}")
    return notes
