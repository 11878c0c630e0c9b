"""Self-attention over tokens: recorded exactly from the pass, drawn on the patch grid, switched off like a gate.

The truths are independent of the recorder: timm's own unfused path hands
its softmaxed attention to ``attn_drop`` (read by a plain hook), and
``nn.MultiheadAttention`` returns its weights when asked with
``need_weights``. Random transformers attend almost uniformly, which would
let a wrong recorder pass, so the q·k projections are scaled up until heads
attend sharply, and the tests check that they do.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
import torchvision
from PIL import Image
from torch import nn

from attention.analysis import Analyzer, analysis_to_dict
from attention.images import Preprocessing
from attention.recorder import AttentionRecorder, TokenRecord, find_attention_layers
from attention.tokens import rollout, token_layout
from tests.commands import run_attention

SIZE = 64  # 4x4 patches of 16 px: small enough for CPU, a grid all the same
SHARP = 0.3  # some head gives one token at least this much attention: the maps are not uniform


def sharpen(model: nn.Module, seed: int = 0, gain: float = 12.0) -> nn.Module:
    """Random weights whose heads attend sharply: q and k projections scaled by ``gain``."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear) and module.out_features == 3 * module.in_features:
                module.weight[: 2 * module.in_features] *= gain
            if isinstance(module, nn.MultiheadAttention):
                module.in_proj_weight[: 2 * module.embed_dim] *= gain
    return model.eval()


def timm_vit(name: str = "vit_tiny_patch16_224", **kwargs: object) -> nn.Module:
    return sharpen(timm.create_model(name, pretrained=False, num_classes=5, img_size=SIZE, depth=3, **kwargs))


def torchvision_vit() -> nn.Module:
    """torchvision's ViT-B/16 cut to two blocks, with a random classifier (torchvision zero-initialises it)."""
    torch.manual_seed(0)
    model = torchvision.models.vit_b_16(image_size=SIZE, num_classes=5)
    model.encoder.layers = model.encoder.layers[:2]
    nn.init.normal_(model.heads.head.weight, std=0.2)
    return sharpen(model)


