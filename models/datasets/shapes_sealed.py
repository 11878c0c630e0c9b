"""A sealed shapes renderer: the six classes drawn by other code on other surfaces, to be run once, at the end.

The training generator draws with PIL polygons and the held-out renderer with
signed distances; this one fills paths with matplotlib's point-in-path test on
a 3x supersampled grid, shades fills with a light gradient, and puts the shapes
on surfaces neither of the others paints: wood grain, woven fabric, tiles,
foliage, printed text and a noisy photograph-like wash. Nothing in the
training generator was, or may be, tuned on its pictures: its figure in the
model card is the result of one run after training (see the model card).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.path import Path as MplPath
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from .shapes_camera import SIZE_BANDS
from .shapes_scene import SHAPE_CLASSES
from .splits import RenderedTestSet, Transform

SEALED_DEFAULT_LENGTH = 400
SURFACES: tuple[str, ...] = ("wood", "fabric", "tiles", "foliage", "text", "wash")
STYLES: tuple[str, ...] = ("filled", "shaded", "bordered", "thick outline", "thin outline")
_NATIVE = 144
_SUPER = 3
_SALT = 60611


@dataclass(frozen=True)
class SealedScene:
    image: np.ndarray  # uint8, size x size x 3
    mask: np.ndarray  # bool, size x size: the object's paint
    label: int
    surface: str
    band: str
    style: str


def _grid(side: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float64)
    return xs, ys


def _surface(rng: np.random.Generator, kind: str, side: int) -> np.ndarray:
    """A (side, side, 3) float picture of a surface."""
    xs, ys = _grid(side)
    base = rng.uniform(40, 220, 3)
    other = np.clip(base + rng.uniform(-90, 90, 3), 0, 255)
    if kind == "wood":
        warp = np.sin(ys / side * rng.uniform(2, 5) + rng.uniform(0, 6)) * rng.uniform(5, 15)
        grain = 0.5 + 0.5 * np.sin((xs + warp) / side * rng.uniform(25, 60))
        return base * (1 - grain[..., None] * 0.35) + rng.normal(0, 4, (side, side, 1))
    if kind == "fabric":
        period = rng.uniform(3, 6)
        weave = (np.sin(xs / period * math.pi) * np.sin(ys / period * math.pi) > 0).astype(np.float64)
        return base + (other - base) * 0.25 * weave[..., None] + rng.normal(0, 6, (side, side, 1))
    if kind == "tiles":
        cell = side / rng.uniform(3, 7)
        grout = ((xs % cell) < 2.5) | ((ys % cell) < 2.5)
        shade = rng.uniform(-25, 25, (int(side // cell) + 2, int(side // cell) + 2))
        per_tile = shade[(ys // cell).astype(int), (xs // cell).astype(int)]
        picture = base + per_tile[..., None]
        picture[grout] = other * 0.6
        return picture
    if kind == "foliage":
        picture = np.ones((side, side, 3)) * base
        image = Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(25, 60))):
            x, y = rng.uniform(0, side, 2)
            rx, ry = rng.uniform(4, 18, 2)
            leaf = tuple(int(c) for c in np.clip(other + rng.uniform(-50, 50, 3), 0, 255))
            draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill=leaf)
        return np.asarray(image.filter(ImageFilter.GaussianBlur(rng.uniform(1.5, 3.5))), dtype=np.float64)
    if kind == "text":
        image = Image.new("RGB", (side, side), tuple(int(c) for c in base))
        draw = ImageDraw.Draw(image)
        font = ImageFont.load_default(size=int(rng.integers(9, 16)))
        letters = "abcdefghijklmnopqrstuvwxyzTHEQUICKBROWNFOX0123456789"
        ink = tuple(int(c) for c in other)
        for row in range(0, side, int(rng.integers(11, 17))):
            line = "".join(letters[int(i)] for i in rng.integers(0, len(letters), 40))
            draw.text((float(rng.uniform(-20, 0)), row), line, fill=ink, font=font)
        return np.asarray(image, dtype=np.float64)
    wash = base + (other - base) * ((xs + ys) / (2 * side))[..., None]
    return wash + rng.normal(0, rng.uniform(10, 25), (side, side, 3))


def _shape_path(name: str, rng: np.random.Generator) -> tuple[list[np.ndarray], float]:
    """The class's closed paths in unit coordinates (a ring is two) and its narrowest width."""
    if name in ("circle", "ring"):
        turn = np.linspace(0, 2 * math.pi, 90, endpoint=False)
        outer = np.stack([np.cos(turn), np.sin(turn)], axis=1)
        if name == "circle":
            return [outer], 2.0
        hole = rng.uniform(0.45, 0.7)
        return [outer, outer[::-1] * hole], 1.0 - hole
    if name == "square":
        return [np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])], 2.0
    if name == "triangle":
        base_angles = np.radians([-90.0, 30.0, 150.0]) + rng.uniform(-0.15, 0.15, 3)
        return [np.stack([np.cos(base_angles), np.sin(base_angles)], axis=1)], 1.0
    if name == "star":
        inner = rng.uniform(0.36, 0.52)
        angles = -math.pi / 2 + np.arange(10) * math.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, 1.0, inner)
        return [np.stack([np.cos(angles) * radii, np.sin(angles) * radii], axis=1)], 2 * inner * math.sin(math.pi / 5)
    arm = rng.uniform(0.2, 0.36)
    corner = np.array([[arm, -1.0], [arm, -arm], [1.0, -arm]])
    quarters = [
        corner @ np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]).T
        for a in (0, 1.5708, 3.1416, 4.7124)
    ]
    return [np.concatenate(quarters)], 2 * arm


