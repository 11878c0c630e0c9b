"""Adapters for attention modules other libraries define: timm and torchvision.

Users bring networks built from timm's ``EcaModule``/``SEModule``/``CbamModule``
or torchvision's ``SqueezeExcitation``; this module teaches the recorder those
types, so their gates are recorded without any code from the user.

How a gate is read. Every adapter hooks the attention module itself, because
only that hook also sees the input feature map the app's feature panel needs.
The module's output is its input times the gate, so the gate is read back as
``output / input`` at one element per channel (or per pixel) whose input is a
normal, nonzero number: one float32 multiply and one divide, so the value is
within two units in the last place (about 2.4e-7 relative) of the gate the
module multiplied by, and reading it costs a few small indexing operations
instead of recomputing the module. Where a slice of the input is all zeros the
gate had no effect and cannot be read back; known types then recompute it
with the module's own submodules in the module's own order, which repeats the
same operations on the same tensor. Branch parts (CBAM's separate avg and max
MLP outputs) and spatial logits exist only inside the module's forward, so
they are recomputed the same way.

Registration reads only libraries already imported (``sys.modules``): a model
built with timm has imported timm, and ``attention`` never imports timm or
torchvision itself, so it works without them. ``register_foreign_types()`` is
cheap and idempotent; call it before looking for attention layers.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .records import (
    BRANCH,
    CHANNEL,
    ELEMENT,
    SPATIAL,
    Adapter,
    BranchRecord,
    ChannelRecord,
    ElementRecord,
    LayerRecord,
    OpenRecording,
    SpatialRecord,
    cpu_copy,
    module_itself,
)
from .registry import register_attention_type
from .tokens import multihead_adapter, timm_attention_adapter

log = logging.getLogger(__name__)

MakeRecord = Callable[[str, nn.Module, tuple[Any, ...], Any], LayerRecord]


def input_feature_map(inputs: tuple[Any, ...], _output: Any) -> torch.Tensor | None:
    """The module's first positional input, when it is a (B, C, H, W) map."""
    if inputs and isinstance(inputs[0], torch.Tensor) and inputs[0].dim() == 4:
        return inputs[0]
    return None


def make_adapter(
    kind: str,
    make_record: MakeRecord,
    hook_point: Callable[[nn.Module], nn.Module] = module_itself,
    feature_map: Callable[[tuple[Any, ...], Any], torch.Tensor | None] | None = input_feature_map,
    feature_point: Callable[[nn.Module], nn.Module] | None = None,
) -> Adapter:
    """An Adapter that hooks the module itself (by default) and takes its first input as the feature map."""
    return Adapter(
        kind=kind, make_record=make_record, hook_point=hook_point, feature_map=feature_map, feature_point=feature_point
    )


def _gate_output(type_name: str, gate: str, kernel: Callable[[nn.Module], int | None] | None = None) -> Adapter:
    """For a type whose gate is an activation child (``module.gate``): its output IS the gate, taken as is.

    Reading the gate where it is made is exact and costs one copy, where
    reading it back from the module's output costs a dozen small operations
    per layer; the module's own hook then only supplies the feature map.
    """

    def make_record(name: str, module: nn.Module, _inputs: tuple[Any, ...], output: Any) -> LayerRecord:
        weights = cpu_copy(output.reshape(output.shape[0], -1))
        return ChannelRecord(name=name, type=type_name, weights=weights, kernel_size=kernel(module) if kernel else None)

    return make_adapter(
        CHANNEL, make_record, hook_point=lambda module: getattr(module, gate), feature_point=module_itself
    )


# Reading a gate back from input and output ---------------------------------------------------


