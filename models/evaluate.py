"""Evaluate a checkpoint: accuracy, confusion matrix, and whether its spatial attention finds the object.

Accuracy alone says nothing about what the attention modules learned. The
shapes dataset knows every object's exact pixel mask, so each spatial-attention
(SA) layer can be scored against it, image by image:

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

Usage::

    python -m models.evaluate CHECKPOINT [--dataset NAME] [--split test] [--limit N]
        [--batch-size 128] [--json OUT.json] [--data-root DIR] [--no-progress]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.hooks import RemovableHandle
from tqdm import tqdm

from attention.errors import InputError
from attention.recorder import AttentionRecorder, SpatialRecord

from .checkpoint import LoadedModel, load_checkpoint
from .datasets import DATASET_INFO, build_dataset, canonical_dataset_name
from .train import eval_transform, evaluate_accuracy

LOGGER = logging.getLogger(__name__)

TOLERANCE_FRACTION = 0.04
"""Pointing-game tolerance as a fraction of the image side: a peak on the object's anti-aliased
outline, or one pixel off after bilinear upsampling of a coarse map, should still count as a hit."""

CENTRE_PRIOR = "centre_prior"
GRAD_CAM = "grad_cam"

ArrayLike = torch.Tensor | np.ndarray


# --------------------------------------------------------------------------------------
# Scores for one map against one object mask
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# Grad-CAM
# --------------------------------------------------------------------------------------


class GradCAMOutput(NamedTuple):
    maps: torch.Tensor  # (B, h, w) at the target layer's resolution, >= 0
    logits: torch.Tensor  # (B, K), detached
    targets: torch.Tensor  # (B,) class index each map explains


def default_gradcam_layer(model: nn.Module) -> tuple[str, nn.Module]:
    """(name, module) of the last convolutional stage: the deepest layer that still has a spatial layout.

    ``stages[-1]`` for this project's AttentionResNet, ``layer4`` for torchvision ResNets.
    """
    stages = getattr(model, "stages", None)
    if isinstance(stages, nn.Sequential) and len(stages) > 0:
        return f"stages.{len(stages) - 1}", stages[-1]
    layer4 = getattr(model, "layer4", None)
    if isinstance(layer4, nn.Module):
        return "layer4", layer4
    raise ValueError("no default Grad-CAM layer for this model (no .stages or .layer4); pass target_layer")


class GradCAM:
    """Grad-CAM (Selvaraju et al.) on one layer, as a context manager that owns its hook.

    ``maps = ReLU(sum_k mean_xy(d logit_c / d A_k) * A_k)`` for the activation
    ``A`` of ``target_layer`` and the predicted (or given) class ``c``.

    Usage::

        with GradCAM(model) as cam:
            out = cam(images)        # out.maps (B, h, w), out.logits, out.targets

    The forward hook exists only between ``__enter__`` and ``__exit__`` and is
    removed even when the body raises; ``__exit__`` never swallows the error.
    A call leaves the model as it found it: its train/eval mode is restored,
    parameters' ``requires_grad`` is never touched and no ``.grad`` is written,
    because the gradient is taken with ``torch.autograd.grad`` with respect to
    the activation only, flowing from a requires-grad copy of the input (which
    also makes it work for a model with frozen parameters). The model runs in
    eval mode during the call because batch-norm statistics of a training-mode
    batch would mix the images' gradients. Not for concurrent use from several
    threads on one instance.
    """

    def __init__(self, model: nn.Module, target_layer: nn.Module | str | None = None) -> None:
        self.model = model
        if target_layer is None:
            self.layer_name, self.layer = default_gradcam_layer(model)
        elif isinstance(target_layer, str):
            modules = dict(model.named_modules())
            if target_layer not in modules:
                raise ValueError(f"model has no layer named {target_layer!r}")
            self.layer_name, self.layer = target_layer, modules[target_layer]
        else:
            names = [name for name, module in model.named_modules() if module is target_layer]
            if not names:
                raise ValueError("target_layer is not a submodule of model")
            self.layer_name, self.layer = names[0], target_layer
        self._handle: RemovableHandle | None = None
        self._activation: torch.Tensor | None = None

    @property
    def active(self) -> bool:
        return self._handle is not None

    def _keep_activation(self, _module: nn.Module, _inputs: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor):
            self._activation = output

    def __enter__(self) -> GradCAM:
        if self._handle is not None:
            raise RuntimeError("this GradCAM is already active")
        self._handle = self.layer.register_forward_hook(self._keep_activation)
        return self

    def __exit__(self, *exc_info: object) -> None:
        # Returning None (not True) lets any exception from the body propagate.
        handle, self._handle = self._handle, None
        self._activation = None
        if handle is not None:
            handle.remove()

    def __call__(self, images: torch.Tensor, target: torch.Tensor | int | None = None) -> GradCAMOutput:
        """Grad-CAM maps for a batch (B, C, H, W), explaining ``target`` (default: the predicted class)."""
        if self._handle is None:
            raise RuntimeError("use GradCAM inside a `with` block, which installs its hook")
        was_training = self.model.training
        self._activation = None
        try:
            self.model.eval()
            # inference_mode(False) + enable_grad: works even when called from a no-grad caller.
            with torch.inference_mode(False), torch.enable_grad():
                inputs = images.detach().clone().requires_grad_(True)
                logits = self.model(inputs)
                activation = self._activation
                if activation is None:
                    raise RuntimeError(f"layer {self.layer_name} did not run in the forward pass")
                if target is None:
                    chosen = logits.argmax(dim=1)
                else:
                    chosen = torch.as_tensor(target, dtype=torch.long).expand(logits.shape[0])
                # Samples are independent in eval mode, so one backward pass of the summed
                # class logits gives every image's own gradient.
                score = logits.gather(1, chosen[:, None].to(logits.device)).sum()
                (gradient,) = torch.autograd.grad(score, activation)
            weights = gradient.mean(dim=(2, 3), keepdim=True)
            maps = torch.relu((weights * activation.detach()).sum(dim=1))
            return GradCAMOutput(maps.detach(), logits.detach(), chosen.detach())
        finally:
            self._activation = None
            self.model.train(was_training)


# --------------------------------------------------------------------------------------
# Evaluating a checkpoint
# --------------------------------------------------------------------------------------


class _Scores:
    """Per-image scores of one map kind, averaged at the end."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = size
        self.hits: list[bool] = []
        self.energy: list[float] = []
        self.auroc: list[float] = []
        self.empty_maps = 0

    def add(self, saliency: torch.Tensor, object_mask: torch.Tensor, tolerance: int) -> None:
        if float(saliency.sum()) <= 0.0:
            self.empty_maps += 1
        self.hits.append(pointing_game(saliency, object_mask, tolerance))
        self.energy.append(energy_inside(saliency, object_mask))
        self.auroc.append(auroc(saliency, object_mask))

    def summary(self) -> dict[str, Any]:
        def mean(values: list[float]) -> float:
            return float(np.mean(values)) if values else float("nan")

        return {
            "pointing_game": mean([float(hit) for hit in self.hits]),
            "energy_inside": mean(self.energy),
            "auroc": mean(self.auroc),
            "size": list(self.size),
            "n": len(self.hits),
            "empty_maps": self.empty_maps,
        }