def timm_truth(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Each block's (B, heads, N, N) probabilities as timm's unfused path computes them, via ``attn_drop``'s input."""
    model = copy.deepcopy(model)
    seen: list[torch.Tensor] = []
    for module in model.modules():
        if hasattr(module, "fused_attn"):
            module.fused_attn = False
            module.attn_drop.register_forward_hook(lambda _m, inputs, _o: seen.append(inputs[0].clone()))
    with torch.no_grad():
        model(x)
    return seen


def batch(seed: int = 1, count: int = 2) -> torch.Tensor:
    return torch.randn(count, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("fused", [True, False])
def test_timm_attention_is_recorded_as_its_own_softmax_and_the_output_is_unchanged(fused: bool) -> None:
    model = timm_vit()
    for block in model.blocks:
        block.attn.fused_attn = fused
    x = batch()
    truth = timm_truth(model, x)
    with torch.no_grad():
        plain = model(x)
    with AttentionRecorder(model, attention="full") as recorder, torch.no_grad():
        recorded = model(x)
    assert torch.equal(recorded, plain)
    records = recorder.records
    assert [record.name for record in records] == [f"blocks.{index}.attn" for index in range(3)]
    assert all(isinstance(record, TokenRecord) for record in records)
    assert max(float(record.full.max()) for record in records) > SHARP  # type: ignore[union-attr]
    # A block that sees the same input on both paths gives the same bits: the first always, every one unfused.
    # Fused, later blocks see the fused kernel's rounding of the earlier ones, which sharp heads amplify.
    atol = 1e-5 if fused else 0.0
    assert torch.equal(records[0].full, truth[0])  # type: ignore[arg-type]
    for record, expected in zip(records, truth):
        assert record.full is not None
        torch.testing.assert_close(record.full, expected, rtol=0, atol=atol)
        torch.testing.assert_close(record.first, expected[:, :, 0], rtol=0, atol=atol)
        torch.testing.assert_close(record.mean, expected.mean(dim=1), rtol=0, atol=max(atol, 1e-7))
        torch.testing.assert_close(record.received, expected.mean(dim=2), rtol=0, atol=max(atol, 1e-7))


def test_multihead_attention_of_torchvision_vit_is_recorded_as_its_own_weights() -> None:
    model = torchvision_vit()
    x = batch(count=1)
    inputs: list[torch.Tensor] = []
    attention = model.encoder.layers[1].self_attention
    handle = attention.register_forward_hook(lambda _m, args, _o: inputs.append(args[0]))
    with torch.no_grad():
        plain = model(x)
    handle.remove()
    with AttentionRecorder(model, attention="full") as recorder, torch.no_grad():
        recorded = model(x)
    with torch.no_grad():
        _, truth = attention(inputs[0], inputs[0], inputs[0], need_weights=True, average_attn_weights=False)
    assert torch.equal(recorded, plain)
    assert [record.name for record in recorder.records] == [
        "encoder.layers.encoder_layer_0.self_attention",
        "encoder.layers.encoder_layer_1.self_attention",
    ]
    last = recorder.records[1]
    assert float(truth.max()) > SHARP
    torch.testing.assert_close(last.full, truth, rtol=0, atol=1e-6)
    assert token_layout(model, last.tokens).prefix == ("cls",)
    assert token_layout(model, last.tokens).grid == (4, 4)


def test_by_default_a_record_keeps_the_rows_the_views_need_not_every_matrix() -> None:
    model = timm_vit()
    with AttentionRecorder(model) as recorder, torch.no_grad():
        model(batch())
    record = recorder.records[0]
    assert record.full is None
    assert record.first.shape == (2, 3, 17) and record.received.shape == (2, 3, 17)
    assert record.mean.shape == (2, 17, 17)


@pytest.mark.parametrize(
    ("name", "kwargs", "prefix"),
    [
        ("vit_tiny_patch16_224", {"reg_tokens": 4}, ("cls", "reg0", "reg1", "reg2", "reg3")),
        ("deit_tiny_distilled_patch16_224", {}, ("cls", "dist")),
        ("vit_tiny_patch16_224", {"class_token": False, "global_pool": "avg"}, ()),
    ],
)
def test_register_and_distillation_tokens_are_named_and_the_json_holds_the_patches_alone(
    name: str, kwargs: dict, prefix: tuple[str, ...]
) -> None:
    model = timm_vit(name, **kwargs)
    image = Image.fromarray(np.random.default_rng(3).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8))
    preprocessing = Preprocessing((SIZE, SIZE), 3, (0.5,) * 3, (0.5,) * 3)
    with Analyzer(model, list("abcde"), preprocessing) as analyzer:
        analysis = analyzer.analyze([image], attention="full")[0]
    document = json.loads(json.dumps(analysis_to_dict(analysis)))
    entry = document["layers"][-1]
    assert entry["type"] == "token" and entry["prefix_tokens"] == list(prefix)
    assert entry["grid"] == [4, 4] and entry["tokens"] == len(prefix) + 16 and entry["heads"] == 3
    full = np.asarray(entry["attention"])  # (heads, N, N)
    if prefix:
        # cls_attention[h] is row 0 of head h over the patch tokens only, in patch order, on the grid.
        expected = full[:, 0, len(prefix) :].reshape(3, 4, 4)
        np.testing.assert_allclose(np.asarray(entry["cls_attention"]), expected, atol=2e-6)
        assert set(entry["prefix_attention"]) == set(prefix)
        np.testing.assert_allclose(entry["prefix_attention"][prefix[-1]], full[:, 0, len(prefix) - 1], atol=2e-6)
    else:
        assert entry["cls_attention"] is None
        expected = full.mean(axis=1)[:, :].reshape(3, 4, 4)
        np.testing.assert_allclose(np.asarray(entry["received_attention"]), expected, atol=2e-6)


def test_rollout_mixes_each_layer_with_the_identity_and_multiplies_them_in_order() -> None:
    rng = np.random.default_rng(0)
    matrices = [rng.random((5, 5)) for _ in range(3)]
    matrices = [matrix / matrix.sum(axis=1, keepdims=True) for matrix in matrices]
    expected = np.eye(5)
    for matrix in matrices:
        mixed = 0.5 * matrix + 0.5 * np.eye(5)
        expected = mixed @ expected  # rows already sum to one
    np.testing.assert_allclose(rollout(matrices), expected, atol=1e-12)
    np.testing.assert_allclose(rollout(matrices).sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(rollout(matrices[:1], residual=0.0), matrices[0], atol=1e-12)
    # Order matters: the first layer acts first.
    assert not np.allclose(rollout(matrices), rollout(matrices[::-1]))


def test_the_analysis_rollout_is_read_from_the_class_token_row_of_the_head_means() -> None:
    model = timm_vit()
    image = Image.fromarray(np.random.default_rng(4).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8))
    preprocessing = Preprocessing((SIZE, SIZE), 3, (0.5,) * 3, (0.5,) * 3)
    with Analyzer(model, list("abcde"), preprocessing) as analyzer:
        analysis = analyzer.analyze([image], attention="full")[0]
    means = [layer.full.mean(axis=0) for layer in analysis.token_layers]  # type: ignore[union-attr]
    expected = rollout(means)[0, 1:].reshape(4, 4)
    np.testing.assert_allclose(analysis.rollout(), expected, atol=1e-6)
    document = analysis_to_dict(analysis)
    np.testing.assert_allclose(np.asarray(document["rollout"]["map"]), expected, atol=2e-6)
    assert "0.5·A + 0.5·I" in document["rollout"]["note"]


class Silent(nn.Module):
    """An attention branch that adds nothing."""

    def forward(self, x: torch.Tensor, **_options: object) -> torch.Tensor:
        return torch.zeros_like(x)


class Averaged(nn.Module):
    """An attention branch whose output every token receives averaged over the tokens."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor, **options: object) -> torch.Tensor:
        return self.inner(x, **options).mean(dim=1, keepdim=True).expand_as(x)


@pytest.mark.parametrize(("mode", "replace"), [("identity", lambda attn: Silent()), ("mean", Averaged)])
def test_switching_a_self_attention_layer_off_is_the_network_without_that_branch(mode: str, replace) -> None:  # noqa: ANN001
    model = timm_vit()
    image = Image.fromarray(np.random.default_rng(5).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8))
    preprocessing = Preprocessing((SIZE, SIZE), 3, (0.5,) * 3, (0.5,) * 3)
    with Analyzer(model, list("abcde"), preprocessing) as analyzer:
        analysis = analyzer.analyze([image], ablate=mode)[0]
        x = analyzer.preprocess([image])
    assert [entry["layer"] for entry in analysis.ablations] == [f"blocks.{index}.attn" for index in range(3)]
    target = analysis.ablations[0]["target"]
    for index, entry in enumerate(analysis.ablations):
        without = copy.deepcopy(model)
        without.blocks[index].attn = replace(without.blocks[index].attn)
        with torch.no_grad():
            probabilities = torch.softmax(without(x), dim=1)[0]
        expected = float(probabilities[list("abcde").index(target)]) - float(
            analysis.probabilities[list("abcde").index(target)]
        )
        assert entry["delta"] == pytest.approx(expected, abs=2e-6)
    assert any(abs(entry["delta"]) > 1e-3 for entry in analysis.ablations)


def test_a_vision_transformer_is_found_as_self_attention_and_other_forms_are_named() -> None:
    from attention.discovery import discovery_report, discovery_summary

    model = timm_vit()
    layers = find_attention_layers(model)
    assert [name for name, _, adapter in layers if adapter.kind == "token"] == [f"blocks.{i}.attn" for i in range(3)]
    assert discovery_summary(discovery_report(model, layers)) == "3 self-attention layers found."


@pytest.mark.slow
def test_analyze_writes_each_layers_heads_and_the_rollout_and_full_attention_on_request(tmp_path: Path) -> None:
    weights = tmp_path / "vit.pth"
    # A plain state dict of timm's whole network, as a user saves one; at 224 px it has 14x14 patches.
    torch.save(sharpen(timm.create_model("vit_tiny_patch16_224", pretrained=False)).state_dict(), weights)
    image = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(6).integers(0, 255, (120, 200, 3), dtype=np.uint8)).save(image)
    spec = ["--model", "timm:vit_tiny_patch16_224", "--weights", weights]
    result = run_attention("analyze", *spec, image, "--json", "--full-attention", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    layers = document["results"][0]["layers"]
    assert len(layers) == 12 and {layer["type"] for layer in layers} == {"token"}
    assert np.asarray(layers[0]["attention"]).shape == (3, 197, 197)
    assert np.asarray(layers[0]["cls_attention"]).shape == (3, 14, 14)
    assert document["discovery"]["found"][0]["kind"] == "token"
    written = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert "photo_rollout.png" in written
    assert sum(name.endswith("_heads.png") for name in written) == 12
    plain = run_attention("analyze", *spec, image, "--json")
    assert "attention" not in json.loads(plain.stdout)["results"][0]["layers"][0]


def test_the_explain_steps_of_a_self_attention_layer_are_the_numbers_of_the_pass() -> None:
    """Every step is checked against timm's own unfused pass: its softmax, its head outputs and its projection."""
    from attention.explain import explain_layer

    model = timm_vit()
    for block in model.blocks:
        block.attn.fused_attn = False
    seen: dict[str, torch.Tensor] = {}
    attention = model.blocks[1].attn
    attention.attn_drop.register_forward_hook(lambda _m, inputs, _o: seen.__setitem__("softmax", inputs[0]))
    attention.proj.register_forward_hook(lambda _m, inputs, out: seen.update(joined=inputs[0], output=out))
    image = Image.fromarray(np.random.default_rng(7).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8))
    preprocessing = Preprocessing((SIZE, SIZE), 3, (0.5,) * 3, (0.5,) * 3)
    with Analyzer(model, list("abcde"), preprocessing) as analyzer:
        analysis = analyzer.analyze([image], feature_layer=["blocks.1.attn"])[0]
    layer = analysis.layer("blocks.1.attn")
    explanation = explain_layer(
        layer.name, attention, layer.kind, analysis.feature_maps[layer.name], layer.gate, layer.layout
    )
    assert [step.key for step in explanation.steps] == ["tokens", "qkv", "scores", "softmax", "mix", "heads"]
    assert not explanation.missing and explanation.what == "self-attention"
    head = explanation.step("heads").values["head"]
    softmax = seen["softmax"][0, head, 0].numpy()
    assert softmax.max() > SHARP
    np.testing.assert_allclose(explanation.step("softmax").values["attention"], softmax, atol=1e-5)
    scores = explanation.step("scores").values["scores"]
    np.testing.assert_allclose(np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum(), softmax, atol=1e-5)
    joined = seen["joined"][0, 0].reshape(3, -1).numpy()  # the class token's row, per head
    np.testing.assert_allclose(explanation.step("heads").values["joined"], joined, atol=1e-5)
    np.testing.assert_allclose(explanation.step("mix").values["mixed"], joined[head], atol=1e-5)
    np.testing.assert_allclose(explanation.step("heads").values["output"], seen["output"][0, 0, :64].numpy(), atol=1e-5)


