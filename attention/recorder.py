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
the hook, by ``keep``. Records are therefore built in the hook, in forward
order, and nothing the model or the caller does later can change them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from .channel import CBAMChannelGate, SqueezeExcite
from .eca import ECA, ChannelWeights
from .spatial import SpatialAttention, SpatialMask

CHANNEL = "channel"
SPATIAL = "spatial"


def keep(tensor: torch.Tensor) -> torch.Tensor:
    """Detached CPU copy: a record never pins the autograd graph or device memory, nor shares the model's memory."""
    return tensor.detach().to("cpu", copy=True)


@dataclass(slots=True)
class ChannelRecord:
    """Channel weights of one channel-attention layer, for a whole batch."""

    kind: ClassVar[str] = CHANNEL
    name: str
    type: str  # "eca", "se", "cbam_channel", or "channel" for an unknown channel gate
    weights: torch.Tensor  # (B, C) the gate values the module multiplied by
    avg: torch.Tensor | None = None  # (B, C) before the gate
    max: torch.Tensor | None = None  # (B, C) before the gate
    kernel_size: int | None = None

    @property
    def channels(self) -> int:
        return int(self.weights.shape[1])


@dataclass(slots=True)
class SpatialRecord:
    """Mask of one spatial-attention layer, for a whole batch."""

    kind: ClassVar[str] = SPATIAL
    name: str
    mask: torch.Tensor  # (B, H, W)
    kernel_size: int | None = None
    type: str = "spatial"
    logits: torch.Tensor | None = None  # (B, H, W) before the gate, when known

    @property
    def size(self) -> tuple[int, int]:
        return int(self.mask.shape[1]), int(self.mask.shape[2])


LayerRecord = ChannelRecord | SpatialRecord


def _identity(module: nn.Module) -> nn.Module:
    return module


@dataclass(frozen=True)
class Adapter:
    """How the recorder reads one attention module type.

    Args:
        kind: CHANNEL or SPATIAL, the kind of record ``make_record`` makes; the
            Analyzer files the layer by it.
        make_record: builds the record from the hook's ``(layer name, attention
            module, inputs of the hook point, output of the hook point)``; it
            runs inside the hook and must copy every tensor it keeps with ``keep``.
        hook_point: the submodule whose forward hook sees the values (this
            project's modules: their tap; a foreign module: often itself).
        feature_map: the layer's input feature map (B, C, H, W) from the same
            hook arguments, or None when the type cannot provide it.
    """

    kind: str
    make_record: Callable[[str, nn.Module, tuple[Any, ...], Any], LayerRecord]
    hook_point: Callable[[nn.Module], nn.Module] = _identity
    feature_map: Callable[[tuple[Any, ...], Any], torch.Tensor | None] | None = None

    def __post_init__(self) -> None:
        if self.kind not in (CHANNEL, SPATIAL):
            raise ValueError(f"Adapter.kind must be {CHANNEL!r} or {SPATIAL!r}, got {self.kind!r}")


def _optional(tensor: torch.Tensor | None) -> torch.Tensor | None:
    return None if tensor is None else keep(tensor)


def _tap_source(inputs: tuple[Any, ...], _output: Any) -> torch.Tensor | None:
    """Taps receive (value, source): the source is the tensor the module attends over."""
    return inputs[1] if len(inputs) > 1 else None


def _tapped_channel(type_name: str) -> Adapter:
    def make_record(name: str, module: nn.Module, _inputs: tuple[Any, ...], output: ChannelWeights) -> LayerRecord:
        return ChannelRecord(
            name=name,
            type=type_name,
            weights=keep(output.weights),
            avg=_optional(output.avg),
            max=_optional(output.max),
            kernel_size=getattr(module, "kernel_size", None),
        )

    return Adapter(CHANNEL, make_record, lambda module: module.weights_tap, _tap_source)


