"""The plain functions behind the page's debugging views: ablation, Grad-CAM beside the masks, compare two.

Ablations come with the analysis (``webapp.analysis.analyze(ablate=...)``),
so they run on the exact decoded image. Grad-CAM runs once per analysis for
every spatial layer on the analysis's own model input, on a private deep copy
of the model: Grad-CAM needs a hook and gradients, and the shared model must
never get a hook while other requests run it. Everything else here only draws.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from attention import render, render_debug
from attention.ablation import switched_off
from attention.analysis import SpatialLayer, class_index
from attention.compare import LayerDifference, match, most_different, spearman, summary
from attention.errors import InputError
from models.evaluation.gradcam import grad_cam

from .panels import colormap_of, pick_layer, stretch_of
from .state import LensResult

# Grad-CAM is drawn at each spatial layer, beside its mask: a model without one gets this line in the panel.
NO_GRADCAM = "Grad-CAM is drawn beside a spatial attention mask, and this model has no spatial attention layer."
GRADCAM_NOTE_WIDTH = 640

LOGGER = logging.getLogger(__name__)

ABLATION_HEADERS = ("layer", "type", "new top label", "p", "Δ p")


def _floats(values: np.ndarray) -> list[Any]:
    """Nested lists of floats, a NaN or infinity as null (the API answers strict JSON)."""
    values = np.asarray(values, dtype=np.float64)
    if np.isfinite(values).all():
        return values.tolist()
    return np.where(np.isfinite(values), values, None).tolist()


def _label(result: LensResult) -> tuple[int, str]:
    index = int(result.analysis.top(1)[0][0])
    return index, result.analysis.classes[index]


# --------------------------------------------------------------------------- ablation


@dataclass(frozen=True)
class Ablation:
    """The ablations run with one analysis, largest drop first, and the key (``result_key``) of that analysis.

    The page keeps this, not the ablated result, so a session holds one set of feature maps, not two.
    """

    key: str
    entries: tuple[dict[str, Any], ...]


def ablation_of(result: LensResult) -> Ablation:
    """This result's ablations (none when none were run), largest drop of the target class first."""
    return Ablation(result_key(result), tuple(sorted(result.analysis.ablations, key=lambda entry: entry["delta"])))


def ablation_table(ablation: Ablation | None) -> dict[str, list[Any]]:
    """One row per layer in the form gr.Dataframe takes, in the chart's order."""
    entries = () if ablation is None else ablation.entries
    rows = [
        [switched_off(e), e["type"], e["prediction"]["label"], e["prediction"]["probability"], e["delta"]]
        for e in entries
    ]
    return {"headers": list(ABLATION_HEADERS), "data": rows}


def ablation_chart(ablation: Ablation | None) -> Image.Image | None:
    """Whole layers only: a transformer's heads (many more bars) are drawn per layer in its own section."""
    layers = [] if ablation is None else [entry for entry in ablation.entries if "head" not in entry]
    if not layers:
        return None
    return render.figure_to_image(render_debug.ablation_chart(layers, layers[0]["target"]))


def head_ablation_chart(ablation: Ablation | None, layer: str | None) -> Image.Image | None:
    """Δp per head of one self-attention layer (the first one with heads when ``layer`` has none); None without."""
    if ablation is None:
        return None
    names = list(dict.fromkeys(entry["layer"] for entry in ablation.entries if "head" in entry))
    if not names:
        return None
    chosen = layer if layer in names else names[0]
    figure = render_debug.head_chart(ablation.entries, chosen)
    return None if figure is None else render.figure_to_image(figure)


# --------------------------------------------------------------------------- Grad-CAM


@dataclass(frozen=True)
class GradCams:
    """Grad-CAM of one class (by default the predicted one) at every spatial layer of one analysis.

    ``result`` is the analysis they explain, compared by ``result_key``, so a
    page that switches layers redraws from these maps and a new analysis gets new ones.
    """

    result: LensResult
    target: int
    maps: Mapping[str, np.ndarray]  # layer name -> (h, w), the layer's own resolution
    seconds: float


def result_key(result: LensResult) -> str:
    """Names one analysis across events (a session's stored values may reach them as copies, not the same object)."""
    digest = hashlib.sha1(np.ascontiguousarray(result.analysis.probabilities).tobytes()).hexdigest()[:16]
    return f"{result.model_name}|{result.image_name}|{digest}"


def belongs(cams: GradCams, result: LensResult) -> bool:
    """Whether ``cams`` explain this analysis (the page hands stored values to events, maybe as copies)."""
    return result_key(cams.result) == result_key(result)


def predicted_label(result: LensResult) -> str:
    return _label(result)[1]


def target_of(result: LensResult, target: str | None) -> int:
    """The class index of the label ``target``; the prediction when none is given."""
    if target in (None, ""):
        return _label(result)[0]
    return class_index(result.analysis.classes, str(target))


def gradcams(result: LensResult, target: str | None = None) -> GradCams:
    """Grad-CAM at each spatial layer's output: the same grid as its mask, for one class and the same input."""
    source = result.model_input
    if source is None:
        raise InputError("this analysis kept no model input; press Analyze again")
    analyzer = source.analyzer()
    if analyzer is None:
        raise InputError("the model of this analysis is no longer loaded; press Analyze again")
    target_index = target_of(result, target)
    if not result.spatial_layer_names:
        return GradCams(result, target_index, {}, 0.0)
    start = time.perf_counter()
    # A private copy: grad_cam adds a forward hook, which every other request would run too on the shared model.
    twin = copy.deepcopy(analyzer.model)
    maps = {name: grad_cam(twin, source.tensor, name, target_index)[0] for name in result.spatial_layer_names}
    seconds = time.perf_counter() - start
    LOGGER.info("Grad-CAM at %d layers in %.0f ms", len(maps), 1000 * seconds)
    return GradCams(result, target_index, maps, seconds)


