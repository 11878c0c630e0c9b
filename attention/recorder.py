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
each gets only its own maps; a pass with no recording open costs one
dictionary lookup per layer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from .channel import CBAMChannelGate, SqueezeExcite
from .eca import ECA, ChannelWeights
from .spatial import SpatialAttention, SpatialMask


def keep(tensor: torch.Tensor) -> torch.Tensor:
    """Detached CPU copy, so records never pin the autograd graph or device memory.

    A copy also means a later in-place operation in the model cannot change
    what was recorded. ``clone`` is the cheapest copy for a CPU tensor.
    """
    if tensor.requires_grad:
        tensor = tensor.detach()
    return tensor.clone() if tensor.is_cpu else tensor.to("cpu")


def keep_together(
    tensors: Sequence[torch.Tensor | None], dim: int = 0, drop_axis: bool = False
) -> list[torch.Tensor | None]:
    """Like ``keep`` for several same-shaped tensors, with ONE copy: ``None`` entries stay None.

    The copies are stacked along a new axis ``dim``; with ``drop_axis`` they
    are concatenated along their existing axis ``dim`` (of size 1), which the
    results then lack: (B, 1, H, W) masks come back as (B, H, W).

    At batch size 1 a layer's tensors hold a few hundred numbers, so copying
    them costs the per-operation overhead, not the bytes: one ``stack`` and one
    ``unbind`` replace a copy per tensor. The results are views of one fresh
    tensor, so together they pin exactly the memory separate copies would.
    """
    present = [tensor for tensor in tensors if tensor is not None]
    if not present:
        return [None] * len(tensors)
    join = torch.cat if drop_axis else torch.stack
    joined = join([t.detach() if t.requires_grad else t for t in present], dim)
    copies = iter((joined if joined.is_cpu else joined.to("cpu")).unbind(dim))
    return [None if tensor is None else next(copies) for tensor in tensors]


@overload
def own(tensor: torch.Tensor) -> torch.Tensor: ...
@overload
def own(tensor: None) -> None: ...
def own(tensor: torch.Tensor | None) -> torch.Tensor | None:
    """Detached CPU tensor for a value only the recorder holds: no copy on the CPU.

    For the tensors a layer creates during the pass and hands only to its tap
    (this project's channel weights, branch parts, masks and logits), what a
    copy protects against cannot happen: nothing else in the model or the
    caller holds them, so nothing can change them in place, and the record
    pins exactly the memory a copy would. Leaving out the copy cut what
    recording cost at batch size 1 by about a quarter to a third. A tensor on another device is still
    copied to the CPU, so records never pin device memory. Use ``keep`` for
    anything the model still uses after the hook (feature maps, outputs).
    """
    if tensor is None:
        return None
    if tensor.requires_grad:
        tensor = tensor.detach()
    return tensor if tensor.is_cpu else tensor.to("cpu")


@dataclass(slots=True)
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


@dataclass(slots=True)
class SpatialRecord:
    """Mask of one spatial-attention layer, for a whole batch."""

    name: str
    mask: torch.Tensor  # (B, H, W)
    kernel_size: int | None = None
    type: str = "spatial"
    logits: torch.Tensor | None = None  # (B, H, W) before the gate

    @property
    def size(self) -> tuple[int, int]:
        return int(self.mask.shape[1]), int(self.mask.shape[2])


LayerRecord = ChannelRecord | SpatialRecord


@dataclass(frozen=True)
class Adapter:
    """How the recorder reads one attention module type.

    Args:
        hook_point: the submodule whose forward hook sees the values (for this
            project's modules, their tap; for a foreign module, often itself).
        make_record: builds the LayerRecord from that hook's
            ``(name, module, inputs, output)``. Tensors the model may still
            use or change must be copied with ``keep`` (or, several at once,
            ``keep_together``); tensors the layer made only for its hook
            point, as this project's modules do for their taps, may be taken
            with ``own``, which copies nothing on the CPU.
        feature_map: the layer's input feature map (B, C, H, W) from the same
            hook arguments, or None when the type cannot provide it.
        defer: build the record when the recording's ``records`` are first
            read, instead of inside the hook; ``make_record`` then gets
            ``inputs=()``, so the recorder never keeps a layer's inputs alive.
            The hook then only notes the output: code run between two layers
            of a pass runs with cold caches, and a pass whose records nobody
            reads pays for no records. Only for types whose hooked output is
            a fresh value that nothing but the hook point ever sees, so
            nothing can change it in place, during the pass or after it:
            true of this project's modules, which make their weights for
            their tap and multiply them out of place. Leave it False for a
            foreign type unless that holds.
    """

    hook_point: Callable[[nn.Module], nn.Module]
    make_record: Callable[[str, nn.Module, tuple[Any, ...], Any], LayerRecord]
    feature_map: Callable[[tuple[Any, ...], Any], torch.Tensor | None] | None = None
    defer: bool = False


