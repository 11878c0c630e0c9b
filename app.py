"""Attention Lens web app: ``python app.py`` serves it on http://127.0.0.1:7860.

This file assembles the page from its sections (``webapp.sections``, one
builder per section, each wiring the events that touch only its own
components) and wires the events that cross sections; the logic lives in
plain functions in ``webapp``. Each section that draws a new analysis names
its own inputs and outputs, from which the events after an analysis are made,
and events return ``{component: value}``, so adding a panel is one entry where
that panel is drawn. GRADIO_SERVER_NAME and
GRADIO_SERVER_PORT choose where it listens; ``python app.py --model SPEC
[--weights FILE] [--classes FILE] [--input-size ...]`` serves SPEC (as the CLI
names models) as the default model. ``--model`` may be given several times, or
``ATTENTION_LENS_MODELS`` may list specs separated by commas (a hosted copy that
runs ``app.py`` with no arguments): each is loaded with its library's pretrained
weights, and one that cannot be loaded (offline, weights not cached) is skipped
with one log line.

API: the ``/analyze`` endpoint takes an image file (every other input has a
default) and returns a status line, the top-5 predictions, the analysis
document in the schema of ``python -m attention analyze --json``, and that
document as a file. ``model`` is any value of the page's picker: a shipped
model, the launch model, or an architecture such as ``timm:seresnet18``, whose
weights ``checkpoint_file`` then carries. Bad input raises an error whose
message says what is wrong.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from webapp.downloads import TempSpace  # noqa: E402

# Gradio reads GRADIO_TEMP_DIR when it is imported, so a served app makes its temp folder first.
TEMP_SPACE = TempSpace.create() if __name__ == "__main__" else None
if TEMP_SPACE is not None:
    # Importing torchvision's transforms (Grad-CAM's package does) makes torch create its compile
    # cache folder in the system temp directory; keep it in ours, which is removed at exit.
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(TEMP_SPACE.root / "torchinductor"))

import argparse  # noqa: E402
import atexit  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
from collections.abc import Mapping  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

from attention.devices import resolve_device  # noqa: E402
from attention.errors import InputError  # noqa: E402
from attention.images import MAX_PIXELS  # noqa: E402
from models.checkpoint import DEFAULT_CHECKPOINT  # noqa: E402
from models.options import DESCRIBING, OneLineParser, add_model_options, load_model_from  # noqa: E402
from webapp import analysis, downloads  # noqa: E402
from webapp.inputs import UploadRoots, example_images, gradio_upload_folder  # noqa: E402
from webapp.panels import shows_kind  # noqa: E402
from webapp.runtime import configure_torch, limit_pillow, stop_on_sigterm  # noqa: E402
from webapp.sections.channel import bar_chart_panel, channel_section  # noqa: E402
from webapp.sections.common import CONCURRENCY, LOGGER, MODEL_EVENTS, follow_results, user_errors  # noqa: E402
from webapp.sections.debug import debug_section  # noqa: E402
from webapp.sections.downloads import download_section  # noqa: E402
from webapp.sections.explain import explain_section  # noqa: E402
from webapp.sections.inputs import example_section, input_section, model_section  # noqa: E402
from webapp.sections.live import live_section  # noqa: E402
from webapp.sections.results import results_section  # noqa: E402
from webapp.sections.spatial import grid_panel, spatial_section  # noqa: E402
from webapp.sections.tokens import token_section  # noqa: E402
from webapp.sections.video import video_section  # noqa: E402
from webapp.state import LensResult, LoadedAnalyzer, ModelCache, analyzer_with_attention  # noqa: E402

ROOT = Path(__file__).resolve().parent
EXAMPLES_DIR = ROOT / "assets" / "examples"
# Events waiting beyond this many are refused at once ("busy, try again") instead of
# making every accepted request wait behind a flood.
QUEUE_SIZE = int(os.environ.get("ATTENTION_LENS_QUEUE_SIZE", "16"))
SESSION_TTL_S = 1800
# Sessions whose results the server keeps, the oldest dropped first: about 1.7 MB each (6 MB after a huge upload).
SESSION_CAPACITY = int(os.environ.get("ATTENTION_LENS_SESSIONS", "256"))
# Models a hosted copy serves when app.py runs without --model: specs separated by commas.
MODELS_VARIABLE = "ATTENTION_LENS_MODELS"

CSS = """
/* The attention panels are pictures meant to be seen large: the page fills the window, up to a point. */
.gradio-container { max-width: 1800px !important; margin: 0 auto !important; }
/* A hint only a phone shows (below). */
.phone-hint { display: none !important; font-size: 0.85rem; color: var(--body-text-color-subdued); }
/* A phone stacks every control. */
@media (max-width: 640px) {
  .lens-controls > *, .lens-controls > .form > * { min-width: 100% !important; }
  /* Wide tables scroll inside their panel instead of widening the page. */
  #statistics, #ablation-table { max-width: calc(100vw - 90px) !important; overflow-x: auto; }
  /* So do wide pictures: drawn at their own size, their labels stay readable (11 px and up) on a phone.
     A zero width that grows to the panel's keeps the picture from widening the page. */
  .lens-panel .image-frame, .explain-image .image-frame {
    overflow-x: auto; justify-content: flex-start; width: 0 !important; min-width: 100% !important; }
  .lens-panel .image-frame img, .explain-image .image-frame img {
    max-width: none !important; width: auto !important; height: auto !important; }
  .phone-hint { display: block !important; }
}
#intro h1 { margin: 0 0 4px 0; font-size: 1.6rem; }
#intro p { margin: 0; }
.lens-heading h3 { margin: 8px 0 0 0; }
#status p { margin: 0; }
/* Panels draw their own titles: keep them clear of the floating component label. */
.lens-panel .image-frame { padding-top: 30px; }
.lens-panel img { object-fit: contain; }
/* The live view: the label large enough to read across a classroom, the frame as large as the column allows. */
.live-label { font-size: 1.8rem; font-weight: 600; margin: 0 0 6px 0; }
.live-label.live-waiting { font-size: 1.1rem; font-weight: 500; }
.live-pictures { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
.live-overlay { flex: 1 1 320px; max-width: 640px; }
.live-overlay img { width: 100%; height: auto; display: block; }
.live-side { flex: 0 1 320px; }
.live-empty { aspect-ratio: 4 / 3; max-width: 480px; display: flex; align-items: center; justify-content: center;
  text-align: center; padding: 12px; border-radius: 8px; background: var(--block-background-fill);
  border: 1px dashed var(--border-color-primary); color: var(--body-text-color-subdued); }
.live-chart img { max-width: 100%; height: auto; display: block; }
.live-fps { font-size: 1.1rem; font-weight: 600; margin: 6px 0; }
.live-caption { font-size: 0.9rem; }
/* Mask cells are data: show them as crisp squares, not blurred. */
#raw-mask img, #feature-maps img { image-rendering: pixelated; }
"""

# Run in the browser as Analyze is clicked, passing the inputs on unchanged: on a narrow screen the results sit
# below the inputs, so the page scrolls to the status line; a wide window, where it already shows, stays still.
SCROLL_TO_RESULTS = """(...inputs) => {
  const status = document.querySelector('#status');
  if (status) {
    const box = status.getBoundingClientRect();
    if (box.top < 0 || box.top > window.innerHeight * 0.5) status.scrollIntoView({block: 'start'});
  }
  return inputs;
}"""


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
    default_model = cache.analyzer(None)  # the launch model, if there is one
    channel_names = default_model.channel_layer_names
    spatial_names = default_model.spatial_layer_names
    token_names = default_model.token_layer_names
    # A vision transformer's page shows its self-attention where a CNN's shows its gates.
    show_spatial, show_channel = shows_kind(spatial_names, token_names), shows_kind(channel_names, token_names)

    with gr.Blocks(
        title="Attention Lens",
        analytics_enabled=False,
        fill_width=True,
        delete_cache=(300, int(downloads.CACHE_MAX_AGE_S)),
    ) as demo:
        result = gr.State(None, time_to_live=SESSION_TTL_S)
        gr.Markdown(
            "# Attention Lens\n"
            "See what the attention modules inside a network do to an image: how each **channel attention** layer "
            "weighs its channels, where each **spatial attention** layer looks, and where each head of a vision "
            "transformer's **self-attention** looks.",
            elem_id="intro",
        )
        # Inputs in a narrow column, the attention beside them: after Analyze the prediction, every layer's
        # overlay and the first channel layer's chart are on screen without scrolling.
        with gr.Row(equal_height=False, elem_id="page-row"):
            with gr.Column(scale=0, min_width=330, elem_id="input-column"):
                inputs = input_section()
                model = model_section(cache, roots)
                example_section(inputs, model, example_images(EXAMPLES_DIR), cache.default_name, cache.names())
            with gr.Column(scale=1, min_width=320, elem_id="results-column"):
                results = results_section()
                with gr.Row(equal_height=False, elem_id="first-results"):
                    with gr.Column(scale=1, min_width=240):
                        results.top5.render()
                    with gr.Column(scale=3, min_width=300):
                        bar_chart = bar_chart_panel(show_channel)
                grid = grid_panel(show_spatial)
                spatial = spatial_section(result, spatial_names, grid, show_spatial)
                tokens = token_section(result, token_names, spatial.colormap, spatial.opacity, spatial.scale)
                channel = channel_section(result, channel_names, bar_chart, show_channel)
        live_section(
            model.model,
            model.checkpoint,
            (spatial.layer, tokens.layer),
            channel.layer,
            spatial.colormap,
            spatial.opacity,
            cache,
            roots,
        )
        video_section(
            model.model, model.checkpoint, (spatial.layer, tokens.layer), spatial.colormap, spatial.opacity,
            cache, roots, folder,
        )  # fmt: skip
        # What the user asks for later opens on a click: closed until then, so no empty panel shows.
        with gr.Accordion("Per-layer statistics", open=False, elem_id="statistics-section"):
            results.statistics.render()
        debug = debug_section(result, channel, spatial, inputs, model, cache, roots, tokens.layer)
        explain = explain_section(result, default_model.layer_names, folder)
        files = download_section(result, channel, spatial, debug, folder)

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
        def analyze(
            image: Any,
            model: str = DEFAULT_CHECKPOINT,
            checkpoint_file: Any = None,
            ablate: str = "none",
            target: str = "",
        ) -> dict[Any, Any]:
            return analysed(analysis.analyze(image, model, checkpoint_file, ablate, target, cache=cache, roots=roots))

        @user_errors
        def analyze_sketch(
            sketch: Any,
            model: str = DEFAULT_CHECKPOINT,
            checkpoint_file: Any = None,
            ablate: str = "none",
            target: str = "",
        ) -> dict:
            return analysed(
                analysis.analyze_sketch(sketch, model, checkpoint_file, ablate, target, cache=cache, roots=roots)
            )

        analysis_outputs = [result, results.status, results.top5, files.document, files.document_file]
        # After an analysis its views draw it, one event per group: the panels (and the debugging class) first, each
        # slower view after them, and the report last, since it holds Grad-CAM.
        follow_stages = ((results, channel, spatial, tokens, debug.reset), (explain,), (debug,), (files,))
        for button, function, source, api_name in (
            (inputs.analyze_button, analyze, inputs.image, "analyze"),
            (inputs.sketch_button, analyze_sketch, inputs.sketch, "analyze_sketch"),
        ):
            # preprocess=False for the image: the handler gets the raw upload, so the
            # original bytes reach load_image and a broken file gets its clear message.
            event = button.click(
                function,
                [source, model.model, model.checkpoint, debug.ablate, debug.api_target],
                analysis_outputs,
                api_name=api_name,
                preprocess=api_name == "analyze_sketch",
                js=SCROLL_TO_RESULTS,
                **MODEL_EVENTS,
            )
            for views in follow_stages:
                event = follow_results(event, result, views)

        def refresh_models(current: str | None) -> dict[Any, Any]:
            choices = cache.choices()
            values = [value for _label, value in choices]
            value = current if current in values else cache.default_name
            return {model.model: gr.Dropdown(choices=choices, value=value)}

        demo.load(refresh_models, [model.model], [model.model], api_visibility="private")
    return demo


# ---------------------------------------------------------------------- serving


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The launch flags: the models to serve, the first the default, as the CLI names them (one ``error:`` line)."""
    parser = OneLineParser(
        prog="python app.py",
        description="Serve Attention Lens. --model adds a model to the picker and makes it the default; "
        "give it again for more models. It may be your own factory (path/to/file.py:FUNCTION), which only "
        "the launch flags accept. Without --model, ATTENTION_LENS_MODELS may list models separated by commas.",
    )
    add_model_options(parser, several=True)
    return parser.parse_args(argv)


def launch_models(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> list[LoadedAnalyzer]:
    """The analyzers for the launch flags (or ``ATTENTION_LENS_MODELS``); InputError when the one asked for fails.

    One model, named by the flags, must load or the launch is refused. Of
    several, or of those the variable lists, each that cannot be loaded
    (offline with no cached weights, no attention) is skipped with one log
    line, so a hosted copy still starts.
    """
    specs = list(args.model or [])
    from_variable = not specs and bool(environ.get(MODELS_VARIABLE, "").strip())
    if from_variable:
        specs = [spec.strip() for spec in environ[MODELS_VARIABLE].split(",") if spec.strip()]
    described = [name for name in DESCRIBING if getattr(args, name) is not None]
    if len(specs) > 1 and described:
        flag = "--" + described[0].replace("_", "-")
        raise InputError(f"{flag} describes one model; give it with a single --model")
    if not specs:
        if described:
            return [analyzer_with_attention(load_model_from(args))]  # the flags describe the default model
        return []
    if len(specs) == 1 and not from_variable:
        return [analyzer_with_attention(load_model_from(argparse.Namespace(**{**vars(args), "model": specs[0]})))]
    analyzers = []
    for spec in specs:
        try:
            analyzers.append(
                analyzer_with_attention(load_model_from(argparse.Namespace(**{**vars(args), "model": spec})))
            )
        except InputError as error:
            LOGGER.error("launch model %s skipped: %s", spec, error)
    return analyzers


def main(argv: list[str] | None = None) -> None:
    space = TEMP_SPACE or TempSpace.create()
    atexit.register(space.remove)  # before anything can exit
    args = parse_args(argv)
    # Until the server runs, only errors are logged: a refused launch is one line on stderr, like the CLI's.
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.captureWarnings(True)
    try:
        device = resolve_device(args.device)
        launches = launch_models(args)
    except InputError as error:
        sys.stderr.write(f"error: {error}\n")
        sys.exit(2)
    logging.getLogger().setLevel(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per internal HTTP call is noise
    threads = configure_torch()
    limit_pillow(MAX_PIXELS)
    stop_on_sigterm()
    cache = ModelCache(launches=launches, device=device)
    demo = build_app(cache, space.downloads, UploadRoots.of([space.uploads, EXAMPLES_DIR]))
    space.start_pruning()
    threading.Thread(target=analysis.warm_up, args=(cache,), name="warm-up", daemon=True).start()
    LOGGER.info(
        "default model %s loaded on %s; torch uses %d thread(s) per request; temp files in %s",
        cache.default_name,
        device,
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
        state_session_capacity=SESSION_CAPACITY,
        app_kwargs={"middleware": [Middleware(downloads.UploadGuard, space=space)]},
    )


if __name__ == "__main__":
    main()
