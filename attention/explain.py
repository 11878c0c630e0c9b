"""ECA and spatial attention worked out step by step, from one recorded pass.

A teacher wants to show *how* an image's features became a layer's weights,
not only the weights. Everything here is cheap arithmetic on the feature map
the recorder kept and on the module's own parameters: nothing runs the model
again. Each step carries a caption a student can read aloud, and the numbers
are checked against what the layer really recorded, so a module that computes
its gate some other way gets its steps marked as not shown instead of a
plausible but wrong story.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .devices import device_of
from .eca import adaptive_kernel_size
from .errors import InputError

# A recomputed gate counts as the layer's own when it is this close to the recorded one.
MATCH_TOLERANCE = 1e-4
SHOWN_CHANNELS = 4


@dataclass(frozen=True)
class Step:
    """One stage of the computation: a title, a caption in plain words, and its numbers.

    ``missing`` says why the module does not expose this step; the view then
    shows the sentence instead of a picture.
    """

    key: str
    title: str
    caption: str
    values: dict[str, Any] = field(default_factory=dict)
    missing: str | None = None

    @property
    def shown(self) -> bool:
        return self.missing is None


@dataclass(frozen=True)
class Explanation:
    """Every step for one layer and one image, in the order a class would go through them."""

    layer: str
    kind: str  # "channel", "spatial" or "token"
    steps: list[Step]

    @property
    def what(self) -> str:
        """The kind in words, for headings: "channel attention", "spatial attention" or "self-attention"."""
        return "self-attention" if self.kind == "token" else f"{self.kind} attention"

    def step(self, key: str) -> Step:
        for step in self.steps:
            if step.key == key:
                return step
        raise KeyError(key)

    @property
    def missing(self) -> list[Step]:
        return [step for step in self.steps if not step.shown]


def _tensor(values: np.ndarray | torch.Tensor) -> torch.Tensor:
    tensor = torch.as_tensor(np.asarray(values, dtype=np.float32))
    return tensor.detach().to("cpu", torch.float32)


def _gate_function(module: nn.Module) -> tuple[str, Any]:
    """The module's gate as (name, function on a tensor); sigmoid unless it says otherwise."""
    gate = getattr(module, "gate", None) or getattr(module, "sigmoid", None)
    if isinstance(gate, nn.Hardsigmoid):
        return "hard sigmoid", F.hardsigmoid
    return "sigmoid", torch.sigmoid


def _conv1d(module: nn.Module) -> nn.Conv1d | None:
    conv = getattr(module, "conv", None)
    if isinstance(conv, nn.Conv1d) and conv.in_channels == 1 and conv.out_channels == 1:
        return conv
    return None


def _pooling(module: nn.Module) -> str | None:
    """Which pooled vectors the module feeds its kernel: this project's ECA says so, others by their pooling
    layers (ECA-Net's ``avg_pool``); None when the module does not say."""
    pooling = getattr(module, "pooling", None)
    if pooling in ("avgmax", "avg", "max"):
        return str(pooling)
    has_avg = hasattr(module, "avg_pool") or hasattr(module, "avgpool")
    has_max = hasattr(module, "max_pool") or hasattr(module, "maxpool")
    if has_avg and has_max:
        return "avgmax"
    return "max" if has_max else "avg" if has_avg else None


def _pooling_step(x: torch.Tensor, pooling: str) -> Step:
    """Step 2 of a channel gate: the per-channel summaries it really computes (average, max, or both)."""
    channels = int(x.shape[0])
    pooled = {"avg": x.mean(dim=(1, 2)).numpy(), "max": x.amax(dim=(1, 2)).numpy()}
    if pooling == "avgmax":
        return Step(
            "pooling",
            "2. Squeeze each channel to one number, twice",
            "Each channel is summed up by its average over all pixels, and by its single strongest pixel. "
            f"That gives two lists of {channels} numbers.",
            pooled,
        )
    by = "avg" if pooling == "avg" else "max"
    what = "its average over all pixels" if by == "avg" else "its single strongest pixel"
    return Step(
        "pooling",
        f"2. Squeeze each channel to one number: {what}",
        f"Each channel is summed up by {what}. That gives one list of {channels} numbers.",
        {by: pooled[by]},
    )


