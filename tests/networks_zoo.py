"""The networks users bring, built the way each family builds them, at random init.

Modules written the way their authors write them (the official ECA-Net
``eca_layer``, blog-style ECA and spatial attention, the official CBAM code)
are defined here with their own classes on purpose: the recorder must find
them by what they do, never by class identity.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def randomise_norms(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random batch-norm statistics and affine parameters (timm zero-initialises some last norms)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                size = module.num_features
                module.running_mean.copy_(0.1 * torch.randn(size, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(size, generator=generator))
                if module.affine:
                    module.weight.copy_(0.5 + torch.rand(size, generator=generator))
                    module.bias.copy_(0.1 * torch.randn(size, generator=generator))
    return model.eval()


# The official ECA-Net layout (BangguWu/ECANet models/eca_module.py) ---------------------------


class eca_layer(nn.Module):  # noqa: N801 - the official class name
    def __init__(self, channel: int, k_size: int = 3) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv1d(1, 1, kernel_size=k_size, padding=(k_size - 1) // 2, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.avg_pool(x)
        y = self.conv(y.squeeze(-1).transpose(-1, -2)).transpose(-1, -2).unsqueeze(-1)
        y = self.sigmoid(y)
        return x * y.expand_as(x)


# Blog-style modules: avg + max ECA with a hard-coded padding, CBAM-like spatial attention -------


class ECAAttention(nn.Module):
    def __init__(self, kernel_size: int = 3) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.max_pool = nn.AdaptiveMaxPool2d(1)
        self.conv = nn.Conv1d(1, 1, kernel_size=kernel_size, padding=1, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.conv(self.avg_pool(x).squeeze(-1).transpose(-1, -2))
        mx = self.conv(self.max_pool(x).squeeze(-1).transpose(-1, -2))
        y = self.sigmoid(avg + mx).transpose(-1, -2).unsqueeze(-1)
        return x * y.expand_as(x)


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=3, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg_out = torch.mean(x, dim=1, keepdim=True)
        max_out, _ = torch.max(x, dim=1, keepdim=True)
        return x * self.sigmoid(self.conv(torch.cat([avg_out, max_out], dim=1)))


# The official CBAM code layout (functional sigmoid, BasicConv, ChannelPool) --------------------


class Flatten(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.size(0), -1)


class ChannelGate(nn.Module):
    def __init__(self, gate_channels: int, reduction_ratio: int = 16) -> None:
        super().__init__()
        hidden = max(1, gate_channels // reduction_ratio)
        self.mlp = nn.Sequential(
            Flatten(), nn.Linear(gate_channels, hidden), nn.ReLU(), nn.Linear(hidden, gate_channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = (x.size(2), x.size(3))
        att = self.mlp(F.avg_pool2d(x, size, stride=size)) + self.mlp(F.max_pool2d(x, size, stride=size))
        scale = F.sigmoid(att).unsqueeze(2).unsqueeze(3).expand_as(x)
        return x * scale


class BasicConv(nn.Module):
    def __init__(self, in_planes: int, out_planes: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_planes, out_planes, kernel_size, padding=(kernel_size - 1) // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_planes, eps=1e-5, momentum=0.01, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class ChannelPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((torch.max(x, 1)[0].unsqueeze(1), torch.mean(x, 1).unsqueeze(1)), dim=1)


class SpatialGate(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.compress = ChannelPool()
        self.spatial = BasicConv(2, 1, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * F.sigmoid(self.spatial(self.compress(x)))


class CBAM(nn.Module):
    def __init__(self, gate_channels: int) -> None:
        super().__init__()
        self.ChannelGate = ChannelGate(gate_channels)
        self.SpatialGate = SpatialGate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.SpatialGate(self.ChannelGate(x))


# Constant scalings: not attention ------------------------------------------------------------


class LayerScale(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.rand(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma[None, :, None, None]


class LearnedChannelGate(nn.Module):
    """A sigmoid gate of a learned constant: in [0, 1], per channel, but the same for every image."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.randn(channels))
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.sigmoid(self.logits)[None, :, None, None]


