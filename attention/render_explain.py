"""Pictures for the step-by-step view: one small figure per step, all of them as one sheet, or 16:9 slides.

Drawing is kept apart from ``explain`` so that the numbers can be tested
without matplotlib, and so that the page and the CLI draw exactly the same
pictures. Like ``render``, it uses ``Figure`` objects, never pyplot's global
state, so concurrent requests cannot draw into each other's figures.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
from matplotlib.figure import Figure, SubFigure  # noqa: E402
from PIL import Image  # noqa: E402

from .display import DEFAULT_COLORMAP  # noqa: E402
from .explain import Explanation, Step  # noqa: E402
from .render import SMALL_PT, figure_to_image, new_figure  # noqa: E402

STEP_SIZE = (7.5, 2.4)  # inches: wide and short, so a page column shows a step without scrolling
BAR = "#7f9fbf"
HIGHLIGHT = "#d62728"
MAP = DEFAULT_COLORMAP
# A slide is 1920x1080 px (19.2x10.8 in at 100 dpi); at 100 dpi a point is 100/72 px, so 21 pt is 29 px of text
# (at least 28) and 18 pt is 25 px for the kernel's numbers (at least 24).
SLIDE_SIZE = (19.2, 10.8)
# Characters per caption line on the sheet of every step: 10 pt text across STEP_SIZE's 7.5 in.
SHEET_WRAP = 100
# A step's panels across STEP_SIZE: room at the left for row names ("patches"), at the right and between panels
# for colour bars and their tick labels.
STEP_SIDES = {"left": 0.1, "right": 0.93, "wspace": 0.4}
SLIDE_TEXT_PT = 21
SLIDE_NUMBER_PT = 18
# The text size the step drawings use: the page's, or a slide's while ``slide_text`` is open. A context
# variable, not matplotlib's global rcParams, so concurrent requests never change each other's sizes.
_TEXT_PT: ContextVar[tuple[float, float]] = ContextVar("text_pt", default=(SMALL_PT, SMALL_PT))


@contextmanager
def slide_text() -> Iterator[None]:
    token = _TEXT_PT.set((SLIDE_TEXT_PT, SLIDE_NUMBER_PT))
    try:
        yield
    finally:
        _TEXT_PT.reset(token)


def _pt() -> float:
    return _TEXT_PT.get()[0]


def _number_pt() -> float:
    return _TEXT_PT.get()[1]


def _map(axes: Any, values: np.ndarray, title: str, vmin: float | None = None, vmax: float | None = None) -> None:
    shown = axes.imshow(values, cmap=MAP, vmin=vmin, vmax=vmax, interpolation="nearest")
    axes.set_title(title, fontsize=_pt())
    axes.set_xticks([])
    axes.set_yticks([])
    axes.figure.colorbar(shown, ax=axes, fraction=0.046, pad=0.02).ax.tick_params(labelsize=_pt())


def _bars(axes: Any, values: np.ndarray, title: str, colour: str = BAR) -> None:
    values = np.asarray(values, dtype=np.float64)
    axes.bar(np.arange(len(values)), values, width=0.9, color=colour, linewidth=0)
    axes.axhline(0, color="black", linewidth=0.5)
    axes.set_title(title, fontsize=_pt())
    axes.tick_params(labelsize=_pt())
    axes.set_xlim(-0.7, len(values) - 0.3)


def _draw_input(figure: Figure | SubFigure, values: dict[str, Any]) -> None:
    shown = values["channels"]
    axes = figure.subplots(1, max(1, len(shown)), squeeze=False)[0]
    for axis, channel in zip(axes, shown):
        _map(axis, values["features"][channel], f"channel {channel}")


def _draw_channel_pooling(figure: Figure | SubFigure, values: dict[str, Any]) -> None:
    shown = [(key, title) for key, title in (("avg", "average of each channel"), ("max", "max of each channel"))]
    shown = [(key, title) for key, title in shown if key in values]
    for axes, (key, title) in zip(figure.subplots(1, len(shown), squeeze=False)[0], shown):
        _bars(axes, values[key], title)


def _matrix_map(axes: Any, values: np.ndarray, title: str) -> None:
    """A weight matrix on a diverging scale, its first and last row and column numbered, three colour-bar ticks."""
    bound = float(np.abs(values).max()) or 1.0
    shown = axes.imshow(values, cmap="coolwarm", vmin=-bound, vmax=bound, aspect="auto", interpolation="nearest")
    axes.set_title(title, fontsize=_pt())
    rows, columns = values.shape
    axes.set_yticks(sorted({0, rows - 1}))
    axes.set_xticks(sorted({0, columns - 1}))
    axes.tick_params(labelsize=_pt())
    bar = axes.figure.colorbar(shown, ax=axes, fraction=0.08, pad=0.04, ticks=[-bound, 0.0, bound])
    bar.ax.set_yticklabels([f"{-bound:.2f}", "0", f"{bound:.2f}"])
    bar.ax.tick_params(labelsize=_pt())


def _draw_bottleneck(figure: Figure | SubFigure, values: dict[str, Any]) -> None:
    """The reduce matrix, the hidden vector after the activation, the expand matrix, and the scores out."""
    axes = figure.subplots(1, 4, gridspec_kw={"width_ratios": [3, 1.2, 1.2, 3], "wspace": 0.9})
    reduce, expand = np.asarray(values["reduce"]), np.asarray(values["expand"])
    _matrix_map(axes[0], reduce, f"reduce: {reduce.shape[0]}x{reduce.shape[1]}")
    _bars(axes[1], values["hidden"], f"{len(values['hidden'])} in the middle")
    _matrix_map(axes[2], expand, f"expand: {expand.shape[0]}x{expand.shape[1]}")
    _bars(axes[3], values["logits"], "one score per channel")


def _draw_kernel_taps(figure: Figure | SubFigure, values: dict[str, Any]) -> None:
    axes = figure.subplots()
    taps = np.asarray(values["taps"], dtype=np.float64)
    offsets = np.arange(len(taps)) - (len(taps) - 1) // 2
    axes.stem(offsets, taps, basefmt="k-")
    for offset, tap in zip(offsets, taps):
        axes.annotate(
            f"{tap:+.3f}",
            (offset, tap),
            textcoords="offset points",
            xytext=(0, 6 if tap >= 0 else -1.6 * _number_pt()),
            ha="center",
            fontsize=_number_pt(),
        )
    axes.set_xticks(offsets)
    axes.set_xlabel("neighbour channel offset", fontsize=_pt())
    axes.set_title(f"k = {values['kernel_size']} taps, padding {values['padding']}", fontsize=_pt())
    axes.tick_params(labelsize=_pt())
    low, high = float(min(taps.min(), 0)), float(max(taps.max(), 0))
    margin = 0.25 * (high - low or 1.0)
    axes.set_ylim(low - margin, high + margin)


def _draw_branches(figure: Figure | SubFigure, values: dict[str, Any]) -> None:
    parts = [
        (key, label) for key, label in (("avg_part", "average branch"), ("max_part", "max branch")) if key in values
    ]
    axes = figure.subplots(1, len(parts) + 1, squeeze=False)[0]
    for axis, (key, label) in zip(axes, parts):
        _bars(axis, values[key], label)
    _bars(axes[-1], values["logits"], "sum (logits)" if len(parts) > 1 else "logits")
    if values.get("one_conv") is not None:
        axes[-1].plot(
            np.arange(len(values["one_conv"])),
            values["one_conv"],
            ".",
            color=HIGHLIGHT,
            markersize=3,
            label="conv(avg + max)",
        )
        # In the corner with little padding: the panel is narrow on the page, and a roomier legend ran into the next.
        axes[-1].legend(
            fontsize=_pt(),
            loc="upper left",
            handlelength=0.6,
            handletextpad=0.3,
            borderpad=0.25,
            borderaxespad=0.2,
        )


def _draw_channel_gate(figure: Figure | SubFigure, values: dict[str, Any]) -> None:
    axes = figure.subplots()
    weights = np.asarray(values["weights"], dtype=np.float64)
    logits = values.get("logits")
    if logits is None:
        _bars(axes, weights, "weights")
        axes.set_ylim(0, 1)
        return
    logits = np.asarray(logits, dtype=np.float64)
    low, high = min(-6.0, float(logits.min()) - 1), max(6.0, float(logits.max()) + 1)
    curve_x = np.linspace(low, high, 200)
    curve = np.clip(curve_x / 6 + 0.5, 0, 1) if values["gate"] == "hard sigmoid" else 1 / (1 + np.exp(-curve_x))
    axes.plot(curve_x, curve, color="black", linewidth=1)
    axes.scatter(logits, weights, s=_pt() ** 2 / 10, color=HIGHLIGHT, zorder=3)  # dots grow with the text
    axes.set_ylim(-0.05, 1.05)
    axes.set_xlabel("logit", fontsize=_pt())
    axes.set_ylabel("weight", fontsize=_pt())
    axes.set_title(f"{values['gate']} curve with the {len(weights)} channels on it", fontsize=_pt())
    axes.tick_params(labelsize=_pt())


def _draw_before_after(figure: Figure | SubFigure, values: dict[str, Any], scale_title: str) -> None:
    has_weights = "weights" in values
    axes = figure.subplots(1, 3 if has_weights else 2, squeeze=False)[0]
    if has_weights:
        weights = np.asarray(values["weights"], dtype=np.float64)
        colours = [HIGHLIGHT if c == values["channel"] else BAR for c in range(len(weights))]
        axes[0].bar(np.arange(len(weights)), weights, width=0.9, color=colours, linewidth=0)
        axes[0].set_ylim(0, 1)
        axes[0].set_title("weights (chosen channel in red)", fontsize=_pt())
        axes[0].tick_params(labelsize=_pt())
        axes = axes[1:]
    before, after = values["before"], values["after"]
    low, high = float(min(before.min(), after.min())), float(max(before.max(), after.max()))
    _map(axes[0], before, f"channel {values['channel']} before", low, high)
    _map(axes[1], after, f"after {scale_title}", low, high)


def _draw_spatial_pooling(figure: Figure | SubFigure, values: dict[str, Any]) -> None:
    left, right = figure.subplots(1, 2)
    _map(left, values["max"], "max over channels")
    _map(right, values["mean"], "mean over channels")


def _cell_pt(axis: Any, cells: int) -> float:
    """The side in points of one cell of a square ``cells`` x ``cells`` image drawn on ``axis``."""
    box = axis.get_window_extent()
    return min(box.width, box.height) * 72.0 / axis.get_figure(root=True).dpi / cells


def _draw_spatial_kernel(figure: Figure | SubFigure, values: dict[str, Any]) -> None:
    kernel = np.asarray(values["kernel"], dtype=np.float64)
    axes = figure.subplots(1, 2)
    bound = float(np.abs(kernel).max()) or 1.0
    for axis, slice_, label in zip(axes, kernel, values["order"]):
        axis.imshow(slice_, cmap="coolwarm", vmin=-bound, vmax=bound)
        if slice_.shape[0] <= 7:
            # Each number fits its own cell, so a 7x7 kernel on the page stays readable: "-0.19" is about 3 em wide.
            size = min(_number_pt(), _cell_pt(axis, max(slice_.shape)) / 3.4)
            for (row, col), value in np.ndenumerate(slice_):
                colour = "white" if abs(value) > 0.6 * bound else "black"
                axis.text(col, row, f"{value:.2f}", ha="center", va="center", fontsize=size, color=colour)
        axis.set_title(f"slice over the {label} map", fontsize=_pt())
        axis.set_xticks([])
        axis.set_yticks([])


def _draw_spatial_gate(figure: Figure | SubFigure, values: dict[str, Any]) -> None:
    axes = figure.subplots(1, 3)
    mask = np.asarray(values["mask"], dtype=np.float64)
    _map(axes[0], values["logits"], "logits")
    _map(axes[1], mask, "mask, true 0-1 scale", 0.0, 1.0)
    _map(axes[2], mask, f"mask stretched ({mask.min():.2f}-{mask.max():.2f})")


# Self-attention's steps -------------------------------------------------------------------------

# Tokens ahead of the patches named one by one on a token axis; more (many registers) would overlap.
MAX_NAMED_TOKENS = 5


def _short(name: str) -> str:
    """A token's name short enough for a tick label: "patch 12" becomes "p12"."""
    return name.replace("patch ", "p")


