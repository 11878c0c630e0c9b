"""Fashion-MNIST read straight from IDX files, so training works offline.

The files are the ones Debian's ``dataset-fashion-mnist`` package installs; the
torchvision downloader is only a fallback for users with internet access.
"""

from __future__ import annotations

import functools
import gzip
import logging
import math
import os
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from .splits import Transform, check_split

logger = logging.getLogger(__name__)

FASHION_CLASSES: list[str] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
DEFAULT_FASHION_ROOT = Path("/usr/share/datasets/fashion-mnist")

_FASHION_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# IDX type codes -> big-endian numpy dtypes (the format is always big-endian).
_IDX_DTYPES: dict[int, str] = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (as used by MNIST / Fashion-MNIST), gzip-compressed or plain.

    Compression is detected from the gzip magic bytes, not the file name, so a
    renamed or already-decompressed file still loads. Returns a native-endian,
    writable array.

    Raises:
        ValueError: the file is not valid IDX (bad magic, unknown type, truncated data).
        FileNotFoundError: the file does not exist.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        compressed = fh.read(2) == b"\x1f\x8b"
    try:
        with gzip.open(path, "rb") if compressed else open(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise ValueError(f"{path}: cannot decompress IDX file ({exc})") from exc
    if len(raw) < 4:
        raise ValueError(f"{path}: too short to be an IDX file ({len(raw)} bytes)")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: bad IDX magic number {raw[:4].hex()} (expected 0000 followed by type and rank)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX data type code 0x{code:02x}")
    if ndim == 0:
        raise ValueError(f"{path}: IDX file declares zero dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: IDX header truncated (needs {header} bytes, file has {len(raw)})")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[code])
    count = math.prod(dims)
    expected = count * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(f"{path}: IDX shape {dims} of {dtype} needs {expected} data bytes, found {len(raw) - header}")
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(dims)
    return data.astype(dtype.newbyteorder("="))


def _find_file(directories: Sequence[Path], stem: str) -> Path | None:
    for directory in directories:
        for name in (stem, stem + ".gz"):
            candidate = directory / name
            if candidate.is_file():
                return candidate
    return None


def find_fashion_files(root: str | os.PathLike[str]) -> dict[str, tuple[Path, Path]] | None:
    """Locate the four Fashion-MNIST IDX files under ``root`` (or torchvision's ``FashionMNIST/raw``).

    Returns ``{"train": (images, labels), "test": (images, labels)}`` or None if any is missing.
    """
    root = Path(root).expanduser()
    directories = [root, root / "FashionMNIST" / "raw"]
    found: dict[str, tuple[Path, Path]] = {}
    for part, (images_stem, labels_stem) in _FASHION_FILES.items():
        images, labels = _find_file(directories, images_stem), _find_file(directories, labels_stem)
        if images is None or labels is None:
            return None
        found[part] = (images, labels)
    return found


@functools.lru_cache(maxsize=4)
def _load_idx_pair(images: str, labels: str, _stamp: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Read and validate one images/labels pair; cached so train and val share one decompression.

    ``_stamp`` (modification times) is part of the cache key so replaced files are re-read.
    """
    x = read_idx(images)
    y = read_idx(labels)
    if x.ndim != 3 or x.dtype != np.uint8:
        raise ValueError(f"{images}: expected uint8 images of shape (N, H, W), got {x.dtype} {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"{labels}: expected {len(x)} labels, got shape {y.shape}")
    if len(y) and (y.min() < 0 or y.max() >= len(FASHION_CLASSES)):
        raise ValueError(f"{labels}: labels outside 0..{len(FASHION_CLASSES) - 1}")
    x.flags.writeable = False
    y = y.astype(np.int64)
    y.flags.writeable = False
    return x, y


def _download_fashion(root: Path) -> None:
    """Fetch the IDX files with torchvision (needs internet); they land in ``root/FashionMNIST/raw``."""
    from torchvision.datasets import FashionMNIST

    logger.info("downloading Fashion-MNIST into %s", root)
    root.mkdir(parents=True, exist_ok=True)
    for train in (True, False):
        FashionMNIST(root=str(root), train=train, download=True)


class FashionMNISTIdx(Dataset):
    """Fashion-MNIST read from IDX files, with a fixed train/val split of the 60k training images.

    ``val`` is the last ``val_size`` images of a permutation seeded by
    ``split_seed``, so it is the same in every run and never overlaps ``train``;
    ``test`` is the official 10k test set. Items are ``(PIL "L" image, label)``.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] = DEFAULT_FASHION_ROOT,
        split: str = "train",
        transform: Transform | None = None,
        val_size: int = 5000,
        download: bool = False,
        *,
        split_seed: int = 0,
        limit: int | None = None,
    ) -> None:
        check_split(split)
        self.root = Path(root).expanduser()
        self.split = split
        self.transform = transform
        self.classes: list[str] = list(FASHION_CLASSES)
        self.class_to_idx: dict[str, int] = {name: i for i, name in enumerate(self.classes)}
        files = find_fashion_files(self.root)
        if files is None and download:
            _download_fashion(self.root)
            files = find_fashion_files(self.root)
        if files is None:
            raise FileNotFoundError(
                f"Fashion-MNIST IDX files (train-images-idx3-ubyte[.gz] etc.) not found in {self.root}: "
                "run `sudo apt-get install dataset-fashion-mnist` or pass --data-root DIR"
            )
        images_path, labels_path = files["test" if split == "test" else "train"]
        stamp = (images_path.stat().st_mtime, labels_path.stat().st_mtime)
        images, labels = _load_idx_pair(str(images_path), str(labels_path), stamp)
        if split == "test":
            indices = np.arange(len(images))
        else:
            n = len(images)
            if not 0 <= val_size < n:
                raise ValueError(f"val_size must be in [0, {n}), got {val_size}")
            order = np.random.default_rng(split_seed).permutation(n)
            chosen = order[: n - val_size] if split == "train" else order[n - val_size :]
            indices = np.sort(chosen)  # keep the files' order: reproducible and cache friendly
        if limit is not None:
            indices = indices[: max(0, int(limit))]
        self.indices = indices
        self.data: np.ndarray = images[indices]
        self.targets: list[int] = labels[indices].tolist()
        logger.debug("Fashion-MNIST %s: %d images from %s", split, len(self.targets), images_path)

    def __len__(self) -> int:
        return len(self.targets)

    def __repr__(self) -> str:
        return f"FashionMNISTIdx(root={str(self.root)!r}, split={self.split!r}, length={len(self)})"

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image = Image.fromarray(self.data[index])
        return (self.transform(image) if self.transform is not None else image), self.targets[index]
