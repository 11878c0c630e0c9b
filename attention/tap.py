"""A pass-through module that exposes intermediate tensors to forward hooks.

Attention modules route their weights through a tap, so a recorder reads the
exact tensors used in the forward pass with an ordinary forward hook instead
of recomputing them (which would cost time and could drift from the real
values). A module also hands the tap the tensor the weights were computed
from, so one hook per layer sees both the weights and the feature map.
"""

from __future__ import annotations

from typing import Any, TypeVar

from torch import nn

T = TypeVar("T")


class Tap(nn.Module):
    """Identity on ``value``; ``source`` is only there for forward hooks to see.

    PyTorch dispatches it like any module, so every kind of hook, tracing and
    compiling behave exactly as documented for ``nn.Module``.
    """

    def forward(self, value: T, source: Any = None) -> T:  # noqa: D401 - identity
        return value