def test_a_self_attention_that_does_not_compute_as_its_weights_say_is_not_explained_with_false_steps() -> None:
    from attention.explain import explain_layer

    model = timm_vit()
    image = Image.fromarray(np.random.default_rng(8).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8))
    preprocessing = Preprocessing((SIZE, SIZE), 3, (0.5,) * 3, (0.5,) * 3)
    with Analyzer(model, list("abcde"), preprocessing) as analyzer:
        analysis = analyzer.analyze([image], feature_layer=["blocks.0.attn"])[0]
    layer = analysis.layer("blocks.0.attn")
    other = copy.deepcopy(model.blocks[0].attn)
    with torch.no_grad():
        other.qkv.weight.mul_(0.5)  # not the weights that made the recorded attention
    explanation = explain_layer(
        layer.name, other, layer.kind, analysis.feature_maps[layer.name], layer.gate, layer.layout
    )
    assert explanation.step("tokens").shown
    assert {step.key for step in explanation.missing} == {"qkv", "scores", "softmax", "mix", "heads"}


def _without_head_values(model: nn.Module, layer: nn.Module, head: int) -> None:
    """Zero one head's value weights: the head then adds nothing, which is what switching it off means."""
    with torch.no_grad():
        if isinstance(layer, nn.MultiheadAttention):
            size = layer.embed_dim // layer.num_heads
            rows = slice(2 * layer.embed_dim + head * size, 2 * layer.embed_dim + (head + 1) * size)
            layer.in_proj_weight[rows] = 0
            layer.in_proj_bias[rows] = 0
        else:
            width = layer.qkv.out_features // 3
            size = width // layer.num_heads
            rows = slice(2 * width + head * size, 2 * width + (head + 1) * size)
            layer.qkv.weight[rows] = 0
            if layer.qkv.bias is not None:
                layer.qkv.bias[rows] = 0


