"""Shapes drawn by hand on paper and held up to a webcam: an evaluation set for what a class shows the live view.

Each picture is a sheet of paper (plain, lined or squared, with grain and
blotches) with one shape drawn on it as a person draws: a wobbly pen line
that does not quite close, sometimes coloured in with a marker, a star now and
then drawn as a pentagram, a cross as two thick strokes, a ring now and then as
one thick marker loop. ``photograph`` then turns the sheet into a camera frame
(perspective, light ramp, vignette, shadow, blur, a hand at one edge, sensor
noise, JPEG). The drawing code here is this module's own; the training
generator shares only the camera effects and ``shapes_strokes``, the rule that
keeps a circle's line thinner than a ring's band so each label can be read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from .photograph import Camera, photograph
from .shapes_scene import SHAPE_CLASSES
from .shapes_strokes import thickest_circle_line, thinnest_ring_band
from .splits import RenderedTestSet, Transform

CAMERA_DEFAULT_LENGTH = 300
SIZE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("10-15%", 0.10, 0.15),
    ("15-25%", 0.15, 0.25),
    ("25-40%", 0.25, 0.40),
    ("40-60%", 0.40, 0.60),
)
"""Bands of the object's extent (its bounding box's longer side as a share of the picture side)."""
EVERY_BAND: tuple[tuple[str, float, float], ...] = (*SIZE_BANDS, ("60-75%", 0.60, 0.75))
"""The bands and one more, for a drawing held close to a webcam: the sets written since shapes reach 75%."""
PAPERS: tuple[str, ...] = ("plain", "lined", "squared")
PEN_COLOURS = ((20, 20, 24), (30, 40, 120), (40, 80, 190), (180, 30, 30), (30, 120, 50), (90, 90, 95))
MARKER_COLOURS = ((250, 200, 40), (240, 120, 160), (110, 200, 240), (140, 220, 110), (250, 150, 60), (180, 140, 230))
SHEET_SIDE = 192
"""The sheet's side in pixels before the camera."""
_SALT = 4243  # keeps these generators apart from every other dataset's


@dataclass(frozen=True)
class CameraScene:
    """One photographed drawing, with how it was made."""

    image: np.ndarray  # uint8, size x size x 3
    mask: np.ndarray  # bool, size x size: the ink of the shape, where the hand does not cover it
    label: int
    band: str
    paper: str
    style: str  # "pen", "marker" (coloured in), "marker loop" (a ring as one thick loop), "pentagram" or "strokes"
    camera: Camera
    line: float = 0.0  # the width of the drawn line, in the sheet's pixels (a marker loop's band, a stroke's width)
    extent: float = 0.0  # the shape's longer side on the sheet, in its pixels


def _outline(label: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """The shape's path in unit coordinates (about -1..1) and how it is drawn."""
    name = SHAPE_CLASSES[label]
    if name in ("circle", "ring"):
        turn = np.linspace(0, 2 * np.pi, 49)
        aspect = rng.uniform(0.85, 1.15)
        return np.stack([np.cos(turn) * aspect, np.sin(turn) / aspect], axis=1), "pen"
    if name == "square":
        aspect = rng.uniform(0.9, 1.1)
        return np.array(
            [[-aspect, -1 / aspect], [aspect, -1 / aspect], [aspect, 1 / aspect], [-aspect, 1 / aspect]]
        ), "pen"
    if name == "triangle":
        angles = np.radians(np.array([90.0, 210.0, 330.0]) + rng.uniform(-12, 12, 3))
        points = np.stack([np.cos(angles), -np.sin(angles)], axis=1)
        return points - points.mean(axis=0), "pen"
    if name == "star":
        outer = np.radians(np.arange(5) * 72.0 - 90.0 + rng.uniform(-6, 6, 5))
        if rng.random() < 0.3:  # drawn in one go, corner to every second corner
            order = [0, 2, 4, 1, 3]
            return np.stack([np.cos(outer[order]), np.sin(outer[order])], axis=1), "pentagram"
        inner = outer + np.radians(36.0)
        ratio = rng.uniform(0.38, 0.5)
        points = np.empty((10, 2))
        points[0::2] = np.stack([np.cos(outer), np.sin(outer)], axis=1)
        points[1::2] = ratio * np.stack([np.cos(inner), np.sin(inner)], axis=1)
        return points, "pen"
    arm = rng.uniform(0.3, 0.42)
    if rng.random() < 0.35:  # two thick strokes
        return np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, -1.0], [0.0, 1.0]]), "strokes"
    a = arm
    return np.array(
        [[-a, -1], [a, -1], [a, -a], [1, -a], [1, a], [a, a], [a, 1], [-a, 1], [-a, a], [-1, a], [-1, -a], [-a, -a]]
    ), "pen"


