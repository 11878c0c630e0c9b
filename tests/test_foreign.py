"""The recorder finds and records attention it was never told about: timm, torchvision, users' own code.

Every expected gate here is recomputed in the test from the module's
parameters and its recorded input with plain functional calls, not through
the adapters, so a wrong adapter cannot agree with itself.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from attention.discovery import (
    discover_attention,
    discovery_lines,
    discovery_report,
    discovery_summary,
    rejected_modules,
    require_attention,
)
from attention.errors import InputError
from attention.foreign import register_foreign_types
from attention.recorder import AttentionRecorder, ChannelRecord, SpatialRecord, find_attention_layers
from tests import networks_zoo as zoo

SIZE = 64
TOLERANCE = 1e-6
MAX_DIFFERENCE: dict[str, float] = {}


def find_layers(model: nn.Module, input_size: tuple[int, int, int] = (3, SIZE, SIZE)) -> list[tuple[str, Any, Any]]:
    """Registry first (timm and torchvision types included), then discovery, in module order."""
    return find_attention_layers(model, input_size)


def kind_of(adapter: Any) -> str:
    return adapter.kind


# Independent references: the gate from the module's parameters and its input -----------------


def _bn(x: torch.Tensor, bn: nn.BatchNorm2d) -> torch.Tensor:
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)


def _eca_conv(conv: nn.Conv1d, pooled: torch.Tensor, circular: bool = False) -> torch.Tensor:
    y = pooled.unsqueeze(1)
    if circular:
        pad = (conv.kernel_size[0] - 1) // 2
        return F.conv1d(F.pad(y, (pad, pad), mode="circular"), conv.weight, conv.bias).squeeze(1)
    return F.conv1d(y, conv.weight, conv.bias, padding=conv.padding).squeeze(1)


def _se(x: torch.Tensor, fc1: nn.Conv2d, act: Callable, fc2: nn.Conv2d, gate: Callable) -> torch.Tensor:
    hidden = act(F.conv2d(x.mean((2, 3), keepdim=True), fc1.weight, fc1.bias))
    return gate(F.conv2d(hidden, fc2.weight, fc2.bias)).flatten(1)


def _norm(t: torch.Tensor, norm: nn.Module) -> torch.Tensor:
    if isinstance(norm, nn.BatchNorm2d):
        return _bn(t, norm)
    if isinstance(norm, nn.GroupNorm):
        return F.group_norm(t, norm.num_groups, norm.weight, norm.bias, norm.eps)
    assert isinstance(norm, nn.Identity), type(norm)
    return t


def _element(gate: torch.Tensor, **factors: torch.Tensor) -> dict[str, torch.Tensor]:
    """What an element record holds of a (B, C, H, W) gate: its means over channels and over pixels."""
    return {"map": gate.mean(1), "per_channel": gate.mean((2, 3)), **factors}


def _depthwise(t: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    return F.conv2d(t, conv.weight, conv.bias, padding=conv.padding, groups=conv.groups)


def _element_reference(name: str, module: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor] | None:
    """Gates with one factor per channel and pixel, and weights over branches, from the module's parameters."""
    height = x.shape[2]
    if name == "CoordAttn":  # pooled rows and columns through one 1x1 bottleneck, then a gate each
        pooled = torch.cat([x.mean(3, keepdim=True), x.mean(2, keepdim=True).transpose(-1, -2)], 2)
        hidden = module.act(_norm(F.conv2d(pooled, module.conv1.weight, module.conv1.bias), module.bn1))
        rows = torch.sigmoid(F.conv2d(hidden[:, :, :height], module.conv_h.weight, module.conv_h.bias))
        columns = torch.sigmoid(
            F.conv2d(hidden[:, :, height:].transpose(-1, -2), module.conv_w.weight, module.conv_w.bias)
        )
        return _element(rows * columns, rows=rows[..., 0], columns=columns[:, :, 0])
    if name == "EfficientLocalAttn":  # depthwise strip convolutions, a norm, an activation, a gate each
        rows = torch.sigmoid(module.act(_norm(_depthwise(x.mean(3, keepdim=True), module.conv_h), module.norm_h)))
        columns = torch.sigmoid(module.act(_norm(_depthwise(x.mean(2, keepdim=True), module.conv_w), module.norm_w)))
        return _element(rows * columns, rows=rows[..., 0], columns=columns[:, :, 0])
    if name == "SimpleCoordAttn":  # one shared linear bottleneck, a sum of a row and a column term, one gate
        rows = module.act(F.linear(x.mean(3).transpose(1, 2), module.fc1.weight, module.fc1.bias))
        columns = module.act(F.linear(x.mean(2).transpose(1, 2), module.fc1.weight, module.fc1.bias))
        row_term = F.linear(rows, module.fc_h.weight, module.fc_h.bias).transpose(1, 2).unsqueeze(-1)
        column_term = F.linear(columns, module.fc_w.weight, module.fc_w.bias).transpose(1, 2).unsqueeze(-2)
        return _element(torch.sigmoid(row_term + column_term))
    if name == "StripAttn":
        rows, columns = x.mean(3, keepdim=True), x.mean(2, keepdim=True)
        if isinstance(module.conv_h, nn.Conv2d):
            rows, columns = _depthwise(rows, module.conv_h), _depthwise(columns, module.conv_w)
        return _element(torch.sigmoid(rows + columns))
    if name == "simam_module":  # each element's squared distance to its channel's mean, over the channel's energy
        n = x.shape[2] * x.shape[3] - 1
        square = (x - x.mean((2, 3), keepdim=True)) ** 2
        return _element(torch.sigmoid(square / (4 * (square.sum((2, 3), keepdim=True) / n + module.e_lambda)) + 0.5))
    if name == "BAM":  # 1 + sigmoid(channel + spatial), read back from the output where the input is not zero
        gate = torch.sigmoid(module.channel_att(x) + module.spatial_att(x))
        readable = (x != 0).to(gate.dtype)
        return {
            "map": (gate * readable).sum(1) / readable.sum(1),
            "per_channel": (gate * readable).sum((2, 3)) / readable.sum((2, 3)),
        }
    if name == "SelectiveKernel":  # softmax over the paths of a squeeze of their sum, per channel
        inputs = torch.split(x, x.shape[1] // len(module.paths), 1) if module.split_input else [x] * len(module.paths)
        summed = sum(path(part) for path, part in zip(module.paths, inputs)).mean((2, 3), keepdim=True)
        attn = module.attn
        hidden = attn.act(_norm(F.conv2d(summed, attn.fc_reduce.weight, attn.fc_reduce.bias), attn.bn))
        logits = F.conv2d(hidden, attn.fc_select.weight, attn.fc_select.bias).flatten(1)
        return {"weights": torch.softmax(logits.view(x.shape[0], len(module.paths), -1), dim=1)}
    if name == "SplitAttn":  # softmax over the radix splits of a squeeze of their sum, within each cardinal group
        features = module.act0(_norm(module.conv(x), module.bn0))
        batch, radix = x.shape[0], module.radix
        summed = features.reshape(batch, radix, -1, *features.shape[2:]).sum(1).mean((2, 3), keepdim=True)
        hidden = module.act1(_norm(F.conv2d(summed, module.fc1.weight, module.fc1.bias, groups=module.fc1.groups),
                                   module.bn1))  # fmt: skip
        logits = F.conv2d(hidden, module.fc2.weight, module.fc2.bias, groups=module.fc2.groups).flatten(1)
        grouped = logits.view(batch, module.rsoftmax.cardinality, radix, -1)
        return {"weights": torch.softmax(grouped, dim=2).transpose(1, 2).reshape(batch, radix, -1)}
    if name == "DoubledSE":  # the sigmoid in 0 to 1; the record's gain (2) says what multiplied
        return {"weights": _se(x, module.fc1, F.relu, module.fc2, torch.sigmoid)}
    return None


def reference(module: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The values a record of this module must hold: weights (+ avg, max) or mask (+ logits), or an element gate's."""
    name = type(module).__name__
    element = _element_reference(name, module, x)
    if element is not None:
        return element
    if name == "EcaModule" and getattr(module, "conv2", None) is not None:  # timm's "ecam": a two-layer conv MLP
        first, second = module.conv, module.conv2  # Conv1d(1, m, k) then Conv1d(m, 1, k)
        hidden = module.act(F.conv1d(x.mean((2, 3))[:, None], first.weight, first.bias, padding=first.padding))
        return {"weights": torch.sigmoid(F.conv1d(hidden, second.weight, second.bias, padding=second.padding))[:, 0]}
    if name in ("EcaModule", "eca_layer"):
        return {"weights": torch.sigmoid(_eca_conv(module.conv, x.mean((2, 3))))}
    if name == "GlobalContext":  # softmax-weighted context, the module's own MLP (with its LayerNorm), a sigmoid
        weights = torch.softmax(F.conv2d(x, module.conv_attn.weight, module.conv_attn.bias).flatten(1), dim=1)
        context = torch.einsum("bcp,bp->bc", x.flatten(2), weights)[:, :, None, None]
        return {"weights": torch.sigmoid(module.mlp_scale(context)).flatten(1)}
    if name == "CecaModule":
        return {"weights": torch.sigmoid(_eca_conv(module.conv, x.mean((2, 3)), circular=True))}
    if name == "ECAAttention":
        avg, mx = _eca_conv(module.conv, x.mean((2, 3))), _eca_conv(module.conv, x.amax((2, 3)))
        return {"weights": torch.sigmoid(avg + mx), "avg": avg, "max": mx}
    if name == "LightChannelAttn":
        pooled = 0.5 * x.mean((2, 3), keepdim=True) + 0.5 * x.amax((2, 3), keepdim=True)
        hidden = F.relu(F.conv2d(pooled, module.fc1.weight, module.fc1.bias))
        return {"weights": torch.sigmoid(F.conv2d(hidden, module.fc2.weight, module.fc2.bias)).flatten(1)}
    if name == "LightSpatialAttn":
        conv = module.conv.conv
        pooled = 0.5 * x.mean(1, keepdim=True) + 0.5 * x.amax(1, keepdim=True)
        logits = _bn(F.conv2d(pooled, conv.weight, conv.bias, padding=conv.padding), module.conv.bn)[:, 0]
        return {"mask": torch.sigmoid(logits), "logits": logits}
    if name == "EffectiveSEModule":
        return {
            "weights": F.hardsigmoid(F.conv2d(x.mean((2, 3), keepdim=True), module.fc.weight, module.fc.bias)).flatten(
                1
            )
        }
    if name == "SEModule":
        return {"weights": _se(x, module.fc1, F.relu, module.fc2, torch.sigmoid)}
    if name == "SqueezeExcite":  # timm's MobileNetV3 / EfficientNet block: its gate is hard sigmoid or sigmoid
        gate = F.hardsigmoid if "hard" in type(module.gate).__name__.lower() else torch.sigmoid
        return {"weights": _se(x, module.conv_reduce, module.act1, module.conv_expand, gate)}
    if name == "SqueezeExcitation":
        gate = F.hardsigmoid if isinstance(module.scale_activation, nn.Hardsigmoid) else torch.sigmoid
        return {"weights": _se(x, module.fc1, module.activation, module.fc2, gate)}
    if name == "ChannelAttn":  # timm CBAM channel part: a shared MLP on each pooling

        def mlp(pooled: torch.Tensor) -> torch.Tensor:
            hidden = F.relu(F.conv2d(pooled, module.fc1.weight, module.fc1.bias))
            return F.conv2d(hidden, module.fc2.weight, module.fc2.bias).flatten(1)

        avg, mx = mlp(x.mean((2, 3), keepdim=True)), mlp(x.amax((2, 3), keepdim=True))
        return {"weights": torch.sigmoid(avg + mx), "avg": avg, "max": mx}
    if name == "SpatialAttn":  # timm CBAM spatial part: conv + bn on [mean, max]
        conv = module.conv.conv
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
        logits = _bn(F.conv2d(pooled, conv.weight, conv.bias, padding=conv.padding), module.conv.bn)[:, 0]
        return {"mask": torch.sigmoid(logits), "logits": logits}
    if name == "SpatialAttention":  # blog style
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
        logits = F.conv2d(pooled, module.conv.weight, padding=module.conv.padding)[:, 0]
        return {"mask": torch.sigmoid(logits), "logits": logits}
    if name == "ChannelGate":  # official CBAM: Linear MLP on avg and max pooling, functional sigmoid
        first, last = module.mlp[1], module.mlp[3]

        def mlp(pooled: torch.Tensor) -> torch.Tensor:
            return F.linear(F.relu(F.linear(pooled, first.weight, first.bias)), last.weight, last.bias)

        return {"weights": torch.sigmoid(mlp(x.mean((2, 3))) + mlp(x.amax((2, 3))))}
    if name == "SpatialGate":  # official CBAM: [max, mean], conv + bn, functional sigmoid
        conv = module.spatial.conv
        pooled = torch.cat([x.amax(1, keepdim=True), x.mean(1, keepdim=True)], 1)
        logits = _bn(F.conv2d(pooled, conv.weight, padding=conv.padding), module.spatial.bn)[:, 0]
        return {"mask": torch.sigmoid(logits)}
    if name == "AttentionGate":  # triplet attention's (H, W) gate: [max, mean] over channels
        pooled = torch.cat([x.amax(1, keepdim=True), x.mean(1, keepdim=True)], 1)
        return {"mask": torch.sigmoid(F.conv2d(pooled, module.conv.weight, padding=module.conv.padding))[:, 0]}
    if name in ("SoftmaxSpatialGate", "HardSpatial"):
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
        logits = F.conv2d(pooled, module.conv.weight, padding=module.conv.padding)
        if name == "HardSpatial":
            return {"mask": F.hardsigmoid(logits)[:, 0]}
        return {"mask": torch.softmax(logits.flatten(1), dim=1).view_as(logits)[:, 0]}
    if name == "HardSE":
        return {"weights": _se(x, module.fc1, F.relu, module.fc2, F.hardsigmoid)}
    raise AssertionError(f"no reference for {name}")


# The families -------------------------------------------------------------------------------

# name -> (builder, expected {record type: count} or a function of the model giving it, expected kernel sizes)
FAMILIES: dict[str, tuple[Callable[[], nn.Module], Any]] = {
    "blog ECA+SA in torchvision resnet18": (zoo.blog_resnet18, {"eca": 8, "spatial": 8}),
    "official eca_resnet18 layout": (zoo.official_eca_resnet18, {"eca": 8}),
    # Deep gates that two noise images barely move: found by running each lookalike again on unlike input.
    "official eca_layer in torchvision mobilenet_v2": (zoo.eca_mobilenet_v2, {"eca": 17}),
    "softmax-over-pixels spatial gate in resnet18": (zoo.softmax_spatial_resnet18, {"spatial": 8}),
    "hard-sigmoid SE and spatial gate in resnet18": (zoo.hard_gate_resnet18, {"channel": 8, "spatial": 8}),
    # Its permuted branches' gates cover (C, W) and (H, C) planes: named as rejected, never drawn as pixel masks.
    "triplet attention in resnet18": (zoo.triplet_resnet18, {"spatial": 8}),
    "official CBAM code in resnet18": (zoo.official_cbam_resnet18, {"channel": 8, "spatial": 8}),
    "timm ecaresnet26t": (lambda: zoo.timm_model("ecaresnet26t"), {"eca": 8}),
    "timm seresnet18": (lambda: zoo.timm_model("seresnet18"), {"se": 8}),
    "timm resnet18 + cbam": (
        lambda: zoo.timm_model("resnet18", block_args={"attn_layer": "cbam"}),
        {"cbam_channel": 8, "spatial": 8},
    ),
    "timm resnet18 + lcbam": (
        lambda: zoo.timm_model("resnet18", block_args={"attn_layer": "lcbam"}),
        {"cbam_channel": 8, "spatial": 8},
    ),
    "timm resnet18 + ese": (lambda: zoo.timm_model("resnet18", block_args={"attn_layer": "ese"}), {"se": 8}),
    "timm resnet18 + ceca": (lambda: zoo.timm_model("resnet18", block_args={"attn_layer": "ceca"}), {"eca": 8}),
    "timm mobilenetv3_large_100": (lambda: zoo.timm_model("mobilenetv3_large_100"), "SqueezeExcite"),
    "timm efficientnet_b0": (lambda: zoo.timm_model("efficientnet_b0"), "SqueezeExcite"),
    "torchvision mobilenet_v3_small": (lambda: zoo.torchvision_model("mobilenet_v3_small"), "SqueezeExcitation"),
    "torchvision efficientnet_b0": (lambda: zoo.torchvision_model("efficientnet_b0"), "SqueezeExcitation"),
    "torchvision regnet_y_400mf": (lambda: zoo.torchvision_model("regnet_y_400mf"), "SqueezeExcitation"),
    # Gates with one factor per channel and pixel, and a gain, written by hand as their authors did.
    "SimAM (official code) in resnet18": (zoo.simam_resnet18, {"element": 8}),
    "BAM (official code, functional sigmoid) after resnet18 stages": (zoo.bam_resnet18, {"element": 3}),
    "2·sigmoid SE in resnet18": (zoo.doubled_se_resnet18, {"channel": 8}),
    "timm eca_nfnet_l0 (its blocks double each gate)": (lambda: zoo.timm_model("eca_nfnet_l0"), {"eca": 12}),
    **{
        f"timm resnet18 + {kind}": (
            lambda kind=kind: zoo.timm_model("resnet18", block_args={"attn_layer": kind}),
            {record_type: 8},
        )
        for kind, record_type in (
            ("coord", "coord"),
            ("ela", "ela"),
            ("scoord", "scoord"),
            ("strip", "strip"),
            ("sk", "selective_kernel"),
            ("splat", "split_attention"),
        )
    },
}


def _expected_counts(model: nn.Module, expected: Any) -> dict[str, int]:
    if isinstance(expected, dict):
        return expected
    count = sum(type(module).__name__ == expected for module in model.modules())
    assert count > 0
    return {"se": count}


# timm's create_attn kinds, each in a ResNet-18's blocks: the README's table is this test's output.
ZOO_KINDS = ["se", "ese", "eca", "ecam", "ceca", "ge", "gc", "gca", "cbam", "lcbam", "coord", "scoord", "ela",
             "strip", "sk", "splat", "nl", "bat"]  # fmt: skip
ZOO_START, ZOO_END = "<!-- timm-zoo: made by tests/test_foreign.py -->", "<!-- end timm-zoo -->"
RECORDED_AS = {
    "channel": "channel gates",
    "spatial": "spatial masks",
    "element": "per-element gates",
    "branch": "weights over branches",
}


def _zoo_row(kind: str) -> str:
    import timm

    try:
        model = zoo.timm_model("resnet18", block_args={"attn_layer": kind})
    except Exception as error:  # noqa: BLE001 - timm's own failure is what the row reports
        return f"| `{kind}` | | timm {timm.__version__} fails to build it ({type(error).__name__} inside timm) | |"
    modules = [block.se for stage in (model.layer1, model.layer2, model.layer3, model.layer4) for block in stage]
    module_name = type(modules[0]).__name__
    layers = find_layers(model)
    rejected = [entry for entry in rejected_modules(model) if entry["type"] == module_name]
    if not layers:
        reason = rejected[0]["reason"] if rejected else "not found"
        return f"| `{kind}` | `{module_name}` | none: {reason} | |"
    x = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    inputs: dict[str, torch.Tensor] = {}
    named = dict(model.named_modules())
    handles = [
        named[name].register_forward_pre_hook(lambda _m, args, name=name: inputs.__setitem__(name, args[0].clone()))
        for name, _, _ in layers
    ]
    try:
        with torch.inference_mode(), AttentionRecorder(model, layers=layers) as recorder:
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    worst = 0.0
    for (name, module, _), record in zip(layers, recorder.records, strict=True):
        with torch.no_grad():
            want = reference(module, inputs[name])
        for field, value in want.items():
            worst = max(worst, float((getattr(record, field).double() - value.double()).abs().max()))
    assert worst <= TOLERANCE, (kind, worst)
    kinds = Counter((RECORDED_AS[record.kind], record.type) for record in recorder.records)
    recorded = " + ".join(f"{count} {what} (`{type_}`)" for (what, type_), count in sorted(kinds.items()))
    return f"| `{kind}` | `{module_name}` | {recorded} | {'0 (exact)' if worst == 0 else '≤ 1e-6'} |"


@pytest.mark.slow
def test_the_readme_timm_zoo_table_is_what_the_recorder_does() -> None:
    rows = [_zoo_row(kind) for kind in ZOO_KINDS]
    table = "\n".join(
        [ZOO_START, "| kind | timm module | recorded in a ResNet-18's 8 blocks | largest difference |",
         "|---|---|---|---|", *rows, ZOO_END]
    )  # fmt: skip
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    print("\n" + table)
    assert table in readme, "README's timm zoo table differs from what the recorder does:\n" + table


@pytest.mark.slow
@pytest.mark.parametrize("family", list(FAMILIES))
def test_family_found_and_recorded_exactly(family: str) -> None:
    builder, expected = FAMILIES[family]
    model = builder()
    layers = find_layers(model)
    records_by_type = Counter()
    modules = dict(model.named_modules())

    inputs: dict[str, torch.Tensor] = {}
    handles = [
        modules[name].register_forward_pre_hook(
            lambda _m, args, name=name: inputs.__setitem__(name, args[0].detach().clone())
        )
        for name, _, _ in layers
    ]
    x = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    try:
        with torch.inference_mode():
            plain = model(x)
            with AttentionRecorder(model, feature_layer=layers[0][0], layers=layers) as recorder:
                recorded = model(x)
            after = model(x)
    finally:
        for handle in handles:
            handle.remove()
    assert torch.equal(plain, recorded) and torch.equal(plain, after)

    records = recorder.records
    assert [r.name for r in records] == [name for name, _, _ in layers]
    for (name, module, adapter), record in zip(layers, records):
        assert kind_of(adapter) == record.kind
        records_by_type[record.type] += 1
        with torch.no_grad():
            want = reference(module, inputs[name])
        worst = 0.0
        for field, value in want.items():
            got = getattr(record, field)
            assert got is not None, f"{name}: {field} missing"
            assert got.shape == value.shape and not got.requires_grad and got.device.type == "cpu"
            worst = max(worst, float((got.double() - value.double()).abs().max()))
        assert worst <= TOLERANCE, f"{family} {name}: {worst}"
        MAX_DIFFERENCE[family] = max(MAX_DIFFERENCE.get(family, 0.0), worst)
        if isinstance(record, ChannelRecord):
            assert record.weights.shape == (2, inputs[name].shape[1])
            assert torch.isfinite(record.weights).all()
            # What multiplied the features: 2 x the gate in the doubled SE and in timm's normaliser-free blocks.
            assert record.gain == (2.0 if "2·sigmoid" in family or "nfnet" in family else 1.0)
    assert dict(records_by_type) == _expected_counts(model, expected)
    assert recorder.features[layers[0][0]].shape == inputs[layers[0][0]].shape
    print(f"\n{family}: {dict(records_by_type)}, largest difference {MAX_DIFFERENCE[family]:.3g}")


@pytest.mark.slow
def test_kernel_sizes_and_branches_come_from_the_module() -> None:
    model = zoo.official_eca_resnet18((3, 5, 5, 7))
    kernels = [adapter for _, _, adapter in find_layers(model)]
    with torch.inference_mode(), AttentionRecorder(model, layers=find_layers(model)) as recorder:
        model(torch.randn(1, 3, SIZE, SIZE))
    assert len(kernels) == 8
    assert [r.kernel_size for r in recorder.records] == [3, 3, 5, 5, 5, 5, 7, 7]
    assert all(r.type == "eca" and r.avg is not None and r.max is None for r in recorder.records)

    model = zoo.blog_resnet18()
    with torch.inference_mode(), AttentionRecorder(model, layers=find_layers(model)) as recorder:
        model(torch.randn(1, 3, SIZE, SIZE))
    channel = [r for r in recorder.records if isinstance(r, ChannelRecord)]
    spatial = [r for r in recorder.records if isinstance(r, SpatialRecord)]
    assert {r.kernel_size for r in channel} == {3} and {r.kernel_size for r in spatial} == {7}
    assert all(r.avg is not None and r.max is not None for r in channel)
    assert all(r.logits is not None for r in spatial)

    model = zoo.official_cbam_resnet18()
    with torch.inference_mode(), AttentionRecorder(model, layers=find_layers(model)) as recorder:
        model(torch.randn(1, 3, SIZE, SIZE))
    assert {r.kernel_size for r in recorder.records if isinstance(r, SpatialRecord)} == {7}
    assert [r.name.rsplit(".", 1)[-1] for r in recorder.records[:2]] == ["ChannelGate", "SpatialGate"]


def test_constant_scalings_and_identities_are_not_attention() -> None:
    model = zoo.layerscale_resnet18()
    assert find_layers(model) == []
    # Each scaling is named with its reason; the identity and the dropout beside them are no candidates at all.
    constant = "the same factors per channel for every input: a constant scaling such as LayerScale"
    assert rejected_modules(model) == [
        {"name": f"layer{stage}.{block}.bn2.1{'.0' if stage % 2 else ''}",
         "type": "LayerScale" if stage % 2 else "LearnedChannelGate", "reason": constant}
        for stage in (1, 2, 3, 4) for block in (0, 1)
    ]  # fmt: skip
    with pytest.raises(InputError, match="has no attention layers the recorder can find") as error:
        require_attention(find_layers(model), "layerscale_resnet18")
    assert "\n" not in str(error.value)
    plain = zoo.torchvision_model("resnet18")
    assert find_layers(plain) == []


def test_probe_leaves_the_model_as_it_was() -> None:
    model = zoo.blog_resnet18().train()
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    hooks = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
    rng = torch.get_rng_state()
    discover_attention(model, set(), (3, SIZE, SIZE))
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(before[name], tensor) for name, tensor in model.state_dict().items())
    assert sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()) == hooks
    assert torch.equal(rng, torch.get_rng_state())


