"""What every dataset here shares: the split names, the transform type, index checking, and rendered test sets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

Transform = Callable[[Image.Image], Any]

SPLITS: tuple[str, ...] = ("train", "val", "test")


def check_split(split: str) -> int:
    """The split's index in ``SPLITS``; a ValueError names the valid ones."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return SPLITS.index(split)


def checked_index(index: int, length: int) -> int:
    """``index`` into a dataset of ``length`` samples, negative ones counted from the end; IndexError outside."""
    index = int(index)
    if index < 0:
        index += length
    if not 0 <= index < length:
        raise IndexError(f"index {index} out of range for {length} samples")
    return index


class RenderedTestSet(Dataset):
    """An evaluation set drawn by a renderer: picture ``i`` is ``render(np.random.default_rng([seed, SALT, i]))``.

    Any picture can be rebuilt alone, and rendered ones are kept in memory.
    ``__getitem__`` gives ``(PIL image, label)`` (or the transform of it);
    ``sample`` adds the object mask. A subclass sets ``SALT`` (which keeps its
    streams apart from every other dataset's) and ``render``, whose scene has
    ``image``, ``mask`` and ``label``.
    """

    SALT = 0
    GROUPS: tuple[str, ...] = ()  # what ``_first_draws`` gives after the label, named for the evaluation's tables

    def __init__(self, length: int, size: int = 64, seed: int = 0, transform: Transform | None = None) -> None:
        if length < 0:
            raise ValueError(f"length must be >= 0, got {length}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0 (numpy seed sequences need it), got {seed}")
        if size < 16:
            raise ValueError(f"size must be at least 16 pixels, got {size}")
        self.length, self.size, self.seed = int(length), int(size), int(seed)
        self.transform = transform
        self._scenes: dict[int, Any] = {}

    def render(self, rng: np.random.Generator, size: int) -> Any:
        raise NotImplementedError

    def _first_draws(self, index: int) -> tuple[Any, ...]:
        """(label, then one value per name in ``GROUPS``): the renderer's first draws, without rendering."""
        raise NotImplementedError

    @property
    def targets(self) -> list[int]:
        """Labels of all samples, from the first draw of each generator (nothing is rendered)."""
        return [int(self._first_draws(i)[0]) for i in range(self.length)]

    @property
    def groups(self) -> dict[str, list[str]]:
        """Each picture's group under every name of ``GROUPS``, and its class, without rendering."""
        if not self.GROUPS:
            return {}
        draws = [self._first_draws(i) for i in range(self.length)]
        named = {name: [str(draw[1 + k]) for draw in draws] for k, name in enumerate(self.GROUPS)}
        return {**named, "class": [self.classes[int(draw[0])] for draw in draws]}  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        return f"{type(self).__name__}(length={self.length}, size={self.size}, seed={self.seed})"

    def rng_for(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.SALT, int(index)])

    def scene(self, index: int) -> Any:
        """The picture ``index`` with everything about how it was drawn."""
        index = checked_index(index, self.length)
        if index not in self._scenes:
            self._scenes[index] = self.render(self.rng_for(index), self.size)
        return self._scenes[index]

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray, int]:
        """(uint8 image H x W x 3, bool object mask H x W, label), like ``ShapesDataset.sample``."""
        scene = self.scene(index)
        return scene.image, scene.mask, scene.label

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image, _, label = self.sample(index)
        pil = Image.fromarray(image)
        return (self.transform(pil) if self.transform is not None else pil), label
