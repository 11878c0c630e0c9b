"""Gates of other forms than one factor per channel or per pixel: recorded with their kind, drawn, switched off.

Per-element gates (coordinate attention, SimAM, BAM), softmax weights over
branches (selective kernel, split attention) and gates times a gain. Their
recorded values are checked against each module's own gate in
``tests/test_foreign.py``; here, what the rest of the tool does with them.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from attention import render
from attention.ablation import ablator_for, gate_means
from attention.analysis import Analyzer, BranchLayer, ElementLayer, analysis_to_dict
from attention.compare import match
from attention.discovery import rejected_modules
from attention.errors import InputError
from attention.explain import explain_layer
from attention.images import Preprocessing
from attention.profile import ProfileCounts, count_batch
from attention.recorder import AttentionRecorder, find_attention_layers
from tests import networks_zoo as zoo

SIZE = (3, 64, 64)
BRANCHES = 2  # timm's selective kernel and split attention in a ResNet-18 mix two branches
PREPROCESSING = Preprocessing((64, 64), 3, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))


def timm_resnet(kind: str) -> nn.Module:
    return zoo.timm_model("resnet18", block_args={"attn_layer": kind})


def picture(seed: int = 0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (72, 80, 3), dtype=np.uint8)
    pixels[20:50, 25:55] = (250, 40, 40)  # an object, so the gates have something to vary over
    return Image.fromarray(pixels)


def run(model: nn.Module, x: torch.Tensor, layer: str | None = None, mode: str | None = None) -> torch.Tensor:
    """The model's logits, with ``layer`` switched off in ``mode`` through the Ablator when both are given."""
    layers = find_attention_layers(model, SIZE)
    if layer is None:
        with torch.inference_mode():
            return model(x)
    with torch.inference_mode(), AttentionRecorder(model, layers=layers) as recorder:
        model(x)
    record = next(record for record in recorder.records if record.name == layer)
    ablator = ablator_for(layers)
    ablator.attach()
    try:
        with torch.inference_mode(), ablator.ablating(layer, mode or "identity", gate_means(record)) as ablation:
            assert (ablation.layer, ablation.mode) == (layer, mode or "identity")
            return model(x)
    finally:
        ablator.detach()


class _Replaced(nn.Module):
    """Stands in for a submodule: returns ``make(x, original(x))``."""

    def __init__(self, original: nn.Module, make: Any) -> None:
        super().__init__()
        self.original, self.make = original, make

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.make(x, self.original(x))


def with_replaced(model: nn.Module, name: str, make: Any) -> torch.Tensor:
    """Logits with submodule ``name`` replaced by ``make``, then put back."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name)
    original = getattr(parent, child)
    setattr(parent, child, _Replaced(original, make))
    try:
        with torch.inference_mode():
            return model(X)
    finally:
        setattr(parent, child, original)


X = torch.randn(2, *SIZE, generator=torch.Generator().manual_seed(3))


class _Swish(nn.Module):
    """A swish written in a user's own code, which no list of torch's or timm's activations names."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(x)


def test_activations_that_scale_each_element_by_0_to_1_are_no_gates() -> None:
    """SiLU, GELU, hard swish and a user's own swish scale each element by a factor of that element alone."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.SiLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.GELU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.SiLU(inplace=True),
        nn.Hardswish(),
        zoo.simam_module(8),  # the one gate: its factors depend on every element of their channel
        _Swish(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 3),
    ).eval()
    layers = find_attention_layers(model, SIZE)
    assert [(name, adapter.kind) for name, _, adapter in layers] == [("7", "element")]
    assert rejected_modules(model) == []


@pytest.mark.parametrize("size", [(1, 28, 28), (3, 31, 31), (3, 23, 40), (3, 33, 33), (3, 64, 17)])
def test_a_per_element_gate_is_found_at_every_map_size_and_the_probe_never_gives_up(
    size: tuple[int, int, int], caplog: pytest.LogCaptureFixture
) -> None:
    """Sizes between 16 x 16 and 32 x 32 (Fashion-MNIST's 28 x 28 among them) are sampled like any other."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(size[0], 8, 3, padding=1),
        nn.ReLU(),
        zoo.simam_module(8),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 3),
    ).eval()
    with caplog.at_level("WARNING", logger="attention.discovery"):
        layers = find_attention_layers(model, size)
    assert [(name, adapter.kind) for name, _, adapter in layers] == [("2", "element")]
    assert not caplog.records, [record.getMessage() for record in caplog.records]