def test_discovery_without_an_input_size_and_with_gate_unreadable_where_input_is_zero() -> None:
    """No size given: the probe finds one. A channel whose input is all zero gets its gate recomputed."""
    model = zoo.official_eca_resnet18()
    layers = discover_attention(model, set())
    assert len(layers) == 8
    layer_name, module, adapter = layers[0]
    x = torch.randn(1, 64, 8, 8)
    x[0, 5] = 0.0
    x[0, 7, 0, 0] = 0.0
    with torch.inference_mode():
        output = module(x)
    record = adapter.make_record(layer_name, module, (x,), output)
    with torch.no_grad():
        want = reference(module, x)["weights"]
    assert float((record.weights - want).abs().max()) <= TOLERANCE


@pytest.mark.slow
def test_known_types_need_no_probe() -> None:
    model = zoo.timm_model("ecaresnet26t")
    register_foreign_types()
    layers = find_attention_layers(model)
    assert len(layers) == 8
    assert discover_attention(model, {id(module) for _, module, _ in layers}, (3, SIZE, SIZE)) == []


class _ClampedChannelGate(nn.Module):
    """A hard channel gate: its first channels saturate at exactly 1.0 and its last ones at exactly 0.0."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        offsets = torch.zeros(channels)
        offsets[:3], offsets[-2:] = 10.0, -10.0
        self.register_buffer("offsets", offsets)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * (x.mean(dim=(2, 3)) + self.offsets).clamp(0.0, 1.0)[:, :, None, None]


class _ClampedSpatialGate(nn.Module):
    """A hard spatial mask: saturated (exactly 1.0) in the top rows, varying below."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = torch.sigmoid(x.mean(dim=1, keepdim=True))
        mask = torch.cat([torch.ones_like(mask[:, :, :2]), mask[:, :, 2:]], dim=2)
        return x * mask


