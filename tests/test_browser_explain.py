"""The Explain view in a real browser: Debian's Chromium driven by Playwright against ``python app.py``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import AppServer
from tests.test_browser import TIMEOUT_MS, browser  # noqa: F401 - the Chromium fixture, shared

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "assets" / "examples" / "shapes_star_11.png"


@pytest.fixture(scope="module")
def explained():  # noqa: ANN201
    """The same image analysed in this process, for the titles and captions the page must show."""
    from webapp import analysis
    from webapp.inputs import UploadRoots
    from webapp.state import ModelCache

    return analysis.analyze(str(EXAMPLE), cache=ModelCache(), roots=UploadRoots.of([EXAMPLE.parent])).explanations


def _analysed_count(server: AppServer) -> int:
    return server.log.read_text(errors="replace").count(f"analysed {EXAMPLE.name} ")


def _words(text: str) -> str:
    return " ".join(text.split())


def _pick(page, label: str) -> None:  # noqa: ANN001
    page.get_by_role("combobox", name="Layer to explain").click()
    page.get_by_role("option", name=label, exact=True).click()


def _masked(text: str) -> str:
    """Text with every number replaced by '#'."""
    return re.sub(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?", "#", text)


def _check_steps(page, explanation) -> None:  # noqa: ANN001
    """Every step's picture is drawn and its caption shown; the slots past the last step are hidden."""
    count = len(explanation.steps)
    last = explanation.steps[-1]
    # The last caption names this layer's last step once the redraw has arrived.
    page.wait_for_function(
        "([index, text]) => { const el = document.querySelector(`#explain-caption-${index}`);"
        " return el && el.innerText.includes(text); }",
        arg=[count - 1, last.title],
        timeout=TIMEOUT_MS,
    )
    for index, step in enumerate(explanation.steps):
        assert step.shown
        image = page.locator(f"#explain-image-{index} img").first
        # Gradio's pictures load lazily: bring the step on screen, as a reader scrolling down does.
        page.locator(f"#explain-step-{index}").scroll_into_view_if_needed(timeout=TIMEOUT_MS)
        image.wait_for(state="visible", timeout=TIMEOUT_MS)
        assert image.get_attribute("src")
        # The picture really loaded: a drawing, not a broken link.
        image.evaluate(
            "img => img.complete && img.naturalWidth ? true"
            " : new Promise(done => img.addEventListener('load', () => done(true), {once: true}))"
        )
        assert image.evaluate("img => img.naturalWidth") > 100
        caption = _words(page.locator(f"#explain-caption-{index}").inner_text())
        # Numbers worked out in two processes may differ in their last float digits (summation order
        # depends on the thread count), so the caption is compared with its numbers masked.
        assert _masked(_words(step.title)) in _masked(caption), (index, caption)
        assert _masked(_words(step.caption)) in _masked(caption), (index, caption)
    for index in range(count, 6):
        assert not page.locator(f"#explain-step-{index}").is_visible()


def test_explain_view_draws_every_step_of_a_spatial_and_a_channel_layer(  # noqa: ANN001
    browser,  # noqa: F811
    app_server: AppServer,
    explained,
    tmp_path: Path,
) -> None:
    spatial = [e for e in explained.values() if e.kind == "spatial"][1]
    channel = [e for e in explained.values() if e.kind == "channel"][2]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(app_server.url, wait_until="load")
        page.wait_for_selector("#analyze-button", timeout=TIMEOUT_MS)
        page.locator("#input-image input[type=file]").set_input_files(str(EXAMPLE))
        page.wait_for_selector("#input-image img", timeout=TIMEOUT_MS)
        page.get_by_role("button", name="Analyze", exact=True).click()
        page.wait_for_selector("#overlay img[src]", timeout=TIMEOUT_MS)
        runs = _analysed_count(app_server)
        assert runs >= 1

        page.get_by_text("Explain: how a layer computes its attention").click()
        _check_steps(page, next(iter(explained.values())))  # the first layer, until another is picked
        _pick(page, f"{spatial.layer} ({spatial.what})")
        _check_steps(page, spatial)
        _pick(page, f"{channel.layer} ({channel.what})")
        _check_steps(page, channel)

        page.get_by_role("button", name="Download as one PNG (slide)").click()
        page.wait_for_selector("#explain-slide a", timeout=TIMEOUT_MS)
        assert f"{channel.layer}_explain" in page.locator("#explain-slide").inner_text()
        # Picking layers and making the slide only drew: the model ran once.
        assert _analysed_count(app_server) == runs
        page.screenshot(path=str(tmp_path / "explain.png"), full_page=True)
    finally:
        page.close()


