"""Plain functions behind every event of the web app.

Each function takes data (paths, PIL images, a ``LensResult``, option values)
and returns data (a ``LensResult``, PIL images, dicts, file paths), so tests
and the benchmark call them without a browser or a server; ``app.py`` only
wires them to components.

Two rules shape this module:

* ``analyze`` and ``analyze_sketch`` are the only functions that run a model.
  Everything that draws takes a ``LensResult`` and option values and nothing
  else, so a display control can never trigger a forward pass.
* Bad input raises ``attention.errors.InputError`` with one line of text; the
  wiring turns it into a message in the page and an error for API clients.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from PIL import Image

from attention import render
from attention.analysis import Analyzer, ImageAnalysis, SpatialLayer, analysis_to_dict, build_document
from attention.errors import InputError
from attention.files import dumps, safe_stem
from attention.images import load_image
from models.checkpoint import DEFAULT_CHECKPOINT

from .inputs import UploadRoots, checkpoint_upload, example_images, markdown_text, resolve_upload, sketch_image
from .state import LensResult, ModelCache

__all__ = ["example_images", "markdown_text"]

LOGGER = logging.getLogger(__name__)

COLORMAPS: tuple[str, ...] = tuple(render.COLORMAPS)
SCALES: tuple[tuple[str, str], ...] = (("absolute 0–1", "absolute"), ("min–max", "minmax"))
DEFAULT_COLORMAP = "jet"
DEFAULT_OPACITY = 0.5
DEFAULT_SCALE = "absolute"
DEFAULT_TOP_K = 5
MAX_TOP_K = 16
MASK_VIEW_SIDE = 256
STATISTICS_HEADERS = ("layer", "type", "size", "mean", "std", "min", "max", "entropy / kept")
OUTPUT_MAX_AGE_S = 3600.0


def configure_torch(threads: int | None = None) -> int:
    """Set PyTorch's intra-op threads for serving; returns the number used.

    The shipped models are small and see one image per request, so splitting a
    convolution across cores gains little, while several requests (or a
    training job) competing for the same cores with multi-threaded kernels
    slows every one of them down many times over. One thread per request, and
    the queue's concurrency limit for parallelism, is the fast setting; the
    ATTENTION_LENS_TORCH_THREADS variable overrides it.
    """
    if threads is None:
        threads = int(os.environ.get("ATTENTION_LENS_TORCH_THREADS", "1"))
    threads = max(1, int(threads))
    torch.set_num_threads(threads)
    return threads


# --------------------------------------------------------------------------- inputs


# --------------------------------------------------------------------------- analysis


def record(analyzer: Analyzer, image: Image.Image, name: str) -> tuple[ImageAnalysis, dict[str, np.ndarray]]:
    """One forward pass that also keeps the input feature map of every channel layer.

    Keeping them all means switching the feature-map layer in the page never
    needs another pass.
    """
    analysis = analyzer.analyze([image], [name], feature_layer=analyzer.channel_layer_names)[0]
    return analysis, analysis.feature_maps


def analyze_loaded(analyzer: Analyzer, image: Image.Image, name: str, decode_s: float = 0.0) -> LensResult:
    """Record one decoded image with a loaded model and build its JSON document."""
    start = time.perf_counter()
    analysis, features = record(analyzer, image, name)
    forward_s = time.perf_counter() - start
    document = build_document(analyzer.name, analyzer.classes, [analysis_to_dict(analysis, image=name)])
    return LensResult(
        analysis=analysis,
        features=features,
        document=document,
        checkpoint=analyzer.name,
        image_name=name,
        timings={"decode": decode_s, "forward": forward_s},
    )


def analyze(
    image: Any,
    model: str | None = DEFAULT_CHECKPOINT,
    checkpoint_file: Any = None,
    *,
    cache: ModelCache,
    roots: UploadRoots,
) -> LensResult:
    """Decode an upload and record every attention layer of the chosen model on it.

    ``image`` is a path, the raw upload dict Gradio sends, a PIL image or
    bytes; ``checkpoint_file``, when given, is an uploaded checkpoint that
    replaces the picked shipped model.
    """
    source, name = resolve_upload(image, roots)
    upload = checkpoint_upload(checkpoint_file, roots)
    start = time.perf_counter()
    decoded = load_image(source)
    decode_s = time.perf_counter() - start
    analyzer = cache.get(model, upload[0] if upload else None)
    result = analyze_loaded(analyzer, decoded, name, decode_s)
    elapsed_ms = 1000 * (decode_s + result.timings["forward"])
    LOGGER.info("analysed %s with %s in %.0f ms", name, result.checkpoint, elapsed_ms)
    return result


def analyze_sketch(
    sketch: Any,
    model: str | None = DEFAULT_CHECKPOINT,
    checkpoint_file: Any = None,
    *,
    cache: ModelCache,
    roots: UploadRoots,
) -> LensResult:
    """Like ``analyze``, for a drawing from the sketchpad."""
    image = sketch_image(sketch, roots)
    upload = checkpoint_upload(checkpoint_file, roots)
    analyzer = cache.get(model, upload[0] if upload else None)
    return analyze_loaded(analyzer, image, "sketch.png")


def check_checkpoint(checkpoint_file: Any, *, cache: ModelCache, roots: UploadRoots) -> str:
    """One line about an uploaded checkpoint: what it is, or why it is refused."""
    try:
        upload = checkpoint_upload(checkpoint_file, roots)
        if upload is None:
            return "Using the picked shipped model."
        loaded = cache.uploaded(upload[0]).loaded
    except InputError as error:
        return f"**Refused:** {markdown_text(str(error))}"
    classes = ", ".join(loaded.classes[:8]) + (", …" if len(loaded.classes) > 8 else "")
    return (
        f"Using uploaded checkpoint **{markdown_text(loaded.name)}** "
        f"({markdown_text(loaded.arch)}, {len(loaded.classes)} classes: {markdown_text(classes)})."
    )


# --------------------------------------------------------------------------- outputs of an analysis


def top_predictions(result: LensResult, k: int = 5) -> dict[str, float]:
    """Top-k labels and probabilities, in the form gr.Label shows."""
    analysis = result.analysis
    return {analysis.classes[index]: probability for index, probability in analysis.top(k)}


def status_line(result: LensResult) -> str:
    """One line for the page: what was analysed with which model, the prediction, and the time taken."""
    best = result.document["results"][0]["prediction"]
    total_ms = 1000 * sum(result.timings.values())
    return (
        f"**{markdown_text(result.image_name)}** with model **{markdown_text(result.checkpoint)}**: "
        f"{markdown_text(best['label'])} ({best['probability']:.1%}); decoded and analysed in {total_ms:.0f} ms."
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


def _prune(directory: Path, max_age_s: float = OUTPUT_MAX_AGE_S) -> None:
    """Delete download folders older than ``max_age_s``; Gradio has copied them to its cache long before."""
    cutoff = time.time() - max_age_s
    for entry in directory.glob("dl-*"):
        try:
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            continue


def _new_download_folder(directory: str | Path) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _prune(directory)
    # One folder per file, so every download keeps a readable name without clashing.
    return Path(tempfile.mkdtemp(prefix="dl-", dir=directory))


def write_document(result: LensResult, directory: str | Path) -> Path:
    """The analysis JSON (the CLI's ``--json`` schema) as a file to download."""
    path = _new_download_folder(directory) / f"{safe_stem(Path(result.image_name).stem)}_analysis.json"
    path.write_text(dumps(result.document), encoding="utf-8")
    return path


def _stretch(scale: str | None) -> bool:
    if scale in (None, "", "absolute"):
        return False
    if scale == "minmax":
        return True
    raise InputError(f"unknown scale {scale!r}; choose 'absolute' or 'minmax'")


def _colormap(colormap: str | None) -> str:
    colormap = colormap or DEFAULT_COLORMAP
    if colormap not in COLORMAPS:
        raise InputError(f"unknown colormap {colormap!r}; choose one of {', '.join(COLORMAPS)}")
    return colormap


def _opacity(opacity: float | None) -> float:
    return DEFAULT_OPACITY if opacity is None else min(1.0, max(0.0, float(opacity)))


def _top_k(top_k: float | None) -> int:
    return DEFAULT_TOP_K if top_k is None else max(1, min(MAX_TOP_K, int(top_k)))


def report_png(
    result: LensResult,
    directory: str | Path,
    colormap: str | None = DEFAULT_COLORMAP,
    opacity: float | None = DEFAULT_OPACITY,
    scale: str | None = DEFAULT_SCALE,
    top_k: float | None = DEFAULT_TOP_K,
) -> Path:
    """The one-page PNG report (render.summary_figure) with the page's display settings."""
    figure = render.summary_figure(
        result.analysis,
        colormap=_colormap(colormap),
        opacity=_opacity(opacity),
        stretch=_stretch(scale),
        top_k=_top_k(top_k),
    )
    path = _new_download_folder(directory) / f"{safe_stem(Path(result.image_name).stem)}_report.png"
    path.write_bytes(render.figure_to_png(figure))
    return path


def statistics_table(result: LensResult) -> dict[str, list[Any]]:
    """Per-layer statistics in the form gr.Dataframe takes."""
    headers, rows = render.statistics_rows(result.analysis)
    return {"headers": list(headers), "data": rows}


# --------------------------------------------------------------------------- re-rendering panels


def pick_layer(names: Sequence[str], wanted: str | None) -> str | None:
    """The wanted layer if this result has it, else the first: a new model may have other layers."""
    if wanted in names:
        return wanted
    return names[0] if names else None


class ChannelPanels(NamedTuple):
    bar_chart: Image.Image | None
    branches: Image.Image | None
    feature_maps: Image.Image | None


class SpatialPanels(NamedTuple):
    grid: Image.Image | None
    overlay: Image.Image | None
    mask: Image.Image | None


def channel_panels(
    result: LensResult | None,
    layer: str | None = None,
    sort: bool = False,
    top_k: float | None = DEFAULT_TOP_K,
    branches: bool = True,
) -> ChannelPanels:
    """Bar chart, avg/max branch chart and top-k feature maps of one channel layer, from the record alone.

    ``branches=False`` skips the branch chart (its field is None): the page
    keeps that chart in a closed section and draws it only while the section
    is open, since it costs as much as the bar chart.
    """
    if result is None:
        return ChannelPanels(None, None, None)
    name = pick_layer(result.channel_layer_names, layer)
    if name is None:
        return ChannelPanels(None, None, None)
    k = _top_k(top_k)
    channel = result.analysis.layer(name)
    bar = render.figure_to_image(render.channel_bar_chart(channel, top_k=k, sort=bool(sort)))  # type: ignore[arg-type]
    branch_image = branch_panel(result, name, sort) if branches else None
    features = result.features.get(name)
    feature_maps = None
    if features is not None:
        with_features = dataclasses.replace(result.analysis, feature_layer=name, features=features)
        feature_maps = render.feature_maps_image(with_features, name, top_k=k)
    return ChannelPanels(bar, branch_image, feature_maps)


def branch_panel(result: LensResult | None, layer: str | None = None, sort: bool = False) -> Image.Image | None:
    """The avg and max pooling parts of one channel layer before its gate."""
    if result is None:
        return None
    name = pick_layer(result.channel_layer_names, layer)
    if name is None:
        return None
    channel = result.analysis.layer(name)
    return render.figure_to_image(render.branch_chart(channel, sort=bool(sort)))  # type: ignore[arg-type]


def _mask_view_size(layer: SpatialLayer, side: int = MASK_VIEW_SIDE) -> tuple[int, int]:
    """Whole-number enlargement, so every mask cell stays a crisp square."""
    height, width = layer.size
    factor = max(1, side // max(height, width))
    return width * factor, height * factor


def spatial_panels(
    result: LensResult | None,
    layer: str | None = None,
    colormap: str | None = DEFAULT_COLORMAP,
    opacity: float | None = DEFAULT_OPACITY,
    scale: str | None = DEFAULT_SCALE,
) -> SpatialPanels:
    """Grid of every mask overlay, the selected layer's overlay at the image's resolution, and its raw mask."""
    if result is None:
        return SpatialPanels(None, None, None)
    colormap, alpha, stretch = _colormap(colormap), _opacity(opacity), _stretch(scale)
    grid = render.overlay_grid(result.analysis, colormap, alpha, stretch)
    name = pick_layer(result.spatial_layer_names, layer)
    if name is None:
        return SpatialPanels(grid, None, None)
    spatial = result.analysis.layer(name)
    assert isinstance(spatial, SpatialLayer)
    large = render.overlay(result.analysis.image, spatial.mask, colormap, alpha, stretch)
    mask = render.mask_image(spatial.mask, colormap, stretch, size=_mask_view_size(spatial))
    return SpatialPanels(grid, large, mask)


class DisplayOptions(NamedTuple):
    """Every display control of the page, with the page's defaults."""

    channel_layer: str | None = None
    sort: bool = False
    top_k: float = DEFAULT_TOP_K
    spatial_layer: str | None = None
    colormap: str = DEFAULT_COLORMAP
    opacity: float = DEFAULT_OPACITY
    scale: str = DEFAULT_SCALE
    branches: bool = False  # the branch chart's section starts closed


class Panels(NamedTuple):
    channel: ChannelPanels
    spatial: SpatialPanels
    statistics: dict[str, list[Any]]


def render_panels(result: LensResult, options: DisplayOptions = DisplayOptions()) -> Panels:
    """Every panel the page shows for one analysis (the report PNG is made separately)."""
    return Panels(
        channel=channel_panels(result, options.channel_layer, options.sort, options.top_k, options.branches),
        spatial=spatial_panels(result, options.spatial_layer, options.colormap, options.opacity, options.scale),
        statistics=statistics_table(result),
    )