def _saturated_model() -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        _ClampedChannelGate(8),
        nn.Conv2d(8, 8, 3, padding=1),
        _ClampedSpatialGate(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 2),
    ).eval()


def test_a_partly_saturated_gate_is_found_and_recorded_exactly() -> None:
    model = _saturated_model()
    layers = discover_attention(model, set(), (3, 16, 16))
    assert [(name, kind_of(adapter)) for name, _, adapter in layers] == [("1", "channel"), ("3", "spatial")]
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    with torch.inference_mode(), AttentionRecorder(model, layers=layers) as recorder:
        model(x)
    channel, spatial = recorder.records
    with torch.no_grad():
        features = model[0](x)
        gate = (features.mean(dim=(2, 3)) + model[1].offsets).clamp(0.0, 1.0)
        mask = torch.sigmoid(model[2](model[1](features)).mean(dim=1))
    assert (gate[:, :3] == 1.0).all() and (gate[:, -2:] == 0.0).all()
    torch.testing.assert_close(channel.weights[:, :-2], gate[:, :-2], rtol=0, atol=TOLERANCE)
    mask[:, :2] = 1.0
    torch.testing.assert_close(spatial.mask, mask, rtol=0, atol=TOLERANCE)


class _DeadChannels(nn.Module):
    """Channels a trained network has switched off (all zero), as after a ReLU that never fires."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alive = torch.zeros(x.shape[1], device=x.device)
        alive[:2] = 1.0
        return x * alive[:, None, None]


class _MeanGate(nn.Module):
    """A user's channel gate: the sigmoid of each channel's mean."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(3.0 * x.mean(dim=(2, 3), keepdim=True))


