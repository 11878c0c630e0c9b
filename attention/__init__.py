"""Attention Lens: attention modules, a recorder for their weights, and rendering."""

from .channel import CBAMChannelGate, SqueezeExcite
from .eca import ECA, ChannelWeights, adaptive_kernel_size
from .errors import CheckpointError, ImageInputError, InputError
from .factory import ATTENTION_KINDS, AttentionBlock, create_attention
from .recorder import (
    AttentionRecorder,
    ChannelRecord,
    SpatialRecord,
    attention_layers,
    register_attention_type,
    registered_attention_type,
)
from .spatial import SpatialAttention

__all__ = [
    "ATTENTION_KINDS",
    "AttentionBlock",
    "AttentionRecorder",
    "CBAMChannelGate",
    "ChannelRecord",
    "ChannelWeights",
    "CheckpointError",
    "ECA",
    "ImageInputError",
    "InputError",
    "SpatialAttention",
    "SpatialRecord",
    "SqueezeExcite",
    "adaptive_kernel_size",
    "attention_layers",
    "create_attention",
    "register_attention_type",
    "registered_attention_type",
]