@pytest.mark.parametrize("library", ["timm", "torchvision"])
def test_switching_one_head_off_is_the_network_whose_head_passes_on_nothing(library: str) -> None:
    if library == "timm":
        model = timm_vit()
        layers = lambda net: [block.attn for block in net.blocks]  # noqa: E731
    else:
        model = torchvision_vit()
        layers = lambda net: [layer.self_attention for layer in net.encoder.layers]  # noqa: E731
    image = Image.fromarray(np.random.default_rng(9).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8))
    preprocessing = Preprocessing((SIZE, SIZE), 3, (0.5,) * 3, (0.5,) * 3)
    with Analyzer(model, list("abcde"), preprocessing) as analyzer:
        analysis = analyzer.analyze([image], ablate="identity", ablate_heads=True)[0]
        x = analyzer.preprocess([image])
    heads = layers(model)[0].num_heads
    entries = [entry for entry in analysis.ablations if "head" in entry]
    assert len(entries) == heads * len(layers(model))
    target = list("abcde").index(analysis.ablations[0]["target"])
    for entry in entries[: heads + 1]:  # every head of the first layer and one of the second
        index = [name for name in analyzer.token_layer_names].index(entry["layer"])
        without = copy.deepcopy(model)
        _without_head_values(without, layers(without)[index], entry["head"])
        with torch.no_grad():
            expected = float(torch.softmax(without(x), dim=1)[0, target]) - float(analysis.probabilities[target])
        assert entry["delta"] == pytest.approx(expected, abs=1e-5), entry  # 6 decimals, then float32 noise
    assert any(abs(entry["delta"]) > 1e-4 for entry in entries)


