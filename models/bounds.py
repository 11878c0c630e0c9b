"""Bounds on what a checkpoint config may build.

A config is a few bytes of data that decides how much memory and time the network costs, so it is checked, and
its cost estimated from the numbers alone, before any tensor is allocated. The
limits leave room for a torchvision ResNet-50 at 224x224 (about 25.6 million
parameters and 11 million activation values) while keeping a loaded model's
analysis within the memory budget stated in models.checkpoint.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from attention.eca import POOLINGS
from attention.factory import ATTENTION_KINDS, attention_cost
from attention.gates import GATES

from .networks import VIT_DEFAULTS, VIT_STEMS, AttentionResNet, architecture_builder, stem_widths

MAX_PARAMETERS = 50_000_000
MAX_ACTIVATIONS = 64_000_000  # values written by the convolutions and attention maps for one image
MAX_MULTIPLY_ADDS = 20_000_000_000  # per image; about five times a ResNet-50 at 224
MAX_WIDTH = 1024
MAX_STAGES = 8
MAX_BLOCKS = 64  # sum of depths
MAX_CLASSES = 10_000
MAX_INPUT_SIDE = 1024
MIN_INPUT_SIDE = 8
MAX_ECA_KERNEL = 31
MAX_SPATIAL_KERNEL = 15
MAX_REDUCTION = 1024
MAX_TOKENS = 4096  # patch tokens of a ViT: 64x64 patches; the attention matrices grow with its square
MAX_HEADS = 64
MAX_VIT_DEPTH = 48
MAX_MLP_RATIO = 8.0

_SMALL_KEYS = set(inspect.signature(AttentionResNet).parameters)
_TORCHVISION_KEYS = {"num_classes", "in_channels", "attention", "attention_kwargs"}
_VIT_KEYS = {"num_classes", "in_channels", *VIT_DEFAULTS}
# AttentionResNet's own defaults, read from its signature so the bounds check the network as it builds.
_SMALL_DEFAULTS: dict[str, Any] = {
    name: parameter.default
    for name, parameter in inspect.signature(AttentionResNet).parameters.items()
    if parameter.default is not inspect.Parameter.empty
}
_ATTENTION_KEYS = {"eca", "spatial", "reduction", "gate", "spatial_first"}
_ECA_KEYS = {"kernel_size", "pooling", "gamma", "beta", "bias", "gate"}
_SPATIAL_KEYS = {"kernel_size", "bias", "gate", "norm"}
# torchvision's block layout: (blocks per stage, bottleneck?)
_TORCHVISION_LAYOUT = {18: ((2, 2, 2, 2), False), 34: ((3, 4, 6, 3), False), 50: ((3, 4, 6, 3), True)}


class ConfigError(ValueError):
    """A config outside what this program agrees to build; the message names the field and the limit."""


@dataclass(frozen=True)
class Cost:
    """What one image through a network costs, estimated from its config without building it."""

    parameters: int
    activations: int
    multiply_adds: int


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_int(field: str, value: Any, low: int, high: int) -> int:
    """``value`` if it is an int (not a bool, float or string) in [low, high]; else a ConfigError naming ``field``."""
    if not _is_int(value):
        raise ConfigError(f"{field} must be an integer, not {type(value).__name__} {_describe(value)}")
    if value > high:
        raise ConfigError(f"{field} is {value}; the limit is {high}")
    if value < low:
        raise ConfigError(f"{field} is {value}; it must be at least {low}")
    return value


def check_number(field: str, value: Any, low: float, high: float) -> float:
    if not _is_number(value):
        raise ConfigError(f"{field} must be a finite number, not {type(value).__name__} {_describe(value)}")
    if not low <= value <= high:
        raise ConfigError(f"{field} is {value}; it must lie between {low} and {high}")
    return float(value)


def _choice(field: str, value: Any, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(f"{field} is {_describe(value)}; choose one of {', '.join(choices)}")
    return value


def _keys(field: str, value: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{field} must be a dict, not {type(value).__name__}")
    unknown = sorted(str(key) for key in value if key not in allowed)
    if unknown:
        raise ConfigError(f"{field} has an unknown key {unknown[0]!r}; known keys: {', '.join(sorted(allowed))}")
    return value


def _int_list(field: str, value: Any, low: int, high: int) -> list[int]:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{field} must be a list of integers, not {type(value).__name__}")
    if not 1 <= len(value) <= MAX_STAGES:
        raise ConfigError(f"{field} has {len(value)} entries; give 1 to {MAX_STAGES}")
    return [check_int(f"{field}[{index}]", item, low, high) for index, item in enumerate(value)]


class _Tally:
    """Adds up parameters, activation values and multiply-adds layer by layer, as the network would build them."""

    def __init__(self, kwargs: dict[str, Any]) -> None:
        self.parameters = 0
        self.activations = 0
        self.multiply_adds = 0
        self.kwargs = kwargs

    def conv(self, cin: int, cout: int, kernel: int, stride: int, size: tuple[int, int]) -> tuple[int, int]:
        """A bias-free square convolution padded to keep the size at stride 1; returns the output size."""
        height, width = ((side + 2 * (kernel // 2) - kernel) // stride + 1 for side in size)
        self.parameters += cin * cout * kernel * kernel
        self.activations += cout * height * width
        self.multiply_adds += cin * cout * kernel * kernel * height * width
        return height, width

    def norm(self, channels: int) -> None:
        self.parameters += 2 * channels

    def linear(self, inputs: int, outputs: int) -> None:
        self.parameters += inputs * outputs + outputs
        self.multiply_adds += inputs * outputs

    def attention(self, kind: str, channels: int, size: tuple[int, int]) -> None:
        cost = attention_cost(kind, channels, size[0] * size[1], **self.kwargs)
        self.parameters += cost.parameters
        self.activations += cost.activations
        self.multiply_adds += cost.multiply_adds


def _check_attention_kwargs(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    kwargs = _keys("config attention_kwargs", value, _ATTENTION_KEYS)
    gates = sorted(GATES)
    if "gate" in kwargs:
        _choice("config attention_kwargs.gate", kwargs["gate"], gates)
    if "reduction" in kwargs:
        check_int("config attention_kwargs.reduction", kwargs["reduction"], 1, MAX_REDUCTION)
    if kwargs.get("eca") is not None:
        eca = _keys("config attention_kwargs.eca", kwargs["eca"], _ECA_KEYS)
        if eca.get("kernel_size") is not None:
            kernel = check_int("config attention_kwargs.eca.kernel_size", eca["kernel_size"], 1, MAX_ECA_KERNEL)
            if kernel % 2 == 0:
                raise ConfigError(f"config attention_kwargs.eca.kernel_size is {kernel}; it must be odd")
        if "pooling" in eca:
            _choice("config attention_kwargs.eca.pooling", eca["pooling"], POOLINGS)
        if "gamma" in eca:
            check_number("config attention_kwargs.eca.gamma", eca["gamma"], 0.5, 16.0)
        if "beta" in eca:
            check_number("config attention_kwargs.eca.beta", eca["beta"], 0.0, 16.0)
        if "bias" in eca and not isinstance(eca["bias"], bool):
            raise ConfigError("config attention_kwargs.eca.bias must be true or false")
        if "gate" in eca:
            _choice("config attention_kwargs.eca.gate", eca["gate"], gates)
    if "spatial_first" in kwargs and not isinstance(kwargs["spatial_first"], bool):
        raise ConfigError("config attention_kwargs.spatial_first must be true or false")
    if kwargs.get("spatial") is not None:
        spatial = _keys("config attention_kwargs.spatial", kwargs["spatial"], _SPATIAL_KEYS)
        if "kernel_size" in spatial:
            kernel = check_int(
                "config attention_kwargs.spatial.kernel_size", spatial["kernel_size"], 1, MAX_SPATIAL_KERNEL
            )
            if kernel % 2 == 0:
                raise ConfigError(f"config attention_kwargs.spatial.kernel_size is {kernel}; it must be odd")
        if "bias" in spatial and not isinstance(spatial["bias"], bool):
            raise ConfigError("config attention_kwargs.spatial.bias must be true or false")
        if "norm" in spatial and not isinstance(spatial["norm"], bool):
            raise ConfigError("config attention_kwargs.spatial.norm must be true or false")
        if "gate" in spatial:
            _choice("config attention_kwargs.spatial.gate", spatial["gate"], gates)
    return kwargs


def _small_cost(config: dict[str, Any], input_size: tuple[int, int]) -> Cost:
    check_int("config in_channels", config["in_channels"], 1, 3)
    if config["in_channels"] == 2:
        raise ConfigError("config in_channels is 2; it must be 1 (gray) or 3 (RGB)")
    widths = _int_list("config widths", config["widths"], 1, MAX_WIDTH)
    depths = _int_list("config depths", config["depths"], 1, MAX_BLOCKS)
    if len(widths) != len(depths):
        raise ConfigError(f"config widths has {len(widths)} entries but depths has {len(depths)}; give one per stage")
    if sum(depths) > MAX_BLOCKS:
        raise ConfigError(f"config depths add up to {sum(depths)} blocks; the limit is {MAX_BLOCKS}")
    stride = check_int("config stem_stride", config["stem_stride"], 1, 2)
    attention = config["attention"]
    if isinstance(attention, (list, tuple)):
        if len(attention) != len(widths):
            raise ConfigError(f"config attention has {len(attention)} kinds for {len(widths)} stages")
        kinds = [_choice(f"config attention[{i}]", kind, ATTENTION_KINDS) for i, kind in enumerate(attention)]
    else:
        kinds = [_choice("config attention", attention, ATTENTION_KINDS)] * len(widths)
    tally = _Tally(_check_attention_kwargs(config["attention_kwargs"]))
    dropout = config["dropout"]
    if not _is_number(dropout) or not 0.0 <= dropout < 1.0:
        raise ConfigError(f"config dropout is {_describe(dropout)}; it must be a number in [0, 1)")
    size = tally.conv(config["in_channels"], widths[0], 3, stride, input_size)
    tally.norm(widths[0])
    channels = widths[0]
    for index, (width, depth, kind) in enumerate(zip(widths, depths, kinds)):
        for block in range(depth):
            block_stride = 2 if index > 0 and block == 0 else 1
            block_in = size
            size = tally.conv(channels, width, 3, block_stride, size)
            size = tally.conv(width, width, 3, 1, size)
            tally.norm(width)
            tally.norm(width)
            tally.attention(kind, width, size)
            if block_stride != 1 or channels != width:
                tally.conv(channels, width, 1, block_stride, block_in)
                tally.norm(width)
            channels = width
    tally.linear(channels, config["num_classes"])
    return Cost(tally.parameters, tally.activations, tally.multiply_adds)


def _torchvision_cost(depth: int, config: dict[str, Any], input_size: tuple[int, int]) -> Cost:
    if "in_channels" in config:
        check_int("config in_channels", config["in_channels"], 3, 3)
    kind = _choice("config attention", config.get("attention", "eca_sa"), ATTENTION_KINDS)
    tally = _Tally(_check_attention_kwargs(config.get("attention_kwargs")))
    blocks, bottleneck = _TORCHVISION_LAYOUT[depth]
    expansion = 4 if bottleneck else 1
    size = tally.conv(3, 64, 7, 2, input_size)
    tally.norm(64)
    size = ((size[0] - 1) // 2 + 1, (size[1] - 1) // 2 + 1)  # 3x3 max pool, stride 2, padding 1
    channels = 64
    for index, count in enumerate(blocks):
        planes = 64 * 2**index
        for block in range(count):
            stride = 2 if index > 0 and block == 0 else 1
            block_in = size
            if bottleneck:
                size = tally.conv(channels, planes, 1, 1, size)
                size = tally.conv(planes, planes, 3, stride, size)
                size = tally.conv(planes, planes * 4, 1, 1, size)
                for width in (planes, planes, planes * 4):
                    tally.norm(width)
            else:
                size = tally.conv(channels, planes, 3, stride, size)
                size = tally.conv(planes, planes, 3, 1, size)
                tally.norm(planes)
                tally.norm(planes)
            tally.attention(kind, planes * expansion, size)
            if stride != 1 or channels != planes * expansion:
                tally.conv(channels, planes * expansion, 1, stride, block_in)
                tally.norm(planes * expansion)
            channels = planes * expansion
    tally.linear(channels, config["num_classes"])
    return Cost(tally.parameters, tally.activations, tally.multiply_adds)


def _vit_cost(config: dict[str, Any], input_size: tuple[int, int]) -> Cost:
    channels = check_int("config in_channels", config.get("in_channels", 3), 1, 3)
    side = check_int("config image_size", config["image_size"], MIN_INPUT_SIDE, MAX_INPUT_SIDE)
    if tuple(input_size) != (side, side):
        raise ConfigError(f"config image_size is {side} but the preprocessing gives {input_size[0]}x{input_size[1]}")
    patch = check_int("config patch_size", config["patch_size"], 1, side)
    if side % patch:
        raise ConfigError(f"config patch_size {patch} does not divide image_size {side}")
    tokens = (side // patch) ** 2
    if tokens > MAX_TOKENS:
        raise ConfigError(f"config makes {tokens:,} patch tokens; the limit is {MAX_TOKENS:,}")
    heads = check_int("config num_heads", config["num_heads"], 1, MAX_HEADS)
    dim = check_int("config embed_dim", config["embed_dim"], heads, MAX_WIDTH * 4)
    if dim % heads:
        raise ConfigError(f"config embed_dim {dim} does not split into {heads} heads")
    depth = check_int("config depth", config["depth"], 1, MAX_VIT_DEPTH)
    ratio = check_number("config mlp_ratio", config["mlp_ratio"], 0.25, MAX_MLP_RATIO)
    hidden = int(dim * ratio)
    count = tokens + 1  # and the class token
    tally = _Tally({})
    if _choice("config stem", config["stem"], VIT_STEMS) == "conv":
        if patch < 2 or patch & (patch - 1):
            raise ConfigError(f"config patch_size is {patch}; a conv stem halves the side, so it must be 2, 4, 8, ...")
        size, width = (side, side), channels
        for stage in stem_widths(dim, patch):
            size = tally.conv(width, stage, 3, 2, size)
            tally.norm(stage)
            width = stage
        tally.conv(width, dim, 1, 1, size)
    else:
        tally.conv(channels, dim, patch, patch, (side, side))
    tally.parameters += dim  # the last convolution's bias
    tally.parameters += count * dim + dim  # position embeddings and the class token
    for _ in range(depth):
        tally.norm(dim)
        tally.linear(dim, 3 * dim)
        tally.linear(dim, dim)
        tally.norm(dim)
        tally.linear(dim, hidden)
        tally.linear(hidden, dim)
        tally.multiply_adds += (count - 1) * (4 * dim * dim + 2 * dim * hidden)  # the linears above, per token
        tally.multiply_adds += 2 * count * count * dim  # q·kᵀ and the weighted sum of v
        tally.activations += count * (5 * dim + hidden) + heads * count * count
    tally.norm(dim)
    tally.linear(dim, config["num_classes"])
    return Cost(tally.parameters, tally.activations, tally.multiply_adds)


def check_config(arch: str, config: Any, input_size: tuple[int, int]) -> Cost:
    """The estimated cost of building ``arch`` from ``config`` for ``input_size`` images, if within the limits.

    Every field is type-checked strictly and bounded before anything is
    built, so a config of a few bytes cannot ask for gigabytes; a ConfigError
    names the first field over its limit.
    """
    builder = architecture_builder(arch)
    if not isinstance(config, dict):
        raise ConfigError(f"config must be a dict, not {type(config).__name__}")
    for side in input_size:
        check_int("preprocessing input_size", side, MIN_INPUT_SIDE, MAX_INPUT_SIDE)
    depth = getattr(builder, "torchvision_depth", None)
    vit = getattr(builder, "vit", False)
    allowed = _TORCHVISION_KEYS if depth is not None else _VIT_KEYS if vit else _SMALL_KEYS
    _keys("config", config, allowed)
    if "num_classes" not in config and depth is None:
        raise ConfigError("config has no num_classes")
    if vit:
        full = {**getattr(builder, "defaults", {}), **config}
    else:
        full = {**_SMALL_DEFAULTS, **getattr(builder, "defaults", {}), "num_classes": 1000, **config}
    check_int("config num_classes", full["num_classes"], 1, MAX_CLASSES)
    if vit:
        cost = _vit_cost(full, input_size)
    else:
        cost = _torchvision_cost(depth, full, input_size) if depth is not None else _small_cost(full, input_size)
    if cost.parameters > MAX_PARAMETERS:
        raise ConfigError(f"config makes {cost.parameters:,} parameters; the limit is {MAX_PARAMETERS:,}")
    size = f"{input_size[0]}x{input_size[1]}"
    if cost.activations > MAX_ACTIVATIONS:
        raise ConfigError(
            f"config makes {cost.activations:,} activation values for one {size} image; "
            f"the limit is {MAX_ACTIVATIONS:,}"
        )
    if cost.multiply_adds > MAX_MULTIPLY_ADDS:
        raise ConfigError(
            f"config needs {cost.multiply_adds:,} multiply-adds for one {size} image; "
            f"the limit is {MAX_MULTIPLY_ADDS:,}"
        )
    return cost
