"""Recorder overhead: forward pass time with and without AttentionRecorder.

    .venv/bin/python benchmarks/bench_recorder.py [--runs 30]

Runs with and without the recorder alternate in one process, so drift in the
machine's load hits both equally; the figures are medians. "recorded" builds
a new recorder for every pass (it walks the model to find attention layers);
"+layers" passes the precomputed layer list, as the Analyzer behind the CLI
and the app does. Target: overhead of at most 3%.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from attention import AttentionRecorder  # noqa: E402
from attention.recorder import find_attention_layers  # noqa: E402
from models.networks import build_model  # noqa: E402


def measure(model: torch.nn.Module, batch: torch.Tensor, runs: int, warmup: int = 3) -> tuple[float, float, float, int]:
    """Medians (s) of: plain forward; recorder built per call; recorder given the layer list, as the Analyzer does."""
    layers = find_attention_layers(model)
    plain, fresh, reused = [], [], []
    with torch.inference_mode():
        for _ in range(warmup):
            model(batch)
            with AttentionRecorder(model):
                model(batch)
        for _ in range(runs):
            start = time.perf_counter()
            model(batch)
            plain.append(time.perf_counter() - start)
            start = time.perf_counter()
            with AttentionRecorder(model) as recorder:
                model(batch)
            fresh.append(time.perf_counter() - start)
            start = time.perf_counter()
            with AttentionRecorder(model, layers=layers) as recorder:
                model(batch)
            reused.append(time.perf_counter() - start)
    return statistics.median(plain), statistics.median(fresh), statistics.median(reused), len(recorder.records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cases = [
        ("ECA+SA ResNet-50, 1x3x224x224", build_model("attention_resnet50", num_classes=1000), (1, 3, 224, 224)),
        ("shapes AttentionResNet, 1x3x64x64", build_model("attention_resnet_shapes", num_classes=6), (1, 3, 64, 64)),
        ("shapes AttentionResNet, 32x3x64x64", build_model("attention_resnet_shapes", num_classes=6), (32, 3, 64, 64)),
        (
            "fashion AttentionResNet, 1x1x28x28",
            build_model("attention_resnet_fashion", num_classes=10, in_channels=1),
            (1, 1, 28, 28),
        ),
    ]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, medians of {args.runs} runs")
    print(
        f"{'model':38s} {'plain ms':>9s} {'recorded':>9s} {'overhead':>9s} "
        f"{'+layers':>9s} {'overhead':>9s} {'layers':>6s}"
    )
    for name, model, shape in cases:
        model.eval()
        batch = torch.randn(shape)
        plain, fresh, reused, layers = measure(model, batch, args.runs)
        print(
            f"{name:38s} {plain * 1e3:9.2f} {fresh * 1e3:9.2f} {(fresh / plain - 1) * 100:8.1f}% "
            f"{reused * 1e3:9.2f} {(reused / plain - 1) * 100:8.1f}% {layers:6d}"
        )


if __name__ == "__main__":
    main()
