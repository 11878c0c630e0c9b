"""A folder of class subfolders (torchvision ImageFolder layout) as a dataset with train/val/test splits."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from attention.errors import ImageInputError
from attention.images import load_image

from .splits import Transform, check_split

logger = logging.getLogger(__name__)


def load_folder_image(path: str | os.PathLike[str]) -> Image.Image:
    """Decode one training image with the app's own decoder, so a model learns from what it will be shown.

    ``attention.images.load_image`` applies EXIF orientation, flattens
    transparency onto white, scales 16-bit images instead of clipping them and
    enforces the same size limits as an upload; a refusal names the folder.
    """
    try:
        return load_image(Path(path))
    except ImageInputError as error:
        raise ImageInputError(f"in {Path(path).parent}: {error}") from error


def _image_folder(root: Path, class_to_idx: dict[str, int] | None = None) -> Any:
    """A torchvision ImageFolder, optionally forced to an existing class mapping.

    Forcing the mapping keeps labels consistent when ``val/`` or ``test/`` lack
    a class that ``train/`` has (ImageFolder would otherwise renumber them).
    """
    from torchvision.datasets import ImageFolder

    if class_to_idx is None:
        return ImageFolder(str(root), loader=load_folder_image)

    fixed = dict(class_to_idx)

    class _MappedImageFolder(ImageFolder):
        def find_classes(self, directory: str | os.PathLike[str]) -> tuple[list[str], dict[str, int]]:
            extra = sorted(entry.name for entry in os.scandir(directory) if entry.is_dir() and entry.name not in fixed)
            if extra:
                logger.warning("%s: ignoring class folders not present in train: %s", directory, extra)
            return sorted(fixed, key=fixed.__getitem__), dict(fixed)

    return _MappedImageFolder(str(root), loader=load_folder_image, allow_empty=True)


def _split_counts(n: int, fractions: dict[str, float]) -> dict[str, int]:
    """How many of n samples each carved-out split gets; non-empty where possible so tiny folders work."""
    counts: dict[str, int] = {}
    for name, fraction in fractions.items():
        if not 0.0 <= fraction < 1.0:
            raise ValueError(f"{name} fraction must be in [0, 1), got {fraction}")
        count = round(n * fraction)
        if fraction > 0 and count == 0 and n > len(fractions):
            count = 1
        counts[name] = count
    if sum(counts.values()) >= n:
        raise ValueError(f"{n} images are too few to split off {counts}")
    return counts


class ImageFolderDataset(Dataset):
    """A folder of class subfolders (torchvision ``ImageFolder`` layout) with train/val/test splits.

    Layouts:
      * ``root/train/<class>/...`` (+ optional ``root/val`` or ``valid``/``validation``, ``root/test``):
        existing split folders are used; a missing val or test split is carved out of train.
      * ``root/<class>/...``: one folder split by a seeded permutation (default 80/10/10).

    Every image is decoded with :func:`load_folder_image`. Items are ``(PIL RGB image, label)``.
    """

    _VAL_NAMES = ("val", "valid", "validation")

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        transform: Transform | None = None,
        *,
        seed: int = 0,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        limit: int | None = None,
    ) -> None:
        check_split(split)
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise FileNotFoundError(f"image folder {self.root} does not exist")
        self.split = split
        self.transform = transform
        self.seed = seed

        train_dir = self.root / "train"
        if train_dir.is_dir():
            base = _image_folder(train_dir)
            split_dirs: dict[str, Path | None] = {
                "val": next((self.root / n for n in self._VAL_NAMES if (self.root / n).is_dir()), None),
                "test": self.root / "test" if (self.root / "test").is_dir() else None,
            }
            carve = {"val": val_fraction, "test": test_fraction}
            carve = {name: f for name, f in carve.items() if split_dirs[name] is None}
        else:
            base = _image_folder(self.root)
            split_dirs = {"val": None, "test": None}
            carve = {"val": val_fraction, "test": test_fraction}

        self.classes: list[str] = list(base.classes)
        self.class_to_idx: dict[str, int] = dict(base.class_to_idx)
        if split != "train" and split_dirs[split] is not None:
            folder = _image_folder(split_dirs[split], self.class_to_idx)  # type: ignore[arg-type]
            samples = list(folder.samples)
        else:
            samples = self._carve(list(base.samples), carve, split)
        if limit is not None:
            samples = samples[: max(0, int(limit))]
        self.samples: list[tuple[str, int]] = samples
        self.targets: list[int] = [target for _, target in samples]
        logger.debug("image folder %s, %s: %d images, %d classes", self.root, split, len(samples), len(self.classes))

    def _carve(self, samples: list[tuple[str, int]], carve: dict[str, float], split: str) -> list[tuple[str, int]]:
        """Deterministically split ``samples`` into train and the carved-out splits."""
        if not carve:
            return samples
        counts = _split_counts(len(samples), carve)
        order = np.random.default_rng(self.seed).permutation(len(samples))
        start = 0
        parts: dict[str, np.ndarray] = {}
        for name in ("val", "test"):
            if name in counts:
                parts[name] = order[start : start + counts[name]]
                start += counts[name]
        parts["train"] = order[start:]
        return [samples[i] for i in np.sort(parts[split])]

    def __len__(self) -> int:
        return len(self.samples)

    def __repr__(self) -> str:
        return f"ImageFolderDataset(root={str(self.root)!r}, split={self.split!r}, length={len(self)})"

    def __getitem__(self, index: int) -> tuple[Any, int]:
        path, target = self.samples[index]
        image = load_folder_image(path)
        return (self.transform(image) if self.transform is not None else image), target
