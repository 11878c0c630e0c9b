"""Taps run plain forward hooks themselves; they must behave exactly like any nn.Module's hooks."""

from __future__ import annotations

import torch
from torch import nn

from attention.tap import Tap


def test_unhooked_tap_is_identity() -> None:
    value, source = torch.randn(2, 3), torch.randn(2, 3, 4, 4)
    assert Tap()(value, source) is value
    assert Tap()(value) is value


def test_plain_hooks_see_module_inputs_and_output_in_registration_order() -> None:
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


def test_a_hook_that_returns_a_value_replaces_the_output_for_later_hooks_and_the_caller() -> None:
    tap = Tap()
    value = torch.ones(3)
    later: list = []
    tap.register_forward_hook(lambda _m, _i, output: output * 2)
    tap.register_forward_hook(lambda _m, _i, output: later.append(output))
    result = tap(value)
    torch.testing.assert_close(result, value * 2)
    assert later[0] is result


def test_other_hook_kinds_take_the_ordinary_path_and_behave_as_documented() -> None:
    tap = Tap()
    value = torch.ones(3)
    calls: list[str] = []
    tap.register_forward_pre_hook(lambda _m, inputs: calls.append("pre") or (inputs[0] + 1,))
    tap.register_forward_hook(lambda _m, _i, _kwargs, output: calls.append("kwargs") or output * 10, with_kwargs=True)
    torch.testing.assert_close(tap(value), (value + 1) * 10)
    assert calls == ["pre", "kwargs"]


def test_global_module_hooks_still_see_taps() -> None:
    seen: list[nn.Module] = []
    handle = nn.modules.module.register_module_forward_hook(lambda module, _i, _o: seen.append(module))
    try:
        tap = Tap()
        tap.register_forward_hook(lambda *_: None)
        tap(torch.ones(1))
    finally:
        handle.remove()
    assert seen == [tap]


def test_always_called_hook_runs_when_a_later_hook_raises() -> None:
    tap = Tap()
    calls: list[str] = []

    def failing(*_: object) -> None:
        raise ValueError("boom")

    tap.register_forward_hook(failing)
    tap.register_forward_hook(lambda *_: calls.append("always"), always_call=True)
    try:
        tap(torch.ones(1))
    except ValueError:
        pass
    else:  # pragma: no cover - the failing hook must propagate
        raise AssertionError("the hook's error was swallowed")
    assert calls == ["always"]


def test_hooked_tap_under_torch_compile() -> None:
    """Dynamo traces the tap's own ``__call__``: the result and the hook call must survive it."""

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
