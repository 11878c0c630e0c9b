"""Debugging the attention: each layer switched off, Grad-CAM beside the masks, and two analyses compared.

The ablation runs with the analysis itself (the ``ablate`` input of
``/analyze``), on the exact decoded image; ``app.py`` wires the button that
asks for it. Grad-CAM is computed once per analysis for every spatial layer
(``/gradcam`` redraws it for another layer); ``/compare`` analyses two
images, or one image under two models, and returns the differences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import gradio as gr

from attention.ablation import MODES
from attention.errors import InputError
from models.checkpoint import DEFAULT_CHECKPOINT
from webapp import analysis, debug
from webapp.inputs import CHECKPOINT_SUFFIXES, UploadRoots, one_line
from webapp.state import LensResult, ModelCache

from .channel import ChannelSection
from .common import MODEL_EVENTS, PANEL_EVENTS, RENDER_EVENTS, output_panel, user_errors
from .inputs import InputSection, ModelSection
from .spatial import SpatialSection

SAME_MODEL = "same as A"
# Grad-CAM runs the model (forward and backward): it waits with the analyses, not with the redraws.
GRADCAM_EVENTS = dict(MODEL_EVENTS, api_visibility="private")


@dataclass
class DebugSection:
    ablate: gr.Radio
    api_target: gr.Textbox  # /analyze's ``target``: the class its ablation's Δp is about
    ablate_button: gr.Button
    ablation_table: gr.Dataframe
    ablation_chart: gr.Image
    ablation: gr.State  # the shown ablation (debug.Ablation), which names the analysis it was run with
    target: gr.Dropdown  # the class Grad-CAM and the ablation's Δp are about
    cams: gr.State
    gradcam: gr.Image
    gradcam_data: gr.JSON
    spatial: SpatialSection  # Grad-CAM is drawn for its picked layer, in its colours
    head_chart: gr.Image  # each head of the self-attention layer picked in its section, switched off alone
    # The events after which the ablation or Grad-CAM shown has changed: the report follows them.
    changed: list[Any] = field(default_factory=list)
    events: ClassVar[dict[str, Any]] = dict(GRADCAM_EVENTS, show_progress="hidden")

    @property
    def inputs(self) -> list[Any]:
        # The target last: /gradcam's positional parameters stay (layer, colormap, scale), then the class.
        return [self.cams, self.spatial.layer, self.spatial.colormap, self.spatial.scale, self.target]

    @property
    def outputs(self) -> list[Any]:
        return [self.cams, self.gradcam, self.gradcam_data]

    @property
    def reset(self) -> DebugReset:
        return DebugReset(self.ablation, self.ablation_table, self.ablation_chart, self.head_chart, self.target)

    def follow(
        self,
        result: LensResult | None,
        cams: debug.GradCams | None,
        layer: str | None,
        colormap: str,
        scale: str,
        target: str | None = None,
    ) -> dict[Any, Any]:
        """Grad-CAM of the target class beside the picked layer's mask; computed once per analysis and class."""
        if result is None:
            raise InputError("analyze an image first")
        cams = debug.gradcams_for(result, cams, target)
        image, data = debug.gradcam_view(cams, layer, colormap, scale)
        return {self.cams: cams, self.gradcam: image, self.gradcam_data: data}


@dataclass
class DebugReset:
    """What a new analysis changes in the debugging views at once, with its first panels: the class and the ablation.

    Drawn with the first panels, not after Grad-CAM, so that an ablation
    clicked while the slower views still draw is never hidden by this result.
    """

    ablation: gr.State
    ablation_table: gr.Dataframe
    ablation_chart: gr.Image
    head_chart: gr.Image
    target: gr.Dropdown
    events: ClassVar[dict[str, Any]] = PANEL_EVENTS

    @property
    def inputs(self) -> list[Any]:
        return [self.ablation]

    @property
    def outputs(self) -> list[Any]:
        return [self.ablation_table, self.ablation_chart, self.head_chart, self.target]

    def follow(self, result: LensResult, ablation: debug.Ablation | None) -> dict[Any, Any]:
        """The class picker on the new prediction, and an ablation of an earlier analysis hidden.

        An ablation of this very result (one clicked while the analysis ran)
        stays, and so does the class picked for it.
        """
        if ablation is not None and ablation.key == debug.result_key(result):
            return {}
        shown: dict[Any, Any] = {
            self.target: gr.Dropdown(choices=list(result.analysis.classes), value=debug.predicted_label(result))
        }
        if ablation is not None:
            shown[self.ablation_table] = gr.update(visible=False)
            shown[self.ablation_chart] = gr.update(visible=False)
            shown[self.head_chart] = gr.update(visible=False)
        return shown


