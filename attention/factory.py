"""Build an attention layer from a name, so networks and configs stay strings."""

from __future__ import annotations

import functools
import json
from typing import Any, NamedTuple

from torch import nn

from .channel import CBAMChannelGate, SqueezeExcite
from .eca import ECA
from .spatial import SpatialAttention

ATTENTION_KINDS = ("eca_sa", "eca", "sa", "cbam", "se", "none")


class AttentionBlock(nn.Sequential):
    """A channel step followed by a spatial step, either of which may be absent.

    Channel first, then spatial, is CBAM's order: the mask is computed from
    features that channel attention has already re-weighted. ``spatial_first``
    swaps them (an ablation of where SA sits); the layers keep their names.
    """

    def __init__(self, channel: nn.Module | None, spatial: nn.Module | None, spatial_first: bool = False) -> None:
        super().__init__()
        steps = (
            (("spatial", spatial), ("channel", channel))
            if spatial_first
            else (("channel", channel), ("spatial", spatial))
        )
        for name, module in steps:
            if module is not None:
                self.add_module(name, module)


def create_attention(
    kind: str,
    channels: int,
    *,
    eca: dict[str, Any] | None = None,
    spatial: dict[str, Any] | None = None,
    reduction: int = 16,
    gate: str = "sigmoid",
    spatial_first: bool = False,
) -> nn.Module:
    """Attention layer for ``channels`` channels.

    Kinds: "eca_sa" (this project's default: ECA then spatial attention),
    "eca", "sa", "cbam" (CBAM channel gate then spatial attention), "se",
    and "none" (identity, for ablations).
    ``eca`` and ``spatial`` hold keyword arguments for those modules;
    ``spatial_first`` runs the spatial step before the channel step ("eca_sa", "cbam").
    """
    key = kind.replace("+", "_").replace("-", "_").lower()
    eca_kwargs = {"gate": gate, **(eca or {})}
    spatial_kwargs = {"gate": gate, **(spatial or {})}
    if key == "eca_sa":
        return AttentionBlock(ECA(channels, **eca_kwargs), SpatialAttention(**spatial_kwargs), spatial_first)
    if key == "eca":
        return AttentionBlock(ECA(channels, **eca_kwargs), None)
    if key == "sa":
        return AttentionBlock(None, SpatialAttention(**spatial_kwargs))
    if key == "cbam":
        return AttentionBlock(
            CBAMChannelGate(channels, reduction=reduction, gate=gate),
            SpatialAttention(**spatial_kwargs),
            spatial_first,
        )
    if key == "se":
        return AttentionBlock(SqueezeExcite(channels, reduction=reduction, gate=gate), None)
    if key == "none":
        return nn.Identity()
    raise ValueError(f"unknown attention kind {kind!r}; choose one of {ATTENTION_KINDS}")


class AttentionCost(NamedTuple):
    """What one attention layer adds to a network: parameters, and per image, activation values and multiply-adds."""

    parameters: int
    activations: int
    multiply_adds: int


def attention_cost(kind: str, channels: int, pixels: int, **kwargs: Any) -> AttentionCost:
    """The cost of the layer ``create_attention`` builds, read from that layer, so no kind can count as free.

    Its work is read from its own layers: every linear layer once per image,
    a 1-D convolution over the channels for each of two pooled descriptors,
    and a 2-D convolution over every pixel of the two pooled maps, which with
    the mask are its activations. An unknown kind raises, as ``create_attention`` does.
    """
    parameters, linear, conv1d, conv2d = _layer_profile(kind, channels, json.dumps(kwargs, sort_keys=True))
    return AttentionCost(parameters, 3 * pixels * (conv2d > 0), linear + 2 * conv1d * channels + conv2d * pixels)


@functools.lru_cache(maxsize=256)
def _layer_profile(kind: str, channels: int, kwargs: str) -> tuple[int, int, int, int]:
    """(parameters, linear weights, 1-D and 2-D convolution weights) of one layer, built for real once per shape.

    A layer has at most a few million parameters (1,024 channels), and the
    blocks of a stage share one shape, so checking a config stays cheap.
    """
    layer = create_attention(kind, channels, **json.loads(kwargs))
    weights = {kind_: 0 for kind_ in (nn.Linear, nn.Conv1d, nn.Conv2d)}
    for module in layer.modules():
        if type(module) in weights:
            weights[type(module)] += module.weight.numel()
    parameters = sum(parameter.numel() for parameter in layer.parameters())
    return parameters, weights[nn.Linear], weights[nn.Conv1d], weights[nn.Conv2d]
