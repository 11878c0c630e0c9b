"""Refresh docs/screenshot.png, the README's picture of the app, on purpose (tests never write it).

Run from the repository root::

    .venv/bin/python scripts/screenshot.py [--image assets/examples/shapes_star_11.png] [--out docs/screenshot.png]
    .venv/bin/python scripts/screenshot.py --explain [--layer stages.0.0.attention.channel]  # docs/explain.png

It starts ``python app.py`` on a free port, analyses the image in Debian's
Chromium (/usr/bin/chromium, driven by Playwright, which never downloads a
browser here), and saves the 1400x1000 window a user sees after Analyze; with ``--explain``, it opens
the Explain view on ``--layer`` (default: the first) and saves that section alone.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.serving import free_port, wait_for_http  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
PANELS = ("#bar-chart", "#feature-maps", "#overlay-grid", "#overlay", "#raw-mask")
TIMEOUT_MS = 120_000


def capture_explain(page, out: Path, layer: str | None) -> None:  # noqa: ANN001 - Playwright's Page
    """Open the Explain view, pick ``layer`` and save a picture of that section once every step is drawn."""
    page.get_by_text("Explain: how a layer computes its attention").click()
    page.wait_for_selector("#explain-image-0 img[src]", timeout=TIMEOUT_MS)
    if layer:
        page.get_by_role("combobox", name="Layer to explain").click()
        page.get_by_role("option", name=layer).first.click()
        page.wait_for_function(
            "name => document.querySelector('#explain-heading').innerText.includes(name)",
            arg=layer,
            timeout=TIMEOUT_MS,
        )
    page.wait_for_function(
        "() => [...document.querySelectorAll('.explain-image img')]"
        ".filter(img => img.offsetParent).every(img => img.complete && img.naturalWidth > 0)",
        timeout=TIMEOUT_MS,
    )
    page.wait_for_timeout(500)
    page.locator("#explain-section").screenshot(path=str(out))


def capture(url: str, image: Path, out: Path, explain: bool = False, layer: str | None = None) -> None:
    os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url, wait_until="load")
            page.wait_for_selector("#analyze-button", timeout=TIMEOUT_MS)
            page.locator("#input-image input[type=file]").set_input_files(str(image))
            page.wait_for_selector("#input-image img", timeout=TIMEOUT_MS)
            page.get_by_role("button", name="Analyze", exact=True).click()
            for selector in PANELS:
                page.wait_for_selector(f"{selector} img[src]", timeout=TIMEOUT_MS)
            page.wait_for_selector("#report-file a", timeout=TIMEOUT_MS)
            out.parent.mkdir(parents=True, exist_ok=True)
            if explain:
                capture_explain(page, out, layer)
            else:
                page.wait_for_timeout(500)
                page.screenshot(path=str(out))
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=ROOT / "assets" / "examples" / "shapes_star_11.png")
    parser.add_argument("--out", type=Path, help="default: docs/screenshot.png, or docs/explain.png with --explain")
    parser.add_argument("--explain", action="store_true", help="capture the Explain view instead of the page")
    parser.add_argument("--layer", help="with --explain: the layer to show (default: the first)")
    args = parser.parse_args(argv)
    args.out = args.out or ROOT / "docs" / ("explain.png" if args.explain else "screenshot.png")
    port = free_port()
    env = dict(os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port))
    process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for_http(url, process, 180)
        capture(url, args.image.resolve(), args.out, args.explain, args.layer)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
