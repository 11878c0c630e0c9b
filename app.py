"""Attention Lens web app: ``python app.py`` serves it on http://127.0.0.1:7860.

This file only builds the page and connects events to the plain functions in
``webapp``; it holds no logic of its own that a test would need. Each section
of the page has one builder that makes its components and wires the events
that only touch that section; ``build_app`` wires the events that cross
sections. Events return ``{component: value}``, so adding a panel is one
entry where that panel is drawn. (It is longer than this project's usual 400
lines because each section's components stay next to the events that wire
them.) GRADIO_SERVER_NAME and GRADIO_SERVER_PORT choose where it listens.

API: the ``/analyze`` endpoint takes an image file (every other input has a
default) and returns a status line, the top-5 predictions, the analysis
document in the schema of ``python -m attention analyze --json``, and that
document as a file. Bad input raises an error whose message says what is wrong.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from webapp.downloads import TempSpace  # noqa: E402

# Gradio reads GRADIO_TEMP_DIR when it is imported, so a served app makes its temp folder first.
TEMP_SPACE = TempSpace.create() if __name__ == "__main__" else None

import atexit  # noqa: E402
import functools  # noqa: E402
import html  # noqa: E402
import logging  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, TypeVar  # noqa: E402

import gradio as gr  # noqa: E402

from attention.errors import InputError  # noqa: E402
from models.checkpoint import DEFAULT_CHECKPOINT  # noqa: E402
from webapp import analysis, downloads, panels  # noqa: E402
from webapp.inputs import CHECKPOINT_SUFFIXES, UploadRoots, example_images, gradio_upload_folder  # noqa: E402
from webapp.runtime import configure_torch, stop_on_sigterm, warm_up  # noqa: E402
from webapp.state import LensResult, ModelCache  # noqa: E402

LOGGER = logging.getLogger("attention_lens.app")
ROOT = Path(__file__).resolve().parent
EXAMPLES_DIR = ROOT / "assets" / "examples"
CONCURRENCY = 2  # two analyses at a time: this is a 2-core machine's worth of work
# Events waiting beyond this many are refused at once ("busy, try again") instead of
# making every accepted request wait behind a flood.
QUEUE_SIZE = int(os.environ.get("ATTENTION_LENS_QUEUE_SIZE", "16"))
SESSION_TTL_S = 1800
F = TypeVar("F", bound=Callable[..., Any])

CSS = """
#status p { margin: 0; }
/* Panels draw their own titles: keep them clear of the floating component label. */
.lens-panel .image-frame { padding-top: 30px; }
.lens-panel img { object-fit: contain; }
/* Mask cells are data: show them as crisp squares, not blurred. */
#raw-mask img, #feature-maps img { image-rendering: pixelated; }
"""
PANEL_BUTTONS = ["download", "fullscreen"]
MODEL_EVENTS = dict(concurrency_id="model", concurrency_limit=CONCURRENCY)
RENDER_EVENTS = dict(concurrency_id="render", concurrency_limit=CONCURRENCY, api_visibility="private")


def output_panel(label: str, elem_id: str, image_format: str = "png", scale: int | None = None) -> gr.Image:
    """A read-only image panel; JPEG for photographic overlays (about 1 ms to encode where PNG takes 20-30 ms)."""
    return gr.Image(
        label=label,
        type="pil",
        format=image_format,
        interactive=False,
        elem_id=elem_id,
        elem_classes="lens-panel",
        buttons=PANEL_BUTTONS,
        scale=scale,
    )


def user_errors(fn: F) -> F:
    """Turn a one-line InputError into gr.Error, which the page shows and API clients receive.

    Anything else is logged with its traceback and reported as an internal
    error, so a bug never leaves a request without an answer.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InputError as error:
            LOGGER.info("refused: %s", error)
            # gr.Error renders HTML; the message may contain an uploaded file's name.
            raise gr.Error(html.escape(str(error), quote=False), print_exception=False) from None
        except Exception as error:  # noqa: BLE001 - the server must keep answering
            LOGGER.exception("%s failed", fn.__name__)
            raise gr.Error(
                f"internal error ({type(error).__name__}); the details are in the server log", print_exception=False
            ) from None

    return wrapper  # type: ignore[return-value]


