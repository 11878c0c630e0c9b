"""How long the page's Explain view takes to draw one layer, for the default model.

Run from the repository root::

    .venv/bin/python benchmarks/bench_explain.py            # 30 runs per layer
    .venv/bin/python benchmarks/bench_explain.py --runs 100 --image assets/examples/shapes_cross_0.png

One run draws every step of one layer exactly as the section does
(``webapp.explain.explain_view``), and then encodes each picture as PNG, as
Gradio does before the page can show it. It also times what the analysis adds
to work the steps out for every layer (``webapp.explain.explanations``), and
the slide PNG.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import numpy as np  # noqa: E402

from models.checkpoint import DEFAULT_CHECKPOINT  # noqa: E402
from webapp import analysis, explain, runtime  # noqa: E402
from webapp.inputs import UploadRoots  # noqa: E402
from webapp.state import LensResult, ModelCache  # noqa: E402


def timed(function: Callable[[], object], runs: int) -> np.ndarray:
    """Milliseconds per run, after one untimed warm-up run."""
    function()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(1000 * (time.perf_counter() - start))
    return np.asarray(times)


def draw_and_encode(result: LensResult, layer: str) -> None:
    for step in explain.explain_view(result, layer).steps:
        if step.image is not None:
            step.image.save(io.BytesIO(), format="PNG")


def line(label: str, times: np.ndarray) -> str:
    p50, p90 = np.percentile(times, [50, 90])
    return f"{label:<58} p50 {p50:7.1f} ms   p90 {p90:7.1f} ms   ({len(times)} runs)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--image", type=Path, default=ROOT / "assets" / "examples" / "shapes_star_11.png")
    args = parser.parse_args(argv)
    threads = runtime.configure_torch()
    cache = ModelCache()
    analyzer = cache.shipped(DEFAULT_CHECKPOINT)
    image = args.image.resolve()
    result = analysis.analyze(str(image), cache=cache, roots=UploadRoots.of([image.parent]))
    channel = result.channel_layer_names[0]
    spatial = result.spatial_layer_names[0]
    print(f"model {DEFAULT_CHECKPOINT}, image {image.name}, torch threads {threads}")
    worked_out = timed(lambda: explain.explanations(analyzer, result.analysis), args.runs)
    print(line("work out every layer's steps (at analysis time)", worked_out))
    for kind, layer in (("channel", channel), ("spatial", spatial)):
        steps = len(result.explanations[layer].steps)
        drawn = timed(lambda: explain.explain_view(result, layer), args.runs)  # noqa: B023 - called at once
        print(line(f"draw {kind} layer, {steps} steps ({layer})", drawn))
        encoded = timed(lambda: draw_and_encode(result, layer), args.runs)  # noqa: B023 - called at once
        print(line("  the same, and each picture encoded as PNG", encoded))
    slide_runs = max(5, args.runs // 3)
    with tempfile.TemporaryDirectory() as folder:
        print(line(f"slide PNG, {channel}", timed(lambda: explain.slide_png(result, channel, folder), slide_runs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
