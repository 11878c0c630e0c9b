"""The web app's plain functions on real images and the real checkpoint, with no server or browser."""

from __future__ import annotations

import inspect
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from attention import render
from attention.display import MAX_TOP_K
from attention.errors import CheckpointError, ImageInputError, InputError
from models.checkpoint import SHIPPED
from tests.badfiles import BAD_IMAGE_MESSAGES, write_bad_checkpoints, write_bad_images, write_odd_mode_images
from tests.checkpoints import changed_checkpoint
from webapp import analysis, debug, downloads, inputs, panels
from webapp.inputs import UploadRoots
from webapp.state import LensResult, ModelCache


@pytest.fixture(scope="session")
def roots(tmp_path_factory: pytest.TempPathFactory) -> UploadRoots:
    """Stands in for Gradio's upload folder: the tests' own temporary folders."""
    return UploadRoots.of([tmp_path_factory.getbasetemp()])


@pytest.fixture(scope="module")
def result(cache: ModelCache, roots: UploadRoots, shape_images: list[Path]) -> LensResult:
    return analysis.analyze(str(shape_images[0]), cache=cache, roots=roots)


@pytest.fixture()
def forward_calls(cache: ModelCache) -> Iterator[list[int]]:
    """Counts forward passes of the default model while a test runs."""
    calls: list[int] = []
    handle = cache.shipped().model.register_forward_hook(lambda *_: calls.append(1))
    yield calls
    handle.remove()


def test_analysis_has_the_cli_schema_and_every_feature_map(
    result: LensResult, cache: ModelCache, roots: UploadRoots
) -> None:
    analyzer = cache.shipped()
    document = result.document
    assert set(document) == {"checkpoint", "classes", "preprocessing", "discovery", "results"}
    assert [entry["name"] for entry in document["discovery"]["found"]] == analyzer.layer_names
    assert document["checkpoint"] == "shapes"
    assert document["preprocessing"] == analyzer.preprocessing.to_dict()
    assert document["preprocessing"]["resize"] == "squash"  # the shipped models saw whole drawings in training
    assert document["classes"] == analyzer.classes == ["circle", "ring", "square", "triangle", "star", "cross"]
    assert len(document["results"]) == 1
    entry = document["results"][0]
    assert entry["image"] == "shape0.png"
    assert set(entry) == {"image", "prediction", "top", "view", "layers"}
    assert entry["view"] == [0.0, 0.0, 1.0, 1.0]
    assert [layer["name"] for layer in entry["layers"]] == analyzer.layer_names
    assert analyzer.layer_names == [
        f"stages.{i}.0.attention.{part}" for i in range(4) for part in ("channel", "spatial")
    ]
    assert len(entry["top"]) == min(5, len(analyzer.classes))
    json.dumps(document)  # plain JSON types only
    # Feature maps of every channel layer were kept from the one forward pass.
    assert set(result.analysis.feature_maps) == set(analyzer.layer_names)
    for layer in result.analysis.channel_layers:
        assert result.analysis.feature_maps[layer.name].shape[0] == layer.channels


def test_every_panel_renders(result: LensResult) -> None:
    assert panels.render_panels(result).channel.branches is None  # its section starts closed
    drawn = panels.render_panels(result, panels.DisplayOptions(branches=True))
    assert all(isinstance(image, Image.Image) for image in drawn.channel)
    assert all(isinstance(image, Image.Image) for image in drawn.spatial)
    # The large overlay keeps the uploaded image's own resolution, at least 256 px, above its colour bar.
    image = result.analysis.image
    assert drawn.spatial.overlay.width == max(image.width, render.MIN_HEATMAP_SIDE)
    assert drawn.spatial.overlay.height > drawn.spatial.overlay.width * image.height / image.width
    first_mask = result.analysis.spatial_layers[0]
    mask_height, mask_width = first_mask.size
    # Whole cells, at least 256 px: the mask's cells stay crisp squares.
    assert drawn.spatial.mask.width % mask_width == 0 and drawn.spatial.mask.width >= render.MIN_HEATMAP_SIDE
    assert len(drawn.statistics["data"]) == len(result.analysis.layers)
    assert len(drawn.statistics["headers"]) == len(drawn.statistics["data"][0])
    assert tuple(drawn.statistics["headers"]) == panels.STATISTICS_HEADERS  # the empty table's headers


