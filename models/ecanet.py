"""The official ECA-Net architectures (Wang et al., CVPR 2020), rebuilt so that their released files load unchanged.

Module and parameter names follow the authors' repository (BangguWu/ECANet):
``layer1.0.eca.conv.weight`` in the ResNets, ``features.1.conv.3.conv.weight``
in MobileNetV2, ``downsample.0``/``downsample.1`` shortcuts, ``fc`` and
``classifier.1`` heads. A ``.pth.tar`` saved by the authors' ``main.py`` (a dict
with ``epoch``, ``arch``, ``state_dict``, ``best_prec1`` and ``optimizer``, its
keys prefixed ``module.`` by DataParallel) therefore loads into these modules
key for key. The authors train with a kernel size chosen per stage
(``--ksize 3557``), so the ResNets take one kernel size per stage.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

# The kernel sizes of the authors' released ImageNet models (README: eca_resnet50_k3557,
# eca_resnet101_k3357, eca_resnet152_k3357). ResNet-18/34 were not released; their code uses 3 everywhere.
RELEASED_KERNEL_SIZES: dict[str, tuple[int, int, int, int]] = {
    "eca_resnet18": (3, 3, 3, 3),
    "eca_resnet34": (3, 3, 3, 3),
    "eca_resnet50": (3, 5, 5, 7),
    "eca_resnet101": (3, 3, 5, 7),
    "eca_resnet152": (3, 3, 5, 7),
}


class eca_layer(nn.Module):  # noqa: N801 - the official class name, which tools and users recognise
    """Efficient channel attention: global average pooling, a 1-D convolution across channels, a sigmoid gate.

    The attribute names (``avg_pool``, ``conv``, ``sigmoid``) are the official
    ones, so the weights sit at the same keys as in the authors' files.
    """

    def __init__(self, channel: int, k_size: int = 3) -> None:
        super().__init__()
        if k_size < 1 or k_size % 2 == 0:
            raise ValueError(f"ECA kernel size must be odd and positive, got {k_size}")
        self.channels = channel
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv1d(1, 1, kernel_size=k_size, padding=(k_size - 1) // 2, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.avg_pool(x)  # (B, C, 1, 1)
        # Channels become the length of a 1-channel sequence, so the convolution mixes neighbouring channels.
        gate = self.conv(pooled.squeeze(-1).transpose(-1, -2)).transpose(-1, -2).unsqueeze(-1)
        gate = self.sigmoid(gate)
        return x * gate.expand_as(x)


def _conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class ECABasicBlock(nn.Module):
    """Two 3x3 convolutions, ECA on the residual branch, then the addition."""

    expansion = 1

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None, k_size: int = 3
    ) -> None:
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.eca = eca_layer(planes, k_size)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.eca(self.bn2(self.conv2(out)))
        return self.relu(out + residual)


class ECABottleneck(nn.Module):
    """1x1, 3x3, 1x1 convolutions, ECA on the residual branch, then the addition."""

    expansion = 4

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None, k_size: int = 3
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.eca = eca_layer(planes * self.expansion, k_size)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.eca(self.bn3(self.conv3(out)))
        return self.relu(out + residual)


class ECAResNet(nn.Module):
    """The ImageNet ResNet layout (7x7 stem, four stages) with ECA in every block."""

    def __init__(
        self,
        block: type[ECABasicBlock] | type[ECABottleneck],
        depths: Sequence[int],
        num_classes: int = 1000,
        k_size: Sequence[int] = (3, 3, 3, 3),
    ) -> None:
        super().__init__()
        if len(depths) != 4 or len(k_size) != 4:
            raise ValueError("an ECA ResNet has four stages: give four depths and four kernel sizes")
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, depths[0], int(k_size[0]))
        self.layer2 = self._make_layer(block, 128, depths[1], int(k_size[1]), stride=2)
        self.layer3 = self._make_layer(block, 256, depths[2], int(k_size[2]), stride=2)
        self.layer4 = self._make_layer(block, 512, depths[3], int(k_size[3]), stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def _make_layer(
        self, block: type[ECABasicBlock] | type[ECABottleneck], planes: int, blocks: int, k_size: int, stride: int = 1
    ) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample, k_size)]
        self.inplanes = planes * block.expansion
        layers.extend(block(self.inplanes, planes, k_size=k_size) for _ in range(1, blocks))
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class ConvBNReLU(nn.Sequential):
    """Convolution, batch norm, ReLU6: the official MobileNetV2 unit (children ``0``, ``1``, ``2``)."""

    def __init__(self, in_planes: int, out_planes: int, kernel_size: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(
            nn.Conv2d(in_planes, out_planes, kernel_size, stride, (kernel_size - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out_planes),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    """Expand, depthwise, project, then ECA, all inside ``conv`` as the official keys expect."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int, k_size: int) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        self.stride = stride
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU(inp, hidden, kernel_size=1))
        layers.extend(
            [
                ConvBNReLU(hidden, hidden, stride=stride, groups=hidden),
                nn.Conv2d(hidden, oup, 1, 1, 0, bias=False),
                nn.BatchNorm2d(oup),
                eca_layer(oup, k_size),
            ]
        )
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


