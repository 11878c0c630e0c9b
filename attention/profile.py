"""A dataset's view of every attention layer: does it help, is it active, which channels each class uses.

One image cannot say whether spatial attention helps a model; a few hundred
labelled images can. For each batch the profile runs the plain pass (with
recording) and one pass per layer and ablation mode, and accumulates:

- accuracy with everything on, and with each layer ablated in each mode;
- each layer's *activity*, the mean |1 - gate| over the data (0: the layer
  passes everything through unchanged, so it does nothing);
- per channel layer, the mean channel weight per true class (the figure the
  SE paper uses to show early layers are class-agnostic, late ones specific).

A self-attention layer has no gate to compare with 1: its activity is how
far its heads' token-0 attention is from spreading over every token alike,
1 - (entropy / log N), averaged over its heads, and each head's entropy is
kept. With ``heads``, each head is also switched off alone in each mode.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .ablation import MODES, Ablator, gate_means
from .recorder import AttentionRecorder
from .records import ATTENTION_ROWS, CHANNEL, TOKEN

LOGGER = logging.getLogger(__name__)


@dataclass
class LayerProfile:
    name: str
    type: str
    kind: str  # "channel", "spatial" or "token"
    activity: float = 0.0
    ablated_accuracy: dict[str, float] = field(default_factory=dict)
    class_mean: np.ndarray | None = None  # (classes, C) for channel layers
    head_entropy: list[float] | None = None  # per head of a token layer: mean entropy / log N of token 0's attention
    head_ablated_accuracy: dict[str, list[float]] | None = None  # per mode, per head, with ``heads``


@dataclass
class Profile:
    model: str
    data: str
    images: int
    accuracy: float
    classes: list[str]
    layers: list[LayerProfile]

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` document."""
        layers = []
        for layer in self.layers:
            entry: dict[str, Any] = {
                "name": layer.name,
                "type": layer.type,
                "activity": round(layer.activity, 6),
                "ablated_accuracy": {mode: round(value, 6) for mode, value in layer.ablated_accuracy.items()},
            }
            if layer.class_mean is not None:
                entry["class_mean"] = np.round(layer.class_mean.astype(np.float64), 6).tolist()
            if layer.head_entropy is not None:
                entry["head_entropy"] = [round(value, 6) for value in layer.head_entropy]
            if layer.head_ablated_accuracy is not None:
                entry["head_ablated_accuracy"] = {
                    mode: [round(value, 6) for value in values] for mode, values in layer.head_ablated_accuracy.items()
                }
            layers.append(entry)
        return {
            "model": self.model,
            "data": self.data,
            "images": self.images,
            "accuracy": round(self.accuracy, 6),
            "classes": list(self.classes),
            "layers": layers,
        }


def profile_model(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    classes: Sequence[str],
    recorder: AttentionRecorder,
    ablator: Ablator,
    *,
    model_name: str = "model",
    data_name: str = "data",
    modes: Sequence[str] = MODES,
    total: int | None = None,
    heads: bool = False,
) -> Profile:
    """Profile ``model`` over (inputs, labels) batches; ``recorder`` and ``ablator`` must be attached.

    One plain pass per batch plus one pass per layer and mode: that is the
    least an answer to "does this layer help?" can cost. ``heads`` adds one
    pass per head of each self-attention layer and mode.
    """
    names = recorder.layer_names
    correct = 0
    seen = 0
    ablated_correct = {(name, mode): 0 for name in names for mode in modes}
    activity_sum: dict[str, float] = dict.fromkeys(names, 0.0)
    activity_count: dict[str, int] = dict.fromkeys(names, 0)
    class_sum: dict[str, np.ndarray] = {}
    class_count = np.zeros(len(classes), dtype=np.int64)
    kinds: dict[str, tuple[str, str]] = {}
    entropy_sum: dict[str, np.ndarray] = {}
    head_correct: dict[tuple[str, str], np.ndarray] = {}
    progress = tqdm(total=total, desc="profile", unit="img", leave=False, disable=None)
    for inputs, labels in batches:
        labels = labels.to(torch.long)
        # Token layers keep their first rows only: the entropy needs no more, and it is 1/N of the work.
        with torch.inference_mode(), recorder.recording(attention=ATTENTION_ROWS) as recording:
            logits = model(inputs)
        probabilities = torch.softmax(logits.float(), dim=1)
        correct += int((probabilities.argmax(1) == labels).sum())
        seen += len(labels)
        class_count += np.bincount(labels.numpy(), minlength=len(classes))[: len(classes)]
        for record in recording.records:
            kinds.setdefault(record.name, (record.type, record.kind))
            activity_count[record.name] += record.gate.shape[0]
            if record.kind == TOKEN:
                entropy = token_entropy(record.first)  # (B, heads)
                entropy_sum[record.name] = entropy_sum.get(record.name, 0.0) + entropy.sum(axis=0)
                activity_sum[record.name] += float((1.0 - entropy.mean(axis=1)).sum())
            else:
                activity_sum[record.name] += float((1.0 - record.gate.float()).abs().flatten(1).mean(dim=1).sum())
            if record.kind == CHANNEL:
                weights = record.weights.float().numpy()
                sums = class_sum.setdefault(record.name, np.zeros((len(classes), weights.shape[1])))
                np.add.at(sums, labels.numpy(), weights)
            for mode in modes:
                with torch.inference_mode(), ablator.ablating(record.name, mode, gate_means(record)):
                    ablated = model(inputs)
                ablated_correct[(record.name, mode)] += int((ablated.argmax(1) == labels).sum())
                for head in range(ablator.heads(record.name) if heads else 0):
                    with torch.inference_mode(), ablator.ablating(record.name, mode, gate_means(record), head):
                        ablated = model(inputs)
                    counts = head_correct.setdefault((record.name, mode), np.zeros(ablator.heads(record.name)))
                    counts[head] += int((ablated.argmax(1) == labels).sum())
        progress.update(len(labels))
    progress.close()
    if seen == 0:
        from .errors import InputError

        raise InputError("no images to profile")
    layers = []
    for name in names:
        type_, kind = kinds.get(name, ("unknown", CHANNEL))
        class_mean = None
        if name in class_sum:
            class_mean = class_sum[name] / np.maximum(class_count, 1)[:, None]
        count = max(activity_count[name], 1)
        layers.append(
            LayerProfile(
                name=name,
                type=type_,
                kind=kind,
                activity=activity_sum[name] / count,
                ablated_accuracy={mode: ablated_correct[(name, mode)] / seen for mode in modes},
                class_mean=class_mean,
                head_entropy=(entropy_sum[name] / count).tolist() if name in entropy_sum else None,
                head_ablated_accuracy={
                    mode: (head_correct[(name, mode)] / seen).tolist() for mode in modes if (name, mode) in head_correct
                }
                or None,
            )
        )
    LOGGER.info("profiled %s on %d images of %s: accuracy %.4f", model_name, seen, data_name, correct / seen)
    return Profile(model_name, data_name, seen, correct / seen, list(classes), layers)


