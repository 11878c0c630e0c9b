"""Comparing two analyses: differences, the rank correlation and the one-line summary, recomputed here."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from attention import render_debug
from attention.analysis import Analyzer, ChannelLayer
from attention.compare import compare, ranks, spearman, summary
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


def test_layers_that_do_not_correspond_are_refused(two) -> None:  # noqa: ANN001
    first, second = two
    with pytest.raises(InputError, match="different attention layers"):
        compare(first, dataclasses.replace(second, layers=second.layers[1:]))


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