def debug_section(
    result: gr.State,
    channel: ChannelSection,
    spatial: SpatialSection,
    inputs: InputSection,
    model: ModelSection,
    cache: ModelCache,
    roots: UploadRoots,
    token_layer: gr.Dropdown,
) -> DebugSection:
    # Closed until asked for; the ablation's table and chart show once an ablation has run.
    with gr.Accordion(
        "Debug: switch each layer off, and Grad-CAM beside the attention", open=False, elem_id="debug-section"
    ):
        # The API's /analyze keeps its ``ablate`` input; on the page an analysis never ablates, the buttons do.
        ablate = gr.Radio(choices=["none", *MODES], value="none", label="Ablate", elem_id="ablate-mode", visible=False)
        api_target = gr.Textbox(value="", label="Target class of the ablation", visible=False)
        target = gr.Dropdown(
            choices=list(cache.analyzer(None).classes),
            value=None,
            label="Class to debug: Grad-CAM and the ablation's Δp follow it (it starts on the prediction)",
            elem_id="target-class",
            # Another model has other classes: the label is checked against the analysed model's, in one line.
            allow_custom_value=True,
        )
        with gr.Row(elem_id="ablate-control", equal_height=True):
            gr.Markdown(
                "**Switch each layer off**, one extra pass per layer, and see the prediction change. "
                "*identity*: the layer passes its input on (self-attention adds nothing); *mean*: its gate "
                "becomes the gate's mean (self-attention gives every token its mean output).",
                elem_id="ablate-help",
            )
            ablate_button = gr.Button("identity", elem_id="ablate-button", size="sm", scale=0, min_width=110)
            ablate_mean_button = gr.Button("mean", elem_id="ablate-mean-button", size="sm", scale=0, min_width=110)
        with gr.Row(equal_height=False):
            ablation_table = gr.Dataframe(
                headers=list(debug.ABLATION_HEADERS),
                label="With the layer ablated: the new top label, its probability p, and Δ p, the change in the "
                "probability of the class to debug (largest drop first)",
                interactive=False,
                column_widths=["38%", "10%", "18%", "14%", "20%"],
                elem_id="ablation-table",
                scale=3,
                visible=False,
            )
            ablation_chart = output_panel(
                "Change in the probability of the class to debug", "ablation-chart", "png", scale=2, visible=False
            )
        head_chart = output_panel(
            "Each head of the self-attention layer picked above, switched off alone",
            "head-ablation-chart",
            "png",
            visible=False,
        )

        gr.Markdown(
            "### Grad-CAM beside the spatial attention (the spatial layer picked above)", elem_classes="lens-heading"
        )
        cams = gr.State(None)
        gradcam = output_panel("Spatial attention and Grad-CAM", "gradcam", "png")
        with gr.Accordion("The two maps as numbers", open=False):
            gradcam_data = gr.JSON(label="Grad-CAM and mask of the selected layer", elem_id="gradcam-data")

    ablation_state = gr.State(None)
    section = DebugSection(
        ablate,
        api_target,
        ablate_button,
        ablation_table,
        ablation_chart,
        ablation_state,
        target,
        cams,
        gradcam,
        gradcam_data,
        spatial,
        head_chart,
    )

    def ablation(mode: str) -> Any:
        @user_errors
        def run(
            image: Any, model_name: str, checkpoint_file: Any, target_: str | None, layer: str | None
        ) -> dict[Any, Any]:
            # Its key is the analysis of this same image and model: the report and a later analysis match on it.
            ablated = debug.ablation_of(
                analysis.analyze(image, model_name, checkpoint_file, mode, target_, cache=cache, roots=roots)
            )
            heads = debug.head_ablation_chart(ablated, layer)
            return {
                ablation_state: ablated,
                ablation_table: gr.update(value=debug.ablation_table(ablated), visible=True),
                ablation_chart: gr.update(value=debug.ablation_chart(ablated), visible=True),
                head_chart: gr.update(value=heads, visible=heads is not None),
            }

        return run

    # Only the ablation's own table and chart show its progress and change: the analysis above stays as it is.
    for button, mode in ((ablate_button, MODES[0]), (ablate_mean_button, MODES[1])):
        section.changed.append(
            button.click(
                ablation(mode),
                [inputs.image, model.model, model.checkpoint, target, token_layer],
                [ablation_state, ablation_table, ablation_chart, head_chart],
                preprocess=False,
                show_progress="full",
                api_visibility="private",
                **MODEL_EVENTS,
            )
        )

    @user_errors
    def redraw_heads(ablated: debug.Ablation | None, layer: str | None) -> dict[Any, Any]:
        heads = debug.head_ablation_chart(ablated, layer)
        return {head_chart: gr.update(value=heads, visible=heads is not None)}

    token_layer.input(
        redraw_heads, [ablation_state, token_layer], [head_chart], show_progress="hidden", **RENDER_EVENTS
    )

    @user_errors
    def redraw_gradcam(
        result_: LensResult | None,
        cams_: debug.GradCams | None,
        layer: str | None,
        colormap: str,
        scale: str,
        target_: str | None = None,
    ) -> dict[Any, Any]:
        return section.follow(result_, cams_, layer, colormap, scale, target_)

    gradcam_inputs = [result, *section.inputs]
    spatial.layer.input(
        redraw_gradcam,
        gradcam_inputs,
        section.outputs,
        api_name="gradcam",
        show_progress="hidden",
        **MODEL_EVENTS,
    )
    for control in (spatial.colormap, spatial.scale):
        control.input(redraw_gradcam, gradcam_inputs, section.outputs, show_progress="hidden", **GRADCAM_EVENTS)
    section.changed.append(target.input(redraw_gradcam, gradcam_inputs, section.outputs, **GRADCAM_EVENTS))

    compare_section(channel, spatial, inputs, model, cache, roots)
    return section


