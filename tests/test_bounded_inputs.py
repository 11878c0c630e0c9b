"""What the app and the command line take from outside stays bounded: overflowing models, samples, uploads, queues."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from models.checkpoint import SHIPPED
from tests.commands import run_attention

ROOT = Path(__file__).resolve().parent.parent
IMAGE = ROOT / "assets" / "examples" / "shapes_star_11.png"
NOT_FINITE = "the model's output is not finite on this image (weights overflow)"


def write_overflowing_checkpoint(path: Path) -> Path:
    """The shipped shapes model with its stem scaled by 1e36: finite weights, finite on a blank image, inf on a star."""
    payload = torch.load(SHIPPED["shapes"], map_location="cpu", weights_only=True)
    payload["state_dict"]["stem.0.weight"] = payload["state_dict"]["stem.0.weight"] * 1e36
    torch.save(payload, path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("output", [["--json"], ["--out", "OUT"]])
def test_weights_that_overflow_on_an_image_exit_2_with_one_line(tmp_path: Path, output: list[str]) -> None:
    checkpoint = write_overflowing_checkpoint(tmp_path / "overflow.pt")
    output = [str(tmp_path / "out") if item == "OUT" else item for item in output]
    result = run_attention("analyze", IMAGE, "--model", checkpoint, *output)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == f"error: {NOT_FINITE}", result.stderr


def test_profile_limit_takes_each_class_in_turn(tmp_path: Path) -> None:
    from cli.profile import _folder_items

    classes = ["circle", "ring", "square", "triangle", "star", "cross"]
    for name in classes:
        (tmp_path / name).mkdir()
        for index in range(40 if name == "circle" else 1):
            Image.new("RGB", (16, 16), "white").save(tmp_path / name / f"{index:03d}.png")
    taken = _folder_items(tmp_path, classes, limit=8)
    labels = [label for _path, label in taken]
    assert sorted(set(labels)) == list(range(6)), labels
    assert labels.count(0) == 3 and len(labels) == 8, labels


def test_an_upload_is_refused_while_the_upload_folder_is_full_of_fresh_files(tmp_path: Path) -> None:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from webapp.downloads import UPLOAD_FULL, TempSpace, UploadGuard

    space = TempSpace(tmp_path, tmp_path / "uploads", tmp_path / "downloads", cache_max_bytes=1000)
    space.uploads.mkdir()
    space.downloads.mkdir()

    async def upload(_request: object) -> PlainTextResponse:
        return PlainTextResponse("stored")

    app = Starlette(routes=[Route("/gradio_api/upload", upload, methods=["POST"])])
    client = TestClient(UploadGuard(app, space))
    assert client.post("/gradio_api/upload").text == "stored"
    old = space.uploads / "old.bin"
    old.write_bytes(b"x" * 2000)
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))
    assert client.post("/gradio_api/upload").text == "stored"  # the old file is pruned as the upload arrives
    assert not old.exists()
    (space.uploads / "fresh.bin").write_bytes(b"x" * 2000)  # too young to prune: a request may be reading it
    refused = client.post("/gradio_api/upload")
    assert refused.status_code == 503 and refused.text == UPLOAD_FULL
    assert client.get("/gradio_api/upload").status_code == 405  # only uploads are guarded


def test_checking_an_uploaded_model_shares_the_analyses_concurrency_limit() -> None:
    import app

    demo = app.build_app()
    check = [d for d in demo.fns.values() if d.name == "check_checkpoint"]
    analyze = [d for d in demo.fns.values() if d.name == "analyze"]
    assert check and analyze
    assert {d.concurrency_id for d in check} == {d.concurrency_id for d in analyze}


@pytest.mark.slow
def test_class_names_with_dollar_signs_are_drawn_literally(tmp_path: Path) -> None:
    from attention import render, render_debug
    from attention.analysis import Analyzer
    from models.checkpoint import load_checkpoint

    payload = torch.load(SHIPPED["shapes"], map_location="cpu", weights_only=True)
    payload["classes"] = [rf"$\undefinedmacro$ {name}" for name in payload["classes"]]
    torch.save(payload, tmp_path / "dollars.pt")
    result = run_attention("analyze", IMAGE, "--model", tmp_path / "dollars.pt", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert sorted(path.suffix for path in (tmp_path / "out").rglob("*.png"))
    loaded = load_checkpoint(tmp_path / "dollars.pt")
    with Analyzer(loaded.model, loaded.classes, loaded.preprocessing) as analyzer:
        analysis = analyzer.analyze([Image.open(IMAGE).convert("RGB")], ablate="identity")[0]
    assert render.figure_to_image(render.summary_figure(analysis)).width > 0
    chart = render_debug.ablation_chart(analysis.ablations, loaded.classes[4])
    assert render.figure_to_image(chart).width > 0


@pytest.mark.parametrize("kind", ["eca_sa", "eca", "sa", "cbam", "se", "none"])
def test_every_attention_kind_costs_what_its_layer_holds(kind: str) -> None:
    from attention.factory import attention_cost, create_attention

    options = {"reduction": 8, "spatial": {"kernel_size": 5, "norm": True}}
    layer = create_attention(kind, 96, **options)
    cost = attention_cost(kind, 96, 32 * 32, **options)
    assert cost.parameters == sum(parameter.numel() for parameter in layer.parameters())
    assert (cost.activations > 0) == (kind in ("eca_sa", "sa", "cbam"))
    assert (cost.multiply_adds > 0) == (kind != "none")


def test_an_unknown_attention_kind_has_no_cost_to_count() -> None:
    from attention.factory import attention_cost

    with pytest.raises(ValueError, match="unknown attention kind 'gcnet'"):
        attention_cost("gcnet", 64, 100)


def test_an_overflowing_pass_is_refused_by_the_analyzer(tmp_path: Path) -> None:
    from attention.analysis import Analyzer
    from attention.errors import InputError
    from models.checkpoint import load_checkpoint

    loaded = load_checkpoint(write_overflowing_checkpoint(tmp_path / "overflow.pt"))
    with Analyzer(loaded.model, loaded.classes, loaded.preprocessing) as analyzer:
        with pytest.raises(InputError) as caught:
            analyzer.analyze([Image.open(IMAGE).convert("RGB")])
    assert str(caught.value) == NOT_FINITE


def test_the_profile_heatmap_names_every_class_over_a_colour_bar_of_0_to_1() -> None:
    """Its rows are the classes and its colours the mean channel weight, so both must be readable off the figure."""
    import numpy as np

    from attention.profile import LayerProfile, _heatmap
    from attention.render import figure_to_image

    classes = [f"class {index}" for index in range(7)]
    layer = LayerProfile(
        "stages.0.0.attention.channel", "eca", "channel", class_mean=np.linspace(0, 1, 7 * 24).reshape(7, 24)
    )
    figure = _heatmap(layer, classes)
    heatmap, bar = figure.axes
    assert [label.get_text() for label in heatmap.get_yticklabels()] == classes
    assert bar.get_ylim() == (0.0, 1.0)
    image = figure_to_image(figure)
    left = heatmap.get_position().x0 * image.width
    widest = max(label.get_window_extent().width for label in heatmap.get_yticklabels())
    assert widest < left  # the class names fit left of the heatmap, none cut at the figure's edge
    assert heatmap.get_title() == "stages.0.0.attention.channel: mean channel weight per class"
    below = heatmap.xaxis.label.get_window_extent()
    assert below.y0 >= 0 and below.x1 <= image.width  # the channel axis's name is inside the picture