# ---------------------------------------------------------------------- page sections


@dataclass
class InputSection:
    image: gr.Image
    analyze_button: gr.Button
    sketch: gr.Sketchpad
    sketch_button: gr.Button


def input_section(examples: list[str]) -> InputSection:
    with gr.Tab("Image"):
        image = gr.Image(
            label="Image (upload, paste or webcam)",
            sources=["upload", "webcam", "clipboard"],
            type="filepath",
            image_mode=None,
            height=300,
            elem_id="input-image",
        )
        analyze_button = gr.Button("Analyze", variant="primary", elem_id="analyze-button")
        if examples:
            gr.Examples(examples=[[path] for path in examples], inputs=[image], label="Examples", examples_per_page=12)
        else:
            gr.Markdown("*No example images yet: add image files to `assets/examples`.*")
    with gr.Tab("Draw"):
        sketch = gr.Sketchpad(
            label="Draw a shape (pick the brush on the left first)",
            type="pil",
            canvas_size=(256, 256),
            height=320,
            brush=gr.Brush(default_size=6, colors=["#000000", "#d62728", "#1f77b4"], color_mode="defaults"),
            elem_id="sketchpad",
        )
        sketch_button = gr.Button("Analyze drawing", variant="primary", elem_id="analyze-sketch-button")
    return InputSection(image, analyze_button, sketch, sketch_button)


@dataclass
class ModelSection:
    model: gr.Dropdown
    checkpoint: gr.File
    status: gr.Markdown


def model_section(cache: ModelCache, roots: UploadRoots) -> ModelSection:
    with gr.Accordion("Model", open=True):
        model = gr.Dropdown(choices=cache.names(), value=DEFAULT_CHECKPOINT, label="Shipped model", elem_id="model")
        checkpoint = gr.File(
            label="…or upload a checkpoint to use instead (" + ", ".join(CHECKPOINT_SUFFIXES) + ")",
            file_types=list(CHECKPOINT_SUFFIXES),
            type="filepath",
            elem_id="checkpoint-upload",
        )
        status = gr.Markdown("Using the picked shipped model.")

    @user_errors
    def check_checkpoint(checkpoint_file: Any) -> dict[Any, Any]:
        return {status: analysis.check_checkpoint(checkpoint_file, cache=cache, roots=roots)}

    checkpoint.change(check_checkpoint, [checkpoint], [status], preprocess=False, **RENDER_EVENTS)
    return ModelSection(model, checkpoint, status)


@dataclass
class ResultsSection:
    status: gr.Markdown
    top5: gr.Label
    statistics: gr.Dataframe


def results_section() -> ResultsSection:
    status = gr.Markdown("Upload an image (or draw one) and press **Analyze**.", label="Status", elem_id="status")
    top5 = gr.Label(num_top_classes=5, label="Top-5 predictions", elem_id="predictions")
    statistics = gr.Dataframe(
        headers=list(panels.STATISTICS_HEADERS),
        label="Per-layer statistics (channel layers: entropy of the weights; spatial layers: kept fraction)",
        interactive=False,
        elem_id="statistics",
    )
    return ResultsSection(status, top5, statistics)


@dataclass
class ChannelSection:
    layer: gr.Dropdown
    sort: gr.Checkbox
    top_k: gr.Slider
    bar_chart: gr.Image
    feature_maps: gr.Image
    branches_open: gr.State
    branches: gr.Image

    def panels(self, result: LensResult, layer: str | None, sort: bool, top_k: float, open_: bool) -> dict[Any, Any]:
        """This section's pictures for one result; the branch chart only while its section is open."""
        bar, branch_image, features = panels.channel_panels(result, layer, sort, top_k, bool(open_))
        shown = {self.bar_chart: bar, self.feature_maps: features}
        if open_:
            shown[self.branches] = branch_image
        return shown


