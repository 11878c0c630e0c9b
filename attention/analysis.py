"""One recorded inference per image, turned into data a person or a program can read.

``Analyzer.analyze`` runs the model once per batch under an AttentionRecorder
and slices the batch records per image. ``analysis_to_dict`` gives the JSON
schema shared by the CLI's ``--json`` and the web app's API.
"""

from __future__ import annotations

import logging
import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image

from .ablation import Ablator, ablator_for, check_mode, run_ablations
from .devices import device_of
from .discovery import discovery_report
from .errors import InputError
from .files import finite_or_none
from .images import WHOLE, Preprocessing
from .recorder import (
    CHANNEL,
    SPATIAL,
    TOKEN,
    AttentionRecorder,
    ChannelRecord,
    SpatialRecord,
    TokenRecord,
    find_attention_layers,
)
from .records import ATTENTION_MEANS, BRANCH, ELEMENT, BranchRecord, ElementRecord
from .tokens import ROLLOUT_NOTE, TokenLayout, rollout, token_layout

LOGGER = logging.getLogger(__name__)
TOP_K_PREDICTIONS = 5


@dataclass
class ChannelLayer:
    """One channel-attention layer's output for one image."""

    kind: ClassVar[str] = CHANNEL
    name: str
    type: str
    weights: np.ndarray  # (C,)
    avg: np.ndarray | None
    max: np.ndarray | None
    kernel_size: int | None
    gain: float = 1.0  # the features were multiplied by gain * weights

    @property
    def gate(self) -> np.ndarray:
        """The factors the layer multiplied its input by, whatever the kind: here the channel weights."""
        return self.weights

    @property
    def channels(self) -> int:
        return int(self.weights.shape[0])


@dataclass
class SpatialLayer:
    """One spatial-attention layer's mask for one image."""

    kind: ClassVar[str] = SPATIAL
    name: str
    mask: np.ndarray  # (H, W), values in [0, 1]
    kernel_size: int | None
    type: str = "spatial"
    gain: float = 1.0  # the features were multiplied by gain * mask

    @property
    def gate(self) -> np.ndarray:
        """The factors the layer multiplied its input by, whatever the kind: here the mask."""
        return self.mask

    @property
    def size(self) -> tuple[int, int]:
        return int(self.mask.shape[0]), int(self.mask.shape[1])


@dataclass
class ElementLayer(SpatialLayer):
    """A gate with one factor per channel and pixel, for one image: every view draws its mean over channels.

    It is a ``SpatialLayer`` whose ``mask`` is that mean, so the overlays,
    Grad-CAM's comparison and the reports show it on the same 0–1 scale as a
    mask, and their captions say it is a mean.
    """

    kind: ClassVar[str] = ELEMENT
    per_channel: np.ndarray | None = None  # (C,) the gate averaged over pixels
    rows: np.ndarray | None = None  # (C, H) the per-row factor of a rows-times-columns gate
    columns: np.ndarray | None = None  # (C, W) the per-column factor
    offset: float = 0.0  # the features were multiplied by offset + gate
    readable: float = 1.0  # the share of elements ``mask`` averages

    @property
    def factor(self) -> str:
        """What multiplied the features, in words for captions and the JSON."""
        return "1 + gate" if self.offset == 1.0 else "gate" if self.offset == 0.0 else f"{self.offset:g} + gate"


@dataclass
class BranchLayer:
    """Softmax weights over a layer's parallel branches, one set per channel, for one image."""

    kind: ClassVar[str] = BRANCH
    name: str
    type: str
    weights: np.ndarray  # (P, C), summing to 1 over the branches
    branches: tuple[str, ...] = ()

    @property
    def gate(self) -> np.ndarray:
        """The factors each branch's output was multiplied by before the branches were summed."""
        return self.weights

    @property
    def channels(self) -> int:
        return int(self.weights.shape[1])


