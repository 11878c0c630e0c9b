"""Localization scores: does an attention map find the object whose pixel mask is known?

The shapes dataset knows every object's exact pixel mask, so each
spatial-attention (SA) layer can be scored against it, image by image:

* **pointing game** - does the map's peak fall on the object (dilated by a
  small tolerance, 4% of the image side, so a peak on the outline counts)?
* **energy inside** - what share of the map's total mass lies on the object?
* **AUROC** - how well do the map's values separate object pixels from
  background pixels (0.5 = no better than chance)?

Numbers like "energy inside 0.31" only mean something next to references, so
the same scores are computed for a centre prior (a centred Gaussian, which
needs no model at all) and for Grad-CAM on the same model (what the classifier's
gradients point at). The share of the image the objects cover is reported too:
it is what a uniform map would score on "energy inside".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from attention.recorder import SpatialRecord

DISPLAY_DIGITS = 6
"""Decimals the app's and the CLI's JSON keep of a mask (``attention.analysis.analysis_to_dict``): the mask a
user sees. A saturated mask ties many pixels at 1.0 there, which the float64 scores do not show."""

TOLERANCE_FRACTION = 0.04
"""Pointing-game tolerance as a fraction of the image side: a peak on the object's anti-aliased
outline, or one pixel off after bilinear upsampling of a coarse map, should still count as a hit."""


ArrayLike = torch.Tensor | np.ndarray


def image_side(height: int, width: int) -> int:
    """The side length that tolerances and the centre prior are relative to.

    The longer side, so that on non-square images neither shrinks below what
    the square case gives; shapes scenes are square, where the choice is moot.
    """
    return max(int(height), int(width))


def tolerance_px(height: int, width: int, fraction: float = TOLERANCE_FRACTION) -> int:
    """Dilation radius of the pointing game: ``round(fraction * side)`` pixels (3 px at 64 px)."""
    return int(round(fraction * image_side(height, width)))


def _as_tensor(array: ArrayLike, dtype: torch.dtype | None = None) -> torch.Tensor:
    tensor = torch.as_tensor(np.ascontiguousarray(array)) if isinstance(array, np.ndarray) else array
    return tensor.to(dtype) if dtype is not None else tensor


def _floating(tensor: torch.Tensor) -> torch.Tensor:
    """float64 stays float64 (see ``precise_mask``); anything else becomes float32."""
    return tensor if tensor.dtype == torch.float64 else tensor.float()


def _check_pair(saliency: torch.Tensor, object_mask: torch.Tensor) -> None:
    if saliency.ndim != 2 or saliency.shape != object_mask.shape:
        raise ValueError(
            f"need a 2-D map and a mask of the same shape, got {tuple(saliency.shape)} and {tuple(object_mask.shape)}"
        )


def disk_offsets(radius: int) -> list[tuple[int, int]]:
    """(dy, dx) of every pixel within ``radius`` of the centre (dy^2 + dx^2 <= radius^2)."""
    return [
        (dy, dx)
        for dy in range(-radius, radius + 1)
        for dx in range(-radius, radius + 1)
        if dy * dy + dx * dx <= radius * radius
    ]


def dilate(mask: ArrayLike, radius: int) -> torch.Tensor:
    """Binary dilation of ``mask`` (H x W or B x H x W) by a disk of ``radius`` pixels.

    A disk, not a square: the tolerance should be the same distance in every
    direction, and a square would reach ~41% further along the diagonals. It
    is an OR of shifted copies, exact for booleans and cheap at the radii used
    here (29 shifts at radius 3). Pixels outside the image count as background.

    Returns a bool tensor of the same shape.
    """
    if radius < 0:
        raise ValueError(f"dilation radius must be >= 0, got {radius}")
    source = _as_tensor(mask).bool()
    if source.ndim not in (2, 3):
        raise ValueError(f"mask must be H x W or B x H x W, got shape {tuple(source.shape)}")
    if radius == 0:
        return source.clone()
    height, width = source.shape[-2:]
    padded = F.pad(source.to(torch.uint8), (radius, radius, radius, radius)).bool()
    out = torch.zeros_like(source)
    for dy, dx in disk_offsets(radius):
        out |= padded[..., radius + dy : radius + dy + height, radius + dx : radius + dx + width]
    return out


def pointing_game(mask_up: ArrayLike, object_mask: ArrayLike, tolerance_px: int) -> bool:
    """Whether the peak of ``mask_up`` (H x W, at image size) lies on the object dilated by ``tolerance_px``.

    Ties go to the first peak in row-major order (``argmax``). A constant map
    has no peak to point with, so it is a miss rather than a hit or miss
    decided by whether the top-left pixel happens to be on the object.
    """
    saliency = _floating(_as_tensor(mask_up))
    target = _as_tensor(object_mask).bool()
    _check_pair(saliency, target)
    if not bool(target.any()) or bool(saliency.max() == saliency.min()):
        return False
    flat_index = int(torch.argmax(saliency))
    y, x = divmod(flat_index, saliency.shape[1])
    return _near_object(target, y, x, tolerance_px)


def _near_object(target: torch.Tensor, y: int, x: int, radius: int) -> bool:
    """``dilate(target, radius)[y, x]`` without dilating the whole mask.

    The disk is symmetric, so the dilated mask is set at (y, x) exactly when an
    object pixel lies within the disk around (y, x): only that window is read,
    which keeps per-image scoring cheap.
    """
    if radius < 0:
        raise ValueError(f"tolerance must be >= 0, got {radius}")
    height, width = target.shape
    top, left = max(0, y - radius), max(0, x - radius)
    window = target[top : min(height, y + radius + 1), left : min(width, x + radius + 1)]
    ys = torch.arange(top, top + window.shape[0])[:, None] - y
    xs = torch.arange(left, left + window.shape[1])[None, :] - x
    return bool((window & (ys * ys + xs * xs <= radius * radius)).any())


def energy_inside(mask_up: ArrayLike, object_mask: ArrayLike) -> float:
    """Share of the map's total mass that lies on the object (0..1), for a non-negative map.

    A map with no mass at all (Grad-CAM after its ReLU can be all zero)
    expresses no preference, so it is scored like a uniform map, i.e. as the
    object's share of the image - the same way ``auroc`` scores it 0.5.
    """
    saliency = _as_tensor(mask_up, torch.float64)
    target = _as_tensor(object_mask).bool()
    _check_pair(saliency, target)
    if bool((saliency < 0).any()):
        raise ValueError("energy_inside needs a non-negative map (a share of mass is undefined otherwise)")
    total = float(saliency.sum())
    if total <= 0.0:
        return float(target.double().mean())
    return float(saliency[target].sum()) / total


def auroc(scores: ArrayLike | Sequence[float], labels: ArrayLike | Sequence[bool]) -> float:
    """Area under the ROC curve of ``scores`` for ``labels`` (True = positive), with ties counted half.

    Computed as the Mann-Whitney U statistic from ranks: with average ranks
    for tied scores, AUROC = (sum of positive ranks - P(P+1)/2) / (P N), which
    is the probability that a random positive outscores a random negative,
    ties counting 1/2. Sorting once makes it O(n log n), so it is cheap for
    every pixel of every image.

    Raises ValueError if there is no positive or no negative, or a score is NaN.
    """
    values = np.asarray(scores.detach().cpu() if isinstance(scores, torch.Tensor) else scores, dtype=np.float64)
    flags = np.asarray(labels.detach().cpu() if isinstance(labels, torch.Tensor) else labels).astype(bool)
    values, flags = values.reshape(-1), flags.reshape(-1)
    if values.shape != flags.shape:
        raise ValueError(f"scores and labels differ in size: {values.size} vs {flags.size}")
    if np.isnan(values).any():
        raise ValueError("auroc got NaN scores")
    positives = int(flags.sum())
    negatives = flags.size - positives
    if positives == 0 or negatives == 0:
        raise ValueError("auroc needs at least one positive and one negative")
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    last_rank = np.cumsum(counts)  # 1-based rank of the last member of each tie group
    average_rank = last_rank - (counts - 1) / 2.0
    rank_sum = float(average_rank[inverse.reshape(-1)][flags].sum())
    u_statistic = rank_sum - positives * (positives + 1) / 2.0
    return u_statistic / (positives * negatives)


def centre_prior(height: int, width: int) -> torch.Tensor:
    """A centred isotropic Gaussian (H x W, peak 1) with sigma = side / 4.

    The baseline that needs no model: photographers and dataset generators
    both favour the centre, so an attention map has to beat this to show it
    looks at the object rather than at where objects usually are.
    """
    sigma = image_side(height, width) / 4.0
    ys = torch.arange(height, dtype=torch.float32) + 0.5 - height / 2.0
    xs = torch.arange(width, dtype=torch.float32) + 0.5 - width / 2.0
    squared = ys[:, None] ** 2 + xs[None, :] ** 2
    return torch.exp(-squared / (2.0 * sigma * sigma))


def upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of (B, h, w) maps to (B, H, W); bilinear never leaves the input's value range."""
    maps = _floating(maps)
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def precise_mask(record: SpatialRecord, module: nn.Module) -> torch.Tensor:
    """The layer's mask recomputed in float64 from its recorded logits.

    A trained sigmoid mask saturates: in float32 many pixels round to exactly
    1.0 (on the first shipped shapes model, 14 pixels per image on average
    at the 16x16 layer and about 100 at the 32x32 one). The pointing game's argmax would
    then pick the first of the tied pixels in row-major order, not the one
    the layer favours, and AUROC would count them as ties. float64 keeps
    sigmoid(x) below 1 up to x of about 36, so the order of the network's
    own logits survives; the values are the same mask to float32 precision.
    """
    if record.logits is None:
        return record.mask.double()
    gate = getattr(module, "gate", torch.sigmoid)
    return gate(record.logits.double())


def displayed_mask(record: SpatialRecord) -> torch.Tensor:
    """The layer's mask as users see it: the recorded float32 mask rounded to ``DISPLAY_DIGITS`` decimals.

    Rounded in float64 the way the JSON export rounds it, and kept in float64 so
    upsampling cannot break or create ties of its own. Scored next to
    ``precise_mask``: the gap between the two is what saturation hides from users.
    """
    values = record.mask.float().numpy().astype(np.float64)
    return torch.from_numpy(np.round(values, DISPLAY_DIGITS))


def mask_range(maps: torch.Tensor) -> torch.Tensor:
    """max - min of each (h, w) map in a (B, h, w) batch: how much the mask separates anything at all."""
    flat = maps.reshape(maps.shape[0], -1)
    return flat.amax(dim=1) - flat.amin(dim=1)
