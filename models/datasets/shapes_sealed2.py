"""The second sealed shapes renderer: the six classes drawn with OpenCV on surfaces no other renderer paints.

The training generator draws with PIL polygons, the held-out renderer with
signed distances and the first sealed renderer with matplotlib paths; this one
uses OpenCV's anti-aliased fills and lines at sub-pixel precision (a cross is
two overlapping bars, a ring an ellipse drawn with a thick pen). Its surfaces
are marble, gravel, denim, sky, a newspaper column and carpet, and its styles
add drop shadows, hatching and two-tone fills. It exists because the first
sealed renderer's breakdown was read after its one run: nothing in training
may be tuned on these pictures, and its figure in the model card is the
result of one run on the model chosen without it.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from .shapes_scene import SHAPE_CLASSES
from .shapes_sealed import SealedScene, ShapesSealedDataset, first_draws

SURFACES2: tuple[str, ...] = ("marble", "gravel", "denim", "sky", "newspaper", "carpet")
STYLES2: tuple[str, ...] = ("filled", "outlined", "pen", "shadowed", "hatched", "two-tone")
_NATIVE = 192
_SHIFT = 4  # OpenCV's fixed-point bits: coordinates are drawn to 1/16 of a pixel
_SALT = 70717


def _fixed(points: np.ndarray) -> np.ndarray:
    """Points in OpenCV's fixed-point form, shaped for ``fillPoly`` and ``polylines``."""
    return np.round(points * (1 << _SHIFT)).astype(np.int32).reshape(-1, 1, 2)


def _fixed_point(point: np.ndarray) -> tuple[int, int]:
    """One point in OpenCV's fixed-point form, as ``line`` takes it."""
    x, y = _fixed(point).reshape(2).tolist()
    return x, y


def _colour(rng: np.random.Generator) -> tuple[float, float, float]:
    return tuple(float(c) for c in rng.uniform(0, 255, 3))  # type: ignore[return-value]


def _surface(rng: np.random.Generator, kind: str, side: int) -> np.ndarray:
    """A (side, side, 3) uint8 picture of one of ``SURFACES2``."""
    if kind == "marble":
        base = np.full((side, side, 3), rng.uniform(170, 245, 3), np.float32)
        vein = tuple(float(c) for c in rng.uniform(40, 140, 3))
        picture = base.astype(np.uint8)
        for _ in range(int(rng.integers(4, 9))):
            walk = np.cumsum(rng.normal(0, 6, (40, 2)) + rng.normal(0, 4, 2), axis=0) + rng.uniform(0, side, 2)
            cv2.polylines(picture, [_fixed(walk)], False, vein, int(rng.integers(1, 4)), cv2.LINE_AA, _SHIFT)
        return cv2.GaussianBlur(picture, (0, 0), float(rng.uniform(0.8, 2.0)))
    if kind == "gravel":
        picture = np.full((side, side, 3), rng.uniform(20, 80, 3), np.float32).astype(np.uint8)
        tint = rng.uniform(60, 200, 3)
        for _ in range(int(rng.integers(250, 450))):
            centre = rng.uniform(0, side, 2)
            axes = rng.uniform(3, 9, 2)
            shade = tuple(float(c) for c in np.clip(tint * rng.uniform(0.5, 1.4), 0, 255))
            box = (tuple(float(c) for c in centre), tuple(float(2 * a) for a in axes), float(rng.uniform(0, 180)))
            cv2.ellipse(picture, box, shade, -1, cv2.LINE_AA)
        return picture
    if kind == "denim":
        hue = rng.uniform(40, 200, 3)
        ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
        twill = 0.5 + 0.5 * np.sin((xs + ys) * 2 * math.pi / rng.uniform(3.0, 5.0))
        fibres = rng.normal(0, 18, (side, side, 1)).astype(np.float32)
        return np.clip(hue * (0.7 + 0.3 * twill[..., None]) + fibres, 0, 255).astype(np.uint8)
    if kind == "sky":
        top, bottom = rng.uniform(60, 200, 3), rng.uniform(150, 255, 3)
        ramp = np.linspace(0, 1, side, dtype=np.float32)[:, None, None]
        picture = np.broadcast_to(top * (1 - ramp) + bottom * ramp, (side, side, 3)).astype(np.uint8).copy()
        clouds = np.zeros((side, side), np.uint8)
        for _ in range(int(rng.integers(3, 8))):
            centre = tuple(int(c) for c in rng.uniform(0, side, 2))
            cv2.circle(clouds, centre, int(rng.integers(10, 40)), 255, -1, cv2.LINE_AA)
        soft = cv2.GaussianBlur(clouds, (0, 0), float(rng.uniform(6, 14))).astype(np.float32)[..., None] / 255
        return np.clip(picture * (1 - 0.8 * soft) + 250 * 0.8 * soft, 0, 255).astype(np.uint8)
    if kind == "newspaper":
        paper = rng.uniform(200, 245)
        picture = np.full((side, side, 3), (paper, paper, paper * rng.uniform(0.9, 1.0)), np.float32).astype(np.uint8)
        ink = float(rng.uniform(30, 90))
        row, pitch = float(rng.uniform(0, 6)), float(rng.uniform(6, 10))
        while row < side:
            x = float(rng.uniform(-4, 4))
            while x < side:
                word = float(rng.uniform(6, 22))
                start, end = np.array([x, row]), np.array([x + word, row])
                width = int(rng.integers(2, 4))
                cv2.line(picture, _fixed_point(start), _fixed_point(end), (ink,) * 3, width, cv2.LINE_AA, _SHIFT)
                x += word + float(rng.uniform(3, 6))
            row += pitch
        return cv2.GaussianBlur(picture, (0, 0), 0.7)
    speckle = rng.integers(0, 256, (side // 3, side // 3, 3), dtype=np.uint8)
    mottled = cv2.resize(cv2.medianBlur(speckle, 3), (side, side), interpolation=cv2.INTER_NEAREST)
    base = rng.uniform(40, 200, 3)
    return np.clip(base * 0.6 + mottled.astype(np.float32) * 0.4, 0, 255).astype(np.uint8)


def _unit_polygons(name: str, rng: np.random.Generator) -> list[np.ndarray]:
    """The class's polygons around the origin, radius about 1 (a cross is two overlapping bars); round ones: none."""
    if name == "square":
        return [np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])]
    if name == "triangle":
        angles = np.radians([90.0, 210.0, 330.0]) + rng.uniform(-0.12, 0.12, 3)
        return [np.stack([np.cos(angles), np.sin(angles)], axis=1)]
    if name == "star":
        inner = float(rng.uniform(0.38, 0.5))
        steps = np.arange(10) * math.pi / 5 + math.pi / 2
        lengths = np.where(np.arange(10) % 2 == 0, 1.0, inner)
        return [np.stack([np.cos(steps) * lengths, np.sin(steps) * lengths], axis=1)]
    if name == "cross":
        arm = float(rng.uniform(0.28, 0.4))
        bar = np.array([[-1.0, -arm], [1.0, -arm], [1.0, arm], [-1.0, arm]])
        return [bar, bar[:, ::-1].copy()]
    return []


