"""A pass-through module that exposes an intermediate tensor to forward hooks.

Attention modules route their weights through taps, so a recorder can read the
exact tensors used in the forward pass with an ordinary forward hook, instead
of recomputing them (which would cost time and could drift from the real
values). Without hooks a tap costs one Python call.
"""

from __future__ import annotations

from typing import TypeVar

from torch import nn

T = TypeVar("T")


class Tap(nn.Module):
    """Identity whose output forward hooks can observe."""

    def forward(self, value: T) -> T:  # noqa: D401 - identity
        return value