def _circular(module: nn.Module, conv: nn.Conv1d) -> int:
    """The wrap-around padding of a module that pads the channel list itself (timm's CecaModule); 0 otherwise."""
    padding = getattr(module, "padding", 0)
    if isinstance(padding, int) and padding > 0 and tuple(conv.padding) == (0,):
        return padding
    return 0


def _kernel_caption(channels: int, kernel_size: int) -> tuple[str, dict[str, Any]]:
    exact = math.log2(channels) / 2 + 0.5
    rounded = int(abs(exact))
    formula = adaptive_kernel_size(channels)
    padding = (kernel_size - 1) // 2
    caption = (
        f"One small kernel of {kernel_size} numbers slides along the list of channels, so each channel's weight "
        f"depends on its {kernel_size - 1} nearest neighbours. The rule k = |log2(C)/2 + 1/2| gives, for "
        f"C = {channels}: {exact:.2f}, rounded down to {rounded}, made odd: {formula}"
        + ("." if formula == kernel_size else f" (this layer was built with k = {kernel_size} instead).")
        + f" k is odd so that, padded by (k-1)/2 = {padding} on each end, {channels} channels in give "
        f"{channels} weights out; an even k would shift every weight by one channel."
    )
    return caption, {"formula_exact": exact, "formula_rounded": rounded, "formula_k": formula, "padding": padding}


def _input_step(features: Any, shown: Any) -> Step:
    """The first step of every channel explanation: the feature map the layer receives, its top channels shown."""
    channels, height, width = _tensor(features).shape
    return Step(
        "input",
        "1. The feature map that enters the layer",
        f"The layer receives {channels} feature maps of {height}x{width} pixels, one per channel. "
        f"These are the {len(shown)} channels the layer ends up weighting most.",
        {"features": features, "channels": shown},
    )


def _shown_channels(weights: np.ndarray | None, channels: int, count: int = SHOWN_CHANNELS) -> list[int]:
    if weights is None:
        return list(range(min(count, channels)))
    return [int(c) for c in np.argsort(-weights, kind="stable")[:count]]


