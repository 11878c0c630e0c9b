"""A pass-through module that exposes intermediate tensors to forward hooks.

Attention modules route their weights through taps, so a recorder can read the
exact tensors used in the forward pass with an ordinary forward hook, instead
of recomputing them (which would cost time and could drift from the real
values). A module may also hand the tap the tensor the weights were computed
from: the hook then sees it among its inputs, so one hook per layer serves
both the weights and the feature map. Without hooks a tap costs one Python
call.
"""

from __future__ import annotations

from typing import Any, TypeVar

from torch import nn

T = TypeVar("T")


class Tap(nn.Module):
    """Identity on ``value``; ``source`` is only there for forward hooks to see."""

    def forward(self, value: T, source: Any = None) -> T:  # noqa: D401 - identity
        return value