def test_the_page_tells_the_truth_about_weak_masks_and_photos(  # noqa: ANN001
    browser,  # noqa: F811
    app_server: AppServer,
    explained,
    tmp_path: Path,
) -> None:
    from attention import render
    from tests.checkpoints import changed_checkpoint
    from webapp import analysis
    from webapp.inputs import UploadRoots
    from webapp.state import ModelCache

    first_spatial = next(e for e in explained.values() if e.kind == "spatial")
    assert render.mask_range_note(first_spatial.step("gate").values["mask"]) is None, "the shipped mask is strong"
    weak_file = changed_checkpoint(tmp_path / "weak_first_mask.pt", saturate=(first_spatial.layer,))
    weak = analysis.analyze(
        str(EXAMPLE),
        checkpoint_file=str(weak_file),
        cache=ModelCache(),
        roots=UploadRoots.of([EXAMPLE.parent, tmp_path]),
    )
    note = render.mask_range_note(weak.analysis.layer(first_spatial.layer).mask)
    assert note is not None
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(app_server.url, wait_until="load")
        page.wait_for_selector("#analyze-button", timeout=TIMEOUT_MS)
        # The default model reads drawings: the gallery offers the drawings and no photo.
        gallery = page.content()
        assert "shapes_star_11" in gallery and "photo_" not in gallery
        page.locator("#input-image input[type=file]").set_input_files(str(EXAMPLE))
        page.wait_for_selector("#input-image img", timeout=TIMEOUT_MS)
        page.get_by_role("button", name="Analyze", exact=True).click()
        page.wait_for_selector("#overlay img[src]", timeout=TIMEOUT_MS)
        # The shipped model's mask spans the 0-1 scale: its panels carry their plain titles.
        assert "scales every pixel almost equally" not in page.locator("#overlay").inner_text()
        assert "photo" not in page.locator("#status").inner_text()

        page.locator("#input-image input[type=file]").set_input_files(str(EXAMPLE.parent / "photo_coffee.jpg"))
        page.get_by_role("button", name="Analyze", exact=True).click()
        page.wait_for_function(
            "() => document.querySelector('#status').innerText.includes('photo_coffee')", timeout=TIMEOUT_MS
        )
        status = page.locator("#status").inner_text()
        assert "looks like a photo" in status and "trained on drawn shapes" in status

        # A checkpoint whose first mask is about 1 everywhere: the panel's title says so, with the numbers.
        page.get_by_text("Upload weights or a checkpoint").click()
        page.locator("#checkpoint-upload input[type=file]").first.set_input_files(str(weak_file))
        page.wait_for_function(
            "() => document.querySelector('#model-status').innerText.includes('weak_first_mask')", timeout=TIMEOUT_MS
        )
        page.locator("#input-image input[type=file]").set_input_files(str(EXAMPLE))
        page.get_by_role("button", name="Analyze", exact=True).click()
        page.wait_for_function(
            "() => document.querySelector('#status').innerText.includes('weak_first_mask')", timeout=TIMEOUT_MS
        )
        page.locator("#overlay").get_by_text(note).first.wait_for(timeout=TIMEOUT_MS)
        raw = page.locator("#raw-mask").inner_text()
        assert note.split(":")[0].removeprefix("mask ") in raw and "min–max colour scale shows where it differs" in raw
    finally:
        page.close()
