"""How two checkpoints differ on the same pictures: those only one of them reads, and the exact McNemar p.

Accuracy alone cannot say whether a one-point gain is chance when both models
read the same 400 pictures; the pictures read by one and missed by the other
can. Each checkpoint sees the set at its own input size, as ``models.evaluate``
draws it.

    .venv/bin/python scripts/paired_counts.py /tmp/cnn13/shapes.pt /tmp/cnn15/shapes.pt \\
        --dataset shapes-camera shapes-heldout --limit 1000
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.checkpoint import load_checkpoint  # noqa: E402
from models.evaluation.run import correct_per_image, open_evaluation_set  # noqa: E402


def mcnemar_exact(only_first: int, only_second: int) -> float:
    """Two-sided exact McNemar p: the chance of a split this uneven if either model were as likely to win each."""
    total = only_first + only_second
    if total == 0:
        return 1.0
    tail = sum(math.comb(total, k) for k in range(min(only_first, only_second) + 1)) / 2**total
    return min(1.0, 2 * tail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("first", help="checkpoint path or shipped name")
    parser.add_argument("second", help="checkpoint path or shipped name")
    parser.add_argument("--dataset", nargs="+", required=True, help="evaluation sets, e.g. shapes-camera")
    parser.add_argument("--limit", type=int, help="only the first N pictures of each set")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error(f"--limit must be at least 1, got {args.limit}")
    models = [load_checkpoint(path) for path in (args.first, args.second)]
    print(f"{'set':<18}{'pictures':>9}{'first':>9}{'second':>9}{'only first':>12}{'only second':>13}{'p':>8}")
    for name in args.dataset:
        right = []
        for loaded in models:
            data = open_evaluation_set(loaded, name, "test", args.limit, None, 0)
            right.append(correct_per_image(loaded.model, DataLoader(data, batch_size=128)))
        first, second = right
        only_first = sum(a and not b for a, b in zip(first, second))
        only_second = sum(b and not a for a, b in zip(first, second))
        count = len(first)
        print(
            f"{name:<18}{count:>9}{100 * sum(first) / count:>8.2f}%{100 * sum(second) / count:>8.2f}%"
            f"{only_first:>12}{only_second:>13}{mcnemar_exact(only_first, only_second):>8.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
