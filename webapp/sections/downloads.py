"""The analysis JSON and the PNG report to download; the report adds the ablation and Grad-CAM once computed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import gradio as gr

from webapp import downloads
from webapp.state import LensResult

from .channel import ChannelSection
from .common import LATER_EVENTS, RENDER_EVENTS, user_errors
from .debug import DebugSection
from .spatial import SpatialSection


@dataclass
class DownloadSection:
    document_file: gr.File
    report_file: gr.File
    document: gr.JSON
    settings: list[Any]  # the debugging views it adds (ablation, Grad-CAM), then the display controls it follows
    folder: Path
    events: ClassVar[dict[str, Any]] = LATER_EVENTS

    @property
    def inputs(self) -> list[Any]:
        return self.settings

    @property
    def outputs(self) -> list[Any]:
        return [self.report_file]

    def follow(
        self, result: LensResult, ablation: Any, cams: Any, colormap: str, opacity: float, scale: str, top_k: float
    ) -> dict[Any, Any]:
        """The new result's PNG report; the analysis JSON comes with the analysis itself."""
        path = downloads.report_png(result, self.folder, colormap, opacity, scale, top_k, ablation, cams)
        return {self.report_file: str(path)}


def download_section(
    result: gr.State, channel: ChannelSection, spatial: SpatialSection, debug: DebugSection, folder: Path
) -> DownloadSection:
    gr.Markdown("## Downloads")
    with gr.Row():
        document_file = gr.File(label="Analysis JSON", interactive=False, elem_id="document-file")
        report_file = gr.File(
            label="PNG report (drawn with the display settings above)", interactive=False, elem_id="report-file"
        )
    with gr.Accordion("Analysis JSON (same schema as python -m attention analyze --json)", open=False):
        document = gr.JSON(label="Analysis document", elem_id="document")

    settings = [debug.ablation, debug.cams, spatial.colormap, spatial.opacity, spatial.scale, channel.top_k]
    section = DownloadSection(document_file, report_file, document, settings, folder)

    @user_errors
    def report(result_: LensResult | None, *values: Any) -> dict:
        return {} if result_ is None else section.follow(result_, *values)

    # The report follows the display settings and the debugging views: each change redraws it, quietly.
    for changed in debug.changed:
        changed.success(report, [result, *section.inputs], section.outputs, show_progress="hidden", **RENDER_EVENTS)
    for control in (spatial.colormap, spatial.scale):
        control.input(report, [result, *section.inputs], section.outputs, show_progress="hidden", **RENDER_EVENTS)
    for control in (spatial.opacity, channel.top_k):
        control.release(report, [result, *section.inputs], section.outputs, show_progress="hidden", **RENDER_EVENTS)
    return section