def _coverage(paths: list[np.ndarray], side: int, region: tuple[int, int, int, int]) -> np.ndarray:
    """The share of each pixel inside the paths (even-odd: a ring's hole stays empty), 3x3 samples per pixel."""
    x0, y0, x1, y1 = region
    width, height = x1 - x0, y1 - y0
    offsets = (np.arange(_SUPER) + 0.5) / _SUPER
    xs = (x0 + np.arange(width)[:, None] + offsets[None, :]).ravel()
    ys = (y0 + np.arange(height)[:, None] + offsets[None, :]).ravel()
    px, py = np.meshgrid(xs, ys)
    points = np.stack([px.ravel(), py.ravel()], axis=1)
    inside = np.zeros(len(points), dtype=np.int64)
    for path in paths:
        inside += MplPath(path).contains_points(points)
    covered = (inside % 2 == 1).reshape(height * _SUPER, width * _SUPER).astype(np.float64)
    full = np.zeros((side, side))
    full[y0:y1, x0:x1] = covered.reshape(height, _SUPER, width, _SUPER).mean(axis=(1, 3))
    return full


def render_sealed_scene(rng: np.random.Generator, size: int, *, plain_surface: bool = False) -> SealedScene:
    """One picture; the first draws are the label, the surface and the size band, in that order.

    ``plain_surface`` paints the surface's mean colour instead of its pattern, after the same random draws, so
    the same shape on the same colour shows what the pattern itself costs a model.
    """
    label, surface, (band, low, high) = first_draws(rng, SURFACES)
    style = STYLES[int(rng.integers(len(STYLES)))]
    side = _NATIVE
    picture = _surface(rng, surface, side)
    if plain_surface:
        picture = np.broadcast_to(picture.reshape(-1, 3).mean(axis=0), picture.shape).copy()
    name = SHAPE_CLASSES[label]
    paths, narrowest = _shape_path(name, rng)
    aspect = rng.uniform(0.92, 1.08) if name in ("circle", "ring") else rng.uniform(0.82, 1.2)
    angle = rng.uniform(0, 2 * math.pi)
    turn = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    stretch = np.array([math.sqrt(aspect), 1 / math.sqrt(aspect)])
    paths = [(path * stretch) @ turn.T for path in paths]
    low_corner = np.min([path.min(axis=0) for path in paths], axis=0)
    high_corner = np.max([path.max(axis=0) for path in paths], axis=0)
    scale = rng.uniform(low, high) * side / float((high_corner - low_corner).max())
    centre_shift = (high_corner + low_corner) / 2
    half = (high_corner - low_corner) / 2 * scale
    centre = rng.uniform(half + 3, side - half - 3)
    paths = [(path - centre_shift) * scale + centre for path in paths]
    box = (
        max(int(centre[0] - half[0]) - 4, 0),
        max(int(centre[1] - half[1]) - 4, 0),
        min(int(centre[0] + half[0]) + 5, side),
        min(int(centre[1] + half[1]) + 5, side),
    )
    fill = _coverage(paths, side, box)
    colour = rng.uniform(0, 255, 3)
    while np.abs(colour - picture[box[1] : box[3], box[0] : box[2]].mean(axis=(0, 1))).sum() < 120:
        colour = rng.uniform(0, 255, 3)
    paint = fill
    if style in ("thick outline", "thin outline", "bordered"):
        pixels = narrowest * scale
        width = {"thick outline": 0.25, "thin outline": 0.08, "bordered": 0.1}[style] * pixels
        width = max(width, 1.2)
        eroded = (
            np.asarray(
                Image.fromarray((fill * 255).astype(np.uint8)).filter(
                    ImageFilter.MinFilter(int(2 * round(width / 2) + 1))
                ),
                dtype=np.float64,
            )
            / 255
        )
        ring = np.clip(fill - eroded, 0, 1)
        if style == "bordered":
            edge_colour = 255 - colour
            picture = picture * (1 - fill[..., None]) + colour * fill[..., None]
            picture = picture * (1 - ring[..., None]) + edge_colour * ring[..., None]
        else:
            picture = picture * (1 - ring[..., None]) + colour * ring[..., None]
            paint = ring
    else:
        if style == "shaded":
            _, ys = _grid(side)
            light = 1.25 - 0.5 * (ys - box[1]) / max(box[3] - box[1], 1)
            shaded = np.clip(colour * light[..., None], 0, 255)
        else:
            shaded = np.broadcast_to(colour, picture.shape)
        picture = picture * (1 - fill[..., None]) + shaded * fill[..., None]
    image = Image.fromarray(np.clip(picture + 0.5, 0, 255).astype(np.uint8)).resize((size, size), Image.Resampling.BOX)
    mask = np.asarray(Image.fromarray((paint * 255).astype(np.uint8)).resize((size, size), Image.Resampling.BOX)) >= 128
    return SealedScene(np.asarray(image), mask, label, surface, band, style)