def _hand_drawn(points: np.ndarray, rng: np.random.Generator, wobble: float, closed: bool) -> list[tuple[float, float]]:
    """The path resampled every few pixels with a slow wobble, its end overshooting or falling short a little."""
    if closed:
        points = np.vstack([points, points[:1]])
    steps = []
    for start, end in zip(points[:-1], points[1:]):
        count = max(2, int(np.linalg.norm(end - start) / 3))
        steps.append(start + (end - start) * np.linspace(0, 1, count, endpoint=False)[:, None])
    steps.append(points[-1:])
    path = np.vstack(steps)
    drift = np.cumsum(rng.normal(0, 1, path.shape), axis=0)
    drift -= np.linspace(0, 1, len(path))[:, None] * drift[-1]  # starts and ends near the path
    drift = drift / max(np.abs(drift).max(), 1e-9) * wobble
    path = path + drift
    if closed:
        extra = int(rng.integers(-3, 4))
        path = path[: len(path) + extra] if extra < 0 else np.vstack([path, path[1 : 1 + extra]])
    return [(float(x), float(y)) for x, y in path]


def _paper(rng: np.random.Generator, side: int) -> tuple[np.ndarray, str]:
    tint = np.array([rng.uniform(236, 255), rng.uniform(232, 252), rng.uniform(220, 248)])
    sheet = np.ones((side, side, 3)) * tint
    coarse = rng.normal(0, 1, (6, 6))
    blotches = np.asarray(Image.fromarray(coarse.astype(np.float32)).resize((side, side), Image.Resampling.BICUBIC))
    sheet += blotches[..., None] * rng.uniform(2, 7) + rng.normal(0, rng.uniform(2, 5), (side, side))[..., None]
    paper = PAPERS[int(rng.integers(len(PAPERS)))]
    if paper != "plain":
        image = Image.fromarray(np.clip(sheet, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        gap = side / rng.uniform(9, 14)
        colour = (150, 180, 220) if paper == "lined" else (170, 190, 200)
        offset = rng.uniform(0, gap)
        for index in range(int(side / gap) + 1):
            at = offset + index * gap
            draw.line([(0, at), (side, at)], fill=colour, width=1)
            if paper == "squared":
                draw.line([(at, 0), (at, side)], fill=colour, width=1)
        sheet = np.asarray(image, dtype=np.float64)
    return sheet, paper


def render_camera_scene(rng: np.random.Generator, size: int) -> CameraScene:
    """One photographed drawing: the first four draws are the label, the size band, the paper and the hand."""
    label = int(rng.integers(len(SHAPE_CLASSES)))
    band_name, low, high = SIZE_BANDS[int(rng.integers(len(SIZE_BANDS)))]
    paper_draw = rng.integers(1 << 30)  # the paper's own stream, so its kind is known without drawing
    hand = bool(rng.random() < 0.35)
    side = SHEET_SIDE
    sheet, paper = _paper(np.random.default_rng(paper_draw), side)
    extent = rng.uniform(low, high) * side
    path, style = _outline(label, rng)
    angle = math.radians(rng.uniform(-25, 25))
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    path = path @ rotation.T
    span = (path.max(axis=0) - path.min(axis=0)).max()
    path = path / span * extent
    margin = np.abs(path).max(axis=0) + 4
    centre = rng.uniform(margin, side - margin)
    path = path + centre
    pen = max(2.0, rng.uniform(0.011, 0.025) * side)
    name = SHAPE_CLASSES[label]
    if name == "circle":  # a thicker loop would be a ring
        pen = min(pen, thickest_circle_line(extent / 2, side))
    colour = PEN_COLOURS[int(rng.integers(len(PEN_COLOURS)))]
    wobble = rng.uniform(0.004, 0.012) * side
    ink = Image.new("L", (side, side), 0)
    drawn = Image.fromarray(np.clip(sheet, 0, 255).astype(np.uint8))
    layers = [ImageDraw.Draw(drawn), ImageDraw.Draw(ink)]
    if style == "pen" and name != "ring" and rng.random() < 0.4:
        style = "marker"
        marker = MARKER_COLOURS[int(rng.integers(len(MARKER_COLOURS)))]
        fill = [(float(x), float(y)) for x, y in path]
        layers[0].polygon(fill, fill=marker)
        layers[1].polygon(fill, fill=255)
    if style == "strokes":  # a cross of two thick strokes
        width = max(3, int(rng.uniform(0.25, 0.35) * extent))
        for stroke in (path[:2], path[2:]):
            line = _hand_drawn(stroke, rng, wobble, closed=False)
            for draw, fill in zip(layers, (colour, 255)):
                draw.line(line, fill=fill, width=width, joint="curve")
    else:
        loops = [path]
        if name == "ring":
            if rng.random() < 0.5:  # a thick marker loop
                style = "marker loop"
                pen = max(thinnest_ring_band(extent / 2, side), rng.uniform(0.16, 0.26) * extent / 2)
            else:
                inner = centre + (path - centre) * rng.uniform(0.45, 0.7)
                loops.append(inner)
        for loop in loops:
            line = _hand_drawn(loop, rng, wobble, closed=True)
            for draw, fill in zip(layers, (colour, 255)):
                draw.line(line, fill=fill, width=int(round(pen)), joint="curve")
    frame, mask, camera = photograph(
        rng, np.asarray(drawn), np.asarray(ink, dtype=np.float32) / 255, size, hand_chance=float(hand)
    )
    drawn_width = float(width if style == "strokes" else int(round(pen)))
    return CameraScene(frame, mask, label, band_name, paper, style, camera, drawn_width, float(extent))


class ShapesCameraDataset(RenderedTestSet):
    """Photographed drawings for evaluation only, deterministic per index (``np.random.default_rng([seed, salt, i])``).

    ``__getitem__`` gives ``(PIL image, label)`` (or the transform of it);
    ``sample`` adds the object mask and ``groups`` names each picture's size
    band, whether a hand shows and its class, without rendering.
    """

    SALT = _SALT
    GROUPS = ("size band", "hand")

    def __init__(
        self, length: int = CAMERA_DEFAULT_LENGTH, size: int = 64, seed: int = 0, transform: Transform | None = None
    ) -> None:
        super().__init__(length, size, seed, transform)
        self.classes: list[str] = list(SHAPE_CLASSES)

    def render(self, rng: np.random.Generator, size: int) -> Any:
        return render_camera_scene(rng, size)

    def _first_draws(self, index: int) -> tuple[int, str, str]:
        """The label, size band and hand of picture ``index``: its generator's first four draws, as rendering does."""
        rng = self.rng_for(index)
        label = int(rng.integers(len(SHAPE_CLASSES)))
        band = SIZE_BANDS[int(rng.integers(len(SIZE_BANDS)))][0]
        rng.integers(1 << 30)  # the paper's stream
        return label, band, "hand at the edge" if rng.random() < 0.35 else "no hand"
