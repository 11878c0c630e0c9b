"""Status line, top-5 predictions and the per-layer statistics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import gradio as gr

from attention.analysis import TOP_K_PREDICTIONS
from webapp import panels
from webapp.state import LensResult

from .common import PANEL_EVENTS


@dataclass
class ResultsSection:
    """The status line and predictions come with the analysis itself (``/analyze`` returns them); the table follows."""

    status: gr.Markdown
    top5: gr.Label
    statistics: gr.Dataframe
    events: ClassVar[dict[str, Any]] = PANEL_EVENTS

    @property
    def inputs(self) -> list[Any]:
        return []

    @property
    def outputs(self) -> list[Any]:
        return [self.statistics]

    def follow(self, result: LensResult) -> dict[Any, Any]:
        return {self.statistics: panels.statistics_table(result)}


def results_section() -> ResultsSection:
    """The status line, here; the predictions and the table are placed by the page (``render()``)."""
    status = gr.Markdown("Upload an image (or draw one) and press **Analyze**.", label="Status", elem_id="status")
    # Only a phone shows it (app.py's CSS): there a wide picture keeps its size and scrolls inside its panel.
    gr.Markdown(
        "A wide picture scrolls sideways inside its panel; its full-screen button shows it whole.",
        elem_id="phone-hint",
        elem_classes="phone-hint",
    )
    top5 = gr.Label(
        num_top_classes=TOP_K_PREDICTIONS,
        label=f"Top-{TOP_K_PREDICTIONS} predictions",
        elem_id="predictions",
        render=False,
    )
    statistics = gr.Dataframe(
        headers=list(panels.STATISTICS_HEADERS),
        label="Channel layers: entropy of the weights; spatial layers: kept fraction",
        interactive=False,
        elem_id="statistics",
        render=False,
    )
    return ResultsSection(status, top5, statistics)
