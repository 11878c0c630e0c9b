"""The attention modules against their definitions."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from attention import (
    ECA,
    AttentionBlock,
    AttentionRecorder,
    CBAMChannelGate,
    SpatialAttention,
    SqueezeExcite,
    adaptive_kernel_size,
    create_attention,
)


@pytest.mark.parametrize(
    ("channels", "expected"),
    [(16, 3), (24, 3), (32, 3), (64, 3), (96, 3), (128, 5), (256, 5), (512, 5), (1024, 5), (2048, 7)],
)
def test_adaptive_kernel_table(channels: int, expected: int) -> None:
    assert adaptive_kernel_size(channels) == expected
    assert ECA(channels).kernel_size == expected


def test_adaptive_kernel_is_always_odd() -> None:
    for channels in range(1, 5000, 7):
        assert adaptive_kernel_size(channels) % 2 == 1


@pytest.mark.parametrize("kernel", [2, 4, 6, 0])
def test_even_eca_kernel_refused(kernel: int) -> None:
    with pytest.raises(ValueError, match="odd"):
        ECA(32, kernel_size=kernel)


@pytest.mark.parametrize("kernel", [2, 4, 8])
def test_even_spatial_kernel_refused(kernel: int) -> None:
    with pytest.raises(ValueError, match="odd"):
        SpatialAttention(kernel_size=kernel)


@pytest.mark.parametrize("pooling", ["avgmax", "avg", "max"])
@pytest.mark.parametrize("channels", [16, 128, 2048])
def test_eca_shapes_and_range(pooling: str, channels: int) -> None:
    module = ECA(channels, pooling=pooling)
    x = torch.randn(3, channels, 5, 4)
    weights = module.channel_weights(x)
    assert weights.weights.shape == (3, channels)
    assert torch.all((weights.weights >= 0) & (weights.weights <= 1))
    assert (weights.avg is None) == (pooling == "max")
    assert (weights.max is None) == (pooling == "avg")
    out = module(x)
    assert out.shape == x.shape
    torch.testing.assert_close(out, x * weights.weights[:, :, None, None])


def test_eca_avgmax_matches_hand_computation() -> None:
    torch.manual_seed(0)
    channels, kernel = 12, 5
    module = ECA(channels, kernel_size=kernel, bias=True)
    nn.init.normal_(module.conv.weight)
    nn.init.normal_(module.conv.bias)
    x = torch.randn(2, channels, 6, 7)
    w = module.conv.weight.detach().view(-1)
    b = float(module.conv.bias.detach())
    pad = (kernel - 1) // 2

    def conv_by_hand(vector: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(channels)
        for c in range(channels):
            total = b
            for j in range(kernel):
                source = c + j - pad
                if 0 <= source < channels:
                    total += float(w[j]) * float(vector[source])
            out[c] = total
        return out

    result = module.channel_weights(x)
    for sample in range(2):
        avg = x[sample].mean(dim=(1, 2))
        mx = x[sample].amax(dim=(1, 2))
        expected_avg = conv_by_hand(avg)
        expected_max = conv_by_hand(mx)
        expected = torch.sigmoid(expected_avg + expected_max)
        torch.testing.assert_close(result.avg[sample], expected_avg, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(result.max[sample], expected_max, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(result.weights[sample], expected, atol=1e-6, rtol=1e-5)


def test_eca_avg_matches_original_formula() -> None:
    """Original ECA: y = sigmoid(conv1d(GAP(x))) per channel, then x * y."""
    torch.manual_seed(1)
    channels = 64
    module = ECA(channels, pooling="avg")
    nn.init.normal_(module.conv.weight)
    x = torch.randn(4, channels, 8, 8)
    gap = nn.AdaptiveAvgPool2d(1)(x)  # (B, C, 1, 1)
    y = nn.functional.conv1d(
        gap.squeeze(-1).transpose(-1, -2), module.conv.weight, padding=(module.kernel_size - 1) // 2
    )
    y = torch.sigmoid(y.transpose(-1, -2).unsqueeze(-1))
    torch.testing.assert_close(module(x), x * y.expand_as(x), atol=1e-6, rtol=1e-5)


def test_eca_hard_sigmoid_gate() -> None:
    module = ECA(32, gate="hard_sigmoid")
    nn.init.constant_(module.conv.weight, 10.0)
    weights = module.channel_weights(torch.randn(2, 32, 3, 3) * 10).weights
    assert torch.all((weights >= 0) & (weights <= 1))
    assert isinstance(module.gate, nn.Hardsigmoid)


def test_eca_bias_option() -> None:
    assert ECA(32).conv.bias is None
    assert ECA(32, bias=True).conv.bias is not None
    assert sum(p.numel() for p in ECA(32).parameters()) == 3


def test_spatial_mask_matches_definition() -> None:
    torch.manual_seed(2)
    module = SpatialAttention(kernel_size=7)
    nn.init.normal_(module.conv.weight)
    x = torch.randn(2, 10, 9, 11)
    mask = module.spatial_mask(x)
    assert mask.shape == (2, 1, 9, 11)
    pooled = torch.stack([x.max(dim=1).values, x.mean(dim=1)], dim=1)
    expected = torch.sigmoid(nn.functional.conv2d(pooled, module.conv.weight, padding=3))
    torch.testing.assert_close(mask, expected)
    torch.testing.assert_close(module(x), x * expected)
    assert torch.all((mask >= 0) & (mask <= 1))


def test_spatial_norm_sits_between_convolution_and_gate() -> None:
    """The CBAM/timm variant: conv, then BatchNorm (running statistics in eval mode), then the gate."""
    torch.manual_seed(3)
    module = SpatialAttention(kernel_size=5, norm=True)
    assert "norm=True" in repr(module) and "norm=True" not in repr(SpatialAttention())
    assert sum(p.numel() for p in module.parameters()) == 2 * 5 * 5 + 2
    nn.init.normal_(module.conv.weight)
    with torch.no_grad():
        module.norm.running_mean.fill_(0.7)
        module.norm.running_var.fill_(2.5)
        module.norm.weight.fill_(1.8)
        module.norm.bias.fill_(-0.4)
    x = torch.randn(3, 6, 8, 7)
    pooled = torch.stack([x.max(dim=1).values, x.mean(dim=1)], dim=1)
    raw = nn.functional.conv2d(pooled, module.conv.weight, padding=2)
    logits = (raw - 0.7) / torch.sqrt(torch.tensor(2.5) + module.norm.eps) * 1.8 - 0.4
    weights = module.eval().spatial_weights(x)
    torch.testing.assert_close(weights.logits, logits)
    torch.testing.assert_close(weights.mask, torch.sigmoid(logits))
    torch.testing.assert_close(module(x), x * torch.sigmoid(logits))
    # In training the norm uses the batch's own statistics: the logits come out centred with unit spread.
    trained = module.train().spatial_weights(x).logits.detach()
    centred = (trained + 0.4) / 1.8
    assert abs(float(centred.mean())) < 1e-5 and abs(float(centred.std(correction=0)) - 1.0) < 1e-3


@pytest.mark.parametrize("kernel", [3, 5, 7])
def test_spatial_kernel_sizes_keep_size(kernel: int) -> None:
    module = SpatialAttention(kernel_size=kernel)
    assert module(torch.randn(1, 4, 13, 6)).shape == (1, 4, 13, 6)


@pytest.mark.parametrize("module", [CBAMChannelGate(64, reduction=16), SqueezeExcite(64, reduction=8)])
def test_other_channel_gates(module: nn.Module) -> None:
    x = torch.randn(2, 64, 5, 5)
    weights = module.channel_weights(x).weights
    assert weights.shape == (2, 64)
    torch.testing.assert_close(module(x), x * weights[:, :, None, None])


@pytest.mark.parametrize(
    ("kind", "channel_type", "has_spatial"),
    [
        ("eca_sa", ECA, True),
        ("eca", ECA, False),
        ("sa", None, True),
        ("cbam", CBAMChannelGate, True),
        ("se", SqueezeExcite, False),
    ],
)
def test_factory(kind: str, channel_type: type | None, has_spatial: bool) -> None:
    block = create_attention(kind, 32)
    assert isinstance(block, AttentionBlock)
    channel = getattr(block, "channel", None)
    assert (channel is None) == (channel_type is None)
    if channel_type is not None:
        assert isinstance(channel, channel_type)
    assert hasattr(block, "spatial") == has_spatial
    assert block(torch.randn(1, 32, 4, 4)).shape == (1, 32, 4, 4)


def test_factory_passes_options_and_refuses_unknown() -> None:
    block = create_attention("eca_sa", 128, eca={"pooling": "avg", "kernel_size": 3}, spatial={"kernel_size": 5})
    assert block.channel.pooling == "avg" and block.channel.kernel_size == 3
    assert block.spatial.kernel_size == 5
    assert isinstance(create_attention("none", 8), nn.Identity)
    # The shared gate is a default: a module's own options win over it.
    hard = create_attention("eca_sa", 16, gate="hard_sigmoid", eca={"gate": "sigmoid"})
    assert hard.channel.gate_name == "sigmoid" and isinstance(hard.spatial.gate, nn.Hardsigmoid)
    with pytest.raises(ValueError, match="unknown attention kind"):
        create_attention("transformer", 8)


@pytest.mark.parametrize("kind", ["eca_sa", "cbam"])
def test_factory_spatial_first_runs_the_mask_before_the_channel_gate_and_keeps_the_names(kind: str) -> None:
    torch.manual_seed(0)
    usual = create_attention(kind, 16).eval()
    swapped = create_attention(kind, 16, spatial_first=True).eval()
    swapped.load_state_dict(usual.state_dict())  # the same layers under the same names
    assert [name for name, _ in usual.named_children()] == ["channel", "spatial"]
    assert [name for name, _ in swapped.named_children()] == ["spatial", "channel"]
    x = torch.randn(2, 16, 6, 6)
    with torch.no_grad():
        assert torch.allclose(swapped(x), usual.channel(usual.spatial(x)))
        assert not torch.allclose(swapped(x), usual(x), atol=1e-4)


def test_eca_parameter_count_is_kernel_size() -> None:
    for channels in (16, 256, 2048):
        module = ECA(channels)
        assert sum(p.numel() for p in module.parameters()) == module.kernel_size
        assert module.kernel_size == int(abs(math.log2(channels) / 2 + 0.5)) | 1


def _mlp_by_hand(vector: torch.Tensor, mlp: nn.Sequential) -> torch.Tensor:
    """Linear -> ReLU -> Linear, one unit at a time from the layers' weights."""
    w1, b1 = mlp[0].weight.detach(), mlp[0].bias.detach()  # plain numbers: no autograd in the reference
    w2, b2 = mlp[2].weight.detach(), mlp[2].bias.detach()
    hidden = [max(0.0, float(b1[j]) + sum(float(w1[j, i]) * float(vector[i]) for i in range(len(vector))))
              for j in range(w1.shape[0])]  # fmt: skip
    return torch.tensor(
        [float(b2[c]) + sum(float(w2[c, j]) * hidden[j] for j in range(len(hidden))) for c in range(w2.shape[0])]
    )  # fmt: skip


