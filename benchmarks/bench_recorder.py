"""Recorder overhead: a forward pass with and without AttentionRecorder, measured interleaved.

    .venv/bin/python benchmarks/bench_recorder.py [--seconds 90] [--threads 2]

Every variant runs on the SAME model object in one process, one timed pass
per variant and round, in a shuffled order every round, so drift in the
machine's load hits all of them alike. A variant's overhead is the median
over rounds of (its time / the plain pass's time in the same round - 1).

- "plain again" repeats the plain pass: a control that shows the noise.
- "attached" is what the Analyzer behind the CLI and the app does: hooks
  registered once (outside the timer), one recording opened per pass, the
  records built in the hooks.
- "attached + maps" also keeps the input feature map of every channel layer,
  as the app does for its feature-map panel.
- "with-block" is the one-pass form ``with AttentionRecorder(model)``, timed
  whole: it also walks the model and registers and removes its hooks.
- "attention rows" and "full attention" are "attached" keeping only the
  first row of each self-attention layer's heads (what the dataset profile
  keeps), or every head's whole (heads, N, N) matrix; "attached" keeps what
  the views need (the first rows, and the head-mean matrix for rollout). For a
  network without self-attention all three are the same.

Targets (issue 12): at most 3% for "attached" on an ECA+SA ResNet-50 at
224x224, batch 1, and at most 10% on the small shipped networks at batch 1.
Issue 29: at most 10% for recording the class-token rows ("attention rows")
on timm's vit_small_patch16_224 at 224, batch 1 (random init: the cost does
not depend on the weights).

``--only TEXT`` runs the cases whose name contains TEXT.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import timm
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from attention import AttentionRecorder  # noqa: E402
from attention.recorder import CHANNEL, find_attention_layers  # noqa: E402
from models.checkpoint import load_checkpoint  # noqa: E402
from models.networks import attention_torchvision_resnet  # noqa: E402

VARIANTS = ("plain again", "attached", "attached + maps", "with-block", "attention rows", "full attention")


def measure(model: torch.nn.Module, batch: torch.Tensor, seconds: float, min_rounds: int) -> tuple[int, dict, dict]:
    """(rounds, median time per variant, median per-round overhead per variant), interleaved and shuffled."""
    layers = find_attention_layers(model)
    recorder = AttentionRecorder(model, layers=layers)
    channel_layers = [name for name, _, adapter in layers if adapter.kind == CHANNEL]

    def plain() -> None:
        model(batch)

    def attached(feature_layers: list[str], level: str = "means") -> Callable[[], None]:
        def run() -> None:
            with recorder.recording(feature_layers, attention=level) as recording:
                model(batch)
            assert recording.records

        return run

    def with_block() -> None:
        with AttentionRecorder(model):
            model(batch)

    variants: dict[str, Callable[[], None]] = {
        "plain": plain,
        "plain again": plain,
        "attached": attached([]),
        "attached + maps": attached(channel_layers),
        "with-block": with_block,
        "attention rows": attached([], level="rows"),
        "full attention": attached([], level="full"),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    rng = random.Random(0)
    recorder.attach()  # once, as the Analyzer does; with no recording open the hooks record nothing
    try:
        with torch.inference_mode():
            for name in order * 2:  # warm-up
                variants[name]()
            deadline = time.perf_counter() + seconds
            while len(times["plain"]) < min_rounds or time.perf_counter() < deadline:
                rng.shuffle(order)
                for name in order:
                    if name == "with-block":
                        recorder.detach()  # the one-pass form registers its own hooks
                    start = time.perf_counter()
                    variants[name]()
                    times[name].append(time.perf_counter() - start)
                    if name == "with-block":
                        recorder.attach()
    finally:
        recorder.detach()
    medians = {name: statistics.median(values) for name, values in times.items()}
    overheads = {
        name: statistics.median(t / p - 1 for t, p in zip(values, times["plain"], strict=True))
        for name, values in times.items()
    }
    return len(times["plain"]), medians, overheads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=90.0, help="about how long the whole run takes")
    parser.add_argument("--min-rounds", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--only", default="", help="run only the cases whose name contains this")
    parser.add_argument(
        "--checkpoint", action="append", default=[], help="also a checkpoint file, at its own input size (repeatable)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    def shipped(name: str, label: str = "shipped {} net") -> tuple[str, Callable[[], torch.nn.Module], tuple[int, ...]]:
        """A checkpoint's case: its name with its own input shape, its model, that shape."""
        loaded = load_checkpoint(name)
        shape = (1, loaded.preprocessing.channels, *loaded.preprocessing.input_size)
        return label.format(name) + ", " + "x".join(map(str, shape)), lambda: loaded.model, shape

    # (name, model builder, input shape, target overhead, share of --seconds, the variant the target is for)
    cases = [
        ("ECA+SA ResNet-50, 1x3x224x224", partial(attention_torchvision_resnet, 50), (1, 3, 224, 224), 0.03, 0.4,
         "attached"),
        (*shipped("shapes"), 0.10, 0.2, "attached"),
        (*shipped("fashion"), 0.10, 0.2, "attached"),
        ("timm vit_small_patch16_224", partial(timm.create_model, "vit_small_patch16_224"), (1, 3, 224, 224), 0.10,
         0.2, "attention rows"),
    ]  # fmt: skip
    cases = [case for case in cases if args.only in case[0]]
    cases += [(*shipped(path, "{}"), 0.10, 0.2, "attached") for path in args.checkpoint]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; medians over interleaved, shuffled rounds")
    header = f"{'model':32s} {'rounds':>6s} {'plain ms':>9s} " + " ".join(f"{v:>16s}" for v in VARIANTS)
    print(header + f" {'target':>7s}")
    for name, build, shape, target, share, judged in cases:
        model = build().eval()
        rounds, medians, overheads = measure(model, torch.randn(shape), args.seconds * share, args.min_rounds)
        cells = " ".join(f"{overheads[v] * 100:+15.1f}%" for v in VARIANTS)
        verdict = ("met" if overheads[judged] <= target else "MISSED") + f" ({judged})"
        print(f"{name:32s} {rounds:6d} {medians['plain'] * 1e3:9.2f} {cells} {target:6.0%} {verdict}")


if __name__ == "__main__":
    main()
