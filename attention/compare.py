"""Two analyses side by side: which layers' attention differs, and how much.

"Why do these two images get different answers?" starts with where their
attention parts ways. Both analyses must have the same layers (the same
model, or two models of the same architecture), so that channel ``c`` of a
layer means the same thing in both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .analysis import ChannelLayer, ImageAnalysis
from .errors import InputError


def ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing their average rank (what Spearman's coefficient needs)."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    order = np.argsort(flat, kind="stable")
    sorted_values = flat[order]
    result = np.empty(len(flat))
    start = 0
    while start < len(flat):
        end = start
        while end + 1 < len(flat) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        result[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return result


def spearman(first: np.ndarray, second: np.ndarray) -> float | None:
    """Spearman rank correlation of two maps of the same shape; None when either is constant."""
    a, b = ranks(first), ranks(second)
    if a.shape != b.shape:
        raise ValueError(f"maps differ in shape: {np.shape(first)} and {np.shape(second)}")
    a, b = a - a.mean(), b - b.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return None if denominator == 0 else float((a * b).sum() / denominator)


@dataclass(frozen=True)
class LayerDifference:
    """A − B for one layer: channel weights (C,) or mask values (H, W)."""

    name: str
    kind: str
    difference: np.ndarray

    @property
    def score(self) -> float:
        """Mean absolute difference: how far apart the two gates are, on the gate's 0–1 scale."""
        return float(np.abs(self.difference).mean())


def compare(first: ImageAnalysis, second: ImageAnalysis) -> list[LayerDifference]:
    """Per-layer differences, in forward order; one-line InputError when the layers do not correspond."""
    names_a = [layer.name for layer in first.layers]
    names_b = [layer.name for layer in second.layers]
    if names_a != names_b:
        raise InputError("the two analyses have different attention layers; compare images under one model")
    differences = []
    for a, b in zip(first.layers, second.layers):
        if isinstance(a, ChannelLayer) and isinstance(b, ChannelLayer):
            if a.weights.shape != b.weights.shape:
                raise InputError(f"{a.name} has {a.channels} channels in one model and {b.channels} in the other")
            differences.append(LayerDifference(a.name, "channel", a.weights.astype(np.float64) - b.weights))
        elif not isinstance(a, ChannelLayer) and not isinstance(b, ChannelLayer):
            if a.mask.shape != b.mask.shape:
                raise InputError(f"{a.name} has masks of different sizes: {a.size} and {b.size}")
            differences.append(LayerDifference(a.name, "spatial", a.mask.astype(np.float64) - b.mask))
        else:
            raise InputError(f"{a.name} is a channel layer in one analysis and a spatial layer in the other")
    return differences


def summary(differences: Sequence[LayerDifference], first: str = "A", second: str = "B", count: int = 3) -> str:
    """One line naming the layers whose attention differs most."""
    if not differences:
        return "no attention layers to compare"
    ranked = sorted(differences, key=lambda d: d.score, reverse=True)[:count]
    parts = ", ".join(f"{d.name} (mean |{first}-{second}| {d.score:.3f})" for d in ranked)
    return f"attention differs most in {parts}"