def _recorded(module: nn.Module, x: torch.Tensor):  # noqa: ANN202 - a ChannelRecord
    model = nn.Sequential(module)
    with torch.no_grad(), AttentionRecorder(model) as recorder:
        model(x)
    (record,) = recorder.records
    return record


def test_cbam_channel_gate_matches_hand_computation_and_its_record() -> None:
    torch.manual_seed(4)
    module = CBAMChannelGate(12, reduction=3)
    for parameter in module.parameters():
        nn.init.normal_(parameter)
    x = torch.randn(2, 12, 4, 5)
    record = _recorded(module, x)
    assert record.type == "cbam_channel"
    for sample in range(2):
        avg = _mlp_by_hand(x[sample].mean(dim=(1, 2)), module.mlp)
        mx = _mlp_by_hand(x[sample].amax(dim=(1, 2)), module.mlp)
        torch.testing.assert_close(record.avg[sample], avg, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(record.max[sample], mx, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(record.weights[sample], torch.sigmoid(avg + mx), atol=1e-6, rtol=1e-5)


def test_squeeze_excite_matches_hand_computation_and_its_record() -> None:
    torch.manual_seed(5)
    module = SqueezeExcite(12, reduction=4)
    for parameter in module.parameters():
        nn.init.normal_(parameter)
    x = torch.randn(2, 12, 3, 3)
    record = _recorded(module, x)
    assert record.type == "se" and record.max is None
    for sample in range(2):
        logits = _mlp_by_hand(x[sample].mean(dim=(1, 2)), module.mlp)
        torch.testing.assert_close(record.avg[sample], logits, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(record.weights[sample], torch.sigmoid(logits), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("kind", ["eca", "spatial"])
def test_hard_sigmoid_gate_is_clamped_logits_over_six_plus_a_half(kind: str) -> None:
    """Logits from -10 to 10 (the centre tap passes the pooled value through) cover both clamps and the ramp."""
    values = torch.linspace(-5, 5, 32)
    with torch.no_grad():
        if kind == "eca":
            module = ECA(32, kernel_size=3, gate="hard_sigmoid")
            module.conv.weight.copy_(torch.tensor([[[0.5, 1.0, -0.25]]]))
            x = values[None, :, None, None].expand(2, 32, 3, 3).clone()
        else:
            module = SpatialAttention(kernel_size=3, gate="hard_sigmoid")
            module.conv.weight.zero_()
            module.conv.weight[0, :, 1, 1] = torch.tensor([1.0, 1.0])
            x = values.view(1, 1, 4, 8).expand(2, 5, 4, 8).clone()
    record = _recorded(module, x)
    if kind == "eca":
        logits, recorded = record.avg + record.max, record.weights
    else:
        logits, recorded = record.logits, record.mask
    expected = torch.clamp(logits / 6 + 0.5, 0, 1)
    assert (expected == 0).any() and (expected == 1).any() and ((expected > 0) & (expected < 1)).any()
    torch.testing.assert_close(recorded, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    ("channels", "reduction", "hidden"), [(16, 16, 4), (64, 16, 4), (100, 16, 6), (256, 16, 16), (256, 8, 32)]
)
def test_squeeze_and_cbam_bottlenecks_are_channels_over_reduction_rounded_down_and_at_least_four(
    channels: int, reduction: int, hidden: int
) -> None:
    for module in (SqueezeExcite(channels, reduction=reduction), CBAMChannelGate(channels, reduction=reduction)):
        assert module.mlp[0].out_features == hidden and module.mlp[2].in_features == hidden
    # The default reduction is 16, as in SE and CBAM.
    assert SqueezeExcite(256).mlp[0].out_features == CBAMChannelGate(256).mlp[0].out_features == 16


def test_hard_sigmoid_gate_names_are_read_in_any_case_and_with_dashes() -> None:
    from attention.gates import create_gate

    for name in ("hard_sigmoid", "Hard-Sigmoid", "HARD_SIGMOID"):
        assert isinstance(create_gate(name), nn.Hardsigmoid), name
    assert isinstance(create_gate("Sigmoid"), nn.Sigmoid)
    with pytest.raises(ValueError, match="unknown gate 'relu'"):
        create_gate("relu")
