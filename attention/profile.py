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

import json
import logging
import math
import os
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .ablation import MODES, Ablator, gate_means
from .devices import device_of
from .recorder import AttentionRecorder
from .records import ATTENTION_ROWS, BRANCH, CHANNEL, TOKEN

LOGGER = logging.getLogger(__name__)


@dataclass
class LayerProfile:
    name: str
    type: str
    kind: str  # "channel", "spatial", "element", "branch" or "token"
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
    skipped: list[str] = field(default_factory=list)

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
            **({"skipped": list(self.skipped)} if self.skipped else {}),
        }


class ProfileCounts:
    """The sums and counts a profile is made of, kept apart from the passes so they can be saved, resumed and merged.

    Everything is a whole-number count or a float64 sum, so counts from
    several processes, or from a run and its resumption, add up to the counts
    of one uninterrupted pass over the same images.
    """

    def __init__(self, names: Sequence[str], classes: Sequence[str], modes: Sequence[str]) -> None:
        self.names = list(names)
        self.classes = list(classes)
        self.modes = list(modes)
        self.seen = 0
        self.correct = 0
        self.class_count = np.zeros(len(self.classes), dtype=np.int64)
        self.kinds: dict[str, tuple[str, str]] = {}
        self.ablated_correct = {(name, mode): 0 for name in self.names for mode in self.modes}
        self.activity_sum = dict.fromkeys(self.names, 0.0)
        self.activity_count = dict.fromkeys(self.names, 0)
        self.class_sum: dict[str, np.ndarray] = {}  # (classes, C) per channel layer
        self.entropy_sum: dict[str, np.ndarray] = {}  # (heads,) per token layer
        self.head_correct: dict[tuple[str, str], np.ndarray] = {}  # (heads,) per token layer and mode
        self.skipped: list[str] = []  # "file: why" for each image that could not be read

    @property
    def done(self) -> int:
        """Images taken from the data so far, counted or skipped: where a resumed run picks up."""
        return self.seen + len(self.skipped)

    def state(self) -> dict[str, Any]:
        """A plain copy: numbers and lists, and the per-class channel sums as arrays (millions of numbers for ImageNet).

        Floats are kept in full, so a resumed profile adds up exactly as an unbroken one.
        """
        return {
            "names": self.names,
            "classes": self.classes,
            "modes": self.modes,
            "seen": self.seen,
            "correct": self.correct,
            "class_count": self.class_count.tolist(),
            "kinds": {name: list(kind) for name, kind in self.kinds.items()},
            "ablated_correct": [[name, mode, count] for (name, mode), count in self.ablated_correct.items()],
            "activity_sum": self.activity_sum,
            "activity_count": self.activity_count,
            "class_sum": {name: sums.copy() for name, sums in self.class_sum.items()},
            "entropy_sum": {name: sums.tolist() for name, sums in self.entropy_sum.items()},
            "head_correct": [[name, mode, counts.tolist()] for (name, mode), counts in self.head_correct.items()],
            "skipped": list(self.skipped),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ProfileCounts:
        """Counts back from ``state()``; a ValueError (one line) when the document does not hold what it should."""
        try:
            counts = cls(state["names"], state["classes"], state["modes"])
            counts.seen = int(state["seen"])
            counts.correct = int(state["correct"])
            counts.class_count = np.asarray(state["class_count"], dtype=np.int64).reshape(len(counts.classes))
            counts.kinds = {str(name): (str(kind[0]), str(kind[1])) for name, kind in state["kinds"].items()}
            for name, mode, count in state["ablated_correct"]:
                counts.ablated_correct[(name, mode)] = int(count)
            counts.activity_sum = {name: float(value) for name, value in state["activity_sum"].items()}
            counts.activity_count = {name: int(value) for name, value in state["activity_count"].items()}
            counts.class_sum = {
                name: np.asarray(sums, dtype=np.float64).reshape(len(counts.classes), -1)
                for name, sums in state["class_sum"].items()
            }
            counts.entropy_sum = {
                name: np.asarray(sums, dtype=np.float64) for name, sums in state["entropy_sum"].items()
            }
            counts.head_correct = {
                (name, mode): np.asarray(values, dtype=np.float64) for name, mode, values in state["head_correct"]
            }
            counts.skipped = [str(line) for line in state["skipped"]]
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise ValueError(f"not a profile's saved counts ({type(error).__name__}: {error})") from None
        if set(counts.activity_sum) != set(counts.names) or set(counts.ablated_correct) != {
            (name, mode) for name in counts.names for mode in counts.modes
        }:
            raise ValueError("not a profile's saved counts (its layers and modes do not agree)")
        return counts

    def merge(self, other: ProfileCounts) -> None:
        """Add ``other``'s counts (another process's shard, say) into these."""
        if (other.names, other.classes, other.modes) != (self.names, self.classes, self.modes):
            raise ValueError("profile counts of different layers, classes or modes cannot be added")
        self.seen += other.seen
        self.skipped = sorted(self.skipped + other.skipped)
        self.correct += other.correct
        self.class_count += other.class_count
        for name, kind in other.kinds.items():
            self.kinds.setdefault(name, kind)
        for key, count in other.ablated_correct.items():
            self.ablated_correct[key] += count
        for name in self.names:
            self.activity_sum[name] += other.activity_sum[name]
            self.activity_count[name] += other.activity_count[name]
        for table, theirs in (
            (self.class_sum, other.class_sum),
            (self.entropy_sum, other.entropy_sum),
            (self.head_correct, other.head_correct),
        ):
            for key, values in theirs.items():
                table[key] = table[key] + values if key in table else values.copy()  # type: ignore[index]

    def result(self, model_name: str, data_name: str) -> Profile:
        """The profile these counts make; InputError when no image was counted."""
        if self.seen == 0:
            from .errors import InputError

            raise InputError("no images to profile")
        layers = []
        for name in self.names:
            type_, kind = self.kinds.get(name, ("unknown", CHANNEL))
            class_mean = None
            if name in self.class_sum:
                class_mean = self.class_sum[name] / np.maximum(self.class_count, 1)[:, None]
            count = max(self.activity_count[name], 1)
            layers.append(
                LayerProfile(
                    name=name,
                    type=type_,
                    kind=kind,
                    activity=self.activity_sum[name] / count,
                    ablated_accuracy={mode: self.ablated_correct[(name, mode)] / self.seen for mode in self.modes},
                    class_mean=class_mean,
                    head_entropy=(self.entropy_sum[name] / count).tolist() if name in self.entropy_sum else None,
                    head_ablated_accuracy={
                        mode: (self.head_correct[(name, mode)] / self.seen).tolist()
                        for mode in self.modes
                        if (name, mode) in self.head_correct
                    }
                    or None,
                )
            )
        return Profile(
            model_name, data_name, self.seen, self.correct / self.seen, self.classes, layers, list(self.skipped)
        )


SAVED_VERSION = 1


def save_counts(path: Path, counts: ProfileCounts, fingerprint: dict[str, Any]) -> None:
    """Write ``counts`` and what made them to ``path`` (.npz), replacing the old file only once the new one is whole.

    The per-class channel sums are arrays (ImageNet's 1,000 classes times a
    ResNet-50's channels are millions of numbers); the rest is one JSON text.
    """
    state = counts.state()
    sums = state.pop("class_sum")
    meta = json.dumps({"version": SAVED_VERSION, "fingerprint": fingerprint, "counts": state})
    arrays = {f"class_sum_{counts.names.index(name)}": values for name, values in sums.items()}
    partial = path.with_name(path.name + ".tmp")
    with partial.open("wb") as stream:
        np.savez(stream, meta=np.array(meta), **arrays)
    os.replace(partial, path)


def _check_members(path: Path) -> None:
    """Refuse, before numpy allocates anything, an archive whose arrays declare more bytes than the file holds."""
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.compress_type != zipfile.ZIP_STORED:
                raise ValueError(f"{info.filename} is compressed; save_counts never compresses")
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                reader = (
                    np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                )
                shape, _, dtype = reader(member)
                if dtype.hasobject or math.prod(shape) * dtype.itemsize > info.file_size:
                    raise ValueError(f"{info.filename} declares more than it holds")


def load_counts(path: Path) -> tuple[ProfileCounts, dict[str, Any]]:
    """Counts and fingerprint from ``save_counts``; ValueError (one line) for a file it did not write."""
    try:
        _check_members(path)
        with np.load(path, allow_pickle=False) as saved:
            meta = json.loads(str(saved["meta"][()]))
            if meta.get("version") != SAVED_VERSION:
                raise ValueError(f"saved by another version ({meta.get('version')!r})")
            state = dict(meta["counts"])
            state["class_sum"] = {}
            for key in saved.files:
                if key.startswith("class_sum_"):
                    state["class_sum"][state["names"][int(key.removeprefix("class_sum_"))]] = saved[key]
            return ProfileCounts.from_state(state), dict(meta["fingerprint"])
    except (OSError, KeyError, TypeError, IndexError, ValueError, EOFError, zipfile.BadZipFile) as error:
        text = str(error).removeprefix("not a profile's saved counts ")
        raise ValueError(f"not a profile's saved counts ({text})") from None


def count_batch(
    counts: ProfileCounts,
    model: nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    recorder: AttentionRecorder,
    ablator: Ablator,
    heads: bool = False,
) -> None:
    """Add one batch to ``counts``: the recorded plain pass, then one pass per layer and mode (and head)."""
    labels = labels.to(torch.long).cpu()
    classes = len(counts.classes)
    # Token layers keep their first rows only: the entropy needs no more, and it is 1/N of the work.
    with torch.inference_mode(), recorder.recording(attention=ATTENTION_ROWS) as recording:
        logits = model(inputs)
    counts.correct += int((logits.argmax(1).cpu() == labels).sum())
    counts.seen += len(labels)
    counts.class_count += np.bincount(labels.numpy(), minlength=classes)[:classes]
    for record in recording.records:
        counts.kinds.setdefault(record.name, (record.type, record.kind))
        counts.activity_count[record.name] += record.gate.shape[0]
        if record.kind == TOKEN:
            entropy = token_entropy(record.first)  # (B, heads)
            counts.entropy_sum[record.name] = counts.entropy_sum.get(record.name, 0.0) + entropy.sum(axis=0)
            counts.activity_sum[record.name] += float((1.0 - entropy.mean(axis=1)).sum())
        elif record.kind == BRANCH and record.weights.shape[1] > 1:
            counts.activity_sum[record.name] += float((1.0 - branch_entropy(record.weights)).sum())
        else:
            gate = record.gate.double()
            counts.activity_sum[record.name] += float((1.0 - gate).abs().flatten(1).mean(dim=1).sum())
        if record.kind == CHANNEL:
            weights = record.weights.double().numpy()
            sums = counts.class_sum.setdefault(record.name, np.zeros((classes, weights.shape[1])))
            np.add.at(sums, labels.numpy(), weights)
        for mode in counts.modes:
            with torch.inference_mode(), ablator.ablating(record.name, mode, gate_means(record)):
                ablated = model(inputs)
            counts.ablated_correct[(record.name, mode)] += int((ablated.argmax(1).cpu() == labels).sum())
            for head in range(ablator.heads(record.name) if heads else 0):
                with torch.inference_mode(), ablator.ablating(record.name, mode, gate_means(record), head):
                    ablated = model(inputs)
                correct = counts.head_correct.setdefault((record.name, mode), np.zeros(ablator.heads(record.name)))
                correct[head] += int((ablated.argmax(1).cpu() == labels).sum())


def branch_entropy(weights: torch.Tensor) -> torch.Tensor:
    """(B,) how evenly each image's channels mix their branches: entropy over the branches / log P, channel mean."""
    shares = weights.double()
    entropy = -(shares * shares.clamp_min(1e-12).log()).sum(dim=1) / math.log(shares.shape[1])
    return entropy.mean(dim=1)


def count_batches(
    model: nn.Module,
    batches: Iterable[Sequence[Any]],
    counts: ProfileCounts,
    recorder: AttentionRecorder,
    ablator: Ablator,
    *,
    total: int | None = None,
    heads: bool = False,
    after_batch: Callable[[ProfileCounts], None] | None = None,
    progress: bool = True,
) -> ProfileCounts:
    """Add every batch to ``counts`` (a fresh or a resumed one); ``after_batch`` sees them after each (to save them).

    A batch is (inputs, labels), or (inputs, labels, unread) where ``unread``
    lists the "file: why" lines of images that could not be read: they are
    listed in the profile, not counted. Inputs go to the model's device;
    records come back as CPU copies.
    """
    device = device_of(model)
    bar = tqdm(
        total=total, initial=counts.done, desc="profile", unit="img", leave=False, disable=None if progress else 1
    )
    for inputs, labels, *unread in batches:
        skipped = list(unread[0]) if unread else []
        counts.skipped += skipped
        if len(labels):
            count_batch(counts, model, inputs.to(device, non_blocking=True), labels, recorder, ablator, heads)
        bar.update(len(labels) + len(skipped))
        if after_batch is not None:
            after_batch(counts)
    bar.close()
    return counts


def profile_model(
    model: nn.Module,
    batches: Iterable[Sequence[Any]],
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
    least an answer to "does this layer help?" can cost, and each batch is
    loaded once for all of them. ``heads`` adds one pass per head of each
    self-attention layer and mode.
    """
    counts = ProfileCounts(recorder.layer_names, classes, modes)
    count_batches(model, batches, counts, recorder, ablator, total=total, heads=heads)
    profile = counts.result(model_name, data_name)
    LOGGER.info(
        "profiled %s on %d images of %s: accuracy %.4f", model_name, profile.images, data_name, profile.accuracy
    )
    return profile


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