def readable(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Where ``y / x`` gives the gate to within rounding: x normal and nonzero, y zero or normal."""
    tiny = torch.finfo(x.dtype).tiny
    return (x.abs() >= tiny) & ((y == 0) | (y.abs() >= tiny))


def _ratio(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    dtype = torch.promote_types(x.dtype, torch.float32)
    return y.to(dtype) / x.to(dtype)


def gate_from_ratio(
    x: torch.Tensor, y: torch.Tensor, spatial: bool, search: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """The factor in ``y = x * gate``, for a gate constant over H and W (channel) or over C (spatial).

    A spatial mask (B, H, W) is read at channel 0, a channel gate (B, C) at
    pixel (0, 0). Entries whose element there
    is zero are read at the slice's largest input instead. Returns the gate
    and a bool tensor of the entries that could not be read (their whole
    input slice is zero, so the gate had no effect on the output): those are NaN.
    """
    if spatial:
        x0, y0 = x[:, 0], y[:, 0]
    else:
        x0, y0 = x[:, :, 0, 0], y[:, :, 0, 0]
    gate = _ratio(x0, y0)
    bad = ~readable(x0, y0)
    if not search or not bool(bad.any()):
        return gate, bad
    index = bad.nonzero(as_tuple=True)
    if spatial:
        xs = x.movedim(1, -1)[index]  # (N, C)
        ys = y.movedim(1, -1)[index]
    else:
        xs = x[index].flatten(1)  # (N, H*W)
        ys = y[index].flatten(1)
    where = xs.abs().argmax(dim=1, keepdim=True)
    xi, yi = xs.gather(1, where).squeeze(1), ys.gather(1, where).squeeze(1)
    ok = readable(xi, yi)
    gate[index] = torch.where(ok, _ratio(xi, yi), torch.full_like(gate[index], float("nan")))
    bad = torch.zeros_like(bad)
    bad[index] = ~ok
    return gate, bad


def channel_gate(x: torch.Tensor, y: torch.Tensor, search: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C) gate of ``y = x * gate[:, :, None, None]`` and the entries that could not be read."""
    return gate_from_ratio(x, y, spatial=False, search=search)


def spatial_mask(x: torch.Tensor, y: torch.Tensor, search: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, H, W) mask of ``y = x * mask[:, None]`` and the entries that could not be read."""
    return gate_from_ratio(x, y, spatial=True, search=search)


def _fill(gate: torch.Tensor, bad: torch.Tensor, recompute: Callable[[], torch.Tensor]) -> torch.Tensor:
    """Replace unreadable entries by the module's own recomputed gate."""
    if bool(bad.any()):
        with torch.no_grad():
            exact = recompute().to(gate.dtype).reshape(gate.shape)
        gate = torch.where(bad, exact, gate)
    return gate


def _kernel(conv: nn.Module) -> int | None:
    size = getattr(conv, "kernel_size", None)
    return int(size[0]) if isinstance(size, tuple) else size


# timm ---------------------------------------------------------------------------------------


def _timm_eca_kernel(module: nn.Module) -> int | None:
    return _kernel(module.conv2 if getattr(module, "conv2", None) is not None else module.conv)


def _timm_cbam_channel_record(name: str, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> LayerRecord:
    # timm's ChannelAttn runs the shared MLP on each pooling separately; repeat exactly its operations.
    x = inputs[0]
    with torch.no_grad():
        avg = module.fc2(module.act(module.fc1(x.mean((2, 3), keepdim=True))))
        max_ = module.fc2(module.act(module.fc1(x.amax((2, 3), keepdim=True))))
        weights = module.gate(avg + max_)
    flat = [t.flatten(1) for t in (weights, avg, max_)]
    return ChannelRecord(
        name=name, type="cbam_channel", weights=cpu_copy(flat[0]), avg=cpu_copy(flat[1]), max=cpu_copy(flat[2])
    )


def _timm_light_channel_record(name: str, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> LayerRecord:
    x = inputs[0]
    weights, bad = channel_gate(x, output, search=False)

    def recompute() -> torch.Tensor:
        pooled = 0.5 * x.mean((2, 3), keepdim=True) + 0.5 * x.amax((2, 3), keepdim=True)
        return torch.sigmoid(module.fc2(module.act(module.fc1(pooled))))

    return ChannelRecord(name=name, type="cbam_channel", weights=cpu_copy(_fill(weights, bad, recompute)))


def _timm_spatial_record(name: str, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> LayerRecord:
    # The logits exist only inside forward: repeat exactly its operations (SpatialAttn or LightSpatialAttn).
    x = inputs[0]
    with torch.no_grad():
        if type(module).__name__ == "LightSpatialAttn":
            pooled = 0.5 * x.mean(dim=1, keepdim=True) + 0.5 * x.amax(dim=1, keepdim=True)
        else:
            pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        logits = module.conv(pooled)
        mask = module.gate(logits)
    return SpatialRecord(
        name=name, mask=cpu_copy(mask[:, 0]), kernel_size=_kernel(module.conv.conv), logits=cpu_copy(logits[:, 0])
    )


# Gates over channels and pixels at once, and weights over branches (timm) ----------------------


def element_record(name: str, type_name: str, gate: torch.Tensor, offset: float = 0.0) -> ElementRecord:
    """The record of a (B, C, H, W) gate: its mean over channels and its mean over pixels."""
    gate = gate.detach().float()
    return ElementRecord(
        name=name, type=type_name, map=cpu_copy(gate.mean(1)), per_channel=cpu_copy(gate.mean((2, 3))), offset=offset
    )


def _skip(module: nn.Module) -> float:
    """1 when the module adds its input back (``has_skip``): the features are then scaled by 1 + gate."""
    return 1.0 if getattr(module, "has_skip", False) else 0.0


def _whole_gate(type_name: str) -> Adapter:
    """A type whose gate child makes the whole (B, C, H, W) gate in one call (SimpleCoordAttn, StripAttn)."""

    def make_record(name: str, module: nn.Module, _inputs: tuple[Any, ...], output: Any) -> LayerRecord:
        return element_record(name, type_name, output.expand(-1, -1, *output.shape[2:]), _skip(module))

    return make_adapter(ELEMENT, make_record, hook_point=lambda module: module.gate, feature_point=module_itself)


def _rows_and_columns(type_name: str) -> Adapter:
    """A type whose gate child runs twice, on a per-row then a per-column input (CoordAttn, EfficientLocalAttn).

    The two gates are copied where they are made, in the gate's hook, and
    joined into one record when the module returns: their product is the
    factor each element was scaled by.
    """

    def install(name: str, module: nn.Module, open_recording: Callable[[], OpenRecording | None]) -> list[Any]:
        made: dict[int, list[torch.Tensor]] = {}  # by thread: the gates of the module call under way

        def gate_hook(_gate: nn.Module, _inputs: tuple[Any, ...], output: Any) -> None:
            if open_recording() is not None:
                made.setdefault(threading.get_ident(), []).append(cpu_copy(output))

        def module_hook(_module: nn.Module, inputs: tuple[Any, ...], _output: Any) -> None:
            gates = made.pop(threading.get_ident(), [])
            recording = open_recording()
            if recording is None:
                return
            if name in recording.feature_layers and (features := input_feature_map(inputs, None)) is not None:
                recording.features[name] = cpu_copy(features)
            rows = next((g for g in gates if g.shape[3] == 1 and g.shape[2] > 1), None)
            columns = next((g for g in gates if g.shape[2] == 1 and g.shape[3] > 1), None)
            if rows is None or columns is None or len(gates) != 2:
                raise RuntimeError(f"{name}: expected a per-row and a per-column gate, saw {len(gates)} gate calls")
            record = element_record(name, type_name, rows * columns, _skip(module))
            record.rows, record.columns = rows[..., 0].float(), columns[:, :, 0].float()
            recording.records.append(record)

        return [module.gate.register_forward_hook(gate_hook), module.register_forward_hook(module_hook)]

    return Adapter(ELEMENT, None, feature_map=input_feature_map, install=install)


def _kernel_branches(module: nn.Module) -> tuple[str, ...]:
    """What each path of a SelectiveKernel convolves with: "3x3", "3x3 dilated 2", ..."""
    labels = []
    for path in module.paths:
        conv = getattr(path, "conv", path)
        size, dilation = getattr(conv, "kernel_size", (0,)), getattr(conv, "dilation", (1,))
        label = f"{size[0]}x{size[-1]} conv"
        labels.append(label + (f" dilated {dilation[0]}" if dilation[0] > 1 else ""))
    return tuple(labels)


def _branch_adapter(point: str, make_record: MakeRecord) -> Adapter:
    """Weights over branches, read and switched off at the softmax child ``point`` that makes them."""
    return Adapter(
        BRANCH,
        make_record,
        hook_point=lambda module: getattr(module, point),
        feature_map=input_feature_map,
        feature_point=module_itself,
        ablate_point=lambda module: getattr(module, point),
    )


def _selective_kernel() -> Adapter:
    def make_record(name: str, module: nn.Module, _inputs: tuple[Any, ...], output: Any) -> LayerRecord:
        weights = output.reshape(output.shape[0], output.shape[1], -1)  # (B, P, C, 1, 1) -> (B, P, C)
        return BranchRecord(name, "selective_kernel", cpu_copy(weights), _kernel_branches(module))

    return _branch_adapter("attn", make_record)


def _split_attention() -> Adapter:
    """ResNeSt's split attention: a softmax over its radix splits per channel (a sigmoid gate with one split)."""

    def make_record(name: str, module: nn.Module, _inputs: tuple[Any, ...], output: Any) -> LayerRecord:
        radix = int(module.radix)
        # The softmax's output is split-major: (B, radix * C) is radix blocks of C channels.
        weights = output.reshape(output.shape[0], radix, -1)
        labels = tuple(f"split {index + 1}" for index in range(radix))
        return BranchRecord(name, "split_attention", cpu_copy(weights), labels)

    return _branch_adapter("rsoftmax", make_record)


def with_outer_gain(model: nn.Module, name: str, adapter: Adapter) -> Adapter:
    """``adapter`` with the gain the block around the module multiplies its output by, when there is one.

    timm's normaliser-free blocks (NF-ResNet, NFNet, ECA-NFNet) compute
    ``attn_gain * attn(x)``: the features are scaled by twice the gate, and
    the record and ablation must say and undo that.
    """
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if name else None
    gain = getattr(parent, "attn_gain", None)
    if child not in ("attn", "attn_last") or not isinstance(gain, (int, float)) or gain == 1 or adapter.install:
        return adapter
    return dataclasses.replace(adapter, outer_gain=float(gain))


# The known types of timm and torchvision ------------------------------------------------------


# (module path, class name, adapter factory), a subclass after its base, because the registry checks
# the types registered last first.
_KNOWN: list[tuple[str, str, Callable[[], Adapter]]] = [
    ("timm.layers.eca", "EcaModule", lambda: _gate_output("eca", "gate", _timm_eca_kernel)),
    ("timm.layers.eca", "CecaModule", lambda: _gate_output("eca", "gate", _timm_eca_kernel)),
    ("timm.layers.squeeze_excite", "SEModule", lambda: _gate_output("se", "gate")),
    ("timm.layers.squeeze_excite", "EffectiveSEModule", lambda: _gate_output("se", "gate")),
    ("timm.layers.squeeze_excite", "SqueezeExcite", lambda: _gate_output("se", "gate")),
    # MobileNetV3's, EfficientNet's and their kin's own SE block.
    ("timm.models._efficientnet_blocks", "SqueezeExcite", lambda: _gate_output("se", "gate")),
    ("timm.layers.cbam", "ChannelAttn", lambda: make_adapter(CHANNEL, _timm_cbam_channel_record)),
    ("timm.layers.cbam", "LightChannelAttn", lambda: make_adapter(CHANNEL, _timm_light_channel_record)),
    ("timm.layers.cbam", "SpatialAttn", lambda: make_adapter(SPATIAL, _timm_spatial_record)),
    ("timm.layers.cbam", "LightSpatialAttn", lambda: make_adapter(SPATIAL, _timm_spatial_record)),
    ("timm.layers.coord_attn", "CoordAttn", lambda: _rows_and_columns("coord")),
    ("timm.layers.coord_attn", "EfficientLocalAttn", lambda: _rows_and_columns("ela")),
    ("timm.layers.coord_attn", "SimpleCoordAttn", lambda: _whole_gate("scoord")),
    ("timm.layers.coord_attn", "StripAttn", lambda: _whole_gate("strip")),
    ("timm.layers.selective_kernel", "SelectiveKernel", _selective_kernel),
    ("timm.layers.split_attn", "SplitAttn", _split_attention),
    ("torchvision.ops.misc", "SqueezeExcitation", lambda: _gate_output("se", "scale_activation")),
    # Self-attention over tokens (ViT, DeiT; torchvision's vit_*).
    ("timm.layers.attention", "Attention", timm_attention_adapter),
    ("torch.nn.modules.activation", "MultiheadAttention", multihead_adapter),
]

_registered: set[tuple[str, str]] = set()


def register_foreign_types() -> int:
    """Register adapters for the known foreign types whose library is imported; returns how many are new.

    Idempotent and cheap (a few dictionary lookups), so ``find_attention_layers``
    can call it every time: a library imported after ``attention`` is picked
    up on the next call.
    """
    added = 0
    for module_path, class_name, adapter in _KNOWN:
        key = (module_path, class_name)
        library = sys.modules.get(module_path)
        if key in _registered or library is None:
            continue
        module_type = getattr(library, class_name, None)
        if not (isinstance(module_type, type) and issubclass(module_type, nn.Module)):
            log.warning("%s.%s is not a module type in this version; not registered", module_path, class_name)
            _registered.add(key)
            continue
        register_attention_type(module_type, adapter())
        _registered.add(key)
        added += 1
    return added