def resolve_dataset(loaded: LoadedModel, dataset_name: str | None) -> str:
    """Canonical dataset name: the one given, else the one the checkpoint was trained on."""
    name = dataset_name or loaded.training.get("dataset")
    if not name:
        raise InputError(f"{loaded.name} does not say which dataset it was trained on; pass --dataset")
    try:
        return canonical_dataset_name(str(name))
    except ValueError as error:
        raise InputError(str(error)) from error


def _open_dataset(
    loaded: LoadedModel, dataset: str, split: str, limit: int | None, data_root: str | None, seed: int
) -> Dataset:
    """The evaluation split, built the way models.train builds it so scores are comparable."""
    options: dict[str, Any] = {
        "root": data_root,
        "seed": seed,
        "length": limit,
        "transform": eval_transform(loaded.preprocessing),
    }
    if dataset == "shapes":
        options["size"] = loaded.preprocessing.input_size[0]
    try:
        data = build_dataset(dataset, split, **options)
    except (ValueError, OSError) as error:  # unknown split, missing files, unreadable folder
        raise InputError(f"cannot open {dataset}/{split}: {error}") from error
    classes = list(getattr(data, "classes", loaded.classes))
    if classes != list(loaded.classes):
        raise InputError(
            f"{loaded.name} predicts {loaded.classes} but {dataset} has classes {classes}; "
            "pass the --dataset it was trained on"
        )
    if len(data) == 0:  # type: ignore[arg-type]
        raise InputError(f"{dataset}/{split} has no images")
    return data


