"""What the recorder keeps of one attention layer, and how it reads a module type.

These types have no dependencies inside the package, so the registry, the
adapters for other libraries' modules, discovery and the recorder can all
build on them without importing one another in a circle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

CHANNEL = "channel"
SPATIAL = "spatial"


def cpu_copy(tensor: torch.Tensor) -> torch.Tensor:
    """A detached CPU copy, so a record never pins the autograd graph or device memory nor shares model memory."""
    return tensor.detach().to("cpu", copy=True)


@dataclass(slots=True)
class ChannelRecord:
    """Channel weights of one channel-attention layer, for a whole batch."""

    kind: ClassVar[str] = CHANNEL
    name: str
    type: str  # "eca", "se", "cbam_channel", or "channel" for an unknown channel gate
    weights: torch.Tensor  # (B, C) the gate values the module multiplied by
    avg: torch.Tensor | None = None  # (B, C) before the gate
    max: torch.Tensor | None = None  # (B, C) before the gate
    kernel_size: int | None = None

    @property
    def gate(self) -> torch.Tensor:
        """The factors the module multiplied its input by, whatever the kind: here the channel weights."""
        return self.weights

    @property
    def channels(self) -> int:
        return int(self.weights.shape[1])


@dataclass(slots=True)
class SpatialRecord:
    """Mask of one spatial-attention layer, for a whole batch."""

    kind: ClassVar[str] = SPATIAL
    name: str
    mask: torch.Tensor  # (B, H, W)
    kernel_size: int | None = None
    type: str = "spatial"
    logits: torch.Tensor | None = None  # (B, H, W) before the gate, when known

    @property
    def gate(self) -> torch.Tensor:
        """The factors the module multiplied its input by, whatever the kind: here the mask."""
        return self.mask

    @property
    def size(self) -> tuple[int, int]:
        return int(self.mask.shape[1]), int(self.mask.shape[2])


LayerRecord = ChannelRecord | SpatialRecord


def module_itself(module: nn.Module) -> nn.Module:
    return module


@dataclass(frozen=True)
class Adapter:
    """How the recorder reads one attention module type.

    Args:
        kind: CHANNEL or SPATIAL, the kind of record ``make_record`` makes; the
            Analyzer files the layer by it.
        make_record: builds the record from the hook's ``(layer name, attention
            module, inputs of the hook point, output of the hook point)``; it
            runs inside the hook and must copy every tensor it keeps with ``cpu_copy``.
        hook_point: the submodule whose forward hook sees the values (this
            project's modules: their tap; a foreign module: often itself).
        feature_map: the layer's input feature map (B, C, H, W) from the same
            hook arguments, or None when the type cannot provide it.
        feature_point: the submodule whose hook arguments ``feature_map`` reads,
            when it is not the hook point: a gate activation child sees the
            gate itself, which is the cheapest exact record, but not the map.
    """

    kind: str
    make_record: Callable[[str, nn.Module, tuple[Any, ...], Any], LayerRecord]
    hook_point: Callable[[nn.Module], nn.Module] = module_itself
    feature_map: Callable[[tuple[Any, ...], Any], torch.Tensor | None] | None = None
    feature_point: Callable[[nn.Module], nn.Module] | None = None

    def __post_init__(self) -> None:
        if self.kind not in (CHANNEL, SPATIAL):
            raise ValueError(f"Adapter.kind must be {CHANNEL!r} or {SPATIAL!r}, got {self.kind!r}")
