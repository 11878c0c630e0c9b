"""Recorder overhead: forward pass time with and without AttentionRecorder.

    .venv/bin/python benchmarks/bench_recorder.py [--runs 30] [--seconds 30]

All variants alternate in one process, one timed pass each per round, in a
shuffled order every round, so drift in the machine's load hits them equally;
the times are medians, and each overhead is the median of a variant's ratio
to the plain pass of the same round. Every case runs at least ``--runs`` rounds, and the
fast cases as many more as fit in ``--seconds``: on a 2-core machine a 4 ms
pass varies by more than the 3% being measured, and only many short rounds
average that out (blocks of several passes per variant gave a plain-versus-
plain control of up to 6%).

Every variant runs the SAME model object, so that no variant gains or loses
from where its weights happen to sit in memory (a deep copy of the model, the
obvious way to keep hooks away from the plain passes, shifts a 4 ms pass by a
few percent either way, as much as the effect being measured). Variants that
need hooks register them before their timer starts and remove them after it
stops, exactly as a long-lived owner does once in its lifetime.

- "plain again" repeats the plain pass: a control that shows the noise.
- "with-block" is the one-pass form, ``with AttentionRecorder(model)``,
  timed whole: it walks the model and registers and removes the hooks on
  every pass.
- "attached" is what the Analyzer behind the CLI and the app does: hooks
  registered once, one recording opened per pass (opening and closing the
  recording is timed), without reading the records: the cost to the pass.
- "attached, read" also reads the records once the recording closes, which
  builds them: what the Analyzer pays per batch in all.
- "attached, idle" is a pass with the hooks registered and no recording
  open: what the Analyzer's hooks cost anyone else who runs its model, and
  the floor that PyTorch's hook dispatch sets for any hook-based recorder.
- "hooks only" opens a recording whose hooks build no records and copy
  nothing: the cost of the recording machinery alone. "attached" minus
  "hooks only" is what building the records and copying their tensors costs.

Target: overhead of at most 3%.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import random
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from attention import AttentionRecorder  # noqa: E402
from attention.recorder import find_attention_layers  # noqa: E402
from models.checkpoint import load_checkpoint  # noqa: E402
from models.networks import build_model  # noqa: E402

COLUMNS = ("plain again", "with-block", "attached", "attached, read", "attached, idle", "hooks only")


def measure(
    model: torch.nn.Module, batch: torch.Tensor, runs: int, passes_per_round: int = 1, warmup: int = 2
) -> tuple[dict[str, float], dict[str, float]]:
    """(median pass time, overhead) of each variant over ``runs`` rounds, run in a shuffled order every round.

    The overhead is the median over rounds of (variant / plain - 1), each
    variant against the plain pass of its own round: a slow spell of the
    machine then slows both sides of every ratio, where a ratio of two overall
    medians can still shift by a percent.

    A fixed order biases the result by a few percent (the pass that follows
    another runs with warmer or colder caches), which is as large as the
    effect being measured.
    """
    layers = find_attention_layers(model)
    recorder = AttentionRecorder(model, layers=layers)
    no_records = [
        (name, module, dataclasses.replace(adapter, make_record=lambda *_: None, feature_map=None))
        for name, module, adapter in layers
    ]
    hooks_only_recorder = AttentionRecorder(model, layers=no_records)

    def plain() -> None:
        model(batch)

    def with_block() -> None:
        with AttentionRecorder(model):
            model(batch)

    def recorded(owner: AttentionRecorder, read: bool = False) -> Callable[[], None]:
        def run() -> None:
            with owner.recording() as recording:
                model(batch)
            if read:
                recording.records  # noqa: B018 - builds the records, as the Analyzer does

        return run

    # name -> (recorder to attach outside the timer, or None; the timed pass)
    variants: dict[str, tuple[AttentionRecorder | None, Callable[[], None]]] = {
        "plain": (None, plain),
        "plain again": (None, plain),
        "with-block": (None, with_block),
        "attached": (recorder, recorded(recorder)),
        "attached, read": (recorder, recorded(recorder, read=True)),
        "attached, idle": (recorder, plain),
        "hooks only": (hooks_only_recorder, recorded(hooks_only_recorder)),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    rng = random.Random(0)

    def run_round(name: str, passes: int) -> float:
        """Median of ``passes`` timed passes, after one untimed pass that warms the fresh hooks."""
        owner, timed = variants[name]
        if owner is not None:
            owner.attach()
        try:
            timed()
            samples = []
            for _ in range(passes):
                start = time.perf_counter()
                timed()
                samples.append(time.perf_counter() - start)
            return statistics.median(samples)
        finally:
            if owner is not None:
                owner.detach()

    with torch.inference_mode():
        for _ in range(warmup):
            for name in order:
                run_round(name, 1)
        for _ in range(runs):
            rng.shuffle(order)
            for name in order:
                times[name].append(run_round(name, passes_per_round))
    medians = {name: statistics.median(values) for name, values in times.items()}
    overheads = {
        name: statistics.median(t / p - 1 for t, p in zip(values, times["plain"], strict=True))
        for name, values in times.items()
    }
    return medians, overheads


def rounds_that_fit(model: torch.nn.Module, batch: torch.Tensor, seconds: float, passes: int) -> int:
    """How many rounds (each variant: one warm-up pass and ``passes`` timed ones) fit in ``seconds``."""
    with torch.inference_mode():
        model(batch)
        start = time.perf_counter()
        for _ in range(3):
            model(batch)
        per_pass = (time.perf_counter() - start) / 3
    per_round = per_pass * (1 + passes) * (len(COLUMNS) + 1) * 1.15  # hooks and recording cost a little more
    return int(seconds / per_round)


def memory_growth(model: torch.nn.Module, batch: torch.Tensor, runs: int = 200) -> tuple[int, int]:
    """(Python heap growth in bytes, resident-set growth in KiB) over ``runs`` recorded passes after a warm-up."""
    recorder = AttentionRecorder(model)
    feature_layer = recorder.layer_names[0]
    recorder.attach()

    def analyse() -> None:
        with torch.inference_mode(), recorder.recording(feature_layer):
            model(batch)

    for _ in range(20):
        analyse()
    gc.collect()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    try:
        analyse()
        gc.collect()
        first, _ = tracemalloc.get_traced_memory()
        for _ in range(runs):
            analyse()
        gc.collect()
        last, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        recorder.detach()
    return last - first, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="at least this many rounds; each times every variant")
    parser.add_argument("--seconds", type=float, default=30.0, help="about how long each case may run")
    parser.add_argument("--passes", type=int, default=1, help="timed passes per variant and round")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    # The small networks are the shipped checkpoints, with their trained weights.
    shapes, fashion = load_checkpoint("shapes").model, load_checkpoint("fashion").model
    cases = [
        ("ECA+SA ResNet-50, 1x3x224x224", build_model("attention_resnet50", num_classes=1000), (1, 3, 224, 224)),
        ("shipped shapes net, 1x3x64x64", shapes, (1, 3, 64, 64)),
        ("shipped shapes net, 32x3x64x64", shapes, (32, 3, 64, 64)),
        ("shipped fashion net, 1x1x28x28", fashion, (1, 1, 28, 28)),
    ]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, medians of at least {args.runs} rounds "
        f"of {args.passes} timed pass(es) per variant"
    )
    columns = COLUMNS
    print(f"{'model':38s} {'rounds':>6s} {'plain ms':>9s} " + " ".join(f"{c + ' ms':>22s}" for c in columns))
    for name, model, shape in cases:
        model.eval()
        batch = torch.randn(shape)
        rounds = max(args.runs, rounds_that_fit(model, batch, args.seconds, args.passes))
        medians, overheads = measure(model, batch, rounds, args.passes)
        plain = medians["plain"]
        cells = [f"{medians[c] * 1e3:9.2f} ({overheads[c] * 100:+5.1f}%)" for c in columns]
        print(f"{name:38s} {rounds:6d} {plain * 1e3:9.2f} " + " ".join(f"{cell:>22s}" for cell in cells))
    heap, rss = memory_growth(cases[1][1].eval(), torch.randn(cases[1][2]))
    print(
        "memory over 200 recorded passes of the shapes net (feature maps kept): "
        f"Python heap {heap:+d} B, peak RSS {rss:+d} KiB"
    )


if __name__ == "__main__":
    main()
