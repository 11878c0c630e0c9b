"""What a user meets on the page after Analyze, measured in Debian's Chromium against ``python app.py``.

Run from the repository root::

    .venv/bin/python benchmarks/bench_page.py              # 5 timed analyses per viewport
    .venv/bin/python benchmarks/bench_page.py --runs 10

Prints, at 1400x1000 and at 390x844: the page height after the first
analysis; the y position of the first heatmap (the every-layer overlay),
in the page and on screen; the number of visible panels that show nothing;
and the time from clicking Analyze to every panel drawn (every visible
picture loaded and the report offered), the median of ``--runs`` analyses
that alternate two example images so that every panel changes.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"

from tests.serving import free_port, wait_for_http  # noqa: E402
from tests.test_browser_page import EMPTY_PANELS  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
TIMEOUT_MS = 120_000
VIEWPORTS = {"desktop 1400x1000": (1400, 1000), "phone 390x844": (390, 844)}
IMAGES = [ROOT / "assets" / "examples" / name for name in ("shapes_star_11.png", "shapes_circle_2.png")]
# Every visible picture panel has a loaded picture, and the report is offered (it is drawn last).
ALL_DRAWN = """old => {
  const report = document.querySelector('#report-file a');
  if (!report || report.href === old) return false;
  return [...document.querySelectorAll('.lens-panel')].filter(p => p.offsetParent !== null).every(p => {
    const img = p.querySelector('img'); return img && img.complete && img.naturalWidth > 0; });
}"""


def analyse(page, image: Path) -> float:  # noqa: ANN001 - Playwright's Page
    """Seconds from the click on Analyze to every panel drawn."""
    page.locator("#input-image input[type=file]").set_input_files(str(image))
    page.wait_for_selector("#input-image img", timeout=TIMEOUT_MS)
    old = page.evaluate("() => document.querySelector('#report-file a')?.href ?? null")
    page.evaluate("() => { window.__clicked = performance.now(); }")
    page.locator("#analyze-button").click()
    page.wait_for_function(ALL_DRAWN, arg=old, timeout=TIMEOUT_MS, polling=20)
    return float(page.evaluate("() => (performance.now() - window.__clicked) / 1000"))


def measure(browser, url: str, width: int, height: int, runs: int) -> dict[str, float]:  # noqa: ANN001
    page = browser.new_page(viewport={"width": width, "height": height})
    try:
        page.goto(url, wait_until="load")
        page.wait_for_selector("#analyze-button", timeout=TIMEOUT_MS)
        first = analyse(page, IMAGES[0])
        page.wait_for_timeout(500)  # the layout settles
        grid = page.evaluate("() => document.querySelector('#overlay-grid img').getBoundingClientRect().top")
        figures = {
            "page height after Analyze (px)": page.evaluate("() => document.documentElement.scrollHeight"),
            "first heatmap y in the page (px)": grid + page.evaluate("() => window.scrollY"),
            "first heatmap y on screen (px)": grid,
            "empty panels after the first analysis": len(page.evaluate(EMPTY_PANELS)),
            "first analysis: click to every panel drawn (s)": first,
        }
        times = [analyse(page, IMAGES[(index + 1) % len(IMAGES)]) for index in range(runs)]
        figures[f"click to every panel drawn, median of {runs} (s)"] = statistics.median(times)
        return figures
    finally:
        page.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    port = free_port()
    env = dict(
        os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False"
    )
    process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for_http(url, process, 180)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            try:
                for name, (width, height) in VIEWPORTS.items():
                    for label, value in measure(browser, url, width, height, args.runs).items():
                        shown = f"{value:.2f}" if isinstance(value, float) and value < 100 else f"{value:,.0f}"
                        print(f"{name:18}  {label:48} {shown}")
            finally:
                browser.close()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