def _tick_tokens(axes: Any, names: list[str], prefix: int) -> None:
    """Label the rows: the tokens ahead of the patches by name (while they fit), then the patches as a block."""
    shown = list(range(prefix)) if prefix <= MAX_NAMED_TOKENS else [0]
    labels = [_short(names[index]) for index in shown]
    if prefix < len(names):
        shown.append((prefix + len(names) - 1) / 2)
        labels.append("patches")
    axes.set_yticks(shown, labels, fontsize=_pt())


def _on_grid(axes: Any, row: np.ndarray, values: dict[str, Any], title: str, vmin: float | None = None) -> None:
    """The patch tokens' part of ``row`` on the patch grid, or a note where the tokens have no grid."""
    grid, prefix = values.get("grid"), values.get("prefix", 0)
    if grid is None:
        axes.set_axis_off()
        axes.text(0.5, 0.5, "no patch grid", ha="center", va="center", fontsize=_pt())
        return
    _map(axes, np.asarray(row)[prefix:].reshape(grid), title, vmin=vmin)


def _draw_tokens(figure: Figure | SubFigure, values: dict[str, Any]) -> None:
    axes = figure.subplots(1, 1)
    shown = axes.imshow(values["tokens"], cmap="coolwarm", aspect="auto", interpolation="nearest")
    axes.set_title(f"{len(values['names'])} tokens (rows) by their first numbers (columns)", fontsize=_pt())
    _tick_tokens(axes, values["names"], values["prefix"])
    axes.tick_params(labelsize=_pt())
    figure.colorbar(shown, ax=axes, fraction=0.046, pad=0.02).ax.tick_params(labelsize=_pt())