def channel_section(result: gr.State, names: list[str]) -> ChannelSection:
    gr.Markdown("## Channel attention (ECA): how much each channel is kept")
    with gr.Row():
        layer = gr.Dropdown(
            choices=names, value=names[0] if names else None, label="ECA layer", elem_id="channel-layer"
        )
        sort = gr.Checkbox(value=False, label="Sort channels by weight", elem_id="sort")
        top_k = gr.Slider(
            1,
            panels.MAX_TOP_K,
            value=panels.DEFAULT_TOP_K,
            step=1,
            label="Top-k channels (highlighted, and their feature maps)",
            elem_id="top-k",
        )
    with gr.Row():
        bar_chart = output_panel("Channel weights", "bar-chart", "png", scale=3)
        feature_maps = output_panel("Feature maps of the top-k channels", "feature-maps", "png", scale=2)
    # Closed at first and drawn only while open: this chart costs as much as the bar chart.
    branches_open = gr.State(False)
    with gr.Accordion(
        "Avg and max pooling branches before the gate", open=False, elem_id="branches-section"
    ) as branches_section:
        branches = output_panel("Avg and max branch parts", "branches", "png")
    section = ChannelSection(layer, sort, top_k, bar_chart, feature_maps, branches_open, branches)

    @user_errors
    def redraw(result_: LensResult | None, layer_: str | None, sort_: bool, k: float, open_: bool) -> dict[Any, Any]:
        return {} if result_ is None else section.panels(result_, layer_, sort_, k, open_)

    @user_errors
    def open_branches(result_: LensResult | None, layer_: str | None, sort_: bool) -> dict[Any, Any]:
        return {branches_open: True, branches: panels.branch_panel(result_, layer_, sort_)}

    inputs = [result, layer, sort, top_k, branches_open]
    outputs = [bar_chart, branches, feature_maps]
    branches_section.expand(
        open_branches, [result, layer, sort], [branches_open, branches], show_progress="hidden", **RENDER_EVENTS
    )
    branches_section.collapse(
        lambda: {branches_open: False}, None, [branches_open], queue=False, api_visibility="private"
    )
    layer.input(redraw, inputs, outputs, show_progress="hidden", **RENDER_EVENTS)
    sort.input(redraw, inputs, outputs, show_progress="hidden", **RENDER_EVENTS)
    top_k.release(redraw, inputs, outputs, show_progress="hidden", **RENDER_EVENTS)
    return section


@dataclass
class SpatialSection:
    layer: gr.Dropdown
    colormap: gr.Dropdown
    opacity: gr.Slider
    scale: gr.Radio
    grid: gr.Image
    overlay: gr.Image
    mask: gr.Image

    def panels(self, result: LensResult, layer: str | None, colormap: str, opacity: float, scale: str) -> dict:
        grid, overlay, mask = panels.spatial_panels(result, layer, colormap, opacity, scale)
        return {self.grid: grid, self.overlay: overlay, self.mask: mask}


def spatial_section(result: gr.State, names: list[str]) -> SpatialSection:
    gr.Markdown("## Spatial attention: where each layer looks")
    with gr.Row():
        layer = gr.Dropdown(
            choices=names,
            value=names[0] if names else None,
            label="Spatial layer (large view)",
            elem_id="spatial-layer",
        )
        colormap = gr.Dropdown(
            choices=list(panels.COLORMAPS), value=panels.DEFAULT_COLORMAP, label="Colormap", elem_id="colormap"
        )
        opacity = gr.Slider(
            0.0, 1.0, value=panels.DEFAULT_OPACITY, step=0.05, label="Overlay opacity", elem_id="opacity"
        )
        scale = gr.Radio(choices=list(panels.SCALES), value=panels.DEFAULT_SCALE, label="Colour scale", elem_id="scale")
    # JPEG for the photographic overlays: it encodes in about 1 ms where WebP or PNG take 20-30 ms.
    grid = output_panel("Every spatial layer", "overlay-grid", "jpeg")
    with gr.Row():
        overlay = output_panel("Selected layer over the image, at the image's resolution", "overlay", "jpeg")
        mask = output_panel("Raw mask", "raw-mask", "png")
    section = SpatialSection(layer, colormap, opacity, scale, grid, overlay, mask)

    @user_errors
    def redraw(result_: LensResult | None, layer_: str | None, colormap_: str, alpha: float, scale_: str) -> dict:
        return {} if result_ is None else section.panels(result_, layer_, colormap_, alpha, scale_)

    inputs = [result, layer, colormap, opacity, scale]
    outputs = [grid, overlay, mask]
    for control in (layer, colormap, scale):
        control.input(redraw, inputs, outputs, show_progress="hidden", **RENDER_EVENTS)
    opacity.release(redraw, inputs, outputs, show_progress="hidden", **RENDER_EVENTS)
    return section