def _spatial_record(name: str, module: nn.Module, _inputs: tuple[Any, ...], output: SpatialMask) -> LayerRecord:
    # (B, 1, H, W) -> (B, H, W)
    return SpatialRecord(
        name=name, mask=keep(output.mask[:, 0]), kernel_size=module.kernel_size, logits=keep(output.logits[:, 0])
    )


# Checked in order; types registered later by users come first.
_REGISTRY: list[tuple[type[nn.Module], Adapter]] = [
    (ECA, _tapped_channel("eca")),
    (CBAMChannelGate, _tapped_channel("cbam_channel")),
    (SqueezeExcite, _tapped_channel("se")),
    (SpatialAttention, Adapter(SPATIAL, _spatial_record, lambda module: module.mask_tap, _tap_source)),
]


def register_attention_type(module_type: type[nn.Module], adapter: Adapter) -> None:
    """Teach the recorder a new attention module type (for example timm's EcaModule)."""
    if not isinstance(adapter, Adapter):
        raise TypeError(f"adapter must be an attention.recorder.Adapter, got {type(adapter).__name__}")
    _REGISTRY.insert(0, (module_type, adapter))


def find_adapter(module: nn.Module) -> Adapter | None:
    for module_type, adapter in _REGISTRY:
        if isinstance(module, module_type):
            return adapter
    return None


AttentionLayers = list[tuple[str, nn.Module, Adapter]]


def _discovered(model: nn.Module, known_ids: set[int]) -> AttentionLayers:
    """Attention layers of types nobody registered, found from the model's structure.

    THE place where ``attention.discovery.discover_attention(model, known_ids)``
    plugs in (the lead wires it at merge); until then no layer is discovered.
    """
    return []


def find_attention_layers(model: nn.Module) -> AttentionLayers:
    """Every recordable layer with its adapter, in registration (forward) order.

    Registered types come first; layers discovered from the model's structure
    are merged in, in ``named_modules()`` order. Code that builds many
    recorders for one model computes this once and passes it to each.
    """
    layers = [(name, module, adapter) for name, module in model.named_modules() if (adapter := find_adapter(module))]
    discovered = _discovered(model, {id(module) for _, module, _ in layers})
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

    __slots__ = ("feature_layers", "features", "records", "_active", "_thread")

    def __init__(self, feature_layers: tuple[str, ...] = (), active: dict[int, Recording] | None = None) -> None:
        self.feature_layers = feature_layers
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
    """

    def __init__(
        self,
        model: nn.Module,
        feature_layer: str | Sequence[str] | None = None,
        layers: AttentionLayers | None = None,
    ) -> None:
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
                target = adapter.hook_point(module)
                self._handles.append(target.register_forward_hook(self._make_hook(name, module, adapter)))
        except BaseException:
            self.detach()
            raise

    def detach(self) -> None:
        """Remove every hook this recorder registered (safe to call twice)."""
        handles, self._handles = self._handles, []
        self._attached = False
        for handle in handles:
            handle.remove()

    def _make_hook(self, name: str, module: nn.Module, adapter: Adapter) -> Callable[..., None]:
        active = self._active

        def hook(_hooked: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            recording = active.get(threading.get_ident())
            if recording is None:
                return
            recording.records.append(adapter.make_record(name, module, inputs, output))
            if adapter.feature_map is not None and name in recording.feature_layers:
                features = adapter.feature_map(inputs, output)
                if features is not None:
                    recording.features[name] = keep(features)

        return hook

    # Recordings -----------------------------------------------------------------------

    def recording(self, feature_layers: str | Sequence[str] | None = None) -> Recording:
        """A recording of the calling thread's passes, for ``with`` (the recorder must be attached)."""
        if not self._attached:
            raise RuntimeError("attach() the recorder before opening a recording")
        return Recording(self._check_feature_layers(feature_layers), self._active)

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
        self._own_recording = Recording(self.feature_layers)
        self.attach()
        self._active[threading.get_ident()] = self._own_recording
        return self

    def __exit__(self, *exc_info: object) -> None:
        # Returning None lets any exception from the forward pass propagate.
        self._active.pop(threading.get_ident(), None)
        self.detach()
