"""Where the time of one web-app analysis goes, and how long ``python app.py`` takes to serve.

Run from the repository root::

    .venv/bin/python benchmarks/bench_app.py            # 30 runs + startup
    .venv/bin/python benchmarks/bench_app.py --runs 100 --no-startup
    .venv/bin/python benchmarks/bench_app.py --model shapes-vit --no-startup   # the shipped ViT

One run analyses a 512x512 PNG upload with the default model exactly as the
app does (same functions, same torch thread setting) and draws every panel
the page shows after an analysis. The PNG report is timed on its own: the
page builds it after the panels are on screen. Each run also times the plain
forward pass of the same input, so the analysis can be put against "a plain
pass plus drawing the panels".
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from attention.images import load_image  # noqa: E402
from models.checkpoint import DEFAULT_CHECKPOINT  # noqa: E402
from tests.serving import free_port, wait_for_http  # noqa: E402
from webapp import analysis, downloads, panels, runtime  # noqa: E402
from webapp.state import ModelCache  # noqa: E402

TARGET_MS = 150.0


def upload_png(side: int = 512) -> bytes:
    """A 512x512 PNG like a user's upload: a generated shapes scene, enlarged."""
    from models.datasets import ShapesDataset

    array, _mask, _label = ShapesDataset("test", length=1).sample(0)
    image = Image.fromarray(array).resize((side, side), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def encode(image: Image.Image | None, image_format: str) -> None:
    """What Gradio does with each returned image before the page can show it."""
    if image is not None:
        image.save(io.BytesIO(), format=image_format)


class Stopwatch:
    """Collects named durations per run."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}

    def time(self, name: str, function: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        value = function()
        self.add(name, time.perf_counter() - start)
        return value

    def add(self, name: str, seconds: float) -> None:
        self.samples.setdefault(name, []).append(seconds)


def _timed(function: Callable[..., Any], *args: Any) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


PLAIN = "plain forward pass (no hooks recording)"
ANALYSIS = "analysis: preprocess + forward + recording + JSON"
PANELS = "panels drawn (all sections)"


def plain_forward(analyzer: Any, image: Image.Image) -> float:
    """Seconds of one inference-mode pass of the preprocessed image, the way a script without the tool runs it."""
    import torch

    batch = analyzer.preprocess([image])
    start = time.perf_counter()
    with torch.inference_mode():
        analyzer.model(batch)
    return time.perf_counter() - start


def one_run(watch: Stopwatch, cache: ModelCache, data: bytes, folder: Path, model: str = DEFAULT_CHECKPOINT) -> None:
    analyzer = cache.shipped(model)
    start = time.perf_counter()
    cpu_start = time.process_time()
    image = watch.time("decode (load_image of PNG bytes)", lambda: load_image(data))
    preprocess_s = watch.time("preprocess alone (resize + normalise)", lambda: _timed(analyzer.preprocess, [image]))
    result = watch.time(ANALYSIS, lambda: analysis.analyze_loaded(analyzer, image, "upload.png"))
    # The analysis measures its own pass; the forward part is that minus preprocessing.
    watch.add("  forward + recording (analysis - preprocess)", result.timings["forward"] - preprocess_s)
    watch.time("JSON document written for download", lambda: downloads.write_document(result, folder))
    options = panels.DisplayOptions()
    channel = watch.time(
        "panel: channel bar chart + feature maps",
        lambda: panels.channel_panels(result, options.channel_layer, options.sort, options.top_k, branches=False),
    )
    spatial = watch.time(
        "panel: overlay grid + large overlay + raw mask",
        lambda: panels.spatial_panels(result, options.spatial_layer, options.colormap, options.opacity, options.scale),
    )
    watch.time(
        "panel: statistics table + top-5", lambda: (panels.statistics_table(result), panels.top_predictions(result))
    )
    tokens = watch.time(
        "panel: heads + rollout + patch grid + one patch",
        lambda: panels.token_panels(result, None, options.colormap, options.opacity, options.scale),
    )
    shown_s = time.perf_counter() - start
    drawn = [name for name in watch.samples if name.startswith("panel:")]
    watch.add(PANELS, sum(watch.samples[name][-1] for name in drawn))
    watch.add("FULL: upload to every panel shown", shown_s)
    # CPU time of this process: what the run costs without the other processes competing for the cores.
    watch.add("FULL, CPU time of this process", time.process_time() - cpu_start)

    def encode_all() -> None:
        for picture in channel:
            encode(picture, "PNG")
        encode(spatial.grid, "JPEG")
        encode(spatial.overlay, "JPEG")
        encode(spatial.mask, "PNG")
        for picture in tokens:
            encode(picture, "JPEG")

    encode_s = watch.time("encode panels as the page gets them (PNG/JPEG)", lambda: _timed(encode_all))
    watch.add("FULL + encoding", shown_s + encode_s)
    branch_s = watch.time(
        "branch chart (drawn once its section is opened)",
        lambda: _timed(panels.branch_panel, result, options.channel_layer, options.sort),
    )
    watch.add("FULL + branch chart (section open)", shown_s + branch_s)
    watch.time("PNG report (built after the panels)", lambda: downloads.report_png(result, folder))
    watch.add(PLAIN, plain_forward(analyzer, image))


def breakdown(
    watch: Stopwatch, channel_layer: str, cache: ModelCache, data: bytes, runs: int, model: str = DEFAULT_CHECKPOINT
) -> None:
    """The three matplotlib/Pillow pieces of the channel panel, for finding the slow one."""
    from attention import render

    analyzer = cache.shipped(model)
    result = analysis.analyze_loaded(analyzer, load_image(data), "upload.png")
    layer = result.analysis.layer(channel_layer)
    for _ in range(runs):
        watch.time(f"  bar chart ({layer.name})", lambda: render.figure_to_image(render.channel_bar_chart(layer)))
        watch.time("  branch chart", lambda: render.figure_to_image(render.branch_chart(layer)))
        watch.time("  feature maps (Pillow)", lambda: render.feature_maps_image(result.analysis, layer.name, 5))


def startup_seconds(timeout_s: float = 180.0) -> float:
    """Seconds from launching ``python app.py`` to its first HTTP 200 on /."""
    port = free_port()
    env = dict(
        os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_SERVER_NAME="127.0.0.1", GRADIO_ANALYTICS_ENABLED="False"
    )
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/", process, timeout_s, poll_s=0.05)
        return time.perf_counter() - start
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def machine_note() -> str:
    """Say whether the numbers were taken on a busy machine."""
    training = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "models.train" in text and "python" in text:
            training.append(cmdline.parent.name)
    load = os.getloadavg()
    busy = f"{len(training)} training process(es) running" if training else "no training running"
    return f"{os.cpu_count()} CPUs, load average {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}, {busy}"


def print_table(watch: Stopwatch) -> None:
    print(f"{'step':<52} {'p50 ms':>8} {'p95 ms':>8} {'runs':>5}")
    print("-" * 76)
    for name, values in watch.samples.items():
        array = np.asarray(values) * 1000
        print(f"{name:<52} {np.percentile(array, 50):8.1f} {np.percentile(array, 95):8.1f} {len(array):5d}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="timed analyses (at least 30 for a useful p95)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed analyses first")
    parser.add_argument("--model", default=DEFAULT_CHECKPOINT, help="a shipped model's name (default: the default)")
    parser.add_argument("--no-startup", action="store_true", help="skip timing `python app.py` startup")
    parser.add_argument("--startup-runs", type=int, default=2, help="how many times to time the startup")
    args = parser.parse_args(argv)

    import tempfile

    threads = runtime.configure_torch()
    cache = ModelCache()
    data = upload_png()
    print(
        f"Attention Lens app benchmark: model {args.model!r}, 512x512 PNG upload ({len(data)} bytes), "
        f"torch threads {threads}"
    )
    print(f"machine: {machine_note()}")
    with tempfile.TemporaryDirectory(prefix="bench-app-") as folder:
        scratch = Path(folder)
        warm = Stopwatch()
        for _ in range(args.warmup):
            one_run(warm, cache, data, scratch, args.model)
        watch = Stopwatch()
        for _ in range(args.runs):
            one_run(watch, cache, data, scratch, args.model)
        detail = Stopwatch()
        layers = cache.shipped(args.model).channel_layer_names
        if layers:
            breakdown(detail, layers[0], cache, data, max(10, args.runs // 3), args.model)
            breakdown(detail, layers[-1], cache, data, max(10, args.runs // 3), args.model)
    print()
    print_table(watch)
    if detail.samples:
        print()
        print("channel panel pieces (first and widest layer):")
        print_table(detail)

    def median_ms(name: str) -> float:
        return float(np.percentile(np.asarray(watch.samples[name]) * 1000, 50))

    full = median_ms("FULL: upload to every panel shown")
    verdict = "meets" if full <= TARGET_MS else "misses"
    print(f"\nfull analysis, every panel the page shows: p50 {full:.1f} ms ({verdict} the {TARGET_MS:.0f} ms target)")
    ratio = (median_ms(ANALYSIS) + median_ms(PANELS)) / (median_ms(PLAIN) + median_ms(PANELS))
    print(
        f"analysis + panels against a plain pass + the same panels: {ratio:.2f}x "
        f"(p50s: analysis {median_ms(ANALYSIS):.1f} ms, plain pass {median_ms(PLAIN):.1f} ms, "
        f"panels {median_ms(PANELS):.1f} ms)"
    )
    if not args.no_startup:
        times = [startup_seconds() for _ in range(args.startup_runs)]
        print("`python app.py` to first page (HTTP 200 on /): " + ", ".join(f"{t:.2f} s" for t in times))
    print(f"machine after the runs: {machine_note()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