@dataclass
class TokenLayer:
    """One self-attention layer's probabilities for one image, with where the patches are among the tokens."""

    kind: ClassVar[str] = TOKEN
    name: str
    type: str
    layout: TokenLayout
    first: np.ndarray  # (heads, N): attention from token 0
    received: np.ndarray | None = None  # (heads, N): attention each token receives, averaged over the queries
    mean: np.ndarray | None = None  # (N, N): the attention matrix averaged over heads
    full: np.ndarray | None = None  # (heads, N, N) at the full level

    @property
    def gate(self) -> np.ndarray:
        """What the layer weighted by, whatever the kind: here each head's attention from token 0."""
        return self.first

    @property
    def heads(self) -> int:
        return int(self.first.shape[0])

    @property
    def tokens(self) -> int:
        return int(self.first.shape[1])

    @property
    def grid(self) -> tuple[int, int] | None:
        return self.layout.grid

    def _patches(self, values: np.ndarray) -> np.ndarray:
        """The patch tokens' values (..., N) as a grid (..., rows, columns)."""
        if self.layout.grid is None:
            raise InputError(f"{self.name}: its {self.tokens} tokens do not form a grid of patches")
        return values[..., len(self.layout.prefix) :].reshape(*values.shape[:-1], *self.layout.grid)

    def cls_attention(self) -> np.ndarray | None:
        """(heads, rows, columns): the class token's attention to each patch, or None without a class token."""
        return self._patches(self.first) if self.layout.has_class_token else None

    def shown_rows(self) -> np.ndarray:
        """(heads, N) as the views show them: the class token's attention, else what each token receives."""
        return self.first if self.layout.has_class_token or self.received is None else self.received

    def attention_map(self, head: int | None = None) -> np.ndarray:
        """(rows, columns) for one head or the head mean: the class token's attention, else what each patch receives."""
        values = self.shown_rows()
        chosen = values.mean(axis=0) if head is None else values[head]
        return self._patches(chosen)

    def patch_attention(self, row: int, column: int) -> np.ndarray:
        """(rows, columns): the head-mean attention from the patch at (row, column) to every patch."""
        rows, columns = self.layout.grid or (0, 0)
        if self.mean is None:
            raise InputError(f"{self.name}: only the first rows were recorded; record the 'means' level for this")
        if not (0 <= row < rows and 0 <= column < columns):
            raise InputError(f"patch ({row}, {column}) is outside the {rows}x{columns} grid")
        return self._patches(self.mean[len(self.layout.prefix) + row * columns + column])

    def prefix_attention(self) -> dict[str, list[float]]:
        """Per head, the attention token 0 gives each token ahead of the patches (class, distillation, registers)."""
        return {name: self.first[:, index].tolist() for index, name in enumerate(self.layout.prefix)}


Layer = ChannelLayer | SpatialLayer | TokenLayer | BranchLayer  # an ElementLayer is a SpatialLayer


@dataclass
class ImageAnalysis:
    """Everything recorded for one image: enough to re-render any panel without the model."""

    name: str
    image: Image.Image
    classes: list[str]
    probabilities: np.ndarray  # (K,)
    layers: list[Layer]
    # The input feature map (C, H, W) of every layer the analysis was asked to keep, by layer name.
    feature_maps: dict[str, np.ndarray] = field(default_factory=dict)
    # With ``Analyzer.analyze(ablate=...)``: per layer, the prediction with that layer switched off.
    ablations: list[dict[str, Any]] = field(default_factory=list)
    # The part of ``image`` the model saw (left, top, right, bottom as fractions), where overlays put the masks.
    view: tuple[float, float, float, float] = WHOLE

    @property
    def channel_layers(self) -> list[ChannelLayer]:
        return [layer for layer in self.layers if isinstance(layer, ChannelLayer)]

    @property
    def spatial_layers(self) -> list[SpatialLayer]:
        return [layer for layer in self.layers if isinstance(layer, SpatialLayer)]

    @property
    def token_layers(self) -> list[TokenLayer]:
        return [layer for layer in self.layers if isinstance(layer, TokenLayer)]

    @property
    def branch_layers(self) -> list[BranchLayer]:
        return [layer for layer in self.layers if isinstance(layer, BranchLayer)]

    def rollout(self) -> np.ndarray | None:
        """(rows, columns): attention rollout over every token layer (see ``ROLLOUT_NOTE``), or None without one.

        Read from the class token's row, or averaged over the rows without a class token.
        """
        layers = [layer for layer in self.token_layers if layer.grid is not None]
        if not layers or any(layer.tokens != layers[0].tokens or layer.mean is None for layer in layers):
            return None
        flow = rollout([layer.mean for layer in layers if layer.mean is not None])
        row = flow[0] if layers[0].layout.has_class_token else flow.mean(axis=0)
        return layers[0]._patches(row.astype(np.float32))

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def top(self, k: int = TOP_K_PREDICTIONS) -> list[tuple[int, float]]:
        order = np.argsort(-self.probabilities, kind="stable")[:k]
        return [(int(i), float(self.probabilities[i])) for i in order]


