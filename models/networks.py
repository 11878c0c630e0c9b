"""Residual networks with attention in their blocks, and a registry of named architectures.

The attention sits where CBAM puts it: after the block's last batch norm and
before the residual addition, so it re-weights only the residual branch and
the identity path stays untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from attention.factory import create_attention


class AttentionBasicBlock(nn.Module):
    """Two 3x3 convolutions, attention, then the residual addition."""

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, attention: str, **attention_kwargs: Any
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.attention = create_attention(attention, out_channels, **attention_kwargs)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.attention(self.bn2(self.conv2(out)))
        return self.relu(out + self.shortcut(x))


class AttentionResNet(nn.Module):
    """A small residual network for images of 28-128 pixels.

    Args:
        num_classes: size of the classifier output.
        in_channels: 1 for grayscale, 3 for RGB.
        widths: channels of each stage; each stage after the first halves the resolution.
        depths: blocks per stage.
        stem_stride: 2 to halve the input right away (cheap on 64 px inputs), 1 to keep it.
        attention: attention kind for every block, or one kind per stage.
        attention_kwargs: passed to ``create_attention`` (e.g. ``eca``/``spatial`` options).
        dropout: dropout before the classifier.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        widths: Sequence[int] = (32, 64, 128),
        depths: Sequence[int] = (2, 2, 2),
        stem_stride: int = 1,
        attention: str | Sequence[str] = "eca_sa",
        attention_kwargs: dict[str, Any] | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if len(widths) != len(depths):
            raise ValueError("widths and depths need one entry per stage")
        kinds = [attention] * len(widths) if isinstance(attention, str) else list(attention)
        if len(kinds) != len(widths):
            raise ValueError("give one attention kind, or one per stage")
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, stem_stride, 1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        stages = []
        channels = widths[0]
        for index, (width, depth, kind) in enumerate(zip(widths, depths, kinds)):
            blocks = []
            for block in range(depth):
                stride = 2 if index > 0 and block == 0 else 1
                blocks.append(AttentionBasicBlock(channels, width, stride, kind, **(attention_kwargs or {})))
                channels = width
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d) and module.in_channels != 2:
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.stages(self.stem(x))
        return self.fc(self.dropout(torch.flatten(self.pool(features), 1)))


def attention_torchvision_resnet(
    depth: int = 50,
    num_classes: int = 1000,
    attention: str = "eca_sa",
    attention_kwargs: dict[str, Any] | None = None,
) -> nn.Module:
    """torchvision ResNet-18/34/50 with attention inserted in every residual block.

    The attention wraps the block's last batch norm (bn2 for basic blocks, bn3
    for bottlenecks), which puts it after that norm and before the residual add
    without touching torchvision's forward code. Weights are random: nothing is
    downloaded.
    """
    from torchvision import models as tv_models

    builders: dict[int, Callable[..., nn.Module]] = {
        18: tv_models.resnet18,
        34: tv_models.resnet34,
        50: tv_models.resnet50,
    }
    if depth not in builders:
        raise ValueError(f"ResNet depth must be one of {sorted(builders)}, got {depth}")
    model = builders[depth](weights=None, num_classes=num_classes)
    for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
        for block in stage:
            last_norm = "bn3" if hasattr(block, "bn3") else "bn2"
            norm = getattr(block, last_norm)
            attention_layer = create_attention(attention, norm.num_features, **(attention_kwargs or {}))
            setattr(block, last_norm, nn.Sequential(norm, attention_layer))
    return model


def _small(**defaults: Any) -> Callable[..., nn.Module]:
    def build(**config: Any) -> nn.Module:
        return AttentionResNet(**{**defaults, **config})

    build.defaults = defaults  # type: ignore[attr-defined]  # read by resolved_config
    return build


def _torchvision(depth: int) -> Callable[..., nn.Module]:
    def build(**config: Any) -> nn.Module:
        config.pop("in_channels", None)
        return attention_torchvision_resnet(depth=depth, **config)

    build.torchvision_depth = depth  # type: ignore[attr-defined]  # read by check_config
    return build


