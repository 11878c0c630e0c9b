"""Recording a foreign network: timm ecaresnet50d at 224x224, batch 1, with and without the recorder.

    .venv/bin/python benchmarks/bench_foreign.py [--rounds 40] [--threads N]

One process, one model object. Every round times one plain pass, one plain
pass again (a control that shows the noise) and one recorded pass (recorder
attached once, one recording opened per pass, records read after it), in a
shuffled order; each overhead is the median over rounds of the ratio to the
plain pass of the same round. Target: at most 3%.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from attention.discovery import discover_attention  # noqa: E402
from attention.foreign import register_foreign_types  # noqa: E402
from attention.recorder import AttentionRecorder, find_attention_layers  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.add_argument("--model", default="ecaresnet50d")
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import timm

    torch.manual_seed(0)
    model = timm.create_model(args.model, num_classes=1000).eval()
    # timm zero-initialises each block's last norm, which would feed every ECA layer zeros; a trained network
    # does not, so give the norms random statistics and affine parameters as the tests do.
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
    register_foreign_types()
    layers = find_attention_layers(model)
    layers += discover_attention(model, {id(module) for _, module, _ in layers}, (3, args.size, args.size))
    batch = torch.randn(1, 3, args.size, args.size)
    recorder = AttentionRecorder(model, layers=layers)
    recorder.attach()

    def plain() -> None:
        model(batch)

    def recorded() -> None:
        with recorder.recording() as recording:
            model(batch)
        assert len(recording.records) == len(layers)

    variants = {"plain": plain, "plain again": plain, "recorded": recorded}
    times: dict[str, list[float]] = {name: [] for name in variants}
    with torch.inference_mode():
        for _ in range(3):  # warm up
            for run in variants.values():
                run()
        for _ in range(args.rounds):
            order = list(variants)
            random.shuffle(order)
            for name in order:
                start = time.perf_counter()
                variants[name]()
                times[name].append(time.perf_counter() - start)
    recorder.detach()

    print(
        f"{args.model} {args.size}x{args.size} batch 1, {len(layers)} attention layers, "
        f"{torch.get_num_threads()} threads, {args.rounds} rounds"
    )
    for name in variants:
        ratios = [t / p for t, p in zip(times[name], times["plain"])]
        print(
            f"{name:12s} median {statistics.median(times[name]) * 1e3:8.2f} ms   "
            f"overhead {100 * (statistics.median(ratios) - 1):+.2f}%"
        )


if __name__ == "__main__":
    main()