def first_draws(
    rng: np.random.Generator, surfaces: tuple[str, ...], bands: tuple[tuple[str, float, float], ...] = SIZE_BANDS
) -> tuple[int, str, tuple[str, float, float]]:
    """A sealed picture's label, surface and size band, drawn first and in this order, so that its groups are
    known without rendering it."""
    label = int(rng.integers(len(SHAPE_CLASSES)))
    surface = surfaces[int(rng.integers(len(surfaces)))]
    return label, surface, bands[int(rng.integers(len(bands)))]


class ShapesSealedDataset(RenderedTestSet):
    """The sealed pictures, deterministic per index; evaluation only, and run once per trained model."""

    SALT = _SALT
    GROUPS = ("background", "size band")
    SURFACE_KINDS: tuple[str, ...] = SURFACES  # what the renderer's second draw picks from
    BANDS: tuple[tuple[str, float, float], ...] = SIZE_BANDS  # what its third draw picks from

    def __init__(
        self, length: int = SEALED_DEFAULT_LENGTH, size: int = 64, seed: int = 0, transform: Transform | None = None
    ) -> None:
        super().__init__(length, size, seed, transform)
        self.classes: list[str] = list(SHAPE_CLASSES)

    def render(self, rng: np.random.Generator, size: int) -> Any:
        return render_sealed_scene(rng, size)

    def _first_draws(self, index: int) -> tuple[int, str, str]:
        label, surface, (band, _, _) = first_draws(self.rng_for(index), self.SURFACE_KINDS, self.BANDS)
        return label, surface, band
