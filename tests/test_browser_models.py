"""Picking an architecture and uploading its weights in the page, in Debian's Chromium (see tests/test_browser.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from torch import nn

from tests.conftest import AppServer
from tests.test_app_models import official_eca, photo  # noqa: F401 - official_eca is a fixture
from tests.test_browser import TIMEOUT_MS, browser  # noqa: F401 - browser is a fixture

pytestmark = pytest.mark.browser


def test_pick_an_architecture_and_upload_its_weights(  # noqa: ANN001
    browser,  # noqa: F811
    app_server: AppServer,
    official_eca: tuple[nn.Module, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    _model, weights = official_eca
    image = photo(tmp_path / "photo.png", seed=7)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(app_server.url, wait_until="load")
        page.wait_for_selector("#analyze-button", timeout=TIMEOUT_MS)
        status = page.locator("#model-status")
        assert "shipped" in status.inner_text()
        picker = page.locator("#model input")
        picker.click()
        picker.fill("eca_resnet18")
        page.get_by_role("option", name="ecanet:eca_resnet18", exact=True).click()
        page.wait_for_function(
            "() => document.querySelector('#model-status').innerText.includes('upload its weights')",
            timeout=TIMEOUT_MS,
        )
        assert "11.7 M parameters" in status.inner_text()
        page.get_by_text("Upload weights or a checkpoint").click()
        page.locator("#checkpoint-upload input[type=file]").first.set_input_files(str(weights))
        page.wait_for_function(
            "() => document.querySelector('#model-status').innerText.includes('with uploaded weights')",
            timeout=TIMEOUT_MS,
        )
        assert "model_best.pth.tar" in status.inner_text() and "5 classes" in status.inner_text()

        page.locator("#input-image input[type=file]").set_input_files(str(image))
        page.wait_for_selector("#input-image img", timeout=TIMEOUT_MS)
        page.get_by_role("button", name="Analyze", exact=True).click()
        page.wait_for_function(
            "() => document.querySelector('#status').innerText.includes('ecanet:eca_resnet18')", timeout=TIMEOUT_MS
        )
        page.wait_for_selector("#bar-chart img[src]", timeout=TIMEOUT_MS)
        assert "model_best.pth.tar (ecanet:eca_resnet18)" in page.locator("#status").inner_text()
        # The channel-layer picker follows the uploaded network's layers.
        page.wait_for_function(
            "() => document.querySelector('#channel-layer input').value === 'layer1.0.eca'", timeout=TIMEOUT_MS
        )
    finally:
        page.close()
    assert app_server.process.poll() is None
