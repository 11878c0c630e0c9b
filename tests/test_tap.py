"""Taps are plain identity modules: PyTorch dispatches them and their hooks as usual."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attention.tap import Tap


def test_unhooked_tap_is_identity() -> None:
    value, source = torch.randn(2, 3), torch.randn(2, 3, 4, 4)
    assert Tap()(value, source) is value
    assert Tap()(value) is value


def test_tap_is_dispatched_by_pytorch() -> None:
    """No override of ``__call__``: every kind of hook, tracing and compiling work as for any module."""
    assert Tap.__call__ is nn.Module.__call__


def test_plain_hooks_see_value_and_source_in_registration_order() -> None:
    tap = Tap()
    value, source = torch.randn(2, 3), torch.randn(2, 3, 4, 4)
    seen: list = []
    first = tap.register_forward_hook(lambda module, inputs, output: seen.append(("first", module, inputs, output)))
    tap.register_forward_hook(lambda module, inputs, output: seen.append(("second", module, inputs, output)))
    assert tap(value, source) is value
    assert [entry[0] for entry in seen] == ["first", "second"]
    for _, module, inputs, output in seen:
        assert module is tap and output is value
        assert inputs[0] is value and inputs[1] is source
    first.remove()
    seen.clear()
    tap(value, source)
    assert [entry[0] for entry in seen] == ["second"]


@pytest.mark.slow
def test_hooked_tap_under_torch_compile() -> None:
    class Doubler(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tap = Tap()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.tap(x * 2, x)

    model = Doubler()
    seen: list[torch.Tensor] = []
    model.tap.register_forward_hook(lambda _m, _i, output: seen.append(output))
    compiled = torch.compile(model, backend="eager")
    torch.testing.assert_close(compiled(torch.full((2,), 3.0)), torch.full((2,), 6.0))
    assert len(seen) == 1