def classifier(*middle: nn.Module) -> nn.Module:
    """A tiny classifier with ``middle`` between its 8-channel convolution and its head, in eval mode."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), *middle, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2)
    ).eval()


def test_a_gate_whose_input_is_mostly_dead_channels_is_found() -> None:
    torch.manual_seed(3)
    model = classifier(_DeadChannels(), _MeanGate())  # six of eight channels zero: a fixed scaling, not attention
    layers = discover_attention(model, set(), (3, 16, 16))
    assert [(name, kind_of(adapter)) for name, _, adapter in layers] == [("2", "channel")]


class _PixelL2(nn.Module):
    """``F.normalize`` over channels: each pixel's feature vector scaled to length 1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1)


class _ChannelL2(nn.Module):
    """Each channel's map scaled to length 1 (its L2 norm over the pixels)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / x.flatten(2).norm(dim=2)[:, :, None, None]


def test_a_normalisation_is_not_attention_beside_a_gate_that_is() -> None:
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        _PixelL2(),
        nn.Conv2d(8, 8, 3, padding=1),
        _ChannelL2(),
        nn.Conv2d(8, 8, 3, padding=1),
        _MeanGate(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 2),
    ).eval()
    with torch.no_grad():  # inputs far from unit size, so each normalisation's factor lies within 0-1 like a gate's
        for conv in (model[0], model[2]):
            conv.weight.mul_(20.0)
    layers = discover_attention(model, set(), (3, 16, 16))
    assert [(name, kind_of(adapter)) for name, _, adapter in layers] == [("5", "channel")]
    assert rejected_modules(model) == [
        {"name": "1", "type": "_PixelL2",
         "reason": "a normalisation: its output has the same size at every pixel; it weights nothing"},
        {"name": "3", "type": "_ChannelL2",
         "reason": "a normalisation: its output has the same size at every channel; it weights nothing"},
    ]  # fmt: skip


class _SigmoidChildSE(nn.Module):
    """A user's SE with its sigmoid as a child module and no layout the recorder knows."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(channels, 4, 1)
        self.expand = nn.Conv2d(4, channels, 1)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.sigmoid(self.expand(torch.relu(self.squeeze(x.mean((2, 3), keepdim=True)))))