def _numpy(tensor: torch.Tensor | None, index: int) -> np.ndarray | None:
    return None if tensor is None else tensor[index].float().numpy()


def _detach(recorder: AttentionRecorder, ablator: Ablator) -> None:
    recorder.detach()
    ablator.detach()


class Analyzer:
    """Runs a model with recording; safe to share between threads.

    It takes the model, its class names and its preprocessing rather than a
    checkpoint, so the library works with any model, whoever loaded it. The
    analyzer never changes the model's mode: a caller who passes a model in
    training mode gets what they asked for.

    Args:
        model: any module; its attention layers are found by the recorder.
        classes: one name per output of the model.
        preprocessing: how an image becomes the model's input.
        name: what documents call the model (a checkpoint's short name, say).
    """

    def __init__(
        self, model: torch.nn.Module, classes: Sequence[str], preprocessing: Preprocessing, name: str = "model"
    ) -> None:
        self.model = model
        self.classes = list(classes)
        self.preprocessing = preprocessing
        self.name = name
        self.layers = find_attention_layers(self.model, (preprocessing.channels, *preprocessing.input_size))
        # What was found and what was turned down, so no one counts fewer layers than their network has unawares.
        self.discovery = discovery_report(self.model, self.layers)
        # Hooks stay registered for the analyzer's lifetime: registering them on
        # every call costs more than recording on a small network. They record
        # only inside a recording, so other users of the model see no change.
        self._recorder = AttentionRecorder(self.model, layers=self.layers)
        self.layer_names = self._recorder.layer_names
        self.channel_layer_names = [name for name, _, adapter in self.layers if adapter.kind == CHANNEL]
        # A gate over channels and pixels at once is drawn as its mean over channels, beside the masks.
        self.spatial_layer_names = [name for name, _, adapter in self.layers if adapter.kind in (SPATIAL, ELEMENT)]
        self.branch_layer_names = [name for name, _, adapter in self.layers if adapter.kind == BRANCH]
        self.token_layer_names = [name for name, _, adapter in self.layers if adapter.kind == TOKEN]
        # The layers whose input feature map can be kept (a gate over branches has no one map it scales).
        self.feature_layer_names = [name for name, _, adapter in self.layers if adapter.feature_map is not None]
        # Ablation hooks live as long as the recording hooks, for the same reason: a
        # hook added or removed while another thread runs the model is not safe.
        self._ablator = ablator_for(self.layers)
        self._recorder.attach()
        self._ablator.attach()
        self._finalizer = weakref.finalize(self, _detach, self._recorder, self._ablator)

    def close(self) -> None:
        """Remove the analyzer's hooks from the model (also done when the analyzer is garbage-collected)."""
        self._finalizer()

    def __enter__(self) -> Analyzer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def preprocess(self, images: Sequence[Image.Image]) -> torch.Tensor:
        return self.preprocessing.batch(images)

    def analyze(
        self,
        images: Sequence[Image.Image],
        names: Sequence[str] | None = None,
        feature_layer: str | Sequence[str] | None = None,
        batch_size: int = 32,
        ablate: str | None = None,
        target: str | None = None,
        attention: str = ATTENTION_MEANS,
        ablate_heads: bool = False,
    ) -> list[ImageAnalysis]:
        """Analyses in input order; one forward pass per batch of ``batch_size`` images.

        ``feature_layer`` names one layer, or several, whose input feature maps
        are kept as well, in ``ImageAnalysis.feature_maps``. ``ablate``
        ("identity" or "mean") adds one pass per layer with that layer switched
        off, reported in ``ImageAnalysis.ablations``; their ``delta`` is the
        change in the probability of the class labelled ``target`` (by default
        each image's prediction). ``attention`` says how much of each
        self-attention layer to keep: ``means`` (what every view needs),
        ``rows`` (the first rows only) or ``full`` (every head's whole matrix,
        ``TokenLayer.full``); ``ablate_heads`` also switches off each head alone.
        """
        if ablate is not None:
            check_mode(ablate)
        target_index = None if target in (None, "") else class_index(self.classes, str(target))
        names = list(names) if names is not None else [f"image-{i}" for i in range(len(images))]
        if len(names) != len(images):
            raise ValueError("give one name per image")
        results: list[ImageAnalysis] = []
        for start in range(0, len(images), batch_size):
            chunk = list(images[start : start + batch_size])
            results.extend(
                self._analyze_batch(
                    chunk,
                    names[start : start + batch_size],
                    feature_layer,
                    ablate,
                    target_index,
                    attention,
                    ablate_heads,
                )
            )
        return results

    def _analyze_batch(
        self,
        images: list[Image.Image],
        names: list[str],
        feature_layer: str | Sequence[str] | None,
        ablate: str | None = None,
        target: int | None = None,
        attention: str = ATTENTION_MEANS,
        ablate_heads: bool = False,
    ) -> list[ImageAnalysis]:
        batch = self.preprocess(images).to(device_of(self.model))
        if not self._recorder.attached:
            raise RuntimeError("this Analyzer is closed")
        with torch.inference_mode(), self._recorder.recording(feature_layer, attention) as recorder:
            logits = self.model(batch)
        check_finite_pass(logits, recorder.records)
        probabilities = torch.softmax(logits.float(), dim=1).cpu()
        ablations: list[list[dict[str, Any]]] = [[] for _ in images]
        if ablate is not None:
            ablations = run_ablations(
                self.model,
                batch,
                self._ablator,
                recorder.records,
                probabilities,
                self.classes,
                ablate,
                target=target,
                heads=ablate_heads,
            )
        probabilities = probabilities.numpy()
        layouts = {
            record.tokens: token_layout(self.model, record.tokens)
            for record in recorder.records
            if isinstance(record, TokenRecord)
        }
        analyses = []
        for index, (image, name) in enumerate(zip(images, names)):
            layers: list[Layer] = []
            for record in recorder.records:
                if isinstance(record, ChannelRecord):
                    layers.append(
                        ChannelLayer(
                            name=record.name,
                            type=record.type,
                            weights=record.weights[index].float().numpy(),
                            avg=_numpy(record.avg, index),
                            max=_numpy(record.max, index),
                            kernel_size=record.kernel_size,
                            gain=record.gain,
                        )
                    )
                elif isinstance(record, SpatialRecord):
                    mask = record.mask[index].float().numpy()
                    layers.append(SpatialLayer(record.name, mask, record.kernel_size, gain=record.gain))
                elif isinstance(record, ElementRecord):
                    layers.append(
                        ElementLayer(
                            name=record.name,
                            mask=record.map[index].float().numpy(),
                            kernel_size=None,
                            type=record.type,
                            per_channel=record.per_channel[index].float().numpy(),
                            rows=_numpy(record.rows, index),
                            columns=_numpy(record.columns, index),
                            offset=record.offset,
                            readable=record.readable,
                        )
                    )
                elif isinstance(record, BranchRecord):
                    layers.append(
                        BranchLayer(record.name, record.type, record.weights[index].float().numpy(), record.branches)
                    )
                elif isinstance(record, TokenRecord):
                    layers.append(
                        TokenLayer(
                            name=record.name,
                            type=record.type,
                            layout=layouts[record.tokens],
                            first=record.first[index].float().numpy(),
                            received=_numpy(record.received, index),
                            mean=_numpy(record.mean, index),
                            full=_numpy(record.full, index),
                        )
                    )
            feature_maps = {
                layer: recorder.features[layer][index].float().numpy()
                for layer in recorder.feature_layers
                if layer in recorder.features
            }
            analyses.append(
                ImageAnalysis(
                    name,
                    image,
                    self.classes,
                    probabilities[index],
                    layers,
                    feature_maps,
                    ablations[index],
                    self.preprocessing.view(image),
                )
            )
        return analyses