def test_display_changes_never_run_the_model(
    cache: ModelCache, roots: UploadRoots, shape_images: list[Path], forward_calls: list[int], tmp_path: Path
) -> None:
    result = analysis.analyze(str(shape_images[1]), cache=cache, roots=roots)
    assert len(forward_calls) == 1
    for layer in result.channel_layer_names:
        for sort in (False, True):
            panels.channel_panels(result, layer, sort, 3)
            panels.branch_panel(result, layer, sort)
    panels.channel_panels(result, result.channel_layer_names[-1], False, MAX_TOP_K)
    for layer in result.spatial_layer_names:
        for colormap in ("jet", "viridis"):
            for scale in ("absolute", "minmax"):
                panels.spatial_panels(result, layer, colormap, 0.3, scale)
    panels.render_panels(result, panels.DisplayOptions(colormap="gray", opacity=1.0, scale="minmax"))
    panels.statistics_table(result)
    downloads.report_png(result, tmp_path, "magma", 0.7, "minmax", 8)
    downloads.write_document(result, tmp_path)
    assert len(forward_calls) == 1
    # And by construction: nothing that redraws can reach a model.
    redraws = (
        panels.channel_panels,
        panels.branch_panel,
        panels.spatial_panels,
        panels.render_panels,
        downloads.report_png,
    )
    for function in redraws:
        parameters = inspect.signature(function).parameters
        assert "cache" not in parameters and "model" not in parameters and "analyzer" not in parameters


def test_display_options_change_the_pictures(result: LensResult) -> None:
    jet = np.asarray(panels.spatial_panels(result, colormap="jet").grid)
    gray = np.asarray(panels.spatial_panels(result, colormap="gray").grid)
    assert not np.array_equal(jet, gray)
    unsorted = np.asarray(panels.channel_panels(result, sort=False).bar_chart)
    ordered = np.asarray(panels.channel_panels(result, sort=True).bar_chart)
    assert not np.array_equal(unsorted, ordered)


def test_unknown_layer_falls_back_to_the_first(result: LensResult) -> None:
    assert panels.pick_layer(result.channel_layer_names, "no.such.layer") == result.channel_layer_names[0]
    drawn = panels.channel_panels(result, "no.such.layer")
    assert drawn.bar_chart is not None
    assert panels.channel_panels(None) == (None, None, None)
    assert panels.spatial_panels(None) == (None, None, None)


def test_bad_options_are_refused(result: LensResult) -> None:
    with pytest.raises(InputError, match="colormap"):
        panels.spatial_panels(result, colormap="rainbow-unicorn")
    with pytest.raises(InputError, match="scale"):
        panels.spatial_panels(result, scale="logarithmic")


def test_raw_upload_keeps_its_original_name(cache: ModelCache, roots: UploadRoots, shape_images: list[Path]) -> None:
    upload = {"path": str(shape_images[2]), "orig_name": "holiday photo.png", "meta": {"_type": "gradio.FileData"}}
    result = analysis.analyze(upload, cache=cache, roots=roots)
    assert result.image_name == "holiday photo.png"
    assert result.document["results"][0]["image"] == "holiday photo.png"
    status = analysis.status_line(result)
    assert "holiday photo" in status and "\n" not in status
    assert " ms. 8 gates found\\." in status  # the shipped model's 4 ECA and 4 spatial gates, nothing turned down


@pytest.mark.parametrize("missing", [None, "", {}, {"path": None}])
def test_missing_image_is_a_clear_error(cache: ModelCache, roots: UploadRoots, missing: object) -> None:
    with pytest.raises(InputError, match="no image"):
        analysis.analyze(missing, cache=cache, roots=roots)


def test_bad_images_give_one_line_messages(cache: ModelCache, roots: UploadRoots, tmp_path: Path) -> None:
    for name, path in write_bad_images(tmp_path).items():
        with pytest.raises(ImageInputError) as caught:
            analysis.analyze(str(path), cache=cache, roots=roots)
        message = str(caught.value)
        assert BAD_IMAGE_MESSAGES[name] in message, (name, message)
        assert "\n" not in message and name in message


def test_unusual_modes_simply_work(cache: ModelCache, roots: UploadRoots, tmp_path: Path) -> None:
    for name, path in write_odd_mode_images(tmp_path).items():
        result = analysis.analyze(str(path), cache=cache, roots=roots)
        assert result.analysis.image.mode == "RGB", name
        assert result.document["results"][0]["image"] == name
    rotated = analysis.analyze(str(tmp_path / "exif_rotated.jpg"), cache=cache, roots=roots)
    assert rotated.analysis.image.size == (60, 80)  # EXIF orientation applied


def test_model_name_is_never_a_path(cache: ModelCache, roots: UploadRoots, shape_images: list[Path]) -> None:
    with pytest.raises(InputError, match="unknown model"):
        analysis.analyze(str(shape_images[0]), picked=str(SHIPPED["shapes"]), cache=cache, roots=roots)
    with pytest.raises(InputError, match="unknown model"):
        analysis.analyze(str(shape_images[0]), picked="../../etc/passwd", cache=cache, roots=roots)


