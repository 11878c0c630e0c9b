"""What the sealed renderers' rules measure alike: a pixel's grey, a mask's outline, a set's pictures at 192 px."""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

from models.datasets.shapes_sealed import SealedScene, ShapesSealedDataset

LUMA = np.array([0.299, 0.587, 0.114])  # a pixel's grey (ITU-R BT.601), as every rule on ink and light measures it


def scenes_at_192(dataset: type[ShapesSealedDataset], count: int) -> list[SealedScene]:
    """A sealed set's first ``count`` pictures at three times the side the model reads, at seed 5 (not its own)."""
    data = dataset(length=count, size=192, seed=5)
    return [data.scene(index) for index in range(count)]


def outline_measures(mask: np.ndarray) -> tuple[float, float, float]:
    """(area / longest span squared, area / convex hull's area, area / area with holes filled) of a mask."""
    points = np.argwhere(mask)[:, ::-1].astype(np.float32)
    hull = cv2.convexHull(points)[:, 0]
    span = np.linalg.norm(hull[:, None] - hull[None], axis=-1).max()  # the longest span runs between hull corners
    area = float(mask.sum())
    filled = float(ndimage.binary_fill_holes(mask).sum())
    return area / float(span) ** 2, area / max(cv2.contourArea(hull), 1.0), area / filled
