"""The step-by-step view: every number it shows, recomputed here independently with NumPy."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.text import Text
from PIL import Image

from attention import render, render_explain
from attention.analysis import Analyzer, ChannelLayer
from attention.channel import SqueezeExcite
from attention.explain import SHOWN_CHANNELS, explain_channel, explain_layer, explain_spatial
from attention.images import load_image
from models.checkpoint import load_checkpoint

EXAMPLE = "assets/examples/shapes_star_11.png"


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-values.astype(np.float64)))


def _conv1d_same(vector: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Cross-correlation with zero padding (k-1)/2, as nn.Conv1d computes it, written out."""
    k = len(taps)
    padded = np.concatenate([np.zeros((k - 1) // 2), vector.astype(np.float64), np.zeros((k - 1) // 2)])
    return np.array([float(np.dot(padded[i : i + k], taps)) for i in range(len(vector))])


def _conv2d_same(maps: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """(2, H, W) maps against a (2, k, k) kernel with zero padding k//2, written out."""
    _, height, width = maps.shape
    k = kernel.shape[-1]
    pad = k // 2
    padded = np.pad(maps.astype(np.float64), ((0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((height, width))
    for row in range(height):
        for col in range(width):
            out[row, col] = float((padded[:, row : row + k, col : col + k] * kernel).sum())
    return out


def _batch_norm(module: torch.nn.Module, logits: np.ndarray) -> np.ndarray:
    """The layer's BatchNorm in eval mode, written out; layers without one pass the logits through."""
    norm = getattr(module, "norm", None)
    if not isinstance(norm, torch.nn.BatchNorm2d):
        return logits
    mean, var = norm.running_mean.item(), norm.running_var.item()
    scale, shift = norm.weight.detach().item(), norm.bias.detach().item()
    return (logits - mean) / np.sqrt(var + norm.eps) * scale + shift


# A kernel tap or weight as the slides print it: "+0.695", "-0.14", "0.09".
NUMBER = re.compile(r"[+\-−]?\d+\.\d+")


@pytest.fixture(scope="module", params=["shapes", "fashion"])
def recorded(request: pytest.FixtureRequest):  # noqa: ANN201
    loaded = load_checkpoint(request.param)
    with Analyzer(loaded.model, loaded.classes, loaded.preprocessing, loaded.name) as analyzer:
        image = load_image(EXAMPLE) if request.param == "shapes" else Image.new("L", (28, 28), 0)
        if request.param == "fashion":
            image.paste(255, (8, 4, 20, 24))
        (analysis,) = analyzer.analyze([image], feature_layer=analyzer.layer_names)
    return loaded, analysis


def test_channel_steps_match_an_independent_recomputation(recorded) -> None:  # noqa: ANN001
    loaded, analysis = recorded
    modules = dict(loaded.model.named_modules())
    for layer in analysis.channel_layers:
        module = modules[layer.name]
        features = analysis.feature_maps[layer.name]
        explanation = explain_channel(layer.name, module, features, layer.weights)
        assert not explanation.missing, [step.missing for step in explanation.missing]
        # The input step shows the channels the layer ends up weighting most, heaviest first.
        shown = explanation.step("input").values["channels"]
        assert len(shown) == min(SHOWN_CHANNELS, len(layer.weights)) < len(layer.weights)
        assert min(layer.weights[shown]) >= np.sort(layer.weights)[-len(shown)]
        assert list(layer.weights[shown]) == sorted(layer.weights[shown], reverse=True)
        avg = features.astype(np.float64).mean(axis=(1, 2))
        peak = features.astype(np.float64).max(axis=(1, 2))
        pooling = explanation.step("pooling").values
        np.testing.assert_allclose(pooling["avg"], avg, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(pooling["max"], peak, rtol=1e-6, atol=1e-6)
        taps = module.conv.weight.detach().numpy().reshape(-1).astype(np.float64)
        kernel = explanation.step("kernel").values
        np.testing.assert_array_equal(kernel["taps"], taps.astype(np.float32))
        assert kernel["kernel_size"] == len(taps) and len(taps) % 2 == 1 and kernel["padding"] == (len(taps) - 1) // 2
        channels = len(avg)
        expected_k = int(abs(np.log2(channels) / 2 + 0.5))
        assert kernel["formula_k"] == (expected_k if expected_k % 2 else expected_k + 1)
        branches = explanation.step("branches").values
        np.testing.assert_allclose(branches["avg_part"], _conv1d_same(avg, taps), atol=1e-4)
        np.testing.assert_allclose(branches["max_part"], _conv1d_same(peak, taps), atol=1e-4)
        logits = _conv1d_same(avg, taps) + _conv1d_same(peak, taps)
        np.testing.assert_allclose(branches["logits"], logits, atol=1e-4)
        # The shipped ECA has no bias, so one convolution of (avg + max) gives the same logits.
        assert module.conv.bias is None
        np.testing.assert_allclose(branches["one_conv"], _conv1d_same(avg + peak, taps), atol=1e-4)
        assert branches["identity_difference"] < 1e-4
        gate = explanation.step("gate").values
        np.testing.assert_allclose(gate["weights"], _sigmoid(logits), atol=1e-5)
        np.testing.assert_allclose(layer.weights, _sigmoid(logits), atol=1e-5)
        scaling = explanation.step("scaling").values
        channel = scaling["channel"]
        np.testing.assert_allclose(scaling["after"], features[channel] * layer.weights[channel], rtol=1e-6)


def test_spatial_steps_match_an_independent_recomputation(recorded) -> None:  # noqa: ANN001
    loaded, analysis = recorded
    modules = dict(loaded.model.named_modules())
    for layer in analysis.spatial_layers:
        module = modules[layer.name]
        features = analysis.feature_maps[layer.name].astype(np.float64)
        explanation = explain_spatial(layer.name, module, analysis.feature_maps[layer.name], layer.mask)
        assert not explanation.missing, [step.missing for step in explanation.missing]
        pooled = np.stack([features.max(axis=0), features.mean(axis=0)])
        values = explanation.step("pooling").values
        np.testing.assert_allclose(values["max"], pooled[0], atol=1e-6)
        np.testing.assert_allclose(values["mean"], pooled[1], atol=1e-5)
        kernel = module.conv.weight.detach().numpy()[0].astype(np.float64)
        np.testing.assert_array_equal(explanation.step("kernel").values["kernel"], kernel.astype(np.float32))
        assert explanation.step("kernel").values["order"] == ["max", "mean"]
        logits = _batch_norm(module, _conv2d_same(pooled, kernel))
        gate = explanation.step("gate").values
        np.testing.assert_allclose(gate["logits"], logits, atol=1e-4)
        np.testing.assert_allclose(gate["mask"], _sigmoid(logits), atol=1e-5)
        np.testing.assert_allclose(layer.mask, _sigmoid(logits), atol=1e-5)


def test_a_module_without_the_steps_says_which_it_cannot_show() -> None:
    torch.manual_seed(0)
    se = SqueezeExcite(16).eval()
    features = torch.randn(16, 6, 6)
    with torch.no_grad():
        weights = se.channel_weights(features[None]).weights[0].numpy()
    explanation = explain_channel("se", se, features.numpy(), weights)
    assert [step.key for step in explanation.missing] == ["pooling", "kernel", "branches"]
    assert all("SqueezeExcite" in step.missing for step in explanation.missing)
    np.testing.assert_array_equal(explanation.step("gate").values["weights"], weights)
    assert explanation.step("gate").values["logits"] is None  # not exposed, so not invented


def test_steps_that_do_not_reproduce_the_recorded_weights_are_not_shown(recorded) -> None:  # noqa: ANN001
    loaded, analysis = recorded
    layer = analysis.channel_layers[0]
    module = dict(loaded.model.named_modules())[layer.name]
    wrong = np.clip(layer.weights + 0.1, 0, 1)
    explanation = explain_layer(layer.name, module, "channel", analysis.feature_maps[layer.name], wrong)
    assert {step.key for step in explanation.missing} == {"kernel", "branches"}
    np.testing.assert_array_equal(explanation.step("gate").values["weights"], wrong.astype(np.float32))


@pytest.mark.slow
def test_every_step_renders_and_the_slide_holds_them_all(recorded) -> None:  # noqa: ANN001
    loaded, analysis = recorded
    modules = dict(loaded.model.named_modules())
    for layer in analysis.layers[:2]:
        kind = "channel" if isinstance(layer, ChannelLayer) else "spatial"
        recorded_values = layer.weights if kind == "channel" else layer.mask
        explanation = explain_layer(
            layer.name, modules[layer.name], kind, analysis.feature_maps[layer.name], recorded_values
        )
        images = render_explain.step_images(explanation)
        assert len(images) == len(explanation.steps) == (6 if kind == "channel" else 4)
        for image in images:
            pixels = np.asarray(image)
            assert image.size == (750, 240) and pixels.std() > 10  # something was drawn, not a blank canvas
        slide = render.figure_to_image(render_explain.slide_figure(explanation))
        assert slide.size[1] > len(explanation.steps) * 240


def test_each_step_is_a_1920x1080_slide_with_large_text_and_kernel_numbers(recorded, tmp_path: Path) -> None:  # noqa: ANN001
    loaded, analysis = recorded
    modules = dict(loaded.model.named_modules())
    for layer in analysis.layers[:2]:
        kind = "channel" if isinstance(layer, ChannelLayer) else "spatial"
        recorded_values = layer.weights if kind == "channel" else layer.mask
        explanation = explain_layer(
            layer.name, modules[layer.name], kind, analysis.feature_maps[layer.name], recorded_values
        )
        numbers = 0
        for index in range(len(explanation.steps)):
            figure = render_explain.step_slide(explanation, index)
            figure.canvas.draw()  # tick labels get their text when drawn
            texts = [text for text in figure.findobj(Text) if text.get_text().strip() and text.get_visible()]
            for text in texts:
                pixels = text.get_fontsize() * figure.dpi / 72
                is_number = NUMBER.fullmatch(text.get_text().strip()) is not None
                numbers += is_number
                assert pixels >= (24 if is_number else 28), (index, text.get_text(), pixels)
        assert numbers > 0  # the kernel's numbers were drawn, and checked at their own size
        folder = tmp_path / layer.name
        written = render_explain.write_slides(explanation, folder)
        steps = [folder / f"step-{index + 1:02d}.png" for index in range(len(explanation.steps))]
        assert written == [*steps, folder / "slides.pdf"]
        for path in steps:
            with Image.open(path) as image:
                assert image.size == (1920, 1080) and np.asarray(image.convert("L")).std() > 10
        pdf = (folder / "slides.pdf").read_bytes()
        assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages") == len(steps)


def test_a_kernel_with_a_bias_is_explained_and_the_identity_is_off_by_that_bias() -> None:
    from attention.eca import ECA

    torch.manual_seed(1)
    eca = ECA(16, bias=True)
    with torch.no_grad():
        eca.conv.bias.fill_(0.25)
        features = torch.randn(16, 5, 5)
        weights = eca.channel_weights(features[None]).weights[0].numpy()
    explanation = explain_channel("eca", eca, features.numpy(), weights)
    assert not explanation.missing
    branches = explanation.step("branches").values
    assert branches["identity_difference"] == pytest.approx(0.25, abs=1e-5)  # (avg + b) + (max + b) vs (avg + max) + b
    assert "bias (0.250)" in explanation.step("branches").caption


def test_a_spatial_layer_with_a_batch_norm_is_explained_with_it() -> None:
    from attention.spatial import SpatialAttention

    torch.manual_seed(4)
    module = SpatialAttention(kernel_size=3, norm=True).eval()
    with torch.no_grad():
        torch.nn.init.normal_(module.conv.weight)
        module.norm.running_mean.fill_(-0.3)
        module.norm.running_var.fill_(4.0)
        module.norm.weight.fill_(2.0)
        module.norm.bias.fill_(0.5)
        features = torch.randn(8, 6, 6)
        mask = module.spatial_mask(features[None])[0, 0].numpy()
    explanation = explain_spatial("sa", module, features.numpy(), mask)
    assert not explanation.missing, [step.missing for step in explanation.missing]
    pooled = np.stack([features.numpy().max(axis=0), features.numpy().mean(axis=0)]).astype(np.float64)
    logits = _batch_norm(module, _conv2d_same(pooled, module.conv.weight.detach().numpy()[0].astype(np.float64)))
    gate = explanation.step("gate")
    np.testing.assert_allclose(gate.values["logits"], logits, atol=1e-4)
    np.testing.assert_allclose(gate.values["mask"], _sigmoid(logits), atol=1e-5)
    assert "batch norm" in gate.caption


def _se_modules() -> list[tuple[str, torch.nn.Module]]:
    from timm.layers import SEModule
    from timm.layers import SqueezeExcite as TimmSqueezeExcite
    from timm.models._efficientnet_blocks import SqueezeExcite as MobileSqueezeExcite
    from torchvision.ops import SqueezeExcitation

    from attention.channel import CBAMChannelGate

    return [
        ("SqueezeExcite", SqueezeExcite(16)),
        ("CBAMChannelGate", CBAMChannelGate(16)),
        ("timm SEModule", SEModule(16, rd_ratio=1 / 4)),
        ("timm SqueezeExcite", TimmSqueezeExcite(16, rd_ratio=1 / 4)),
        ("timm MobileNetV3 SqueezeExcite", MobileSqueezeExcite(16, rd_ratio=1 / 4, gate_layer="hard_sigmoid")),
        ("torchvision SqueezeExcitation", SqueezeExcitation(16, 4, scale_activation=torch.nn.Hardsigmoid)),
    ]


@pytest.mark.parametrize("label", [label for label, _ in _se_modules()])
def test_squeeze_excite_modules_get_their_own_steps_with_the_real_numbers(label: str) -> None:
    torch.manual_seed(0)
    module = dict(_se_modules())[label].eval()
    features = torch.randn(16, 6, 6) + 0.1
    with torch.no_grad():
        weights = (module(features[None])[0] / features).mean(dim=(1, 2)).numpy()  # output = input * weight
    explanation = explain_layer("layer", module, "channel", features.numpy(), weights)
    assert [step.key for step in explanation.steps] == ["input", "pooling", "bottleneck", "gate", "scaling"]
    assert not explanation.missing
    pooling = explanation.step("pooling").values
    np.testing.assert_allclose(pooling["avg"], features.mean(dim=(1, 2)).numpy(), atol=1e-6)
    assert ("max" in pooling) == (label == "CBAMChannelGate")
    bottleneck = explanation.step("bottleneck").values
    reduced = bottleneck["reduce"].shape[0]
    assert bottleneck["reduce"].shape == (reduced, 16) and bottleneck["expand"].shape == (16, reduced) and reduced < 16
    gate = explanation.step("gate").values
    expected_gate = "hard sigmoid" if "torchvision" in label or "MobileNetV3" in label else "sigmoid"
    assert gate["gate"] == expected_gate
    function = torch.nn.functional.hardsigmoid if expected_gate == "hard sigmoid" else torch.sigmoid
    np.testing.assert_allclose(function(torch.as_tensor(gate["logits"])).numpy(), weights, atol=1e-4)
    images = render_explain.step_images(explanation)
    assert len(images) == 5 and all(np.asarray(image).std() > 10 for image in images)


def _gate_of(module: torch.nn.Module, features: torch.Tensor) -> np.ndarray:
    """The gate a module applied, read from its output: (C,) for a channel gate, (H, W) for a spatial mask."""
    with torch.no_grad():
        ratio = (module(features[None])[0] / features).numpy()
    return ratio.mean(axis=(1, 2)) if ratio.std(axis=(1, 2)).max() < 1e-4 else ratio.mean(axis=0)


def _average_only_ecas() -> list[tuple[str, torch.nn.Module, bool]]:
    from timm.layers import CecaModule, EcaModule

    from models.ecanet import eca_layer

    return [
        ("ECA-Net eca_layer", eca_layer(16, 5), False),
        ("timm EcaModule", EcaModule(16, kernel_size=5), False),
        ("timm CecaModule", CecaModule(16, kernel_size=5), True),
    ]


@pytest.mark.parametrize("label", [label for label, *_ in _average_only_ecas()])
def test_an_average_only_eca_is_explained_with_one_pooling_and_its_own_padding(label: str) -> None:
    torch.manual_seed(2)
    _, module, circular = next(entry for entry in _average_only_ecas() if entry[0] == label)
    module.eval()
    features = torch.randn(16, 6, 6) + 0.2
    weights = _gate_of(module, features)
    explanation = explain_layer("eca", module, "channel", features.numpy(), weights)
    assert not explanation.missing, [step.missing for step in explanation.missing]
    pooling = explanation.step("pooling")
    assert set(pooling.values) == {"avg"} and "twice" not in pooling.title  # no max it never computes
    averages = features.numpy().mean(axis=(1, 2)).astype(np.float64)
    taps = explanation.step("kernel").values["taps"].astype(np.float64)
    if circular:
        # The list wraps around: channel 0's left neighbours are the last channels.
        pad = len(taps) // 2
        wrapped = np.concatenate([averages[-pad:], averages, averages[:pad]])
        logits = np.array([float(np.dot(wrapped[i : i + len(taps)], taps)) for i in range(16)])
        assert "circularly" in explanation.step("kernel").caption
    else:
        logits = _conv1d_same(averages, taps)
    branches = explanation.step("branches")
    assert "Both" not in branches.title and "max_part" not in branches.values
    np.testing.assert_allclose(branches.values["logits"], logits, atol=1e-5)
    np.testing.assert_allclose(explanation.step("gate").values["weights"], _sigmoid(logits), atol=1e-4)


def test_timm_cbam_is_explained_with_its_max_branch_and_its_batch_norm() -> None:
    from timm.layers.cbam import CbamModule

    torch.manual_seed(3)
    cbam = CbamModule(16, rd_ratio=1 / 4, spatial_kernel_size=3).eval()
    norm = cbam.spatial.conv.bn
    with torch.no_grad():  # timm starts its norm at the identity; a real one moves every score
        norm.running_mean.fill_(0.4)
        norm.running_var.fill_(2.5)
        norm.weight.fill_(1.5)
        norm.bias.fill_(-0.2)
    features = torch.randn(16, 6, 6) + 0.1

    channel = explain_layer("channel", cbam.channel, "channel", features.numpy(), _gate_of(cbam.channel, features))
    assert [step.key for step in channel.steps] == ["input", "pooling", "bottleneck", "gate", "scaling"]
    assert set(channel.step("pooling").values) == {"avg", "max"}  # both through the one MLP, as timm computes

    mask = _gate_of(cbam.spatial, features)
    spatial = explain_layer("spatial", cbam.spatial, "spatial", features.numpy(), mask)
    assert not spatial.missing, [step.missing for step in spatial.missing]
    kernel = spatial.step("kernel").values
    assert kernel["order"] == ["mean", "max"]  # timm stacks the mean map first
    pooled = np.stack([features.numpy().mean(axis=0), features.numpy().max(axis=0)])
    scores = _conv2d_same(pooled, cbam.spatial.conv.conv.weight.detach().numpy()[0].astype(np.float64))
    scale = 1.5 / np.sqrt(2.5 + norm.eps)
    logits = (scores - 0.4) * scale - 0.2
    gate = spatial.step("gate")
    np.testing.assert_allclose(gate.values["logits"], logits, atol=1e-4)
    np.testing.assert_allclose(gate.values["mask"], mask, atol=1e-4)
    assert "batch norm" in gate.caption


def test_a_spatial_gate_without_a_readable_kernel_says_why_in_one_line() -> None:
    from timm.layers.cbam import LightSpatialAttn

    torch.manual_seed(5)
    module = LightSpatialAttn(kernel_size=3).eval()
    features = torch.randn(8, 5, 5) + 0.1
    explanation = explain_layer("light", module, "spatial", features.numpy(), _gate_of(module, features))
    assert [step.key for step in explanation.missing] == ["kernel", "gate"]
    assert all("LightSpatialAttn" in step.missing and "\n" not in step.missing for step in explanation.missing)
    assert explanation.step("scaling").shown


def _drawn(step_key: str, kind: str, values: dict) -> dict[str, object]:
    """The step drawn on a figure of its own: its axes by title (colour bars have none)."""
    from attention.explain import Step
    from attention.render import new_figure

    figure = new_figure(7.5, 2.4)
    render_explain.draw_step(Step(step_key, "step", "", values), kind, figure)
    return {axes.get_title(): axes for axes in figure.axes if axes.get_title()}


def test_the_step_pictures_put_each_number_on_its_own_panel_and_scale() -> None:
    # The gate's curve spans every logit drawn on it, and at least -6 to 6.
    logits = np.array([-9.0, 0.5, 8.0])
    (curve,) = _drawn("gate", "channel", {"logits": logits, "weights": _sigmoid(logits), "gate": "sigmoid"}).values()
    xs, ys = curve.get_lines()[0].get_data()
    assert xs.min() <= -9.0 and xs.max() >= 8.0
    np.testing.assert_allclose(ys, _sigmoid(xs), atol=1e-12)  # the curve is the module's own gate
    hard = {"logits": logits, "weights": np.clip(logits / 6 + 0.5, 0, 1), "gate": "hard sigmoid"}
    (hard_curve,) = _drawn("gate", "channel", hard).values()
    xs, ys = hard_curve.get_lines()[0].get_data()
    np.testing.assert_allclose(ys, np.clip(xs / 6 + 0.5, 0, 1), atol=1e-12)
    small = {"logits": logits / 10, "weights": _sigmoid(logits / 10), "gate": "sigmoid"}
    (narrow,) = _drawn("gate", "channel", small).values()
    xs = narrow.get_lines()[0].get_xdata()
    assert xs.min() <= -6.0 and xs.max() >= 6.0  # small logits still show the whole S of the curve
    # Without the scores (a module that does not expose them), the weights alone, on the gate's 0-1 scale.
    (alone,) = _drawn("gate", "channel", {"logits": None, "weights": _sigmoid(logits), "gate": "gate"}).values()
    assert alone.get_ylim() == (0.0, 1.0)
    # The spatial gate: the true-scale panel is on 0-1 whatever the mask, the stretched one on the mask's range.
    mask = np.array([[0.4, 0.5], [0.55, 0.6]])
    panels = _drawn("gate", "spatial", {"logits": np.log(mask / (1 - mask)), "mask": mask, "gate": "sigmoid"})
    assert panels["mask, true 0-1 scale"].images[0].get_clim() == (0.0, 1.0)
    assert panels["mask stretched (0.40-0.60)"].images[0].get_clim() == pytest.approx((0.4, 0.6))
    # The bottleneck: the hidden numbers are bars on their own panel; each matrix's colour bar is centred on 0.
    reduce, expand = np.array([[0.5, -0.25, 0.1]]), np.array([[0.2], [-0.4], [0.3]])
    bottleneck = _drawn(
        "bottleneck", "channel", {"reduce": reduce, "hidden": np.array([0.7]), "expand": expand, "logits": np.ones(3)}
    )
    assert [patch.get_height() for patch in bottleneck["1 in the middle"].patches] == pytest.approx([0.7])
    assert {"reduce: 1x3", "expand: 3x1", "one score per channel"} <= set(bottleneck)  # each matrix named by its shape
    figure = bottleneck["reduce: 1x3"].figure
    bars = [axes for axes in figure.axes if not axes.get_title() and axes.get_yticklabels()]
    ticks = sorted({round(float(t), 6) for axes in bars for t in axes.get_yticks()})
    assert ticks == [-0.5, -0.4, 0.0, 0.4, 0.5]


class _HalfSqueeze(torch.nn.Module):
    """Looks like SE at first sight (an ``fc1``), but its second step is no linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(8, 8)
        self.fc2 = torch.nn.Identity()
        self.conv = torch.nn.Conv1d(1, 1, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean(dim=(2, 3))
        return x * torch.sigmoid(self.conv(pooled[:, None])[:, 0])[:, :, None, None]


def test_a_module_with_one_linear_layer_is_not_read_as_squeeze_and_excitation() -> None:
    torch.manual_seed(6)
    module = _HalfSqueeze().eval()
    features = torch.randn(8, 4, 4) + 0.1
    with torch.no_grad():
        weights = torch.sigmoid(module.conv(features.mean(dim=(1, 2))[None, None])[0, 0]).numpy()
    explanation = explain_layer("half", module, "channel", features.numpy(), weights)
    assert [step.key for step in explanation.steps][:3] == ["input", "pooling", "kernel"]  # ECA's view, which fits
    assert not explanation.missing


def test_every_number_of_a_kernel_up_to_7x7_is_printed_on_it() -> None:
    kernel = np.random.default_rng(1).normal(0, 0.5, (2, 7, 7))
    panels = _drawn("kernel", "spatial", {"kernel": kernel, "order": ["max", "mean"], "kernel_size": 7})
    for axes, slice_ in zip(panels.values(), kernel):
        printed = [float(text.get_text()) for text in axes.texts]
        np.testing.assert_allclose(sorted(printed), sorted(np.round(slice_.ravel(), 2)), atol=1e-9)
    larger = _drawn("kernel", "spatial", {"kernel": np.zeros((2, 9, 9)), "order": ["max", "mean"], "kernel_size": 9})
    assert all(not axes.texts for axes in larger.values())  # 81 numbers would not be read: the colours speak


@pytest.mark.parametrize("where", ["page", "slide"])
def test_a_seven_by_seven_kernels_numbers_each_fit_their_cell_on_the_page_and_on_a_slide(where: str) -> None:
    from attention.spatial import SpatialAttention

    torch.manual_seed(7)
    module = SpatialAttention(kernel_size=7).eval()
    features = torch.randn(8, 12, 12)
    with torch.no_grad():
        mask = module.spatial_mask(features[None])[0, 0].numpy()
    explanation = explain_spatial("sa", module, features.numpy(), mask)
    index = [step.key for step in explanation.steps].index("kernel")
    if where == "page":
        figure = render.new_figure(*render_explain.STEP_SIZE)  # as step_image lays it out
        figure.subplots_adjust(left=0.08, right=0.95, bottom=0.22, top=0.88, wspace=0.4)
        render_explain.draw_step(explanation.steps[index], "spatial", figure)
    else:
        figure = render_explain.step_slide(explanation, index)
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    slices = [axes for axes in figure.axes if len(axes.texts) == 49]
    assert len(slices) == 2  # the max and the mean slice, every tap numbered
    for axes in slices:
        cell = axes.get_window_extent(renderer).height / 7
        widest = max(text.get_window_extent(renderer).width for text in axes.texts)
        assert widest < cell  # each number inside its own cell, so none runs into the next
        assert min(text.get_fontsize() for text in axes.texts) >= 4.0  # and still large enough to read


@pytest.mark.parametrize("where", ["page", "slide"])
def test_the_branch_panels_legend_stays_inside_its_own_panel(where: str) -> None:
    from attention.explain import Explanation, Step

    rng = np.random.default_rng(0)
    values = {key: rng.normal(size=24) for key in ("avg_part", "max_part", "logits", "one_conv")}
    step = Step("branches", "step", "", values)
    if where == "page":
        figure = render_explain.step_figure(step, "channel")
    else:
        figure = render_explain.step_slide(Explanation("layer", "channel", [step]), 0)
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    panel = figure.axes[-1]
    legend, box = panel.get_legend().get_window_extent(renderer), panel.get_window_extent(renderer)
    assert box.x0 <= legend.x0 and legend.x1 <= box.x1  # a wider one ran into the max branch's panel


def _drawn_texts(figure, renderer) -> list[tuple[str, object]]:  # noqa: ANN001
    """Every word and number a figure shows, with its box: titles, axis labels, the tick labels inside the view."""
    texts = [*figure.texts, *(text for part in figure.subfigs for text in part.texts)]
    for axes in figure.axes:
        texts += [axes.title, axes.xaxis.label, axes.yaxis.label, *axes.texts]
        for axis in (axes.xaxis, axes.yaxis):
            low, high = sorted(axis.get_view_interval())
            span = (high - low) * 1e-6
            ticks = [tick for tick in axis.get_major_ticks() if low - span <= tick.get_loc() <= high + span]
            texts += [label for tick in ticks for label in (tick.label1, tick.label2) if label.get_visible()]
    shown = [text for text in texts if text.get_visible() and text.get_text().strip()]
    return [(repr(text.get_text()[:40]), text.get_window_extent(renderer)) for text in shown]


@pytest.mark.parametrize("name", ["shapes", "fashion", "shapes-vit"])
def test_no_word_or_number_of_a_step_is_cut_at_the_edge_or_drawn_over_another(name: str) -> None:
    from webapp.explain import explanations

    loaded = load_checkpoint(name)
    with Analyzer(loaded.model, loaded.classes, loaded.preprocessing, loaded.name) as analyzer:
        image = load_image(EXAMPLE).convert("L") if name == "fashion" else load_image(EXAMPLE)
        (analysis,) = analyzer.analyze([image], feature_layer=analyzer.layer_names)
        explained = explanations(analyzer, analysis)
    assert {explanation.kind for explanation in explained.values()} == (
        {"token"} if name == "shapes-vit" else {"channel", "spatial"}
    )
    for explanation in list(explained.values())[:2]:
        figures = {f"page {s.key}": render_explain.step_figure(s, explanation.kind) for s in explanation.steps}
        figures.update(
            {f"slide {s.key}": render_explain.step_slide(explanation, i) for i, s in enumerate(explanation.steps)}
        )
        figures["the one-picture sheet"] = render_explain.slide_figure(explanation)
        for where, figure in figures.items():
            figure.canvas.draw()
            renderer = figure.canvas.get_renderer()
            width, height = figure.canvas.get_width_height()
            drawn = _drawn_texts(figure, renderer)
            assert len(drawn) > 3
            for what, box in drawn:
                inside = -1 <= box.x0 and box.x1 <= width + 1 and -1 <= box.y0 and box.y1 <= height + 1
                assert inside, f"{explanation.layer}, {where}: {what} runs off the picture ({box} in {width}x{height})"
            for axes in figure.axes:  # a number printed on a panel (a kernel's tap, a weight) stays on that panel
                panel = axes.get_window_extent(renderer)
                for text in axes.texts:
                    box = text.get_window_extent(renderer)
                    on = (
                        panel.x0 - 1 <= box.x0
                        and box.x1 <= panel.x1 + 1
                        and panel.y0 - 1 <= box.y0 <= box.y1 <= panel.y1 + 1
                    )
                    assert on, f"{explanation.layer}, {where}: {text.get_text()!r} leaves its panel"
            for index, (what, box) in enumerate(drawn):
                for other, other_box in drawn[index + 1 :]:
                    apart = (
                        box.x1 <= other_box.x0 + 1
                        or other_box.x1 <= box.x0 + 1
                        or box.y1 <= other_box.y0 + 1
                        or other_box.y1 <= box.y0 + 1
                    )
                    assert apart, f"{explanation.layer}, {where}: {what} is drawn over {other}"