def test_uploaded_checkpoint_replaces_the_picked_model(
    cache: ModelCache, roots: UploadRoots, shape_images: list[Path], tmp_path: Path
) -> None:
    # Class list and output rows both reversed: the same network under another class order.
    upload = changed_checkpoint(tmp_path / "my_model.pt", reverse_classes=True, reverse_outputs=True)
    result = analysis.analyze(str(shape_images[0]), "shapes", {"path": str(upload)}, cache=cache, roots=roots)
    assert result.model_name == "my_model.pt"
    shipped = analysis.analyze(str(shape_images[0]), cache=cache, roots=roots)
    assert result.document["results"][0]["layers"] == shipped.document["results"][0]["layers"]
    mine, theirs = result.document["results"][0]["prediction"], shipped.document["results"][0]["prediction"]
    classes = len(shipped.document["classes"])
    assert mine["label"] == theirs["label"] and mine["index"] == classes - 1 - theirs["index"]
    assert mine["probability"] == pytest.approx(theirs["probability"], abs=1e-5)
    assert result.document["classes"] == list(reversed(shipped.document["classes"]))
    assert "Using uploaded checkpoint" in analysis.check_checkpoint(str(upload), cache=cache, roots=roots)
    assert "shipped" in analysis.check_checkpoint(None, cache=cache, roots=roots)

    # Only the class list reversed: the same outputs under other names.
    renamed = changed_checkpoint(tmp_path / "renamed.pt", reverse_classes=True)
    result = analysis.analyze(str(shape_images[0]), "shapes", str(renamed), cache=cache, roots=roots)
    mine = result.document["results"][0]["prediction"]
    assert mine["index"] == theirs["index"] and mine["label"] == result.document["classes"][theirs["index"]]
    assert mine["label"] != theirs["label"]

    # Perturbed weights: other attention, so other records.
    perturbed = changed_checkpoint(tmp_path / "perturbed.pt", perturb=0.05)
    result = analysis.analyze(str(shape_images[0]), "shapes", str(perturbed), cache=cache, roots=roots)
    assert result.document["results"][0]["layers"] != shipped.document["results"][0]["layers"]


def test_bad_checkpoints_are_refused_clearly(
    cache: ModelCache, roots: UploadRoots, shape_images: list[Path], tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    for name, path in write_bad_checkpoints(tmp_path / "bad", marker).items():
        with pytest.raises(CheckpointError) as caught:
            analysis.analyze(str(shape_images[0]), checkpoint_file=str(path), cache=cache, roots=roots)
        assert "\n" not in str(caught.value) and name in str(caught.value)
        assert analysis.check_checkpoint(str(path), cache=cache, roots=roots).startswith("**Refused:**")
    assert not marker.exists()


def _drawing() -> dict[str, object]:
    drawing = Image.new("RGBA", (256, 256), (0, 0, 0, 0))
    ImageDraw.Draw(drawing).rectangle((60, 60, 190, 190), outline=(0, 0, 0, 255), width=12)
    return {"background": None, "layers": [], "composite": drawing}


def test_sketch(cache: ModelCache, roots: UploadRoots) -> None:
    blank = Image.new("RGBA", (256, 256), (0, 0, 0, 0))
    with pytest.raises(InputError, match="draw a shape"):
        analysis.analyze_sketch({"background": None, "layers": [], "composite": blank}, cache=cache, roots=roots)
    with pytest.raises(InputError, match="draw a shape"):
        analysis.analyze_sketch(None, cache=cache, roots=roots)
    drawing = Image.new("RGBA", (256, 256), (0, 0, 0, 0))
    ImageDraw.Draw(drawing).rectangle((60, 60, 190, 190), outline=(0, 0, 0, 255), width=12)
    result = analysis.analyze_sketch({"background": None, "layers": [], "composite": drawing}, cache=cache, roots=roots)
    assert result.image_name == "sketch.png"
    # Transparent background became white, as the model's training images are drawn.
    assert result.analysis.image.getpixel((5, 5)) == (255, 255, 255)


def test_downloads(result: LensResult, tmp_path: Path) -> None:
    document_path = downloads.write_document(result, tmp_path)
    assert document_path.name == "shape0_analysis.json"
    assert json.loads(document_path.read_text()) == result.document
    report = downloads.report_png(result, tmp_path)
    with Image.open(report) as image:
        assert image.format == "PNG" and image.width > 400


def test_the_report_adds_this_analysis_s_ablation_and_grad_cam_and_leaves_out_another_s(
    result: LensResult, cache: ModelCache, roots: UploadRoots, shape_images: list[Path], tmp_path: Path
) -> None:
    image = str(shape_images[0])
    ablation = debug.ablation_of(analysis.analyze(image, ablate="identity", cache=cache, roots=roots))
    cams = debug.gradcams(result)
    assert ablation.key == debug.result_key(result) and len(ablation.entries) == 8 and result.spatial_layer_names

    def report(analysed: LensResult, *views: object) -> np.ndarray:
        with Image.open(downloads.report_png(analysed, tmp_path, "magma", 0.5, "minmax", 3, *views)) as png:
            return np.asarray(png.convert("RGB"))

    alone = report(result)
    pictures = [Image.fromarray(alone), debug.ablation_chart(ablation)]
    pictures += [debug.gradcam_view(cams, name, "magma", "minmax")[0] for name in result.spatial_layer_names]
    assert np.array_equal(report(result, ablation, cams), np.asarray(render.stacked(pictures)))
    # Another image's analysis gets neither: its report is the summary alone.
    other = analysis.analyze(str(shape_images[1]), cache=cache, roots=roots)
    assert np.array_equal(report(other, ablation, cams), report(other))
    # An analysis run with an ablation (the API's /analyze) carries its own.
    with_own = report(analysis.analyze(image, ablate="mean", cache=cache, roots=roots))
    assert with_own.shape[0] > alone.shape[0] + 200


def test_stacked_pictures_keep_their_pixels_centred_on_white() -> None:
    wide = Image.new("RGB", (40, 10), (255, 0, 0))
    narrow = Image.new("RGB", (20, 6), (0, 0, 255))
    sheet = np.asarray(render.stacked([wide, narrow], gap=4))
    assert sheet.shape == (20, 40, 3)
    assert (sheet[:10] == (255, 0, 0)).all() and (sheet[10:14] == 255).all()
    assert (
        (sheet[14:, 10:30] == (0, 0, 255)).all() and (sheet[14:, :10] == 255).all() and (sheet[14:, 30:] == 255).all()
    )
    with pytest.raises(ValueError):
        render.stacked([])


def test_markdown_text_shows_names_literally() -> None:
    shown = inputs.markdown_text("<img src=x onerror=alert(1)>*bold*.png")
    assert "<" not in shown and "\\*bold\\*" in shown


def test_example_images(tmp_path: Path) -> None:
    assert inputs.example_images(tmp_path / "missing") == []
    assert inputs.example_images(tmp_path) == []
    (tmp_path / "b.png").write_bytes(b"x")
    (tmp_path / "a.JPG").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".hidden.png").write_bytes(b"x")
    assert [Path(p).name for p in inputs.example_images(tmp_path)] == ["a.JPG", "b.png"]


