"""Channel-attention designs to compare with ECA: CBAM's channel gate and SE."""

from __future__ import annotations

import torch
from torch import nn

from .eca import ChannelWeights
from .gates import create_gate
from .tap import Tap


class _BottleneckGate(nn.Module):
    """The body SE and CBAM's channel gate share: a bottleneck MLP of C / reduction units, a gate, a tap."""

    def __init__(self, channels: int, reduction: int = 16, min_hidden: int = 4, gate: str = "sigmoid") -> None:
        super().__init__()
        hidden = max(min_hidden, channels // reduction)
        self.channels = channels
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels))
        self.gate = create_gate(gate)
        self.weights_tap = Tap()

    def channel_weights(self, x: torch.Tensor) -> ChannelWeights:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.weights_tap(self.channel_weights(x), x).weights
        return x * weights[:, :, None, None]


class CBAMChannelGate(_BottleneckGate):
    """CBAM's channel gate: one shared MLP over average- and max-pooled vectors.

    Unlike ECA it squeezes channels through a hidden layer of C / reduction
    units, so every channel can interact with every other one.
    """

    record_type = "cbam_channel"  # what records and documents call this layer's type

    def channel_weights(self, x: torch.Tensor) -> ChannelWeights:
        avg_part = self.mlp(x.mean(dim=(2, 3)))
        max_part = self.mlp(x.amax(dim=(2, 3)))
        return ChannelWeights(self.gate(avg_part + max_part), avg_part, max_part)


class SqueezeExcite(_BottleneckGate):
    """Squeeze-and-excitation: average pooling, a bottleneck MLP, a gate."""

    record_type = "se"  # what records and documents call this layer's type

    def channel_weights(self, x: torch.Tensor) -> ChannelWeights:
        avg_part = self.mlp(x.mean(dim=(2, 3)))
        return ChannelWeights(self.gate(avg_part), avg_part, None)
