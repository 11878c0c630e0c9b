"""Comparing two analyses: differences, the rank correlation and the one-line summary, recomputed here."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from attention import render_debug
from attention.analysis import Analyzer, ChannelLayer
from attention.compare import compare, match, ranks, spearman, summary
from attention.errors import InputError
from attention.images import load_image
from models.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def two():  # noqa: ANN201
    loaded = load_checkpoint("shapes")
    with Analyzer(loaded.model, loaded.classes, loaded.preprocessing, loaded.name) as analyzer:
        return analyzer.analyze(
            [load_image("assets/examples/shapes_star_11.png"), load_image("assets/examples/shapes_ring_3.png")]
        )


def test_ranks_and_spearman_against_the_textbook_formula() -> None:
    np.testing.assert_array_equal(ranks(np.array([10.0, 30.0, 20.0, 20.0])), [1.0, 4.0, 2.5, 2.5])
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    d = ranks(a) - ranks(b)
    assert spearman(a, b) == pytest.approx(1 - 6 * (d * d).sum() / (50 * (50**2 - 1)))  # no ties: exact formula
    assert spearman(a, a**3) == pytest.approx(1.0) and spearman(a, -a) == pytest.approx(-1.0)
    assert spearman(a, np.ones(50)) is None


def test_differences_are_a_minus_b_for_every_layer(two) -> None:  # noqa: ANN001
    first, second = two
    differences = compare(first, second)
    assert [d.name for d in differences] == [layer.name for layer in first.layers]
    for difference, a, b in zip(differences, first.layers, second.layers):
        expected = a.weights - b.weights if isinstance(a, ChannelLayer) else a.mask - b.mask
        np.testing.assert_allclose(difference.difference, expected, atol=1e-7)
        assert difference.score == pytest.approx(np.abs(expected).mean())
    assert max(d.score for d in differences) > 0.01  # two different shapes do differ somewhere
    line = summary(differences, "star", "ring")
    top = max(differences, key=lambda d: d.score)
    assert line.startswith(f"attention differs most in {top.name} (mean |star-ring| {top.score:.3f})")
    assert "\n" not in line
    assert all(np.abs(d.difference).max() == 0 for d in compare(first, first))


def test_layers_are_paired_by_kind_and_position_and_the_unpaired_are_listed(two) -> None:  # noqa: ANN001
    first, second = two
    renamed = [dataclasses.replace(layer, name=f"other.{index}") for index, layer in enumerate(second.layers)]
    channel = next(index for index, layer in enumerate(renamed) if isinstance(layer, ChannelLayer))
    renamed[channel] = dataclasses.replace(renamed[channel], weights=renamed[channel].weights[:-1])
    last_spatial = max(index for index, layer in enumerate(renamed) if not isinstance(layer, ChannelLayer))
    del renamed[last_spatial]
    matching = match(first, dataclasses.replace(second, layers=renamed))
    compared = [layer.name for index, layer in enumerate(first.layers) if index not in (channel, last_spatial)]
    assert [d.name for d in matching.differences] == compared
    for difference in matching.differences:
        index = [layer.name for layer in first.layers].index(difference.name)
        assert difference.partner == f"other.{index}" and difference.pair == f"{difference.name} ↔ other.{index}"
        a, b = first.layers[index], second.layers[index]
        expected = a.weights - b.weights if isinstance(a, ChannelLayer) else a.mask - b.mask
        np.testing.assert_allclose(difference.difference, expected, atol=1e-7)
    assert matching.renamed and len(matching.unmatched) == 2
    assert first.layers[channel].name in matching.unmatched[0] and "not compared" in matching.unmatched[0]
    assert matching.unmatched[1] == f"A's {first.layers[last_spatial].name}: B has no spatial layer at this position"
    with pytest.raises(InputError, match="no attention layers to compare"):
        compare(first, dataclasses.replace(second, layers=[]))


def test_masks_of_different_sizes_are_compared_on_the_grid_of_a(two) -> None:  # noqa: ANN001
    first, second = two
    index, layer = next((i, layer) for i, layer in enumerate(second.layers) if not isinstance(layer, ChannelLayer))
    coarse = np.array([[0.0, 1.0], [0.0, 1.0]], dtype=np.float32)
    layers = list(second.layers)
    layers[index] = dataclasses.replace(layer, mask=coarse)
    (difference,) = [d for d in compare(first, dataclasses.replace(second, layers=layers)) if d.name == layer.name]
    assert difference.difference.shape == first.layers[index].mask.shape
    assert difference.note == f"B's 2x2 mask resampled to {layer.size[0]}x{layer.size[1]}"


def test_charts_draw(two) -> None:  # noqa: ANN001
    first, second = two
    for difference in compare(first, second)[:2]:
        figure = render_debug.difference_chart(difference, "star", "ring")
        assert figure.axes and figure.axes[0].get_title().startswith(difference.name)
    entries = [
        {"layer": "a", "mode": "identity", "delta": -0.3},
        {"layer": "b", "mode": "identity", "delta": 0.1},
        {"layer": "c", "mode": "identity", "delta": -0.05},
    ]
    axes = render_debug.ablation_chart(entries, "star").axes[0]
    assert [label.get_text() for label in axes.get_yticklabels()] == ["a", "c", "b"]  # largest drop first
    widths = [patch.get_width() for patch in axes.patches]
    assert widths == pytest.approx([-0.3, -0.05, 0.1])


def test_resample_puts_a_mask_on_a_grid_of_another_height_and_width() -> None:
    from attention.compare import resample

    ramp = np.tile(np.linspace(0.0, 1.0, 8, dtype=np.float32), (4, 1))  # (4, 8): rises left to right
    resized = resample(ramp, (2, 6))
    assert resized.shape == (2, 6)
    assert (np.diff(resized, axis=1) > 0).all() and np.allclose(resized[0], resized[1])
    assert resample(np.full((3, 5), 0.4, dtype=np.float32), (7, 2)) == pytest.approx(np.full((7, 2), 0.4))


def test_the_charts_draw_each_value_at_its_place_against_a_line_at_zero() -> None:
    from attention.compare import LayerDifference

    entries = [{"layer": "a", "mode": "mean", "delta": -0.3}, {"layer": "b", "mode": "mean", "delta": 0.2}]
    axes = render_debug.ablation_chart(entries, "star").axes[0]
    zero_lines = [line.get_xdata() for line in axes.get_lines()]
    assert len(zero_lines) == 1 and list(zero_lines[0]) == [0, 0]  # the line that tells a drop from a rise
    low, high = axes.get_xlim()
    assert low <= -0.3 and high >= 0.3 and low == -high  # symmetric: drops and rises read on one scale
    # Changes under one percentage point are drawn on a ±1-point axis (with a 10% margin): tiny changes look tiny.
    tiny = [{"layer": "a", "mode": "mean", "delta": 0.0005}, {"layer": "b", "mode": "mean", "delta": -0.0002}]
    assert render_debug.ablation_chart(tiny, "star").axes[0].get_xlim() == pytest.approx((-0.011, 0.011))
    values = np.array([0.5, -0.25, 0.0, 0.75])
    chart = render_debug.difference_chart(LayerDifference("x.channel", "channel", values))
    bars = chart.axes[0]
    assert [patch.get_height() for patch in bars.patches] == pytest.approx(values)
    assert [patch.get_x() + patch.get_width() / 2 for patch in bars.patches] == pytest.approx([0, 1, 2, 3])
    assert bars.get_ylim() == (-1, 1)  # the whole possible range of w_A - w_B, whatever the values
    assert [list(line.get_ydata()) for line in bars.get_lines()] == [[0, 0]]