def _never_opens(function, *args, **kwargs) -> str:  # noqa: ANN001
    """The InputError message of ``function``; fails if it opened the FIFO it was given (the open would block)."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            function(*args, **kwargs)
            outcome.append(None)
        except BaseException as error:  # noqa: BLE001 - handed to the test below
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=20)
    assert not thread.is_alive(), "the handler opened a file outside the upload folders"
    assert isinstance(outcome[0], InputError), outcome
    return str(outcome[0])


def test_files_outside_the_upload_folders_are_never_opened(
    cache: ModelCache, roots: UploadRoots, shape_images: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    # A folder outside the roots (the tests' roots are pytest's temporary folders).
    outside = Path(tempfile.mkdtemp(prefix="attention-lens-test-outside-"))
    try:
        assert not roots.contains(outside / "x")
        fifo = outside / "trap.png"
        os.mkfifo(fifo)
        checkpoint_fifo = outside / "trap.pt"
        os.mkfifo(checkpoint_fifo)
        image = outside / "real.png"
        shutil.copyfile(shape_images[0], image)
        inside = tmp_path_factory.mktemp("uploads")
        link = inside / "link.png"
        link.symlink_to(image)
        checkpoint_link = inside / "link.pt"
        checkpoint_link.symlink_to(SHIPPED["shapes"])
        names = [
            str(fifo),
            str(image),
            str(outside / "missing.png"),
            "/etc/passwd",
            str(link),
            str(inside / ".." / ".." / ".." / image.relative_to(image.anchor)),
            "../../etc/passwd",
        ]
        messages = set()
        for name in names:
            for payload in (name, {"path": name}, {"path": name, "orig_name": "cat.png"}):
                messages.add(_never_opens(analysis.analyze, payload, cache=cache, roots=roots))
        assert messages == {"no image was uploaded: upload, paste or photograph an image first"}
        messages = set()
        for name in (str(checkpoint_fifo), str(SHIPPED["shapes"]), str(checkpoint_link), str(outside / "none.pt")):
            upload = {"path": name, "orig_name": "mine.pt"}
            messages.add(
                _never_opens(analysis.analyze, str(shape_images[0]), "shapes", upload, cache=cache, roots=roots)
            )
            messages.add(_never_opens(analysis.analyze_sketch, _drawing(), "shapes", upload, cache=cache, roots=roots))
            assert analysis.check_checkpoint(upload, cache=cache, roots=roots).startswith("**Refused:** no checkpoint")
        assert messages == {"no checkpoint was uploaded: upload the checkpoint file again"}
    finally:
        shutil.rmtree(outside, ignore_errors=True)


def test_the_stored_result_keeps_the_image_at_display_size(
    cache: ModelCache, roots: UploadRoots, tmp_path: Path
) -> None:
    big = tmp_path / "wide.png"
    Image.new("RGB", (3000, 1500), "white").save(big)
    result = analysis.analyze(str(big), cache=cache, roots=roots)
    assert result.analysis.image.size == (analysis.DISPLAY_MAX_SIDE, analysis.DISPLAY_MAX_SIDE // 2)
    for features in result.analysis.feature_maps.values():
        assert features.dtype in (np.float16, np.float32)
    assert panels.spatial_panels(result).overlay.width == result.analysis.image.width


def _entry(folder: Path, name: str, size: int, age_s: float, now: float) -> Path:
    entry = folder / name
    entry.mkdir()
    (entry / "file.bin").write_bytes(b"x" * size)
    for path in (entry / "file.bin", entry):
        os.utime(path, (now - age_s, now - age_s))
    return entry


def test_download_folders_are_pruned_by_age_and_size(tmp_path: Path) -> None:
    now = time.time()
    old = _entry(tmp_path, "dl-old", 10, 700, now)
    middle = _entry(tmp_path, "dl-middle", 400, 300, now)
    recent = _entry(tmp_path, "dl-recent", 400, 100, now)
    fresh = _entry(tmp_path, "dl-fresh", 400, 1, now)
    left = downloads.prune_folder(tmp_path, max_age_s=600, max_bytes=900, min_age_s=30, now=now)
    # Too old goes first; then the oldest until the rest fits the size cap.
    assert not old.exists() and not middle.exists()
    assert recent.exists() and fresh.exists() and left == 800
    # An entry a request may still be reading is never taken for size.
    left = downloads.prune_folder(tmp_path, max_age_s=600, max_bytes=0, min_age_s=30, now=now)
    assert not recent.exists() and fresh.exists() and left == 400
    assert downloads.folder_bytes(tmp_path) == 400


def test_temp_space_caps_both_folders_and_is_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRADIO_TEMP_DIR", raising=False)
    space = downloads.TempSpace.create(tmp_path)
    assert os.environ["GRADIO_TEMP_DIR"] == str(space.uploads) and space.uploads.parent == space.root
    now = time.time()
    _entry(space.uploads, "old-upload", 10, downloads.CACHE_MAX_AGE_S + 60, now)
    _entry(space.downloads, "dl-old", 10, downloads.DOWNLOADS_MAX_AGE_S + 60, now)
    _entry(space.downloads, "dl-new", 10, 0, now)
    assert space.prune() == (0, 10)
    space.remove()
    assert list(tmp_path.iterdir()) == []


def test_a_control_character_in_a_name_cannot_break_the_status_line(
    cache: ModelCache, roots: UploadRoots, shape_images: list[Path]
) -> None:
    upload = {"path": str(shape_images[2]), "orig_name": "two\nlines\r\x1b[31m\u2028.png"}
    result = analysis.analyze(upload, cache=cache, roots=roots)
    assert result.image_name == "two lines [31m .png"
    assert result.document["results"][0]["image"] == "two lines [31m .png"
    status = analysis.status_line(result)
    assert status.count("\n") == 0 and "\r" not in status and "\x1b" not in status
    assert inputs.one_line("a" * 500).endswith("…") and len(inputs.one_line("a" * 500)) == inputs.MAX_NAME_CHARS


def test_checkpoint_extensions_are_one_list(
    cache: ModelCache, roots: UploadRoots, shape_images: list[Path], tmp_path: Path
) -> None:
    assert inputs.CHECKPOINT_SUFFIXES == (".pt", ".pth", ".pth.tar", ".tar", ".ckpt", ".bin", ".safetensors")
    for suffix in (".pth.tar", ".ckpt", ".bin"):
        upload = tmp_path / f"model{suffix}"
        shutil.copyfile(SHIPPED["shapes"], upload)
        result = analysis.analyze(str(shape_images[0]), "shapes", str(upload), cache=cache, roots=roots)
        assert result.model_name == upload.name
    for name in ("model.txt", "model.pt.png", "model"):
        upload = tmp_path / name
        shutil.copyfile(SHIPPED["shapes"], upload)
        with pytest.raises(CheckpointError, match="is not a checkpoint file; use one of: .pt, .pth"):
            analysis.analyze(str(shape_images[0]), "shapes", str(upload), cache=cache, roots=roots)
        refused = analysis.check_checkpoint(str(upload), cache=cache, roots=roots)
        assert refused.startswith("**Refused:**") and "not a checkpoint file" in refused


def test_the_same_bytes_under_a_second_name_show_the_second_name(
    cache: ModelCache, roots: UploadRoots, shape_images: list[Path], tmp_path: Path
) -> None:
    first, second = tmp_path / "first.pt", tmp_path / "second.pt"
    shutil.copyfile(SHIPPED["shapes"], first)
    shutil.copyfile(SHIPPED["shapes"], second)
    assert (
        analysis.analyze(str(shape_images[0]), "shapes", str(first), cache=cache, roots=roots).model_name == "first.pt"
    )
    again = analysis.analyze(
        str(shape_images[0]), "shapes", {"path": str(second), "orig_name": "second.pt"}, cache=cache, roots=roots
    )
    assert again.model_name == "second.pt" and again.document["checkpoint"] == "second.pt"
    assert "**second\\.pt**" in analysis.status_line(again)
    assert "second\\.pt" in analysis.check_checkpoint(str(second), cache=cache, roots=roots)
    assert cache.uploaded(first) is cache.uploaded(second)  # one model for both uploads


def test_the_cache_keeps_only_the_last_uploads(tmp_path: Path) -> None:
    cache = ModelCache(max_uploads=2)
    paths = [changed_checkpoint(tmp_path / f"m{index}.pt", perturb=0.01, seed=index) for index in range(3)]
    first, second = cache.uploaded(paths[0]), cache.uploaded(paths[1])
    assert cache.uploaded(paths[0]) is first  # still cached, and now the most recent
    third = cache.uploaded(paths[2])  # drops the least recently used: the second
    assert cache.uploaded(paths[0]) is first and cache.uploaded(paths[2]) is third
    assert cache.uploaded(paths[1]) is not second  # loaded again
    assert len({id(first), id(second), id(third)}) == 3


def test_two_requests_loading_the_same_upload_at_once_both_succeed(
    roots: UploadRoots, shape_images: list[Path], tmp_path: Path
) -> None:
    cache = ModelCache()
    upload = changed_checkpoint(tmp_path / "both.pt", reverse_classes=True)
    barrier = threading.Barrier(2)
    results: list[LensResult] = []
    errors: list[BaseException] = []

    def request() -> None:
        barrier.wait()
        try:
            results.append(analysis.analyze(str(shape_images[1]), "shapes", str(upload), cache=cache, roots=roots))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors and len(results) == 2
    assert results[0].document == results[1].document
    assert results[0].document["classes"][0] == "cross"  # the uploaded (reversed) class list
    assert cache.uploaded(upload) is cache.uploaded(upload)


def test_internal_errors_and_refusals_reach_the_page_as_one_safe_line(
    roots: UploadRoots, shape_images: list[Path], caplog: pytest.LogCaptureFixture
) -> None:
    import gradio as gr

    from webapp.sections.common import user_errors

    # A real failure that is not the user's fault: a cache whose shipped model cannot be built.
    class BrokenCache(ModelCache):
        def shipped(self, name: str | None = None) -> None:  # type: ignore[override]
            raise RuntimeError("disk on fire")

    analyze = user_errors(analysis.analyze)
    with pytest.raises(gr.Error) as caught:
        analyze(str(shape_images[0]), cache=BrokenCache(), roots=roots)
    assert caught.value.message == "internal error (RuntimeError); the details are in the server log"
    assert "disk on fire" in caplog.text  # the details went to the log, not to the client
    with pytest.raises(gr.Error) as caught:
        user_errors(lambda: (_ for _ in ()).throw(InputError("<b>bad</b> & worse.png is not an image")))()
    assert caught.value.message == "&lt;b&gt;bad&lt;/b&gt; &amp; worse.png is not an image"


def highlighted_bars(chart: Image.Image, count: int, highlight: str) -> list[bool]:
    """Per bar (channel order), whether it is drawn in the highlight colour, read along the bars' foot.

    The chart's x axis runs from -0.7 to C - 0.3 between the axes frame's left
    and right lines, with bar c centred on c.
    """
    pixels = np.asarray(chart.convert("RGB")).astype(int)
    dark = pixels.sum(axis=2) < 180
    columns = np.flatnonzero(dark.sum(axis=0) > 0.5 * dark.sum(axis=0).max())
    rows = np.flatnonzero(dark.sum(axis=1) > 0.5 * dark.sum(axis=1).max())
    left, right, bottom = int(columns.min()), int(columns.max()), int(rows.max())
    unit = (right - left) / (count + 0.4)
    red = np.array([int(highlight[i : i + 2], 16) for i in (1, 3, 5)])
    foot = pixels[bottom - 2]
    return [bool(np.all(foot[int(round(left + (channel + 0.7) * unit))] == red)) for channel in range(count)]


def test_panels_show_the_top_channels_and_the_right_numbers(result: LensResult) -> None:
    from attention import render

    for layer in result.analysis.channel_layers:
        for k in (1, 3, 7):
            drawn = panels.channel_panels(result, layer.name, sort=False, top_k=k, branches=False)
            top = render.top_k_channels(layer.weights, k, render.gate_scores(layer))
            bars = highlighted_bars(drawn.bar_chart, layer.channels, render.HIGHLIGHT)
            assert {channel for channel, lit in enumerate(bars) if lit} == set(top.tolist()), (layer.name, k)
            # The feature maps are those channels' input maps, largest weight first, each min-max scaled,
            # in rows of FEATURE_COLUMNS tiles at the sheet's left edge.
            sheet = np.asarray(drawn.feature_maps)
            maps = result.analysis.feature_maps[layer.name]
            found_rows = []
            for index, channel in enumerate(top):
                values = maps[channel].astype(np.float32)
                low, high = values.min(), values.max()
                scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
                factor = render.MIN_HEATMAP_SIDE / max(values.shape)  # 48 cells do not divide 256 pixels evenly
                side = (round(values.shape[1] * factor), round(values.shape[0] * factor))
                cells = Image.fromarray(render.colorize(scaled, "viridis"))
                tile = np.asarray(cells.resize(side, Image.Resampling.NEAREST))
                column = index % panels.FEATURE_COLUMNS
                x = 8 + column * (render.MIN_HEATMAP_SIDE + 8) + (render.MIN_HEATMAP_SIDE - tile.shape[1]) // 2
                width = tile.shape[1]
                starts = [
                    y
                    for y in range(sheet.shape[0] - tile.shape[0])
                    if np.array_equal(sheet[y, x : x + width], tile[0])
                    and np.array_equal(sheet[y : y + tile.shape[0], x : x + width], tile)
                ]
                assert starts, (layer.name, k, int(channel))
                found_rows.append(starts[0])
            assert found_rows == sorted(found_rows), (layer.name, k)
    table = panels.statistics_table(result)
    assert tuple(table["headers"]) == panels.STATISTICS_HEADERS
    for row, layer in zip(table["data"], result.analysis.layers, strict=True):
        if layer.type == "spatial":
            values = layer.mask.astype(np.float64)
            last = float((values > 0.5).mean())
            size = f"{layer.size[0]}x{layer.size[1]}"
        else:
            values = layer.weights.astype(np.float64)
            share = values / values.sum()
            last = float(-(share * np.log(share)).sum() / np.log(len(values)))
            size = str(layer.channels)
        expected_row = [layer.name, layer.type, size, values.mean(), values.std(), values.min(), values.max(), last]
        assert row[:3] == expected_row[:3]
        assert row[3:] == pytest.approx(expected_row[3:], abs=6e-5), layer.name


@pytest.mark.parametrize("sibling", ["_evil", "2", "-old"])
def test_a_sibling_folder_of_an_upload_root_is_refused(
    cache: ModelCache, shape_images: list[Path], tmp_path: Path, sibling: str
) -> None:
    # <root>_evil/x.png starts with the root's text but lies outside it: only a path test sees the difference.
    root = tmp_path / "uploads"
    root.mkdir()
    roots = UploadRoots.of([root])
    inside = root / "sub" / "x.png"
    inside.parent.mkdir()
    shutil.copyfile(shape_images[0], inside)
    outside = tmp_path / f"uploads{sibling}" / "x.png"
    outside.parent.mkdir()
    shutil.copyfile(shape_images[0], outside)
    checkpoint = outside.parent / "mine.pt"
    shutil.copyfile(SHIPPED["shapes"], checkpoint)
    assert roots.contains(inside) and not roots.contains(outside) and not roots.contains(checkpoint)
    assert not roots.contains(root)  # the folder itself is no file a request may name
    assert analysis.analyze({"path": str(inside), "orig_name": "x.png"}, cache=cache, roots=roots).image_name == "x.png"
    for payload in (str(outside), {"path": str(outside), "orig_name": "x.png"}):
        with pytest.raises(InputError, match="^no image was uploaded"):
            analysis.analyze(payload, cache=cache, roots=roots)
    with pytest.raises(InputError, match="^no checkpoint was uploaded"):
        analysis.analyze(str(inside), "shapes", {"path": str(checkpoint)}, cache=cache, roots=roots)


def test_the_document_names_the_model_when_no_checkpoint_is_passed(cache: ModelCache, shape_images: list[Path]) -> None:
    analyzer = cache.analyzer("shapes")
    image = Image.open(shape_images[1]).convert("RGB")
    result = analysis.analyze_loaded(analyzer, image, "pic.png")
    assert result.model_name == analyzer.name == result.document["checkpoint"] == "shapes"
    assert result.document["results"][0]["image"] == "pic.png"
    named = analysis.analyze_loaded(analyzer, image, "pic.png", model_name="mine.pt")
    assert named.model_name == named.document["checkpoint"] == "mine.pt"


def test_non_square_inputs_keep_height_and_width_in_every_view(shape_images: list[Path]) -> None:
    import dataclasses

    from attention import render
    from attention.analysis import Analyzer
    from attention.display import DEFAULT_COLORMAP
    from models.checkpoint import load_checkpoint

    loaded = load_checkpoint("shapes")
    wide = dataclasses.replace(loaded.preprocessing, input_size=(48, 64))  # height 48, width 64
    with Analyzer(loaded.model, loaded.classes, wide, loaded.name) as analyzer:
        result = analysis.analyze_loaded(analyzer, Image.open(shape_images[0]).convert("RGB"), "wide.png")
    spatial = result.analysis.spatial_layers
    assert spatial and all(layer.size[1] > layer.size[0] for layer in spatial)
    for entry in result.document["results"][0]["layers"]:
        if entry["type"] == "spatial":
            assert entry["size"] == [len(entry["mask"]), len(entry["mask"][0])] and entry["size"][1] > entry["size"][0]
    for layer in spatial:
        panels_of_layer = panels.spatial_panels(result, layer.name, scale="absolute")
        height, width = layer.size
        view = panels_of_layer.mask
        assert view is not None and view.width % width == 0
        cell = view.width // width
        # The mask, cell * height rows of square cells, then its colour bar beneath.
        assert cell * width > cell * height and view.height > cell * height
        drawn = np.asarray(view)[cell // 2 : cell * height : cell, cell // 2 :: cell]
        np.testing.assert_array_equal(drawn, np.asarray(render.mask_image(layer.mask, DEFAULT_COLORMAP, False)))


class _Doubled(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2.0 * torch.sigmoid(x.mean(dim=(2, 3), keepdim=True))


class _Gate(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(3.0 * x.mean(dim=(2, 3), keepdim=True))


def test_the_status_line_names_each_rejected_lookalike_whole() -> None:
    from attention.analysis import Analyzer
    from attention.images import Preprocessing

    torch.manual_seed(2)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), _Doubled(), _Gate(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 2),
    ).eval()  # fmt: skip
    preprocessing = Preprocessing((16, 16), 3, (0.5,) * 3, (0.5,) * 3)
    with Analyzer(model, ["yes", "no"], preprocessing, "own_net") as analyzer:
        result = analysis.analyze_loaded(analyzer, Image.new("RGB", (20, 16), (90, 10, 200)), "pic.png")
    status = analysis.status_line(result).replace("\\", "")
    reason = result.document["discovery"]["rejected"][0]["reason"]
    assert reason.startswith("scales each channel by factors from")
    assert status.endswith(f"1 gate found; 1 module looked like a gate but was rejected: 1 ({reason}).")
    # The model has no spatial gate: the spatial panels say so rather than stay blank.
    from webapp import notes

    drawn = panels.spatial_panels(result, None, "viridis", 0.5, None)
    assert drawn.overlay is None and drawn.mask is None
    assert np.asarray(drawn.grid.convert("L")).min() < 100  # text, not a blank white strip
    assert notes.spatial_labels(result, None, None) == (notes.NO_SPATIAL, notes.NO_SPATIAL)
    picture, numbers = debug.gradcam_view(debug.gradcams(result), None, "viridis", None)
    assert numbers == {} and np.asarray(picture.convert("L")).min() < 100  # says why, not an empty panel


def test_the_picker_offers_every_architecture_with_a_known_gate_featured_first(
    cache: ModelCache, roots: UploadRoots
) -> None:
    from models.architectures import FEATURED
    from webapp.state import MAX_ARCHITECTURE_PARAMETERS

    values = [value for _label, value in cache.choices()]
    shipped = cache.names()
    assert values[: len(shipped)] == shipped and values[len(shipped) : len(shipped) + len(FEATURED)] == list(FEATURED)
    # Found by their layout, not by a name pattern: the two the old list refused are offered.
    assert {"timm:regnety_002", "timm:mobilenetv3_large_100", "torchvision:regnet_y_400mf"} <= set(values)
    assert cache.check_architecture("timm:regnety_002") == 3_162_996
    # Past the size bound: accepted as an architecture, so the refusal can say why it is not built.
    assert "timm:senet154" not in values and cache.is_architecture("timm:senet154")
    with pytest.raises(InputError, match=f"up to {MAX_ARCHITECTURE_PARAMETERS / 1e6:.0f} M"):
        cache.check_architecture("timm:senet154")
    with pytest.raises(InputError, match="^timm:resnet18 holds no gate the recorder knows"):
        cache.check_name("timm:resnet18")
    # The page's model line shows the refusal whole: its end says what to do.
    line = analysis.check_checkpoint(None, "timm:resnet18", cache=cache, roots=roots).replace("\\", "")
    assert line.startswith("**Refused:** timm:resnet18 holds no gate") and line.endswith("from the model list")
    with pytest.raises(InputError, match="^unknown timm model 'seresnet1888'"):
        cache.check_name("timm:seresnet1888")