class HeadAveraged(nn.Module):
    """timm's attention written out by hand, with one head's output averaged over the tokens before the projection."""

    def __init__(self, inner: nn.Module, head: int) -> None:
        super().__init__()
        self.inner, self.head = inner, head

    def forward(self, x: torch.Tensor, **_options: object) -> torch.Tensor:
        inner = self.inner
        count, tokens, width = x.shape
        qkv = inner.qkv(x).reshape(count, tokens, 3, inner.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        heads = torch.softmax((q * inner.scale) @ k.transpose(-2, -1), dim=-1) @ v  # (B, heads, N, d)
        heads[:, self.head] = heads[:, self.head].mean(dim=1, keepdim=True)
        return inner.proj(heads.transpose(1, 2).reshape(count, tokens, -1))


def test_a_head_in_mean_mode_passes_on_its_output_averaged_over_the_tokens() -> None:
    model = timm_vit()
    image = Image.fromarray(np.random.default_rng(10).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8))
    preprocessing = Preprocessing((SIZE, SIZE), 3, (0.5,) * 3, (0.5,) * 3)
    with Analyzer(model, list("abcde"), preprocessing) as analyzer:
        analysis = analyzer.analyze([image], ablate="mean", ablate_heads=True)[0]
        x = analyzer.preprocess([image])
    target = list("abcde").index(analysis.ablations[0]["target"])
    entries = [
        entry for entry in analysis.ablations if entry.get("head") is not None and entry["layer"] == "blocks.1.attn"
    ]
    assert [entry["head"] for entry in entries] == [0, 1, 2]
    for entry in entries:
        without = copy.deepcopy(model)
        without.blocks[1].attn = HeadAveraged(without.blocks[1].attn, entry["head"])
        with torch.no_grad():
            expected = float(torch.softmax(without(x), dim=1)[0, target]) - float(analysis.probabilities[target])
        assert entry["delta"] == pytest.approx(expected, abs=2e-6), entry
    assert any(abs(entry["delta"]) > 1e-4 for entry in entries)