# (expansion t, channels c, repeats n, first stride s) of MobileNetV2.
_MOBILENET_V2_SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2))
_MOBILENET_V2_SETTING += ((6, 320, 1, 1),)


class ECAMobileNetV2(nn.Module):
    """MobileNetV2 with ECA closing every inverted residual: kernel 1 up to 96 channels, 3 above (the release)."""

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0) -> None:
        super().__init__()
        input_channel = int(32 * width_mult)
        self.last_channel = int(1280 * max(1.0, width_mult))
        features: list[nn.Module] = [ConvBNReLU(3, input_channel, stride=2)]
        for expand, channels, repeats, stride in _MOBILENET_V2_SETTING:
            output_channel = int(channels * width_mult)
            k_size = 1 if channels <= 96 else 3
            for index in range(repeats):
                features.append(
                    InvertedResidual(input_channel, output_channel, stride if index == 0 else 1, expand, k_size)
                )
                input_channel = output_channel
        features.append(ConvBNReLU(input_channel, self.last_channel, kernel_size=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.25), nn.Linear(self.last_channel, num_classes))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0, 0.01)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean(-1).mean(-1))


def _resnet(name: str, block: type[ECABasicBlock] | type[ECABottleneck], depths: tuple[int, ...]) -> Callable:
    def build(num_classes: int = 1000, k_size: Sequence[int] | None = None) -> nn.Module:
        return ECAResNet(block, depths, num_classes, RELEASED_KERNEL_SIZES[name] if k_size is None else k_size)

    build.__name__ = name
    build.__doc__ = f"ECA-Net {name}: per-stage ECA kernel sizes default to the release, {RELEASED_KERNEL_SIZES[name]}."
    return build


def _mobilenet_v2(num_classes: int = 1000, k_size: Sequence[int] | None = None) -> nn.Module:
    if k_size is not None:
        raise ValueError("eca_mobilenet_v2 fixes its ECA kernel sizes (1 up to 96 channels, 3 above)")
    return ECAMobileNetV2(num_classes)


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "eca_resnet18": _resnet("eca_resnet18", ECABasicBlock, (2, 2, 2, 2)),
    "eca_resnet34": _resnet("eca_resnet34", ECABasicBlock, (3, 4, 6, 3)),
    "eca_resnet50": _resnet("eca_resnet50", ECABottleneck, (3, 4, 6, 3)),
    "eca_resnet101": _resnet("eca_resnet101", ECABottleneck, (3, 4, 23, 3)),
    "eca_resnet152": _resnet("eca_resnet152", ECABottleneck, (3, 8, 36, 3)),
    "eca_mobilenet_v2": _mobilenet_v2,
}


def kernel_sizes_in(name: str, state_dict: dict[str, torch.Tensor]) -> tuple[int, ...] | None:
    """Per-stage ECA kernel sizes a ResNet state dict was trained with, or None when it does not say.

    The authors' ``main.py`` takes ``--ksize`` per run, so a user's own file
    may differ from the release; reading the sizes from the file lets it load
    as it was trained. Stages whose blocks disagree are left to the release's
    size, so the mismatch is reported by the loader, key and shapes named.
    """
    if name not in RELEASED_KERNEL_SIZES:
        return None
    sizes = list(RELEASED_KERNEL_SIZES[name])
    found = False
    for stage in range(4):
        prefix = f"layer{stage + 1}."
        shapes = {
            tuple(value.shape)
            for key, value in state_dict.items()
            if key.startswith(prefix) and key.endswith(".eca.conv.weight") and isinstance(value, torch.Tensor)
        }
        if len(shapes) == 1:
            (shape,) = shapes
            if len(shape) == 3 and shape[:2] == (1, 1) and shape[2] % 2 == 1:
                sizes[stage] = shape[2]
                found = True
    return tuple(sizes) if found else None
