"""Discovery on networks written as researchers write them: gates found over real gates, rejections, probe time.

Run from the repository root::

    .venv/bin/python benchmarks/bench_discovery.py            # at 224 px, 3 copies each
    .venv/bin/python benchmarks/bench_discovery.py --runs 5

Every network is built at random init with randomised batch-norm statistics
(``tests/networks_zoo.py``), so the probe cannot lean on trained features.
For each it prints the gates the recorder finds over the gates the network
has (counted by module type, independently of the recorder), the modules it
lists as rejected, the null values left in one recorded 224-pixel pass, and
the time ``find_attention_layers`` takes the first time (the probe), the
median over ``--runs`` fresh copies.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from torch import nn  # noqa: E402

from attention.discovery import rejected_modules  # noqa: E402
from attention.recorder import AttentionRecorder, find_attention_layers  # noqa: E402
from tests import networks_zoo as zoo  # noqa: E402

SIZE = 224


def _count(types: tuple[str, ...]) -> Callable[[nn.Module], int]:
    return lambda model: sum(type(module).__name__ in types for module in model.modules())


# name -> (builder, how many gates the network really has)
NETWORKS: dict[str, tuple[Callable[[], nn.Module], Callable[[nn.Module], int]]] = {
    "official eca_layer in torchvision mobilenet_v2": (zoo.eca_mobilenet_v2, _count(("eca_layer",))),
    "softmax-over-pixels spatial gate in resnet18": (zoo.softmax_spatial_resnet18, _count(("SoftmaxSpatialGate",))),
    "hard-sigmoid SE + spatial gate in resnet18": (zoo.hard_gate_resnet18, _count(("HardSE", "HardSpatial"))),
    "triplet attention in resnet18 (pixel gates only)": (zoo.triplet_resnet18, lambda model: 8),
    "blog ECA + SA in resnet18": (zoo.blog_resnet18, _count(("ECAAttention", "SpatialAttention"))),
    "official CBAM code in resnet18": (zoo.official_cbam_resnet18, _count(("ChannelGate", "SpatialGate"))),
    "LayerScale and learned constant gates in resnet18": (zoo.layerscale_resnet18, lambda model: 0),
    "timm mobilenetv3_large_100": (
        lambda: zoo.timm_model("mobilenetv3_large_100"),
        _count(("SqueezeExcite",)),
    ),
    "timm resnet18 + gc (GlobalContext)": (
        lambda: zoo.timm_model("resnet18", block_args={"attn_layer": "gc"}),
        _count(("GlobalContext",)),
    ),
    "timm resnest14d (split attention)": (lambda: zoo.timm_model("resnest14d"), lambda model: 0),
}


def nulls(model: nn.Module, layers: list) -> int:
    x = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode(), AttentionRecorder(model, layers=layers) as recorder:
        model(x)
    values = [getattr(record, "weights", None) for record in recorder.records]
    values += [getattr(record, "mask", None) for record in recorder.records]
    return sum(int(torch.isnan(value).sum()) for value in values if value is not None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh copies timed per network (median)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    print(f"{'network':52} {'found':>9} {'rejected':>8} {'nulls':>5} {'probe ms':>8}")
    for name, (build, real) in NETWORKS.items():
        times = []
        for _ in range(max(1, args.runs)):
            model = build()
            start = time.perf_counter()
            layers = find_attention_layers(model, (3, SIZE, SIZE))
            times.append(1000 * (time.perf_counter() - start))
        found = f"{len(layers)} of {real(model)}"
        rejected = len(rejected_modules(model))
        print(f"{name:52} {found:>9} {rejected:>8} {nulls(model, layers):>5} {statistics.median(times):>8.0f}")


if __name__ == "__main__":
    main()
