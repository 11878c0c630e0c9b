"""Errors that reach users as one line of text.

The CLI and the web app both turn these into a single message (exit code 2 in
the CLI, a message in the page), so every message must read well on its own.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input from the user: an image, a checkpoint, or an option."""

    def __init__(self, message: str) -> None:
        # Users see exactly this text; keep it on one line whatever the cause.
        super().__init__(" ".join(str(message).split()))


class ImageInputError(InputError):
    """An image that cannot be read, is too large, or is too small."""


class CheckpointError(InputError):
    """A checkpoint that is missing, corrupt, foreign or unsafe to load."""
