"""One static HTML page over many analysed images: a sortable row per image, with thumbnails as files beside it.

The page is for a folder of thousands of images, so nothing is inlined: each
row's two thumbnails (the image as the model saw it, and the chosen layer's
map over it) are small JPEG files in a folder next to the page, loaded lazily
by the browser. Rows are kept as plain numbers while the images stream by;
the page is written once at the end, misclassified images first when the
folder was labelled, the most confident mistakes at the top.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from .analysis import BranchLayer, ChannelLayer, ImageAnalysis, SpatialLayer, branch_statistics, token_statistics
from .display import DEFAULT_COLORMAP, DEFAULT_OPACITY
from .render import overlay
from .render_frames import attention_map, drawn_layer, scale_bar

THUMB_SIDE = 160
COLUMN_PX = {"#": 56, "image": 184, "prediction": 110, "confidence": 96, "label": 110, "correct": 76, "file": 220}
LAYER_COLUMN_PX = 96
THUMB_QUALITY = 85


@dataclass
class ReportRow:
    name: str
    label: str | None
    prediction: str
    confidence: float
    values: dict[str, float]  # per layer: the gate's mean (channel, spatial, element) or an entropy (token, branch)
    thumb: str
    drawn: str | None  # the overlay's file, when the layer has a map to draw


def layer_value(layer: Any) -> float:
    """The one number a row shows per layer: how much a gate keeps on average, or how evenly a layer attends."""
    if isinstance(layer, ChannelLayer):
        return float(layer.weights.astype("float64").mean())
    if isinstance(layer, SpatialLayer):  # a mask, or a gate over channels and pixels by its mean over channels
        return float(layer.mask.astype("float64").mean())
    if isinstance(layer, BranchLayer):
        return branch_statistics(layer.weights)["entropy"]
    return token_statistics(layer)["entropy"]


class BatchReport:
    """Collects one row per analysed image and writes ``page`` with its thumbnails in ``page``'s ``_files`` folder."""

    def __init__(
        self,
        page: Path,
        layer: str | None = None,
        colormap: str = DEFAULT_COLORMAP,
        opacity: float = DEFAULT_OPACITY,
    ) -> None:
        self.page = Path(page)
        self.files = self.page.with_name(self.page.stem + "_files")
        self.files.mkdir(parents=True, exist_ok=True)
        self.layer = layer
        self.colormap = colormap
        self.opacity = opacity
        self.rows: list[ReportRow] = []
        self.columns: list[tuple[str, str]] = []  # (layer, "mean" or "entropy"), from the first image
        self.skipped: list[str] = []
        self.drawn_layers: set[str] = set()

    def _save(self, picture: Image.Image, stem: str) -> str:
        picture = picture.convert("RGB")
        picture.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
        path = self.files / f"{stem}.jpg"
        picture.save(path, quality=THUMB_QUALITY)
        return f"{self.files.name}/{path.name}"

    def add(self, analysis: ImageAnalysis, name: str, label: str | None = None) -> None:
        """One image's row; its thumbnails are written now, so no picture is held until the page is."""
        if not self.columns:
            self.columns = [
                (layer.name, "mean" if isinstance(layer, (ChannelLayer, SpatialLayer)) else "entropy")
                for layer in analysis.layers
            ]
        stem = f"{len(self.rows):06d}"
        layer = drawn_layer(analysis, self.layer)
        values = None if layer is None else attention_map(analysis, layer)
        drawn = None
        if values is not None:
            drawn = self._save(
                overlay(analysis.image, values, self.colormap, self.opacity, view=analysis.view), stem + "m"
            )
            self.drawn_layers.add(str(layer))
        best, probability = analysis.top(1)[0]
        self.rows.append(
            ReportRow(
                name=name,
                label=label,
                prediction=analysis.classes[best],
                confidence=probability,
                values={layer.name: layer_value(layer) for layer in analysis.layers},
                thumb=self._save(analysis.image, stem),
                drawn=drawn,
            )
        )

    def ordered(self) -> list[ReportRow]:
        """Misclassified first (the most confident mistakes at the top), then the rest in the order they came."""
        wrong = [row for row in self.rows if row.label is not None and row.label != row.prediction]
        wrong.sort(key=lambda row: -row.confidence)
        first = {id(row) for row in wrong}
        return wrong + [row for row in self.rows if id(row) not in first]

    def write(self, model: str) -> Path:
        """Write the page; returns its path."""
        labelled = any(row.label is not None for row in self.rows)
        bar = None
        if self.drawn_layers:
            bar = self.files.name + "/scale.png"
            scale_bar(self.colormap, 320).save(self.files / "scale.png")
        self.page.write_text(_page(self, model, labelled, bar), encoding="utf-8")
        return self.page


def _cell(value: Any, shown: str | None = None, sort: Any = None) -> str:
    key = value if sort is None else sort
    text = shown if shown is not None else str(value)
    return f'<td data-v="{html.escape(str(key), quote=True)}">{html.escape(text)}</td>'


def _header(text: str) -> str:
    """A column name that may wrap after its dots, so forty layer columns stay narrow."""
    return html.escape(text).replace(".", ".<wbr>")