class _HalfDead(nn.Module):
    """Every other channel all zero, as ReLU leaves dead channels in real networks."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * (torch.arange(x.shape[1], device=x.device) % 2 == 0).to(x.dtype)[None, :, None, None]


def test_a_gate_is_read_where_the_module_made_it_even_where_its_input_is_zero() -> None:
    torch.manual_seed(5)
    model = classifier(nn.ReLU(), _HalfDead(), _SigmoidChildSE(8))
    layers = find_layers(model, (3, 16, 16))
    assert [name for name, _, _ in layers] == ["3"]
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(6))
    with torch.inference_mode():
        with AttentionRecorder(model, layers=layers) as recorder:
            model(x)
        se = model[3]
        gate = se.sigmoid(se.expand(torch.relu(se.squeeze(model[:3](x).mean((2, 3), keepdim=True)))))
    (record,) = recorder.records
    assert bool(torch.isfinite(record.weights).all())  # the dead channels too: the module computed their gate
    assert torch.equal(record.weights, gate.flatten(1))
    assert record.weights[:, 1::2].std() > 0  # and they are real values, not a fill


class _InPlaceSE(nn.Module):
    """An SE written with an in-place multiply: by the time a hook runs, its input holds its output."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x *= torch.sigmoid(3.0 * x.mean(dim=(2, 3), keepdim=True))
        return x


