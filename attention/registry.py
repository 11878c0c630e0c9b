"""Which module types the recorder knows, and the adapters that read them.

This project's modules name their ``record_type`` and hand their gate to a
``Tap`` (``weights_tap`` for a channel gate, ``mask_tap`` for a spatial mask);
the recorder hooks the tap, so a new module of that shape needs no entry here.
Other types join with ``register_attention_type``; they are checked first,
the latest first, so a user's adapter wins over a built-in one.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from .eca import ChannelWeights
from .records import CHANNEL, SPATIAL, Adapter, ChannelRecord, LayerRecord, SpatialRecord, cpu_copy
from .spatial import SpatialMask
from .tap import Tap


def _optional(tensor: torch.Tensor | None) -> torch.Tensor | None:
    return None if tensor is None else cpu_copy(tensor)


def _tap_source(inputs: tuple[Any, ...], _output: Any) -> torch.Tensor | None:
    """Taps receive (value, source): the source is the tensor the module attends over."""
    return inputs[1] if len(inputs) > 1 else None


@functools.cache
def _tapped_channel(type_name: str) -> Adapter:
    def make_record(name: str, module: nn.Module, _inputs: tuple[Any, ...], output: ChannelWeights) -> LayerRecord:
        return ChannelRecord(
            name=name,
            type=type_name,
            weights=cpu_copy(output.weights),
            avg=_optional(output.avg),
            max=_optional(output.max),
            kernel_size=getattr(module, "kernel_size", None),
        )

    return Adapter(CHANNEL, make_record, lambda module: module.weights_tap, _tap_source)


def _spatial_record(name: str, module: nn.Module, _inputs: tuple[Any, ...], output: SpatialMask) -> LayerRecord:
    # (B, 1, H, W) -> (B, H, W)
    return SpatialRecord(
        name=name,
        mask=cpu_copy(output.mask[:, 0]),
        kernel_size=module.kernel_size,
        logits=cpu_copy(output.logits[:, 0]),
    )


_TAPPED_SPATIAL = Adapter(SPATIAL, _spatial_record, lambda module: module.mask_tap, _tap_source)

# Types registered with ``register_attention_type``, checked before the tapped modules, the latest first.
_REGISTRY: list[tuple[type[nn.Module], Adapter]] = []


def _tapped(module: nn.Module) -> Adapter | None:
    """The adapter of this project's own modules, read from their ``record_type`` and their tap."""
    record_type = getattr(module, "record_type", None)
    if not isinstance(record_type, str):
        return None
    if isinstance(getattr(module, "weights_tap", None), Tap):
        return _tapped_channel(record_type)
    if isinstance(getattr(module, "mask_tap", None), Tap):
        return _TAPPED_SPATIAL
    return None


def register_attention_type(module_type: type[nn.Module], adapter: Adapter) -> None:
    """Teach the recorder a new attention module type (for example timm's EcaModule)."""
    if not isinstance(adapter, Adapter):
        raise TypeError(f"adapter must be an attention.recorder.Adapter, got {type(adapter).__name__}")
    _REGISTRY.insert(0, (module_type, adapter))


@contextlib.contextmanager
def registered_attention_type(module_type: type[nn.Module], adapter: Adapter) -> Iterator[None]:
    """``register_attention_type`` for a ``with`` block, so a test or a one-off run leaves the registry as it was.

    The registry is process-wide: other threads see the type while the block runs.
    """
    register_attention_type(module_type, adapter)
    entry = _REGISTRY[0]
    try:
        yield
    finally:
        for index, registered in enumerate(_REGISTRY):
            if registered is entry:
                del _REGISTRY[index]
                break


def find_adapter(module: nn.Module) -> Adapter | None:
    for module_type, adapter in _REGISTRY:
        if isinstance(module, module_type):
            return adapter
    return _tapped(module)
