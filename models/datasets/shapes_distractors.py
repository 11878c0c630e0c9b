"""What other people's drawings add on top of a clean scene: lines across it, occluders, hand-drawn wobble.

The first shapes model was trained with clutter that never touched the object
and mild noise; on drawings made by other programs (lines crossing the whole
picture, heavy sensor noise, shaky outlines, a corner hidden behind something)
it lost eight points of accuracy. These functions widen the generator with
exactly those cases. Each draws from the caller's generator in a fixed order,
so a scene stays reproducible from its seed.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from .shapes_backgrounds import SUPERSAMPLE, hsv_colour


def wobble(points: np.ndarray, rng: np.random.Generator, amount: float, centre: np.ndarray | None = None) -> np.ndarray:
    """A closed outline (N x 2) redrawn by a shaky hand: edges densified, radius varied smoothly.

    The radial change is a sum of three low-frequency waves of the angle
    around ``centre`` (the outline's mean by default), at most ``amount`` of
    the radius, so corners stay corners and the class stays readable.
    """
    dense = []
    for start, end in zip(points, np.roll(points, -1, axis=0)):
        steps = np.linspace(0.0, 1.0, 6, endpoint=False)[:, None]
        dense.append(start + (end - start) * steps)
    outline = np.concatenate(dense, axis=0)
    middle = outline.mean(axis=0) if centre is None else centre
    offset = outline - middle
    angle = np.arctan2(offset[:, 1], offset[:, 0])
    frequencies = rng.integers(2, 5, size=3)
    phases = rng.uniform(0, 2 * math.pi, size=3)
    weights = rng.dirichlet(np.ones(3))
    wave = sum(w * np.sin(f * angle + p) for w, f, p in zip(weights, frequencies, phases))
    return middle + offset * (1.0 + amount * wave)[:, None]


def crossing_lines(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """4-12 thin straight lines in random colours across the whole picture, object included, plus small dots.

    Unlike the background clutter these may cross the object: a classifier has
    to read the outline through them, and the object's mask stays what it was.
    """
    size = image.shape[0]
    ss = SUPERSAMPLE
    canvas = Image.fromarray(image).resize((size * ss, size * ss), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(4, 13))):
        ends = rng.uniform(-0.1, 1.1, size=(2, 2)) * size * ss
        colour = tuple(int(c) for c in hsv_colour(rng, (0.0, 1.0), (0.0, 1.0)))
        width = max(1, round(rng.uniform(0.5, 1.4) * ss * size / 64.0))
        draw.line([tuple(ends[0]), tuple(ends[1])], fill=colour, width=width)
    for _ in range(int(rng.integers(0, 15))):
        x, y = rng.uniform(0, size * ss, size=2)
        radius = rng.uniform(0.5, 2.2) * ss * size / 64.0
        colour = tuple(int(c) for c in hsv_colour(rng, (0.0, 1.0), (0.0, 1.0)))
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour)
    return np.asarray(canvas.resize((size, size), Image.Resampling.BOX))


def occluder(
    rng: np.random.Generator, size: int, centre: tuple[float, float], half: float
) -> tuple[np.ndarray, np.ndarray]:
    """(coverage H x W in 0..1, RGB colour) of a blob that hides one side of the object.

    The blob's centre sits on a circle around the object's centre at about
    its half-size, and its radius is a third to a half of that, so it hides
    a part (a corner, an arm) rather than the whole object.
    """
    ss = SUPERSAMPLE
    direction = rng.uniform(0, 2 * math.pi)
    distance = half * rng.uniform(0.8, 1.2)
    cx = centre[0] + math.cos(direction) * distance
    cy = centre[1] + math.sin(direction) * distance
    radius = half * rng.uniform(0.35, 0.55)
    corners = np.sort(rng.uniform(0, 2 * math.pi, 7))
    reach = rng.uniform(0.7, 1.0, 7) * radius
    points = [((cx + math.cos(a) * r) * ss, (cy + math.sin(a) * r) * ss) for a, r in zip(corners, reach)]
    canvas = Image.new("L", (size * ss, size * ss), 0)
    ImageDraw.Draw(canvas).polygon(points, fill=255)
    coverage = np.asarray(canvas.resize((size, size), Image.Resampling.BOX), dtype=np.float32) / 255.0
    return coverage, hsv_colour(rng, (0.0, 1.0), (0.0, 1.0))
