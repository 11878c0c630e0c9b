"""Re-score a shipped checkpoint on today's generator's test split and record the figure in the checkpoint.

A shipped model records the accuracy a user reproduces with ``models.evaluate NAME``. When the generator
changes, that split changes too, so the recorded figure is re-measured here, the same way the shipped-accuracy
test measures it, and the accuracy on the generator the model was trained on is kept the first time as
``trained_generator_test_accuracy``.

    .venv/bin/python scripts/rescore.py shapes-vit
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attention.errors import InputError  # noqa: E402
from models.checkpoint import load_checkpoint, read_checkpoint, resolve_checkpoint, save_checkpoint  # noqa: E402
from models.datasets import build_dataset  # noqa: E402
from models.evaluation import evaluate_accuracy  # noqa: E402
from models.transforms import eval_transform  # noqa: E402


def split_scores(name: str) -> dict[str, Any]:
    """Accuracy, loss, confusion and size on its own dataset and seed's test split, drawn at its input size."""
    loaded = load_checkpoint(name)
    test_set = build_dataset(
        loaded.training["dataset"],
        "test",
        transform=eval_transform(loaded.preprocessing),
        seed=int(loaded.training.get("seed", 0)),
        size=loaded.preprocessing.input_size[0],
    )
    loader = DataLoader(test_set, batch_size=256)
    accuracy, loss, confusion = evaluate_accuracy(loaded.model, loader, len(loaded.classes), progress=True, desc=name)
    return {
        "test_accuracy": accuracy,
        "test_loss": loss,
        "confusion_matrix": confusion.tolist(),
        "test_size": len(test_set),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("name", help="a shipped model's name (shapes, shapes-vit) or a checkpoint path")
    parser.add_argument("--dry-run", action="store_true", help="print the figure without writing it")
    args = parser.parse_args(argv)
    try:
        scores = split_scores(args.name)
    except InputError as error:  # a missing, truncated or hostile checkpoint: one line, as models.evaluate says it
        print(f"error: {error}", file=sys.stderr)
        return 2
    accuracy, size = scores["test_accuracy"], scores["test_size"]
    path = resolve_checkpoint(args.name)[1]
    payload = read_checkpoint(path)
    metrics = payload.setdefault("metrics", {})
    before = metrics.get("test_accuracy")
    print(f"{args.name}: {100 * accuracy:.2f}% on {size} scenes (recorded {100 * float(before or 0):.2f}%)")
    if args.dry_run or before == accuracy:
        return 0
    metrics.setdefault("trained_generator_test_accuracy", before)
    metrics.update(scores)
    save_checkpoint(path, payload)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