def _page(report: BatchReport, model: str, labelled: bool, bar: str | None) -> str:
    rows = report.ordered()
    folder = os.path.commonpath([str(Path(row.name).parent) for row in rows]) if rows else ""
    wrong = sum(1 for row in rows if row.label is not None and row.label != row.prediction)
    counted = sum(1 for row in rows if row.label is not None)
    # What a reader looks for first comes first, so a phone shows it without scrolling sideways.
    head = ["#", "image", "prediction", "confidence"] + (["label", "correct"] if labelled else []) + ["file"]
    head += [f"{name} ({kind})" for name, kind in report.columns]
    lines = []
    for index, row in enumerate(rows, start=1):
        pictures = f'<img src="{html.escape(row.thumb)}" alt="" loading="lazy">'
        if row.drawn is not None:
            pictures += f'<img src="{html.escape(row.drawn)}" alt="" loading="lazy">'
        shown = os.path.relpath(row.name, folder) if folder else row.name
        cells = [_cell(index), f'<td data-v="{html.escape(shown)}">{pictures}</td>']
        cells += [_cell(row.prediction), _cell(f"{row.confidence:.1%}", sort=row.confidence)]
        if labelled:
            correct = None if row.label is None else row.label == row.prediction
            mark = "" if correct is None else ("yes" if correct else "no")
            cells += [_cell(row.label or ""), _cell(mark, sort=int(bool(correct)))]
        cells.append(_cell(shown))
        cells += [
            _cell(f"{row.values[name]:.3f}", sort=row.values[name]) if name in row.values else "<td></td>"
            for name, _ in report.columns
        ]
        wrong_row = row.label is not None and row.label != row.prediction
        lines.append(f"<tr{' class=wrong' if wrong_row else ''}>" + "".join(cells) + "</tr>")
    summary = f"{len(rows)} image{'s' if len(rows) != 1 else ''}" + (f" in {folder}" if folder else "")
    if counted:
        right = counted - wrong
        summary += f"; {right} of {counted} labelled images predicted right ({right / counted:.1%})"
    drawn = ", ".join(sorted(report.drawn_layers))
    legend = "<p>No layer with a map to draw: the thumbnails are the images alone.</p>"
    if bar:
        legend = (
            f"<p>Second thumbnail: {html.escape(drawn)} over the image, on the mask's 0-1 scale:<br>"
            f'<img src="{html.escape(bar)}" alt="colour scale from 0 to 1"></p>'
        )
    notes = ""
    if report.skipped:
        items = "".join(f"<li>{html.escape(line)}</li>" for line in report.skipped)
        count = len(report.skipped)
        notes = f"<details><summary>{count} file{'s' if count != 1 else ''} skipped</summary><ul>{items}</ul></details>"
    # Fixed column widths: the browser lays out 10,000 rows without measuring every cell.
    widths = [COLUMN_PX.get(text, LAYER_COLUMN_PX) for text in head]
    columns = "".join(
        f'<th data-n="{n}" title="sort by this column" style="width: {width}px">{_header(text)}</th>'
        for n, (text, width) in enumerate(zip(head, widths))
    )
    return PAGE.format(
        title=html.escape(f"Attention Lens: {model}"),
        summary=html.escape(summary),
        legend=legend,
        notes=notes,
        columns=columns,
        width=sum(widths),
        rows="\n".join(lines),
        explain=html.escape(COLUMNS_NOTE),
    )


COLUMNS_NOTE = (
    "Each layer column is the gate's mean (channel or spatial: 1 keeps everything, 0 removes it) "
    "or, for self-attention, the entropy of the class token's attention over log N (1: it attends to all alike). "
    "Click a column's name to sort by it; click again to reverse."
)

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 1rem; color: #222; }}
table {{ border-collapse: collapse; table-layout: fixed; }}
td {{ overflow: hidden; text-overflow: ellipsis; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left; white-space: nowrap; }}
th {{ position: sticky; top: 0; z-index: 1; background: #f4f4f4; cursor: pointer; user-select: none;
      white-space: normal; vertical-align: bottom; }}
th.asc::after {{ content: " \\25B2"; }} th.desc::after {{ content: " \\25BC"; }}
td img {{ width: 80px; height: auto; margin-right: 4px; vertical-align: middle; image-rendering: auto; }}
tr.wrong td {{ background: #fff1f0; }}
.scroll {{ overflow: auto; max-height: 85vh; }}
p img {{ vertical-align: middle; max-width: 100%; }}
</style></head>
<body>
<h1>{title}</h1>
<p>{summary}.</p>
{legend}
<p>{explain}</p>
{notes}
<div class="scroll"><table id="report" style="width: {width}px"><thead><tr>{columns}</tr></thead>
<tbody>
{rows}
</tbody></table></div>
<script>
document.querySelectorAll("#report th").forEach(function (th) {{
  th.addEventListener("click", function () {{
    var n = +th.dataset.n, body = document.querySelector("#report tbody");
    var up = !th.classList.contains("asc");
    document.querySelectorAll("#report th").forEach(function (other) {{ other.classList.remove("asc", "desc"); }});
    th.classList.add(up ? "asc" : "desc");
    // Keys are read once, and the rows move back in one fragment: 10,000 rows sort in a blink.
    var rows = Array.from(body.rows, function (row) {{
      var key = row.cells[n].dataset.v;
      return {{ row: row, key: key, number: parseFloat(key) }};
    }});
    var numeric = rows.every(function (item) {{ return !isNaN(item.number); }});
    rows.sort(numeric ? function (a, b) {{ return a.number - b.number; }}
                      : function (a, b) {{ return a.key.localeCompare(b.key); }});
    if (!up) rows.reverse();
    var moved = document.createDocumentFragment();
    rows.forEach(function (item) {{ moved.appendChild(item.row); }});
    body.appendChild(moved);
  }});
}});
</script>
</body></html>
"""