def explain_channel(
    name: str, module: nn.Module, features: np.ndarray, weights: np.ndarray | None = None
) -> Explanation:
    """ECA's six steps on one image's input feature map (C, H, W).

    ``weights`` are the recorded channel weights; when given, the recomputed
    ones must match them, or the steps after pooling are marked as not shown.
    """
    x = _tensor(features)
    if x.ndim != 3:
        raise ValueError(f"features must be (C, H, W), got {tuple(x.shape)}")
    channels, height, width = x.shape
    shown = _shown_channels(weights, channels)
    steps = [_input_step(features, shown)]
    avg = x.mean(dim=(1, 2))
    peak = x.amax(dim=(1, 2))
    conv = _conv1d(module)
    # A 1-D kernel across channels with no pooling declared is ECA's: the original (ECA-Net, timm) averages.
    pooling = _pooling(module) or ("avg" if conv is not None else None)
    if pooling is None:
        steps.append(
            Step("pooling", "2. Squeeze each channel", "", missing=f"{type(module).__name__} does not say how it pools")
        )
    else:
        steps.append(_pooling_step(x, pooling))
    if conv is None:
        reason = f"{type(module).__name__} has no single 1-D kernel across channels to show"
        steps += [
            Step("kernel", "3. The learned 1-D kernel", "", missing=reason),
            Step("branches", "4. Both lists through the kernel", "", missing=reason),
        ]
        if weights is not None:
            steps.append(_gate_points_only(weights))
            steps.append(_channel_scaling(x, weights))
        else:
            steps += [
                Step("gate", "5. The gate", "", missing="no recorded weights for this layer"),
                Step("scaling", "6. Scale every channel", "", missing="no recorded weights for this layer"),
            ]
        return Explanation(name, "channel", steps)
    assert pooling is not None

    kernel_size = int(conv.kernel_size[0])
    taps = conv.weight.detach().to("cpu", torch.float32).reshape(-1)
    bias = None if conv.bias is None else float(conv.bias.detach().reshape(-1)[0])
    wrap = _circular(module, conv)
    caption, formula = _kernel_caption(channels, kernel_size)
    if wrap:
        caption += (
            f" This layer pads the list circularly instead of with zeros: the last {wrap} channels wrap around "
            "to the front and the first ones to the back, so every channel has full neighbours."
        )
    steps.append(
        Step(
            "kernel",
            f"3. The learned 1-D kernel (k = {kernel_size})",
            caption,
            {"taps": taps.numpy(), "kernel_size": kernel_size, "channels": channels, "bias": bias, **formula},
        )
    )

    def through_kernel(vector: torch.Tensor) -> torch.Tensor:
        bias = None if conv.bias is None else conv.bias.detach().float()
        row = vector.reshape(1, 1, -1)
        if wrap:
            row = F.pad(row, (wrap, wrap), mode="circular")
        return F.conv1d(row, conv.weight.detach().float(), bias, padding=conv.padding)[0, 0]

    avg_part = through_kernel(avg) if pooling != "max" else None
    max_part = through_kernel(peak) if pooling != "avg" else None
    if avg_part is not None and max_part is not None:
        logits = avg_part + max_part
        together = through_kernel(avg + peak)
        difference = float((logits - together).abs().max())
        identity = (
            "Because the kernel is linear and has no bias, running it once over (average + max) gives "
            f"the same sum: the largest difference here is {difference:.1e}."
            if bias is None
            else f"This kernel has a bias ({bias:.3f}), so one run over (average + max) differs from the sum "
            "by exactly that bias."
        )
        caption = (
            "The same kernel runs along the list of averages and along the list of maxima; adding the two "
            f"results gives one score (a logit) per channel. {identity}"
        )
        values = {
            "avg_part": avg_part.numpy(),
            "max_part": max_part.numpy(),
            "logits": logits.numpy(),
            "one_conv": together.numpy(),
            "identity_difference": difference,
        }
        title = "4. Both lists through the kernel, then added"
    else:
        logits = avg_part if avg_part is not None else max_part
        assert logits is not None
        label = "average" if avg_part is not None else "max"
        caption = (
            f"This layer pools by {label} only"
            + (" (as the original ECA does)" if label == "average" else " (the original ECA uses the average)")
            + ": the kernel runs along that list and gives one score (a logit) per channel."
        )
        values = {f"{label[:3]}_part": logits.numpy(), "logits": logits.numpy()}
        title = f"4. The list of {'averages' if label == 'average' else 'maxima'} through the kernel"
    steps.append(Step("branches", title, caption, values))

    gate_name, gate = _gate_function(module)
    computed = gate(logits)
    if weights is not None and (
        computed.shape != (channels,) or float((computed - _tensor(weights)).abs().max()) > MATCH_TOLERANCE
    ):
        reason = (
            f"recomputing {type(module).__name__}'s weights from its kernel does not reproduce the recorded ones, "
            "so this module computes them some other way"
        )
        steps[-2:] = [
            Step(steps[-2].key, steps[-2].title, "", missing=reason),
            Step(steps[-1].key, steps[-1].title, "", missing=reason),
        ]
        steps.append(_gate_points_only(weights))
        steps.append(_channel_scaling(x, weights))
        return Explanation(name, "channel", steps)
    final = computed.numpy() if weights is None else np.asarray(weights, dtype=np.float32)
    steps.append(
        Step(
            "gate",
            f"5. The gate ({gate_name}) turns each score into a weight between 0 and 1",
            f"The {gate_name} squashes every score into the range 0 to 1. Each dot is one of the {channels} "
            "channels, placed on the curve: high scores keep their channel, low scores dim it.",
            {"logits": logits.numpy(), "weights": final, "gate": gate_name},
        )
    )
    steps.append(_channel_scaling(x, final))
    return Explanation(name, "channel", steps)


