"""The analysis JSON and the PNG report to download."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from attention.errors import InputError
from webapp import downloads
from webapp.state import LensResult

from .channel import ChannelSection
from .common import RENDER_EVENTS, user_errors
from .spatial import SpatialSection


@dataclass
class DownloadSection:
    document_file: gr.File
    report_file: gr.File
    document: gr.JSON
    report_inputs: list[Any]
    report: Callable[..., dict[Any, Any]]


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

    @user_errors
    def report(result_: LensResult | None, colormap: str, opacity: float, scale: str, top_k: float) -> dict:
        if result_ is None:
            raise InputError("analyze an image first")
        return {report_file: str(downloads.report_png(result_, folder, colormap, opacity, scale, top_k))}

    report_inputs = [result, spatial.colormap, spatial.opacity, spatial.scale, channel.top_k]
    report_button.click(report, report_inputs, [report_file], **RENDER_EVENTS)
    return DownloadSection(document_file, report_file, document, report_inputs, report)