def token_entropy(first: torch.Tensor) -> np.ndarray:
    """(B, heads) entropy of token 0's attention over the N tokens, over log N: 1 when it spreads evenly."""
    shares = first.double().clamp_min(1e-12)
    entropy = -(shares * shares.log()).sum(dim=-1)
    return (entropy / np.log(first.shape[-1])).numpy()


def _heatmap(layer: LayerProfile, classes: Sequence[str]) -> Any:
    from .render import new_figure

    assert layer.class_mean is not None
    figure = new_figure(8, 0.6 + 0.28 * len(classes))
    axes = figure.add_subplot()
    shown = axes.imshow(layer.class_mean, aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    axes.set_yticks(range(len(classes)))
    axes.set_yticklabels(classes, fontsize=7)
    axes.set_xlabel("channel", fontsize=8)
    axes.set_title(f"{layer.name}: mean channel weight per class", fontsize=9)
    figure.colorbar(shown, ax=axes, fraction=0.03)
    figure.subplots_adjust(left=0.16, right=0.95, bottom=0.6 / figure.get_figheight() + 0.05)
    return figure


def write_report(profile: Profile, out: Any) -> list[Any]:
    """``profile.md`` with a table and one classes x channels heatmap per channel layer; returns the files."""
    from pathlib import Path

    from .files import safe_stem

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    modes = sorted({mode for layer in profile.layers for mode in layer.ablated_accuracy})
    lines = [
        f"# Attention profile: {profile.model} on {profile.data}",
        "",
        f"{profile.images} images; accuracy with every layer on: **{profile.accuracy:.2%}**.",
        "",
        "Activity is the mean |1 - gate| over the data: 0 means the layer passes everything through unchanged "
        "(for self-attention: 1 - the entropy of token 0's attention over log N; 0 means it attends to all alike). "
        "An ablated accuracy above the full model's means the model does better without that layer.",
        "",
        "| layer | type | activity | " + " | ".join(f"accuracy, {mode} ablated" for mode in modes) + " |",
        "|---|---|---|" + "---|" * len(modes),
    ]
    for layer in profile.layers:
        cells = []
        for mode in modes:
            value = layer.ablated_accuracy[mode]
            cells.append(f"{value:.2%} ({value - profile.accuracy:+.2%})")
        lines.append(f"| `{layer.name}` | {layer.type} | {layer.activity:.4f} | " + " | ".join(cells) + " |")
    for layer in profile.layers:
        if layer.head_entropy is None:
            continue
        lines += ["", f"`{layer.name}`, per head (entropy 1: attends to every token alike):", ""]
        header = ["head", "entropy"] + [f"accuracy, {mode} ablated" for mode in (layer.head_ablated_accuracy or {})]
        lines += ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
        for head, entropy in enumerate(layer.head_entropy):
            cells = [f"{values[head]:.2%}" for values in (layer.head_ablated_accuracy or {}).values()]
            lines.append("| " + " | ".join([str(head), f"{entropy:.4f}", *cells]) + " |")
    for layer in profile.layers:
        if layer.class_mean is None:
            continue
        path = out / f"class_mean_{safe_stem(layer.name)}.png"
        _heatmap(layer, profile.classes).savefig(path)
        written.append(path)
        lines += ["", f"![{layer.name}]({path.name})"]
    report = out / "profile.md"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [report, *written]
