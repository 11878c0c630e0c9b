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
import html
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from PIL import Image

from attention import render
from attention.analysis import Analyzer, ImageAnalysis, SpatialLayer, analysis_to_dict, build_document
from attention.errors import InputError
from attention.files import dumps, safe_stem
from attention.images import ImageSource, load_image
from models.checkpoint import DEFAULT_CHECKPOINT

from .state import LensResult, ModelCache

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
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".ico"}
)


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


def _path_of(value: Any) -> str | None:
    """A file path from what a Gradio file or image component sends, raw or preprocessed."""
    if value is None or value == "":
        return None
    if isinstance(value, (str, Path)):
        return str(value)
    if isinstance(value, Mapping):
        path = value.get("path")
        return str(path) if path else None
    path = getattr(value, "path", None)
    return str(path) if path else None


def resolve_upload(value: Any) -> tuple[ImageSource, str]:
    """(something ``load_image`` reads, display name) for an uploaded image in any form.

    The app receives the raw upload (a dict with the server-side path and the
    original file name) so that the original bytes, not a copy Gradio already
    converted, reach ``load_image``: that is where EXIF orientation, 16-bit,
    CMYK and palette images, size limits and broken files are handled.
    """
    if value is None or value == "" or value == {}:
        raise InputError("no image: upload, paste or photograph an image first")
    if isinstance(value, Image.Image):
        return value, "image"
    if isinstance(value, (bytes, bytearray)):
        return bytes(value), "upload"
    path = _path_of(value)
    if path is None:
        raise InputError("no image: upload, paste or photograph an image first")
    name = value.get("orig_name") if isinstance(value, Mapping) else None
    return path, str(name or Path(path).name)


def sketch_image(value: Any) -> Image.Image:
    """The drawing on the sketchpad, flattened on white; InputError if nothing was drawn."""
    composite = value.get("composite") if isinstance(value, Mapping) else value
    if composite is None:
        raise InputError("the sketchpad is empty: draw a shape first")
    image = composite if isinstance(composite, Image.Image) else load_image(_path_of(composite) or composite)
    if image.mode in ("RGBA", "LA", "PA", "P"):
        image = load_image(image)  # flattens transparency on white, like an uploaded drawing
    extrema = image.convert("L").getextrema()
    if extrema[0] == extrema[1]:
        raise InputError("the sketchpad is empty: draw a shape first")
    return image.convert("RGB")


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
) -> LensResult:
    """Decode an upload and record every attention layer of the chosen model on it.

    ``image`` is a path, the raw upload dict Gradio sends, a PIL image or
    bytes; ``checkpoint_file``, when given, is an uploaded checkpoint that
    replaces the picked shipped model.
    """
    source, name = resolve_upload(image)
    start = time.perf_counter()
    decoded = load_image(source)
    decode_s = time.perf_counter() - start
    analyzer = cache.get(model, _path_of(checkpoint_file))
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
) -> LensResult:
    """Like ``analyze``, for a drawing from the sketchpad."""
    image = sketch_image(sketch)
    analyzer = cache.get(model, _path_of(checkpoint_file))
    return analyze_loaded(analyzer, image, "sketch.png")


def check_checkpoint(checkpoint_file: Any, *, cache: ModelCache) -> str:
    """One line about an uploaded checkpoint: what it is, or why it is refused."""
    path = _path_of(checkpoint_file)
    if path is None:
        return "Using the picked shipped model."
    try:
        loaded = cache.uploaded(path).loaded
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


def markdown_text(text: str) -> str:
    """User-chosen text (a file name) shown literally in Markdown, never as markup or HTML."""
    escaped = html.escape(str(text), quote=False)
    return "".join("\\" + c if c in "\\`*_{}[]()#+-.!|~" else c for c in escaped)


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


def example_images(folder: str | Path) -> list[str]:
    """Image files in the examples folder, sorted; empty when the folder is empty or missing."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(
        str(path)
        for path in folder.iterdir()
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")
    )