def _tap_source(inputs: tuple[Any, ...], _output: Any) -> torch.Tensor | None:
    """Taps receive (value, source): the source is the tensor the module attends over."""
    return inputs[1] if len(inputs) > 1 else None


def _tapped_channel(type_name: str) -> Adapter:
    def make_record(name: str, module: nn.Module, _inputs: tuple[Any, ...], output: ChannelWeights) -> LayerRecord:
        return ChannelRecord(
            name=name,
            type=type_name,
            weights=own(output.weights),
            avg=own(output.avg),
            max=own(output.max),
            kernel_size=getattr(module, "kernel_size", None),
        )

    return Adapter(lambda module: module.weights_tap, make_record, _tap_source, defer=True)


def _spatial_record(name: str, module: nn.Module, _inputs: tuple[Any, ...], output: SpatialMask) -> LayerRecord:
    # (B, 1, H, W) -> (B, H, W): a view, still no copy.
    mask, logits = own(output.mask).squeeze(1), own(output.logits).squeeze(1)
    return SpatialRecord(name=name, mask=mask, kernel_size=module.kernel_size, logits=logits)


# Checked in order; types registered later by users come first.
_REGISTRY: list[tuple[type[nn.Module], Adapter]] = [
    (ECA, _tapped_channel("eca")),
    (CBAMChannelGate, _tapped_channel("cbam_channel")),
    (SqueezeExcite, _tapped_channel("se")),
    (SpatialAttention, Adapter(lambda module: module.mask_tap, _spatial_record, _tap_source, defer=True)),
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


def attention_layers(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """(qualified name, module) of every attention module the recorder knows."""
    for name, module, _adapter in find_attention_layers(model):
        yield name, module


AttentionLayers = list[tuple[str, nn.Module, Adapter]]


def find_attention_layers(model: nn.Module) -> AttentionLayers:
    """Every recordable layer with its adapter, in registration (forward) order.

    Walking a model's modules costs about as much as the hooks themselves on
    a small network, so code that builds many recorders for the same model
    computes this once and passes it to each AttentionRecorder.
    """
    known = tuple(module_type for module_type, _ in _REGISTRY)  # one isinstance for most modules
    return [
        (name, module, adapter)
        for name, module in model.named_modules()
        if isinstance(module, known) and (adapter := find_adapter(module))
    ]


def _as_names(layers: str | Sequence[str] | None) -> tuple[str, ...]:
    if layers is None:
        return ()
    return (layers,) if isinstance(layers, str) else tuple(layers)


# A hooked layer's output waiting to become a record, in forward order: (make_record,
# name, module, output) for a deferred adapter, (None, None, None, record) otherwise.
_Pending = tuple[Callable[..., LayerRecord] | None, str | None, nn.Module | None, Any]


class Recording:
    """What one thread records between opening and closing a recording.

    ``AttentionRecorder.recording()`` returns one; ``with`` opens it for the
    calling thread. Records of deferred adapters are built when ``records`` is
    first read, inside the block or after it. A plain class with slots rather
    than a generator-based context manager: opening and closing one is part
    of every recorded pass.
    """

    __slots__ = ("feature_layers", "features", "_records", "_pending", "_active", "_thread")

    def __init__(self, feature_layers: tuple[str, ...] = (), active: dict[int, Recording] | None = None) -> None:
        self.feature_layers = feature_layers
        self.features: dict[str, torch.Tensor] = {}
        self._records: list[LayerRecord] = []
        self._pending: list[_Pending] = []
        self._active = active  # the recorder's open recordings by thread, or None when the recorder manages it
        self._thread: int | None = None

    @property
    def records(self) -> list[LayerRecord]:
        """Records in forward order (a layer called twice appears twice)."""
        if self._pending:
            self.flush()
        return self._records

    def flush(self) -> None:
        """Build the records still waiting, in forward order."""
        pending, self._pending = self._pending, []
        append = self._records.append
        for make_record, name, module, output in pending:
            append(output if make_record is None else make_record(name, module, (), output))

    def clear(self) -> None:
        self._pending.clear()
        self._records.clear()
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
        get_ident = threading.get_ident
        make_record = adapter.make_record
        feature_map = adapter.feature_map
        defer = adapter.defer

        def hook(_hooked: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            recording = active.get(get_ident())
            if recording is None:
                return
            if defer:
                recording._pending.append((make_record, name, module, output))
            else:
                recording._pending.append((None, None, None, make_record(name, module, inputs, output)))
            if feature_map is not None and name in recording.feature_layers:
                features = feature_map(inputs, output)
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
