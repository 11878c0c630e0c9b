"""Charts for the debugging views: what ablating each layer does, Grad-CAM beside a mask, how two analyses differ."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .compare import LayerDifference  # noqa: E402
from .render import SMALL_PT, TITLE_PT, new_figure, unit_scale  # noqa: E402

LOWER = "#d62728"  # the change lowers the probability / A is below B
HIGHER = "#1f77b4"


def ablation_chart(entries: Sequence[dict[str, Any]], label: str) -> Figure:
    """Horizontal bars of Δ probability per layer, largest drop first (the entries of one image's ablations)."""
    ordered = sorted(entries, key=lambda entry: entry["delta"])
    figure = new_figure(7.0, 0.8 + 0.28 * max(1, len(ordered)))
    axes = figure.add_subplot()
    deltas = np.array([entry["delta"] for entry in ordered], dtype=np.float64)
    positions = np.arange(len(ordered))
    axes.barh(positions, deltas, color=[LOWER if d < 0 else HIGHER for d in deltas], height=0.7)
    axes.set_yticks(positions)
    axes.set_yticklabels([entry["layer"] for entry in ordered], fontsize=SMALL_PT)
    axes.invert_yaxis()
    axes.axvline(0, color="black", linewidth=0.6)
    bound = max(0.01, float(np.abs(deltas).max()) if len(deltas) else 0.01) * 1.1
    axes.set_xlim(-bound, bound)
    mode = ordered[0]["mode"] if ordered else ""
    axes.set_xlabel(f"change in p({label}) with the layer ablated ({mode})", fontsize=SMALL_PT)
    axes.tick_params(axis="x", labelsize=SMALL_PT)
    axes.grid(axis="x", alpha=0.3)
    figure.subplots_adjust(left=0.38, right=0.97, top=0.97, bottom=0.5 / figure.get_figheight() + 0.05)
    return figure


def head_chart(entries: Sequence[dict[str, Any]], layer: str) -> Figure | None:
    """Bars of Δ probability per head of one self-attention layer, in head order; None without head entries."""
    heads = sorted(
        (entry for entry in entries if entry.get("head") is not None and entry["layer"] == layer),
        key=lambda e: e["head"],
    )
    if not heads:
        return None
    figure = new_figure(7.0, 2.4)
    axes = figure.add_subplot()
    deltas = np.array([entry["delta"] for entry in heads], dtype=np.float64)
    axes.bar(np.arange(len(heads)), deltas, color=[LOWER if d < 0 else HIGHER for d in deltas], width=0.8)
    axes.axhline(0, color="black", linewidth=0.6)
    bound = max(0.01, float(np.abs(deltas).max())) * 1.1
    axes.set_ylim(-bound, bound)
    axes.set_xticks(np.arange(len(heads)), [str(entry["head"]) for entry in heads], fontsize=SMALL_PT)
    axes.set_xlabel("head", fontsize=SMALL_PT)
    axes.set_ylabel(f"change in p({heads[0]['target']})", fontsize=SMALL_PT)
    axes.set_title(f"{layer}: each head switched off alone ({heads[0]['mode']})", fontsize=SMALL_PT)
    axes.tick_params(labelsize=SMALL_PT)
    axes.grid(axis="y", alpha=0.3)
    figure.subplots_adjust(left=0.12, right=0.97, top=0.88, bottom=0.22)
    return figure


def difference_chart(difference: LayerDifference, first: str = "A", second: str = "B") -> Figure:
    """w_A − w_B per channel as bars, or the mask (or class-token attention) difference as a diverging heatmap.

    Gates share the 0-1 scale, so their colour scale is ±1; attention spreads one unit over many patches,
    so its scale is ± the largest difference.
    """
    figure = new_figure(7.0, 2.8)
    axes = figure.add_subplot()
    values = difference.difference
    if difference.kind == "channel":
        colours = [LOWER if v < 0 else HIGHER for v in values]
        axes.bar(np.arange(len(values)), values, color=colours, width=0.9, linewidth=0)
        axes.axhline(0, color="black", linewidth=0.6)
        axes.set_ylim(-1, 1)
        axes.set_xlabel("channel", fontsize=SMALL_PT)
        axes.set_ylabel(f"w_{first} - w_{second}", fontsize=SMALL_PT)
    else:
        gate = difference.kind in ("spatial", "element", "branch")
        bound = 1.0 if gate else max(float(np.abs(values).max()), 1e-12)
        shown = axes.imshow(values, cmap="coolwarm", vmin=-bound, vmax=bound, interpolation="nearest", aspect="auto")
        axes.set_xticks([])
        axes.set_yticks([])
        if difference.kind == "branch":  # (branches, channels): one row per branch
            axes.set_xlabel("channel", fontsize=SMALL_PT)
            axes.set_ylabel("branch", fontsize=SMALL_PT)
        figure.colorbar(shown, ax=axes, fraction=0.046)
    axes.set_title(
        f"{difference.pair}: {first} minus {second} (mean |difference| {difference.score:.3f})"
        + (f"\n{difference.note}" if difference.note else ""),
        fontsize=TITLE_PT,
    )
    axes.tick_params(labelsize=SMALL_PT)
    figure.subplots_adjust(left=0.1, right=0.97, top=0.8 if difference.note else 0.87, bottom=0.17)
    return figure


def side_by_side(
    maps: Sequence[np.ndarray], titles: Sequence[str], title: str, colormap: str, stretch: bool = False
) -> Figure:
    """Maps drawn at the same size on one 0-1 colour scale with one colour bar, so their colours compare."""
    figure = new_figure(3.8 * len(maps) + 0.9, 4.3)  # each map about 280 px: a heatmap is at least 256
    axes = figure.subplots(1, len(maps))
    shown = None
    for ax, values, name in zip(np.atleast_1d(axes), maps, titles):
        shown = ax.imshow(unit_scale(values, stretch), cmap=colormap, vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(name, fontsize=SMALL_PT)
        ax.set_xticks([])
        ax.set_yticks([])
    figure.suptitle(title, fontsize=TITLE_PT)
    if shown is not None:
        figure.colorbar(shown, ax=list(np.atleast_1d(axes)), fraction=0.03)
    return figure
