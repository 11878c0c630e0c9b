"""Attention Lens web app: ``python app.py`` serves it on http://127.0.0.1:7860.

This file only builds the page and connects events to the plain functions in
``webapp.handlers``; it holds no logic of its own that a test would need.
GRADIO_SERVER_NAME and GRADIO_SERVER_PORT choose where it listens.

API: the ``/analyze`` endpoint takes an image file (every other input has a
default) and returns a status line, the top-5 predictions, the analysis
document in the schema of ``python -m attention analyze --json``, and that
document as a file. Bad input raises an error whose message says what is wrong.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import atexit  # noqa: E402
import functools  # noqa: E402
import html  # noqa: E402
import logging  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, TypeVar  # noqa: E402

import gradio as gr  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from attention.errors import InputError  # noqa: E402
from models.checkpoint import DEFAULT_CHECKPOINT  # noqa: E402
from webapp import handlers  # noqa: E402
from webapp.inputs import UploadRoots, gradio_upload_folder  # noqa: E402
from webapp.state import LensResult, ModelCache  # noqa: E402

LOGGER = logging.getLogger("attention_lens.app")
ROOT = Path(__file__).resolve().parent
EXAMPLES_DIR = ROOT / "assets" / "examples"
CONCURRENCY = 2  # two analyses at a time: this is a 2-core machine's worth of work
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


def _warm_up(cache: ModelCache) -> None:
    """Run one analysis and draw every panel, so the first visitor does not pay for lazy imports and fonts."""
    image = Image.new("RGB", (128, 128), "white")
    ImageDraw.Draw(image).ellipse((24, 24, 104, 104), fill="black")
    try:
        result = handlers.analyze_loaded(cache.shipped(DEFAULT_CHECKPOINT), image, "warm-up")
        handlers.render_panels(result)
    except Exception:  # noqa: BLE001 - a failed warm-up only costs the first request some time
        LOGGER.exception("warm-up failed")


def build_app(
    cache: ModelCache | None = None, downloads: Path | None = None, roots: UploadRoots | None = None
) -> gr.Blocks:
    """The page. ``cache`` is the only object shared between requests; it holds read-only models.

    ``roots`` are the only folders a request may name a file in (by default
    Gradio's upload folder and the examples folder).
    """
    cache = cache or ModelCache()
    roots = roots or UploadRoots.of([gradio_upload_folder(), EXAMPLES_DIR])
    downloads = downloads or Path(tempfile.mkdtemp(prefix="attention-lens-"))
    default_model = cache.shipped(DEFAULT_CHECKPOINT)
    channel_names = default_model.channel_layer_names
    spatial_names = [name for name in default_model.layer_names if name not in channel_names]
    examples = handlers.example_images(EXAMPLES_DIR)

    # ------------------------------------------------------------------ event functions (wiring only)

    @user_errors
    def analyze(
        image: Any, model: str = DEFAULT_CHECKPOINT, checkpoint_file: Any = None
    ) -> tuple[LensResult, str, dict[str, float], dict[str, Any], str]:
        result = handlers.analyze(image, model, checkpoint_file, cache=cache, roots=roots)
        return (result, *handlers.analysis_outputs(result, downloads))

    @user_errors
    def analyze_sketch(
        sketch: Any, model: str = DEFAULT_CHECKPOINT, checkpoint_file: Any = None
    ) -> tuple[LensResult, str, dict[str, float], dict[str, Any], str]:
        result = handlers.analyze_sketch(sketch, model, checkpoint_file, cache=cache, roots=roots)
        return (result, *handlers.analysis_outputs(result, downloads))

    @user_errors
    def show(
        result: LensResult | None,
        channel_layer: str | None,
        sort: bool,
        top_k: float,
        spatial_layer: str | None,
        colormap: str,
        opacity: float,
        scale: str,
        branches_open: bool,
    ) -> tuple[Any, ...]:
        if result is None:
            return (gr.skip(),) * 9
        channel_layer = handlers.pick_layer(result.channel_layer_names, channel_layer)
        spatial_layer = handlers.pick_layer(result.spatial_layer_names, spatial_layer)
        options = handlers.DisplayOptions(
            channel_layer, sort, top_k, spatial_layer, colormap, opacity, scale, bool(branches_open)
        )
        panels = handlers.render_panels(result, options)
        bar, branch_image, features = panels.channel
        return (
            gr.Dropdown(choices=result.channel_layer_names, value=channel_layer),
            gr.Dropdown(choices=result.spatial_layer_names, value=spatial_layer),
            bar,
            branch_image if branches_open else gr.skip(),
            features,
            *panels.spatial,
            panels.statistics,
        )

    @user_errors
    def redraw_channel(
        result: LensResult | None, layer: str | None, sort: bool, top_k: float, branches_open: bool
    ) -> tuple[Any, ...]:
        bar, branch_image, features = handlers.channel_panels(result, layer, sort, top_k, bool(branches_open))
        return bar, branch_image if branches_open else gr.skip(), features

    @user_errors
    def open_branches(result: LensResult | None, layer: str | None, sort: bool) -> tuple[bool, Any]:
        return True, handlers.branch_panel(result, layer, sort)

    @user_errors
    def redraw_spatial(
        result: LensResult | None, layer: str | None, colormap: str, opacity: float, scale: str
    ) -> tuple[Any, ...]:
        return tuple(handlers.spatial_panels(result, layer, colormap, opacity, scale))

    @user_errors
    def report(result: LensResult | None, colormap: str, opacity: float, scale: str, top_k: float) -> str | None:
        if result is None:
            raise InputError("analyze an image first")
        return str(handlers.report_png(result, downloads, colormap, opacity, scale, top_k))

    @user_errors
    def check_checkpoint(checkpoint_file: Any) -> str:
        return handlers.check_checkpoint(checkpoint_file, cache=cache, roots=roots)

    def refresh_models(current: str | None) -> Any:
        names = cache.names()
        return gr.Dropdown(choices=names, value=current if current in names else DEFAULT_CHECKPOINT)

    # ------------------------------------------------------------------ layout

    with gr.Blocks(title="Attention Lens", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        result = gr.State(None, time_to_live=1800)
        gr.Markdown(
            "# Attention Lens\n"
            "See what the attention modules inside a CNN do to an image: how each **ECA** layer weighs "
            "its channels, and where each **spatial attention** layer looks."
        )
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
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
                        gr.Examples(
                            examples=[[path] for path in examples],
                            inputs=[image],
                            label="Examples",
                            examples_per_page=12,
                        )
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
                with gr.Accordion("Model", open=True):
                    model = gr.Dropdown(
                        choices=cache.names(), value=DEFAULT_CHECKPOINT, label="Shipped model", elem_id="model"
                    )
                    checkpoint = gr.File(
                        label="…or upload a checkpoint (.pt) to use instead",
                        file_types=[".pt", ".pth"],
                        type="filepath",
                        elem_id="checkpoint-upload",
                    )
                    model_status = gr.Markdown("Using the picked shipped model.")
            with gr.Column(scale=3, min_width=360):
                status = gr.Markdown(
                    "Upload an image (or draw one) and press **Analyze**.", label="Status", elem_id="status"
                )
                top5 = gr.Label(num_top_classes=5, label="Top-5 predictions", elem_id="predictions")
                statistics = gr.Dataframe(
                    headers=list(handlers.STATISTICS_HEADERS),
                    label="Per-layer statistics (channel layers: entropy of the weights; "
                    "spatial layers: kept fraction)",
                    interactive=False,
                    elem_id="statistics",
                )

        gr.Markdown("## Channel attention (ECA): how much each channel is kept")
        with gr.Row():
            channel_layer = gr.Dropdown(
                choices=channel_names,
                value=channel_names[0] if channel_names else None,
                label="ECA layer",
                elem_id="channel-layer",
            )
            sort = gr.Checkbox(value=False, label="Sort channels by weight", elem_id="sort")
            top_k = gr.Slider(
                1,
                handlers.MAX_TOP_K,
                value=handlers.DEFAULT_TOP_K,
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

        gr.Markdown("## Spatial attention: where each layer looks")
        with gr.Row():
            spatial_layer = gr.Dropdown(
                choices=spatial_names,
                value=spatial_names[0] if spatial_names else None,
                label="Spatial layer (large view)",
                elem_id="spatial-layer",
            )
            colormap = gr.Dropdown(
                choices=list(handlers.COLORMAPS), value=handlers.DEFAULT_COLORMAP, label="Colormap", elem_id="colormap"
            )
            opacity = gr.Slider(
                0.0, 1.0, value=handlers.DEFAULT_OPACITY, step=0.05, label="Overlay opacity", elem_id="opacity"
            )
            scale = gr.Radio(
                choices=list(handlers.SCALES), value=handlers.DEFAULT_SCALE, label="Colour scale", elem_id="scale"
            )
        # JPEG for the photographic overlays: it encodes in about 1 ms where WebP or PNG take 20-30 ms.
        overlay_grid = output_panel("Every spatial layer", "overlay-grid", "jpeg")
        with gr.Row():
            overlay = output_panel("Selected layer over the image, at the image's resolution", "overlay", "jpeg")
            mask = output_panel("Raw mask", "raw-mask", "png")

        gr.Markdown("## Downloads")
        with gr.Row():
            document_file = gr.File(label="Analysis JSON", interactive=False, elem_id="document-file")
            report_file = gr.File(label="PNG report", interactive=False, elem_id="report-file")
            report_button = gr.Button("Redraw the report with the current display settings", size="sm")
        with gr.Accordion("Analysis JSON (same schema as `python -m attention analyze --json`)", open=False):
            document = gr.JSON(label="Analysis document", elem_id="document")

        # -------------------------------------------------------------- events

        analysis_out = [result, status, top5, document, document_file]
        show_in = [result, channel_layer, sort, top_k, spatial_layer, colormap, opacity, scale, branches_open]
        show_out = [
            channel_layer,
            spatial_layer,
            bar_chart,
            branches,
            feature_maps,
            overlay_grid,
            overlay,
            mask,
            statistics,
        ]
        report_in = [result, colormap, opacity, scale, top_k]
        model_inputs = dict(concurrency_id="model", concurrency_limit=CONCURRENCY)
        render_inputs = dict(concurrency_id="render", concurrency_limit=CONCURRENCY, api_visibility="private")

        for button, function, source, api_name in (
            (analyze_button, analyze, image, "analyze"),
            (sketch_button, analyze_sketch, sketch, "analyze_sketch"),
        ):
            # preprocess=False for the image: the handler gets the raw upload, so the
            # original bytes reach load_image and a broken file gets its clear message.
            (
                button.click(
                    function,
                    [source, model, checkpoint],
                    analysis_out,
                    api_name=api_name,
                    preprocess=api_name == "analyze_sketch",
                    **model_inputs,
                )
                .success(show, show_in, show_out, show_progress="minimal", **render_inputs)
                .success(report, report_in, [report_file], show_progress="hidden", **render_inputs)
            )

        channel_in = [result, channel_layer, sort, top_k, branches_open]
        channel_out = [bar_chart, branches, feature_maps]
        branches_section.expand(
            open_branches,
            [result, channel_layer, sort],
            [branches_open, branches],
            show_progress="hidden",
            **render_inputs,
        )
        branches_section.collapse(lambda: False, None, [branches_open], queue=False, api_visibility="private")
        channel_layer.input(redraw_channel, channel_in, channel_out, show_progress="hidden", **render_inputs)
        sort.input(redraw_channel, channel_in, channel_out, show_progress="hidden", **render_inputs)
        top_k.release(redraw_channel, channel_in, channel_out, show_progress="hidden", **render_inputs)

        spatial_in = [result, spatial_layer, colormap, opacity, scale]
        spatial_out = [overlay_grid, overlay, mask]
        for control in (spatial_layer, colormap, scale):
            control.input(redraw_spatial, spatial_in, spatial_out, show_progress="hidden", **render_inputs)
        opacity.release(redraw_spatial, spatial_in, spatial_out, show_progress="hidden", **render_inputs)

        report_button.click(report, report_in, [report_file], **render_inputs)
        checkpoint.change(check_checkpoint, [checkpoint], [model_status], **render_inputs)
        demo.load(refresh_models, [model], [model], api_visibility="private")
    return demo


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per internal HTTP call is noise
    threads = handlers.configure_torch()
    downloads = Path(tempfile.mkdtemp(prefix="attention-lens-"))
    atexit.register(shutil.rmtree, downloads, ignore_errors=True)
    cache = ModelCache()
    demo = build_app(cache, downloads)  # loads the default model
    threading.Thread(target=_warm_up, args=(cache,), name="warm-up", daemon=True).start()
    LOGGER.info("default model %s loaded; torch uses %d thread(s) per request", DEFAULT_CHECKPOINT, threads)
    demo.queue(default_concurrency_limit=CONCURRENCY).launch(
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