def test_an_in_place_gate_is_named_with_what_to_write_instead_and_in_place_activations_are_not() -> None:
    torch.manual_seed(4)
    model = classifier(nn.ReLU(inplace=True), _InPlaceSE(), nn.Hardswish(inplace=True), _MeanGate())
    layers = discover_attention(model, set(), (3, 16, 16))
    assert [name for name, _, _ in layers] == ["4"]
    assert rejected_modules(model) == [
        {"name": "2", "type": "_InPlaceSE", "reason": "multiplies its input in place (x *= gate), so its channel "
         "factors cannot be read back; write x = x * gate, or register the type with "
         "attention.register_attention_type"}
    ]  # fmt: skip


class _DoubledSE(nn.Module):
    """An SE whose gate is 2·sigmoid, as in timm's NF nets: factors between 0 and 2."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2.0 * torch.sigmoid(x.mean(dim=(2, 3), keepdim=True))


class _WholeImageGain(nn.Module):
    """One factor per image, computed from it: input-dependent, but it weights no channel or pixel over another."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(x.mean(dim=(1, 2, 3), keepdim=True))


def test_triplet_attentions_permuted_planes_are_named_never_drawn_as_pixel_masks() -> None:
    model = zoo.triplet_resnet18()
    layers = find_layers(model)
    assert [name for name, _, _ in layers] == [
        f"layer{stage}.{block}.bn2.1.hw" for stage in (1, 2, 3, 4) for block in (0, 1)
    ]
    rejected = rejected_modules(model)
    assert [entry["name"] for entry in rejected] == [
        f"layer{stage}.{block}.bn2.1.{branch}" for stage in (1, 2, 3, 4) for block in (0, 1) for branch in ("cw", "hc")
    ]
    first = rejected[0]["reason"]  # layer1 at a 64-pixel input: 64 channels by 16 columns
    assert first == (
        "factors over a 64x16 plane that is not the picture's rows and columns "
        "(a permuted branch, as in triplet attention): not recorded yet"
    )


