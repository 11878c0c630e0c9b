"""Record what every attention module computed during an inference.

One pass::

    with AttentionRecorder(model) as recorder:
        logits = model(batch)
    for record in recorder.records:   # forward order
        ...

Many passes, hooks registered once (what the Analyzer behind the app does,
because registering and removing hooks on every call costs more than the
recording itself on a small network)::

    recorder = AttentionRecorder(model)
    recorder.attach()
    try:
        with recorder.recording(feature_layers=["stages.0.0.attention.channel"]) as recording:
            model(batch)
        recording.records, recording.features
    finally:
        recorder.detach()

The recorder only adds forward hooks: it never changes the model's mode,
parameters or output, and ``with`` removes its hooks on exit even when the
forward pass raises. A hook records only for a thread that has a recording
open, so two threads can record the same model object at the same time and
each gets only its own maps.

The copy rule: every tensor a record holds is a detached CPU copy made inside
the hook, by ``cpu_copy``. Records are therefore built in the hook, in forward
order, and nothing the model or the caller does later can change them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from .discovery import discover_attention
from .foreign import register_foreign_types, with_outer_gain
from .records import (
    ATTENTION_MEANS,
    CHANNEL,
    SPATIAL,
    TOKEN,
    Adapter,
    ChannelRecord,
    LayerRecord,
    SpatialRecord,
    TokenRecord,
    check_attention_level,
    cpu_copy,
)
from .registry import find_adapter, register_attention_type, registered_attention_type

__all__ = [
    "CHANNEL",
    "SPATIAL",
    "Adapter",
    "AttentionLayers",
    "AttentionRecorder",
    "ChannelRecord",
    "LayerRecord",
    "Recording",
    "SpatialRecord",
    "TOKEN",
    "TokenRecord",
    "attention_layers",
    "find_adapter",
    "find_attention_layers",
    "cpu_copy",
    "register_attention_type",
    "registered_attention_type",
]


AttentionLayers = list[tuple[str, nn.Module, Adapter]]


def find_attention_layers(model: nn.Module, input_size: tuple[int, int, int] | None = None) -> AttentionLayers:
    """Every recordable layer with its adapter, in forward (``named_modules()``) order.

    Registered types come first (timm's and torchvision's join when their
    library is imported); then ``discover_attention`` finds modules nobody
    registered that scale their input by a gate computed from it. It runs one
    probe pass, at ``input_size`` (C, H, W) when given, and caches its answer
    per model. Code that builds many recorders for one model computes this
    once and passes it to each.
    """
    register_foreign_types()
    layers = [
        (name, module, with_outer_gain(model, name, adapter))
        for name, module in model.named_modules()
        if (adapter := find_adapter(module))
    ]
    discovered = discover_attention(model, {id(module) for _, module, _ in layers}, input_size)
    if discovered:
        position = {id(module): index for index, (_, module) in enumerate(model.named_modules())}
        layers = sorted(layers + discovered, key=lambda layer: position[id(layer[1])])
    return layers


def attention_layers(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """(qualified name, module) of every attention module the recorder knows."""
    for name, module, _adapter in find_attention_layers(model):
        yield name, module


def _as_names(layers: str | Sequence[str] | None) -> tuple[str, ...]:
    if layers is None:
        return ()
    return (layers,) if isinstance(layers, str) else tuple(layers)


class Recording:
    """What one thread records between opening and closing a recording.

    ``AttentionRecorder.recording()`` returns one; ``with`` opens it for the
    calling thread and closes it on exit, also when the forward pass raised,
    so the thread can record again.
    """

    __slots__ = ("attention", "feature_layers", "features", "records", "_active", "_thread")

    def __init__(
        self,
        feature_layers: tuple[str, ...] = (),
        active: dict[int, Recording] | None = None,
        attention: str = ATTENTION_MEANS,
    ) -> None:
        self.feature_layers = feature_layers
        self.attention = check_attention_level(attention)  # how much of each self-attention layer to keep
        self.features: dict[str, torch.Tensor] = {}
        self.records: list[LayerRecord] = []  # forward order; a layer called twice appears twice
        self._active = active  # the recorder's open recordings by thread, or None when the recorder manages it
        self._thread: int | None = None

    def clear(self) -> None:
        self.records.clear()
        self.features.clear()

    def __enter__(self) -> Recording:
        if self._active is None:
            raise RuntimeError("open a recording with AttentionRecorder.recording()")
        if self._thread is not None:
            raise RuntimeError("this recording is already open")
        thread = threading.get_ident()
        if thread in self._active:
            raise RuntimeError("this thread already has a recording open on this recorder")
        self._active[thread] = self
        self._thread = thread
        return self

    def __exit__(self, *exc_info: object) -> None:
        # Returning None lets any exception from the forward pass propagate.
        assert self._active is not None
        self._active.pop(self._thread, None)
        self._thread = None


class AttentionRecorder:
    """Forward hooks on every attention module in ``model``.

    As a context manager it records one thread's passes (see the module
    docstring); ``attach``, ``recording`` and ``detach`` let a long-lived owner
    keep the hooks and open one recording per pass, from any thread.

    Args:
        model: any module containing registered attention modules.
        feature_layer: qualified name of an attention layer (or a sequence of
            names) whose input feature map (B, C, H, W) the ``with`` form keeps
            too, for showing the feature maps of its most-weighted channels.
        layers: the result of ``find_attention_layers(model)``, when the caller
            has it already.
        attention: how much of each self-attention layer the ``with`` form
            keeps: ``rows``, ``means`` (what the views need) or ``full``.
    """

    def __init__(
        self,
        model: nn.Module,
        feature_layer: str | Sequence[str] | None = None,
        layers: AttentionLayers | None = None,
        attention: str = ATTENTION_MEANS,
    ) -> None:
        self.attention = check_attention_level(attention)
        self.model = model
        self._layers = layers if layers is not None else find_attention_layers(model)
        self.layer_names = [name for name, _, _ in self._layers]
        self.feature_layers = self._check_feature_layers(feature_layer)
        self._handles: list[RemovableHandle] = []
        self._attached = False  # not len(_handles): a model without attention layers attaches no hooks
        self._active: dict[int, Recording] = {}
        self._own_recording: Recording | None = None

    def _check_feature_layers(self, feature_layer: str | Sequence[str] | None) -> tuple[str, ...]:
        names = _as_names(feature_layer)
        for name in names:
            if name not in self.layer_names:
                raise ValueError(
                    f"feature_layer {name!r} is not an attention layer of this model; choose one of {self.layer_names}"
                )
            if self._layers[self.layer_names.index(name)][2].feature_map is None:
                raise ValueError(f"layer {name!r} cannot provide its input feature map")
        return names

    # Hooks ----------------------------------------------------------------------------

    @property
    def attached(self) -> bool:
        return self._attached

    def attach(self) -> None:
        """Register one forward hook per attention layer; they record nothing until a recording opens."""
        if self._attached:
            raise RuntimeError("this AttentionRecorder is already attached")
        self._attached = True
        try:
            for name, module, adapter in self._layers:
                if adapter.install is not None:
                    self._handles.extend(adapter.install(name, module, self._open_recording))
                    continue
                target = adapter.hook_point(module)
                self._handles.append(target.register_forward_hook(self._make_hook(name, module, adapter)))
                if adapter.feature_point is not None and adapter.feature_map is not None:
                    source = adapter.feature_point(module)
                    self._handles.append(source.register_forward_hook(self._make_feature_hook(name, adapter)))
        except BaseException:
            self.detach()
            raise

    def detach(self) -> None:
        """Remove every hook this recorder registered (safe to call twice)."""
        handles, self._handles = self._handles, []
        self._attached = False
        for handle in handles:
            handle.remove()

    def _open_recording(self) -> Recording | None:
        return self._active.get(threading.get_ident())

    def _make_hook(self, name: str, module: nn.Module, adapter: Adapter) -> Callable[..., None]:
        active = self._active

        def hook(_hooked: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            recording = active.get(threading.get_ident())
            if recording is None:
                return
            record = adapter.make_record(name, module, inputs, output)  # type: ignore[misc]
            if outer_gain != 1.0:  # the network scales this module's output again: say what multiplied
                record.gain = record.gain * outer_gain  # type: ignore[union-attr]
            recording.records.append(record)
            if own_features and name in recording.feature_layers:
                features = adapter.feature_map(inputs, output)  # type: ignore[misc]
                if features is not None:
                    recording.features[name] = cpu_copy(features)

        own_features = adapter.feature_map is not None and adapter.feature_point is None
        outer_gain = adapter.outer_gain
        return hook

    def _make_feature_hook(self, name: str, adapter: Adapter) -> Callable[..., None]:
        """The feature map of a layer whose record comes from another submodule's hook."""
        active = self._active

        def hook(_hooked: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            recording = active.get(threading.get_ident())
            if recording is None or name not in recording.feature_layers:
                return
            features = adapter.feature_map(inputs, output)  # type: ignore[misc]
            if features is not None:
                recording.features[name] = cpu_copy(features)

        return hook

    # Recordings -----------------------------------------------------------------------

    def recording(
        self, feature_layers: str | Sequence[str] | None = None, attention: str = ATTENTION_MEANS
    ) -> Recording:
        """A recording of the calling thread's passes, for ``with`` (the recorder must be attached)."""
        if not self._attached:
            raise RuntimeError("attach() the recorder before opening a recording")
        return Recording(self._check_feature_layers(feature_layers), self._active, attention)

    @property
    def records(self) -> list[LayerRecord]:
        """Records of the ``with`` block in forward order (a layer called twice appears twice)."""
        return self._own_recording.records if self._own_recording is not None else []

    @property
    def features(self) -> dict[str, torch.Tensor]:
        return self._own_recording.features if self._own_recording is not None else {}

    def clear(self) -> None:
        """Forget what the ``with`` block has recorded so far."""
        if self._own_recording is not None:
            self._own_recording.clear()

    def __enter__(self) -> AttentionRecorder:
        if self._attached:
            raise RuntimeError("this AttentionRecorder is already active")
        self._own_recording = Recording(self.feature_layers, attention=self.attention)
        self.attach()
        self._active[threading.get_ident()] = self._own_recording
        return self

    def __exit__(self, *exc_info: object) -> None:
        # Returning None lets any exception from the forward pass propagate.
        self._active.pop(threading.get_ident(), None)
        self.detach()
