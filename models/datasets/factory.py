"""Datasets by name, for the training and evaluation commands."""

from __future__ import annotations

import os
from typing import Any

from torch.utils.data import Dataset

from .fashion import DEFAULT_FASHION_ROOT, FASHION_CLASSES, FashionMNISTIdx
from .imagefolder import ImageFolderDataset
from .shapes import ShapesDataset
from .shapes_camera import CAMERA_DEFAULT_LENGTH, ShapesCameraDataset
from .shapes_heldout import HELDOUT_DEFAULT_LENGTH, ShapesHeldoutDataset
from .shapes_scene import SHAPE_CLASSES
from .shapes_sealed import SEALED_DEFAULT_LENGTH, ShapesSealedDataset
from .shapes_sealed2 import ShapesSealed2Dataset
from .shapes_sealed3 import ShapesSealed3Dataset
from .shapes_sealed4 import ShapesSealed4Dataset
from .shapes_sealed5 import ShapesSealed5Dataset
from .shapes_sealed6 import ShapesSealed6Dataset
from .shapes_sealed7 import ShapesSealed7Dataset
from .shapes_sealed8 import ShapesSealed8Dataset
from .shapes_sealed9 import ShapesSealed9Dataset
from .shapes_sealed10 import ShapesSealed10Dataset
from .shapes_sealed11 import ShapesSealed11Dataset
from .shapes_sealed12 import ShapesSealed12Dataset
from .shapes_sealed13 import ShapesSealed13Dataset
from .shapes_sealed14 import ShapesSealed14Dataset
from .shapes_sealed15 import ShapesSealed15Dataset
from .shapes_sealed16 import ShapesSealed16Dataset
from .shapes_sealed17 import ShapesSealed17Dataset
from .shapes_sealed18 import ShapesSealed18Dataset
from .shapes_sealed19 import ShapesSealed19Dataset
from .splits import Transform, check_split

# The sealed renderers in the order they were written; each is run once per trained model.
SEALED_SETS: dict[str, type[Dataset]] = {
    "shapes-sealed": ShapesSealedDataset,
    "shapes-sealed-2": ShapesSealed2Dataset,
    "shapes-sealed-3": ShapesSealed3Dataset,
    "shapes-sealed-4": ShapesSealed4Dataset,
    "shapes-sealed-5": ShapesSealed5Dataset,
    "shapes-sealed-6": ShapesSealed6Dataset,
    "shapes-sealed-7": ShapesSealed7Dataset,
    "shapes-sealed-8": ShapesSealed8Dataset,
    "shapes-sealed-9": ShapesSealed9Dataset,
    "shapes-sealed-10": ShapesSealed10Dataset,
    "shapes-sealed-11": ShapesSealed11Dataset,
    "shapes-sealed-12": ShapesSealed12Dataset,
    "shapes-sealed-13": ShapesSealed13Dataset,
    "shapes-sealed-14": ShapesSealed14Dataset,
    "shapes-sealed-15": ShapesSealed15Dataset,
    "shapes-sealed-16": ShapesSealed16Dataset,
    "shapes-sealed-17": ShapesSealed17Dataset,
    "shapes-sealed-18": ShapesSealed18Dataset,
    "shapes-sealed-19": ShapesSealed19Dataset,
}
DATASET_NAMES: tuple[str, ...] = (
    "shapes",
    "shapes-heldout",
    "shapes-camera",
    *SEALED_SETS,
    "fashion-mnist",
    "imagefolder",
)
# Evaluation sets drawn by their own renderers: a test split only, the same pictures for every model.
EVALUATION_ONLY: dict[str, tuple[type[Dataset], int]] = {
    "shapes-heldout": (ShapesHeldoutDataset, HELDOUT_DEFAULT_LENGTH),
    "shapes-camera": (ShapesCameraDataset, CAMERA_DEFAULT_LENGTH),
    **{name: (kind, SEALED_DEFAULT_LENGTH) for name, kind in SEALED_SETS.items()},
}


