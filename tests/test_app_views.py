"""The events after an analysis, taken from the built page and run in the order the browser runs them.

Real model, real image, the page's own event functions; no server. A panel
added to a section without its entry in that section's ``outputs`` fails here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import gradio as gr
import pytest
from PIL import Image

from app import build_app
from attention.errors import InputError
from webapp import analysis, debug
from webapp.inputs import UploadRoots
from webapp.sections.common import LATER_EVENTS, PANEL_EVENTS, follow_results
from webapp.sections.debug import DebugReset
from webapp.state import ModelCache

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "assets" / "examples"
STAR = EXAMPLES / "shapes_star_11.png"
# Panels that an analysis leaves alone, and what draws them instead.
DRAWN_ELSEWHERE = {
    "branches": "opening its closed section",
    "compare-masks": "the Compare button",
    "compare-difference": "the Compare button",
    "ablation-chart": "the ablation buttons (a new analysis only hides an earlier analysis's ablation)",
    "head-ablation-chart": "the ablation buttons, for a model with self-attention",
}
# The self-attention section's panels: drawn for a vision transformer, hidden with their section for a CNN.
SELF_ATTENTION_PANELS = {"token-heads", "patch-grid", "patch-attention", "rollout"}


def _block(demo: gr.Blocks, elem_id: str) -> Any:
    return next(block for block in demo.blocks.values() if getattr(block, "elem_id", None) == elem_id)


def _analysis_events(demo: gr.Blocks) -> list[Any]:
    """The Analyze button's event, then each event chained on its success, in order."""
    button = _block(demo, "analyze-button")
    chain = [next(fn for fn in demo.fns.values() if [button._id, "click"] in [list(t) for t in fn.targets])]
    while True:
        following = [fn for fn in demo.fns.values() if fn.trigger_after == chain[-1]._id]
        if not following:
            return chain
        assert len(following) == 1 and following[0].trigger_only_on_success
        chain.append(following[0])


def _value(update: Any) -> Any:
    """What a component holds after an event wrote ``update`` to it."""
    if isinstance(update, dict) and update.get("__type__") == "update":
        return update.get("value")
    if isinstance(update, gr.components.Component):
        return update.value
    return update


@pytest.fixture(scope="module")
def page(cache: ModelCache, tmp_path_factory: pytest.TempPathFactory) -> gr.Blocks:
    return build_app(cache, tmp_path_factory.mktemp("downloads"), UploadRoots.of([EXAMPLES]))


def test_every_panel_is_drawn_by_an_analysis_into_outputs_its_event_declares(page: gr.Blocks) -> None:
    values = {block: getattr(block, "value", None) for block in page.blocks.values()}
    values[_block(page, "input-image")] = str(STAR)
    written: dict[str, Any] = {}
    events = _analysis_events(page)
    assert len(events) == 5  # the analysis, the panels, Explain, the debugging views, the report
    for event in events:
        update = event.fn(*(values[component] for component in event.inputs))
        assert set(update) <= set(event.outputs), f"{event.name} writes components its event does not list"
        for component, shown in update.items():
            values[component] = _value(shown)
            written[getattr(component, "elem_id", None) or ""] = values[component]
    panels = [block.elem_id for block in page.blocks.values() if "lens-panel" in (block.elem_classes or [])]
    assert set(DRAWN_ELSEWHERE) | SELF_ATTENTION_PANELS <= set(panels)
    assert {elem_id for elem_id in panels if elem_id not in written} == set(DRAWN_ELSEWHERE) | SELF_ATTENTION_PANELS
    assert written["token-section"].visible is False  # the self-attention section stays hidden for this CNN
    for elem_id in ("bar-chart", "feature-maps", "overlay-grid", "overlay", "raw-mask", "gradcam"):
        assert isinstance(written[elem_id], Image.Image), elem_id
    assert "ablation-chart" not in written  # no ablation was asked for, and none of an earlier analysis to hide
    assert Path(written["report-file"]).is_file() and written["statistics"]["data"]
    assert written["channel-layer"] == _block(page, "channel-layer").value  # the pickers keep a layer this model has


@dataclass
class _Quiet:
    events: ClassVar[dict[str, Any]] = LATER_EVENTS
    inputs: ClassVar[list[Any]] = []
    outputs: ClassVar[list[Any]] = []

    def follow(self, result: Any) -> dict[Any, Any]:
        return {}


@dataclass
class _Busy(_Quiet):
    events: ClassVar[dict[str, Any]] = PANEL_EVENTS


def test_views_drawn_by_one_event_share_its_settings() -> None:
    with gr.Blocks():
        result, button = gr.State(None), gr.Button()
        follow_results(button.click(lambda: None), result, [_Quiet(), _Quiet()])
        with pytest.raises(ValueError, match="share its settings"):
            follow_results(button.click(lambda: None), result, [_Busy(), _Quiet()])


