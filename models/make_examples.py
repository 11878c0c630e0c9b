"""Write the example images shipped in assets/examples.

    python -m models.make_examples [--out assets/examples]

Shapes scenes come from the shapes test split (seed 0) and Fashion-MNIST
images from its test files, so the examples were never seen in training.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from .datasets import FASHION_CLASSES, SHAPE_CLASSES, FashionMNISTIdx, ShapesDataset

LOGGER = logging.getLogger(__name__)


def write_shapes(
    out: Path, per_class: int = 1, size: int = 64, display_size: int = 256, prefix: str = "shapes", skip: int = 0
) -> list[Path]:
    """One scene per class from the test split, enlarged so the gallery is readable; ``skip`` passes over the first."""
    dataset = ShapesDataset("test", size=size)
    written, counts = [], dict.fromkeys(range(len(SHAPE_CLASSES)), -skip)
    for index in range(len(dataset)):
        label = dataset.targets[index]
        if counts[label] < 0:
            counts[label] += 1
            continue
        if counts[label] >= per_class:
            continue
        image, _mask, label = dataset.sample(index)
        path = out / f"{prefix}_{SHAPE_CLASSES[label]}_{index}.png"
        Image.fromarray(image).resize((display_size, display_size), Image.Resampling.BILINEAR).save(path)
        written.append(path)
        counts[label] += 1
        if all(c >= per_class for c in counts.values()):
            break
    return written


def write_fashion(out: Path, labels: tuple[int, ...] = (0, 1, 7, 8, 9)) -> list[Path]:
    dataset = FashionMNISTIdx(split="test")
    written = []
    for label in labels:
        index = next(i for i, t in enumerate(dataset.targets) if t == label)
        image, _ = dataset[index]
        name = FASHION_CLASSES[label].lower().replace("/", "-").replace(" ", "-")
        path = out / f"fashion_{name}_{index}.png"
        image.save(path)
        written.append(path)
    return written


# Each shipped model's examples; the ViT's are other scenes of the same split, one class each.
WRITERS: dict[str, Callable[[Path], list[Path]]] = {
    "shapes": write_shapes,
    "fashion": write_fashion,
    "shapes-vit": lambda out: write_shapes(out, prefix="shapes-vit", skip=1),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("assets/examples"))
    parser.add_argument("--only", nargs="+", choices=sorted(WRITERS), help="write these models' examples only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    for model in args.only or WRITERS:
        for path in WRITERS[model](args.out):
            LOGGER.info("wrote %s", path)


if __name__ == "__main__":
    main()
