"""A new attention module of this project's shape is recorded with no registry entry (CONTRIBUTING's path)."""

from __future__ import annotations

import torch
from torch import nn

from attention import AttentionRecorder
from attention.analysis import Analyzer
from attention.eca import ChannelWeights
from attention.images import Preprocessing
from attention.recorder import find_adapter
from attention.spatial import SpatialMask
from attention.tap import Tap


class RangeGate(nn.Module):
    """A channel gate from each channel's max - min: a stand-in for a new module in ``attention/channel.py``."""

    record_type = "range"

    def __init__(self) -> None:
        super().__init__()
        self.weights_tap = Tap()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spread = x.amax((2, 3)) - x.amin((2, 3))
        weights = self.weights_tap(ChannelWeights(torch.sigmoid(spread), spread, None), x).weights
        return x * weights[:, :, None, None]


class CentreMask(nn.Module):
    """A spatial mask from the mean over channels: a stand-in for a new module in ``attention/spatial.py``."""

    record_type = "spatial"
    kernel_size = None

    def __init__(self) -> None:
        super().__init__()
        self.mask_tap = Tap()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = x.mean(1, keepdim=True)
        mask = self.mask_tap(SpatialMask(torch.sigmoid(logits), logits), x).mask
        return x * mask


def test_a_tapped_module_with_a_record_type_is_recorded_exactly_without_registering() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), RangeGate(), CentreMask()).eval()
    batch = torch.randn(2, 3, 8, 8)
    with torch.inference_mode(), AttentionRecorder(model, feature_layer="1") as recorder:
        model(batch)
        features = model[0](batch)
    channel, spatial = recorder.records
    spread = features.amax((2, 3)) - features.amin((2, 3))
    assert (channel.name, channel.type, channel.kind) == ("1", "range", "channel")
    assert torch.equal(channel.gate, torch.sigmoid(spread)) and torch.equal(channel.avg, spread)
    assert (spatial.name, spatial.kind, spatial.mask.shape) == ("2", "spatial", (2, 8, 8))
    assert torch.equal(recorder.features["1"], features)


def test_the_analyzer_files_a_new_type_by_its_tap() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), RangeGate(), CentreMask(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)
    ).eval()
    preprocessing = Preprocessing(input_size=(8, 8), channels=3, mean=(0.5,) * 3, std=(0.5,) * 3)
    with Analyzer(model, ["a", "b"], preprocessing) as analyzer:
        assert (analyzer.channel_layer_names, analyzer.spatial_layer_names) == (["1"], ["2"])


def test_a_record_type_without_a_tap_is_not_taken_for_attention() -> None:
    class Named(nn.Module):
        record_type = "range"

    assert find_adapter(Named()) is None
