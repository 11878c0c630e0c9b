"""A vision transformer's page in Debian's Chromium: its self-attention in place of the gate views.

The server runs ``app.py --model timm:vit_tiny_patch16_224`` with a weights
file of that architecture at random init, its q·k projections scaled so the
heads attend sharply; a photo is uploaded, analysed, a patch clicked and the
ablation run, at a desktop and a phone size. The shipped ``shapes-vit`` is
opened from its example in the default app.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from PIL import Image

from tests.conftest import AppServer
from tests.test_app_models import served
from tests.test_browser import browser  # noqa: F401 - the shared Chromium fixture
from tests.test_browser_page import DESKTOP, PHONE, TIMEOUT_MS, _has_colour_bar
from tests.test_tokens import sharpen

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "assets" / "examples" / "photo_cat_chelsea.jpg"
GATE_VIEWS = ("#overlay-grid", "#bar-chart", "#spatial-layer", "#channel-section")
TITLE = "() => document.querySelector('#patch-attention img').src"


@pytest.fixture(scope="module")
def vit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("vit")
    weights = folder / "vit_tiny.pth"
    torch.save(sharpen(timm.create_model("vit_tiny_patch16_224", pretrained=False)).state_dict(), weights)
    with served(["--model", "timm:vit_tiny_patch16_224", "--weights", weights], folder) as (url, _process):
        yield url


def _picture(page, selector: str) -> Image.Image:  # noqa: ANN001
    src = page.locator(f"{selector} img").first.get_attribute("src")
    assert src, selector
    return Image.open(io.BytesIO(page.request.get(src).body())).convert("RGB")


def _shown(page, selector: str) -> bool:  # noqa: ANN001
    return bool(
        page.evaluate(
            f"() => {{ const e = document.querySelector('{selector}'); "
            "return !!e && e.offsetParent !== null && e.getBoundingClientRect().height > 0; }"
        )
    )


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_vision_transformer_shows_every_head_a_clicked_patch_and_the_rollout(  # noqa: ANN001
    browser,  # noqa: F811 - the shared fixture
    vit_server: str,
    viewport: dict[str, int],
    tmp_path: Path,
) -> None:
    page = browser.new_page(viewport=viewport)
    try:
        page.goto(vit_server, wait_until="load")
        page.wait_for_selector("#analyze-button", timeout=TIMEOUT_MS)
        page.locator("#input-image input[type=file]").set_input_files(str(PHOTO))
        page.wait_for_selector("#input-image img", timeout=TIMEOUT_MS)
        page.locator("#analyze-button").click()
        page.wait_for_function(
            "() => document.querySelector('#status').innerText.includes('12 self-attention layers found')",
            timeout=TIMEOUT_MS,
        )
        for selector in ("#token-heads", "#patch-grid", "#patch-attention", "#rollout"):
            page.wait_for_selector(f"{selector} img[src]", timeout=TIMEOUT_MS)
        assert _shown(page, "#token-section")
        assert not any(_shown(page, selector) for selector in GATE_VIEWS)  # no empty gate panels for a ViT
        for selector in ("#token-heads", "#patch-attention", "#rollout"):
            assert _has_colour_bar(_picture(page, selector)), selector
        # The head mean and 3 heads, side by side: wider than tall.
        heads = _picture(page, "#token-heads")
        assert heads.width > 2 * heads.height
        # The patch grid covers the centre crop of the 4:3 photo; a click inside it picks that patch.
        grid = page.locator("#patch-grid img")
        grid.scroll_into_view_if_needed()
        box = grid.bounding_box()
        assert box is not None
        before = page.evaluate(TITLE)
        # timm's crop of a 4:3 photo keeps the middle 3:3 (87.5%): x 0.5 is inside, at row 1 of 14 near the top.
        page.mouse.click(box["x"] + 0.5 * box["width"], box["y"] + 0.1 * box["height"])
        page.wait_for_function(f"old => ({TITLE})() !== old", arg=before, timeout=TIMEOUT_MS)
        page.wait_for_timeout(300)
        clicked = np.asarray(_picture(page, "#patch-grid"), dtype=np.int16)
        red = (clicked[..., 0] > 200) & (clicked[..., 1] < 80) & (clicked[..., 2] < 80)
        rows, columns = np.nonzero(red)
        assert len(rows) > 20, "the clicked patch is outlined in red"
        # The outline sits where the click was: the top tenth, the middle column.
        assert abs(columns.mean() / clicked.shape[1] - 0.5) < 0.06
        assert rows.mean() / clicked.shape[0] < 0.2
        page.screenshot(path=str(tmp_path / "vit.png"), full_page=True)
        # The ablation's per-head chart shows for the picked layer.
        page.locator("#debug-section").get_by_text("Debug: switch each layer off").click()
        page.locator("#ablate-button").click()
        page.wait_for_selector("#head-ablation-chart img[src]", timeout=TIMEOUT_MS * 2)
        assert _shown(page, "#head-ablation-chart") and _shown(page, "#ablation-chart")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= viewport["width"], "the document never scrolls sideways"
    finally:
        page.close()


def test_the_shipped_vit_reads_its_example_and_shows_its_heads_and_rollout(  # noqa: ANN001
    browser,  # noqa: F811 - the shared fixture
    app_server: AppServer,
    tmp_path: Path,
) -> None:
    """Picking a shapes-vit example picks the model; its analysis shows every head and the rollout, with no gates."""
    examples = sorted((ROOT / "assets" / "examples").glob("shapes-vit_*"))
    assert len(examples) == 6, "one shapes-vit example per class"
    page = browser.new_page(viewport=DESKTOP)
    try:
        page.goto(app_server.url, wait_until="load")
        page.wait_for_selector("#analyze-button", timeout=TIMEOUT_MS)
        group = page.locator("#examples-shapes-vit")
        assert "For model shapes-vit" in group.inner_text()
        assert group.locator("button.gallery-item").count() == len(examples)
        group.locator("button.gallery-item").first.click()
        page.wait_for_function(
            "() => document.querySelector('#model input').value === 'shapes-vit'", timeout=TIMEOUT_MS
        )
        page.wait_for_selector("#input-image img", timeout=TIMEOUT_MS)
        page.locator("#analyze-button").click()
        page.wait_for_function(
            "() => document.querySelector('#status').innerText.includes('6 self-attention layers found')",
            timeout=TIMEOUT_MS,
        )
        status = page.locator("#status").inner_text()
        assert "with model shapes-vit" in status and "Note:" not in status
        for selector in ("#token-heads", "#rollout", "#patch-grid"):
            page.wait_for_selector(f"{selector} img[src]", timeout=TIMEOUT_MS)
            assert _has_colour_bar(_picture(page, selector)) or selector == "#patch-grid", selector
        assert not any(_shown(page, selector) for selector in GATE_VIEWS)
        # The head mean and 4 heads in one row.
        heads = _picture(page, "#token-heads")
        assert heads.width > 3 * heads.height
        page.screenshot(path=str(tmp_path / "shapes-vit.png"), full_page=True)
    finally:
        page.close()
