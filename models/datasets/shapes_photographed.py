"""Training scenes of a shape drawn on paper and seen through a webcam, as a teacher's live view shows them.

The shape is the generator's own class outline (``_unit_shape``, wobbled by
``wobble``), drawn the ways people draw on paper: a pen line, a line coloured
in with a marker, a ring as one thick marker loop, a star as a pentagram in
one stroke, a cross as two thick strokes; ``shapes_strokes`` keeps a circle's
line thinner than any ring's band. The sheet is drawn at three times the
output size and turned into a camera frame by ``photograph``; the object mask
follows it. The evaluation set ``shapes_camera`` draws with its own code and
shares only ``photograph`` and ``shapes_strokes``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from .photograph import photograph
from .shapes_backgrounds import ensure_contrast, paint_background, pick_palette
from .shapes_distractors import wobble
from .shapes_strokes import thickest_circle_line, thinnest_ring_band

_SCALE = 3  # the sheet's side, in output sizes
_ON_A_SURFACE = 0.35  # drawn on a patterned, noisy or striped surface (a wall, a table, cloth) instead of paper
_SURFACES = ("pattern", "pattern", "noise", "texture")
INKS = ((15, 15, 20), (25, 35, 110), (35, 70, 170), (160, 25, 25), (25, 105, 45), (80, 80, 85), (110, 40, 130))
MARKERS = ((245, 210, 60), (235, 110, 150), (100, 190, 235), (130, 215, 100), (245, 140, 50))


def _surface(rng: np.random.Generator, side: int, size: int) -> Image.Image:
    """A painted background at the output size, enlarged to the sheet: the camera blurs finer detail away anyway."""
    _, c1, c2 = pick_palette(rng)
    kind = _SURFACES[int(rng.integers(len(_SURFACES)))]
    picture = np.clip(paint_background(rng, kind, size, c1, c2) + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(picture).resize((side, side), Image.Resampling.BICUBIC)


def _visible(rng: np.random.Generator, colour: tuple[int, ...], sheet: Image.Image) -> tuple[int, ...]:
    """The colour, or one that stands out from the whole sheet where the sheet is a busy surface."""
    picture = np.asarray(sheet, dtype=np.float32)
    chosen = ensure_contrast(rng, np.array(colour, np.float32), picture, (0, 0, picture.shape[1], picture.shape[0]))
    return tuple(int(c) for c in chosen)


def _sheet(rng: np.random.Generator, side: int) -> Image.Image:
    """Paper: a warm or cool white with grain, sometimes ruled or squared."""
    tint = rng.uniform([228, 224, 210], [255, 252, 246])
    grain = rng.normal(0.0, rng.uniform(1.5, 5.0), (side, side, 1))
    sheet = Image.fromarray(np.clip(tint + grain, 0, 255).astype(np.uint8))
    ruling = rng.random()
    if ruling < 0.4:
        draw = ImageDraw.Draw(sheet)
        gap = side / rng.uniform(8, 15)
        colour = tuple(int(c) for c in rng.uniform([130, 160, 190], [190, 210, 235]))
        start = rng.uniform(0, gap)
        for index in range(int(side / gap) + 1):
            at = start + index * gap
            draw.line([(0, at), (side, at)], fill=colour, width=1)
            if ruling < 0.15:
                draw.line([(at, 0), (at, side)], fill=colour, width=1)
    return sheet


def photographed_parts(
    rng: np.random.Generator, label_name: str, outer: np.ndarray, hole: np.ndarray | None, size: int, extent: float
) -> dict[str, Any]:
    """The frame, mask and drawing style of one photographed drawing; ``outer`` and ``hole`` are unit outlines."""
    side = size * _SCALE
    on_a_surface = rng.random() < _ON_A_SURFACE
    sheet = _surface(rng, side, size) if on_a_surface else _sheet(rng, side)
    ink = Image.new("L", (side, side), 0)
    angle = math.radians(rng.uniform(0, 360))
    turn = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    outer = wobble(outer, rng, rng.uniform(0.0, 0.04), np.zeros(2))  # a hand's line, never a ruler's
    points = outer @ turn.T
    span = float((points.max(axis=0) - points.min(axis=0)).max())
    scale = extent * side / span
    half = (points.max(axis=0) - points.min(axis=0)) / 2 * scale
    middle = (points.max(axis=0) + points.min(axis=0)) / 2 * scale
    centre = rng.uniform(half + 4, side - half - 4) - middle

    def placed(unit: np.ndarray) -> list[tuple[float, float]]:
        return [(float(x), float(y)) for x, y in unit @ turn.T * scale + centre]

    colour = INKS[int(rng.integers(len(INKS)))]
    if on_a_surface:
        colour = _visible(rng, colour, sheet)
    radius = extent * side / 2
    pen = max(2, round(rng.uniform(0.01, 0.025) * side))
    if label_name == "circle":  # a thicker loop would be a ring
        pen = min(pen, round(thickest_circle_line(radius, side)))
    style = "pen"
    layers = [(ImageDraw.Draw(sheet), colour), (ImageDraw.Draw(ink), 255)]
    if label_name == "star" and rng.random() < 0.3:
        style = "pentagram"
        corners = np.radians(np.arange(5) * 144.0 - 90.0)  # every second corner of a pentagon
        star = np.stack([np.cos(corners), np.sin(corners)], axis=1)
        for draw, fill in layers:
            draw.line(placed(np.vstack([star, star[:1]])), fill=fill, width=pen, joint="curve")
    elif label_name == "cross" and rng.random() < 0.35:
        style = "strokes"
        width = max(3, round(rng.uniform(0.25, 0.35) * extent * side))
        for stroke in (np.array([[-1.0, 0.0], [1.0, 0.0]]), np.array([[0.0, -1.0], [0.0, 1.0]])):
            for draw, fill in layers:
                draw.line(placed(stroke), fill=fill, width=width)
    else:
        loops = [outer] + ([hole] if hole is not None else [])
        if label_name != "ring" and rng.random() < 0.4:
            style = "marker"
            marker = MARKERS[int(rng.integers(len(MARKERS)))]
            if on_a_surface:
                marker = _visible(rng, marker, sheet)
            ImageDraw.Draw(sheet).polygon(placed(outer), fill=marker)
            ImageDraw.Draw(ink).polygon(placed(outer), fill=255)
        elif label_name == "ring" and rng.random() < 0.5:
            style = "marker loop"
            band = max(thinnest_ring_band(radius, side), rng.uniform(0.15, 0.5) * radius)
            loops = [outer * (1 - band / (2 * radius))]  # one loop through the band, its outer edge on the outline
            pen = round(band)
        for loop in loops:
            for draw, fill in layers:
                draw.line(placed(np.vstack([loop, loop[:1]])), fill=fill, width=pen, joint="curve")
    frame, mask, camera = photograph(rng, np.asarray(sheet), np.asarray(ink, dtype=np.float32) / 255, size)
    line = float(width if style == "strokes" else pen)
    return {
        "image": frame,
        "mask": mask,
        "style": style,
        "surface": on_a_surface,
        "camera": camera,
        "centre": centre / _SCALE,
        "line": line,
        "radius": radius,
    }
