"""Efficient Channel Attention (ECA) with average, max or combined pooling.

ECA weighs channels with a 1-D convolution across the channel axis, so it
needs no channel reduction (unlike SE) and its parameter count is just k.
This project's default pools each channel by average AND max and sends both
vectors through the same convolution, which keeps the parameter count at k
while letting strong but sparse activations count (the CBAM observation).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from .gates import create_gate
from .tap import Tap

POOLINGS = ("avgmax", "avg", "max")


def adaptive_kernel_size(channels: int, gamma: float = 2.0, beta: float = 1.0) -> int:
    """Kernel size from the ECA paper: k = |log2(C)/gamma + beta/gamma|, made odd.

    Wider layers get a wider neighbourhood of interacting channels; the odd size
    keeps the output aligned with the input channels under symmetric padding.
    """
    if channels < 1:
        raise ValueError(f"channels must be positive, got {channels}")
    size = int(abs(math.log2(channels) / gamma + beta / gamma))
    return size if size % 2 == 1 else size + 1


class ChannelWeights(NamedTuple):
    """What ECA computes before scaling the input.

    ``avg`` and ``max`` are the convolution outputs of each pooling branch
    before they are added and gated; a branch that is switched off is None.
    """

    weights: torch.Tensor
    avg: torch.Tensor | None
    max: torch.Tensor | None


class ECA(nn.Module):
    """Efficient channel attention.

    Args:
        channels: number of input channels C; used for the adaptive kernel size.
        kernel_size: odd fixed kernel size, or None for the adaptive size.
        pooling: "avgmax" (default), "avg" (the original ECA) or "max".
        gamma, beta: constants of the adaptive kernel formula.
        bias: whether the shared 1-D convolution has a bias.
        gate: "sigmoid" (default) or "hard_sigmoid".
    """

    record_type = "eca"  # what records and documents call this layer's type

    def __init__(
        self,
        channels: int,
        kernel_size: int | None = None,
        pooling: str = "avgmax",
        gamma: float = 2.0,
        beta: float = 1.0,
        bias: bool = False,
        gate: str = "sigmoid",
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; choose one of {POOLINGS}")
        if kernel_size is None:
            kernel_size = adaptive_kernel_size(channels, gamma, beta)
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(
                f"ECA kernel_size must be a positive odd number so that C channels give C weights, got {kernel_size}"
            )
        self.channels = channels
        self.kernel_size = kernel_size
        self.pooling = pooling
        self.gate_name = gate
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=bias)
        self.gate = create_gate(gate)
        # One tap for the weights and both branch parts: one hook per layer when recording.
        self.weights_tap = Tap()

    def _branch(self, pooled: torch.Tensor) -> torch.Tensor:
        # (B, C) -> (B, 1, C): the channel axis becomes the convolution's length axis.
        return self.conv(pooled.unsqueeze(1)).squeeze(1)

    def channel_weights(self, x: torch.Tensor) -> ChannelWeights:
        """Weights (B, C) in [0, 1], with the branch parts they came from."""
        avg_part = self._branch(x.mean(dim=(2, 3))) if self.pooling != "max" else None
        max_part = self._branch(x.amax(dim=(2, 3))) if self.pooling != "avg" else None
        if avg_part is not None and max_part is not None:
            logits = avg_part + max_part
        else:
            logits = avg_part if avg_part is not None else max_part
        return ChannelWeights(self.gate(logits), avg_part, max_part)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.weights_tap(self.channel_weights(x), x).weights
        return x * weights[:, :, None, None]

    def extra_repr(self) -> str:
        return (
            f"channels={self.channels}, kernel_size={self.kernel_size}, "
            f"pooling={self.pooling!r}, gate={self.gate_name!r}"
        )