def test_lookalikes_that_are_not_recorded_are_listed_with_their_reason() -> None:
    torch.manual_seed(3)
    model = classifier(_DoubledSE(), nn.Dropout2d(0.5), _WholeImageGain(), nn.Identity(), _MeanGate())
    layers = discover_attention(model, set(), (3, 16, 16))
    assert [name for name, _, _ in layers] == ["5"]
    rejected = rejected_modules(model)
    assert [(entry["name"], entry["type"]) for entry in rejected] == [("1", "_DoubledSE"), ("3", "_WholeImageGain")]
    assert re.fullmatch(
        r"scales each channel by factors from 0\.\d+ to 1\.\d+, outside 0 to 1"
        r"; a gate times a constant gain is recorded when the gate is a module \(nn\.Sigmoid\)",
        rejected[0]["reason"],
    )
    assert rejected[1]["reason"] == "one factor for the whole image, not one per channel or per pixel"
    report = discovery_report(model, layers)
    assert report == {"found": [{"name": "5", "type": "_MeanGate", "kind": "channel", "by": "probe"}],
                      "rejected": rejected}  # fmt: skip
    assert discovery_summary(report) == (
        f"1 gate found; 2 modules looked like gates but were rejected: 1 ({rejected[0]['reason']}); "
        f"3 ({rejected[1]['reason']})."
    )
    assert discovery_lines(report)[:2] == [
        "1 attention layer found:",
        "  5 (_MeanGate): channel gate, found by the probe",
    ]
    assert discovery_lines(report)[2:] == [
        "2 modules looked like gates but were rejected:",
        f"  1 (_DoubledSE): {rejected[0]['reason']}",
        f"  3 (_WholeImageGain): {rejected[1]['reason']}",
    ]


