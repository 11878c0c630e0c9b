"""What costs a shapes checkpoint its accuracy on the opened first sealed set: the surfaces' patterns, or size.

Prints the accuracy by size band three ways: the pictures as the set draws them;
the same shapes on each surface's mean colour (``plain_surface``); and the pictures
drawn larger than the checkpoint's input and fed without resizing, so that every
shape covers more pixels. Run only on the opened first sealed set: a sealed set's
one figure is taken with ``python -m models.evaluate``, never here.

    .venv/bin/python scripts/sealed_diagnosis.py shapes --sizes 96 128
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.checkpoint import load_checkpoint  # noqa: E402
from models.datasets.shapes_camera import SIZE_BANDS  # noqa: E402
from models.datasets.shapes_sealed import SEALED_DEFAULT_LENGTH, ShapesSealedDataset, render_sealed_scene  # noqa: E402


def accuracy_by_band(
    model: torch.nn.Module, mean: torch.Tensor, std: torch.Tensor, size: int, plain: bool, limit: int
) -> dict[str, float]:
    """Accuracy overall and per size band on the first ``limit`` pictures drawn at ``size`` pixels, fed as drawn."""
    data = ShapesSealedDataset(length=limit, size=size)
    right: dict[str, list[bool]] = defaultdict(list)
    for index in tqdm(range(limit), desc=f"{size} px{' plain' if plain else ''}", leave=False):
        scene = render_sealed_scene(data.rng_for(index), size, plain_surface=plain)
        pixels = torch.from_numpy(scene.image.copy()).permute(2, 0, 1).float() / 255
        with torch.no_grad():
            guess = int(model(((pixels - mean) / std)[None]).argmax())
        right[scene.band].append(guess == scene.label)
        right["all"].append(guess == scene.label)
    return {band: float(np.mean(values)) for band, values in right.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", help="checkpoint path or shipped name")
    parser.add_argument("--sizes", type=int, nargs="*", default=[], help="larger sizes to draw the pictures at")
    parser.add_argument("--limit", type=int, default=SEALED_DEFAULT_LENGTH, help="the first N pictures (default all)")
    args = parser.parse_args(argv)
    if not 1 <= args.limit <= SEALED_DEFAULT_LENGTH:
        parser.error(f"--limit must be from 1 to {SEALED_DEFAULT_LENGTH}, got {args.limit}")
    if any(not 16 <= size <= 512 for size in args.sizes):
        parser.error(f"--sizes must be from 16 to 512 pixels, got {args.sizes}")
    loaded = load_checkpoint(args.checkpoint)
    model = loaded.model.eval()
    prep = loaded.preprocessing
    mean, std = (torch.tensor(values).view(-1, 1, 1) for values in (prep.mean, prep.std))
    side = prep.input_size[0]
    runs = [(f"as drawn, {side} px", side, False), (f"plain surface, {side} px", side, True)]
    runs += [(f"as drawn, {size} px, not resized", size, False) for size in args.sizes]
    bands = [name for name, _, _ in SIZE_BANDS]
    print(f"{'':32} {'all':>7} " + " ".join(f"{band:>7}" for band in bands))
    for title, size, plain in runs:
        scores = accuracy_by_band(model, mean, std, size, plain, args.limit)
        print(
            f"{title:32} {scores['all']:7.1%} " + " ".join(f"{scores.get(band, float('nan')):7.1%}" for band in bands)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
