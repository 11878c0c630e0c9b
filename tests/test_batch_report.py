"""``analyze FOLDER --report OUT.html``: one static page over a folder, checked against the JSON of the same run."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from tests.commands import one_thread_env, run_attention
from tests.test_browser import browser  # noqa: F401 - the shared Chromium fixture
from tests.test_scale_out import labelled_folder

pytestmark = pytest.mark.slow  # each test analyses a generated folder of images with the shipped model


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """A labelled folder with three images put in the wrong class on purpose, analysed with --json and --report."""
    root = tmp_path_factory.mktemp("report")
    folder = labelled_folder(root / "data", 40)
    for moved, (source, wrong) in enumerate((("circle", "star"), ("square", "ring"), ("triangle", "cross"))):
        first = sorted((folder / source).glob("*.png"))[0]
        (folder / wrong).mkdir(exist_ok=True)
        shutil.move(first, folder / wrong / f"moved-{moved}.png")
    page = root / "out" / "report.html"
    done = run_attention(
        "analyze", folder, "--report", page, "--json", "--batch-size", "8", "--workers", "2", env=one_thread_env()
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"skipped {folder / 'circle' / 'broken.png'}: not an image Pillow can read\n"
    return folder, page, json.loads(done.stdout)


def _rows(page: Path) -> list[str]:
    body = page.read_text(encoding="utf-8").split("<tbody>", 1)[1]
    return re.findall(r"<tr(?: class=wrong)?>.*?</tr>", body)


def test_the_report_has_a_row_per_readable_image_with_thumbnails_as_files(reported) -> None:  # noqa: ANN001
    folder, page, document = reported
    rows = _rows(page)
    assert len(rows) == len(document["results"]) == 40
    text = page.read_text(encoding="utf-8")
    assert "data:image" not in text and "1 file skipped" in text
    thumbnails = re.findall(r'<img src="(report_files/[^"]+)"', text)
    assert len(thumbnails) == 2 * 40 + 1  # the image and the deepest spatial mask over it, per row; the scale bar
    for name in thumbnails:
        with Image.open(page.parent / name) as thumbnail:
            assert max(thumbnail.size) <= (320 if name.endswith("scale.png") else 160)
    assert len(list((page.parent / "report_files").iterdir())) == len(thumbnails)


def test_misclassified_images_come_first_most_confident_first(reported) -> None:  # noqa: ANN001
    folder, page, document = reported
    wrong = []
    for result in document["results"]:
        label = Path(result["image"]).relative_to(folder).parts[0]
        if result["prediction"]["label"] != label:
            wrong.append((result["prediction"]["probability"], Path(result["image"]).relative_to(folder).as_posix()))
    assert {name for _, name in wrong} >= {"star/moved-0.png", "ring/moved-1.png", "cross/moved-2.png"}
    rows = _rows(page)
    assert [row.startswith("<tr class=wrong>") for row in rows] == [True] * len(wrong) + [False] * (40 - len(wrong))
    shown = [re.search(r'<td data-v="([^"]*/[^"]*)">\1</td>', row).group(1) for row in rows[: len(wrong)]]  # file
    assert shown == [name for _, name in sorted(wrong, key=lambda item: -item[0])]
    first = rows[0]
    best = max(wrong)
    assert f"{best[0]:.1%}" in first and '<td data-v="0">no</td>' in first


def test_the_table_sorts_by_a_column_in_chromium(reported, browser) -> None:  # noqa: ANN001, F811
    _folder, page, document = reported
    tab = browser.new_page(viewport={"width": 390, "height": 844})
    try:
        tab.goto(page.as_uri())
        header = tab.locator("#report th", has_text="confidence")
        header.click()
        values = tab.locator("#report tbody tr td:nth-child(4)").evaluate_all("cells => cells.map(c => +c.dataset.v)")
        expected = sorted(result["prediction"]["probability"] for result in document["results"])
        assert [round(value, 6) for value in values] == expected
        header.click()
        again = tab.locator("#report tbody tr td:nth-child(4)").evaluate_all("cells => cells.map(c => +c.dataset.v)")
        assert again == sorted(values, reverse=True)
        tab.locator("#report tbody tr").first.scroll_into_view_if_needed()
        loaded = (
            tab.locator("#report tbody tr")
            .first.locator("img")
            .evaluate_all("images => images.map(i => i.complete && i.naturalWidth)")
        )
        assert len(loaded) == 2 and all(width > 0 for width in loaded)
    finally:
        tab.close()


def test_a_report_path_that_is_a_folder_is_refused_in_one_line(tmp_path: Path) -> None:
    done = run_attention("analyze", "assets/examples/shapes_star_11.png", "--report", tmp_path)
    assert done.returncode == 2 and done.stderr.startswith(f"error: --report {tmp_path} is a folder")
    assert len(done.stderr.splitlines()) == 1
