"""The debugging views in a real browser: Debian's Chromium against ``python app.py``.

Runs the ablation and the compare view the way a person does, and checks
that the table and every chart are drawn.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import AppServer
from tests.test_browser import TIMEOUT_MS, browser  # noqa: F401 - the Chromium fixture, shared

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "assets" / "examples" / "shapes_star_11.png"
OTHER = ROOT / "assets" / "examples" / "shapes_circle_2.png"


def test_ablation_gradcam_and_compare_views(browser, app_server: AppServer, tmp_path: Path) -> None:  # noqa: ANN001, F811
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(app_server.url, wait_until="load")
        page.wait_for_selector("#analyze-button", timeout=TIMEOUT_MS)
        page.get_by_text("Debug: switch each layer off").click()
        page.wait_for_selector("#ablate-button", timeout=TIMEOUT_MS)
        page.locator("#input-image input[type=file]").set_input_files(str(EXAMPLE))
        page.wait_for_selector("#input-image img", timeout=TIMEOUT_MS)

        page.locator("#analyze-button").click()
        page.wait_for_selector("#overlay img[src]", timeout=TIMEOUT_MS)
        page.wait_for_selector("#report-file a", timeout=TIMEOUT_MS)
        first_report = page.locator("#report-file a").first.get_attribute("href")
        # One control: each mode is a button that switches every layer off in turn.
        page.locator("#ablate-button").click()
        page.wait_for_selector("#ablation-chart img[src]", timeout=TIMEOUT_MS)
        # The report follows: the ablation's chart is added under what it showed before.
        page.wait_for_function(
            "old => { const a = document.querySelector('#report-file a'); return a && a.href && a.href !== old; }",
            arg=first_report,
            timeout=TIMEOUT_MS,
        )
        heights = [
            Image.open(io.BytesIO(page.request.get(href).body())).height
            for href in (first_report, page.locator("#report-file a").first.get_attribute("href"))
        ]
        assert heights[1] > heights[0] + 200, heights  # eight layers' bars
        table = page.locator("#ablation-table")
        table.get_by_text("stages.3.0.attention.spatial").first.wait_for(timeout=TIMEOUT_MS)
        text = table.inner_text()
        for stage in range(4):
            for kind in ("channel", "spatial"):
                assert f"stages.{stage}.0.attention.{kind}" in text, text
        assert "star" in text and "new top label" in text
        # Grad-CAM beside the selected mask, with its rank correlation drawn in the title.
        page.wait_for_selector("#gradcam img[src]", timeout=TIMEOUT_MS)
        first_gradcam = page.locator("#gradcam img").first.get_attribute("src")
        page.get_by_role("combobox", name="Spatial layer (large view)").click()
        page.get_by_role("option", name="stages.2.0.attention.spatial", exact=True).click()
        page.wait_for_function(
            "old => { const img = document.querySelector('#gradcam img'); return img && img.src !== old; }",
            arg=first_gradcam,
            timeout=TIMEOUT_MS,
        )

        # Compare with a second image.
        page.get_by_text("Compare two analyses").click()
        page.locator("#compare-image input[type=file]").set_input_files(str(OTHER))
        page.wait_for_selector("#compare-image img", timeout=TIMEOUT_MS)
        page.locator("#compare-button").click()
        page.wait_for_function(
            "() => document.querySelector('#compare-summary textarea')?.value.includes('attention differs most in')",
            timeout=TIMEOUT_MS,
        )
        page.wait_for_selector("#compare-difference img[src]", timeout=TIMEOUT_MS)
        # A spatial pair shows A's and B's masks too.
        page.locator("#compare-layer input").click()
        page.get_by_role("option", name="stages.1.0.attention.spatial", exact=True).click()
        page.wait_for_selector("#compare-masks img[src]", timeout=TIMEOUT_MS)
        summary = page.locator("#compare-summary textarea").input_value()
        assert EXAMPLE.name in summary and OTHER.name in summary, summary

        page.screenshot(path=str(tmp_path / "debug.png"), full_page=True)
        assert (tmp_path / "debug.png").stat().st_size > 10_000
    finally:
        page.close()
    assert app_server.process.poll() is None
