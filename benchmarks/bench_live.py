"""The Live view end to end: frames per second delivered to a real browser, and how old each shown frame is.

    .venv/bin/python benchmarks/bench_live.py                      # shipped shapes model, 60 s
    .venv/bin/python benchmarks/bench_live.py --model resnet50     # ECA+SA ResNet-50 at 224, random init

Starts ``python app.py`` and Debian's Chromium, whose fake camera plays a
320x240 clip of a drawn star that turns into a cross (``tests.clips``), presses
``#live-start`` and watches the view for ``--seconds``. In the page, every
POST of a frame to the server is timed (a wrapper around ``fetch``), and every
animation frame checks whether a new result is shown. A shown result carries
the time the server began it (``data-frame-start``); the frame it analysed is
the newest one posted before then, so its latency is from that post to the
screen. Frames the server never analysed (a newer one came first) are the
dropped ones. Then ``--analyses`` ordinary API analyses are timed with the
stream running and with it stopped.
"""

from __future__ import annotations

import argparse
import bisect
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.clips import star_then_cross, write_y4m  # noqa: E402
from tests.serving import free_port, stop, wait_for_http  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
WATCH = """() => {
  window.__posts = []; window.__shown = [];
  const fetch0 = window.fetch;
  window.fetch = function (url, options) {
    if (String(url).includes('/stream/') && !String(url).endsWith('/close')) window.__posts.push(Date.now());
    return fetch0.apply(this, arguments);
  };
  let last = null;
  const look = () => {
    const view = document.querySelector('.live-view');
    const start = view ? Number(view.dataset.frameStart) : 0;
    if (start && start !== last) { last = start; window.__shown.push([Date.now(), start]); }
    requestAnimationFrame(look);
  };
  requestAnimationFrame(look);
}"""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def resnet50_checkpoint(folder: Path) -> Path:
    """An ECA+SA ResNet-50 at 224 px, random init with random batch-norm statistics, as a checkpoint file."""
    import torch

    from attention.images import Preprocessing
    from models.checkpoint import checkpoint_dict, save_checkpoint
    from models.networks import build_model, resolved_config

    torch.manual_seed(0)
    config = resolved_config("attention_resnet50", {"num_classes": 6})
    model = build_model("attention_resnet50", **config)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
    preprocessing = Preprocessing((224, 224), 3, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    classes = ["circle", "cross", "ring", "square", "star", "triangle"]
    path = folder / "eca_sa_resnet50.pt"
    save_checkpoint(path, checkpoint_dict(model, "attention_resnet50", config, classes, preprocessing))
    return path


def api_analyses(url: str, image: Path, count: int, log: Path) -> tuple[list[float], list[float]]:
    """``count`` API analyses of ``image``: each one's time at the client, and its server time from the log."""
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    times = []
    logged = log.read_text(errors="replace").count("analysed ")
    for _ in range(count):
        start = time.perf_counter()
        client.predict(handle_file(str(image)), api_name="/analyze")
        times.append(1000 * (time.perf_counter() - start))
    time.sleep(0.5)
    lines = [line for line in log.read_text(errors="replace").splitlines() if " analysed " in line][logged:]
    return times, [float(line.rsplit(" in ", 1)[1].split()[0]) for line in lines]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--model", default="shapes", help="shapes, or resnet50 for an ECA+SA ResNet-50 at 224")
    parser.add_argument("--torch-threads", type=int, default=1, help="the server's torch threads per request")
    parser.add_argument("--analyses", type=int, default=10, help="API analyses timed with and without the stream")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        frames = star_then_cross(40)
        clip = write_y4m(folder / "clip.y4m", [image for _, image in frames], 10)
        still = folder / "star.png"
        frames[0][1].save(still)
        command = [sys.executable, "app.py"]
        if args.model == "resnet50":
            command += ["--model", str(resnet50_checkpoint(folder))]
        port = free_port()
        env = dict(
            os.environ,
            GRADIO_SERVER_PORT=str(port),
            GRADIO_ANALYTICS_ENABLED="False",
            ATTENTION_LENS_TORCH_THREADS=str(args.torch_threads),
        )
        log = open(folder / "app.log", "wb")  # noqa: SIM115 - closed in finally
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/"
        try:
            wait_for_http(url, server, 180)
            idle, idle_server = api_analyses(url, still, args.analyses, folder / "app.log")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM,
                    args=[
                        "--no-sandbox",
                        "--use-fake-device-for-media-stream",
                        "--use-fake-ui-for-media-stream",
                        f"--use-file-for-fake-video-capture={clip}",
                    ],
                )
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(url, wait_until="load")
                page.wait_for_selector("#live-start", timeout=60_000)
                page.evaluate(WATCH)
                page.click("#live-start")
                page.wait_for_function("() => window.__shown.length > 5", timeout=60_000)
                page.evaluate("() => { window.__posts = []; window.__shown = []; }")
                began = time.monotonic()
                time.sleep(args.seconds)
                watched = time.monotonic() - began
                posts, shown = page.evaluate("() => [window.__posts, window.__shown]")
                busy, busy_server = api_analyses(url, still, args.analyses, folder / "app.log")  # still streaming
                page.click("#live-stop")
                browser.close()
        finally:
            stop(server)
            log.close()

    latencies, analysed = [], set()
    for shown_at, started in shown:
        newest = bisect.bisect_right(posts, started) - 1
        if newest >= 0:
            latencies.append(shown_at - posts[newest])
            analysed.add(newest)
    tenth = max(1, len(latencies) // 6)
    print(f"model {args.model}, 320x240 camera frames, {args.torch_threads} torch thread(s) a request, {watched:.0f} s")
    print(f"frames shown in the browser: {len(shown)} = {len(shown) / watched:.1f} frames/s")
    print(f"frames sent by the browser: {len(posts)} ({len(posts) / watched:.1f}/s); analysed {len(analysed)}")
    print(
        f"latency, frame sent to result on screen: p50 {percentile(latencies, 0.5):.0f} ms, "
        f"p95 {percentile(latencies, 0.95):.0f} ms (first sixth p50 {statistics.median(latencies[:tenth]):.0f} ms, "
        f"last sixth p50 {statistics.median(latencies[-tenth:]):.0f} ms)"
    )
    print(
        f"an API analysis, p50: {statistics.median(idle):.0f} ms at the client "
        f"({statistics.median(idle_server):.0f} ms of it decoding and analysing) with no stream; "
        f"{statistics.median(busy):.0f} ms "
        f"({statistics.median(busy_server):.0f} ms) while the stream runs, the browser on this machine too"
    )


if __name__ == "__main__":
    main()