def _gate_points_only(weights: np.ndarray) -> Step:
    return Step(
        "gate",
        "5. The weights, after the gate",
        f"The layer's gate gave each of its {len(weights)} channels a weight between 0 and 1 (its scores before "
        "the gate are not exposed by this module).",
        {"logits": None, "weights": np.asarray(weights, dtype=np.float32), "gate": "gate"},
    )


def _channel_scaling(x: torch.Tensor, weights: np.ndarray) -> Step:
    # The channel that loses the most signal is the one where the scaling is easiest to see.
    strength = x.flatten(1).abs().mean(dim=1).numpy()
    channel = int(np.argmax(strength * (1.0 - np.asarray(weights, dtype=np.float32))))
    weight = float(weights[channel])
    before = x[channel].numpy()
    return Step(
        "scaling",
        "6. Every channel is multiplied by its weight",
        f"Each pixel of a channel is multiplied by that channel's weight. Channel {channel} has weight "
        f"{weight:.3f}: after scaling it keeps {weight:.0%} of its strength.",
        {
            "weights": np.asarray(weights, dtype=np.float32),
            "channel": channel,
            "before": before,
            "after": before * weight,
        },
    )


def _spatial_parts(module: nn.Module) -> tuple[nn.Conv2d | None, nn.Module | None]:
    """The 2-map k x k kernel and the norm after it: the module's own ``conv`` and ``norm``, or those inside a
    conv-norm block (timm's ``ConvNormAct``: ``conv.conv`` and ``conv.bn``)."""
    conv, norm = getattr(module, "conv", None), getattr(module, "norm", None)
    inner = getattr(conv, "conv", None)
    if not isinstance(conv, nn.Conv2d) and isinstance(inner, nn.Conv2d):
        conv, norm = inner, getattr(module.conv, "bn", None)
    if isinstance(conv, nn.Conv2d) and conv.in_channels == 2 and conv.out_channels == 1:
        return conv, norm
    return None, norm


def _normalised(norm: nn.Module | None, logits: torch.Tensor) -> torch.Tensor:
    """Scores after the layer's BatchNorm, if it has one, as in eval mode: with its running statistics."""
    if not isinstance(norm, nn.BatchNorm2d):
        return logits
    scale = norm.weight.detach().float() if norm.weight is not None else torch.ones(1)
    shift = norm.bias.detach().float() if norm.bias is not None else torch.zeros(1)
    mean, var = norm.running_mean, norm.running_var
    if mean is None or var is None:
        return logits
    return (logits - mean.float()) / torch.sqrt(var.float() + norm.eps) * scale + shift