NOT_FINITE = "the model's output is not finite on this image (weights overflow)"


def check_finite_pass(logits: torch.Tensor, records: Sequence[Any]) -> None:
    """Refuse a pass whose scores or gates hold NaN or infinity: finite weights can still overflow on a real image.

    Every view and the JSON document assume finite numbers, so such a pass
    is one line for the user rather than a failure deep in the drawing code.
    """
    if not bool(torch.isfinite(logits).all()) or any(not bool(torch.isfinite(record.gate).all()) for record in records):
        raise InputError(NOT_FINITE)


def class_index(classes: Sequence[str], label: str) -> int:
    """The index of the class labelled ``label``; one-line InputError naming the labels when there is none."""
    if label in classes:
        return list(classes).index(label)
    shown = ", ".join(classes[:12]) + (", ..." if len(classes) > 12 else "")
    raise InputError(f"unknown class {label!r}; this model's classes are: {shown}")


def _floats(values: np.ndarray | None, digits: int = 6) -> list[Any] | None:
    """Rounded nested lists; a NaN or infinity becomes null, so the document stays strict JSON."""
    if values is None:
        return None
    rounded = np.round(values.astype(np.float64), digits)
    if np.isfinite(rounded).all():
        return rounded.tolist()
    return np.where(np.isfinite(rounded), rounded, None).tolist()