def localization_scores(
    model: nn.Module,
    dataset: Any,
    transform: Any,
    batch_size: int = 128,
    progress: bool = False,
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Score every SA layer, the centre prior and Grad-CAM against the object masks of ``dataset``.

    ``dataset.sample(i)`` must give ``(uint8 image, bool object mask, label)``
    (as ShapesDataset does). Maps are upsampled bilinearly to the mask's size
    and scored per image, then averaged. One forward + backward pass per batch
    serves both the attention recorder and Grad-CAM. Images whose mask is
    empty or covers everything (AUROC undefined) are skipped and counted.

    Returns (rows keyed by layer name, "centre_prior" and "grad_cam"; settings
    such as the tolerance and the mean object share of the image).
    """
    from PIL import Image

    rows: dict[str, _Scores] = {}
    modules = dict(model.named_modules())
    cam = GradCAM(model)
    prior: torch.Tensor | None = None
    skipped = 0
    object_share: list[float] = []
    dilated_share: list[float] = []
    tolerance = 0
    starts = range(0, len(dataset), batch_size)
    for start in tqdm(starts, desc="localization", leave=False, disable=not progress, unit="batch"):
        samples = [dataset.sample(i) for i in range(start, min(start + batch_size, len(dataset)))]
        batch = torch.stack([transform(Image.fromarray(np.ascontiguousarray(image))) for image, _, _ in samples])
        masks = torch.stack([torch.from_numpy(np.array(mask, dtype=bool)) for _, mask, _ in samples])
        height, width = masks.shape[-2:]
        tolerance = tolerance_px(height, width)
        if prior is None:
            prior = centre_prior(height, width)
        with AttentionRecorder(model) as recorder, cam:
            grad_cam = cam(batch)
        maps: dict[str, torch.Tensor] = {}
        seen: dict[str, int] = {}
        for record in recorder.records:
            if not isinstance(record, SpatialRecord):
                continue
            seen[record.name] = seen.get(record.name, 0) + 1
            key = record.name if seen[record.name] == 1 else f"{record.name}#{seen[record.name]}"
            maps[key] = precise_mask(record, modules[record.name])
        maps[GRAD_CAM] = grad_cam.maps
        for key, value in maps.items():
            rows.setdefault(key, _Scores(tuple(int(s) for s in value.shape[-2:])))
        rows.setdefault(CENTRE_PRIOR, _Scores((height, width)))
        upsampled = {key: upsample(value, (height, width)) for key, value in maps.items()}
        dilated = dilate(masks, tolerance)
        for index in range(len(samples)):
            mask = masks[index]
            covered = int(mask.sum())
            if covered == 0 or covered == mask.numel():
                skipped += 1
                continue
            object_share.append(covered / mask.numel())
            dilated_share.append(float(dilated[index].float().mean()))
            rows[CENTRE_PRIOR].add(prior, mask, tolerance)
            for key, value in upsampled.items():
                rows[key].add(value[index], mask, tolerance)
    if skipped:
        LOGGER.warning("skipped %d images whose object mask is empty or covers the whole image", skipped)
    # Attention layers in forward order, then the two references.
    ordered = [key for key in rows if key not in (CENTRE_PRIOR, GRAD_CAM)] + [CENTRE_PRIOR, GRAD_CAM]
    result = {key: rows[key].summary() for key in ordered if key in rows}
    settings = {
        "tolerance_px": tolerance,
        "grad_cam_layer": cam.layer_name,
        "images_scored": len(object_share),
        "images_skipped": skipped,
        "object_share": float(np.mean(object_share)) if object_share else float("nan"),
        "dilated_object_share": float(np.mean(dilated_share)) if dilated_share else float("nan"),
    }
    return result, settings


def evaluate_checkpoint(
    loaded: LoadedModel,
    dataset_name: str | None = None,
    split: str = "test",
    limit: int | None = None,
    batch_size: int = 128,
    progress: bool = True,
    *,
    data_root: str | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """Accuracy, confusion matrix and (for datasets with object masks) attention localization scores.

    The dataset defaults to the one the checkpoint was trained on and is
    preprocessed with the checkpoint's own preprocessing; ``seed`` defaults to
    the training seed, so shapes' test split is the very scenes the
    checkpoint's stored test accuracy was measured on. ``limit`` keeps the
    first N images. ``localization`` is None when the dataset has no masks.

    Raises InputError for a dataset that cannot be opened or does not match the checkpoint.
    """
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be at least 1, got {limit}")
    if batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {batch_size}")
    dataset_name = resolve_dataset(loaded, dataset_name)
    seed = int(loaded.training.get("seed", 0)) if seed is None else int(seed)
    data = _open_dataset(loaded, dataset_name, split, limit, data_root, seed)
    count = len(data)  # type: ignore[arg-type]
    LOGGER.info("evaluating %s on %s/%s (%d images)", loaded.name, dataset_name, split, count)

    loader = DataLoader(data, batch_size=batch_size, shuffle=False, num_workers=0)
    accuracy, loss, confusion = evaluate_accuracy(loaded.model, loader, len(loaded.classes), progress, "accuracy")
    result: dict[str, Any] = {
        "checkpoint": loaded.source,
        "arch": loaded.arch,
        "dataset": dataset_name,
        "split": split,
        "n": int(count),
        "classes": list(loaded.classes),
        "accuracy": accuracy,
        "loss": loss,
        "confusion_matrix": confusion.tolist(),
        "localization": None,
        "localization_settings": None,
    }
    has_masks = bool(DATASET_INFO.get(dataset_name, {}).get("has_masks")) and hasattr(data, "sample")
    if has_masks:
        rows, settings = localization_scores(
            loaded.model, data, eval_transform(loaded.preprocessing), batch_size, progress
        )
        result["localization"] = rows
        result["localization_settings"] = settings
    else:
        LOGGER.info("%s has no object masks: skipping the localization scores", dataset_name)
    return result


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def format_confusion(confusion: Sequence[Sequence[int]], classes: Sequence[str]) -> str:
    """The confusion matrix as a text table: rows = true class, columns = predicted, plus recall."""
    matrix = np.asarray(confusion, dtype=np.int64)
    label_width = max(len("true \\ predicted"), *(len(name) for name in classes))
    cell = max(5, *(len(name) for name in classes), len(str(int(matrix.max(initial=0)))))
    header = "true \\ predicted".ljust(label_width) + "".join(f" {name:>{cell}}" for name in classes)
    header += f" {'total':>6} {'recall':>7}"
    lines = [header]
    for index, (name, row) in enumerate(zip(classes, matrix, strict=True)):
        total = int(row.sum())
        recall = f"{row[index] / total:.1%}" if total else "-"
        lines.append(name.ljust(label_width) + "".join(f" {int(v):>{cell}}" for v in row) + f" {total:>6} {recall:>7}")
    return "\n".join(lines)


def _display_name(key: str, settings: dict[str, Any]) -> str:
    if key == CENTRE_PRIOR:
        return "centre prior (baseline)"
    if key == GRAD_CAM:
        return f"Grad-CAM {settings.get('grad_cam_layer', '')} (baseline)"
    return key


def format_localization(rows: dict[str, dict[str, Any]], settings: dict[str, Any]) -> str:
    """Localization scores as a text table: one row per map kind, columns pointing game / energy / AUROC."""
    names = {key: _display_name(key, settings) for key in rows}
    width = max(len("map"), *(len(name) for name in names.values()))
    lines = [f"{'map':<{width}} {'size':>7} {'pointing game':>14} {'energy inside':>14} {'AUROC':>7}"]
    for key, row in rows.items():
        size = "x".join(str(s) for s in row["size"])
        scores = f"{row['pointing_game']:>14.3f} {row['energy_inside']:>14.3f} {row['auroc']:>7.3f}"
        lines.append(f"{names[key]:<{width}} {size:>7} {scores}")
        if row.get("empty_maps"):
            lines[-1] += f"  ({row['empty_maps']} all-zero maps)"
    lines.append(
        f"pointing tolerance {settings['tolerance_px']} px. For reference: objects cover "
        f"{settings['object_share']:.1%} of the image ({settings['dilated_object_share']:.1%} with the tolerance),"
    )
    lines.append("which a uniform map scores on energy inside (and roughly on pointing game); AUROC 0.5 is chance.")
    return "\n".join(lines)


def format_report(result: dict[str, Any]) -> str:
    lines = [
        f"{Path(result['checkpoint']).name} ({result['arch']}) on {result['dataset']}/{result['split']}: "
        f"{result['n']} images",
        f"accuracy {result['accuracy']:.2%}   mean loss {result['loss']:.4f}",
        "",
        "Confusion matrix",
        format_confusion(result["confusion_matrix"], result["classes"]),
    ]
    if result["localization"] is not None:
        settings = result["localization_settings"]
        lines += [
            "",
            f"Localization against the object masks ({settings['images_scored']} images, maps upsampled to image size)",
            format_localization(result["localization"], settings),
        ]
    return "\n".join(lines)


def _json_ready(value: Any) -> Any:
    """NaN/inf become null: they are not valid JSON, and other tools would refuse the file."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m models.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", help="checkpoint path or shipped name (shapes, fashion)")
    parser.add_argument("--dataset", help="dataset to evaluate on (default: the one the checkpoint was trained on)")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--limit", type=int, help="evaluate only the first N images")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--json", dest="json_path", help="also write every number to this JSON file")
    parser.add_argument("--data-root", help="dataset folder (Fashion-MNIST IDX files, or an image folder)")
    parser.add_argument("--no-progress", action="store_true", help="hide tqdm bars")
    parser.add_argument("--verbose", action="store_true", help="log progress details to stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if not args.verbose:
        # Its warnings repeat what the CheckpointError says; a failed load must be one line.
        logging.getLogger("models.checkpoint").setLevel(logging.ERROR)
    json_path = Path(args.json_path) if args.json_path else None
    try:
        if json_path is not None:
            # Fail before a long evaluation, not after it, when the report cannot be written.
            try:
                json_path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise InputError(f"cannot write {json_path}: {error.strerror or error}") from error
        loaded = load_checkpoint(args.checkpoint)
        result = evaluate_checkpoint(
            loaded,
            args.dataset,
            args.split,
            args.limit,
            args.batch_size,
            not args.no_progress,
            data_root=args.data_root,
        )
        if json_path is not None:
            try:
                json_path.write_text(json.dumps(_json_ready(result), indent=2) + "\n")
            except OSError as error:
                raise InputError(f"cannot write {json_path}: {error.strerror or error}") from error
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_report(result))
    if json_path is not None:
        print(f"\nwrote {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
