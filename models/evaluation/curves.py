"""Deletion and insertion curves (Petsiuk et al., RISE): is a saliency map faithful to what the model uses?

Pointing at the object (``localization``) says nothing about whether the model
*needs* those pixels. These curves ask the model itself:

* **deletion** - replace the map's most salient pixels by a baseline, a
  fraction of the image at a time, and follow the probability of the class the
  model predicted on the whole image. A faithful map makes it fall fast: a low
  area under the curve (AUC).
* **insertion** - start from the baseline and put the most salient pixels
  back. A faithful map makes the probability rise fast: a high AUC.

The baseline is the dataset mean, i.e. zeros of the normalised input. Its
value is the one the network saw during training wherever random erasing
blanked a patch (the fashion recipe), it needs no parameter (a blur needs a
radius, and a blur of a 28 px silhouette still shows the silhouette), and every
map is compared against the same neutral image.

Every map is ranked per image (ties in row-major order, so the centre prior's
symmetric rings are ranked the same on every image); all channels of a pixel
are replaced together; each step runs the batch's deleted and inserted images
in one forward pass.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from attention.recorder import AttentionRecorder, SpatialRecord, find_attention_layers

from .gradcam import default_gradcam_layer, grad_cam
from .localization import centre_prior, precise_mask, upsample

LOGGER = logging.getLogger(__name__)

DEFAULT_STEPS = 16
"""Fractions 0, 1/16, ..., 1 of the pixels: fine enough for a smooth AUC; 16 passes of twice the batch per map."""

CENTRE_PRIOR = "centre_prior"
RANDOM = "random"
GRAD_CAM = "grad_cam"
ROLLOUT = "rollout"  # a vision transformer's attention rollout from its class token


@dataclass(frozen=True)
class Curves:
    """Deletion and insertion curves of one map kind for a batch."""

    fractions: np.ndarray  # (S + 1,) share of the pixels deleted / inserted at each step, 0 .. 1
    deletion: np.ndarray  # (B, S + 1) probability of the target class
    insertion: np.ndarray  # (B, S + 1)
    targets: np.ndarray  # (B,) the class followed: the prediction on the whole image unless given


def pixel_ranks(saliency: torch.Tensor) -> torch.Tensor:
    """Rank (0 = most salient) of every pixel of each (H, W) map, as (B, H*W); ties in row-major order."""
    flat = saliency.reshape(saliency.shape[0], -1).double()
    order = torch.argsort(flat, dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order)
    positions = torch.arange(flat.shape[1], device=order.device).expand_as(order)
    ranks.scatter_(1, order, positions)
    return ranks


def step_counts(pixels: int, steps: int) -> list[int]:
    """Pixels changed at each of the ``steps + 1`` points: round(k * pixels / steps), from 0 to all."""
    if steps < 1:
        raise ValueError(f"need at least one step, got {steps}")
    return [int(round(k * pixels / steps)) for k in range(steps + 1)]


def curve_auc(fractions: np.ndarray | list[float], values: np.ndarray) -> np.ndarray:
    """Trapezoid area under each curve (last axis) over the fractions 0..1; (B,) for (B, S + 1) values."""
    x = np.asarray(fractions, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or y.shape[-1] != x.shape[0] or x.shape[0] < 2:
        raise ValueError(f"need a curve over the same points as the fractions, got {y.shape} and {x.shape}")
    return ((y[..., 1:] + y[..., :-1]) * np.diff(x) / 2.0).sum(axis=-1)


@torch.no_grad()
def deletion_insertion(
    model: nn.Module,
    images: torch.Tensor,
    saliency: torch.Tensor,
    baseline: torch.Tensor | None = None,
    steps: int = DEFAULT_STEPS,
    target: torch.Tensor | None = None,
) -> Curves:
    """Deletion and insertion curves of ``saliency`` (B, H, W) for ``images`` (B, C, H, W).

    ``baseline`` (broadcastable to the images) defaults to zeros, the dataset
    mean of a normalised input. ``target`` is the class followed per image
    (default: the model's prediction on the whole image). The model runs in
    eval mode and its mode is restored.
    """
    if images.ndim != 4 or saliency.shape != (images.shape[0], *images.shape[-2:]):
        raise ValueError(f"need (B, H, W) maps for (B, C, H, W) images, got {tuple(saliency.shape)}")
    if baseline is None:
        baseline = torch.zeros((), dtype=images.dtype, device=images.device)
    baseline = baseline.to(images.device, images.dtype).expand_as(images)
    batch, _, height, width = images.shape
    was_training = model.training
    model.eval()
    try:
        # The two ends need no map: the whole image and the baseline, in one pass.
        ends = torch.softmax(model(torch.cat([images, baseline])).float(), dim=1)
        if target is None:
            target = ends[:batch].argmax(dim=1)
        target = torch.as_tensor(target, dtype=torch.long, device=images.device).expand(batch)
        pair = torch.cat([target, target])[:, None]
        whole, empty = ends.gather(1, pair)[:, 0].cpu().numpy().reshape(2, batch)
        ranks = pixel_ranks(saliency.to(images.device)).reshape(batch, 1, height, width)
        counts = step_counts(height * width, steps)
        deletion = np.empty((batch, len(counts)))
        insertion = np.empty((batch, len(counts)))
        deletion[:, 0], deletion[:, -1], insertion[:, 0], insertion[:, -1] = whole, empty, empty, whole
        for index in range(1, len(counts) - 1):
            chosen = ranks < counts[index]
            both = torch.cat([torch.where(chosen, baseline, images), torch.where(chosen, images, baseline)])
            followed = torch.softmax(model(both).float(), dim=1).gather(1, pair)[:, 0].cpu().numpy()
            deletion[:, index], insertion[:, index] = followed[:batch], followed[batch:]
    finally:
        model.train(was_training)
    fractions = np.asarray(counts, dtype=np.float64) / (height * width)
    return Curves(fractions, deletion, insertion, target.cpu().numpy())


def block_of(model: nn.Module, layer_name: str) -> str:
    """The block an attention layer sits in: its nearest ancestor holding a 2-D convolution of its own.

    Convolutions inside attention modules (a spatial gate's 7x7) do not count,
    so ``stages.0.0.attention.spatial`` and ``stages.0.0.attention.channel``
    both give ``stages.0.0`` in this project's networks. That block's output
    is where Grad-CAM is compared with the layer's mask. Falls back to the
    model's default Grad-CAM layer when no ancestor qualifies.
    """
    attention = [name for name, _, _ in find_attention_layers(model)]

    def in_attention(name: str) -> bool:
        return any(name == layer or name.startswith(layer + ".") for layer in attention)

    convolutions = [name for name, module in model.named_modules() if isinstance(module, nn.Conv2d)]
    own = [name for name in convolutions if not in_attention(name)]
    parts = layer_name.split(".")
    for depth in range(len(parts) - 1, 0, -1):
        ancestor = ".".join(parts[:depth])
        if any(name.startswith(ancestor + ".") for name in own):
            return ancestor
    return default_gradcam_layer(model)[0]


class _Tally:
    """Sums of one map kind's per-image AUCs and curves, averaged at the end."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = size
        self.n = 0
        self.deletion_auc = 0.0
        self.insertion_auc = 0.0
        self.deletion: np.ndarray | None = None
        self.insertion: np.ndarray | None = None
        self.fractions: np.ndarray | None = None

    def add(self, curves: Curves) -> None:
        self.fractions = curves.fractions
        self.n += curves.deletion.shape[0]
        self.deletion_auc += float(curve_auc(curves.fractions, curves.deletion).sum())
        self.insertion_auc += float(curve_auc(curves.fractions, curves.insertion).sum())
        deletion, insertion = curves.deletion.sum(axis=0), curves.insertion.sum(axis=0)
        self.deletion = deletion if self.deletion is None else self.deletion + deletion
        self.insertion = insertion if self.insertion is None else self.insertion + insertion

    def summary(self) -> dict[str, Any]:
        n = max(self.n, 1)
        return {
            "deletion_auc": self.deletion_auc / n,
            "insertion_auc": self.insertion_auc / n,
            "size": list(self.size),
            "n": self.n,
            "deletion_curve": (np.asarray(self.deletion) / n).tolist(),
            "insertion_curve": (np.asarray(self.insertion) / n).tolist(),
        }


def _batches(loader: Iterable) -> Iterable[torch.Tensor]:
    for item in loader:
        yield item[0] if isinstance(item, (tuple, list)) else item


def _attention_maps(model: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every spatial layer's mask (float64, from its logits) for the batch, keyed by layer name."""
    modules = dict(model.named_modules())
    with torch.inference_mode(), AttentionRecorder(model) as recorder:
        model(images)
    maps: dict[str, torch.Tensor] = {}
    for record in recorder.records:
        if isinstance(record, SpatialRecord) and record.name not in maps:
            maps[record.name] = precise_mask(record, modules[record.name])
    return maps


def curve_scores(
    model: nn.Module,
    loader: Iterable,
    steps: int = DEFAULT_STEPS,
    seed: int = 0,
    progress: bool = False,
    total: int | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Mean deletion and insertion AUCs over ``loader``'s images for every SA mask and three references.

    The references: the centre prior, a random map (uniform noise per pixel,
    drawn from a generator seeded with ``seed``), and Grad-CAM of the predicted
    class at the block of the best spatial layer (highest insertion minus
    deletion AUC), so the attention and the gradients are compared where the
    attention acts. That choice needs the SA results first, hence two passes
    over the data; the second computes only Grad-CAM's curves.

    Returns (rows keyed by layer name, then "centre_prior", "random", "grad_cam";
    settings: steps, baseline, the Grad-CAM layer, the best spatial layer, images).
    """
    model_was_training = model.training
    model.eval()
    try:
        batches = list(_batches(loader))  # two passes; at most a few hundred small images
        generator = torch.Generator().manual_seed(seed)
        rows: dict[str, _Tally] = {}
        count = total or sum(len(images) for images in batches)
        bar = tqdm(total=2 * count, desc="curves", unit="img", leave=False, disable=not progress)
        for images in batches:
            height, width = images.shape[-2:]
            maps = _attention_maps(model, images)
            maps[CENTRE_PRIOR] = centre_prior(height, width).expand(images.shape[0], height, width)
            maps[RANDOM] = torch.rand((images.shape[0], height, width), generator=generator)
            for key, raw in maps.items():
                curves = deletion_insertion(model, images, upsample(raw, (height, width)), None, steps)
                rows.setdefault(key, _Tally(tuple(int(s) for s in raw.shape[-2:]))).add(curves)
            bar.update(len(images))
        spatial = [key for key in rows if key not in (CENTRE_PRIOR, RANDOM)]
        best = max(spatial, key=lambda k: rows[k].insertion_auc - rows[k].deletion_auc) if spatial else None
        cam_layer = block_of(model, best) if best is not None else default_gradcam_layer(model)[0]
        for images in batches:
            cam = torch.from_numpy(grad_cam(model, images, cam_layer))
            saliency = upsample(cam, tuple(images.shape[-2:]))
            rows.setdefault(GRAD_CAM, _Tally(tuple(int(s) for s in cam.shape[-2:]))).add(
                deletion_insertion(model, images, saliency, None, steps)
            )
            bar.update(len(images))
        bar.close()
    finally:
        model.train(model_was_training)
    ordered = [*spatial, CENTRE_PRIOR, RANDOM, GRAD_CAM]
    result = {key: rows[key].summary() for key in ordered if key in rows}
    fractions = rows[RANDOM].fractions if RANDOM in rows else None
    settings = {
        "steps": steps,
        "baseline": "dataset mean (zeros of the normalised input)",
        "fractions": None if fractions is None else fractions.tolist(),
        "grad_cam_layer": cam_layer,
        "best_spatial_layer": best,
        "random_seed": seed,
        "images": rows[RANDOM].n if RANDOM in rows else 0,
    }
    LOGGER.info("curves on %d images; best spatial layer %s", settings["images"], best)
    return result, settings
