"""CBAM-style spatial attention: one H x W mask that scales every channel."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .gates import create_gate
from .tap import Tap


class SpatialMask(NamedTuple):
    """What SpatialAttention computes before scaling the input, each (B, 1, H, W).

    ``logits`` are the convolution's output (after the norm, if the layer has one) before the gate. A trained mask
    often saturates: many pixels round to exactly 1.0 in float32, and only the
    logits still say which of them the layer favours most.
    """

    mask: torch.Tensor
    logits: torch.Tensor


class SpatialAttention(nn.Module):
    """Mask from the per-pixel max and mean across channels.

    Max and mean summarise "is any channel firing here" and "how much overall";
    a k x k convolution turns them into one logit per pixel, so the mask can
    look at a neighbourhood (7 x 7 by default, as in CBAM).

    Args:
        kernel_size: odd size of the convolution (3, 5 or 7).
        bias: whether the convolution has a bias.
        gate: "sigmoid" (default) or "hard_sigmoid".
        norm: put a BatchNorm between the convolution and the gate, as the official
            CBAM code and timm's ``SpatialAttn`` do. It keeps the logits near unit
            scale, so the gate cannot drift into saturation where every pixel is
            kept alike; off by default, so checkpoints trained without it load unchanged.
    """

    record_type = "spatial"  # what records and documents call this layer's type

    def __init__(self, kernel_size: int = 7, bias: bool = False, gate: str = "sigmoid", norm: bool = False) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(
                f"SpatialAttention kernel_size must be a positive odd number so the mask "
                f"keeps the input's size, got {kernel_size}"
            )
        self.kernel_size = kernel_size
        self.gate_name = gate
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=bias)
        self.norm: nn.Module = nn.BatchNorm2d(1) if norm else nn.Identity()
        self.gate = create_gate(gate)
        self.mask_tap = Tap()

    def spatial_weights(self, x: torch.Tensor) -> SpatialMask:
        """Mask (B, 1, H, W) in [0, 1] with the logits it came from."""
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        logits = self.norm(self.conv(pooled))
        return SpatialMask(self.gate(logits), logits)

    def spatial_mask(self, x: torch.Tensor) -> torch.Tensor:
        """Mask (B, 1, H, W) in [0, 1]."""
        return self.spatial_weights(x).mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = self.mask_tap(self.spatial_weights(x), x).mask
        return x * mask

    def extra_repr(self) -> str:
        norm = ", norm=True" if isinstance(self.norm, nn.BatchNorm2d) else ""
        return f"kernel_size={self.kernel_size}, gate={self.gate_name!r}{norm}"
