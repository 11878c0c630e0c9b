"""Attention Lens against the tools its users know, on one model, in one process.

Times, on an ECA+SA ResNet-50 at 224x224 and batch 1, interleaved in shuffled
rounds so that drift in the machine's speed hits every variant alike:

- a plain forward pass (inference mode);
- Attention Lens recording every attention layer (the attached recorder the app uses);
- torchcam's GradCAM for one layer, and for every residual block;
- pytorch-grad-cam's GradCAM for one layer.

Each is printed as the median over rounds of its time divided by the plain
pass of the same round. Attention Lens runs attached, as the app and the CLI
use it; each peer is built, run and released per call, as its one-line use
does (a peer left attached would slow the other variants' passes too). The
peers are test requirements only.

    .venv/bin/python benchmarks/bench_peers.py --seconds 120
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from attention.recorder import AttentionRecorder  # noqa: E402
from models.networks import attention_torchvision_resnet  # noqa: E402


def _randomise_batch_norm(model: torch.nn.Module, seed: int = 0) -> None:
    """Random running statistics, so the gates see varied values as a trained model's would."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            shape = module.running_mean.shape
            module.running_mean.copy_(torch.randn(shape, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(shape, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(shape, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(shape, generator=generator) * 0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="time budget for the timed rounds")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    from pytorch_grad_cam import GradCAM as PgcGradCAM
    from torchcam.methods import GradCAM as TorchcamGradCAM

    model = attention_torchvision_resnet(50).eval()
    _randomise_batch_norm(model)
    batch = torch.randn(1, 3, 224, 224)
    blocks = [f"layer{stage}.{index}" for stage in range(1, 5) for index in range(len(getattr(model, f"layer{stage}")))]

    recorder = AttentionRecorder(model)
    recorder.attach()

    def plain() -> None:
        with torch.inference_mode():
            model(batch)

    def lens() -> None:
        with torch.inference_mode(), recorder.recording() as recording:
            model(batch)
        assert len(recording.records) == 32

    def torchcam(layers: str | list[str]) -> Callable[[], None]:
        def run() -> None:
            extractor = TorchcamGradCAM(model, target_layer=layers)
            try:
                scores = model(batch)
                extractor(int(scores.argmax()), scores)
            finally:
                extractor.remove_hooks()
                model.zero_grad(set_to_none=True)

        return run

    def pytorch_grad_cam() -> None:
        with PgcGradCAM(model=model, target_layers=[model.layer4[-1]]) as cam:
            cam(input_tensor=batch, targets=None)

    variants: dict[str, Callable[[], None]] = {
        "plain forward": plain,
        f"Attention Lens, {len(recorder.layer_names)} maps": lens,
        "torchcam GradCAM, 1 map": torchcam("layer4"),
        f"torchcam GradCAM, {len(blocks)} maps": torchcam(blocks),
        "pytorch-grad-cam GradCAM, 1 map": pytorch_grad_cam,
    }
    for run in variants.values():  # warm-up: lazy initialisation and allocator growth
        run()
    ratios: dict[str, list[float]] = {name: [] for name in variants}
    plain_ms: list[float] = []
    order = list(variants)
    deadline = time.perf_counter() + args.seconds
    rounds = 0
    while time.perf_counter() < deadline or rounds < 3:
        random.shuffle(order)
        times = {}
        for name in order:
            start = time.perf_counter()
            variants[name]()
            times[name] = time.perf_counter() - start
        for name in variants:
            ratios[name].append(times[name] / times["plain forward"])
        plain_ms.append(1000 * times["plain forward"])
        rounds += 1
    recorder.detach()
    print(
        f"ECA+SA ResNet-50, 1x3x224x224, torch {torch.__version__}, {args.threads} threads, {rounds} rounds; "
        f"plain forward median {statistics.median(plain_ms):.1f} ms"
    )
    for name in variants:
        print(f"  {name:<36} {statistics.median(ratios[name]):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
