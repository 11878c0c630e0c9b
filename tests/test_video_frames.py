"""How ``attention video`` draws a frame: the label, the map, and a time bar that grows one segment a frame."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import ImageColor

from attention import render_frames
from attention.video import BAR_FILL, BAR_HEIGHT, LINE, TimeBar, annotate
from tests.clips import shape_frame
from webapp.state import ModelCache

YELLOW = ImageColor.getrgb(LINE)


def _line_rows(strip: np.ndarray, x: int) -> list[int]:
    return [y for y in range(strip.shape[0]) if tuple(strip[y, x]) == YELLOW]


def test_each_point_of_the_time_bar_sits_at_its_time_and_probability() -> None:
    bar = TimeBar(duration=4.0)
    values = [0.1, 0.9, 0.5, 0.5, 1.0]
    for index, value in enumerate(values):
        strip = np.asarray(bar.add(index, value, width=401))
    for index, value in enumerate(values[:-1]):
        x = round(index / 4.0 * 400)
        y = 4 + (1 - value) * (BAR_HEIGHT - 8)
        rows = _line_rows(strip, x)
        assert rows and min(abs(row - y) for row in rows) <= 1.5, (index, rows, y)
    # The cursor marks the newest frame, at the right end: four seconds of four.
    assert tuple(strip[BAR_HEIGHT // 2, 400]) == (255, 255, 255)
    assert tuple(strip[BAR_HEIGHT // 2, 50]) in (tuple(BAR_FILL), YELLOW)


def test_the_bar_drawn_a_segment_at_a_time_matches_the_bar_redrawn_whole() -> None:
    values = np.random.default_rng(0).random(60)
    growing = TimeBar(duration=6.0)
    for index, value in enumerate(values):
        last = np.asarray(growing.add(index / 10, value, width=320))
    redrawn = TimeBar(duration=6.0)
    redrawn.history = [(index / 10, value) for index, value in enumerate(values[:-1])]
    whole = np.asarray(redrawn.add(59 / 10, values[-1], width=320))  # its first strip: every point at once
    assert (last != whole).any(axis=2).mean() < 0.01  # the same line, up to the joints between segments


def test_a_video_of_unknown_length_spans_the_time_so_far() -> None:
    bar = TimeBar(duration=0)
    for index in range(5):
        strip = np.asarray(bar.add(index, 0.5, width=101))
        if index:  # the newest frame is always at the end (row 8 is clear of the line at 0.5)
            assert tuple(strip[8, 100]) == (255, 255, 255) and tuple(strip[8, 50]) == tuple(BAR_FILL)
    assert _line_rows(strip, 50)  # the line reaches back across the strip


@pytest.fixture(scope="module")
def analysis():  # noqa: ANN201
    return ModelCache().analyzer("shapes").analyze([shape_frame("star", 0.5)])[0]


def test_an_annotated_frame_is_the_overlay_with_its_label_and_the_bar_under_it(analysis) -> None:  # noqa: ANN001
    layer = analysis.spatial_layers[-1].name
    picture = np.asarray(annotate(analysis, layer, TimeBar(2.0), 1.0, "jet", 0.5))
    overlay = np.asarray(render_frames.frame_overlay(analysis, layer, "jet", 0.5))[:240]
    best, probability = analysis.top(1)[0]
    assert analysis.classes[best] == "star"
    label = np.asarray(render_frames.label_strip(f"star {probability:.0%}"))
    assert picture.shape == (240 + BAR_HEIGHT, 320, 3)
    assert np.array_equal(picture[: label.shape[0], : label.shape[1]], label)
    assert np.array_equal(picture[label.shape[0] : 240], overlay[label.shape[0] :])
    assert tuple(picture[260, 5]) == tuple(BAR_FILL)