def _draw_qkv(figure: Figure | SubFigure, values: dict[str, Any]) -> None:
    axes = figure.subplots(1, 3)
    for index, (axis, key, what) in enumerate(zip(axes, ("q", "k", "v"), ("queries", "keys", "values"))):
        shown = axis.imshow(values[key], cmap="coolwarm", aspect="auto", interpolation="nearest")
        axis.set_title(what, fontsize=_pt())
        axis.set_xticks([])
        if index == 0:  # the three share their rows: naming them once keeps the labels off the colour bars
            _tick_tokens(axis, values["names"], values["prefix"])
        else:
            axis.set_yticks([])
        figure.colorbar(shown, ax=axis, fraction=0.046, pad=0.02).ax.tick_params(labelsize=_pt())
    axes[0].axhspan(-0.5, 0.5, fill=False, edgecolor=HIGHLIGHT, linewidth=1.5)


def _draw_scores(figure: Figure | SubFigure, values: dict[str, Any]) -> None:
    left, right = figure.subplots(1, 2, width_ratios=[2.2, 1])
    _bars(left, values["scores"], "score for every token, in order")
    _on_grid(right, values["scores"], values, "the patches' scores")


def _draw_softmax(figure: Figure | SubFigure, values: dict[str, Any]) -> None:
    left, right = figure.subplots(1, 2, width_ratios=[2.2, 1])
    _bars(left, values["attention"], "attention for every token (sums to 1)")
    left.axhline(values["uniform"], color=HIGHLIGHT, linewidth=0.8, linestyle="--", label="every token alike")
    left.legend(fontsize=_pt(), loc="upper right", frameon=False)
    _on_grid(right, values["attention"], values, "on the patches", vmin=0.0)


