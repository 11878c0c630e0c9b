"""Gates no hook on their own module can see: in a torch.fx-traced network, and written inline in a ``forward``.

A network traced with ``torch.fx`` keeps its leaf modules but not the modules
around them: an SE block's ``forward`` no longer runs, so no hook on it fires.
Its gate activation (``nn.Sigmoid``, ``nn.Hardsigmoid``) still runs as a
module, and the graph says that its output multiplies something: that is a
gate, read where it is made. A gate computed by a function
(``x * torch.sigmoid(...)``) has no module to hook, traced or not; it is
named with its enclosing module, so no one counts fewer layers unawares. In
a traced network the graph shows it; in any other, one pass under a
thread-local ``TorchFunctionMode`` sees each sigmoid and each product that
uses it, without tracing (a trace patches ``nn.Module`` for every thread,
which would break a server's other requests).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import fx, nn
from torch.overrides import TorchFunctionMode

LOGGER = logging.getLogger(__name__)

GATE_MODULES = (nn.Sigmoid, nn.Hardsigmoid)
# What a call is, by its name: the same names serve a traced graph's nodes and the calls a TorchFunctionMode sees.
GATE_CALLS = frozenset({"sigmoid", "sigmoid_", "hardsigmoid", "hardsigmoid_", "expit", "special_expit"})
PRODUCT_CALLS = frozenset({"mul", "mul_", "imul", "__mul__", "__rmul__", "__imul__"})
VIEW_CALLS = frozenset(
    {"view", "reshape", "expand", "expand_as", "unsqueeze", "squeeze", "flatten", "contiguous", "to", "type_as"}
    | {"getitem", "__getitem__"}
)
INLINE_REASON = (
    "a gate computed inline ({call} times the features in its forward): no module to hook; "
    "make the gate a module (nn.Sigmoid) to record it"
)
TRACED_REASON = (
    "a gate the trace inlined ({call} times the features): no module runs to hook; record the network "
    "before tracing it, or trace with the gate activation kept as a leaf module"
)


def _called(node: fx.Node) -> str:
    """The name of the function or method a graph node calls; empty for any other node."""
    if node.op == "call_method":
        return str(node.target)
    return getattr(node.target, "__name__", "") if node.op == "call_function" else ""


def _multiplied(node: fx.Node, depth: int = 4) -> bool:
    """Whether some user of ``node`` multiplies it (or a view of it, a few reshapes down) by another value."""
    for user in node.users:
        is_product = _called(user) in PRODUCT_CALLS
        operands = [*user.args, *user.kwargs.values()]
        source = node.args[0] if node.args else None  # x * sigmoid(x) is an activation (swish), not a gate
        if is_product and any(other is not node and other is not source for other in operands):
            return True
        reshapes = _called(user) in VIEW_CALLS and user.args[:1] == (node,)  # the same values laid out anew
        if depth > 0 and reshapes and _multiplied(user, depth - 1):
            return True
    return False


def traced_gates(model: nn.Module) -> list[str]:
    """The gate activation modules of a traced network whose output multiplies something, by qualified name."""
    if not isinstance(model, fx.GraphModule):
        return []
    found = []
    for node in model.graph.nodes:
        if node.op != "call_module" or not _multiplied(node):
            continue
        if isinstance(model.get_submodule(str(node.target)), GATE_MODULES) and node.target not in found:
            found.append(str(node.target))
    return found


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[None]:
    """Eval mode for a probe pass, every module's own mode restored after: a probe must not move BN statistics."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


class _GateWatch(TorchFunctionMode):
    """In this thread only: each sigmoid a forward computes, and each product in which it scales a larger tensor."""

    def __init__(self, where: Callable[[], tuple[str, type]]) -> None:
        super().__init__()
        self.where = where
        self.gates: dict[int, tuple[torch.Tensor, str]] = {}  # id -> (the tensor, kept alive; the call that made it)
        self.found: dict[str, tuple[type, str]] = {}  # enclosing module -> (its type, the call)

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        result = func(*args, **(kwargs or {}))
        name = getattr(func, "__name__", "")
        first = args[0] if args else None
        if name in GATE_CALLS and isinstance(result, torch.Tensor):
            self.gates[id(result)] = (result, f"torch.{name.rstrip('_')}")
        elif name in VIEW_CALLS and isinstance(first, torch.Tensor) and id(first) in self.gates:
            if isinstance(result, torch.Tensor):
                self.gates[id(result)] = (result, self.gates[id(first)][1])
        elif name in PRODUCT_CALLS and len(args) == 2:
            for gate, other in (args, args[::-1]):
                kept = self.gates.get(id(gate)) if isinstance(gate, torch.Tensor) else None
                # A gate scales a larger tensor through broadcasting; x * sigmoid(x) (swish) has x's own shape.
                if kept is not None and isinstance(other, torch.Tensor) and gate.numel() < other.numel():
                    module, kind = self.where()
                    self.found.setdefault(module, (kind, kept[1]))
        return result


def _watched(model: nn.Module, batches: Iterable[torch.Tensor]) -> dict[str, tuple[type, str]]:
    """Run ``model`` on the first batch it takes, watching for inline gates; the module each was computed in."""
    stack: list[tuple[str, type]] = [("", type(model))]

    def enter(name: str) -> Any:
        def hook(module: nn.Module, _inputs: tuple[Any, ...]) -> None:
            stack.append((name, type(module)))

        return hook

    def leave(_module: nn.Module, _inputs: tuple[Any, ...], _output: Any) -> None:
        if len(stack) > 1:
            stack.pop()

    handles = []
    for name, module in model.named_modules():
        if name:
            handles += [module.register_forward_pre_hook(enter(name)), module.register_forward_hook(leave)]
    try:
        for batch in batches:
            del stack[1:]
            watch = _GateWatch(lambda: stack[-1])
            try:
                with evaluating(model), torch.inference_mode(), watch:
                    model(batch)
                return watch.found
            except Exception as error:  # noqa: BLE001 - a size the model does not take; try the next one
                LOGGER.debug("inline-gate watch at input %s failed: %s", tuple(batch.shape), error)
    finally:
        for handle in handles:
            handle.remove()
    return {}


def inline_gates(model: nn.Module, batches: Iterable[torch.Tensor] = ()) -> list[dict[str, str]]:
    """``{name, type, reason}`` for each gate a function computes and a product applies, by its enclosing module.

    A traced network is read from its graph; any other is run once on the
    first of ``batches`` it takes. The enclosing module is the innermost one
    that exists in ``model`` (a trace keeps only leaf modules and their containers).
    """
    named: dict[str, dict[str, str]] = {}
    if not isinstance(model, fx.GraphModule):
        for name, (kind, call) in _watched(model, batches).items():
            reason = INLINE_REASON.format(call=call)
            named[name] = {"name": name, "type": kind.__name__, "reason": reason}
        return list(named.values())
    existing = dict(model.named_modules())
    for node in model.graph.nodes:
        if _called(node) not in GATE_CALLS or not _multiplied(node):
            continue
        stack = list((node.meta.get("nn_module_stack") or {}).values())
        name, kind = next(((str(n), k) for n, k in reversed(stack) if str(n) in existing), ("", type(model)))
        call = getattr(node.target, "__name__", str(node.target))
        call = f"torch.{call}" if node.op == "call_function" else f".{call}()"
        reason = TRACED_REASON.format(call=call)
        named.setdefault(name, {"name": name, "type": getattr(kind, "__name__", str(kind)), "reason": reason})
    return list(named.values())