@dataclass
class DownloadSection:
    document_file: gr.File
    report_file: gr.File
    document: gr.JSON
    report_inputs: list[Any]
    report: Callable[..., dict[Any, Any]]


def download_section(
    result: gr.State, channel: ChannelSection, spatial: SpatialSection, folder: Path
) -> DownloadSection:
    gr.Markdown("## Downloads")
    with gr.Row():
        document_file = gr.File(label="Analysis JSON", interactive=False, elem_id="document-file")
        report_file = gr.File(label="PNG report", interactive=False, elem_id="report-file")
        report_button = gr.Button("Redraw the report with the current display settings", size="sm")
    with gr.Accordion("Analysis JSON (same schema as `python -m attention analyze --json`)", open=False):
        document = gr.JSON(label="Analysis document", elem_id="document")

    @user_errors
    def report(result_: LensResult | None, colormap: str, opacity: float, scale: str, top_k: float) -> dict:
        if result_ is None:
            raise InputError("analyze an image first")
        return {report_file: str(downloads.report_png(result_, folder, colormap, opacity, scale, top_k))}

    report_inputs = [result, spatial.colormap, spatial.opacity, spatial.scale, channel.top_k]
    report_button.click(report, report_inputs, [report_file], **RENDER_EVENTS)
    return DownloadSection(document_file, report_file, document, report_inputs, report)


# ---------------------------------------------------------------------- the page