class _Wrapper(nn.Module):
    """A user's wrapper that only calls its gate: both scale by the same mask."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = _ClampedSpatialGate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)


def test_a_gate_inside_a_wrapper_that_only_calls_it_is_one_layer() -> None:
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), _Wrapper(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2)
    ).eval()
    layers = discover_attention(model, set(), (3, 16, 16))
    assert [(name, kind_of(adapter)) for name, _, adapter in layers] == [("1", "spatial")]


@pytest.mark.parametrize("spatial", [False, True], ids=["channel", "spatial"])
def test_a_gate_is_read_elsewhere_where_its_first_slice_is_zero(spatial: bool) -> None:
    """Post-ReLU features are often zero at pixel (0, 0) or in channel 0: the gate is read at a larger input."""
    from attention.foreign import gate_from_ratio

    generator = torch.Generator().manual_seed(0)
    x = torch.rand(2, 5, 4, 3, generator=generator) + 0.1
    if spatial:
        x[:, 0] = 0.0
        gate = torch.rand(2, 4, 3, generator=generator)
        y = x * gate[:, None]
    else:
        x[:, :, 0, 0] = 0.0
        gate = torch.rand(2, 5, generator=generator)
        y = x * gate[:, :, None, None]
    read, bad = gate_from_ratio(x, y, spatial=spatial)
    assert not bool(bad.any())
    torch.testing.assert_close(read, gate)
    unread, bad = gate_from_ratio(x, y, spatial=spatial, search=False)
    assert bool(bad.all())  # without the search, every entry's first element is zero


def test_a_model_is_probed_once_and_probed_again_only_when_its_modules_change() -> None:
    model = _saturated_model()
    passes: list[int] = []
    handle = model.register_forward_hook(lambda *_: passes.append(1))
    try:
        first = discover_attention(model, set(), (3, 16, 16))
        probed = len(passes)
        assert probed > 0
        assert [name for name, _, _ in discover_attention(model, set(), (3, 16, 16))] == [n for n, _, _ in first]
        assert len(passes) == probed  # the answer is kept per model
        model[3] = _ClampedSpatialGate()  # a new module: the kept answer no longer holds
        discover_attention(model, set(), (3, 16, 16))
        assert len(passes) > probed
    finally:
        handle.remove()