def test_the_profile_of_a_transformer_gives_each_heads_entropy_and_its_accuracy_when_switched_off() -> None:
    from attention.ablation import ablator_for
    from attention.profile import profile_model

    model = timm_vit()
    x = batch(seed=11, count=8)
    with torch.no_grad():
        labels = model(x).argmax(dim=1)
    labels[::3] = (labels[::3] + 1) % 5  # some wrong, so accuracies can move both ways
    layers = find_attention_layers(model)
    recorder = AttentionRecorder(model, layers=layers)
    ablator = ablator_for(layers)
    recorder.attach()
    ablator.attach()
    try:
        profile = profile_model(model, [(x, labels)], list("abcde"), recorder, ablator, heads=True)  # both modes
    finally:
        recorder.detach()
        ablator.detach()
    truth = timm_truth(model, x)
    for index, layer in enumerate(profile.layers):
        rows = truth[index][:, :, 0].double()  # (B, heads, N)
        entropy = (-(rows * rows.clamp_min(1e-12).log()).sum(dim=-1) / np.log(rows.shape[-1])).mean(dim=0)
        np.testing.assert_allclose(layer.head_entropy, entropy.numpy(), atol=1e-5)
        assert layer.activity == pytest.approx(1.0 - float(entropy.mean()), abs=1e-5)
        assert layer.kind == "token" and layer.head_ablated_accuracy is not None
        for head, accuracy in enumerate(layer.head_ablated_accuracy["identity"]):
            without = copy.deepcopy(model)
            _without_head_values(without, without.blocks[index].attn, head)
            with torch.no_grad():
                expected = float((without(x).argmax(dim=1) == labels).float().mean())
            assert accuracy == pytest.approx(expected)
    assert min(min(layer.head_entropy) for layer in profile.layers) < 0.9  # some head is focused
    document = profile.to_dict()
    assert len(document["layers"][0]["head_entropy"]) == 3
    assert len(document["layers"][0]["head_ablated_accuracy"]["identity"]) == 3
    assert len(document["layers"][0]["head_ablated_accuracy"]["mean"]) == 3


@pytest.mark.parametrize("library", ["timm", "torchvision"])
def test_the_rows_level_keeps_token_0s_row_alone_and_it_is_the_full_softmaxs_row(library: str) -> None:
    model = timm_vit() if library == "timm" else torchvision_vit()
    x = batch()
    with AttentionRecorder(model, attention="full") as full, torch.no_grad():
        model(x)
    with AttentionRecorder(model, attention="rows") as rows, torch.no_grad():
        model(x)
    for whole, row in zip(full.records, rows.records, strict=True):
        assert row.received is None and row.mean is None and row.full is None
        assert whole.full is not None
        torch.testing.assert_close(row.first, whole.full[:, :, 0], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="attention level"):
        AttentionRecorder(model, attention="some")


def _by_hand(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, heads: int) -> torch.Tensor:
    """softmax(q·kᵀ/√d) per head from a block's packed q, k, v projection, written out with einsum."""
    weight, bias = weight.detach(), None if bias is None else bias.detach()
    packed = torch.einsum("bnc,oc->bno", x.double(), weight.double())
    if bias is not None:
        packed = packed + bias.double()
    width = weight.shape[0] // 3
    size = width // heads
    q = packed[..., :width].reshape(*x.shape[:2], heads, size)
    k = packed[..., width : 2 * width].reshape(*x.shape[:2], heads, size)
    scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / size**0.5
    return torch.softmax(scores, dim=-1)