def _draw_round(
    canvas: np.ndarray, name: str, centre: np.ndarray, extent: float, angle: float, rng: np.random.Generator, pen: int
) -> None:
    """A circle (always filled: an outlined circle is a ring) or a ring, as OpenCV ellipses."""
    squash = float(rng.uniform(0.93, 1.0))
    middle, turn = tuple(float(c) for c in centre), math.degrees(angle)
    if name == "circle":
        cv2.ellipse(canvas, (middle, (extent, extent * squash), turn), 255, -1, cv2.LINE_AA)
        return
    band = float(rng.uniform(0.3, 0.5))  # the band's width as a share of the radius
    if 0 < pen <= 4:  # drawn with a thin pen: the band's two edges (a thick outline is the band itself)
        for share in (1.0, 1.0 - band):
            width = extent * share - pen
            cv2.ellipse(canvas, (middle, (width, width * squash), turn), 255, pen, cv2.LINE_AA)
        return
    thick = max(1, int(round(band * extent / 2)))
    width = extent - thick
    cv2.ellipse(canvas, (middle, (width, width * squash), turn), 255, thick, cv2.LINE_AA)


def _draw_polygons(canvas: np.ndarray, name: str, placed: list[np.ndarray], pen: int) -> None:
    """Fill the polygons, or with ``pen`` > 0 draw only the outline of their union."""
    fixed = [_fixed(polygon) for polygon in placed]
    if pen > 0 and name != "cross":
        cv2.polylines(canvas, fixed, True, 255, pen, cv2.LINE_AA, _SHIFT)
        return
    solid = np.zeros_like(canvas)
    for polygon in fixed:  # one call each: a single call would leave where the bars overlap empty (even-odd)
        cv2.fillPoly(solid, [polygon], 255, cv2.LINE_AA, _SHIFT)
    if pen <= 0:
        np.maximum(canvas, solid, out=canvas)
    else:  # the outline of the two bars together, not of each
        edges = cv2.morphologyEx(solid, cv2.MORPH_GRADIENT, np.ones((pen, pen), np.uint8))
        np.maximum(canvas, edges, out=canvas)


