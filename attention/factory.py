"""Build an attention layer from a name, so networks and configs stay strings."""

from __future__ import annotations

from typing import Any

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