@pytest.mark.parametrize("network", ["vit", "deit distilled", "torchvision vit_b_16"])
def test_every_probability_is_the_softmax_of_the_blocks_own_qkv_worked_out_by_hand(network: str) -> None:
    if network == "torchvision vit_b_16":
        model = torchvision_vit()
        attentions = [layer.self_attention for layer in model.encoder.layers]
        weights = [(a.in_proj_weight, a.in_proj_bias, a.num_heads) for a in attentions]
    else:
        model = timm_vit("deit_tiny_distilled_patch16_224" if network == "deit distilled" else "vit_tiny_patch16_224")
        attentions = [block.attn for block in model.blocks]
        weights = [(a.qkv.weight, a.qkv.bias, a.num_heads) for a in attentions]
    inputs: list[torch.Tensor] = []
    for attention in attentions:
        attention.register_forward_hook(lambda _m, args, _o: inputs.append(args[0].detach().clone()))
    recorder = AttentionRecorder(model, attention="full")
    inputs.clear()  # finding the layers ran the model on probe images
    with recorder, torch.no_grad():
        model(batch())
    assert len(recorder.records) == len(attentions) == len(inputs)
    for record, x, (weight, bias, heads) in zip(recorder.records, inputs, weights, strict=True):
        expected = _by_hand(x, weight, bias, heads)
        assert float(expected.max()) > SHARP
        assert record.full is not None
        # float32 against float64: sharp heads' scores reach the hundreds, whose rounding moves a probability ~1e-5.
        torch.testing.assert_close(record.full.double(), expected, rtol=0, atol=1e-4)


def test_two_analyses_of_a_transformer_compare_by_their_class_token_attention() -> None:
    from attention.compare import match

    model = timm_vit()
    preprocessing = Preprocessing((SIZE, SIZE), 3, (0.5,) * 3, (0.5,) * 3)
    images = [
        Image.fromarray(np.random.default_rng(seed).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8))
        for seed in (12, 13)
    ]
    with Analyzer(model, list("abcde"), preprocessing) as analyzer:
        a, b = analyzer.analyze(images)
    matching = match(a, b)
    assert [difference.name for difference in matching.differences] == [f"blocks.{i}.attn" for i in range(3)]
    for difference in matching.differences:
        assert difference.kind == "token"
        expected = a.layer(difference.name).attention_map() - b.layer(difference.name).attention_map()
        np.testing.assert_allclose(difference.difference, expected, atol=1e-7)
    assert max(difference.score for difference in matching.differences) > 1e-3


def test_torchvisions_vit_is_explained_in_six_steps_from_its_packed_projection() -> None:
    from attention.explain import explain_layer

    model = torchvision_vit()
    name = "encoder.layers.encoder_layer_1.self_attention"
    with Analyzer(model, list("abcde"), Preprocessing((SIZE, SIZE), 3, (0.5,) * 3, (0.5,) * 3)) as analyzer:
        image = Image.fromarray(np.random.default_rng(14).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8))
        analysis = analyzer.analyze([image], feature_layer=[name])[0]
    layer = analysis.layer(name)
    module = model.get_submodule(name)
    explanation = explain_layer(name, module, layer.kind, analysis.feature_maps[name], layer.gate, layer.layout)
    assert not explanation.missing
    head = explanation.step("heads").values["head"]
    np.testing.assert_allclose(explanation.step("softmax").values["attention"], layer.first[head], atol=1e-5)


def test_a_cross_attention_is_left_unrecorded_and_the_rest_of_the_model_still_is() -> None:
    class Cross(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.self_attention = nn.MultiheadAttention(8, 2, batch_first=True)
            self.cross = nn.MultiheadAttention(8, 2, kdim=4, vdim=4, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.self_attention(x, x, x, need_weights=False)[0]
            return self.cross(x, x[..., :4], x[..., :4], need_weights=False)[0]

    model = Cross().eval()
    with AttentionRecorder(model) as recorder, torch.no_grad():
        model(torch.randn(1, 5, 8))
    assert [record.name for record in recorder.records] == ["self_attention"]


def test_transformers_with_other_patch_grids_compare_on_the_first_ones_grid() -> None:
    from attention.compare import match

    image = Image.fromarray(np.random.default_rng(15).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8))
    analyses = []
    for size in (SIZE, 48):
        model = sharpen(
            timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=5, img_size=size, depth=2)
        )
        with Analyzer(model, list("abcde"), Preprocessing((size, size), 3, (0.5,) * 3, (0.5,) * 3)) as analyzer:
            analyses.append(analyzer.analyze([image])[0])
    differences = match(*analyses).differences
    assert [difference.difference.shape for difference in differences] == [(4, 4), (4, 4)]
    assert all(difference.note == "B's 3x3 patches resampled to 4x4" for difference in differences)
