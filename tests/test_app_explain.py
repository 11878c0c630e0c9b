"""The Explain view and the weak-mask / photo notes, at handler level: real checkpoints, real images, no server."""

from __future__ import annotations

import re
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from attention import render
from attention.analysis import Analyzer, ChannelLayer, SpatialLayer
from attention.channel import SqueezeExcite
from attention.images import Preprocessing, load_image
from tests.checkpoints import changed_checkpoint
from webapp import analysis, explain, notes
from webapp.inputs import UploadRoots, example_images
from webapp.sections.explain import explain_section
from webapp.state import LensResult, ModelCache

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "assets" / "examples"
STAR = EXAMPLES / "shapes_star_11.png"


@pytest.fixture(scope="module")
def roots() -> UploadRoots:
    return UploadRoots.of([EXAMPLES])


@pytest.fixture(scope="module")
def result(cache: ModelCache, roots: UploadRoots) -> LensResult:
    return analysis.analyze(str(STAR), cache=cache, roots=roots)


def _plain(markdown: str) -> str:
    """What a reader sees of a caption: the Markdown escapes and bold marks removed."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("**", "")


def _layers(result: LensResult) -> tuple[str, str]:
    return result.channel_layer_names[0], result.spatial_layer_names[0]


def test_every_layer_is_explained_at_analysis_time(result: LensResult, cache: ModelCache) -> None:
    assert list(result.explanations) == cache.shipped().layer_names
    for name, explained in result.explanations.items():
        layer = result.analysis.layer(name)
        assert explained.kind == ("channel" if isinstance(layer, ChannelLayer) else "spatial")
        assert not explained.missing  # the shipped modules expose every step
    assert explain.layer_choices(result) == [(f"{n} ({e.what})", n) for n, e in result.explanations.items()]
    assert result.timings["explain"] < result.timings["forward"] * 10  # cheap arithmetic, not another model


def test_every_step_of_a_channel_and_a_spatial_layer_is_drawn(result: LensResult) -> None:
    for name, count in zip(_layers(result), (6, 4)):
        view = explain.explain_view(result, name)
        assert view.layer == name and len(view.steps) == count == len(result.explanations[name].steps)
        for step, shown in zip(result.explanations[name].steps, view.steps):
            assert isinstance(shown.image, Image.Image)
            assert np.asarray(shown.image).std() > 10  # a drawing, not a blank canvas
            assert _plain(shown.caption) == f"{step.title}\n\n{step.caption}"
        assert name in _plain(view.heading) and f"{count} steps" in view.heading


def test_caption_numbers_are_the_recorded_ones(result: LensResult, cache: ModelCache) -> None:
    """The numbers a student reads are recomputed here from the record and the module, not taken from the view."""
    modules = dict(cache.shipped().model.named_modules())
    channel_name, spatial_name = _layers(result)
    channel = result.analysis.layer(channel_name)
    assert isinstance(channel, ChannelLayer)
    captions = [_plain(step.caption) for step in explain.explain_view(result, channel_name).steps]
    features = result.analysis.feature_maps[channel_name]
    count, height, width = features.shape
    assert f"receives {count} feature maps of {height}x{width} pixels" in captions[0]
    k = modules[channel_name].conv.kernel_size[0]
    assert (
        f"3. The learned 1-D kernel (k = {k})" in captions[2] and f"padded by (k-1)/2 = {(k - 1) // 2}" in captions[2]
    )
    scaled = int(re.search(r"Channel (\d+) has weight", captions[5]).group(1))
    assert f"has weight {channel.weights[scaled]:.3f}" in captions[5]

    spatial = result.analysis.layer(spatial_name)
    assert isinstance(spatial, SpatialLayer)
    captions = [_plain(step.caption) for step in explain.explain_view(result, spatial_name).steps]
    size = modules[spatial_name].conv.kernel_size[0]
    assert f"A {size}x{size} kernel with two slices" in captions[1]
    assert f"runs from {spatial.mask.min():.2f} to {spatial.mask.max():.2f}" in captions[2]


def test_the_section_fills_its_slots_and_follows_the_result(result: LensResult, tmp_path: Path) -> None:
    with gr.Blocks():
        section = explain_section(gr.State(None), ["no-such-layer"], tmp_path)
    channel_name, spatial_name = _layers(result)
    update = section.follow(result, False, spatial_name)
    assert set(update) == {section.layer}  # closed: the picker follows, nothing is drawn
    assert update[section.layer].choices == [(label, name) for label, name in explain.layer_choices(result)]
    assert update[section.layer].value == spatial_name
    assert section.follow(result, True, "gone")[section.layer].value == result.analysis.layers[0].name

    drawn = section.follow(result, True, spatial_name)
    rows = [drawn[row].visible for row in section.rows]
    assert rows == [True] * 4 + [False] * 2  # spatial attention has four steps
    for image, caption, step in zip(section.images, section.captions, result.explanations[spatial_name].steps):
        assert isinstance(drawn[image]["value"], Image.Image) and drawn[image]["visible"]
        assert _plain(drawn[caption]).startswith(step.title)
    drawn = section.view(result, channel_name)
    assert [drawn[row].visible for row in section.rows] == [True] * 6
    assert all(isinstance(drawn[image]["value"], Image.Image) for image in section.images)
    empty = section.view(None, None)
    assert empty[section.heading] == explain.NO_RESULT
    assert not any(empty[row].visible for row in section.rows)


def test_picking_layers_never_runs_the_model(cache: ModelCache, roots: UploadRoots, tmp_path: Path) -> None:
    calls: list[int] = []
    handle = cache.shipped().model.register_forward_pre_hook(lambda *_: calls.append(1))
    try:
        result = analysis.analyze(str(EXAMPLES / "shapes_cross_0.png"), cache=cache, roots=roots)
        assert len(calls) == 1
        for name in result.explanations:
            explain.explain_view(result, name)
        slide = explain.slide_png(result, result.spatial_layer_names[-1], tmp_path)
        slides = explain.slides_pdf(result, result.spatial_layer_names[-1], tmp_path)
        assert len(calls) == 1
    finally:
        handle.remove()
    assert slide is not None and slide.parent.parent == tmp_path and slide.name.endswith("_explain.png")
    with Image.open(slide) as image:
        assert image.height > 4 * 240  # every step, each with its caption
    # The slides for a class: one 16:9 page per step of the spatial layer.
    assert slides is not None and slides.parent.parent == tmp_path and slides.name.endswith("_slides.pdf")
    pdf = slides.read_bytes()
    assert pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages") == 4
    assert pdf.count(b"/MediaBox [ 0 0 1382.4 777.6 ]") == 4  # 19.2 x 10.8 in at 72 points per inch


def test_a_squeeze_excite_network_is_explained_in_its_own_steps() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), SqueezeExcite(16), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 2)
    ).eval()
    preprocessing = Preprocessing((32, 32), 3, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    with Analyzer(model, ["a", "b"], preprocessing, "se-net") as analyzer:
        result = analysis.analyze_loaded(analyzer, load_image(STAR), "star.png")
    (name,) = result.explanations
    view = explain.explain_view(result, name)
    # Squeeze, bottleneck, gate, scale: SE's own computation, every step drawn, none forced into ECA's.
    assert [shown.image is None for shown in view.steps] == [False] * 5
    assert "3. The bottleneck: 16 numbers down to 4, then back up to 16" in _plain(view.steps[2].caption)
    assert "Not shown" not in " ".join(_plain(shown.caption) for shown in view.steps)
    assert "does not expose" not in view.heading


def test_no_result_yet() -> None:
    assert explain.explain_view(None, None) == explain.ExplainView(None, explain.NO_RESULT, [])
    assert explain.slide_png(None, None, "unused") is None
    assert explain.layer_choices(None) == []


# ---------------------------------------------------------------- issue 14: the page tells the truth


def test_weak_masks_are_named_with_their_numbers() -> None:
    weak = np.full((4, 4), 0.99, dtype=np.float32)
    weak[0, 0] = 0.97
    note = render.mask_range_note(weak)
    assert note == "mask 0.97–0.99: this layer scales every pixel almost equally"
    strong = weak.copy()
    strong[1, 1] = 0.2
    assert render.mask_range_note(strong) is None


@pytest.fixture(scope="module")
def weak_result(tmp_path_factory: pytest.TempPathFactory, cache: ModelCache) -> LensResult:
    """The star analysed by the shipped model with its first spatial layer saturated (a mask of about 1)."""
    folder = tmp_path_factory.mktemp("weak")
    path = changed_checkpoint(folder / "weak_first_mask.pt", saturate=("stages.0.0.attention.spatial",))
    roots = UploadRoots.of([STAR.parent, folder])
    return analysis.analyze(str(STAR), checkpoint_file=str(path), cache=cache, roots=roots)


def test_the_shipped_model_shows_strong_masks_without_a_note(result: LensResult) -> None:
    first = result.spatial_layer_names[0]
    mask = result.analysis.layer(first).mask
    assert float(mask.max() - mask.min()) >= 0.5
    assert notes.spatial_labels(result, first, "absolute") == (notes.OVERLAY_LABEL, notes.MASK_LABEL)


def test_the_spatial_panels_say_when_a_mask_is_weak(weak_result: LensResult) -> None:
    result = weak_result
    assert render.mask_range_note(result.analysis.layer(result.spatial_layer_names[0]).mask) is not None
    weak_layers = 0
    for name in result.spatial_layer_names:
        mask = result.analysis.layer(name).mask
        weak = float(mask.max() - mask.min()) < render.WEAK_MASK_RANGE
        weak_layers += weak
        numbers = f"{mask.min():.2f}–{mask.max():.2f}"
        overlay, raw = notes.spatial_labels(result, name, "absolute")
        assert (f"mask {numbers}: this layer scales every pixel almost equally" in overlay) == weak, overlay
        assert (numbers in raw and "the min–max colour scale shows where it differs" in raw) == weak, raw
        assert weak or (overlay, raw) == (notes.OVERLAY_LABEL, notes.MASK_LABEL)
        # Stretched, every view states the range it was stretched from.
        overlay, raw = notes.spatial_labels(result, name, "minmax")
        assert (f"mask {numbers}: this layer scales every pixel almost equally" in overlay) == weak, overlay
        assert numbers in overlay and "stretched" in overlay and numbers in raw and "stretched" in raw, raw
    assert 0 < weak_layers < len(result.spatial_layer_names)  # this example has both kinds


def test_the_overlay_grid_names_weak_masks(weak_result: LensResult) -> None:
    analysed = weak_result.analysis
    weak = [layer for layer in analysed.spatial_layers if render.mask_range_note(layer.mask)]
    grid = render.overlay_grid(analysed)
    plain = render.overlay_grid(analysed, weak_notes=False)
    # The note takes a second line above each tile, where one was needed.
    assert (grid.height > plain.height) == bool(weak)


def test_photos_are_told_apart_from_the_shipped_drawings() -> None:
    for path in example_images(EXAMPLES):
        with Image.open(path) as image:
            assert notes.looks_like_photo(image) == Path(path).name.startswith("photo_"), path


def test_generated_scenes_are_not_photos(shape_images: list[Path]) -> None:
    for path in shape_images:
        with Image.open(path) as image:
            assert not notes.looks_like_photo(image), path


def test_the_gallery_offers_photos_only_to_models_that_read_them() -> None:
    shipped = example_images(EXAMPLES)
    assert any(notes.is_photo_example(path) for path in shipped)
    for model in ("shapes", "shapes-vit", "fashion"):
        offered = notes.gallery_examples(shipped, model)
        assert offered == [path for path in shipped if not Path(path).name.startswith("photo_")]
    assert notes.gallery_examples(shipped, "my_imagenet_model.pt") == shipped


def test_a_photo_analysed_with_shapes_gets_a_note(cache: ModelCache, roots: UploadRoots) -> None:
    photo = analysis.analyze(str(EXAMPLES / "photo_cat_chelsea.jpg"), cache=cache, roots=roots)
    status = analysis.status_line(photo)
    assert "looks like a photo" in status and "trained on drawn shapes" in status and "\n" not in status
    drawing = analysis.analyze(str(STAR), cache=cache, roots=roots)
    assert "photo" not in analysis.status_line(drawing)