def explain_spatial(name: str, module: nn.Module, features: np.ndarray, mask: np.ndarray | None = None) -> Explanation:
    """Spatial attention's four steps on one image's input feature map (C, H, W).

    The two pooled maps are stacked (max, mean) as in CBAM; a module that
    stacks them the other way round is recognised by checking both orders
    against the recorded ``mask``.
    """
    x = _tensor(features)
    if x.ndim != 3:
        raise ValueError(f"features must be (C, H, W), got {tuple(x.shape)}")
    channels, height, width = x.shape
    peak = x.amax(dim=0)
    mean = x.mean(dim=0)
    steps = [
        Step(
            "pooling",
            "1. Squeeze the channels at every pixel, twice",
            f"At every one of the {height}x{width} pixels, the layer looks across all {channels} channels and keeps "
            "two numbers: the strongest channel there (max) and the average over channels (mean).",
            {"max": peak.numpy(), "mean": mean.numpy()},
        )
    ]
    conv, norm = _spatial_parts(module)
    gate_name, gate = _gate_function(module)
    chosen = None
    if conv is not None:
        weight = conv.weight.detach().float()
        for order, stacked in (("max, mean", (peak, mean)), ("mean, max", (mean, peak))):
            bias = None if conv.bias is None else conv.bias.detach().float()
            logits = F.conv2d(torch.stack(stacked)[None], weight, bias, padding=conv.padding)[0, 0]
            logits = _normalised(norm, logits)
            computed = gate(logits)
            if mask is None or float((computed - _tensor(mask)).abs().max()) <= MATCH_TOLERANCE:
                chosen = (order, weight, logits, computed)
                break
    if chosen is None:
        reason = (
            f"{type(module).__name__} has no 2-channel k x k kernel to show"
            if conv is None
            else f"recomputing {type(module).__name__}'s mask from its kernel does not reproduce the recorded one"
        )
        steps += [
            Step("kernel", "2. The learned kernel", "", missing=reason),
            Step("gate", "3. Scores, then the gate", "", missing=reason),
        ]
        if mask is None:
            steps.append(Step("scaling", "4. Every pixel is multiplied by the mask", "", missing="no recorded mask"))
            return Explanation(name, "spatial", steps)
        final = np.asarray(mask, dtype=np.float32)
    else:
        order, weight, logits, computed = chosen
        first, second = order.split(", ")
        size = int(weight.shape[-1])
        steps.append(
            Step(
                "kernel",
                f"2. The learned {size}x{size} kernel, one slice per map",
                f"A {size}x{size} kernel with two slices slides over the {first} map and the {second} map together: "
                "each pixel's score mixes its neighbourhood in both maps. Positive numbers raise the score, "
                "negative ones lower it.",
                {"kernel": weight[0].numpy(), "order": [first, second], "kernel_size": size},
            )
        )
        final = computed.numpy() if mask is None else np.asarray(mask, dtype=np.float32)
        low, high = float(final.min()), float(final.max())
        steps.append(
            Step(
                "gate",
                f"3. Scores, then the gate ({gate_name})",
                "The kernel gives every pixel a score (a logit)"
                + (", which a batch norm rescales to a steady spread" if isinstance(norm, nn.BatchNorm2d) else "")
                + f"; the {gate_name} turns each score into a mask value "
                f"between 0 and 1. Here the mask runs from {low:.2f} to {high:.2f}: on the true 0-1 scale "
                + (
                    "that is almost one colour, so the stretched view shows where the differences are."
                    if high - low < 0.1
                    else "you can see which pixels it keeps."
                ),
                {"logits": logits.numpy(), "mask": final, "gate": gate_name},
            )
        )
    channel = int(torch.argmax(x.flatten(1).abs().mean(dim=1)))
    before = x[channel].numpy()
    steps.append(
        Step(
            "scaling",
            "4. Every pixel is multiplied by the mask",
            f"One mask scales every channel alike. Channel {channel}, before and after: where the mask is near 0 "
            "the features fade, where it is near 1 they stay.",
            {"mask": final, "channel": channel, "before": before, "after": before * final},
        )
    )
    return Explanation(name, "spatial", steps)


@dataclass(frozen=True)
class Bottleneck:
    """The parts of a squeeze-and-excitation style gate: reduce, activation, (norm,) expand, gate."""

    reduce: nn.Module
    activation: nn.Module
    expand: nn.Module
    norm: nn.Module | None
    gate: nn.Module
    gate_name: str


def _linear_like(layer: Any) -> bool:
    return isinstance(layer, nn.Linear) or (isinstance(layer, nn.Conv2d) and tuple(layer.kernel_size) == (1, 1))


