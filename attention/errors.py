"""Errors that reach users as one line of text.

The CLI and the web app both turn these into a single message (exit code 2 in
the CLI, a message in the page), so every message must read well on its own.
"""

from __future__ import annotations

import traceback


class InputError(ValueError):
    """Bad input from the user: an image, a checkpoint, or an option."""

    def __init__(self, message: str) -> None:
        # Users see exactly this text; keep it on one line whatever the cause.
        super().__init__(" ".join(str(message).split()))


class ImageInputError(InputError):
    """An image that cannot be read, is too large, or is too small."""


class CheckpointError(InputError):
    """A checkpoint that is missing, corrupt, foreign or unsafe to load."""


def forget_frames(error: BaseException) -> None:
    """Clear the local variables of every finished frame in ``error``'s tracebacks, its causes' included.

    A caught error keeps its traceback, and the traceback keeps every local of
    the frames it passed through: a refused 100 MB state dict stays in memory
    as long as anything holds the error. Callers that turn an error into a
    message call this first.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        traceback.clear_frames(current.__traceback__)
        current = current.__cause__ or current.__context__