def _sealed_aliases(name: str) -> dict[str, str]:
    """Every spelling of a sealed set's name, so that "sealed-2", "sealed2" and "shapes-sealed2" all name one set."""
    short = name.removeprefix("shapes-")
    return {spelling: name for spelling in (name, name.replace("sealed-", "sealed"), short, short.replace("-", ""))}


_ALIASES: dict[str, str] = {
    "shapes": "shapes",
    "shapes-heldout": "shapes-heldout",
    "shapes_heldout": "shapes-heldout",
    "heldout": "shapes-heldout",
    "shapes-camera": "shapes-camera",
    "camera": "shapes-camera",
    **{alias: name for sealed in SEALED_SETS for alias, name in _sealed_aliases(sealed).items()},
    "fashion-mnist": "fashion-mnist",
    "fashion": "fashion-mnist",
    "fashion_mnist": "fashion-mnist",
    "fashionmnist": "fashion-mnist",
    "imagefolder": "imagefolder",
    "image-folder": "imagefolder",
    "folder": "imagefolder",
}

_SHAPES_INFO: dict[str, Any] = {"channels": 3, "input_size": 64, "classes": SHAPE_CLASSES, "has_masks": True}
DATASET_INFO: dict[str, dict[str, Any]] = {
    **{name: dict(_SHAPES_INFO) for name in ("shapes", "shapes-heldout", "shapes-camera", *SEALED_SETS)},
    "fashion-mnist": {"channels": 1, "input_size": 28, "classes": FASHION_CLASSES, "has_masks": False},
}


def canonical_dataset_name(name: str) -> str:
    """Map a user-facing name or alias ("fashion") to its canonical name ("fashion-mnist")."""
    key = name.strip().lower()
    if key not in _ALIASES:
        raise ValueError(
            f"unknown dataset {name!r}; valid names: {', '.join(DATASET_NAMES)} (aliases: fashion, heldout, camera, "
            f"{', '.join(sealed.removeprefix('shapes-') for sealed in SEALED_SETS)})"
        )
    return _ALIASES[key]


def build_dataset(
    name: str,
    split: str,
    *,
    root: str | os.PathLike[str] | None = None,
    transform: Transform | None = None,
    seed: int = 0,
    length: int | None = None,
    size: int = 64,
    download: bool = False,
) -> Dataset:
    """Create a dataset by name: "shapes", "shapes-heldout" (alias "heldout"), "shapes-camera", "shapes-sealed"
    to "shapes-sealed-19", "fashion-mnist" (alias "fashion") or "imagefolder".

    ``seed`` picks the shapes scenes and the image-folder split; the
    Fashion-MNIST validation split is fixed on purpose so scores stay
    comparable between runs. ``length`` sets the number of shapes scenes and
    truncates the other datasets (handy for smoke runs). ``size`` only
    applies to the shapes datasets; ``root`` defaults to the Debian path for
    Fashion-MNIST and is required for image folders. "shapes-heldout",
    "shapes-camera" (drawings photographed by a webcam), and the nineteen
    sealed sets "shapes-sealed" to "shapes-sealed-19" (each run once per trained model)
    are evaluation sets with only a "test" split (training on them would
    defeat their purpose); other splits are refused, and their lengths
    default to 300, 300 and 400 for each sealed set.
    """
    canonical = canonical_dataset_name(name)
    check_split(split)
    if canonical == "shapes":
        return ShapesDataset(split=split, length=length, size=size, seed=seed, transform=transform)
    if canonical in EVALUATION_ONLY:
        if split != "test":
            raise ValueError(f"{canonical} has only a test split (it is for evaluation), got {split!r}")
        kind, default_length = EVALUATION_ONLY[canonical]
        count = default_length if length is None else length
        return kind(length=count, size=size, seed=seed, transform=transform)
    if canonical == "fashion-mnist":
        return FashionMNISTIdx(
            root=DEFAULT_FASHION_ROOT if root is None else root,
            split=split,
            transform=transform,
            download=download,
            limit=length,
        )
    if root is None:
        raise ValueError("the imagefolder dataset needs root= (a folder of class subfolders)")
    return ImageFolderDataset(root, split=split, transform=transform, seed=seed, limit=length)
