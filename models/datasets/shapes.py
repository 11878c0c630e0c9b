"""The shapes dataset: procedural scenes, generated lazily from a per-sample seed.

It exists to make spatial attention visible: every scene holds exactly one
object whose class depends only on its outline, on a background built to
distract, and the object's pixel mask is known exactly, so an attention map can
be checked against it. Nothing is stored on disk.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from .shapes_scene import SHAPE_CLASSES, render_shape_scene
from .splits import Transform, check_split, checked_index

logger = logging.getLogger(__name__)

SHAPES_DEFAULT_LENGTHS: dict[str, int] = {"train": 24000, "val": 2000, "test": 2000}


class ShapesDataset(Dataset):
    """Procedural shapes scenes, generated lazily and deterministically.

    Sample ``i`` of split ``s`` comes from ``np.random.default_rng([seed, s, i])``
    (s = 0/1/2 for train/val/test): any sample can be rebuilt without storage
    and the splits never share a scene. Rendered samples are cached in memory
    (about 16 KB each at 64 px); with a multi-worker DataLoader call
    :meth:`materialize` first, otherwise every worker fills its own copy.

    ``__getitem__`` returns ``(PIL RGB image, label)`` like torchvision datasets
    (or ``(transform(image), label)``); :meth:`sample` also gives the mask.
    """

    def __init__(
        self,
        split: str = "train",
        length: int | None = None,
        size: int = 64,
        seed: int = 0,
        transform: Transform | None = None,
        *,
        cache: bool = True,
        surface: int | None = None,
    ) -> None:
        self.split = split
        self.split_index = check_split(split)
        self.length = SHAPES_DEFAULT_LENGTHS[split] if length is None else int(length)
        if self.length < 0:
            raise ValueError(f"length must be >= 0, got {length}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0 (numpy seed sequences need it), got {seed}")
        if size < 16:
            raise ValueError(f"size must be at least 16 pixels, got {size}")
        self.size = int(size)
        self.seed = int(seed)
        self.transform = transform
        self.classes: list[str] = list(SHAPE_CLASSES)
        self.class_to_idx: dict[str, int] = {name: i for i, name in enumerate(self.classes)}
        self.cache = cache
        if surface is not None and surface < 0:
            raise ValueError(f"surface must be >= 0 (numpy seed sequences need it), got {surface}")
        self.surface = surface
        self._images: np.ndarray | None = None
        self._masks: np.ndarray | None = None  # bit-packed: masks are 1/24 of the image memory this way
        self._labels = np.full(self.length, -1, dtype=np.int16)
        self._filled = np.zeros(self.length, dtype=bool)
        self._targets: list[int] | None = None

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        return (
            f"ShapesDataset(split={self.split!r}, length={self.length}, size={self.size}, "
            f"seed={self.seed}, surface={self.surface}, cached={int(self._filled.sum())})"
        )

    def __getstate__(self) -> dict[str, Any]:
        # Spawned DataLoader workers receive a pickled copy: leave out a cache that holds
        # nothing yet instead of shipping hundreds of MB of uninitialised memory.
        state = self.__dict__.copy()
        if not self._filled.any():
            state["_images"] = state["_masks"] = None
        return state

    def rng_for(self, index: int) -> np.random.Generator:
        """The generator that defines sample ``index``; exposed so tools can re-render it."""
        return np.random.default_rng([self.seed, self.split_index, int(index)])

    def surface_rng_for(self, index: int) -> np.random.Generator | None:
        """The generator of sample ``index``'s surroundings when the dataset paints one of several surfaces."""
        if self.surface is None:
            return None
        return np.random.default_rng([self.seed, self.split_index, int(index), self.surface])

    def _allocate(self) -> None:
        # np.empty reserves address space only; pages are committed as samples are written.
        self._images = np.empty((self.length, self.size, self.size, 3), dtype=np.uint8)
        self._masks = np.empty((self.length, (self.size * self.size + 7) // 8), dtype=np.uint8)

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray, int]:
        """(uint8 image H x W x 3, bool mask H x W, label) of sample ``index``.

        Cached arrays are returned as read-only views, so callers cannot corrupt the cache.
        """
        index = checked_index(index, self.length)
        if self.cache and self._filled[index]:
            assert self._images is not None and self._masks is not None
            image = self._images[index]
            image.flags.writeable = False
            packed = self._masks[index]
            mask = np.unpackbits(packed, count=self.size * self.size).astype(bool).reshape(self.size, self.size)
            return image, mask, int(self._labels[index])
        image, mask, label = render_shape_scene(self.rng_for(index), self.size, surface=self.surface_rng_for(index))
        if self.cache:
            if self._images is None:
                self._allocate()
            assert self._images is not None and self._masks is not None
            self._images[index] = image
            self._masks[index] = np.packbits(mask.reshape(-1))
            self._labels[index] = label
            self._filled[index] = True
        return image, mask, label

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image, _, label = self.sample(index)
        pil = Image.fromarray(np.ascontiguousarray(image))
        return (self.transform(pil) if self.transform is not None else pil), label

    def materialize(self, progress: bool = False) -> ShapesDataset:
        """Render every sample not cached yet (with a tqdm bar if ``progress``); returns self."""
        if not self.cache:
            raise RuntimeError("materialize() needs cache=True")
        missing = np.flatnonzero(~self._filled)
        if missing.size == 0:
            return self
        from tqdm.auto import tqdm

        logger.info("rendering %d %s shapes scenes", missing.size, self.split)
        for index in tqdm(missing, desc=f"shapes/{self.split}", disable=not progress, unit="img"):
            self.sample(int(index))
        return self

    @property
    def targets(self) -> list[int]:
        """Labels of all samples, computed from the first draw of each generator (no rendering)."""
        if self._targets is None:
            n = len(SHAPE_CLASSES)
            self._targets = [
                int(self._labels[i]) if self._filled[i] else int(self.rng_for(i).integers(n))
                for i in range(self.length)
            ]
        return self._targets

    def masks(self, index: int) -> np.ndarray:
        """The bool object mask of sample ``index``."""
        return self.sample(index)[1]


class ShapesMasked(Dataset):
    """Shapes scenes with their object masks, moved by the same augmentation, for a loss on where attention looks.

    Item ``i`` is ``(picture, label, mask)``, where ``transform(pil, bool_mask)`` makes the
    picture and the 1 x H x W float mask (:class:`models.transforms.ShapesWithMask`).
    """

    def __init__(
        self, split: str, length: int | None, size: int, seed: int, transform: Callable[[Any, np.ndarray], Any]
    ) -> None:
        self.scenes = ShapesDataset(split, length, size, seed)
        self.transform = transform
        self.classes = self.scenes.classes
        self.class_to_idx = self.scenes.class_to_idx

    def __len__(self) -> int:
        return len(self.scenes)

    def __getitem__(self, index: int) -> tuple[Any, int, Any]:
        image, mask, label = self.scenes.sample(index)
        picture, moved = self.transform(Image.fromarray(np.ascontiguousarray(image)), mask)
        return picture, label, moved

    @property
    def targets(self) -> list[int]:
        """Labels of all items, without rendering."""
        return self.scenes.targets


class SurfacePairs(Dataset):
    """The same shape on two surfaces per item, so training can ask that the surface change nothing.

    Item ``i`` is ``(tensor views x C x H x W, label)``: view ``v`` is sample ``i`` of a
    :class:`ShapesDataset` painted with surface ``v + 1``, so every view shares the class and
    pose drawn from ``rng_for(i)`` and draws its own background, palette and degradations
    (a photographed view poses its drawing afresh). The transform runs once per view.
    """

    def __init__(
        self,
        split: str = "train",
        length: int | None = None,
        size: int = 64,
        seed: int = 0,
        transform: Transform | None = None,
        *,
        views: int = 2,
    ) -> None:
        if views < 2:
            raise ValueError(f"views must be at least 2, got {views}")
        if transform is None:
            raise ValueError("SurfacePairs needs a transform that makes tensors, to stack its views")
        self.views = [ShapesDataset(split, length, size, seed, transform, surface=view + 1) for view in range(views)]
        self.classes = self.views[0].classes
        self.class_to_idx = self.views[0].class_to_idx

    def __len__(self) -> int:
        return len(self.views[0])

    def __getitem__(self, index: int) -> tuple[Any, int]:
        pictures, labels = zip(*(view[index] for view in self.views))
        return torch.stack(pictures), labels[0]

    @property
    def targets(self) -> list[int]:
        """Labels of all items, without rendering."""
        return self.views[0].targets