def test_a_per_element_gate_switched_off_is_the_network_without_it() -> None:
    model = timm_resnet("coord")
    name = "layer2.0.se"
    plain = run(model, X)
    assert torch.equal(run(model, X, name, "identity"), with_replaced(model, name, lambda x, _y: x))
    # mean: every element scaled by the gate's mean over the image, which the record's map averages exactly
    with torch.inference_mode(), AttentionRecorder(model, layers=find_attention_layers(model, SIZE)) as recorder:
        model(X)
    record = next(record for record in recorder.records if record.name == name)
    means = record.map.flatten(1).mean(1)[:, None, None, None]
    expected = with_replaced(model, name, lambda x, _y: x * means)
    assert torch.allclose(run(model, X, name, "mean"), expected, atol=1e-6)
    assert not torch.allclose(expected, plain, atol=1e-4)  # the layer did something


def test_branch_weights_switched_off_become_equal_shares_or_each_branchs_mean_share() -> None:
    for kind, gate_point in (("sk", "attn"), ("splat", "rsoftmax")):
        model = timm_resnet(kind)
        name = "layer3.0.se"
        point = f"{name}.{gate_point}"

        def equal(_x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
            return torch.full_like(weights, 1.0 / BRANCHES)

        def mean_share(_x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
            shares = weights.reshape(weights.shape[0], BRANCHES, -1)
            return shares.mean(2, keepdim=True).expand_as(shares).reshape(weights.shape)

        plain = run(model, X)
        identity = run(model, X, name, "identity")
        assert torch.equal(identity, with_replaced(model, point, equal)), kind
        assert torch.equal(run(model, X, name, "mean"), with_replaced(model, point, mean_share)), kind
        assert not torch.allclose(identity, plain, atol=1e-4), kind


@pytest.mark.parametrize("builder", [zoo.doubled_se_resnet18, lambda: zoo.timm_model("eca_nfnet_l0")])
def test_a_gate_times_a_gain_records_the_gain_and_switched_off_leaves_the_features_as_they_were(builder: Any) -> None:
    model = builder()
    layers = find_attention_layers(model, SIZE)
    with torch.inference_mode(), AttentionRecorder(model, layers=layers) as recorder:
        model(X)
    record = recorder.records[1]
    assert record.gain == 2.0 and float(record.weights.max()) <= 1.0
    name = record.name
    parent = model.get_submodule(name.rpartition(".")[0])
    if hasattr(parent, "attn_gain"):  # timm's NF block: attn_gain * attn(x); without the gate it is x
        gain, parent.attn_gain = parent.attn_gain, 1.0
        try:
            expected = with_replaced(model, name, lambda x, _y: x)
        finally:
            parent.attn_gain = gain
    else:
        expected = with_replaced(model, name, lambda x, _y: x)
    identity = run(model, X, name, "identity")
    assert torch.allclose(identity, expected, atol=1e-5)
    assert not torch.allclose(identity, run(model, X), atol=1e-4)  # the layer mattered: the check can fail
    # mean: the features times the mean of what multiplied them, 2 x the gate's mean
    means = 2.0 * record.weights.mean(1)[:, None, None, None]
    if hasattr(parent, "attn_gain"):
        gain, parent.attn_gain = parent.attn_gain, 1.0
        try:
            expected = with_replaced(model, name, lambda x, _y: x * means)
        finally:
            parent.attn_gain = gain
    else:
        expected = with_replaced(model, name, lambda x, _y: x * means)
    assert torch.allclose(run(model, X, name, "mean"), expected, atol=1e-5)


def test_the_json_carries_each_kind_with_what_multiplied_the_features() -> None:
    for kind in ("coord", "sk"):
        with Analyzer(timm_resnet(kind), [str(i) for i in range(10)], PREPROCESSING) as analyzer:
            (analysis,) = analyzer.analyze([picture()])
        entry = analysis_to_dict(analysis)["layers"][0]
        json.dumps(entry, allow_nan=False)
        channels = 64
        if kind == "coord":
            assert entry["type"] == "element" and entry["module"] == "coord" and entry["factor"] == "gate"
            assert np.asarray(entry["mask"]).shape == (16, 16) and len(entry["per_channel"]) == channels
            assert np.asarray(entry["rows"]).shape == (channels, 16) and np.asarray(entry["columns"]).shape == (
                channels,
                16,
            )
            rows, columns = np.asarray(entry["rows"]), np.asarray(entry["columns"])
            product = (rows[:, :, None] * columns[:, None, :]).mean(0)  # the map is the channel mean of the product
            assert np.allclose(product, entry["mask"], atol=2e-6) and entry["readable"] == 1.0
        else:
            weights = np.asarray(entry["weights"])
            assert entry["type"] == "branch" and entry["module"] == "selective_kernel"
            assert weights.shape == (2, channels) and np.allclose(weights.sum(0), 1.0, atol=2e-6)
            assert entry["branches"] == ["3x3 conv", "3x3 conv dilated 2"]


def test_bam_read_back_says_what_multiplied_and_how_much_it_could_read() -> None:
    with Analyzer(zoo.bam_resnet18(), [str(i) for i in range(10)], PREPROCESSING) as analyzer:
        (analysis,) = analyzer.analyze([picture()])
    layer = analysis.layers[0]
    assert isinstance(layer, ElementLayer) and layer.offset == 1.0 and layer.factor == "1 + gate"
    assert 0.3 < layer.readable < 1.0  # its input is a ReLU's output: the zeros show nothing of their factor
    assert float(layer.mask.min()) >= 0.0 and float(layer.mask.max()) <= 1.0
    assert analysis_to_dict(analysis)["layers"][0]["factor"] == "1 + gate"


def test_every_view_draws_the_new_kinds() -> None:
    for kind in ("coord", "splat"):
        with Analyzer(timm_resnet(kind), [str(i) for i in range(10)], PREPROCESSING) as analyzer:
            first, second = analyzer.analyze([picture(0), picture(1)])
        layer = first.layers[0]
        if kind == "coord":
            assert isinstance(layer, ElementLayer) and first.spatial_layers == first.layers
            image = render.rows_and_columns_image(layer, size=(256, 256))
            assert image.width > 256 and image.height > 256  # the product with its two factors beside it
            assert render.overlay_grid(first).width > 256
        else:
            assert isinstance(layer, BranchLayer) and first.branch_layers == first.layers
            assert render.figure_to_image(render.branch_weights_chart(layer, sort=True)).width > 300
        summary = render.figure_to_image(render.summary_figure(first))
        assert summary.width > 500
        differences = match(first, second).differences
        assert len(differences) == 8 and all(difference.kind == layer.kind for difference in differences)
        headers, rows = render.statistics_rows(first)
        assert rows[0][1] == layer.kind and len(rows) == 8


def test_explain_names_the_kinds_it_does_not_work_through() -> None:
    model = timm_resnet("sk")
    with pytest.raises(InputError, match=r"^layer1\.0\.se is softmax weights over parallel branches: the step"):
        explain_layer("layer1.0.se", model.layer1[0].se, "branch", np.zeros((64, 16, 16)))


def test_the_profile_counts_branch_weights_by_how_decisively_channels_pick_a_branch() -> None:
    model = timm_resnet("sk")
    layers = find_attention_layers(model, SIZE)
    recorder = AttentionRecorder(model, layers=layers)
    ablator = ablator_for(layers)
    counts = ProfileCounts([name for name, _, _ in layers], [str(i) for i in range(10)], ("identity",))
    recorder.attach()
    ablator.attach()
    try:
        count_batch(counts, model, X, torch.tensor([1, 2]), recorder, ablator)
    finally:
        recorder.detach()
        ablator.detach()
    profile = counts.result("timm:resnet18+sk", "two images")
    layer = profile.layers[0]
    assert layer.kind == "branch" and 0.0 < layer.activity < 1.0


@pytest.mark.parametrize("name", ["shapes", "fashion", "shapes-vit"])
def test_each_shipped_model_is_probed_for_gates_without_a_warning(name: str, caplog: pytest.LogCaptureFixture) -> None:
    from models.checkpoint import load_checkpoint

    loaded = load_checkpoint(name)
    with (
        caplog.at_level("WARNING", logger="attention"),
        Analyzer(loaded.model, loaded.classes, loaded.preprocessing, loaded.name) as analyzer,
    ):
        assert analyzer.layer_names
    assert not caplog.records, [record.getMessage() for record in caplog.records]
