"""Gate functions shared by every attention module.

Keeping the gate a named submodule (not an inline function call) lets users
swap sigmoid for hard-sigmoid by name, and keeps checkpoints self-describing.
"""

from __future__ import annotations

from torch import nn

GATES: dict[str, type[nn.Module]] = {
    "sigmoid": nn.Sigmoid,
    "hard_sigmoid": nn.Hardsigmoid,
}


def create_gate(name: str) -> nn.Module:
    """Build a gate that maps logits to weights in [0, 1]."""
    key = name.replace("-", "_").lower()
    if key not in GATES:
        raise ValueError(f"unknown gate {name!r}; choose one of {sorted(GATES)}")
    return GATES[key]()
