"""Self-attention pictures: one 0-anchored scale in real probabilities, patches placed on the crop the model saw."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from attention import render, render_tokens
from attention.analysis import ImageAnalysis, TokenLayer
from attention.errors import InputError
from attention.tokens import TokenLayout

GRID = (4, 4)
TOKENS = 1 + 16
CROP = (0.125, 0.0, 0.875, 1.0)  # a 4:3 photo centre-cropped to a square, as timm's crop_pct 1.0 does


def analysis_with(first: np.ndarray, mean: np.ndarray | None = None, view=CROP) -> ImageAnalysis:  # noqa: ANN001
    """One image of 4:3 and one token layer whose first rows are ``first`` (heads, 17)."""
    heads = first.shape[0]
    layer = TokenLayer(
        name="blocks.0.attn",
        type="timm_attention",
        layout=TokenLayout(("cls",), GRID),
        first=first,
        received=first,
        mean=np.full((TOKENS, TOKENS), 1.0 / TOKENS) if mean is None else mean,
    )
    image = Image.new("RGB", (400, 300), (128, 128, 128))
    probabilities = np.full(3, 1 / 3)
    return ImageAnalysis("photo.png", image, ["a", "b", "c"], probabilities, [layer] * (1 if heads else 0), view=view)


def rows(heads: int, peak: tuple[int, int], value: float = 0.6) -> np.ndarray:
    """Each head's first row: ``value`` on one patch, the rest spread evenly."""
    first = np.full((heads, TOKENS), (1 - value) / (TOKENS - 1))
    first[:, 1 + peak[0] * GRID[1] + peak[1]] = value
    return first


def test_the_colour_scale_starts_at_zero_and_ends_at_the_largest_value_shown() -> None:
    low, high, ticks, caption = render_tokens.attention_ticks([np.array([0.01, 0.3]), np.array([0.2])], False, 0.05)
    assert (low, high) == (0.0, 0.3)
    assert ticks[0] == (0.0, "0") and ticks[-1] == (1.0, "0.3")
    assert ("uniform" in {label for _, label in ticks}) and "0.05" in caption
    low, high, _ticks, caption = render_tokens.attention_ticks([np.array([0.01, 0.3])], True, None)
    assert (low, high) == (0.01, 0.3) and "stretched from 0.01 to 0.3" in caption
    # A uniform value at the top is said in the caption, not crowded onto the bar's last number.
    _low, _high, ticks, caption = render_tokens.attention_ticks([np.array([0.0, 0.3])], False, 0.29)
    assert "uniform" not in {label for _, label in ticks} and "0.29" in caption


def test_a_click_picks_the_patch_under_it_on_the_crop_the_model_saw() -> None:
    analysis = analysis_with(rows(2, (0, 0)))
    assert render_tokens.patch_at(analysis, "blocks.0.attn", 0.125, 0.0) == (0, 0)
    assert render_tokens.patch_at(analysis, "blocks.0.attn", 0.874, 0.999) == (3, 3)
    assert render_tokens.patch_at(analysis, "blocks.0.attn", 0.5, 0.3) == (1, 2)  # x 0.5 is 1/2 of the crop
    with pytest.raises(InputError, match="outside the part of the image the model saw"):
        render_tokens.patch_at(analysis, "blocks.0.attn", 0.05, 0.5)
    with pytest.raises(InputError, match="not a self-attention layer"):
        render_tokens.patch_at(analysis, "blocks.1.attn", 0.5, 0.5)


def _red_box(picture: Image.Image) -> tuple[float, float]:
    """Centre (x, y) of the red outline, as fractions of the picture."""
    pixels = np.asarray(picture.convert("RGB"), dtype=np.int16)
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)
    ys, xs = np.nonzero(red)
    assert len(xs) > 10
    return float(xs.mean()) / picture.width, float(ys.mean()) / picture.height


def test_the_clicked_patch_is_outlined_where_it_lies_in_the_crop() -> None:
    analysis = analysis_with(rows(2, (0, 0)))
    x, y = _red_box(render_tokens.grid_picture(analysis, "blocks.0.attn", (3, 0)))
    # Column 0 of the crop starts at 0.125 of the width, one patch is 0.1875 wide; row 3 is the bottom quarter.
    assert x == pytest.approx(0.125 + 0.1875 / 2, abs=0.02)
    assert y == pytest.approx(0.875, abs=0.02)
    mean = np.full((TOKENS, TOKENS), 0.01)
    drawn = render_tokens.patch_image(analysis_with(rows(2, (0, 0)), mean), "blocks.0.attn", (1, 2))
    assert render.MIN_HEATMAP_SIDE <= drawn.width


def test_every_head_is_drawn_on_one_scale_so_the_strongest_is_the_hottest() -> None:
    first = rows(3, (2, 1), value=0.1)
    first[2] = rows(1, (2, 1), value=0.9)[0]  # head 2 looks hard at one patch
    picture = render_tokens.heads_image(analysis_with(first, view=(0.0, 0.0, 1.0, 1.0)), "blocks.0.attn", opacity=1.0)
    tiles = 4  # the head mean, then heads 0, 1 and 2
    assert picture.width == tiles * 192 + (tiles - 1) * 6
    top = render.colorize(np.array([1.0]), "viridis")[0]
    pixels = np.asarray(picture, dtype=np.int16)
    hot = np.abs(pixels - top).max(axis=2) <= 8
    # Only head 2's tile holds the top colour (the colour bar's end aside, below the tiles): tiles drawn each
    # on its own scale would all reach it.
    tiles_area = hot[: 192 + 40]
    assert tiles_area.any()
    assert np.nonzero(tiles_area.any(axis=0))[0].min() >= 3 * (192 + 6)


def test_rollout_says_how_the_residual_is_counted() -> None:
    mean = np.full((TOKENS, TOKENS), 1.0 / TOKENS)
    picture = render_tokens.rollout_image(analysis_with(rows(2, (0, 0)), mean))
    assert picture.height > render.MIN_HEATMAP_SIDE  # the overlay, its colour bar and the note under it
    empty = analysis_with(np.zeros((0, TOKENS)))
    with pytest.raises(InputError, match="no self-attention layers"):
        render_tokens.rollout_image(empty)


@pytest.mark.parametrize(("heads", "columns"), [(4, 5), (6, 4), (12, 4)])
def test_the_mean_and_four_heads_share_a_row_and_more_heads_wrap_four_to_a_row(heads: int, columns: int) -> None:
    picture = render_tokens.heads_image(analysis_with(rows(heads, (1, 1))), "blocks.0.attn")
    assert picture.width == columns * 192 + (columns - 1) * 6