def analysis_to_dict(analysis: ImageAnalysis, image: str | None = None) -> dict[str, Any]:
    """One entry of the ``results`` list, in the schema of ``python -m attention analyze --json``."""
    top = analysis.top()
    best_index, best_probability = top[0]
    layers: list[dict[str, Any]] = []
    for layer in analysis.layers:
        if isinstance(layer, ChannelLayer):
            entry: dict[str, Any] = {
                "name": layer.name,
                "type": layer.type,
                "channels": layer.channels,
                "kernel_size": layer.kernel_size,
                "weights": _floats(layer.weights),
                "branches": {},
            }
            if layer.gain != 1.0:
                entry["gain"] = layer.gain
            if layer.avg is not None:
                entry["branches"]["avg"] = _floats(layer.avg)
            if layer.max is not None:
                entry["branches"]["max"] = _floats(layer.max)
            layers.append(entry)
        elif isinstance(layer, TokenLayer):
            layers.append(_token_entry(layer))
        elif isinstance(layer, ElementLayer):
            layers.append(_element_entry(layer))
        elif isinstance(layer, BranchLayer):
            layers.append(
                {
                    "name": layer.name,
                    "type": "branch",
                    "module": layer.type,
                    "branches": list(layer.branches),
                    "channels": layer.channels,
                    "weights": _floats(layer.weights),
                }
            )
        else:
            layers.append(
                {
                    "name": layer.name,
                    "type": "spatial",
                    "kernel_size": layer.kernel_size,
                    "size": list(layer.size),
                    "mask": _floats(layer.mask),
                    **({"gain": layer.gain} if layer.gain != 1.0 else {}),
                }
            )
    entry = {
        "image": image if image is not None else analysis.name,
        "prediction": {
            "label": analysis.classes[best_index],
            "index": best_index,
            "probability": finite_or_none(round(best_probability, 6)),
        },
        "top": [{"label": analysis.classes[i], "probability": finite_or_none(round(p, 6))} for i, p in top],
        "view": [round(side, 6) for side in analysis.view],
        "layers": layers,
    }
    flow = analysis.rollout()
    if flow is not None:
        entry["rollout"] = {"note": ROLLOUT_NOTE, "map": _floats(flow)}
    if analysis.ablations:
        entry["ablations"] = analysis.ablations
    return entry


def _element_entry(layer: ElementLayer) -> dict[str, Any]:
    """A per-element gate in the JSON: its mean over channels as the pixel map, and what multiplied the features."""
    entry: dict[str, Any] = {
        "name": layer.name,
        "type": "element",
        "module": layer.type,
        "factor": layer.factor,
        "size": list(layer.size),
        "mask": _floats(layer.mask),
        "per_channel": _floats(layer.per_channel),
        "readable": round(layer.readable, 6),
    }
    if layer.rows is not None and layer.columns is not None:
        entry["rows"] = _floats(layer.rows)
        entry["columns"] = _floats(layer.columns)
    return entry


def _token_entry(layer: TokenLayer) -> dict[str, Any]:
    """A self-attention layer in the JSON: the class token's attention to the patches, per head, on the patch grid."""
    grid = layer.grid
    cls = layer.cls_attention() if grid is not None else None
    entry: dict[str, Any] = {
        "name": layer.name,
        "type": "token",
        "module": layer.type,
        "heads": layer.heads,
        "tokens": layer.tokens,
        "prefix_tokens": list(layer.layout.prefix),
        "grid": list(grid) if grid is not None else None,
        "cls_attention": _floats(cls),
        "prefix_attention": {name: _floats(np.asarray(values)) for name, values in layer.prefix_attention().items()},
    }
    if grid is not None and cls is None and layer.received is not None:
        entry["received_attention"] = _floats(layer._patches(layer.received))
    if layer.full is not None:
        entry["attention"] = _floats(layer.full)
    return entry