def gradcams_for(result: LensResult, cached: GradCams | None, target: str | None = None) -> GradCams:
    """The cached maps when they belong to this result and class, else new ones."""
    if cached is not None and belongs(cached, result) and cached.target == target_of(result, target):
        return cached
    return gradcams(result, target)


def gradcam_view(
    cams: GradCams, layer: str | None, colormap: str | None, scale: str | None
) -> tuple[Image.Image | None, dict[str, Any]]:
    """The selected layer's SA mask and Grad-CAM side by side, and the numbers drawn, for the API.

    Grad-CAM has no scale of its own, so it is divided by its maximum; the
    mask keeps its true 0-1 scale unless the page asks for min-max, which
    then applies to both. The title gives their Spearman rank correlation,
    which no such scaling changes.
    """
    result = cams.result
    name = pick_layer(result.spatial_layer_names, layer)
    if name is None:
        return render.text_image(NO_GRADCAM, GRADCAM_NOTE_WIDTH), {}
    spatial = result.analysis.layer(name)
    assert isinstance(spatial, SpatialLayer)
    cam = cams.maps[name]
    rho = spearman(spatial.mask, cam)
    peak = float(cam.max())
    scaled = cam / peak if peak > 0 else np.zeros_like(cam)
    label = result.analysis.classes[cams.target]
    agreement = "undefined (a constant map)" if rho is None else f"{rho:.3f}"
    image = render.figure_to_image(
        render_debug.side_by_side(
            [spatial.mask, scaled],
            ["spatial attention mask", f"Grad-CAM of {label} (/ its max)"],
            f"{name}: Spearman rank correlation {agreement}",
            colormap_of(colormap),
            stretch_of(scale),
        )
    )
    data = {
        "layer": name,
        "class": {"label": label, "index": cams.target},
        "spearman": rho,
        "gradcam": _floats(cam),
        "mask": _floats(spatial.mask),
    }
    return image, data


# --------------------------------------------------------------------------- compare two


@dataclass(frozen=True)
class Comparison:
    """Two analyses, their layers paired by kind and position, and what differs between them, A minus B."""

    a: LensResult
    b: LensResult
    differences: list[LayerDifference]
    summary: str
    unmatched: list[str] = field(default_factory=list)

    @property
    def most_different(self) -> str | None:
        """A's name of the pair the summary names first."""
        found = most_different(self.differences)
        return None if found is None else found.name

    def layer_choices(self) -> list[tuple[str, str]]:
        """(label, A's layer name) of each compared pair, in forward order, for a picker."""
        return [(difference.pair, difference.name) for difference in self.differences]


def comparison(a: LensResult, b: LensResult) -> Comparison:
    """The two analyses compared pair by pair; one-line InputError when no pair is comparable.

    The summary names the most different pairs, says how the layers were
    paired when their names differ, and lists every layer left unpaired.
    """
    matching = match(a.analysis, b.analysis)
    text = summary(matching.differences)
    if matching.renamed:
        text += ". Paired by kind and position: " + ", ".join(d.pair for d in matching.differences)
    if matching.unmatched:
        text += ". Not compared: " + "; ".join(matching.unmatched)
    return Comparison(a, b, matching.differences, text, matching.unmatched)


def _side(result: LensResult) -> dict[str, Any]:
    return {
        "image": result.image_name,
        "checkpoint": result.model_name,
        "prediction": result.document["results"][0]["prediction"],
    }


def comparison_document(compared: Comparison) -> dict[str, Any]:
    """The summary and every layer's difference (channel weights (C,) or mask (H, W)), for the page and the API."""
    return {
        "summary": compared.summary,
        "a": _side(compared.a),
        "b": _side(compared.b),
        "layers": [
            {
                "name": d.name,
                "partner": d.partner or d.name,
                "kind": d.kind,
                "score": d.score,
                **({"note": d.note} if d.note else {}),
                "difference": _floats(d.difference),
            }
            for d in compared.differences
        ],
        "unmatched": list(compared.unmatched),
    }


def comparison_panels(
    compared: Comparison | None, layer: str | None, colormap: str | None, scale: str | None
) -> tuple[Image.Image | None, Image.Image | None]:
    """For one compared pair (by default the most different): A's and B's masks side by side, and A minus B.

    A channel pair has no masks: its first picture is None.
    """
    if compared is None or not compared.differences:
        return None, None
    names = [difference.name for difference in compared.differences]
    name = layer if layer in names else compared.most_different
    difference = next(d for d in compared.differences if d.name == name)
    chart = render.figure_to_image(render_debug.difference_chart(difference))
    if difference.kind != "spatial":
        return None, chart
    first = compared.a.analysis.layer(difference.name)
    second = compared.b.analysis.layer(difference.partner or difference.name)
    assert isinstance(first, SpatialLayer) and isinstance(second, SpatialLayer)
    titles = [
        f"{side}: {r.image_name} ({_label(r)[1]})\n{layer_.name}"
        for side, r, layer_ in zip("AB", (compared.a, compared.b), (first, second))
    ]
    masks = render.figure_to_image(
        render_debug.side_by_side(
            [first.mask, second.mask],
            titles,
            f"{difference.pair}: spatial attention of A and B",
            colormap_of(colormap),
            stretch_of(scale),
        )
    )
    return masks, chart