def build_app(
    cache: ModelCache | None = None, download_folder: Path | None = None, roots: UploadRoots | None = None
) -> gr.Blocks:
    """The page. ``cache`` is the only object shared between requests; it holds read-only models.

    ``roots`` are the only folders a request may name a file in (by default
    Gradio's upload folder and the examples folder).
    """
    cache = cache or ModelCache()
    folder = download_folder or Path(tempfile.mkdtemp(prefix="attention-lens-"))
    roots = roots or UploadRoots.of([gradio_upload_folder(), EXAMPLES_DIR])
    default_model = cache.shipped(DEFAULT_CHECKPOINT)
    channel_names = default_model.channel_layer_names
    spatial_names = [name for name in default_model.layer_names if name not in channel_names]

    with gr.Blocks(
        title="Attention Lens", analytics_enabled=False, delete_cache=(300, int(downloads.CACHE_MAX_AGE_S))
    ) as demo:
        result = gr.State(None, time_to_live=SESSION_TTL_S)
        gr.Markdown(
            "# Attention Lens\n"
            "See what the attention modules inside a CNN do to an image: how each **ECA** layer weighs "
            "its channels, and where each **spatial attention** layer looks."
        )
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                inputs = input_section(example_images(EXAMPLES_DIR))
                model = model_section(cache, roots)
            with gr.Column(scale=3, min_width=360):
                results = results_section()
        channel = channel_section(result, channel_names)
        spatial = spatial_section(result, spatial_names)
        files = download_section(result, channel, spatial, folder)

        def analysed(result_: LensResult) -> dict[Any, Any]:
            outputs = analysis.analysis_outputs(result_, folder)
            return {
                result: result_,
                results.status: outputs.status,
                results.top5: outputs.top,
                files.document: outputs.document,
                files.document_file: outputs.document_file,
            }

        @user_errors
        def analyze(image: Any, model: str = DEFAULT_CHECKPOINT, checkpoint_file: Any = None) -> dict[Any, Any]:
            return analysed(analysis.analyze(image, model, checkpoint_file, cache=cache, roots=roots))

        @user_errors
        def analyze_sketch(sketch: Any, model: str = DEFAULT_CHECKPOINT, checkpoint_file: Any = None) -> dict:
            return analysed(analysis.analyze_sketch(sketch, model, checkpoint_file, cache=cache, roots=roots))

        @user_errors
        def show(
            result_: LensResult | None,
            channel_layer: str | None,
            sort: bool,
            top_k: float,
            spatial_layer: str | None,
            colormap: str,
            opacity: float,
            scale: str,
            branches_open: bool,
        ) -> dict[Any, Any]:
            """Every panel for a new result; the layer pickers follow the model the result came from."""
            if result_ is None:
                return {}
            channel_layer = panels.pick_layer(result_.channel_layer_names, channel_layer)
            spatial_layer = panels.pick_layer(result_.spatial_layer_names, spatial_layer)
            return {
                channel.layer: gr.Dropdown(choices=result_.channel_layer_names, value=channel_layer),
                spatial.layer: gr.Dropdown(choices=result_.spatial_layer_names, value=spatial_layer),
                **channel.panels(result_, channel_layer, sort, top_k, branches_open),
                **spatial.panels(result_, spatial_layer, colormap, opacity, scale),
                results.statistics: panels.statistics_table(result_),
            }

        show_inputs = [result, channel.layer, channel.sort, channel.top_k, spatial.layer]
        show_inputs += [spatial.colormap, spatial.opacity, spatial.scale, channel.branches_open]
        show_outputs = [channel.layer, spatial.layer, channel.bar_chart, channel.branches, channel.feature_maps]
        show_outputs += [spatial.grid, spatial.overlay, spatial.mask, results.statistics]
        analysis_outputs = [result, results.status, results.top5, files.document, files.document_file]
        for button, function, source, api_name in (
            (inputs.analyze_button, analyze, inputs.image, "analyze"),
            (inputs.sketch_button, analyze_sketch, inputs.sketch, "analyze_sketch"),
        ):
            # preprocess=False for the image: the handler gets the raw upload, so the
            # original bytes reach load_image and a broken file gets its clear message.
            (
                button.click(
                    function,
                    [source, model.model, model.checkpoint],
                    analysis_outputs,
                    api_name=api_name,
                    preprocess=api_name == "analyze_sketch",
                    **MODEL_EVENTS,
                )
                .success(show, show_inputs, show_outputs, show_progress="minimal", **RENDER_EVENTS)
                .success(
                    files.report, files.report_inputs, [files.report_file], show_progress="hidden", **RENDER_EVENTS
                )
            )

        def refresh_models(current: str | None) -> dict[Any, Any]:
            names = cache.names()
            return {model.model: gr.Dropdown(choices=names, value=current if current in names else DEFAULT_CHECKPOINT)}

        demo.load(refresh_models, [model.model], [model.model], api_visibility="private")
    return demo


# ---------------------------------------------------------------------- serving


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per internal HTTP call is noise
    threads = configure_torch()
    space = TEMP_SPACE or TempSpace.create()
    atexit.register(space.remove)
    stop_on_sigterm()
    cache = ModelCache()
    demo = build_app(cache, space.downloads, UploadRoots.of([space.uploads, EXAMPLES_DIR]))
    space.start_pruning()
    threading.Thread(target=warm_up, args=(cache,), name="warm-up", daemon=True).start()
    LOGGER.info(
        "default model %s loaded; torch uses %d thread(s) per request; temp files in %s",
        DEFAULT_CHECKPOINT,
        threads,
        space.root,
    )
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        allowed_paths=[str(EXAMPLES_DIR)],
        theme=gr.themes.Default(
            font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"]
        ),
        css=CSS,
        footer_links=["api"],
        max_file_size="256mb",
    )


if __name__ == "__main__":
    main()
