"""The two events that run a model, ``analyze`` and ``analyze_sketch``, and what they return.

Bad input raises ``attention.errors.InputError`` with one line of text; the
wiring in ``app.py`` turns it into a message in the page and an error for API
clients. Everything that only redraws lives in ``webapp.panels``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import weakref
from pathlib import Path
from typing import Any, NamedTuple

from PIL import Image, ImageDraw

from attention.ablation import MODES
from attention.analysis import Analyzer, ImageAnalysis, analysis_to_dict, build_document
from attention.discovery import discovery_summary
from attention.errors import InputError
from attention.images import load_image
from models.checkpoint import DEFAULT_CHECKPOINT

from .downloads import write_document
from .explain import explanations, literal
from .inputs import CHECKPOINT_SUFFIXES, UploadRoots, checkpoint_upload, markdown_text, resolve_upload, sketch_image
from .notes import fit_note
from .panels import render_panels, top_predictions
from .runtime import FORWARD_SLOTS, refusal_message, release_freed_memory
from .state import LensResult, ModelCache, ModelInput

LOGGER = logging.getLogger(__name__)

# The stored result keeps the image at most this large: enough for every panel, and small enough
# that a 36-megapixel upload does not hold 100 MB of a session's memory for 30 minutes.
DISPLAY_MAX_SIDE = 1024
# Decoding more pixels than this leaves enough freed memory behind to be worth handing back.
LARGE_IMAGE_PIXELS = 4_000_000


def display_image(image: Image.Image, max_side: int = DISPLAY_MAX_SIDE) -> Image.Image:
    """The image at most ``max_side`` pixels on its long side (the same object when it is already small)."""
    longest = max(image.size)
    if longest <= max_side:
        return image
    scale = max_side / longest
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)


def ablation_mode(value: str | None) -> str | None:
    """The ablation a request asks for: None for none; an unknown mode is a one-line InputError."""
    if value in (None, "", "none"):
        return None
    if value not in MODES:
        raise InputError(f"unknown ablation mode {value!r}; choose none, {', '.join(MODES)}")
    return value


def record(
    analyzer: Analyzer, image: Image.Image, name: str, ablate: str | None = None, target: str | None = None
) -> ImageAnalysis:
    """One forward pass that also keeps the input feature map of every layer.

    Keeping them all means switching the feature-map layer, or the layer the
    Explain view works through, never needs another pass. ``ablate`` adds one
    pass per layer with that layer switched off, on this same decoded image,
    and one per head of each self-attention layer, which its section shows.
    """
    return analyzer.analyze(
        [image], [name], feature_layer=analyzer.feature_layer_names, ablate=ablate, target=target, ablate_heads=True
    )[0]


def analyze_loaded(
    analyzer: Analyzer,
    image: Image.Image,
    name: str,
    decode_s: float = 0.0,
    model_name: str | None = None,
    ablate: str | None = None,
    target: str | None = None,
) -> LensResult:
    """Record one decoded image with a loaded model and build its JSON document.

    ``model_name`` names the model in the document and the page (by default the
    analyzer's name): an uploaded file is shown under the name of this upload,
    though the cache shares one model between uploads of the same bytes.
    """
    model_name = model_name or analyzer.name
    start = time.perf_counter()
    with FORWARD_SLOTS:  # shared with live frames, which wait for a slot rather than slow this pass
        analysis = record(analyzer, image, name, ablation_mode(ablate), target or None)
    forward_s = time.perf_counter() - start
    start = time.perf_counter()
    explained = explanations(analyzer, analysis)  # cheap arithmetic on the recorded maps: no second pass
    explain_s = time.perf_counter() - start
    entry = analysis_to_dict(analysis, image=name)
    document = build_document(model_name, analyzer.classes, [entry], analyzer.preprocessing, analyzer.discovery)
    analysis = dataclasses.replace(analysis, image=display_image(analysis.image))
    return LensResult(
        analysis=analysis,
        document=document,
        model_name=model_name,
        image_name=name,
        timings={"decode": decode_s, "forward": forward_s, "explain": explain_s},
        explanations=explained,
        note=fit_note(model_name, analysis.image),  # at display size: a huge upload is not scanned whole
        # The image itself may be shrunk for display; Grad-CAM needs the exact model input.
        model_input=ModelInput(analyzer.preprocess([image]), weakref.ref(analyzer)),
    )


def picked_analyzer(
    cache: ModelCache, picked: str | None, checkpoint_file: Any, roots: UploadRoots
) -> tuple[Analyzer, str]:
    """The analyzer to use and the model name to show, from the model picker's value and an optional upload.

    With no upload, the picked model. With an upload, the picked model says
    what the file is: for a listed architecture (``timm:seresnet18``...) its
    weights, built by name; for anything else an Attention Lens checkpoint,
    which replaces the picked model. The name is checked before any file is read.
    """
    upload = checkpoint_upload(checkpoint_file, roots)
    if upload is None:
        analyzer = cache.analyzer(picked)
        return analyzer, analyzer.name
    path, name = upload
    if cache.is_architecture(picked):
        return cache.architecture(str(picked), path, name), f"{name} ({picked})"
    cache.check_name(picked)
    return cache.uploaded(path, name), name


def analyze(
    image: Any,
    picked: str | None = DEFAULT_CHECKPOINT,
    checkpoint_file: Any = None,
    ablate: str | None = None,
    target: str | None = None,
    *,
    cache: ModelCache,
    roots: UploadRoots,
) -> LensResult:
    """Decode an upload and record every attention layer of the picked model on it.

    ``image`` is a path, the raw upload dict Gradio sends, a PIL image or
    bytes; ``picked`` is the model picker's value (a model name or an
    architecture spec); ``checkpoint_file``, when given, is an uploaded checkpoint that
    replaces the picked shipped model; ``ablate`` ("identity" or "mean";
    None or "none" for no ablation) adds each layer's ablation, whose Δp is
    that of the class labelled ``target`` (by default the prediction). Paths
    must lie inside ``roots``.
    """
    source, name = resolve_upload(image, roots)
    analyzer, model_name = picked_analyzer(cache, picked, checkpoint_file, roots)
    start = time.perf_counter()
    decoded = load_image(source)
    decode_s = time.perf_counter() - start
    pixels = decoded.width * decoded.height
    result = analyze_loaded(analyzer, decoded, name, decode_s, model_name, ablate, target)
    del decoded
    if pixels > LARGE_IMAGE_PIXELS:
        release_freed_memory()
    elapsed_ms = 1000 * (decode_s + result.timings["forward"])
    LOGGER.info("analysed %s with %s in %.0f ms", name, result.model_name, elapsed_ms)
    return result


def analyze_sketch(
    sketch: Any,
    picked: str | None = DEFAULT_CHECKPOINT,
    checkpoint_file: Any = None,
    ablate: str | None = None,
    target: str | None = None,
    *,
    cache: ModelCache,
    roots: UploadRoots,
) -> LensResult:
    """Like ``analyze``, for a drawing from the sketchpad."""
    image = sketch_image(sketch, roots)
    analyzer, model_name = picked_analyzer(cache, picked, checkpoint_file, roots)
    return analyze_loaded(analyzer, image, "sketch.png", model_name=model_name, ablate=ablate, target=target)


def check_checkpoint(checkpoint_file: Any, picked: str | None = None, *, cache: ModelCache, roots: UploadRoots) -> str:
    """One line about the picked model and uploaded file: what will be used, or why it is refused."""
    try:
        upload = checkpoint_upload(checkpoint_file, roots)
        if upload is None:
            launched = cache.launched(cache.default_name if picked in (None, "") else picked)
            if launched is not None:
                return f"Using the launch model **{markdown_text(launched.name)}**."
            if cache.is_architecture(picked):
                parameters = cache.check_architecture(str(picked))
                return (
                    f"**{markdown_text(str(picked))}** ({parameters / 1e6:.1f} M parameters): "
                    f"upload its weights ({markdown_text(', '.join(CHECKPOINT_SUFFIXES))})."
                )
            cache.check_name(picked)
            return "Using the picked shipped model."
        path, name = upload
        if cache.is_architecture(picked):
            loaded = cache.architecture(str(picked), path, name).loaded
            what = f"**{markdown_text(str(picked))}** with uploaded weights **{markdown_text(name)}**"
        else:
            cache.check_name(picked)
            loaded = cache.uploaded(path, name).loaded
            what = f"uploaded checkpoint **{markdown_text(name)}** ({markdown_text(loaded.arch)})"
    except InputError as error:
        return f"**Refused:** {literal(refusal_message(error))}"  # whole: the end often says what to do
    classes = ", ".join(loaded.classes[:8]) + (", …" if len(loaded.classes) > 8 else "")
    return f"Using {what}: {len(loaded.classes)} classes ({markdown_text(classes)})."


def status_line(result: LensResult) -> str:
    """One line for the page: what was analysed with which model, the prediction, and the time taken."""
    best = result.document["results"][0]["prediction"]
    total_ms = 1000 * sum(result.timings.values())
    return (
        f"**{markdown_text(result.image_name)}** with model **{markdown_text(result.model_name)}**: "
        f"{markdown_text(best['label'])} ({best['probability']:.1%}); decoded and analysed in {total_ms:.0f} ms. "
        + literal(discovery_summary(result.document["discovery"]))
        + (f" **{literal(result.note)}**" if result.note else "")
    )


class AnalysisOutputs(NamedTuple):
    """What the analyze event returns besides the stored result: also what API clients receive."""

    status: str
    top: dict[str, float]
    document: dict[str, Any]
    document_file: str


def analysis_outputs(result: LensResult, directory: str | Path) -> AnalysisOutputs:
    return AnalysisOutputs(
        status=status_line(result),
        top=top_predictions(result),
        document=result.document,
        document_file=str(write_document(result, directory)),
    )


def warm_up(cache: ModelCache) -> None:
    """Run one analysis and draw every panel, so the first visitor does not pay for lazy imports and fonts."""
    image = Image.new("RGB", (128, 128), "white")
    ImageDraw.Draw(image).ellipse((24, 24, 104, 104), fill="black")
    try:
        render_panels(analyze_loaded(cache.analyzer(None), image, "warm-up"))
    except Exception:  # noqa: BLE001 - a failed warm-up only costs the first request some time
        LOGGER.exception("warm-up failed")