def build_document(
    checkpoint: str,
    classes: Sequence[str],
    results: Sequence[dict[str, Any]],
    preprocessing: Preprocessing,
    discovery: dict[str, Any],
) -> dict[str, Any]:
    """The whole JSON document: one per run, whatever the number of images."""
    return {
        "checkpoint": checkpoint,
        "classes": list(classes),
        "preprocessing": preprocessing.to_dict(),
        "discovery": discovery,
        "results": list(results),
    }


def channel_statistics(weights: np.ndarray) -> dict[str, float]:
    """Mean, spread and normalised entropy of a layer's channel weights.

    Entropy is of the weights normalised to sum to one, divided by log(C): 1.0
    means every channel is weighted alike, lower means a few channels dominate.
    """
    return _spread(weights.astype(np.float64))


def _spread(values: np.ndarray) -> dict[str, float]:
    """Mean, std, min, max, and the entropy of the values as shares of their sum over log(count)."""
    total = values.sum()
    entropy = 0.0
    if total > 0 and len(values) > 1:
        share = values / total
        entropy = float(-(share * np.log(np.clip(share, 1e-12, None))).sum() / math.log(len(values)))
    return {
        "mean": float(values.mean()),
        "std": float(values.std()),
        "min": float(values.min()),
        "max": float(values.max()),
        "entropy": entropy,
    }


def mask_statistics(mask: np.ndarray) -> dict[str, float]:
    """How much of the image a mask keeps: its mean, and the share of pixels above 0.5."""
    mask = mask.astype(np.float64)
    return {
        "mean": float(mask.mean()),
        "std": float(mask.std()),
        "min": float(mask.min()),
        "max": float(mask.max()),
        "kept_fraction": float((mask > 0.5).mean()),
    }


def branch_statistics(weights: np.ndarray) -> dict[str, float]:
    """The first branch's share over the channels, and how evenly the channels split between the branches.

    Entropy here is each channel's entropy over its branches divided by
    log(P), averaged over the channels: 1.0 means every channel mixes its
    branches equally, 0 that each picks one.
    """
    weights = weights.astype(np.float64)
    spread = _spread(weights[0])
    branches = weights.shape[0]
    if branches > 1:
        per_channel = -(weights * np.log(np.clip(weights, 1e-12, None))).sum(axis=0) / math.log(branches)
        spread["entropy"] = float(per_channel.mean())
    return spread


def token_statistics(layer: TokenLayer) -> dict[str, float]:
    """The head-mean attention over the patches: its spread, and its entropy over log(patches) (1.0: uniform)."""
    return _spread(layer.shown_rows().mean(axis=0)[len(layer.layout.prefix) :].astype(np.float64))


def layer_statistics(analysis: ImageAnalysis) -> list[dict[str, Any]]:
    """One row per layer, in forward order, for tables and reports."""
    rows = []
    for layer in analysis.layers:
        if isinstance(layer, ChannelLayer):
            rows.append(
                {
                    "layer": layer.name,
                    "type": layer.type,
                    "size": str(layer.channels),
                    **channel_statistics(layer.weights),
                }
            )
        elif isinstance(layer, BranchLayer):
            rows.append(
                {
                    "layer": layer.name,
                    "type": "branch",
                    "size": f"{len(layer.branches)} branches x {layer.channels}",
                    **branch_statistics(layer.weights),
                }
            )
        elif isinstance(layer, ElementLayer):
            height, width = layer.size
            rows.append(
                {"layer": layer.name, "type": "element", "size": f"{height}x{width}", **mask_statistics(layer.mask)}
            )
        elif isinstance(layer, TokenLayer):
            rows.append(
                {
                    "layer": layer.name,
                    "type": "token",
                    "size": f"{layer.heads} heads x {layer.tokens} tokens",
                    **token_statistics(layer),
                }
            )
        else:
            height, width = layer.size
            rows.append(
                {"layer": layer.name, "type": "spatial", "size": f"{height}x{width}", **mask_statistics(layer.mask)}
            )
    return rows