def bottleneck(module: nn.Module) -> Bottleneck | None:
    """The bottleneck of an SE-style module (this project's SE and CBAM gate, timm's SEModule and SqueezeExcite
    blocks, torchvision's SqueezeExcitation); None for any other module."""
    mlp = getattr(module, "mlp", None)
    if isinstance(mlp, nn.Sequential) and len(mlp) == 3 and _linear_like(mlp[0]) and _linear_like(mlp[2]):
        reduce, activation, expand, norm = mlp[0], mlp[1], mlp[2], None
    else:
        reduce = getattr(module, "fc1", None) or getattr(module, "conv_reduce", None)
        expand = getattr(module, "fc2", None) or getattr(module, "conv_expand", None)
        if not (_linear_like(reduce) and _linear_like(expand)) or getattr(module, "add_maxpool", False):
            return None
        activation = next(
            (
                getattr(module, key)
                for key in ("act", "activation", "act1")
                if isinstance(getattr(module, key, None), nn.Module)
            ),
            nn.ReLU(),
        )
        norm = getattr(module, "bn", None)
    gate = getattr(module, "scale_activation", None) or getattr(module, "gate", None) or nn.Sigmoid()
    kind = type(gate).__name__.lower()  # torch's and timm's own Sigmoid and HardSigmoid classes
    gate_name = "hard sigmoid" if "hard" in kind and "sigmoid" in kind else "sigmoid" if "sigmoid" in kind else kind
    return Bottleneck(reduce, activation, expand, norm, gate, gate_name)


def _matrix(layer: nn.Module) -> np.ndarray:
    weight = layer.weight.detach().to("cpu", torch.float32)  # type: ignore[union-attr]
    return weight.reshape(weight.shape[0], -1).numpy()


def _through(layer: nn.Module, vector: torch.Tensor) -> torch.Tensor:
    """A pooled vector (C,) through a Linear or a 1x1 Conv2d, as (C',)."""
    with torch.no_grad():
        if isinstance(layer, nn.Conv2d):
            return layer(vector.reshape(1, -1, 1, 1).to(layer.weight.dtype)).reshape(-1).float()
        return layer(vector.reshape(1, -1).to(layer.weight.dtype)).reshape(-1).float()  # type: ignore[union-attr]


