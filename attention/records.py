"""What the recorder keeps of one attention layer, and how it reads a module type.

These types have no dependencies inside the package, so the registry, the
adapters for other libraries' modules, discovery and the recorder can all
build on them without importing one another in a circle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

CHANNEL = "channel"
SPATIAL = "spatial"
TOKEN = "token"
ELEMENT = "element"  # one factor per channel and pixel: coordinate attention, SimAM, BAM
BRANCH = "branch"  # softmax weights over parallel branches, per channel: selective kernel, split attention
KINDS = (CHANNEL, SPATIAL, TOKEN, ELEMENT, BRANCH)
# How much of each self-attention layer a recording keeps: the first row per head only (1/N of the work),
# that plus what each token receives and the head-mean matrix (rollout, a clicked patch), or every matrix.
ATTENTION_ROWS, ATTENTION_MEANS, ATTENTION_FULL = "rows", "means", "full"
ATTENTION_LEVELS = (ATTENTION_ROWS, ATTENTION_MEANS, ATTENTION_FULL)


def check_attention_level(level: str) -> str:
    if level not in ATTENTION_LEVELS:
        raise ValueError(f"attention level must be one of {', '.join(ATTENTION_LEVELS)}, got {level!r}")
    return level


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
    gain: float = 1.0  # the features were multiplied by gain * weights (2 in normaliser-free networks)

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
    gain: float = 1.0  # the features were multiplied by gain * mask

    @property
    def gate(self) -> torch.Tensor:
        """The factors the module multiplied its input by, whatever the kind: here the mask."""
        return self.mask

    @property
    def size(self) -> tuple[int, int]:
        return int(self.mask.shape[1]), int(self.mask.shape[2])


@dataclass(slots=True)
class TokenRecord:
    """Self-attention probabilities ``softmax(q·kᵀ/√d)`` of one layer, for a whole batch.

    By default (the ``means`` level) it keeps what the views need, not the
    (B, heads, N, N) tensor: every head's first query row (the class token's
    attention), every head's attention received averaged over the queries (for
    networks without a class token), and the head mean of the whole matrix (for
    rollout and for the attention from any one patch). The ``rows`` level keeps
    the first rows alone, ``full`` everything.
    """

    kind: ClassVar[str] = TOKEN
    name: str
    type: str  # "timm_attention" or "multihead_attention"
    first: torch.Tensor  # (B, heads, N) attention from token 0 to every token
    received: torch.Tensor | None = None  # (B, heads, N) attention each token receives, averaged over the queries
    mean: torch.Tensor | None = None  # (B, N, N) the attention matrix averaged over heads
    full: torch.Tensor | None = None  # (B, heads, N, N) at the full level

    @property
    def gate(self) -> torch.Tensor:
        """What the layer weighted by, whatever the kind: here each head's attention from token 0."""
        return self.first

    @property
    def heads(self) -> int:
        return int(self.first.shape[1])

    @property
    def tokens(self) -> int:
        return int(self.first.shape[2])


@dataclass(slots=True)
class ElementRecord:
    """A gate with one factor per channel and pixel, kept as the summaries the views draw, for a whole batch.

    The whole (B, C, H, W) gate is as large as the feature map it scales, so
    the record keeps its mean over channels (the pixel map), its mean over
    pixels (one value per channel) and, for a gate made of a per-row and a
    per-column factor (coordinate attention, ELA), those two factors, from
    which any element is their product.
    """

    kind: ClassVar[str] = ELEMENT
    name: str
    type: str  # "coord", "ela", "scoord", "strip", or "element" for a gate found by the probe
    map: torch.Tensor  # (B, H, W) the gate averaged over channels
    per_channel: torch.Tensor  # (B, C) the gate averaged over pixels
    rows: torch.Tensor | None = None  # (B, C, H) the per-row factor, when the gate is rows times columns
    columns: torch.Tensor | None = None  # (B, C, W) the per-column factor
    offset: float = 0.0  # the features were multiplied by offset + gate: 1 for BAM and a gate with a skip
    readable: float = 1.0  # the share of elements the map averages: below 1 only for a gate read back from x and y

    @property
    def gate(self) -> torch.Tensor:
        """What the views draw of the factors: here their mean over channels."""
        return self.map

    @property
    def size(self) -> tuple[int, int]:
        return int(self.map.shape[1]), int(self.map.shape[2])


@dataclass(slots=True)
class BranchRecord:
    """Softmax weights over a layer's parallel branches, one set per channel, for a whole batch."""

    kind: ClassVar[str] = BRANCH
    name: str
    type: str  # "selective_kernel" or "split_attention"
    weights: torch.Tensor  # (B, P, C), summing to 1 over the P branches
    branches: tuple[str, ...] = ()  # what each branch is ("3x3 conv", "split 1", ...)

    @property
    def gate(self) -> torch.Tensor:
        """The factors each branch's output was multiplied by before the branches were summed."""
        return self.weights

    @property
    def channels(self) -> int:
        return int(self.weights.shape[2])


LayerRecord = ChannelRecord | SpatialRecord | TokenRecord | ElementRecord | BranchRecord


def module_itself(module: nn.Module) -> nn.Module:
    return module


class OpenRecording(Protocol):
    """What an adapter's own hooks see of the recording open on their thread."""

    records: list[LayerRecord]
    attention: str  # one of ATTENTION_LEVELS
    feature_layers: tuple[str, ...]
    features: dict[str, torch.Tensor]


Install = Callable[[str, nn.Module, Callable[[], "OpenRecording | None"]], list[RemovableHandle]]


@dataclass(frozen=True)
class Adapter:
    """How the recorder reads one attention module type.

    Args:
        kind: one of ``KINDS``, the kind of record ``make_record`` makes; the
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
        ablate_point: the submodule whose output is the gate itself, when the
            module around it does not run (a torch.fx-traced network): ablation
            then replaces that output (with ones, or its mean) instead of the
            module's.
        outer_gain: a constant the network multiplies the module's output by
            (timm's normaliser-free blocks: 2): the record says so, and
            ablation divides it out, so that ``identity`` leaves the features
            as they were.
        install: for a type whose record needs values from several hooks
            (self-attention reads q and k inside the module), in place of
            ``make_record``: ``install(name, module, open_recording)`` registers
            its own hooks and returns their handles; they append records to
            ``open_recording()``, the calling thread's open recording or None.
    """

    kind: str
    make_record: Callable[[str, nn.Module, tuple[Any, ...], Any], LayerRecord] | None
    hook_point: Callable[[nn.Module], nn.Module] = module_itself
    feature_map: Callable[[tuple[Any, ...], Any], torch.Tensor | None] | None = None
    feature_point: Callable[[nn.Module], nn.Module] | None = None
    install: Install | None = None
    ablate_point: Callable[[nn.Module], nn.Module] | None = None
    outer_gain: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Adapter.kind must be one of {', '.join(map(repr, KINDS))}, got {self.kind!r}")
        if (self.make_record is None) == (self.install is None):
            raise ValueError("an Adapter has either make_record or install, not both")