class SoftmaxSpatialGate(nn.Module):
    """A spatial gate normalised by a softmax over the pixels, times the pixel count so an even mask keeps x."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 7, padding=3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.conv(torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1))
        mask = torch.softmax(logits.flatten(1), dim=1).view_as(logits)
        return x * mask


class HardSE(nn.Module):
    """Squeeze-and-excitation with a hard sigmoid, which saturates at exactly 0 and 1."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, max(4, channels // 8), 1)
        self.fc2 = nn.Conv2d(max(4, channels // 8), channels, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.fc2(torch.relu(self.fc1(x.mean((2, 3), keepdim=True)))))


class HardSpatial(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 7, padding=3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)
        return x * F.hardsigmoid(self.conv(pooled))


class AttentionGate(nn.Module):
    """Triplet attention's gate (official layout): [max, mean] over the first axis, a 7x7 conv, a sigmoid."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 7, padding=3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat((torch.max(x, 1)[0].unsqueeze(1), torch.mean(x, 1).unsqueeze(1)), dim=1)
        return x * torch.sigmoid(self.conv(pooled))


class TripletAttention(nn.Module):
    """Three gates: over (C, W) and (H, C) planes of permuted copies of x, and over (H, W), averaged."""

    def __init__(self) -> None:
        super().__init__()
        self.cw, self.hc, self.hw = AttentionGate(), AttentionGate(), AttentionGate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out_cw = self.cw(x.permute(0, 2, 1, 3).contiguous()).permute(0, 2, 1, 3).contiguous()
        out_hc = self.hc(x.permute(0, 3, 2, 1).contiguous()).permute(0, 3, 2, 1).contiguous()
        return (self.hw(x) + out_cw + out_hc) / 3


class simam_module(nn.Module):  # noqa: N801 - the official class name
    """SimAM (official code, ZjjConan/SimAM): a per-element gate from each element's distance to its channel's mean."""

    def __init__(self, channels: int | None = None, e_lambda: float = 1e-4) -> None:
        super().__init__()
        self.activaton = nn.Sigmoid()  # sic: the official attribute name
        self.e_lambda = e_lambda

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _b, _c, h, w = x.size()
        n = w * h - 1
        x_minus_mu_square = (x - x.mean(dim=[2, 3], keepdim=True)).pow(2)
        y = x_minus_mu_square / (4 * (x_minus_mu_square.sum(dim=[2, 3], keepdim=True) / n + self.e_lambda)) + 0.5
        return x * self.activaton(y)


class BAMChannelGate(nn.Module):
    """BAM's channel branch (official code, Jongchan/attention-module): pooled MLP, expanded to the map."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.mlp = nn.Sequential(
            nn.Linear(channels, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.avg_pool2d(x, x.shape[2:], stride=x.shape[2:]).flatten(1)
        return self.mlp(pooled)[:, :, None, None].expand_as(x)


class BAMSpatialGate(nn.Module):
    """BAM's spatial branch: a 1x1 reduction, two dilated 3x3 convolutions, one map expanded to every channel."""

    def __init__(self, channels: int, reduction: int = 16, dilation: int = 4) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.body = nn.Sequential(
            nn.Conv2d(channels, hidden, 1),
            nn.BatchNorm2d(hidden),
            nn.ReLU(),
            nn.Conv2d(hidden, hidden, 3, padding=dilation, dilation=dilation),
            nn.BatchNorm2d(hidden),
            nn.ReLU(),
            nn.Conv2d(hidden, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).expand_as(x)


class BAM(nn.Module):
    """BAM as its authors wrote it: ``x * (1 + sigmoid(channel + spatial))`` with a functional sigmoid."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channel_att = BAMChannelGate(channels)
        self.spatial_att = BAMSpatialGate(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        att = 1 + torch.sigmoid(self.channel_att(x) + self.spatial_att(x))
        return att * x


class DoubledSE(nn.Module):
    """An SE whose factor is 2 * sigmoid, as normaliser-free networks scale their gates."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2.0 * self.gate(self.fc2(F.relu(self.fc1(x.mean((2, 3), keepdim=True)))))


# Networks -----------------------------------------------------------------------------------


def _resnet18_with(make: type[nn.Module] | object, num_classes: int = 10) -> nn.Module:
    """torchvision ResNet-18 with ``make(channels, stage)`` after each block's bn2 (before the residual add)."""
    from torchvision.models import resnet18

    torch.manual_seed(0)
    model = resnet18(num_classes=num_classes)
    for stage in range(4):
        for block in getattr(model, f"layer{stage + 1}"):
            block.bn2 = nn.Sequential(block.bn2, make(block.bn2.num_features, stage))  # type: ignore[operator]
    return randomise_norms(model)


def blog_resnet18() -> nn.Module:
    return _resnet18_with(lambda channels, _stage: nn.Sequential(ECAAttention(3), SpatialAttention(7)))


def official_eca_resnet18(k_sizes: tuple[int, ...] = (3, 5, 5, 7)) -> nn.Module:
    return _resnet18_with(lambda channels, stage: eca_layer(channels, k_sizes[stage]))


def official_cbam_resnet18() -> nn.Module:
    return _resnet18_with(lambda channels, _stage: CBAM(channels))


def layerscale_resnet18() -> nn.Module:
    return _resnet18_with(
        lambda channels, stage: (
            nn.Sequential(LayerScale(channels), nn.Identity(), nn.Dropout2d(0.1))
            if stage % 2 == 0
            else LearnedChannelGate(channels)
        )
    )


def eca_mobilenet_v2() -> nn.Module:
    """torchvision's MobileNetV2 with the official eca_layer after each of its 17 inverted residuals' last norm.

    Its deep gates pool features that two noise images make almost alike, the
    case that taught discovery to probe with structured images.
    """
    from torchvision.models import mobilenet_v2
    from torchvision.models.mobilenetv2 import InvertedResidual

    torch.manual_seed(0)
    model = mobilenet_v2(num_classes=10)
    for block in model.features:
        if isinstance(block, InvertedResidual):
            block.conv.append(eca_layer(block.out_channels, 3))
    return randomise_norms(model)


def softmax_spatial_resnet18() -> nn.Module:
    return _resnet18_with(lambda _channels, _stage: SoftmaxSpatialGate())


def triplet_resnet18() -> nn.Module:
    return _resnet18_with(lambda _channels, _stage: TripletAttention())


def hard_gate_resnet18() -> nn.Module:
    return _resnet18_with(lambda channels, _stage: nn.Sequential(HardSE(channels), HardSpatial()))


def simam_resnet18() -> nn.Module:
    return _resnet18_with(lambda channels, _stage: simam_module(channels))


def bam_resnet18() -> nn.Module:
    """BAM where its authors put it: after each of the first three stages of a ResNet-18."""
    from torchvision.models import resnet18

    torch.manual_seed(0)
    model = resnet18(num_classes=10)
    for stage, channels in ((1, 64), (2, 128), (3, 256)):
        setattr(model, f"layer{stage}", nn.Sequential(getattr(model, f"layer{stage}"), BAM(channels)))
    return randomise_norms(model)


def doubled_se_resnet18() -> nn.Module:
    return _resnet18_with(lambda channels, _stage: DoubledSE(channels))


def randomise_gains(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weight-standardised convolution gains: timm starts a normaliser-free branch's last gain at 0,
    which makes every gate after it see zeros (and any check of it pass trivially)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            gain = getattr(module, "gain", None)
            if isinstance(gain, nn.Parameter):
                gain.copy_(0.5 + torch.rand(gain.shape, generator=generator))
    return model


def timm_model(name: str, **kwargs: object) -> nn.Module:
    import timm

    torch.manual_seed(0)
    return randomise_gains(randomise_norms(timm.create_model(name, num_classes=10, **kwargs)))


def torchvision_model(name: str) -> nn.Module:
    import torchvision

    torch.manual_seed(0)
    return randomise_norms(torchvision.models.get_model(name, weights=None, num_classes=10))