def explain_squeeze_excite(
    name: str, module: nn.Module, features: np.ndarray, weights: np.ndarray | None = None
) -> Explanation | None:
    """Squeeze-and-excitation's own five steps: squeeze by average (CBAM: and max), bottleneck, gate, scale.

    None when the module is not SE-like, or when recomputing its weights does
    not reproduce the recorded ones (it then gets the general view).
    """
    parts = bottleneck(module)
    x = _tensor(features)
    if parts is None or x.ndim != 3:
        return None
    channels, height, width = x.shape
    pooled = {"avg": x.mean(dim=(1, 2)), "max": x.amax(dim=(1, 2))}

    def excite(vector: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = _through(parts.reduce, vector)
        with torch.no_grad():
            if parts.norm is not None and not isinstance(parts.norm, nn.Identity):
                hidden = parts.norm(hidden.reshape(1, -1, 1, 1)).reshape(-1)
            hidden = parts.activation(hidden.clone())
        return hidden, _through(parts.expand, hidden)

    def gated(pooling: tuple[str, ...]) -> tuple[dict[str, Any], torch.Tensor, torch.Tensor] | None:
        try:
            excited = {key: excite(pooled[key]) for key in pooling}
            logits = torch.stack([logit for _hidden, logit in excited.values()]).sum(dim=0)
            with torch.no_grad():
                computed = parts.gate(logits.clone()).float()
        except (RuntimeError, ValueError):  # shapes that do not fit this reading of the module
            return None
        if computed.shape != (channels,):
            return None
        if weights is not None and float((computed - _tensor(weights)).abs().max()) > MATCH_TOLERANCE:
            return None
        return excited, logits, computed

    # SE squeezes by average; CBAM's channel gate (this project's, timm's ChannelAttn) by average and max, both
    # through the one MLP. The recorded weights say which this module is; without them its type does.
    cbam = type(module).__name__ in ("CBAMChannelGate", "ChannelAttn")
    for pooling in (("avg", "max"), ("avg",)) if cbam else (("avg",), ("avg", "max")):
        found = gated(pooling)
        if found is not None:
            break
    if found is None:
        return None
    excited, logits, computed = found
    final = computed.numpy() if weights is None else np.asarray(weights, dtype=np.float32)
    shown = _shown_channels(final, channels)
    reduced = _matrix(parts.reduce).shape[0]
    both = pooling == ("avg", "max")
    hidden = excited["avg"][0]
    steps = [
        _input_step(features, shown),
        _pooling_step(x, "avgmax" if both else "avg"),
        Step(
            "bottleneck",
            f"3. The bottleneck: {channels} numbers down to {reduced}, then back up to {channels}",
            f"The reduce layer (a {reduced}x{channels} matrix) mixes the {channels} averages into {reduced} "
            f"numbers, {type(parts.activation).__name__} keeps the positive ones"
            + (", after a batch norm" if parts.norm is not None and not isinstance(parts.norm, nn.Identity) else "")
            + f", and the expand layer (a {channels}x{reduced} matrix) turns them back into one score per channel."
            + (" The list of maxima goes through the same two layers, and the two scores are added." if both else ""),
            {
                "reduce": _matrix(parts.reduce),
                "hidden": hidden.numpy(),
                "expand": _matrix(parts.expand),
                "logits": logits.numpy(),
            },
        ),
        Step(
            "gate",
            f"4. The gate ({parts.gate_name}) turns each score into a weight between 0 and 1",
            f"The {parts.gate_name} squashes every score into the range 0 to 1. Each dot is one of the {channels} "
            "channels, placed on the curve: high scores keep their channel, low scores dim it.",
            {"logits": logits.numpy(), "weights": final, "gate": parts.gate_name},
        ),
    ]
    scaling = _channel_scaling(x, final)
    steps.append(Step(scaling.key, "5. Every channel is multiplied by its weight", scaling.caption, scaling.values))
    return Explanation(name, "channel", steps)


EXPLAINED_KINDS = ("channel", "spatial", "token")
NOT_EXPLAINED = {
    "element": "a gate with one factor per channel and pixel",
    "branch": "softmax weights over parallel branches",
}


def check_explained(name: str, kind: str) -> None:
    """Refuse, in one line, a layer of a kind the step-by-step view does not work through."""
    if kind not in EXPLAINED_KINDS:
        what = NOT_EXPLAINED.get(kind, f"a {kind} layer")
        raise InputError(
            f"{name} is {what}: the step-by-step view works through channel gates, spatial masks and self-attention"
        )


def explain_layer(
    name: str,
    module: nn.Module,
    kind: str,
    features: np.ndarray,
    recorded: np.ndarray | None = None,
    layout: Any = None,
) -> Explanation:
    """The step-by-step view of one recorded layer; ``recorded`` is its weights (channel) or mask (spatial).

    A squeeze-and-excitation style module gets its own steps; any other channel layer ECA's. A self-attention
    layer (``token``) needs its recorded attention from token 0 and its ``TokenLayout``. A layer on a GPU is
    explained from a CPU copy: its arithmetic is a few small matrices, and every number ends up on the page anyway.
    """
    check_explained(name, kind)
    if device_of(module).type != "cpu":
        module = copy.deepcopy(module).cpu()
    if kind == "token":
        from .explain_tokens import explain_tokens  # it builds on this module's Step and Explanation

        if recorded is None or layout is None:
            raise ValueError("a self-attention layer is explained from its recorded attention and token layout")
        return explain_tokens(name, module, features, recorded, layout)
    if kind == "channel":
        own = explain_squeeze_excite(name, module, features, recorded)
        return own if own is not None else explain_channel(name, module, features, recorded)
    return explain_spatial(name, module, features, recorded)