# A vision transformer's config keys, with the sizes of the one trained here (64 px, 8x8 patches).
VIT_DEFAULTS: dict[str, Any] = {
    "image_size": 64,
    "patch_size": 8,
    "embed_dim": 96,
    "depth": 6,
    "num_heads": 4,
    "mlp_ratio": 2.0,
    "stem": "conv",
}
VIT_STEMS = ("patch", "conv")


def stem_widths(dim: int, patch: int) -> list[int]:
    """The channels of the conv stem's stride-2 convolutions: one per halving of the side, doubling up to ``dim``."""
    steps = max(1, patch.bit_length() - 1)
    return [max(8, dim >> (steps - 1 - step)) for step in range(steps)]


def convolutional_stem(in_channels: int, dim: int, patch: int) -> nn.Sequential:
    """3x3 convolutions of stride 2 down to one position per patch, then a 1x1 to the token width.

    It stands in for the single patch-sized convolution because a ViT with it
    trains in a fraction of the images (Xiao et al. 2021, "Early convolutions
    help transformers see better"); each token still stands for one patch.
    """
    layers: list[nn.Module] = []
    channels = in_channels
    for width in stem_widths(dim, patch):
        layers += [nn.Conv2d(channels, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        channels = width
    layers.append(nn.Conv2d(channels, dim, 1))
    return nn.Sequential(*layers)


def _vit(**defaults: Any) -> Callable[..., nn.Module]:
    def build(**config: Any) -> nn.Module:
        # timm is imported here, not at the top: the CNN checkpoints load without it.
        from timm.models.vision_transformer import VisionTransformer

        settings = {**VIT_DEFAULTS, **defaults, **config}
        if settings["stem"] not in VIT_STEMS:
            raise ValueError(f"unknown ViT stem {settings['stem']!r}; choose one of {VIT_STEMS}")
        model = VisionTransformer(
            img_size=settings["image_size"],
            patch_size=settings["patch_size"],
            in_chans=settings.get("in_channels", 3),
            num_classes=settings["num_classes"],
            embed_dim=settings["embed_dim"],
            depth=settings["depth"],
            num_heads=settings["num_heads"],
            mlp_ratio=settings["mlp_ratio"],
        )
        if settings["stem"] == "conv":
            embed = model.patch_embed
            embed.proj = convolutional_stem(embed.proj.in_channels, embed.proj.out_channels, settings["patch_size"])
        return model

    build.defaults = {**VIT_DEFAULTS, **defaults}  # type: ignore[attr-defined]  # read by resolved_config
    build.vit = True  # type: ignore[attr-defined]  # read by check_config
    return build


# Every architecture a checkpoint may name. A config in a checkpoint is passed
# as keyword arguments, so the registry is the only code a checkpoint can reach.
ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "attention_resnet": _small(),
    # Sized so that training finishes in minutes on a 2-core CPU (shapes), or in
    # minutes on a GPU and hours on that CPU (fashion, whose 94% needs the width).
    "attention_resnet_shapes": _small(widths=(16, 32, 64, 128), depths=(1, 1, 1, 1), stem_stride=2),
    "attention_resnet_fashion": _small(widths=(64, 128, 256), depths=(1, 1, 1), stem_stride=1),
    "attention_resnet18": _torchvision(18),
    "attention_resnet34": _torchvision(34),
    "attention_resnet50": _torchvision(50),
    # timm's plain ViT at 64 px with 8x8 patches: 64 patch tokens and a class token, small enough to
    # train on the shapes generator with a 2-core CPU.
    "vit_shapes": _vit(),
}


def architecture_builder(arch: str) -> Callable[..., nn.Module]:
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[arch]


def resolved_config(arch: str, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with the registry's defaults for ``arch`` written out.

    A checkpoint that stores this keeps building the network it was trained
    as when a registered default changes later (the fashion widths did once,
    and a checkpoint that had relied on the old default stopped loading).
    """
    defaults = getattr(architecture_builder(arch), "defaults", {})
    written = {key: list(value) if isinstance(value, tuple) else value for key, value in defaults.items()}
    return {**written, **config}


def build_model(arch: str, **config: Any) -> nn.Module:
    """Instantiate a registered architecture with a (checkpoint) config."""
    return architecture_builder(arch)(**config)
