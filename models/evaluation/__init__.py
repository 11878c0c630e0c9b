"""Evaluation of checkpoints: accuracy, attention localization against object masks, Grad-CAM, reports.

``run`` evaluates a checkpoint (and holds ``evaluate_accuracy``, which training
imports); ``localization`` scores one map against one object mask; ``curves`` asks
the model whether a map's pixels matter (deletion and insertion curves);
``gradcam`` is the project's Grad-CAM; ``report`` formats the results. The
command line is ``python -m models.evaluate``. Nothing here imports training.
"""

from .curves import (
    DEFAULT_STEPS,
    RANDOM,
    Curves,
    block_of,
    curve_auc,
    curve_scores,
    deletion_insertion,
    pixel_ranks,
    step_counts,
)
from .gradcam import GradCAM, GradCAMOutput, default_gradcam_layer, grad_cam
from .localization import (
    DISPLAY_DIGITS,
    TOLERANCE_FRACTION,
    auroc,
    centre_prior,
    dilate,
    disk_offsets,
    displayed_mask,
    energy_inside,
    image_side,
    mask_range,
    pointing_game,
    precise_mask,
    tolerance_px,
    upsample,
)
from .report import (
    format_accuracy_by_group,
    format_confusion,
    format_curves,
    format_localization,
    format_report,
    json_ready,
)
from .run import (
    CENTRE_PRIOR,
    GRAD_CAM,
    accuracy_by_group,
    evaluate_accuracy,
    evaluate_checkpoint,
    localization_scores,
    resolve_dataset,
)

__all__ = [
    "CENTRE_PRIOR",
    "DEFAULT_STEPS",
    "RANDOM",
    "Curves",
    "block_of",
    "curve_auc",
    "curve_scores",
    "deletion_insertion",
    "pixel_ranks",
    "step_counts",
    "format_curves",
    "GRAD_CAM",
    "DISPLAY_DIGITS",
    "TOLERANCE_FRACTION",
    "GradCAM",
    "GradCAMOutput",
    "accuracy_by_group",
    "auroc",
    "centre_prior",
    "default_gradcam_layer",
    "dilate",
    "disk_offsets",
    "displayed_mask",
    "energy_inside",
    "evaluate_accuracy",
    "evaluate_checkpoint",
    "format_accuracy_by_group",
    "format_confusion",
    "format_localization",
    "format_report",
    "grad_cam",
    "image_side",
    "json_ready",
    "localization_scores",
    "mask_range",
    "pointing_game",
    "precise_mask",
    "resolve_dataset",
    "tolerance_px",
    "upsample",
]