def test_a_new_analysis_hides_only_an_ablation_of_an_earlier_analysis(cache: ModelCache) -> None:
    roots = UploadRoots.of([EXAMPLES])
    star = analysis.analyze(str(STAR), cache=cache, roots=roots)
    circle = analysis.analyze(str(EXAMPLES / "shapes_circle_2.png"), cache=cache, roots=roots)
    with gr.Blocks():
        reset = DebugReset(gr.State(None), gr.Dataframe(), gr.Image(), gr.Image(), gr.Dropdown(choices=["star"]))
    hidden = {reset.ablation_table, reset.ablation_chart, reset.head_chart}
    # None yet: the class picker starts on the prediction, and nothing is hidden.
    first = reset.follow(star, None)
    assert set(first) == {reset.target} and first[reset.target].value == "star"
    assert first[reset.target].choices == [(label, label) for label in star.analysis.classes]
    # An ablation of this very analysis (clicked while it ran) stays, and so does the class picked for it.
    assert reset.follow(star, debug.ablation_of(star)) == {}
    # One of an earlier analysis is hidden, and the picker moves to the new prediction.
    later = reset.follow(circle, debug.ablation_of(star))
    assert {component for component, update in later.items() if update == gr.update(visible=False)} == hidden
    assert later[reset.target].value == debug.predicted_label(circle) == "circle"


def test_several_launch_models_load_and_one_that_cannot_is_skipped_with_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from app import launch_models, parse_args

    with caplog.at_level(logging.ERROR):
        launched = launch_models(parse_args([]), {"ATTENTION_LENS_MODELS": " fashion, timm:seresnet1888 ,shapes"})
    assert [analyzer.name for analyzer in launched] == ["fashion", "shapes"]
    (skipped,) = [record for record in caplog.records if "skipped" in record.getMessage()]
    assert skipped.getMessage().startswith("launch model timm:seresnet1888 skipped: unknown timm model 'seresnet1888'")
    cache = ModelCache(launches=launched)
    assert cache.default_name == "fashion" and cache.names() == ["fashion", "shapes", "shapes-vit"]
    assert [value for _label, value in cache.choices()][:2] == ["fashion", "shapes"]
    assert cache.analyzer("shapes") is launched[1] and cache.analyzer(None) is launched[0]
    # --model wins over the variable; flags that describe one model go with one --model only.
    assert [a.name for a in launch_models(parse_args(["--model", "shapes"]), {"ATTENTION_LENS_MODELS": "fashion"})] == [
        "shapes"
    ]
    with pytest.raises(InputError, match="^--input-size describes one model; give it with a single --model$"):
        launch_models(parse_args(["--model", "shapes", "--model", "fashion", "--input-size", "32"]), {})
    # One model asked for by the flags must load: the launch is refused rather than started without it.
    with pytest.raises(InputError, match="unknown timm model"):
        launch_models(parse_args(["--model", "timm:seresnet1888"]), {})
    assert launch_models(parse_args([]), {}) == []


def test_photo_examples_show_for_each_launch_model_that_reads_photos() -> None:
    from webapp.notes import example_groups

    paths = ["a/shapes_star_1.png", "a/photo_cat.jpg", "a/photo_dog.jpg", "a/fashion_bag_2.png"]
    paths.append("a/shapes-vit_ring.png")
    groups = example_groups(paths, "timm:ecaresnet50d", ["timm:ecaresnet50d", "timm:seresnet50", "shapes"])
    assert [(group.model, group.paths) for group in groups] == [
        ("timm:ecaresnet50d", ["a/photo_cat.jpg", "a/photo_dog.jpg"]),
        ("timm:seresnet50", ["a/photo_cat.jpg", "a/photo_dog.jpg"]),
        ("shapes", ["a/shapes_star_1.png"]),
        ("shapes-vit", ["a/shapes-vit_ring.png"]),
        ("fashion", ["a/fashion_bag_2.png"]),
    ]
    # The shipped models read drawings, not photos: without a photo model no photo is offered.
    assert [group.model for group in example_groups(paths, "shapes")] == ["shapes", "shapes-vit", "fashion"]


def test_each_model_trained_on_drawings_tells_of_a_clothing_picture_and_the_fashion_model_of_any_other() -> None:
    from webapp.notes import fit_note

    clothing = Image.new("L", (28, 28), 90)
    drawing = Image.new("RGB", (256, 256), (200, 40, 40))
    for model in ("shapes", "shapes-vit"):
        note = fit_note(model, clothing)
        assert "small grey Fashion-MNIST picture" in note and f"model {model} was trained on drawn shapes" in note
        assert fit_note(model, drawing) == ""
    assert "256×256 picture, not a small grey Fashion-MNIST one" in fit_note("fashion", drawing)
    assert fit_note("fashion", clothing) == ""
    assert fit_note("my_model.pt", clothing) == fit_note("my_model.pt", drawing) == ""