def render_sealed2_scene(rng: np.random.Generator, size: int) -> SealedScene:
    """One picture; the first draws are the label, the surface and the size band, in that order."""
    label, surface, (band, low, high) = first_draws(rng, SURFACES2)
    name = SHAPE_CLASSES[label]
    style = STYLES2[int(rng.integers(len(STYLES2)))]
    if name == "circle" and style in ("outlined", "pen"):
        style = "filled"  # an outlined circle is a ring
    side = _NATIVE
    picture = _surface(rng, surface, side).astype(np.float32)
    extent = float(rng.uniform(low, high)) * side  # the drawn bounding box's longer side
    angle = float(rng.uniform(0, 2 * math.pi))
    pen = 0
    if style == "outlined":
        pen = max(2, int(round(rng.uniform(0.07, 0.13) * extent)))
    elif style == "pen":
        pen = int(rng.integers(2, 5))
    paint = np.zeros((side, side), np.uint8)
    polygons = _unit_polygons(name, rng)
    if polygons:
        turn = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        turned = [polygon @ turn.T for polygon in polygons]
        low_corner = np.min([polygon.min(axis=0) for polygon in turned], axis=0)
        high_corner = np.max([polygon.max(axis=0) for polygon in turned], axis=0)
        scale = extent / float((high_corner - low_corner).max())
        half = (high_corner - low_corner) * scale / 2
        centre = rng.uniform(half + 4, side - half - 4)
        middle = (high_corner + low_corner) / 2
        _draw_polygons(paint, name, [(polygon - middle) * scale + centre for polygon in turned], pen)
    else:
        centre = rng.uniform(extent / 2 + 4, side - extent / 2 - 4, 2)
        _draw_round(paint, name, centre, extent, angle, rng, pen)
    alpha = paint.astype(np.float32)[..., None] / 255
    around = picture[alpha[..., 0] > 0.5].mean(axis=0) if (alpha > 0.5).any() else picture.mean(axis=(0, 1))
    colour = np.array(_colour(rng), np.float32)
    for _ in range(20):
        if np.abs(colour - around).sum() >= 150:
            break
        colour = np.array(_colour(rng), np.float32)
    if style == "shadowed":
        offset = rng.uniform(2, 6, 2)
        move = np.float32([[1, 0, offset[0]], [0, 1, offset[1]]])
        shadow = cv2.GaussianBlur(cv2.warpAffine(alpha[..., 0], move, (side, side)), (0, 0), 2.0)[..., None]
        picture = picture * (1 - 0.6 * shadow)
    if style == "two-tone":
        second = np.array(_colour(rng), np.float32)
        ys = np.linspace(0, 1, side, dtype=np.float32)[:, None, None]
        picture = picture * (1 - alpha) + (colour * (1 - ys) + second * ys) * alpha
    elif style == "hatched":
        lines = np.zeros((side, side), np.uint8)
        gap, slope = float(rng.uniform(4, 7)), float(rng.uniform(0, math.pi))
        direction = np.array([math.cos(slope), math.sin(slope)])
        normal = np.array([-direction[1], direction[0]])
        for k in range(-40, 41):
            through = np.array([side / 2, side / 2]) + normal * k * gap
            start, end = _fixed_point(through - direction * side), _fixed_point(through + direction * side)
            cv2.line(lines, start, end, 255, 2, cv2.LINE_AA, _SHIFT)
        rim = cv2.morphologyEx(paint, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
        drawn = np.maximum(np.minimum(lines, paint), rim).astype(np.float32)[..., None] / 255
        picture = picture * (1 - drawn) + colour * drawn
    else:
        picture = picture * (1 - alpha) + colour * alpha
    light = np.linspace(rng.uniform(0.75, 1.0), rng.uniform(1.0, 1.2), side, dtype=np.float32)
    picture = picture * (light[None, :, None] if rng.random() < 0.5 else light[:, None, None])
    picture = picture + rng.normal(0, rng.uniform(0, 8), picture.shape)
    small = cv2.resize(np.clip(picture, 0, 255).astype(np.uint8), (size, size), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        ok, encoded = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 95))])
        small = cv2.imdecode(encoded, cv2.IMREAD_COLOR) if ok else small
    mask = cv2.resize(paint, (size, size), interpolation=cv2.INTER_AREA) >= 128
    return SealedScene(np.ascontiguousarray(small), mask, label, surface, band, style)


class ShapesSealed2Dataset(ShapesSealedDataset):
    """The second sealed set, deterministic per index; evaluation only, and run once per trained model."""

    SALT = _SALT
    SURFACE_KINDS = SURFACES2

    def render(self, rng: np.random.Generator, size: int) -> Any:
        return render_sealed2_scene(rng, size)
