"""The Explain view's plain functions: every step of a layer's computation as a picture and a caption.

The explanations are worked out once, at analysis time, while the model's
modules are at hand (``explanations``); the page keeps them in the
``LensResult``, so picking another layer only draws, and never needs the model.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import NamedTuple

import torch
from PIL import Image

from attention import render, render_explain
from attention.analysis import Analyzer, ImageAnalysis
from attention.explain import EXPLAINED_KINDS, Explanation, Step, explain_layer
from attention.files import safe_stem

from .downloads import new_download_folder
from .inputs import markdown_text, one_line
from .panels import pick_layer
from .state import LensResult

LOGGER = logging.getLogger(__name__)

# The most steps any layer has (ECA: 6; spatial attention: 4): the page has this many slots.
MAX_STEPS = 6
MAX_CAPTION_CHARS = 2000
MARKDOWN_SPECIAL = "\\`*_{}[]()#+-.!|~"
NO_RESULT = "Analyze an image first: this view works through the layers of the analysed image."


def explanations(analyzer: Analyzer, analysis: ImageAnalysis) -> dict[str, Explanation]:
    """Every recorded layer's steps, from its input feature map and its module's own parameters.

    A layer whose feature map was not kept, or whose module the explainer
    cannot read, is left out (and logged) rather than failing the analysis.
    """
    modules = {name: module for name, module, _adapter in analyzer.layers}
    found: dict[str, Explanation] = {}
    for layer in analysis.layers:
        features = analysis.feature_maps.get(layer.name)
        module = modules.get(layer.name)
        if features is None or module is None or layer.kind not in EXPLAINED_KINDS:
            continue
        try:
            # no_grad: a module whose kernel has a bias would otherwise hand back tensors that track gradients.
            with torch.no_grad():
                layout = getattr(layer, "layout", None)
                found[layer.name] = explain_layer(layer.name, module, layer.kind, features, layer.gate, layout)
        except (ValueError, RuntimeError) as error:
            LOGGER.warning("no step-by-step view for %s: %s", layer.name, error)
    return found


def layer_choices(result: LensResult | None) -> list[tuple[str, str]]:
    """(label, layer name) for the picker: every explained layer in forward order, with its kind."""
    if result is None:
        return []
    return [(f"{name} ({explanation.what})", name) for name, explanation in result.explanations.items()]


def explanation_for(result: LensResult | None, layer: str | None) -> Explanation | None:
    """The picked layer's explanation, or the first layer's when the picked one is not in this result."""
    if result is None:
        return None
    name = pick_layer(list(result.explanations), layer)
    return None if name is None else result.explanations[name]


def literal(text: str) -> str:
    """Text shown literally in Markdown, whole: captions name module types, which may hold ``_`` or ``*``."""
    escaped = html.escape(one_line(text, limit=MAX_CAPTION_CHARS), quote=False)
    return "".join("\\" + c if c in MARKDOWN_SPECIAL else c for c in escaped)


def step_markdown(step: Step) -> str:
    """A step's title and caption, or why the module does not expose it; shown literally, never as markup."""
    text = step.caption if step.shown else f"Not shown for this module: {step.missing}."
    return f"**{literal(step.title)}**\n\n{literal(text)}"


class StepView(NamedTuple):
    image: Image.Image | None  # None where the module does not expose the step
    caption: str  # Markdown


class ExplainView(NamedTuple):
    layer: str | None
    heading: str  # Markdown
    steps: list[StepView]


def explain_view(result: LensResult | None, layer: str | None) -> ExplainView:
    """Every step of one layer as (picture, caption): what the page shows in its slots, in order."""
    explanation = explanation_for(result, layer)
    if explanation is None:
        return ExplainView(None, NO_RESULT if result is None else "This model has no layer to explain.", [])
    steps = [
        StepView(render_explain.step_image(step, explanation.kind) if step.shown else None, step_markdown(step))
        for step in explanation.steps
    ]
    missing = explanation.missing
    heading = (
        f"**{markdown_text(explanation.layer)}**: {explanation.what} on this image, "
        f"in {len(explanation.steps)} steps"
        + (
            f"; this module does not expose {len(missing)} of them, which say so instead of showing a picture."
            if missing
            else "."
        )
    )
    return ExplainView(explanation.layer, heading, steps)


def slide_png(result: LensResult | None, layer: str | None, directory: str | Path) -> Path | None:
    """Every step of one layer on one PNG a teacher can put on a slide (render_explain.slide_figure)."""
    explanation = explanation_for(result, layer)
    if result is None or explanation is None:
        return None
    # Matplotlib reads "$...$" as mathematics: a file name must be drawn literally.
    title = one_line(f"{result.image_name} with {result.model_name}: {explanation.layer}, step by step")
    figure = render_explain.slide_figure(explanation, title=title)
    stem = safe_stem(f"{Path(result.image_name).stem}_{explanation.layer}")
    path = new_download_folder(directory) / f"{stem}_explain.png"
    figure.savefig(path, format="png")
    return path


def slides_pdf(result: LensResult | None, layer: str | None, directory: str | Path) -> Path | None:
    """One layer's steps as 1920x1080 slides in one PDF (render_explain.step_slide), for a class."""
    explanation = explanation_for(result, layer)
    if result is None or explanation is None:
        return None
    title = one_line(f"{result.image_name} with {result.model_name}: {explanation.layer}")
    stem = safe_stem(f"{Path(result.image_name).stem}_{explanation.layer}")
    return render_explain.write_slides_pdf(explanation, new_download_folder(directory) / f"{stem}_slides.pdf", title)


def slide_images(result: LensResult | None, layer: str | None) -> list[tuple[Image.Image, str]]:
    """One layer's steps as 1920x1080 slide pictures with their titles, for the page's presentation view."""
    explanation = explanation_for(result, layer)
    if result is None or explanation is None:
        return []
    return [
        (render.figure_to_image(render_explain.step_slide(explanation, index)), step.title)
        for index, step in enumerate(explanation.steps)
    ]
