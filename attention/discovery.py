"""Find attention modules nobody registered, by what they do to their input.

Users write their own ECA, SE and CBAM modules (the official ECA-Net
``eca_layer``, blog-style ``ECAAttention``/``SpatialAttention``, the official
CBAM code with a functional ``F.sigmoid``), each with its own class, so no
registry of types can know them. What they share is their effect: the output
is the input scaled by factors computed from that input, one per channel (a
(B, C) gate broadcast over H and W) or one per pixel (a (B, H, W) mask
broadcast over C).

Design. One probe pass (a batch of four unlike images: noise, a smooth
field, an object on a background, a dim tinted plane; ``torch.inference_mode``,
the model switched to eval mode and back, temporary forward hooks removed
afterwards) looks at every module that takes one 4-D tensor and returns a new
one of the same shape, and computes ``output / input`` where the input is not
tiny. A module looks like a gate when that ratio is constant over H and W
(within 1e-5 relative), or constant over C. It is a channel gate or a spatial
mask only when the ratio lies in [0, 1], is not a normalisation, differs
across channels (or pixels), and depends on the input. Deep in a network at
random init the features barely depend on the image, so a lookalike whose
factors are the same for every probe image is run once more on its own input
rescaled per channel and mirrored: a gate changes its factors, a constant
scaling such as LayerScale does not. Every lookalike turned down is kept with
its reason (``rejected_modules``). Gate activation children are not required,
so functional gates are found too. Of nested qualifying modules only the
outermost counts; CBAM's parent module does not qualify itself (its factor
varies over both axes), so its channel and spatial parts are found separately.

Recording. The gate is read back as ``output / input`` at one element per
channel (or pixel), within two float32 rounding steps of the gate the module
applied (see ``attention.foreign``). When the module has the ECA layout (a
Conv1d(1, 1, k) child) or the CBAM/blog spatial layout (a Conv2d(2, 1, k)
child), its kernel size is recorded, and its branch parts (or spatial logits)
are recomputed from its children in whichever of the usual orders reproduced
the gate to 1e-6 on the probe; entries whose input slice is all zero, whose
gate had no effect and cannot be read back, come from that recomputation, or
are NaN for a module without such a layout.

The probe costs one forward pass of four images once per model, plus one
module call per constant-looking lookalike; results are cached per model and
module structure.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .errors import InputError
from .foreign import CHANNEL, SPATIAL, channel_gate, element_record, make_adapter, readable, spatial_mask
from .fx_gates import evaluating, inline_gates, traced_gates
from .records import ELEMENT, Adapter, ChannelRecord, ElementRecord, LayerRecord, SpatialRecord, cpu_copy, module_itself

log = logging.getLogger(__name__)

CONSTANT_RTOL = 1e-5  # how constant the ratio must be over the broadcast axes
GATE_ATOL = 1e-6  # slack on [0, 1] and on a recomputed branch reproducing the gate
# Factors count as different (between images, or across channels or pixels) beyond this share of the largest:
# a constant scaling read back through float32 differs by about 1e-7.
DIFFERS_RTOL = 1e-6
UNCHANGED = "the same factors"  # how a reason for a constant scaling begins
# Ends the reason of factors above 1 that are a gate only if a gate child times a constant gain made them.
OUTSIDE_UNLESS_GAIN = "; a gate times a constant gain is recorded when the gate is a module (nn.Sigmoid)"
MAX_GAIN = 4.0  # the largest constant a gate may be multiplied by (normaliser-free networks use 2)
SMALL_INPUT = 1e-3  # input elements below this share of the sample's largest are not divided by
PROBE_SIZES = (224, 64, 32)  # spatial sizes tried when the model's input size is not known
PROBE_MAX_SIDE = 128  # a larger input size is probed scaled down first, then at full size if the model needs it
PROBE_SEED = 20240613

Layers = list[tuple[str, nn.Module, Any]]
# (name, module, inputs[0]) -> (weights, avg, max) or (mask, logits, None)
Recipe = Callable[[nn.Module, torch.Tensor], tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]]


def require_attention(layers: Iterable[Any], model_name: str, model: nn.Module | None = None) -> None:
    """Refuse, in one line that says what counts as a gate, a model without attention layers, rather than show nothing.

    Every entry point (the page, each command) calls this, so a user meets one message however they ask.
    Given the model, the line also names what was considered and turned down (a ViT's self-attention, say).
    """
    if not list(layers):
        rejected = rejected_modules(model) if model is not None else []
        considered = ""
        if rejected:
            first = rejected[0]
            others = f" and {len(rejected) - 1} more" if len(rejected) > 1 else ""
            considered = (
                f"; it considered {first['name']} ({first['type']}): {first['reason']}{others} "
                "(analyze --list-layers lists them)"
            )
        raise InputError(
            f"{model_name} has no attention layers the recorder can find: an attention layer is a module whose "
            "output is its input times a gate computed from that input (one factor in 0 to 1 per channel, per "
            f"pixel or per element), or that mixes parallel branches by softmax weights{considered}; register "
            "another type with attention.register_attention_type"
        )


# Layouts: how a qualifying module's kernel size and branch parts are found ------------------

_GATE_NAMES = {"sigmoid", "hardsigmoid", "hard_sigmoid", "sigmoidme", "hardsigmoidme", "gatesigmoid"}


def _gate_of(module: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The module's own gate child when it has exactly one, else the sigmoid."""
    gates = [child for child in module.children() if type(child).__name__.lower() in _GATE_NAMES]
    return gates[0] if len(gates) == 1 else torch.sigmoid


def _child_conv(module: nn.Module, conv_type: type[nn.Module], in_channels: int) -> nn.Module | None:
    convs = [
        child
        for child in module.children()
        if isinstance(child, conv_type) and child.in_channels == in_channels and child.out_channels == 1
    ]
    return convs[0] if len(convs) == 1 else None


def _pooled(module: nn.Module, x: torch.Tensor, which: str) -> torch.Tensor:
    """(B, C) pooling over H and W, through the module's own pooling child when it has one."""
    pool = getattr(module, "avg_pool" if which == "avg" else "max_pool", None)
    if isinstance(pool, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return pool(x).flatten(1)
    return x.mean((2, 3)) if which == "avg" else x.amax((2, 3))


def _eca_recipes(module: nn.Module) -> list[Recipe]:
    conv = _child_conv(module, nn.Conv1d, 1)
    if conv is None:
        return []
    gate = _gate_of(module)

    def branch(x: torch.Tensor, which: str) -> torch.Tensor:
        return conv(_pooled(module, x, which).unsqueeze(1)).squeeze(1)

    def avg(_module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        part = branch(x, "avg")
        return gate(part), part, None

    def avgmax(_module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        avg_part, max_part = branch(x, "avg"), branch(x, "max")
        return gate(avg_part + max_part), avg_part, max_part

    def max_only(_module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        part = branch(x, "max")
        return gate(part), None, part

    return [avg, avgmax, max_only]


def _spatial_recipes(module: nn.Module) -> list[Recipe]:
    conv = _child_conv(module, nn.Conv2d, 2)
    if conv is None:
        return []
    gate = _gate_of(module)

    def ordered(first: str) -> Recipe:
        def recipe(_module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, None]:
            mean, max_ = x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)
            logits = conv(torch.cat([mean, max_] if first == "mean" else [max_, mean], dim=1))
            return gate(logits)[:, 0], logits[:, 0], None

        return recipe

    return [ordered("mean"), ordered("max")]


def _kernel_size(module: nn.Module, kind: str) -> int | None:
    """Kernel of the layout's convolution: Conv1d(1, 1, k) for a channel gate, Conv2d(2 or 1, 1, k) for a mask."""
    if kind == CHANNEL:
        convs = [m for m in module.modules() if isinstance(m, nn.Conv1d) and m.out_channels == 1]
    else:
        convs = [
            m for m in module.modules() if isinstance(m, nn.Conv2d) and m.in_channels in (1, 2) and m.out_channels == 1
        ]
    return int(convs[0].kernel_size[0]) if len(convs) == 1 else None


# The probe ----------------------------------------------------------------------------------


class _Verdict:
    """What the probe saw of one module over all its calls."""

    __slots__ = ("children", "gain", "kind", "offset", "reason", "recipes")

    def __init__(self) -> None:
        self.kind: str | None = "unset"
        self.offset = 0.0  # a per-element gate's: the features were scaled by offset + gate
        self.gain = 1.0  # the features were scaled by gain * the gate child's output
        self.reason: str | None = None  # why a module that looked like a gate is not one
        self.recipes: list[Recipe] | None = None  # recipes that reproduced the gate on every call so far
        self.children: list[str] = []  # children whose output was the gate itself on every call so far

    def update(self, kind: str | None, reason: str | None, matching: list[Recipe], children: list[str]) -> None:
        if self.kind == "unset":
            self.kind, self.reason, self.recipes, self.children = kind, reason, matching, children
        elif self.kind != kind:
            if self.kind is not None or kind is not None:
                self.reason = self.reason or reason or "a gate on some of its calls only"
            self.kind = None
        else:
            self.reason = self.reason or reason
            self.recipes = [recipe for recipe in self.recipes or [] if recipe in matching]
            self.children = [child for child in self.children if child in children]


def _looks_constant(x: torch.Tensor, y: torch.Tensor, side: int = 16) -> bool:
    """A cheap first look at ``y / x`` on at most ``side`` x ``side`` pixels: near constant over the pixels or
    over the channels, and not 1 everywhere? Most modules (convolutions, norms, blocks, activations fed
    their own output) fail it, and skip the exact check.
    """
    step_h, step_w = max(1, x.shape[2] // side), max(1, x.shape[3] // side)
    xs, ys = x[:, :, ::step_h, ::step_w].float(), y[:, :, ::step_h, ::step_w].float()
    valid = xs.abs() > SMALL_INPUT * xs.abs().amax(dim=(1, 2, 3), keepdim=True)
    if not bool(valid.any()):
        return False
    ratio = ys / torch.where(valid, xs, torch.ones_like(xs))
    if bool(((ratio - 1.0).abs()[valid] <= CONSTANT_RTOL).all()):
        return False  # the identity
    tolerance = 1e-3 * float(ratio[valid].abs().max().clamp(min=1.0))
    for dims in ((2, 3), (1,)):
        high = torch.where(valid, ratio, -torch.inf).amax(dim=dims)
        low = torch.where(valid, ratio, torch.inf).amin(dim=dims)
        seen = valid.any(dim=dims[0]).any(dim=dims[-1] - 1) if len(dims) == 2 else valid.any(dim=1)
        if bool((high - low)[seen].le(tolerance).all()):
            return True
    return False


def _classify(x: torch.Tensor, y: torch.Tensor, elementwise: bool = True) -> tuple[str | None, str | None]:
    """(CHANNEL, SPATIAL or None, why not) for one call ``y = module(x)`` of the probe.

    The reason is given only for a module that looked like a gate (its output
    is its input times factors shared along the channel or the pixel axes)
    and was turned down; anything else is no candidate at all.
    """
    _batch, channels, height, width = x.shape
    if not _looks_constant(x, y):
        return (ELEMENT, None) if elementwise and _element_offset(x, y) is not None else (None, None)
    x64, y64 = x.double(), y.double()
    scale = x64.abs().amax(dim=(1, 2, 3), keepdim=True)
    valid = x64.abs() > SMALL_INPUT * scale
    ratio = y64 / torch.where(valid, x64, torch.ones_like(x64))
    reason = None
    for kind, axes in ((CHANNEL, (2, 3)), (SPATIAL, (1,))):
        if (kind == CHANNEL and height * width < 2) or (kind == SPATIAL and channels < 2):
            continue
        high = torch.where(valid, ratio, torch.full_like(ratio, -torch.inf)).amax(dim=axes)
        low = torch.where(valid, ratio, torch.full_like(ratio, torch.inf)).amin(dim=axes)
        seen = valid.any(dim=axes)
        if not bool(seen.any()):
            continue
        constant = bool(((high - low)[seen] <= CONSTANT_RTOL * high[seen].abs().clamp(min=1.0)).all())
        if not constant:
            continue
        gate = torch.where(seen, high, torch.nan).flatten(1)  # (B, C) or (B, H*W)
        size = gate.nan_to_num(0.0).abs().amax()
        if float((gate.nan_to_num(1.0) - 1.0).abs().amax()) <= CONSTANT_RTOL or float(size) == 0.0:
            return None, None  # the identity (a dropout in eval mode, a wrapper), or zero (a zero-initialised norm)
        per = "channel" if kind == CHANNEL else "pixel"
        both = ~gate.isnan().any(dim=0)
        between = (gate.amax(dim=0) - gate.amin(dim=0))[both]
        spread = gate.nan_to_num(-torch.inf).amax(dim=1) - gate.nan_to_num(torch.inf).amin(dim=1)
        lowest, highest = float(low[seen].min()), float(high[seen].max())
        outside = f"scales each {per} by factors from {lowest:.3g} to {highest:.3g}, outside 0 to 1"
        if _normalises(y64, axes):
            reason = f"a normalisation: its output has the same size at every {per}; it weights nothing"
        elif lowest < -GATE_ATOL:
            reason = outside
        elif not bool((between > DIFFERS_RTOL * size).any()):
            reason = f"{UNCHANGED} per {per} for every input: a constant scaling such as LayerScale"
        elif not bool((spread > DIFFERS_RTOL * size).any()):
            reason = "one factor for the whole image, not one per channel or per pixel"
        elif highest > 1 + GATE_ATOL:
            return kind, outside + OUTSIDE_UNLESS_GAIN  # a gate times a gain, if a gate child shows the gain
        else:
            return kind, None
    return None, reason


def _element_offset(x: torch.Tensor, y: torch.Tensor) -> float | None:
    """0 when ``y / x`` lies in [0, 1] and varies element by element, 1 when it lies in [1, 2] (``x * (1 + gate)``).

    None for anything else: factors outside those ranges, the same factor
    everywhere, or only 0 and 1 (a ReLU, a dropout mask), which no one reads as attention.
    """
    if x.shape[2] * x.shape[3] > 2 * 16 * 16:  # most modules fail on a 16 x 16 sample of pixels already
        step_h, step_w = -(-x.shape[2] // 16), -(-x.shape[3] // 16)  # rounded up: the sample is at most 16 x 16
        if _element_offset(x[:, :, ::step_h, ::step_w], y[:, :, ::step_h, ::step_w]) is None:
            return None
    elif bool((x * y < 0).any()):  # a factor in 0 to 2 keeps every sign: most fail here, cheaply
        return None
    x64, y64 = x.double(), y.double()
    valid = x64.abs() > SMALL_INPUT * x64.abs().amax(dim=(1, 2, 3), keepdim=True)
    if int(valid.sum()) < 2:
        return None
    ratio = (y64 / torch.where(valid, x64, torch.ones_like(x64)))[valid]
    low, high = float(ratio.min()), float(ratio.max())
    if high - low <= DIFFERS_RTOL * max(1.0, abs(high)) or bool(((ratio == 0) | (ratio == 1)).all()):
        return None
    for offset in (0.0, 1.0):
        if low >= offset - GATE_ATOL and high <= offset + 1 + GATE_ATOL:
            return offset
    return None


# Where torch and timm keep their activations and normalisations (fused ones too): none of them is a gate.
_NO_GATE_MODULES = (
    "torch.nn.modules.activation",
    "torch.nn.modules.batchnorm",
    "torch.nn.modules.normalization",
    "timm.layers.activations",
    "timm.layers.activations_me",
    "timm.layers.norm",
    "timm.layers.norm_act",
)


def _is_activation(module: nn.Module) -> bool:
    """A library activation or norm (SiLU, BatchNormAct2d, ...): the probe need not run it again to tell."""
    return type(module).__module__ in _NO_GATE_MODULES


def _depends_on_others(module: nn.Module, x: torch.Tensor, y: torch.Tensor, busy: list[bool]) -> bool:
    """Whether the module's factor at one element depends on other elements, as a gate's does.

    An activation such as SiLU or GELU also scales each element by a factor
    in 0 to 1, but that factor is a function of the element alone. Run again
    with the top half of its input changed (then half of its channels), a
    gate changes its output where the input did not change; an activation does not.
    """
    _batch, channels, height, width = x.shape
    for axis, size in ((2, height), (1, channels)):
        if size < 2:
            continue
        changed = x.clone()
        part = changed.narrow(axis, 0, size // 2)
        part.mul_(2.0).add_(0.5 * x.abs().amax())
        busy.append(True)
        try:
            again = module(changed)
        except Exception as error:  # noqa: BLE001 - the module's own code may refuse; it is then no candidate
            log.debug("running %s again for the probe failed: %s", type(module).__name__, error)
            return False
        finally:
            busy.pop()
        if not isinstance(again, torch.Tensor) or again.shape != y.shape:
            return False
        before, after = y.narrow(axis, size // 2, size - size // 2), again.narrow(axis, size // 2, size - size // 2)
        if float((after - before).abs().max()) > DIFFERS_RTOL * max(float(before.abs().max()), 1e-30):
            return True
    return False


def _normalises(y: torch.Tensor, axes: tuple[int, ...]) -> bool:
    """Whether ``y`` has one and the same size (L2, L1 or largest entry) at every place a gate would scale.

    That is a normalisation (``F.normalize``, a max-norm): the factor depends
    on the input, but it only undoes the input's size; it weights nothing.
    """
    for size in (y.norm(dim=axes), y.abs().sum(dim=axes), y.abs().amax(dim=axes)):
        size = size[size > 0]
        if size.numel() > 1 and float(size.max() - size.min()) <= CONSTANT_RTOL * float(size.max()):
            return True
    return False


def _recipes_matching(
    module: nn.Module, kind: str, x: torch.Tensor, y: torch.Tensor, recipes: list[Recipe]
) -> list[Recipe]:
    if not recipes:
        return []
    read, bad = channel_gate(x, y) if kind == CHANNEL else spatial_mask(x, y)
    matching = []
    for recipe in recipes:
        try:
            recomputed = recipe(module, x)[0].to(read.dtype)
        except (RuntimeError, ValueError, TypeError, IndexError):
            continue
        if recomputed.shape == read.shape and bool(((recomputed - read).abs()[~bad] <= GATE_ATOL).all()):
            matching.append(recipe)
    return matching


def _children_holding_gate(
    kind: str,
    x: torch.Tensor,
    y: torch.Tensor,
    outputs: dict[str, list[torch.Tensor]],
    gain: float = 1.0,
    offset: float = 0.0,
) -> list[str]:
    """Direct children that ran once in this call and output the very factors that scaled x into y.

    Reading such a child (an SE's sigmoid, say) gives the gate the module
    computed even where the input is zero and the factor cannot be read back.
    """
    if kind == ELEMENT:
        return _children_holding_element_gate(x, y, outputs, offset)
    read, bad = channel_gate(x, y) if kind == CHANNEL else spatial_mask(x, y)
    batch, channels, height, width = x.shape
    shape = (batch, channels, 1, 1) if kind == CHANNEL else (batch, 1, height, width)
    found = []
    for child, seen in outputs.items():
        if len(seen) != 1 or tuple(seen[0].shape) != shape:
            continue
        made = gain * seen[0].reshape(read.shape).to(read.dtype)
        if bool(((made - read).abs()[~bad] <= GATE_ATOL * gain).all()) and bool(torch.isfinite(made).all()):
            found.append(child)
    return found


def _gained_child(
    kind: str, x: torch.Tensor, y: torch.Tensor, outputs: dict[str, list[torch.Tensor]]
) -> tuple[str, float] | None:
    """A gate child whose output times one constant (up to ``MAX_GAIN``) is the factors above 1, and that constant.

    ``x * 2 * sigmoid(s)`` scales by up to 2; its sigmoid child holds the
    gate in 0 to 1, and the record keeps it with the gain.
    """
    if kind not in (CHANNEL, SPATIAL):
        return None
    read, bad = channel_gate(x, y) if kind == CHANNEL else spatial_mask(x, y)
    batch, channels, height, width = x.shape
    shape = (batch, channels, 1, 1) if kind == CHANNEL else (batch, 1, height, width)
    for child, seen in outputs.items():
        if len(seen) != 1 or tuple(seen[0].shape) != shape:
            continue
        made = seen[0].reshape(read.shape).double()
        usable = ~bad & (made.abs() > 1e-3)
        if not bool(usable.any()) or bool((made < -GATE_ATOL).any()) or bool((made > 1 + GATE_ATOL).any()):
            continue
        ratios = read.double()[usable] / made[usable]
        gain = float(ratios.median())
        if 1.0 < gain <= MAX_GAIN and bool(((ratios - gain).abs() <= 1e-5 * gain).all()):
            return child, round(gain, 6)
    return None


def _children_holding_element_gate(
    x: torch.Tensor, y: torch.Tensor, outputs: dict[str, list[torch.Tensor]], offset: float
) -> list[str]:
    """Direct gate children that ran once and output the whole (B, C, H, W) gate (SimAM's sigmoid, say)."""
    where = readable(x, y)
    ratio = y.double() / torch.where(where, x.double(), torch.ones_like(x, dtype=torch.float64))
    found = []
    for child, seen in outputs.items():
        if len(seen) != 1 or seen[0].shape != x.shape:
            continue
        made = seen[0].double() + offset
        if bool(((made - ratio).abs()[where] <= GATE_ATOL).all()) and bool(torch.isfinite(made).all()):
            found.append(child)
    return found


def _probe_images(size: tuple[int, int, int], generator: torch.Generator) -> torch.Tensor:
    """Four unlike images of one size: noise, a smooth field, an object on a background, a dim tinted plane.

    Two noise images give almost the same channel averages deep in a network,
    so a deep gate computes almost the same factors for both; images that
    differ in their statistics and layout make every real gate vary.
    """
    channels, height, width = size
    noise = torch.randn(channels, height, width, generator=generator)
    coarse = torch.randn(1, channels, 4, 4, generator=generator)
    smooth = 2.0 * F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)[0]
    rows = (torch.arange(height) - (height - 1) / 2).abs()[:, None] < height / 4
    columns = (torch.arange(width) - (width - 1) / 2).abs()[None, :] < width / 4
    signs = torch.randn(channels, 1, 1, generator=generator).sign()
    thing = torch.where(rows & columns, 2.0, -1.0) * signs
    tint = torch.linspace(-1.5, 1.5, channels)[:, None, None]
    dim = tint + 0.1 * torch.randn(channels, height, width, generator=generator)
    return torch.stack([noise, smooth, thing, dim])


def _probe_input(model: nn.Module, input_size: tuple[int, int, int] | None) -> list[torch.Tensor]:
    """Batches of probe images: at the given size, timm's configured one, or common sizes."""
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() else torch.float32
    sizes: list[tuple[int, int, int]] = []
    if input_size is not None:
        channels, height, width = input_size
        scale = PROBE_MAX_SIDE / max(height, width)
        if scale < 1:  # a gate acts alike at any resolution: probe small first, which costs far less memory
            sizes.append((channels, max(8, round(height * scale)), max(8, round(width * scale))))
        sizes.append(tuple(input_size))  # type: ignore[arg-type]
    else:
        config = getattr(model, "pretrained_cfg", None) or getattr(model, "default_cfg", None) or {}
        if isinstance(config, dict) and len(config.get("input_size", ())) == 3:
            sizes.append(tuple(config["input_size"]))
        first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
        channels = first.in_channels if first is not None else 3
        sizes.extend((channels, side, side) for side in PROBE_SIZES)
    generator = torch.Generator().manual_seed(PROBE_SEED)
    return [_probe_images(size, generator).to(device=device, dtype=dtype) for size in sizes]


def _unlike(x: torch.Tensor, seed: int) -> torch.Tensor:
    """``x`` mirrored, each channel rescaled by 0.1 to 10: an input a real gate answers differently."""
    generator = torch.Generator().manual_seed(seed)
    scales = torch.exp(torch.empty(1, x.shape[1], 1, 1).uniform_(-2.3, 2.3, generator=generator))
    return x.flip(-1) * scales.to(device=x.device, dtype=x.dtype)


def _classify_again(
    module: nn.Module, x: torch.Tensor, y: torch.Tensor, busy: list[bool]
) -> tuple[str | None, str | None]:
    """``_classify`` with the module also run on its input rescaled per channel and mirrored.

    Deep in a network at random init the features barely depend on the
    image, so a real gate can compute the same factors for every probe. Fed
    unlike input directly, a gate changes its factors; a constant scaling
    does not.
    """
    other = _unlike(x, PROBE_SEED + 1)
    busy.append(True)
    try:
        again = module(other)
    except Exception as error:  # noqa: BLE001 - the module's own code may refuse; keep the first verdict
        log.debug("running %s again for the probe failed: %s", type(module).__name__, error)
        return _classify(x, y)
    finally:
        busy.pop()
    if not isinstance(again, torch.Tensor) or again.shape != other.shape:
        return _classify(x, y)
    return _classify(torch.cat([x, other]), torch.cat([y, again]))


def _in_place_gate(module: nn.Module, x: torch.Tensor, busy: list[bool]) -> str | None:
    """Why a module that multiplies its input in place is not recorded, when it does so by a gate; else None.

    Its input is overwritten before any hook sees it, so the factors cannot be
    read back; run on a kept copy of unlike input, the module shows whether
    it is a gate, and the reason then says how to make it recordable.
    """
    before = torch.cat([x, _unlike(x, PROBE_SEED + 2)])
    busy.append(True)
    try:
        after = module(before.clone())
    except Exception as error:  # noqa: BLE001 - the module's own code may refuse; it is then no candidate
        log.debug("running %s again for the probe failed: %s", type(module).__name__, error)
        return None
    finally:
        busy.pop()
    if not isinstance(after, torch.Tensor) or after.shape != before.shape or torch.equal(after, before):
        return None  # not a tensor of the input's shape, or the input itself (an nn.Identity hands it back)
    kind, _reason = _classify(before, after, elementwise=not _is_activation(module))
    if kind == ELEMENT and not _depends_on_others(module, before, after, busy):
        return None
    if kind is None:
        return None
    return (
        f"multiplies its input in place (x *= gate), so its {kind} factors cannot be read back; write "
        "x = x * gate, or register the type with attention.register_attention_type"
    )


def _image_shaped(plane: tuple[int, ...], picture: tuple[int, ...]) -> bool:
    """Whether an (H, W) grid can be the picture's pixels at some stride: the same aspect, to a pixel's rounding.

    A branch that permutes its input (triplet attention's channel-by-width
    plane, say) gives a mask over another pair of axes, which is no pixel map.
    """
    height, width = plane
    picture_height, picture_width = picture
    return abs(height * picture_width - width * picture_height) <= max(picture_height, picture_width)


def _probe(
    model: nn.Module, candidates: list[tuple[str, nn.Module]], batches: list[torch.Tensor]
) -> dict[int, _Verdict]:
    verdicts: dict[int, _Verdict] = {}
    busy = []  # non-empty while a module is run again on other input, so no hook sees that run
    picture = (1, 1)  # the probe image's height and width, set for each batch

    def make_hooks(module: nn.Module) -> list[Any]:
        recipes = {CHANNEL: _eca_recipes(module), SPATIAL: _spatial_recipes(module)}
        outputs: dict[str, list[torch.Tensor]] = {}  # gate-shaped outputs of the children in the current call

        def child_hook(child: str, gate: bool) -> Callable[..., None]:
            def hook(_child: nn.Module, _inputs: tuple[Any, ...], output: Any) -> None:
                if busy or not isinstance(output, torch.Tensor) or output.dim() != 4:
                    return
                # (B, 1, H, W) or (B, C, 1, 1) are small; a gate activation's whole map may be a per-element gate
                if gate or output.shape[1] == 1 or output.shape[2:] == (1, 1):
                    outputs.setdefault(child, []).append(output)

            return hook

        def hook(_module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            if busy:
                return
            verdict = verdicts.setdefault(id(module), _Verdict())
            x = inputs[0] if len(inputs) == 1 else None
            kind = reason = None
            same_shape = (
                isinstance(x, torch.Tensor)
                and isinstance(output, torch.Tensor)
                and x.dim() == 4
                and x.is_floating_point()
                and output.shape == x.shape
            )
            if same_shape and output.data_ptr() == x.data_ptr():  # in place: the input is gone by now
                reason = _in_place_gate(module, x, busy)
            elif same_shape:
                kind, reason = _classify(x, output, elementwise=not _is_activation(module))
                if reason is not None and reason.startswith(UNCHANGED):
                    kind, reason = _classify_again(module, x, output, busy)
                if kind == ELEMENT and not _depends_on_others(module, x, output, busy):
                    kind = None  # an activation (SiLU, GELU): each factor is a function of its own element
                if kind == ELEMENT:
                    verdict.offset = _element_offset(x, output) or 0.0
                if kind == SPATIAL and not _image_shaped(x.shape[2:], picture):
                    height, width = x.shape[2:]
                    kind = None
                    reason = (
                        f"factors over a {height}x{width} plane that is not the picture's rows and columns "
                        f"(a permuted branch, as in triplet attention): {_NOT_RECORDED_YET}"
                    )
            gain, gates = 1.0, outputs
            if kind is not None and reason is not None and reason.endswith(OUTSIDE_UNLESS_GAIN):
                child_gain = _gained_child(kind, x, output, outputs)
                if child_gain is None:
                    kind = None
                else:
                    reason, gain = None, child_gain[1]
                    gates = {child_gain[0]: outputs[child_gain[0]]}
            elif reason is not None:
                kind = None
            matching = _recipes_matching(module, kind, x, output, recipes.get(kind, [])) if kind and gain == 1 else []
            children = _children_holding_gate(kind, x, output, gates, gain, verdict.offset) if kind else []
            if gain != 1.0:
                verdict.gain = gain
            outputs.clear()
            verdict.update(kind, reason, matching, children)

        handles = [module.register_forward_hook(hook)]
        handles += [
            child.register_forward_hook(child_hook(name, type(child).__name__.lower() in _GATE_NAMES))
            for name, child in module.named_children()
        ]
        return handles

    modes = [(module, module.training) for module in model.modules()]
    for batch in batches:
        verdicts.clear()
        picture = tuple(batch.shape[2:])
        handles = [handle for _name, module in candidates for handle in make_hooks(module)]
        try:
            model.eval()
            with torch.inference_mode():
                model(batch)
            return verdicts
        except Exception as error:  # noqa: BLE001 - a size the model does not take; try the next one
            log.debug("attention probe at input %s failed: %s", tuple(batch.shape), error)
        finally:
            for handle in handles:
                handle.remove()
            for module, training in modes:
                module.training = training
    log.warning("could not run a probe pass through the model; only registered attention types are recorded")
    return {}


# Adapters for what the probe found -----------------------------------------------------------


def _channel_adapter(kernel_size: int | None, recipe: Recipe | None) -> Any:
    type_name = "eca" if recipe is not None or kernel_size is not None else "channel"

    def make_record(name: str, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> LayerRecord:
        x = inputs[0]
        weights, bad = channel_gate(x, output, search=recipe is None)
        avg = max_ = None
        if recipe is not None:
            with torch.no_grad():
                recomputed, avg, max_ = recipe(module, x)
            weights = torch.where(bad, recomputed.to(weights.dtype), weights)
        return ChannelRecord(
            name=name,
            type=type_name,
            weights=cpu_copy(weights),
            avg=None if avg is None else cpu_copy(avg),
            max=None if max_ is None else cpu_copy(max_),
            kernel_size=kernel_size,
        )

    return make_adapter(CHANNEL, make_record)


def _spatial_adapter(kernel_size: int | None, recipe: Recipe | None) -> Any:
    def make_record(name: str, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> LayerRecord:
        x = inputs[0]
        mask, bad = spatial_mask(x, output, search=recipe is None)
        logits = None
        if recipe is not None:
            with torch.no_grad():
                recomputed, logits, _ = recipe(module, x)
            mask = torch.where(bad, recomputed.to(mask.dtype), mask)
        return SpatialRecord(
            name=name, mask=cpu_copy(mask), kernel_size=kernel_size, logits=None if logits is None else cpu_copy(logits)
        )

    return make_adapter(SPATIAL, make_record)


def _gate_child_adapter(kind: str, child: str, kernel_size: int | None, traced: bool = False, gain: float = 1.0) -> Any:
    """Read the gate where the module made it, at its child ``child``; the module's own input is the feature map.

    In a ``traced`` network the module around the gate no longer runs: there
    is no feature map to read, and ablation replaces the gate itself.
    """
    type_name = "eca" if kernel_size is not None else "channel"

    def make_record(name: str, _module: nn.Module, _inputs: tuple[Any, ...], output: Any) -> LayerRecord:
        if kind == CHANNEL:
            return ChannelRecord(
                name=name, type=type_name, weights=cpu_copy(output.flatten(1)), kernel_size=kernel_size, gain=gain
            )
        return SpatialRecord(name=name, mask=cpu_copy(output[:, 0]), kernel_size=kernel_size, gain=gain)

    if traced:
        return Adapter(
            kind=kind,
            make_record=make_record,
            hook_point=lambda module: module.get_submodule(child),
            ablate_point=lambda module: module.get_submodule(child),
        )
    return make_adapter(
        kind,
        make_record,
        hook_point=lambda module: module.get_submodule(child),
        feature_point=module_itself,
    )


def _element_adapter(child: str | None, offset: float) -> Any:
    """A per-element gate: read where its gate child made it, else back from the module's output.

    Read back, an element whose input is zero shows nothing of its factor:
    the map then averages the factors that could be read, and ``readable``
    says what share of the elements that was.
    """
    if child is not None:

        def from_child(name: str, _module: nn.Module, _inputs: tuple[Any, ...], output: Any) -> LayerRecord:
            return element_record(name, "element", output, offset)

        return make_adapter(
            ELEMENT, from_child, hook_point=lambda module: module.get_submodule(child), feature_point=module_itself
        )

    def read_back(name: str, _module: nn.Module, inputs: tuple[Any, ...], output: Any) -> LayerRecord:
        x, y = inputs[0], output
        where = readable(x, y)
        gate = torch.where(where, y.float() / torch.where(where, x.float(), torch.ones_like(x.float())), 0.0)
        gate = gate - offset * where
        counted = where.float()
        per_pixel, per_channel = counted.sum(1), counted.sum((2, 3))
        return ElementRecord(
            name=name,
            type="element",
            map=cpu_copy(torch.where(per_pixel > 0, gate.sum(1) / per_pixel.clamp(min=1), torch.nan)),
            per_channel=cpu_copy(torch.where(per_channel > 0, gate.sum((2, 3)) / per_channel.clamp(min=1), torch.nan)),
            offset=offset,
            readable=float(counted.mean()),
        )

    return make_adapter(ELEMENT, read_back)


def _within(name: str, other: str) -> bool:
    """Whether module ``name`` lies inside module ``other`` (or is it)."""
    return other == "" or name == other or name.startswith(other + ".")


_cache: weakref.WeakKeyDictionary[nn.Module, tuple[Any, list[tuple[str, Any]], list[dict[str, str]]]] = (
    weakref.WeakKeyDictionary()
)


def discover_attention(model: nn.Module, known: set[int], input_size: tuple[int, int, int] | None = None) -> Layers:
    """Attention layers of ``model`` that no registered type matched (ids in ``known``), in named_modules() order.

    ``input_size`` is the model's (C, H, W); without it the probe uses timm's
    configured size or tries a few common sizes. The modules that looked like
    gates but were turned down are kept for ``rejected_modules``.
    """
    named = list(model.named_modules())
    key = (tuple(id(module) for _, module in named), frozenset(known), input_size)
    cached = _cache.get(model)
    if cached is not None and cached[0] == key:
        modules = dict(named)
        return [(name, modules[name], adapter) for name, adapter in cached[1]]

    known_names = [name for name, module in named if id(module) in known]
    batches = _probe_input(model, input_size)  # made once, for every pass below
    candidates = [
        (name, module) for name, module in named if not any(_within(name, k) or _within(k, name) for k in known_names)
    ]
    found: list[tuple[str, Any]] = []
    rejected: list[dict[str, str]] = []
    if candidates:
        verdicts = _probe(model, candidates, batches)
        qualified = [
            (name, module, verdicts[id(module)])
            for name, module in candidates
            if id(module) in verdicts and verdicts[id(module)].kind in (CHANNEL, SPATIAL, ELEMENT)
        ]
        gates = [name for name, _, verdict in qualified if verdict.kind != ELEMENT]
        composed = {
            name
            for name, _, verdict in qualified
            if verdict.kind == ELEMENT and any(other != name and _within(other, name) for other in gates)
        }
        # CBAM's parent, triplet attention: a container of gates recorded one by one, as any block around a gate.
        qualified = [entry for entry in qualified if entry[0] not in composed]
        names = [name for name, _, _ in qualified]
        for name, module, verdict in qualified:
            outer = next((other for other in names if other != name and _within(name, other)), None)
            if outer is not None:  # an outer module already scales by the same factors
                rejected.append(_rejection(name, module, f"part of {outer or 'the model'}, recorded there"))
                continue
            recipe = verdict.recipes[0] if verdict.recipes else None
            kernel = _kernel_size(module, verdict.kind) if verdict.kind != ELEMENT else None
            if verdict.kind == ELEMENT:
                adapter = _element_adapter(verdict.children[0] if verdict.children else None, verdict.offset)
            elif (recipe is None or verdict.gain != 1.0) and verdict.children:
                adapter = _gate_child_adapter(verdict.kind, verdict.children[0], kernel, gain=verdict.gain)
            else:
                adapter = (_channel_adapter if verdict.kind == CHANNEL else _spatial_adapter)(kernel, recipe)
            found.append((name, adapter))
            log.info(
                "found %s attention at %s (%s)", verdict.kind, name or type(module).__name__, type(module).__name__
            )
        for name, module in candidates:
            verdict = verdicts.get(id(module))
            reason = verdict.reason if verdict is not None and verdict.kind not in (CHANNEL, SPATIAL, ELEMENT) else None
            if verdict is None or verdict.kind not in (CHANNEL, SPATIAL, ELEMENT):
                reason = _named_refusal(module) or reason
            if reason:
                rejected.append(_rejection(name, module, reason))
                log.info("not attention: %s (%s): %s", name, type(module).__name__, reason)
    found += _traced(model, batches, rejected)
    taken = known_names + [name for name, _ in found] + [entry["name"] for entry in rejected]
    inline = inline_gates(model, batches)
    rejected += [entry for entry in inline if not any(_within(entry["name"], k) for k in taken)]
    # A wrapper around a rejected module is turned down for the same reason: name only the module inside.
    rejected = [
        entry
        for entry in rejected
        if not any(
            other is not entry and other["reason"] == entry["reason"] and _within(other["name"], entry["name"])
            for other in rejected
        )
    ]
    position = {name: index for index, (name, _) in enumerate(named)}
    rejected.sort(key=lambda entry: position.get(entry["name"], len(position)))
    _cache[model] = (key, found, rejected)
    modules = dict(named)
    return [(name, modules[name], adapter) for name, adapter in found]


def _traced(model: nn.Module, batches: list[torch.Tensor], rejected: list[dict[str, str]]) -> list[tuple[str, Any]]:
    """Gates of a torch.fx-traced network, read at their activation module, filed as channel or spatial by shape.

    Each is named after the module it was part of before tracing (``layer1.0.se``
    for ``layer1.0.se.gate``), which the traced network keeps as a container.
    """
    gates = traced_gates(model)
    if not gates:
        return []
    shapes: dict[str, tuple[int, ...]] = {}

    def keep_shape(name: str) -> Any:
        def hook(_module: nn.Module, _inputs: tuple[Any, ...], output: Any) -> None:
            shapes.setdefault(name, tuple(output.shape))

        return hook

    handles = [model.get_submodule(name).register_forward_hook(keep_shape(name)) for name in gates]
    try:
        for batch in batches:
            shapes.clear()
            try:
                with evaluating(model), torch.inference_mode():
                    model(batch)
                break
            except Exception as error:  # noqa: BLE001 - a size the model does not take; try the next one
                log.debug("traced-gate probe at input %s failed: %s", tuple(batch.shape), error)
    finally:
        for handle in handles:
            handle.remove()
    found = []
    for name in gates:
        shape = shapes.get(name)
        container, _, child = name.rpartition(".")
        if shape is None:
            continue
        if len(shape) == 2 or (len(shape) == 4 and shape[2:] == (1, 1)):
            kind = CHANNEL
        elif len(shape) == 4 and shape[1] == 1 and shape[2] * shape[3] > 1:
            kind = SPATIAL
        else:
            rejected.append(
                _rejection(
                    name,
                    model.get_submodule(name),
                    f"a gate of shape {list(shape[1:])}: neither one weight per channel nor one per pixel",
                )
            )
            continue
        found.append((container or name, _gate_child_adapter(kind, child if container else "", None, traced=True)))
        log.info(
            "found %s attention at %s (a traced network's %s)", kind, name, type(model.get_submodule(name)).__name__
        )
    return found


_NOT_RECORDED_YET = "not recorded yet"
_SELF_ATTENTION = f"self-attention of a form other than timm's Attention and MultiheadAttention: {_NOT_RECORDED_YET}"
# Attention modules of timm and torchvision that are not a gate the recorder reads, by module and class name.
_NAMED = {
    ("timm.layers.non_local_attn", "NonLocalAttn"): "non-local attention adds a weighted sum over all positions",
    ("timm.layers.non_local_attn", "BatNonLocalAttn"): "non-local attention adds a weighted sum over all positions",
    ("timm.layers.attention", "AttentionRope"): _SELF_ATTENTION,
    ("timm.layers.diff_attention", "DiffAttention"): _SELF_ATTENTION,
    ("timm.models.eva", "EvaAttention"): _SELF_ATTENTION,
    ("timm.layers.bottleneck_attn", "BottleneckAttn"): _SELF_ATTENTION,
    ("timm.layers.halo_attn", "HaloAttn"): _SELF_ATTENTION,
    ("timm.layers.lambda_layer", "LambdaLayer"): _SELF_ATTENTION,
    ("timm.models.swin_transformer", "WindowAttention"): _SELF_ATTENTION,
    ("torchvision.models.swin_transformer", "ShiftedWindowAttention"): _SELF_ATTENTION,
}


def _named_refusal(module: nn.Module) -> str | None:
    """Why a known attention module of another library is not recorded, or None for any other module."""
    kind = type(module)
    if (kind.__module__, kind.__name__) == ("timm.layers.global_context", "GlobalContext"):
        if getattr(module, "mlp_add", None) is None:
            return None  # a gate alone: the probe reads it
        if getattr(module, "mlp_scale", None) is None:
            return "adds a global context to every channel (fuse_add): an addition, not a gate"
        return "a gate and an added global context together (fuse_scale and fuse_add): no one factor scales x"
    return _NAMED.get((kind.__module__, kind.__name__))


def _rejection(name: str, module: nn.Module, reason: str) -> dict[str, str]:
    return {"name": name, "type": type(module).__name__, "reason": reason}


def rejected_modules(model: nn.Module) -> list[dict[str, str]]:
    """The modules of ``model`` that looked like gates in the last probe but are not recorded, each with why.

    A person who counts fewer layers than their network has can see here
    which modules were considered and what ruled them out.
    """
    cached = _cache.get(model)
    return [dict(entry) for entry in cached[2]] if cached is not None else []


def discovery_report(model: nn.Module, layers: Iterable[tuple[str, nn.Module, Any]]) -> dict[str, Any]:
    """``{"found": [...], "rejected": [...]}``: each recorded layer and how it was known, each turned-down module."""
    cached = _cache.get(model)
    probed = {name for name, _adapter in cached[1]} if cached is not None else set()
    found = [
        {
            "name": name,
            "type": type(module).__name__,
            "kind": adapter.kind,
            "by": "probe" if name in probed else "registered type",
        }
        for name, module, adapter in layers
    ]
    return {"found": found, "rejected": rejected_modules(model)}


def discovery_lines(report: dict[str, Any]) -> list[str]:
    """The report as lines for a terminal: the found layers, then the rejected modules with their reasons."""
    count = len(report["found"])
    lines = [f"{count} attention layer{'s' if count != 1 else ''} found" + (":" if count else "")]
    lines += [
        f"  {entry['name']} ({entry['type']}): "
        + ("self-attention" if entry["kind"] == "token" else f"{entry['kind']} gate")
        + (", a registered type" if entry["by"] == "registered type" else ", found by the probe")
        for entry in report["found"]
    ]
    if report["rejected"]:
        rejected = len(report["rejected"])
        were = "module looked like a gate but was" if rejected == 1 else "modules looked like gates but were"
        lines.append(f"{rejected} {were} rejected:")
        lines += [f"  {entry['name']} ({entry['type']}): {entry['reason']}" for entry in report["rejected"]]
    return lines


def discovery_summary(report: dict[str, Any]) -> str:
    """One line for the page: the gates and self-attention layers found, and what was turned down and why."""
    tokens = sum(entry["kind"] == "token" for entry in report["found"])
    gates = len(report["found"]) - tokens
    counted = [f"{gates} gate{'s' if gates != 1 else ''}"] if gates or not tokens else []
    counted += [f"{tokens} self-attention layer{'s' if tokens != 1 else ''}"] if tokens else []
    line = " and ".join(counted) + " found"
    rejected = report["rejected"]
    if not rejected:
        return line + "."
    shown = "; ".join(f"{entry['name']} ({entry['reason']})" for entry in rejected[:3])
    more = f"; and {len(rejected) - 3} more" if len(rejected) > 3 else ""
    were = "module looked like a gate but was" if len(rejected) == 1 else "modules looked like gates but were"
    return f"{line}; {len(rejected)} {were} rejected: {shown}{more}."