def compare_section(
    channel: ChannelSection,
    spatial: SpatialSection,
    inputs: InputSection,
    model: ModelSection,
    cache: ModelCache,
    roots: UploadRoots,
) -> None:
    """A: the image and model above; B: a second image, a second model with the same layers, or both."""
    with gr.Accordion("Compare two analyses", open=False, elem_id="compare-section"):
        gr.Markdown(
            "A is the image and model above. B is a second image, or the same image under a second model; "
            "models with different layer names are matched by kind and position."
        )
        with gr.Row():
            second_image = gr.Image(
                label="Second image (B); leave empty to compare the same image under two models",
                sources=["upload", "clipboard"],
                type="filepath",
                image_mode=None,
                height=220,
                elem_id="compare-image",
            )
            with gr.Column():
                second_model = gr.Dropdown(
                    choices=[SAME_MODEL, *cache.names()], value=SAME_MODEL, label="Model for B", elem_id="compare-model"
                )
                second_checkpoint = gr.File(
                    label="…or a checkpoint for B (" + ", ".join(CHECKPOINT_SUFFIXES) + ")",
                    file_types=list(CHECKPOINT_SUFFIXES),
                    type="filepath",
                    elem_id="compare-checkpoint",
                )
                compare_button = gr.Button("Compare", variant="secondary", elem_id="compare-button")
        compare_summary = gr.Textbox(
            label="Summary", lines=3, interactive=False, elem_id="compare-summary", visible=False
        )
        compare_layer = gr.Dropdown(
            choices=[],
            label="Pair to show (it opens on the most different)",
            elem_id="compare-layer",
            visible=False,
        )
        with gr.Row(visible=False) as compare_panels:
            masks = output_panel("Selected spatial layer: A and B", "compare-masks", "png")
            difference = output_panel("Selected channel layer: w_A - w_B", "compare-difference", "png")
        with gr.Accordion("Every layer's difference as numbers", open=False, visible=False) as compare_numbers:
            compare_data = gr.JSON(label="A minus B, per layer", elem_id="compare-data")
    compared = gr.State(None)

    @user_errors
    def compare(
        image_a: Any,
        model_a: str = DEFAULT_CHECKPOINT,
        checkpoint_a: Any = None,
        image_b: Any = None,
        model_b: str = SAME_MODEL,
        checkpoint_b: Any = None,
    ) -> dict[Any, Any]:
        same_model = model_b in (None, "", SAME_MODEL) and checkpoint_b is None
        if image_b is None and same_model:
            raise InputError("give a second image, or a second model, to compare with")
        first = analysis.analyze(image_a, model_a, checkpoint_a, cache=cache, roots=roots)
        if model_b in (None, "", SAME_MODEL):
            # B's picker left at "same as A": A's model, with B's uploaded checkpoint if one was given.
            model_b = model_a
            checkpoint_b = checkpoint_a if checkpoint_b is None else checkpoint_b
        image_b = image_a if image_b is None else image_b
        second = analysis.analyze(image_b, model_b, checkpoint_b, cache=cache, roots=roots)
        both = debug.comparison(first, second)
        return {
            compared: both,
            compare_summary: f"A: {one_line(first.image_name)} with {one_line(first.model_name)}; "
            f"B: {one_line(second.image_name)} with {one_line(second.model_name)}; {both.summary}",
            compare_data: debug.comparison_document(both),
        }

    @user_errors
    def redraw(both: debug.Comparison | None, layer: str | None, colormap: str, scale: str) -> dict[Any, Any]:
        pair, chart = debug.comparison_panels(both, layer, colormap, scale)
        return {masks: gr.update(value=pair, visible=pair is not None), difference: chart}

    def shown(both: debug.Comparison | None) -> dict[Any, Any]:
        """The comparison's views shown with its pair picker on the most different pair; all hidden without one."""
        visible = both is not None
        picker = (
            gr.Dropdown(choices=both.layer_choices(), value=both.most_different, visible=True)
            if both is not None
            else gr.Dropdown(choices=[], value=None, visible=False)
        )
        return {
            compare_layer: picker,
            compare_summary: gr.update(visible=visible),
            compare_panels: gr.Row(visible=visible),
            compare_numbers: gr.Accordion(visible=visible),
        }

    def cleared() -> dict[Any, Any]:
        """A failed comparison leaves nothing of the previous one on screen."""
        return {compared: None, compare_summary: "", compare_data: None, masks: None, difference: None, **shown(None)}

    redraw_inputs = [compared, compare_layer, spatial.colormap, spatial.scale]
    view_outputs = [compare_layer, compare_summary, compare_panels, compare_numbers]
    clicked = compare_button.click(
        compare,
        [inputs.image, model.model, model.checkpoint, second_image, second_model, second_checkpoint],
        [compared, compare_summary, compare_data],
        api_name="compare",
        preprocess=False,
        **MODEL_EVENTS,
    )
    clicked.failure(
        cleared,
        None,
        [compared, compare_summary, compare_data, masks, difference, *view_outputs],
        queue=False,
        api_visibility="private",
    )
    clicked.success(shown, [compared], view_outputs, queue=False, api_visibility="private").then(
        redraw, redraw_inputs, [masks, difference], show_progress="hidden", **RENDER_EVENTS
    )
    for control in (compare_layer, spatial.colormap, spatial.scale):
        control.input(redraw, redraw_inputs, [masks, difference], show_progress="hidden", **RENDER_EVENTS)
