"""Two analyses side by side: which layers' attention differs, and how much.

"Why do these two images get different answers?" starts with where their
attention parts ways. Layers are paired by kind and position (A's first
channel layer with B's first channel layer, and so on), so two models with
different layer names still compare. A channel layer is compared only with one
of as many channels, since channel ``c`` must mean the same thing in both; a
mask covers the whole image, so B's is resampled to A's size when they differ.
A gate over channels and pixels is compared by its mean over channels, as a
mask is, and branch weights branch by branch and channel by channel. A
self-attention layer is compared by its class token's attention over the
patches (the head mean), B's patch grid resampled to A's when they differ.
Layers with no comparable partner are listed, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .analysis import BranchLayer, ChannelLayer, ImageAnalysis, SpatialLayer, TokenLayer
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
    """A − B for one layer: channel weights (C,), mask values (H, W) or class-token attention (rows, columns)."""

    name: str
    kind: str
    difference: np.ndarray
    partner: str | None = None  # B's layer, when its name differs from A's
    note: str = ""  # how B's layer was brought to A's shape, when it was

    @property
    def pair(self) -> str:
        """ "A's name" for layers of one name, "A's name ↔ B's name" otherwise."""
        return self.name if self.partner is None else f"{self.name} ↔ {self.partner}"

    @property
    def score(self) -> float:
        """Mean absolute difference: how far apart the two gates are, on the gate's 0–1 scale."""
        return float(np.abs(self.difference).mean())


@dataclass(frozen=True)
class Matching:
    """The compared pairs, in A's forward order, and one line for each layer left without a comparable partner."""

    differences: list[LayerDifference]
    unmatched: list[str]

    @property
    def renamed(self) -> bool:
        return any(difference.partner is not None for difference in self.differences)


def _kind(layer: ChannelLayer | SpatialLayer | TokenLayer) -> str:
    return layer.kind


def _comparable(layer: ChannelLayer | SpatialLayer | TokenLayer) -> bool:
    """A self-attention layer compares only where its tokens form a patch grid."""
    return not isinstance(layer, TokenLayer) or layer.grid is not None


def resample(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``mask`` resized (bilinear) to ``shape`` (H, W): masks of two models over one image, on one grid."""
    image = Image.fromarray(np.asarray(mask, dtype=np.float32), mode="F")
    return np.asarray(image.resize((shape[1], shape[0]), Image.Resampling.BILINEAR), dtype=np.float64)


def match(first: ImageAnalysis, second: ImageAnalysis) -> Matching:
    """A's and B's layers paired by kind and position; one-line InputError when no pair is comparable."""
    order = {layer.name: index for index, layer in enumerate(first.layers)}
    differences: list[LayerDifference] = []
    unmatched: list[str] = []
    for kind in ("channel", "spatial", "element", "branch", "token"):
        ours = [layer for layer in first.layers if _kind(layer) == kind and _comparable(layer)]
        theirs = [layer for layer in second.layers if _kind(layer) == kind and _comparable(layer)]
        for a, b in zip(ours, theirs):
            partner = None if a.name == b.name else b.name
            if isinstance(a, ChannelLayer) and isinstance(b, ChannelLayer):
                if a.weights.shape != b.weights.shape:
                    unmatched.append(
                        f"A's {a.name} has {a.channels} channels and B's {b.name} {b.channels}: not compared"
                    )
                    continue
                difference = a.weights.astype(np.float64) - b.weights
                differences.append(LayerDifference(a.name, kind, difference, partner))
            elif isinstance(a, BranchLayer) and isinstance(b, BranchLayer):
                if a.weights.shape != b.weights.shape:
                    unmatched.append(f"A's {a.name} and B's {b.name} mix different branches or channels: not compared")
                    continue
                differences.append(LayerDifference(a.name, kind, a.weights.astype(np.float64) - b.weights, partner))
            elif isinstance(a, SpatialLayer) and isinstance(b, SpatialLayer):
                note, mask_b = "", b.mask.astype(np.float64)
                if a.mask.shape != b.mask.shape:
                    note = f"B's {b.size[0]}x{b.size[1]} mask resampled to {a.size[0]}x{a.size[1]}"
                    mask_b = resample(b.mask, a.mask.shape)
                differences.append(LayerDifference(a.name, kind, a.mask.astype(np.float64) - mask_b, partner, note))
            elif isinstance(a, TokenLayer) and isinstance(b, TokenLayer):
                map_a, map_b, note = a.attention_map().astype(np.float64), b.attention_map().astype(np.float64), ""
                if map_a.shape != map_b.shape:
                    note = (
                        f"B's {map_b.shape[0]}x{map_b.shape[1]} patches resampled to {map_a.shape[0]}x{map_a.shape[1]}"
                    )
                    map_b = resample(map_b, map_a.shape)
                differences.append(LayerDifference(a.name, kind, map_a - map_b, partner, note))
        unmatched += [f"A's {a.name}: B has no {kind} layer at this position" for a in ours[len(theirs) :]]
        unmatched += [f"B's {b.name}: A has no {kind} layer at this position" for b in theirs[len(ours) :]]
    if not differences:
        raise InputError("the two analyses have no attention layers to compare: " + "; ".join(unmatched or ["none"]))
    differences.sort(key=lambda difference: order[difference.name])
    return Matching(differences, unmatched)


def compare(first: ImageAnalysis, second: ImageAnalysis) -> list[LayerDifference]:
    """Per-layer differences of the layers ``match`` pairs, in A's forward order."""
    return match(first, second).differences


def most_different(differences: Sequence[LayerDifference]) -> LayerDifference | None:
    """The pair whose attention differs most (largest mean absolute difference)."""
    return max(differences, key=lambda difference: difference.score, default=None)


def summary(differences: Sequence[LayerDifference], first: str = "A", second: str = "B", count: int = 3) -> str:
    """One line naming the layers whose attention differs most."""
    if not differences:
        return "no attention layers to compare"
    ranked = sorted(differences, key=lambda d: d.score, reverse=True)[:count]
    parts = ", ".join(f"{d.pair} (mean |{first}-{second}| {d.score:.3f})" for d in ranked)
    return f"attention differs most in {parts}"