def _draw_mix(figure: Figure | SubFigure, values: dict[str, Any]) -> None:
    left, right = figure.subplots(1, 2, width_ratios=[1, 1.4])
    top = list(values["top"])
    names = values["names"]
    left.barh(range(len(top)), [values["weights"][index] for index in top], color=BAR)
    left.set_yticks(range(len(top)), [_short(names[index]) for index in top], fontsize=_pt())
    left.invert_yaxis()
    left.set_title("the most attended tokens", fontsize=_pt())
    left.tick_params(labelsize=_pt())
    _bars(right, values["mixed"], "their weighted sum of values")


def _draw_heads(figure: Figure | SubFigure, values: dict[str, Any]) -> None:
    left, right = figure.subplots(1, 2, width_ratios=[1.2, 1])
    joined = values["joined"]
    shown = left.imshow(joined, cmap="coolwarm", aspect="auto", interpolation="nearest")
    left.set_yticks(range(joined.shape[0]), [f"h{index}" for index in range(joined.shape[0])], fontsize=_pt())
    left.axhspan(values["head"] - 0.5, values["head"] + 0.5, fill=False, edgecolor=HIGHLIGHT, linewidth=1.5)
    left.set_xticks([])
    left.set_title("every head's result, joined", fontsize=_pt())
    figure.colorbar(shown, ax=left, fraction=0.046, pad=0.02).ax.tick_params(labelsize=_pt())
    _bars(right, values["output"], f"projected: the first {len(values['output'])} of {values['width']}")


_TOKEN_STEPS = {
    "tokens": _draw_tokens,
    "qkv": _draw_qkv,
    "scores": _draw_scores,
    "softmax": _draw_softmax,
    "mix": _draw_mix,
    "heads": _draw_heads,
}


