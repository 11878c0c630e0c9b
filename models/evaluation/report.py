"""The evaluation's numbers as text tables and as JSON-ready data."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from attention.files import finite_or_none

from .curves import RANDOM
from .run import CENTRE_PRIOR, GRAD_CAM, ROLLOUT


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
    if key == ROLLOUT:
        return "rollout from the class token"
    if key in settings.get("token_layers", ()):
        return f"{key} class token, head mean"
    return key


def format_localization(rows: dict[str, dict[str, Any]], settings: dict[str, Any]) -> str:
    """Localization scores as a text table: one row per map kind.

    Columns: pointing game on the mask as displayed and in float64 from the logits, energy inside,
    AUROC, and the median per-image range (max - min) of the displayed mask.
    """
    names = {key: _display_name(key, settings) for key in rows}
    width = max(len("map"), *(len(name) for name in names.values()))
    lines = [
        f"{'map':<{width}} {'size':>7} {'pointing (displayed)':>20} {'pointing (logits)':>17} "
        f"{'energy inside':>14} {'AUROC':>7} {'median range':>12}"
    ]
    for key, row in rows.items():
        size = "x".join(str(s) for s in row["size"])
        displayed = row.get("pointing_game_displayed", row["pointing_game"])
        spread = row.get("mask_range_median")
        spread_text = "-" if spread is None else f"{spread:.3f}"
        scores = (
            f"{displayed:>20.3f} {row['pointing_game']:>17.3f} {row['energy_inside']:>14.3f} "
            f"{row['auroc']:>7.3f} {spread_text:>12}"
        )
        lines.append(f"{names[key]:<{width}} {size:>7} {scores}")
        if row.get("empty_maps"):
            lines[-1] += f"  ({row['empty_maps']} all-zero maps)"
    lines.append(
        f"pointing game: the map's peak within {settings['tolerance_px']} px of the object; displayed = the mask "
        "rounded to 6 decimals as the app shows it (ties go to the first pixel), logits = float64."
    )
    lines.append(
        f"For reference: objects cover {settings['object_share']:.1%} of the image "
        f"({settings['dilated_object_share']:.1%} with the tolerance),"
    )
    lines.append("which a uniform map scores on energy inside (and roughly on pointing game); AUROC 0.5 is chance.")
    if settings.get("token_layers"):
        lines.append(
            "A self-attention layer's map is its class token's attention to the patches, averaged over the heads; "
            "the rollout multiplies every layer's (Abnar & Zuidema 2020)."
        )
    return "\n".join(lines)


def format_accuracy_by_group(groups: dict[str, dict[str, Any]], title: str = "background") -> str:
    """Accuracy per group (e.g. background kind) as a text table."""
    width = max(len(title), *(len(name) for name in groups))
    lines = [f"{title:<{width}} {'images':>7} {'accuracy':>9}"]
    for name, row in groups.items():
        lines.append(f"{name:<{width}} {row['n']:>7} {row['accuracy']:>9.1%}")
    return "\n".join(lines)


def format_curves(rows: dict[str, dict[str, Any]], settings: dict[str, Any]) -> str:
    """Deletion and insertion AUCs as a text table: one row per map kind."""
    names = {key: _display_name(key, settings) for key in rows}
    names.update({key: "random map (baseline)" for key in rows if key == RANDOM})
    width = max(len("map"), *(len(name) for name in names.values()))
    lines = [f"{'map':<{width}} {'size':>7} {'deletion AUC':>13} {'insertion AUC':>14}"]
    for key, row in rows.items():
        size = "x".join(str(s) for s in row["size"])
        lines.append(f"{names[key]:<{width}} {size:>7} {row['deletion_auc']:>13.3f} {row['insertion_auc']:>14.3f}")
    lines.append(
        f"probability of the predicted class as 1/{settings['steps']} of the pixels at a time are replaced by "
        "the dataset mean (deletion: lower is more faithful) or restored onto it (insertion: higher is better)."
    )
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
    if result.get("accuracy_by"):
        for name, groups in result["accuracy_by"].items():
            lines += ["", f"Accuracy by {name}", format_accuracy_by_group(groups, name)]
    elif result.get("accuracy_by_background"):
        lines += ["", "Accuracy by background", format_accuracy_by_group(result["accuracy_by_background"])]
    if result["localization"] is not None:
        settings = result["localization_settings"]
        lines += [
            "",
            f"Localization against the object masks ({settings['images_scored']} images, maps upsampled to image size)",
            format_localization(result["localization"], settings),
        ]
    if result.get("mask_ranges"):
        lines += ["", "Spatial masks (no object masks to score against): per-image range max - min, as displayed"]
        lines.append(f"{'layer':<34} {'size':>7} {'median range':>12} {'mean range':>10}")
        for name, row in result["mask_ranges"].items():
            size = "x".join(str(s) for s in row["size"])
            lines.append(f"{name:<34} {size:>7} {row['median']:>12.3f} {row['mean']:>10.3f}")
    if result.get("curves") is not None:
        settings = result["curves_settings"]
        lines += [
            "",
            f"Deletion and insertion curves ({settings['images']} images, maps upsampled to image size)",
            format_curves(result["curves"], settings),
        ]
    return "\n".join(lines)


def json_ready(value: Any) -> Any:
    """NaN/inf become null: they are not valid JSON, and other tools would refuse the file."""
    if isinstance(value, float):
        return finite_or_none(value)
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    return value
