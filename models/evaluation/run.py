"""Evaluate a checkpoint: accuracy, confusion matrix, and how well its spatial attention finds the object.

Accuracy alone says nothing about what the attention modules learned. On a
dataset with object masks (shapes), every spatial-attention layer is scored
against them (see ``localization``), next to two references computed on the
same images: a centre prior, which needs no model, and Grad-CAM on the same
model. Training imports ``evaluate_accuracy`` from here; nothing here imports
training.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from attention.errors import InputError
from attention.recorder import AttentionRecorder, SpatialRecord
from attention.records import TokenRecord
from attention.tokens import rollout, token_layout

from ..checkpoint import LoadedModel
from ..datasets import DATASET_INFO, build_dataset, canonical_dataset_name
from ..datasets.factory import EVALUATION_ONLY
from ..datasets.shapes_camera import EVERY_BAND
from ..transforms import eval_transform
from .curves import CENTRE_PRIOR, DEFAULT_STEPS, GRAD_CAM, ROLLOUT, curve_scores
from .gradcam import GradCAM
from .localization import (
    auroc,
    centre_prior,
    dilate,
    displayed_mask,
    energy_inside,
    mask_range,
    pointing_game,
    precise_mask,
    tolerance_px,
    upsample,
)

LOGGER = logging.getLogger(__name__)


@torch.no_grad()
def evaluate_accuracy(
    model: nn.Module,
    loader: Iterable,
    num_classes: int,
    progress: bool = False,
    desc: str = "eval",
    device: torch.device | str = "cpu",
) -> tuple[float, float, np.ndarray]:
    """(accuracy, mean loss, confusion matrix [true, predicted]) in eval mode.

    ``device`` is where the model's weights are; batches are moved there.
    Restores the model's previous train/eval mode afterwards.
    """
    was_training = model.training
    model.eval()
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    total_loss, count = 0.0, 0
    try:
        for images, labels in tqdm(loader, desc=desc, leave=False, disable=not progress):
            logits = model(images.to(device, non_blocking=True))
            labels_here = labels.to(device, non_blocking=True)
            total_loss += float(nn.functional.cross_entropy(logits, labels_here, reduction="sum"))
            predicted = logits.argmax(1).cpu()
            np.add.at(confusion, (labels.numpy(), predicted.numpy()), 1)
            count += len(labels)
    finally:
        model.train(was_training)
    accuracy = float(np.trace(confusion) / max(count, 1))
    return accuracy, total_loss / max(count, 1), confusion


@torch.no_grad()
def correct_per_image(model: nn.Module, loader: Iterable) -> list[bool]:
    """Whether each image, in loader order, is classified correctly (in eval mode, which is restored after)."""
    was_training = model.training
    model.eval()
    correct: list[bool] = []
    try:
        for images, labels in loader:
            correct += (model(images).argmax(1).cpu() == labels).tolist()
    finally:
        model.train(was_training)
    return correct


def accuracy_by_group(model: nn.Module, loader: Iterable, groups: list[str]) -> dict[str, dict[str, Any]]:
    """Accuracy per group of images (``groups[i]`` names image i's group, in loader order).

    Used for the held-out shapes' background kinds: one overall accuracy hides that a model
    reads shapes on plain paper and fails on clutter. Groups appear in first-seen order.
    """
    return group_accuracy(correct_per_image(model, loader), groups)


def group_accuracy(correct: list[bool], groups: list[str], order: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
    """Accuracy per group from each image's correctness: the groups named in ``order`` first, in that order
    (size bands smallest first, classes as the model numbers them), then the rest as first seen."""
    if len(correct) != len(groups):
        raise ValueError(f"{len(groups)} group names for {len(correct)} images")
    result: dict[str, dict[str, Any]] = {}
    present = set(groups)
    for group in [name for name in order if name in present] + [g for g in dict.fromkeys(groups) if g not in order]:
        hits = [ok for ok, name in zip(correct, groups, strict=True) if name == group]
        result[group] = {"n": len(hits), "accuracy": sum(hits) / len(hits)}
    return result


class _Scores:
    """Per-image scores of one map kind, averaged at the end.

    ``pointing_game`` is scored on the map as computed (float64 from the logits for
    attention layers); ``pointing_game_displayed`` on the mask as the app shows it
    (rounded, see ``displayed_mask``), which is the same map for the references.
    ``mask_range`` (max - min per image) is kept only for attention layers.
    """

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = size
        self.hits: list[bool] = []
        self.displayed_hits: list[bool] = []
        self.ranges: list[float] = []
        self.energy: list[float] = []
        self.auroc: list[float] = []
        self.empty_maps = 0

    def add(
        self,
        saliency: torch.Tensor,
        object_mask: torch.Tensor,
        tolerance: int,
        displayed: torch.Tensor | None = None,
        value_range: float | None = None,
    ) -> None:
        if float(saliency.sum()) <= 0.0:
            self.empty_maps += 1
        self.hits.append(pointing_game(saliency, object_mask, tolerance))
        shown = self.hits[-1] if displayed is None else pointing_game(displayed, object_mask, tolerance)
        self.displayed_hits.append(shown)
        if value_range is not None:
            self.ranges.append(float(value_range))
        self.energy.append(energy_inside(saliency, object_mask))
        self.auroc.append(auroc(saliency, object_mask))

    def summary(self) -> dict[str, Any]:
        def mean(values: list[float]) -> float:
            return float(np.mean(values)) if values else float("nan")

        return {
            "pointing_game": mean([float(hit) for hit in self.hits]),
            "pointing_game_displayed": mean([float(hit) for hit in self.displayed_hits]),
            "mask_range_median": float(np.median(self.ranges)) if self.ranges else None,
            "mask_range_mean": mean(self.ranges) if self.ranges else None,
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


MAX_ROOT_CHARS = 4096


def recorded_data_root(loaded: LoadedModel, dataset: str) -> str | None:
    """The data folder the checkpoint was trained on, for evaluating on that dataset without ``--data-root``.

    The training record comes from a file, so a root that is not a plain path to an existing folder here is
    one line that says to pass ``--data-root``, never a scan of whatever it names.
    """
    root = loaded.training.get("data_root")
    if root is None or loaded.training.get("dataset") is None:
        return None
    try:
        trained_on = canonical_dataset_name(str(loaded.training["dataset"]))
    except ValueError:
        return None
    if trained_on != dataset:
        return None
    if not isinstance(root, str) or not root or len(root) > MAX_ROOT_CHARS or "\0" in root:
        raise InputError(f"{loaded.name} records a malformed data root {root!r:.60}; pass --data-root")
    if not Path(root).is_dir():
        raise InputError(f"{loaded.name} was trained on {root!r:.200}, which is not a folder here; pass --data-root")
    return root


def open_evaluation_set(
    loaded: LoadedModel, dataset: str, split: str, limit: int | None, data_root: str | None, seed: int
) -> Dataset:
    """The evaluation split, built the way models.train builds it so scores are comparable."""
    options: dict[str, Any] = {
        "root": data_root,
        "seed": seed,
        "length": limit,
        "transform": eval_transform(loaded.preprocessing),
    }
    if dataset.startswith("shapes"):
        options["size"] = loaded.preprocessing.input_size[0]
    if dataset in EVALUATION_ONLY:
        options["seed"] = 0  # the same pictures for every checkpoint, whatever its training seed
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


@torch.no_grad()
def mask_ranges(model: nn.Module, loader: Iterable, progress: bool = False) -> dict[str, dict[str, Any]]:
    """Per spatial-attention layer, the median and mean per-image range (max - min) of the displayed mask.

    For datasets without object masks (Fashion-MNIST) this is the one question about the
    masks that needs no ground truth: does the overlay separate anything on the true 0-1 scale?
    """
    was_training = model.training
    model.eval()
    ranges: dict[str, list[float]] = {}
    sizes: dict[str, list[int]] = {}
    try:
        for images, _labels in tqdm(loader, desc="mask ranges", leave=False, disable=not progress):
            with AttentionRecorder(model) as recorder:
                model(images)
            for record in recorder.records:
                if isinstance(record, SpatialRecord):
                    ranges.setdefault(record.name, []).extend(mask_range(displayed_mask(record)).tolist())
                    sizes[record.name] = [int(s) for s in record.mask.shape[-2:]]
    finally:
        model.train(was_training)
    return {
        name: {
            "size": sizes[name],
            "n": len(values),
            "median": float(np.median(values)),
            "mean": float(np.mean(values)),
        }
        for name, values in ranges.items()
    }


def class_token_maps(model: nn.Module, records: Sequence[Any]) -> dict[str, torch.Tensor]:
    """Per self-attention layer, the class token's attention to the patches averaged over heads (B, rows, columns),
    and the rollout across the layers, for the pointing game; empty for a network without a class token and grid."""
    tokens = [record for record in records if isinstance(record, TokenRecord)]
    if not tokens:
        return {}
    layout = token_layout(model, tokens[0].tokens)
    if layout.grid is None or not layout.has_class_token:
        return {}
    start = len(layout.prefix)
    maps = {record.name: record.first[:, :, start:].double().mean(dim=1).reshape(-1, *layout.grid) for record in tokens}
    if all(record.mean is not None for record in tokens):
        flows = [
            rollout([record.mean[index].numpy() for record in tokens])[0, start:]  # type: ignore[index]
            for index in range(tokens[0].first.shape[0])
        ]
        maps[ROLLOUT] = torch.from_numpy(np.stack(flows)).reshape(-1, *layout.grid)
    return maps


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
    and scored per image, then averaged. Attention layers are scored twice on
    the pointing game: in float64 from their logits (``precise_mask``) and as
    displayed (``displayed_mask``), with their per-image range (max - min). One forward + backward pass per batch
    serves both the attention recorder and Grad-CAM. Images whose mask is
    empty or covers everything (AUROC undefined) are skipped and counted.

    Returns (rows keyed by layer name, "centre_prior" and "grad_cam"; settings
    such as the tolerance and the mean object share of the image).
    """
    from PIL import Image

    rows: dict[str, _Scores] = {}
    modules = dict(model.named_modules())
    try:
        cam: GradCAM | None = GradCAM(model)
    except ValueError:  # a vision transformer: no convolutional stage to take Grad-CAM at
        cam = None
    prior: torch.Tensor | None = None
    token_names: list[str] = []
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
        with AttentionRecorder(model) as recorder, cam or torch.no_grad():
            grad_cam = cam(batch) if cam is not None else model(batch)
        maps: dict[str, torch.Tensor] = class_token_maps(model, recorder.records)
        token_names = [key for key in maps if key != ROLLOUT]
        shown: dict[str, torch.Tensor] = {}
        seen: dict[str, int] = {}
        for record in recorder.records:
            if not isinstance(record, SpatialRecord):
                continue
            seen[record.name] = seen.get(record.name, 0) + 1
            key = record.name if seen[record.name] == 1 else f"{record.name}#{seen[record.name]}"
            maps[key] = precise_mask(record, modules[record.name])
            shown[key] = displayed_mask(record)
        if cam is not None:
            maps[GRAD_CAM] = grad_cam.maps
        for key, value in maps.items():
            rows.setdefault(key, _Scores(tuple(int(s) for s in value.shape[-2:])))
        rows.setdefault(CENTRE_PRIOR, _Scores((height, width)))
        upsampled = {key: upsample(value, (height, width)) for key, value in maps.items()}
        shown_up = {key: upsample(value, (height, width)) for key, value in shown.items()}
        ranges = {key: mask_range(value) for key, value in shown.items()}
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
                if key in shown:
                    rows[key].add(value[index], mask, tolerance, shown_up[key][index], float(ranges[key][index]))
                else:
                    rows[key].add(value[index], mask, tolerance)
    if skipped:
        LOGGER.warning("skipped %d images whose object mask is empty or covers the whole image", skipped)
    # Attention layers in forward order, then the two references.
    ordered = [key for key in rows if key not in (CENTRE_PRIOR, GRAD_CAM)] + [CENTRE_PRIOR, GRAD_CAM]
    result = {key: rows[key].summary() for key in ordered if key in rows}
    settings = {
        "tolerance_px": tolerance,
        "grad_cam_layer": None if cam is None else cam.layer_name,
        "token_layers": token_names,
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
    curves: bool = False,
    curve_steps: int = DEFAULT_STEPS,
) -> dict[str, Any]:
    """Accuracy, confusion matrix and (for datasets with object masks) attention localization scores.

    The dataset defaults to the one the checkpoint was trained on and is
    preprocessed with the checkpoint's own preprocessing; ``seed`` defaults to
    the training seed, so shapes' test split is the very scenes the
    checkpoint's stored test accuracy was measured on. ``limit`` keeps the
    first N images. ``localization`` is None when the dataset has no masks;
    ``accuracy_by_background`` is None unless the dataset names each image's
    background kind (the held-out shapes do).
    ``curves`` adds the deletion and insertion curves of every map (see
    ``curves``), in ``curve_steps`` steps; ``curves`` is None otherwise.

    Raises InputError for a dataset that cannot be opened or does not match the checkpoint.
    """
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be at least 1, got {limit}")
    if batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {batch_size}")
    if not 1 <= curve_steps <= 1024:
        raise InputError(f"--curve-steps must be 1 to 1024, got {curve_steps}")
    dataset_name = resolve_dataset(loaded, dataset_name)
    seed = int(loaded.training.get("seed", 0)) if seed is None else int(seed)
    if data_root is None:
        data_root = recorded_data_root(loaded, dataset_name)
    if data_root is None and dataset_name == "imagefolder":
        raise InputError(f"{loaded.name} does not record its image folder; pass --data-root")
    data = open_evaluation_set(loaded, dataset_name, split, limit, data_root, seed)
    count = len(data)  # type: ignore[arg-type]
    LOGGER.info("evaluating %s on %s/%s (%d images)", loaded.name, dataset_name, split, count)

    loader = DataLoader(data, batch_size=batch_size, shuffle=False, num_workers=0)
    accuracy, loss, confusion = evaluate_accuracy(loaded.model, loader, len(loaded.classes), progress, "accuracy")
    result: dict[str, Any] = {
        "checkpoint": loaded.source,
        "arch": loaded.arch,
        "dataset": dataset_name,
        "data_root": None if data_root is None else str(data_root),
        "split": split,
        "n": int(count),
        "classes": list(loaded.classes),
        "accuracy": accuracy,
        "loss": loss,
        "confusion_matrix": confusion.tolist(),
        "accuracy_by_background": None,
        "accuracy_by": None,
        "localization": None,
        "localization_settings": None,
        "mask_ranges": None,
        "curves": None,
        "curves_settings": None,
    }
    backgrounds = getattr(data, "backgrounds", None)
    if backgrounds is not None:
        result["accuracy_by_background"] = accuracy_by_group(loaded.model, loader, list(backgrounds))
    groups = getattr(data, "groups", None)
    if groups:  # the camera and sealed sets: background (or hand), size band and class
        correct = correct_per_image(loaded.model, loader)
        order = [band for band, _, _ in EVERY_BAND] + list(loaded.classes)
        result["accuracy_by"] = {name: group_accuracy(correct, list(names), order) for name, names in groups.items()}
        if "background" in groups:
            result["accuracy_by_background"] = result["accuracy_by"]["background"]
    has_masks = bool(DATASET_INFO.get(dataset_name, {}).get("has_masks")) and hasattr(data, "sample")
    if has_masks:
        rows, settings = localization_scores(
            loaded.model, data, eval_transform(loaded.preprocessing), batch_size, progress
        )
        result["localization"] = rows
        result["localization_settings"] = settings
    else:
        LOGGER.info("%s has no object masks: scoring only the spatial masks' ranges", dataset_name)
        result["mask_ranges"] = mask_ranges(loaded.model, loader, progress)
    if curves:
        rows, settings = curve_scores(loaded.model, loader, curve_steps, seed=seed, progress=progress, total=count)
        result["curves"] = rows
        result["curves_settings"] = settings
    return result
