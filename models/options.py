"""The launch options that name a model, shared by both entry points (``python app.py`` and ``python -m attention``).

They live here rather than in ``cli/`` so that the web app's entry point does not depend on the command line.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, NoReturn

from .families import FAMILIES


class OneLineParser(argparse.ArgumentParser):
    """argparse, with its errors as one ``error:`` line (exit 2) instead of a usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {' '.join(message.split())}\n")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """``--model SPEC`` (alias ``--checkpoint``) and what may override a model's own description."""
    parser.add_argument(
        "--model",
        "--checkpoint",
        dest="model",
        default=None,
        metavar="SPEC",
        help="shapes, fashion, a checkpoint path, "
        + ", ".join(f"{key}:NAME" for key in FAMILIES)
        + ", or your own factory as path/to/file.py:FUNCTION or package.module:FUNCTION",
    )
    parser.add_argument(
        "--weights", type=Path, help="weights file for --model (.pt, .pth, .pth.tar, .ckpt, .safetensors...)"
    )
    parser.add_argument("--classes", type=Path, help="class names: one a line, or a JSON list")
    parser.add_argument("--input-size", type=int, nargs="+", metavar="PX", help="model input side, or height width")
    parser.add_argument("--channels", type=int, help="model input channels, 1 or 3")
    parser.add_argument("--mean", type=float, nargs="+", help="normalisation mean, one value or one per channel")
    parser.add_argument("--std", type=float, nargs="+", help="normalisation std, one value or one per channel")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress on stderr")


def load_model_from(args: argparse.Namespace) -> Any:
    """The LoadedModel the options name; the command line may run a user's factory, an upload never can."""
    from models.specs import load_model

    overrides = {"input_size": args.input_size, "channels": args.channels, "mean": args.mean, "std": args.std}
    return load_model(args.model, args.weights, args.classes, overrides, allow_code=True)
