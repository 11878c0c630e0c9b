"""The dataset profile's cost against the forward passes it cannot avoid (issue 15 part 2: target <= 1.15x).

A profile of a model with L attention layers runs 1 + 2 L passes per batch:
the plain pass (recorded) and one pass per layer and ablation mode. This
times, on the same batches of a shipped model's test data, held in memory so
that loading is timed in neither variant:

- ``profile``: ``attention.profile.profile_model`` with an attached
  ``AttentionRecorder`` and ``Ablator`` (attached and detached inside the
  timing, as ``python -m attention profile`` does);
- ``plain``: (1 + 2 L) plain forward passes of each batch, under inference
  mode, with no hooks on the model.

The two alternate in shuffled order for a number of rounds; the ratio printed
is the median over rounds of profile / plain of the same round, so that drift
in the machine's speed hits both alike.

    .venv/bin/python benchmarks/bench_profile.py --model shapes --images 256
    .venv/bin/python benchmarks/bench_profile.py --model fashion --images 256
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rounds import alternate  # noqa: E402

from attention.ablation import MODES, ablator_for  # noqa: E402
from attention.profile import profile_model  # noqa: E402
from attention.recorder import AttentionRecorder, find_attention_layers  # noqa: E402
from models.checkpoint import load_checkpoint  # noqa: E402
from models.datasets import build_dataset  # noqa: E402
from models.transforms import eval_transform  # noqa: E402

TARGET = 1.15


def _batches(loaded, data: str, images: int, batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:  # noqa: ANN001
    dataset = build_dataset(data, "test", transform=eval_transform(loaded.preprocessing), length=images)
    items = [dataset[index] for index in range(min(images, len(dataset)))]
    inputs = torch.stack([item[0] for item in items])
    labels = torch.tensor([int(item[1]) for item in items])
    return [(inputs[i : i + batch_size], labels[i : i + batch_size]) for i in range(0, len(items), batch_size)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="shapes", choices=("shapes", "fashion"))
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64, help="the CLI's default")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)

    loaded = load_checkpoint(args.model)
    model = loaded.model.eval()
    batches = _batches(loaded, "shapes" if args.model == "shapes" else "fashion", args.images, args.batch_size)
    layers = find_attention_layers(model)
    passes = 1 + len(MODES) * len(layers)

    def plain() -> None:
        with torch.inference_mode():
            for inputs, _ in batches:
                for _ in range(passes):
                    model(inputs)

    def profile() -> None:
        recorder = AttentionRecorder(model, layers=layers)
        ablator = ablator_for(layers)
        recorder.attach()
        ablator.attach()
        try:
            profile_model(model, batches, loaded.classes, recorder, ablator, total=args.images)
        finally:
            recorder.detach()
            ablator.detach()

    times = alternate({"plain": plain, "profile": profile}, args.rounds)
    ratios = [profile / plain for profile, plain in zip(times["profile"], times["plain"])]
    images = sum(len(labels) for _, labels in batches)
    print(
        f"{args.model}: {images} images in batches of {args.batch_size}, {len(layers)} attention layers, "
        f"{passes} passes per batch; torch {torch.__version__}, {args.threads} threads, {args.rounds} rounds"
    )
    print(f"  plain forward passes  median {statistics.median(times['plain']):.2f} s")
    print(f"  profile               median {statistics.median(times['profile']):.2f} s")
    print("  per-round ratios      " + ", ".join(f"{value:.3f}" for value in ratios))
    ratio = statistics.median(ratios)
    verdict = "met" if ratio <= TARGET else "NOT met"
    print(f"  ratio (median of per-round ratios) {ratio:.3f}x; target <= {TARGET}x: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
