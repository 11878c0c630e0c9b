"""Record what every attention module computed during one inference.

Usage::

    with AttentionRecorder(model) as recorder:
        logits = model(batch)
    for record in recorder.records:   # forward order
        ...

The recorder only adds forward hooks: it never changes the model's mode,
parameters or output, and its hooks are removed on exit even when the forward
pass raises. Hooks fire only for the thread that entered the recorder, so two
threads can record the same model object at the same time and each gets only
its own maps.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from .channel import CBAMChannelGate, SqueezeExcite
from .eca import ECA, ChannelWeights
from .spatial import SpatialAttention


def _keep(tensor: torch.Tensor) -> torch.Tensor:
    """Detached CPU copy, so records never pin the autograd graph or device memory."""
    return tensor.detach().to("cpu", copy=True)


@dataclass
class ChannelRecord:
    """Channel weights of one channel-attention layer, for a whole batch."""

    name: str
    type: str
    weights: torch.Tensor  # (B, C)
    avg: torch.Tensor | None = None  # (B, C) before the gate
    max: torch.Tensor | None = None  # (B, C) before the gate
    kernel_size: int | None = None

    @property
    def channels(self) -> int:
        return int(self.weights.shape[1])


@dataclass
class SpatialRecord:
    """Mask of one spatial-attention layer, for a whole batch."""

    name: str
    mask: torch.Tensor  # (B, H, W)
    kernel_size: int | None = None
    type: str = "spatial"

    @property
    def size(self) -> tuple[int, int]:
        return int(self.mask.shape[1]), int(self.mask.shape[2])


LayerRecord = ChannelRecord | SpatialRecord


class RecordSink:
    """Where adapters put what they observe; owned by one recorder."""

    def __init__(self) -> None:
        self.records: list[LayerRecord] = []
        self.features: dict[str, torch.Tensor] = {}

    def add(self, record: LayerRecord) -> None:
        self.records.append(record)


Hook = Callable[..., None]
Adapter = Callable[[nn.Module, str, RecordSink, Callable[[Hook], Hook]], list[RemovableHandle]]


def _attach_tapped_channel(type_name: str) -> Adapter:
    """Adapter for this project's channel modules, which pass ChannelWeights through a tap."""

    def attach(module: nn.Module, name: str, sink: RecordSink, guard: Callable[[Hook], Hook]) -> list[RemovableHandle]:
        kernel_size = getattr(module, "kernel_size", None)

        def on_weights(_tap: nn.Module, _inputs: Any, output: ChannelWeights) -> None:
            sink.add(
                ChannelRecord(
                    name=name,
                    type=type_name,
                    weights=_keep(output.weights),
                    avg=None if output.avg is None else _keep(output.avg),
                    max=None if output.max is None else _keep(output.max),
                    kernel_size=kernel_size,
                )
            )

        return [module.weights_tap.register_forward_hook(guard(on_weights))]

    return attach


def _attach_spatial(
    module: nn.Module, name: str, sink: RecordSink, guard: Callable[[Hook], Hook]
) -> list[RemovableHandle]:
    def on_mask(_tap: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        sink.add(SpatialRecord(name=name, mask=_keep(output[:, 0]), kernel_size=module.kernel_size))

    return [module.mask_tap.register_forward_hook(guard(on_mask))]


# Checked in order; types registered later by users come first.
_REGISTRY: list[tuple[type[nn.Module], Adapter]] = [
    (ECA, _attach_tapped_channel("eca")),
    (CBAMChannelGate, _attach_tapped_channel("cbam_channel")),
    (SqueezeExcite, _attach_tapped_channel("se")),
    (SpatialAttention, _attach_spatial),
]


def register_attention_type(module_type: type[nn.Module], adapter: Adapter) -> None:
    """Teach the recorder a new attention module type (for example timm's EcaModule).

    ``adapter(module, name, sink, guard)`` registers hooks on ``module`` that
    call ``sink.add(...)`` with a ChannelRecord or SpatialRecord, wraps every
    hook function in ``guard`` (which drops calls from other threads), and
    returns the hook handles so the recorder can remove them.
    """
    _REGISTRY.insert(0, (module_type, adapter))


def find_adapter(module: nn.Module) -> Adapter | None:
    for module_type, adapter in _REGISTRY:
        if isinstance(module, module_type):
            return adapter
    return None


def attention_layers(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """(qualified name, module) of every attention module the recorder knows."""
    for name, module, _adapter in find_attention_layers(model):
        yield name, module


AttentionLayers = list[tuple[str, nn.Module, Adapter]]


def find_attention_layers(model: nn.Module) -> AttentionLayers:
    """Every recordable layer with its adapter, in registration (forward) order.

    Walking a model's modules costs about as much as the hooks themselves on
    a small network, so code that records the same model many times (the
    Analyzer) computes this once and passes it to each AttentionRecorder.
    """
    return [(name, module, adapter) for name, module in model.named_modules() if (adapter := find_adapter(module))]


class AttentionRecorder:
    """Context manager that records every attention module's output in ``model``.

    Args:
        model: any module containing registered attention modules.
        feature_layer: qualified name of a channel-attention layer (or a
            sequence of names) whose input feature map (B, C, H, W) should also
            be kept, for showing the feature maps of its most-weighted channels.
        layers: the result of ``find_attention_layers(model)``, when the caller
            records the same model often and has it already.
    """

    def __init__(
        self,
        model: nn.Module,
        feature_layer: str | Sequence[str] | None = None,
        layers: AttentionLayers | None = None,
    ) -> None:
        self.model = model
        if feature_layer is None:
            self.feature_layers: tuple[str, ...] = ()
        elif isinstance(feature_layer, str):
            self.feature_layers = (feature_layer,)
        else:
            self.feature_layers = tuple(feature_layer)
        self._sink = RecordSink()
        self._handles: list[RemovableHandle] = []
        self._thread_id: int | None = None
        # Resolved once here so that entering the recorder costs only the hook registrations.
        self._layers = layers if layers is not None else find_attention_layers(model)
        self.layer_names = [name for name, _, _ in self._layers]
        for name in self.feature_layers:
            if name not in self.layer_names:
                raise ValueError(
                    f"feature_layer {name!r} is not an attention layer of this model; choose one of {self.layer_names}"
                )

    @property
    def records(self) -> list[LayerRecord]:
        """Records in forward order (a layer called twice appears twice)."""
        return self._sink.records

    @property
    def features(self) -> dict[str, torch.Tensor]:
        return self._sink.features

    def clear(self) -> None:
        self._sink = RecordSink()

    def _guard(self, hook: Hook) -> Hook:
        def guarded(*args: Any) -> None:
            if threading.get_ident() == self._thread_id:
                hook(*args)

        return guarded

    def __enter__(self) -> AttentionRecorder:
        if self._handles:
            raise RuntimeError("this AttentionRecorder is already active")
        self._thread_id = threading.get_ident()
        self.clear()
        try:
            for name, module, adapter in self._layers:
                self._handles.extend(adapter(module, name, self._sink, self._guard))
                if name in self.feature_layers:
                    self._handles.append(module.register_forward_pre_hook(self._guard(self._feature_hook(name))))
        except BaseException:
            self.remove_hooks()
            raise
        return self

    def _feature_hook(self, name: str) -> Hook:
        def hook(_module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
            self._sink.features[name] = _keep(inputs[0])

        return hook

    def remove_hooks(self) -> None:
        handles, self._handles = self._handles, []
        for handle in handles:
            handle.remove()

    def __exit__(self, *exc_info: object) -> None:
        # Returning None lets any exception from the forward pass propagate.
        self.remove_hooks()
