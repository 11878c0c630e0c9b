"""Gates read from a network's graph (torch.fx): in a traced network, and written inline in a ``forward``.

A network traced with ``torch.fx`` keeps its leaf modules but not the modules
around them: an SE block's ``forward`` no longer runs, so no hook on it fires.
Its gate activation (``nn.Sigmoid``, ``nn.Hardsigmoid``) still runs as a
module, and the graph says that its output multiplies something: that is a
gate, read where it is made. A gate computed by a function
(``x * torch.sigmoid(...)``) has no module to hook, traced or not; it is
named with its enclosing module, so no one counts fewer layers unawares.
"""

from __future__ import annotations

import logging
import operator

import torch
import torch.nn.functional as F
from torch import fx, nn

LOGGER = logging.getLogger(__name__)

GATE_MODULES = (nn.Sigmoid, nn.Hardsigmoid)
GATE_FUNCTIONS = frozenset({torch.sigmoid, F.sigmoid, F.hardsigmoid, torch.special.expit})
GATE_METHODS = frozenset({"sigmoid", "sigmoid_"})
MULTIPLY_FUNCTIONS = frozenset({operator.mul, operator.imul, torch.mul})
MULTIPLY_METHODS = frozenset({"mul", "mul_"})
RESHAPE_METHODS = frozenset(
    {"view", "reshape", "expand", "expand_as", "unsqueeze", "squeeze", "flatten", "contiguous", "to", "type_as"}
)
RESHAPE_FUNCTIONS = frozenset({operator.getitem, torch.reshape, torch.unsqueeze, torch.squeeze, torch.flatten})
INLINE_REASON = (
    "a gate computed inline ({call} times the features in its forward): no module to hook; "
    "make the gate a module (nn.Sigmoid) to record it"
)
TRACED_REASON = (
    "a gate the trace inlined ({call} times the features): no module runs to hook; record the network "
    "before tracing it, or trace with the gate activation kept as a leaf module"
)


def _reshapes(user: fx.Node, node: fx.Node) -> bool:
    """Whether ``user`` only lays ``node``'s values out anew (a view, an expansion, an index), keeping them."""
    first = user.args[0] if user.args else None
    return first is node and (
        (user.op == "call_method" and user.target in RESHAPE_METHODS)
        or (user.op == "call_function" and user.target in RESHAPE_FUNCTIONS)
    )


def _multiplied(node: fx.Node, depth: int = 4) -> bool:
    """Whether some user of ``node`` multiplies it (or a view of it, a few reshapes down) by another value."""
    for user in node.users:
        is_product = (user.op == "call_function" and user.target in MULTIPLY_FUNCTIONS) or (
            user.op == "call_method" and user.target in MULTIPLY_METHODS
        )
        operands = [*user.args, *user.kwargs.values()]
        if is_product and node in operands and any(other is not node for other in operands):
            return True
        if depth > 0 and _reshapes(user, node) and _multiplied(user, depth - 1):
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


def _graph(model: nn.Module) -> fx.Graph | None:
    """The model's graph: its own when traced, else a symbolic trace; None for code tracing cannot follow."""
    if isinstance(model, fx.GraphModule):
        return model.graph
    try:
        return fx.Tracer().trace(model)
    except Exception as error:  # noqa: BLE001 - data-dependent control flow and the like: no graph, nothing named
        LOGGER.debug("no symbolic trace of %s: %s", type(model).__name__, error)
        return None


def inline_gates(model: nn.Module) -> list[dict[str, str]]:
    """``{name, type, reason}`` for each gate a function computes and a product applies, by its enclosing module.

    The enclosing module is the innermost one that still exists in ``model``
    (a trace keeps only leaf modules and their containers).
    """
    graph = _graph(model)
    if graph is None:
        return []
    existing = dict(model.named_modules())
    traced = isinstance(model, fx.GraphModule)
    named: dict[str, dict[str, str]] = {}
    for node in graph.nodes:
        gate = (node.op == "call_function" and node.target in GATE_FUNCTIONS) or (
            node.op == "call_method" and node.target in GATE_METHODS
        )
        if not gate or not _multiplied(node):
            continue
        stack = list((node.meta.get("nn_module_stack") or {}).values())
        name, kind = next(((str(n), k) for n, k in reversed(stack) if str(n) in existing), ("", type(model)))
        call = getattr(node.target, "__name__", str(node.target))
        call = f"torch.{call}" if node.op == "call_function" else f".{call}()"
        reason = (TRACED_REASON if traced else INLINE_REASON).format(call=call)
        named.setdefault(name, {"name": name, "type": getattr(kind, "__name__", str(kind)), "reason": reason})
    return list(named.values())
