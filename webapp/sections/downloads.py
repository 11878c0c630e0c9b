"""The analysis JSON and the PNG report to download."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import gradio as gr

from attention.errors import InputError
from webapp import downloads
from webapp.state import LensResult

from .channel import ChannelSection
from .common import LATER_EVENTS, RENDER_EVENTS, user_errors
from .spatial import SpatialSection


@dataclass
class DownloadSection:
    document_file: gr.File
    report_file: gr.File
    document: gr.JSON
    settings: list[Any]  # the page's display controls, which the report is drawn with
    folder: Path
    events: ClassVar[dict[str, Any]] = LATER_EVENTS

    @property
    def inputs(self) -> list[Any]:
        return self.settings

    @property
    def outputs(self) -> list[Any]:
        return [self.report_file]

    def follow(self, result: LensResult, colormap: str, opacity: float, scale: str, top_k: float) -> dict[Any, Any]:
        """The new result's PNG report; the analysis JSON comes with the analysis itself."""
        return {self.report_file: str(downloads.report_png(result, self.folder, colormap, opacity, scale, top_k))}


def download_section(
    result: gr.State, channel: ChannelSection, spatial: SpatialSection, folder: Path
) -> DownloadSection:
    gr.Markdown("## Downloads")
    with gr.Row():
        document_file = gr.File(label="Analysis JSON", interactive=False, elem_id="document-file")
        report_file = gr.File(label="PNG report", interactive=False, elem_id="report-file")
        report_button = gr.Button("Redraw the report with the current display settings", size="sm")
    with gr.Accordion("Analysis JSON (same schema as `python -m attention analyze --json`)", open=False):
        document = gr.JSON(label="Analysis document", elem_id="document")

    settings = [spatial.colormap, spatial.opacity, spatial.scale, channel.top_k]
    section = DownloadSection(document_file, report_file, document, settings, folder)

    @user_errors
    def report(result_: LensResult | None, colormap: str, opacity: float, scale: str, top_k: float) -> dict:
        if result_ is None:
            raise InputError("analyze an image first")
        return section.follow(result_, colormap, opacity, scale, top_k)

    report_button.click(report, [result, *section.inputs], section.outputs, **RENDER_EVENTS)
    return section
