"""The page in a real browser: Debian's Chromium driven by Playwright against ``python app.py``.

Playwright must never download a browser here, so the test launches
/usr/bin/chromium explicitly and skips (saying why) when it is missing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import AppServer

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PANELS = ("#bar-chart", "#feature-maps", "#overlay-grid", "#overlay", "#raw-mask")
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def browser():  # noqa: ANN201 - Playwright types are imported lazily
    if not CHROMIUM.exists():
        pytest.skip(
            f"Debian's Chromium is not installed at {CHROMIUM} (apt-get install chromium); "
            "the test never lets Playwright download a browser"
        )
    sync_api = pytest.importorskip("playwright.sync_api")
    os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _src(page, selector: str) -> str | None:  # noqa: ANN001
    return page.locator(f"{selector} img").first.get_attribute("src")


def _analysed_count(server: AppServer, name: str) -> int:
    return server.log.read_text(errors="replace").count(f"analysed {name} ")


def test_upload_analyze_and_recolour(  # noqa: ANN001
    browser, app_server: AppServer, example_image: Path, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(app_server.url, wait_until="load")
        page.wait_for_selector("#analyze-button", timeout=TIMEOUT_MS)
        page.locator("#input-image input[type=file]").set_input_files(str(example_image))
        page.wait_for_selector("#input-image img", timeout=TIMEOUT_MS)
        page.get_by_role("button", name="Analyze", exact=True).click()

        for selector in PANELS:
            page.wait_for_selector(f"{selector} img[src]", timeout=TIMEOUT_MS)
        page.wait_for_selector("#report-file a", timeout=TIMEOUT_MS)
        assert example_image.name in page.locator("#status").inner_text()
        assert page.locator("#predictions").inner_text().strip()
        runs_after_analysis = _analysed_count(app_server, example_image.name)
        assert runs_after_analysis >= 1

        # The branch chart is drawn when its section opens.
        page.get_by_text("Avg and max pooling branches before the gate").click()
        page.wait_for_selector("#branches img[src]", timeout=TIMEOUT_MS)

        before = {selector: _src(page, selector) for selector in ("#overlay-grid", "#overlay", "#raw-mask")}
        page.get_by_role("combobox", name="Colormap").click()
        page.get_by_role("option", name="magma", exact=True).click()
        page.wait_for_function(
            "old => { const img = document.querySelector('#overlay-grid img'); return img && img.src !== old; }",
            arg=before["#overlay-grid"],
            timeout=TIMEOUT_MS,
        )
        page.wait_for_function(
            "old => { const img = document.querySelector('#overlay img'); return img && img.src !== old; }",
            arg=before["#overlay"],
            timeout=TIMEOUT_MS,
        )
        for selector in PANELS:
            page.wait_for_selector(f"{selector} img[src]", timeout=TIMEOUT_MS)
        # Recolouring redrew from the stored result: the model did not run again.
        assert _analysed_count(app_server, example_image.name) == runs_after_analysis

        page.wait_for_load_state("load")
        # Into tmp_path only: the README's screenshot is refreshed on purpose by scripts/screenshot.py.
        page.screenshot(path=str(tmp_path / "screenshot.png"), full_page=True)
        assert (tmp_path / "screenshot.png").stat().st_size > 10_000
    finally:
        page.close()


def test_broken_upload_shows_a_message(browser, app_server: AppServer, tmp_path: Path) -> None:  # noqa: ANN001
    broken = tmp_path / "broken.png"
    broken.write_text("this is text, not a picture\n")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(app_server.url, wait_until="load")
        page.wait_for_selector("#analyze-button", timeout=TIMEOUT_MS)
        page.locator("#input-image input[type=file]").set_input_files(str(broken))
        page.get_by_role("button", name="Analyze", exact=True).click()
        message = page.get_by_text("broken.png is not an image Pillow can read")
        message.first.wait_for(state="visible", timeout=TIMEOUT_MS)
        page.wait_for_timeout(500)  # let the message finish sliding in before the screenshot
        page.screenshot(path=str(tmp_path / "broken-upload.png"))
    finally:
        page.close()
    assert app_server.process.poll() is None


def _status_contains(page, text: str) -> None:  # noqa: ANN001
    page.wait_for_function(
        "text => document.querySelector('#status').innerText.includes(text)", arg=text, timeout=TIMEOUT_MS
    )


def test_example_gallery_and_sketchpad(browser, app_server: AppServer) -> None:  # noqa: ANN001
    from webapp.inputs import CHECKPOINT_SUFFIXES, example_images

    examples = [Path(path).name for path in example_images(ROOT / "assets" / "examples") if "shapes_" in path]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(app_server.url, wait_until="load")
        page.wait_for_selector("#analyze-button", timeout=TIMEOUT_MS)
        # The checkpoint picker, in its closed section, offers exactly the extensions the API accepts.
        page.get_by_text("Upload weights or a checkpoint").click()
        accept = page.locator("#checkpoint-upload input[type=file]").first.get_attribute("accept") or ""
        assert {suffix.strip() for suffix in accept.split(",")} == set(CHECKPOINT_SUFFIXES), accept
        if examples:
            page.locator("#examples-shapes button.gallery-item").first.click()
            page.wait_for_selector("#input-image img", timeout=TIMEOUT_MS)
            page.get_by_role("button", name="Analyze", exact=True).click()
            _status_contains(page, examples[0])

        page.get_by_role("tab", name="Draw").click()
        page.locator("#sketchpad button[aria-label=Brush]").click()
        box = page.locator("#sketchpad canvas").first.bounding_box()
        assert box is not None
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x - 50, y - 50)
        page.mouse.down()
        for corner_x, corner_y in ((x + 50, y - 50), (x + 50, y + 50), (x - 50, y + 50), (x - 50, y - 50)):
            page.mouse.move(corner_x, corner_y, steps=8)
        page.mouse.up()
        page.get_by_role("button", name="Analyze drawing").click()
        _status_contains(page, "sketch.png")
        page.wait_for_selector("#bar-chart img[src]", timeout=TIMEOUT_MS)
    finally:
        page.close()
