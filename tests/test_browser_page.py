"""The page's layout as a user meets it, in Debian's Chromium: what is on screen, how large, and where.

Every check reads positions and sizes from the DOM (and the pictures' own
pixels), at the two window sizes the page is made for: a 1400x1000 desktop or
projector and a 390x844 phone.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from attention import render
from attention.display import DEFAULT_COLORMAP
from tests.conftest import AppServer
from tests.test_browser import browser  # noqa: F401 - the shared Chromium fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "assets" / "examples"
STAR = EXAMPLES / "shapes_star_11.png"
SNEAKER = EXAMPLES / "fashion_sneaker_9.png"
TIMEOUT_MS = 60_000
DESKTOP = {"width": 1400, "height": 1000}
PHONE = {"width": 390, "height": 844}
FIRST_RESULTS = ("#predictions", "#overlay-grid", "#bar-chart")
HEATMAPS = ("#overlay-grid", "#overlay", "#raw-mask", "#feature-maps")
SPATIAL_LAYERS = 4  # the shipped models' spatial layers
MIN_TEXT_PX = 11
# Text on a picture is drawn at render.TEXT_PX; shown smaller than this share of its size it drops under 11 px.
MIN_PICTURE_SCALE = MIN_TEXT_PX / render.TEXT_PX

BOX = """s => { const e = document.querySelector(s); if (!e) return null;
  const b = e.getBoundingClientRect(); return {x: b.x, y: b.y, width: b.width, height: b.height}; }"""
IMAGE_BOX = """s => { const i = document.querySelector(s + ' img'); if (!i) return null;
  const b = i.getBoundingClientRect();
  return {x: b.x, y: b.y, width: b.width, height: b.height, natural: [i.naturalWidth, i.naturalHeight]}; }"""
# Visible panels that show nothing: an image panel without a picture, a table without rows, an empty file box.
EMPTY_PANELS = """() => {
  const shown = e => e.offsetParent !== null && e.getBoundingClientRect().height > 0;
  const empty = [];
  for (const panel of document.querySelectorAll('.lens-panel')) {
    if (shown(panel) && !panel.querySelector('img[src]')) empty.push(panel.id);
  }
  for (const table of document.querySelectorAll('#statistics, #ablation-table')) {
    if (shown(table) && !table.querySelector('tbody tr td')) empty.push(table.id);
  }
  for (const id of ['#compare-summary', '#document-file', '#report-file']) {
    const e = document.querySelector(id);
    if (e && shown(e) && !(e.querySelector('a') || (e.querySelector('textarea') || {}).value)) empty.push(e.id);
  }
  return empty;
}"""
# The smallest font size of any visible text on the page.
SMALLEST_TEXT = """() => {
  let smallest = 1e9, where = null;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, parent = node.parentElement;
    if (!node.textContent.trim() || !parent || parent.offsetParent === null) continue;
    const box = parent.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    const size = parseFloat(getComputedStyle(parent).fontSize);
    if (size < smallest) { smallest = size; where = node.textContent.trim().slice(0, 40); }
  }
  return [smallest, where];
}"""


def _open(browser, server: AppServer, viewport: dict[str, int]):  # noqa: ANN001, ANN202, F811 - Playwright types
    page = browser.new_page(viewport=viewport)
    page.goto(server.url, wait_until="load")
    page.wait_for_selector("#analyze-button", timeout=TIMEOUT_MS)
    return page


def _analyze(page, image: Path) -> None:  # noqa: ANN001
    page.locator("#input-image input[type=file]").set_input_files(str(image))
    page.wait_for_selector("#input-image img", timeout=TIMEOUT_MS)
    before = {selector: page.evaluate(f"() => document.querySelector('{selector} img')?.src") for selector in HEATMAPS}
    page.locator("#analyze-button").click()
    page.wait_for_function(
        "name => document.querySelector('#status').innerText.includes(name)", arg=image.name, timeout=TIMEOUT_MS
    )
    for selector, old in before.items():
        page.wait_for_function(
            "([s, old]) => { const i = document.querySelector(s + ' img');"
            " return i && i.src && i.src !== old && i.complete && i.naturalWidth > 0; }",
            arg=[selector, old],
            timeout=TIMEOUT_MS,
        )
    page.wait_for_selector("#report-file a", timeout=TIMEOUT_MS)
    page.wait_for_timeout(300)  # the last panels' layout settles


def _picture(page, selector: str) -> Image.Image:  # noqa: ANN001
    src = page.locator(f"{selector} img").first.get_attribute("src")
    assert src, selector
    response = page.request.get(src)
    assert response.ok, (selector, response.status)
    return Image.open(io.BytesIO(response.body())).convert("RGB")


def _has_colour_bar(picture: Image.Image, colormap: str = DEFAULT_COLORMAP) -> bool:
    """Some row of the picture runs through the colormap from its low to its high end, left to right."""
    pixels = np.asarray(picture, dtype=np.int16)
    low, high = (np.asarray(render.colorize(np.array([v]), colormap)[0], dtype=np.int16) for v in (0.0, 1.0))
    for row in pixels[::-1]:
        near_low = np.flatnonzero(np.abs(row - low).max(axis=1) <= 12)
        near_high = np.flatnonzero(np.abs(row - high).max(axis=1) <= 12)
        if len(near_low) >= 3 and len(near_high) >= 3 and near_low.max() < near_high.min():
            span = near_high.min() - near_low.max()
            if span >= 0.5 * picture.width:
                return True
    return False


def test_the_prediction_every_layer_overlay_and_first_channel_chart_show_without_scrolling(  # noqa: ANN001
    browser,  # noqa: F811
    app_server: AppServer,
    tmp_path: Path,
) -> None:
    page = _open(browser, app_server, DESKTOP)
    try:
        _analyze(page, STAR)
        assert page.evaluate("() => window.scrollY") == 0
        for selector in FIRST_RESULTS:
            box = page.evaluate(BOX, selector)
            assert box is not None, selector
            assert box["y"] >= 0 and box["y"] + box["height"] <= DESKTOP["height"], (selector, box)
            assert box["x"] >= 0 and box["x"] + box["width"] <= DESKTOP["width"], (selector, box)
        grid = page.evaluate(IMAGE_BOX, "#overlay-grid")
        assert grid["y"] + grid["height"] <= DESKTOP["height"], grid
        assert page.evaluate(EMPTY_PANELS) == []
        # What was not asked for yet sits in closed sections.
        for section in ("#debug-section", "#compare-section", "#explain-section"):
            assert page.evaluate(BOX, section)["height"] < 80, section
        assert page.locator("#phone-hint").is_hidden()  # here every picture fits its panel
        page.screenshot(path=str(tmp_path / "desktop.png"))
    finally:
        page.close()


def test_every_heatmap_is_at_least_256px_with_a_colour_bar_and_readable_text(  # noqa: ANN001
    browser,  # noqa: F811
    app_server: AppServer,
) -> None:
    page = _open(browser, app_server, DESKTOP)
    try:
        _analyze(page, SNEAKER)  # 28x28: the pictures must still be large
        grid = page.evaluate(IMAGE_BOX, "#overlay-grid")
        assert grid["natural"][0] >= SPATIAL_LAYERS * render.MIN_HEATMAP_SIDE, grid
        assert grid["width"] / grid["natural"][0] >= MIN_PICTURE_SCALE, grid
        for selector in ("#overlay", "#raw-mask"):
            shown = page.evaluate(IMAGE_BOX, selector)
            assert min(shown["natural"]) >= render.MIN_HEATMAP_SIDE, (selector, shown)
            assert max(shown["width"], shown["height"]) >= render.MIN_HEATMAP_SIDE, (selector, shown)
        feature_maps = page.evaluate(IMAGE_BOX, "#feature-maps")
        assert feature_maps["width"] / feature_maps["natural"][0] >= MIN_PICTURE_SCALE, feature_maps
        bar_chart = page.evaluate(IMAGE_BOX, "#bar-chart")
        assert bar_chart["width"] / bar_chart["natural"][0] >= MIN_PICTURE_SCALE, bar_chart
        for selector in HEATMAPS:
            assert _has_colour_bar(_picture(page, selector)), selector
        smallest, where = page.evaluate(SMALLEST_TEXT)
        assert smallest >= MIN_TEXT_PX, (smallest, where)
        assert page.locator("#colormap input").input_value() == DEFAULT_COLORMAP == "viridis"

        # A stretched view says the range it was stretched from, and the report follows without another click.
        report = page.locator("#report-file a").first.get_attribute("href")
        page.get_by_role("radio", name="min–max").click()
        page.locator("#overlay").get_by_text("stretched from").first.wait_for(timeout=TIMEOUT_MS)
        page.wait_for_function(
            "old => { const a = document.querySelector('#report-file a'); return a && a.href && a.href !== old; }",
            arg=report,
            timeout=TIMEOUT_MS,
        )
    finally:
        page.close()


def test_examples_are_grouped_by_model_and_picking_one_picks_its_model(  # noqa: ANN001
    browser,  # noqa: F811
    app_server: AppServer,
) -> None:
    page = _open(browser, app_server, DESKTOP)
    try:
        shapes, fashion = page.locator("#examples-shapes"), page.locator("#examples-fashion")
        assert "For model shapes" in shapes.inner_text()
        assert "For model fashion" in fashion.inner_text()
        assert shapes.locator("button.gallery-item").count() == len(list(EXAMPLES.glob("shapes_*")))
        assert fashion.locator("button.gallery-item").count() == len(list(EXAMPLES.glob("fashion_*")))
        # No photo is offered with a model trained on drawings.
        assert page.locator("#examples-photo").count() == 0

        fashion.locator("button.gallery-item").first.click()
        page.wait_for_function("() => document.querySelector('#model input').value === 'fashion'", timeout=TIMEOUT_MS)
        page.wait_for_selector("#input-image img", timeout=TIMEOUT_MS)
        page.locator("#analyze-button").click()
        page.wait_for_function(
            "() => document.querySelector('#status').innerText.includes('with model fashion')", timeout=TIMEOUT_MS
        )
        assert "Note:" not in page.locator("#status").inner_text()

        # The same picture under the other model gets the honest note.
        shapes.locator("button.gallery-item").first.click()
        page.wait_for_function("() => document.querySelector('#model input').value === 'shapes'", timeout=TIMEOUT_MS)
        fashion.locator("button.gallery-item").first.click()
        page.wait_for_function("() => document.querySelector('#model input').value === 'fashion'", timeout=TIMEOUT_MS)
        page.locator("#model input").click()
        page.get_by_role("option", name="shapes", exact=True).click()
        page.locator("#analyze-button").click()
        page.wait_for_function(
            "() => document.querySelector('#status').innerText.includes('Fashion-MNIST picture')", timeout=TIMEOUT_MS
        )
        assert "with model shapes" in page.locator("#status").inner_text()
    finally:
        page.close()


def test_the_sketchpad_draws_on_the_first_stroke(browser, app_server: AppServer) -> None:  # noqa: ANN001, F811
    page = _open(browser, app_server, DESKTOP)
    try:
        page.get_by_role("tab", name="Draw").click()
        canvas = page.locator("#sketchpad canvas").first
        canvas.wait_for(timeout=TIMEOUT_MS)
        page.wait_for_timeout(500)
        box = canvas.bounding_box()
        assert box is not None and min(box["width"], box["height"]) >= 250, box
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x - 60, y - 60)
        page.mouse.down()
        for corner_x, corner_y in ((x + 60, y - 60), (x + 60, y + 60), (x - 60, y + 60), (x - 60, y - 60)):
            page.mouse.move(corner_x, corner_y, steps=8)
        page.mouse.up()
        page.get_by_role("button", name="Analyze drawing").click()
        page.wait_for_function(
            "() => document.querySelector('#status').innerText.includes('sketch.png')", timeout=TIMEOUT_MS
        )
    finally:
        page.close()


def test_on_a_phone_the_results_come_into_view_and_rows_stack(  # noqa: ANN001
    browser,  # noqa: F811
    app_server: AppServer,
    tmp_path: Path,
) -> None:
    page = _open(browser, app_server, PHONE)
    try:
        analyze = page.evaluate(BOX, "#analyze-button")
        _analyze(page, STAR)
        status = page.evaluate(BOX, "#status")
        predictions = page.evaluate(BOX, "#predictions")
        assert -1 < status["y"] < PHONE["height"] / 2, status  # at the top, to within a subpixel of layout rounding
        assert predictions["y"] < PHONE["height"], predictions
        assert page.evaluate("() => window.scrollY") > analyze["y"] - PHONE["height"], "the page did not move"
        # Nothing is wider than the screen, and side-by-side panels stack.
        assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
        overlay, mask = page.evaluate(BOX, "#overlay"), page.evaluate(BOX, "#raw-mask")
        assert mask["y"] >= overlay["y"] + overlay["height"] - 1, (overlay, mask)
        for selector in ("#overlay", "#raw-mask", "#bar-chart", "#overlay-grid", "#predictions"):
            box = page.evaluate(BOX, selector)
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (selector, box)
        # Layer names are shown whole in their pickers.
        for picker in ("#spatial-layer input", "#channel-layer input"):
            fits = page.evaluate(
                "s => { const i = document.querySelector(s); return [i.scrollWidth, i.clientWidth]; }", picker
            )
            assert fits[0] <= fits[1], (picker, fits)
        # Opening every section keeps the page within the screen: wide tables scroll inside their panel.
        for section in ("Per-layer statistics", "Debug: switch each layer off", "Compare two analyses"):
            page.get_by_text(section).first.click()
        page.wait_for_selector("#statistics tbody tr td", state="attached", timeout=TIMEOUT_MS)
        page.wait_for_selector("#gradcam img[src]", timeout=TIMEOUT_MS)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
        # Every picture keeps its labels readable: a wide one scrolls sideways inside its panel, at its own size,
        # and a line under the status says so.
        assert page.locator("#phone-hint").is_visible()
        assert "scrolls sideways" in page.locator("#phone-hint").inner_text()
        for selector in ("#bar-chart", "#overlay-grid", "#overlay", "#raw-mask", "#feature-maps", "#gradcam"):
            shown = page.evaluate(IMAGE_BOX, selector)
            assert shown["width"] / shown["natural"][0] >= MIN_PICTURE_SCALE, (selector, shown)
            panel = page.evaluate(BOX, selector)
            assert panel["x"] >= 0 and panel["x"] + panel["width"] <= PHONE["width"], (selector, panel)
        page.screenshot(path=str(tmp_path / "phone.png"))
    finally:
        page.close()


def test_compare_pairs_layers_of_two_models_opens_on_the_most_different_and_an_error_clears_it(  # noqa: ANN001
    browser,  # noqa: F811
    app_server: AppServer,
) -> None:
    page = _open(browser, app_server, DESKTOP)
    try:
        _analyze(page, STAR)
        page.get_by_text("Compare two analyses").click()
        page.locator("#compare-model input").click()
        page.get_by_role("option", name="fashion", exact=True).click()
        page.locator("#compare-button").click()
        page.wait_for_function(
            "() => document.querySelector('#compare-summary textarea')?.value.includes('attention differs most in')",
            timeout=TIMEOUT_MS,
        )
        summary = page.locator("#compare-summary textarea").input_value()
        # shapes has a fourth stage that fashion lacks, and other channel counts: both are listed, not dropped.
        assert "Not compared: " in summary and "stages.3.0.attention.spatial: B has no spatial layer" in summary
        most = summary.split("attention differs most in ")[1].split(" (mean")[0]
        page.wait_for_function(
            "name => document.querySelector('#compare-layer input')?.value === name", arg=most, timeout=TIMEOUT_MS
        )
        page.wait_for_selector("#compare-difference img[src]", timeout=TIMEOUT_MS)
        page.wait_for_selector("#compare-masks img[src]", timeout=TIMEOUT_MS)
        masks = page.evaluate(IMAGE_BOX, "#compare-masks")
        assert masks["width"] >= 2 * render.MIN_HEATMAP_SIDE, masks

        # A comparison that fails leaves nothing of the previous one.
        page.locator("#compare-model input").click()
        page.get_by_role("option", name="same as A", exact=True).click()
        page.locator("#compare-button").click()
        page.get_by_text("give a second image, or a second model").first.wait_for(timeout=TIMEOUT_MS)
        page.wait_for_function(
            "() => !document.querySelector('#compare-summary textarea')"
            " && !document.querySelector('#compare-masks img') && !document.querySelector('#compare-difference img')",
            timeout=TIMEOUT_MS,
        )
    finally:
        page.close()


def test_ablation_runs_from_one_control_and_redraws_only_its_own_views(  # noqa: ANN001
    browser,  # noqa: F811
    app_server: AppServer,
) -> None:
    page = _open(browser, app_server, DESKTOP)
    try:
        _analyze(page, STAR)
        before = {selector: page.locator(f"{selector} img").first.get_attribute("src") for selector in HEATMAPS}
        status = page.locator("#status").inner_text()
        page.get_by_text("Debug: switch each layer off").click()
        assert page.locator("#ablation-table").count() == 0  # no empty table before an ablation ran
        page.locator("#ablate-mean-button").click()
        page.locator("#ablation-table").get_by_text("stages.3.0.attention.spatial").first.wait_for(timeout=TIMEOUT_MS)
        page.wait_for_selector("#ablation-chart img[src]", timeout=TIMEOUT_MS)
        after = {selector: page.locator(f"{selector} img").first.get_attribute("src") for selector in HEATMAPS}
        assert after == before
        assert page.locator("#status").inner_text() == status
    finally:
        page.close()


def test_the_class_picker_starts_on_the_prediction_and_drives_gradcam(  # noqa: ANN001
    browser,  # noqa: F811
    app_server: AppServer,
) -> None:
    page = _open(browser, app_server, DESKTOP)
    try:
        _analyze(page, STAR)
        page.get_by_text("Debug: switch each layer off").click()
        page.wait_for_function(
            "() => document.querySelector('#target-class input')?.value === 'star'", timeout=TIMEOUT_MS
        )
        page.wait_for_selector("#gradcam img[src]", timeout=TIMEOUT_MS)
        first = page.locator("#gradcam img").first.get_attribute("src")
        page.locator("#target-class input").click()
        page.get_by_role("option", name="ring", exact=True).click()
        page.wait_for_function(
            "old => { const img = document.querySelector('#gradcam img'); return img && img.src !== old; }",
            arg=first,
            timeout=TIMEOUT_MS,
        )
        page.get_by_text("The two maps as numbers").click()
        page.locator("#gradcam-data").get_by_text('"ring"').first.wait_for(timeout=TIMEOUT_MS)
        # The ablation's change is that of the picked class.
        page.locator("#ablate-button").click()
        page.wait_for_selector("#ablation-chart img[src]", timeout=TIMEOUT_MS)
    finally:
        page.close()


def test_the_explain_steps_are_presented_as_slides_with_the_arrow_keys(  # noqa: ANN001
    browser,  # noqa: F811
    app_server: AppServer,
) -> None:
    page = _open(browser, app_server, DESKTOP)
    try:
        _analyze(page, STAR)
        page.get_by_text("Explain: how a layer computes its attention").click()
        page.wait_for_selector("#explain-image-0 img[src]", timeout=TIMEOUT_MS)
        page.locator("#explain-present-button").click()
        shown = (
            "() => { const i = document.querySelector('#explain-slides .preview img, #explain-slides img');"
            " return i && i.complete && i.naturalWidth > 0 ? [i.src, i.naturalWidth, i.naturalHeight] : null; }"
        )
        page.wait_for_function(shown, timeout=TIMEOUT_MS)
        first = page.evaluate(shown)
        assert first[1:] == [1920, 1080], first
        page.locator("#explain-slides img").first.click()
        page.keyboard.press("ArrowRight")
        page.wait_for_function(f"old => ({shown})()[0] !== old", arg=first[0], timeout=TIMEOUT_MS)
        assert "2. " in page.locator("#explain-slides").inner_text()
    finally:
        page.close()