def draw_step(step: Step, kind: str, figure: Figure | SubFigure) -> None:
    """Draw one step into ``figure`` (or a subfigure of a slide); a missing step draws its reason."""
    if not step.shown:
        figure.text(
            0.5,
            0.5,
            "\n".join(textwrap.wrap(f"Not shown: {step.missing}", 90)),
            ha="center",
            va="center",
            fontsize=_pt(),
            color="#555555",
        )
        return
    values = step.values
    if kind == "token":
        _TOKEN_STEPS[step.key](figure, values)
        return
    if step.key == "input":
        _draw_input(figure, values)
    elif step.key == "pooling":
        (_draw_channel_pooling if kind == "channel" else _draw_spatial_pooling)(figure, values)
    elif step.key == "kernel":
        (_draw_kernel_taps if kind == "channel" else _draw_spatial_kernel)(figure, values)
    elif step.key == "branches":
        _draw_branches(figure, values)
    elif step.key == "bottleneck":
        _draw_bottleneck(figure, values)
    elif step.key == "gate":
        (_draw_channel_gate if kind == "channel" else _draw_spatial_gate)(figure, values)
    elif step.key == "scaling":
        _draw_before_after(figure, values, "its weight" if kind == "channel" else "the mask")
    else:
        raise ValueError(f"unknown step {step.key!r}")


def step_figure(step: Step, kind: str) -> Figure:
    """One step drawn for the page, where its caption is shown as text beside it."""
    figure = new_figure(*STEP_SIZE)
    figure.subplots_adjust(bottom=0.22, top=0.88, **STEP_SIDES)  # room below for "logit", "neighbour channel offset"
    draw_step(step, kind, figure)
    return figure


def step_image(step: Step, kind: str) -> Image.Image:
    return figure_to_image(step_figure(step, kind))


def step_images(explanation: Explanation) -> list[Image.Image]:
    return [step_image(step, explanation.kind) for step in explanation.steps]


def slide_figure(explanation: Explanation, title: str | None = None) -> Figure:
    """Every step with its title and caption, top to bottom: one PNG a teacher can put on a slide."""
    rows = len(explanation.steps)
    width, step_height, title_height = STEP_SIZE[0], STEP_SIZE[1] + 1.0, 0.45
    figure = new_figure(width, title_height + rows * step_height)
    heading, *subfigures = figure.subfigures(rows + 1, 1, height_ratios=[title_height] + [step_height] * rows)
    heading.suptitle(title or f"{explanation.layer}: {explanation.what}, step by step", fontsize=11)
    for subfigure, step in zip(subfigures, explanation.steps):
        caption = step.caption if step.shown else f"Not shown: {step.missing}"
        wrapped = "\n".join(textwrap.wrap(caption, SHEET_WRAP))
        subfigure.suptitle(f"{step.title}\n{wrapped}", fontsize=_pt(), x=0.01, ha="left", y=0.995, va="top")
        subfigure.subplots_adjust(top=0.66, bottom=0.17, **STEP_SIDES)
        draw_step(step, explanation.kind, subfigure)
    return figure


def step_slide(explanation: Explanation, index: int, title: str | None = None) -> Figure:
    """Step ``index`` alone on a 1920x1080 slide: its title and caption in large type, its drawing below."""
    step = explanation.steps[index]
    figure = new_figure(*SLIDE_SIZE)
    heading = title or f"{explanation.layer}: {explanation.what}"
    caption = step.caption if step.shown else f"Not shown: {step.missing}"
    with slide_text():
        figure.text(0.03, 0.955, f"{heading} · step {index + 1} of {len(explanation.steps)}", fontsize=_pt(), va="top")
        figure.text(0.03, 0.9, step.title, fontsize=_pt() * 1.4, weight="bold", va="top")
        wrapped = "\n".join(textwrap.wrap(caption, 110))
        figure.text(0.03, 0.83, wrapped, fontsize=_pt(), va="top", color="#222222")
        lines = wrapped.count("\n") + 1
        top = max(0.3, 0.8 - 0.045 * lines)
        drawing = figure.subfigures(1, 1)
        drawing.subplots_adjust(left=0.08, right=0.95, bottom=0.1, top=top, wspace=0.35)
        draw_step(step, explanation.kind, drawing)
    return figure


def write_slides_pdf(explanation: Explanation, path: Path, title: str | None = None) -> Path:
    """Every step's 1920x1080 slide, one page each, in one PDF."""
    with PdfPages(path) as pdf:
        for index in range(len(explanation.steps)):
            pdf.savefig(step_slide(explanation, index, title))
    return path


def write_slides(explanation: Explanation, folder: Path, title: str | None = None) -> list[Path]:
    """``folder/step-01.png`` ... one 1920x1080 slide per step, and ``folder/slides.pdf`` with all of them."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with PdfPages(folder / "slides.pdf") as pdf:
        for index in range(len(explanation.steps)):
            figure = step_slide(explanation, index, title)
            path = folder / f"step-{index + 1:02d}.png"
            figure.savefig(path, dpi=100)
            pdf.savefig(figure)
            written.append(path)
    return [*written, folder / "slides.pdf"]
