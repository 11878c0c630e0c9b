"""Errors that reach users: one line whatever the cause, and no memory kept alive by a refused request."""

from __future__ import annotations

import gc
import weakref

import pytest

from attention.errors import CheckpointError, ImageInputError, InputError, forget_frames


class _Held:
    """Stands in for a refused 100 MB state dict held by a frame's locals."""


@pytest.mark.parametrize("kind", [InputError, ImageInputError, CheckpointError])
def test_every_message_is_one_line_with_single_spaces(kind: type[InputError]) -> None:
    error = kind("weights.pt is\nnot a state dict:\n\t  its keys: a,  b\n")
    assert str(error) == "weights.pt is not a state dict: its keys: a, b"
    assert isinstance(error, ValueError)


def _raise_chain(refs: list[weakref.ref[_Held]]) -> None:
    """Three frames, each holding an object: a cause (``raise ... from``) over a context (an error while handling)."""

    def innermost() -> None:
        held = _Held()
        refs.append(weakref.ref(held))
        raise OSError("disk")

    def middle() -> None:
        held = _Held()
        refs.append(weakref.ref(held))
        try:
            innermost()
        except OSError:
            raise ValueError("corrupt")  # noqa: B904 - a context only, as code that forgets ``from`` makes

    held = _Held()
    refs.append(weakref.ref(held))
    try:
        middle()
    except ValueError as error:
        raise CheckpointError("file.pt is corrupt") from error


def test_forgetting_frames_frees_the_locals_of_the_error_its_cause_and_its_context() -> None:
    refs: list[weakref.ref[_Held]] = []
    with pytest.raises(CheckpointError) as caught:
        _raise_chain(refs)
    error = caught.value
    assert error.__cause__ is not None and error.__cause__.__cause__ is None
    assert isinstance(error.__cause__.__context__, OSError)  # the innermost error is reached only as a context
    gc.collect()
    assert all(ref() is not None for ref in refs) and len(refs) == 3  # the tracebacks keep them alive
    forget_frames(error)
    gc.collect()
    assert [ref() for ref in refs] == [None, None, None]
    assert str(error) == "file.pt is corrupt"  # the message itself stays


def test_forgetting_frames_stops_on_a_cycle_of_causes() -> None:
    first, second = ValueError("a"), ValueError("b")
    first.__cause__, second.__cause__ = second, first
    forget_frames(first)  # returns: each error is visited once
