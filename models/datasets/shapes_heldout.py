"""A held-out shapes renderer: the same six classes, drawn by other code than the training generator.

A model that scores well on its own generator's test split may have learned
that generator's habits (its pens, its palettes, its resampling) rather than
the shapes. This module draws the classes independently: every outline is a
signed distance computed with numpy on a supersampled grid (no PIL polygons,
nothing from ``shapes_scene``, ``shapes_backgrounds`` or ``shapes_distractors``
except the class names), at a native size of 48-160 px that is then resized
to the evaluation size with PIL's antialiasing filter. Backgrounds are solid,
linear or radial gradients, Gaussian pixel noise, or clutter (thin lines
across the whole picture and small dots, over the object too), so accuracy can
be reported per background kind.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from .shapes_scene import SHAPE_CLASSES
from .splits import RenderedTestSet, Transform

HELDOUT_BACKGROUNDS: tuple[str, ...] = ("solid", "linear", "radial", "noise", "clutter")
"""Background kinds, drawn with equal probability so each gets about a fifth of the images."""

HELDOUT_STYLES: tuple[str, ...] = ("filled", "bordered", "thick", "thin")
"""filled; filled with an outline in a second colour; thick outline only; thin (pen) outline only."""

HELDOUT_DEFAULT_LENGTH = 300
_SALT = 7919  # keeps these generators apart from any other dataset's [seed, split, index] streams
_SUPERSAMPLE = 4
_NATIVE_SIZES = (48, 160)
_EXTENT = (0.2, 0.6)  # longer side of the object's bounding box, as a fraction of the picture side
_NOISE_SIGMA = (24.0, 36.0)  # Gaussian pixel noise in 0-255 units, after the resize


@dataclass(frozen=True)
class HeldoutScene:
    """One held-out picture at the evaluation size, with how it was drawn."""

    image: np.ndarray  # uint8, size x size x 3
    mask: np.ndarray  # bool, size x size: where the object's coverage is at least one half
    label: int
    background: str
    style: str
    native_size: int
    extent: float  # object's bounding box as a fraction of the side
    aspect: float
    angle: float  # degrees
    object_colour: tuple[int, int, int]


# ----------------------------------------------------------------------------------------------
# Geometry: signed distances (negative inside), in native pixel units
# ----------------------------------------------------------------------------------------------


def _segment_distance(px: np.ndarray, py: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Distance from every point to the closed polygon's outline."""
    best = np.full(px.shape, np.inf)
    for (x0, y0), (x1, y1) in zip(polygon, np.roll(polygon, -1, axis=0), strict=True):
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((px - x0) * dx + (py - y0) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
        best = np.minimum(best, np.hypot(px - x0 - t * dx, py - y0 - t * dy))
    return best


def _inside(px: np.ndarray, py: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd rule: a horizontal ray from the point crosses the outline an odd number of times."""
    inside = np.zeros(px.shape, dtype=bool)
    for (x0, y0), (x1, y1) in zip(polygon, np.roll(polygon, -1, axis=0), strict=True):
        if y0 == y1:
            continue
        straddles = (y0 > py) != (y1 > py)
        crossing_x = x0 + (py - y0) * (x1 - x0) / (y1 - y0)
        inside ^= straddles & (px < crossing_x)
    return inside


def _polygon_sdf(px: np.ndarray, py: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    distance = _segment_distance(px, py, polygon)
    return np.where(_inside(px, py, polygon), -distance, distance)


def _unit_polygon(name: str, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Vertices (N x 2, within [-1, 1]) of a polygonal class and the width of its narrowest part."""
    if name == "square":
        return np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]]), 2.0
    if name == "triangle":
        turn = 2.0 * math.pi / 3.0
        angles = math.pi / 2.0 + turn * np.arange(3) + rng.uniform(-0.1, 0.1, 3)
        return np.stack([np.cos(angles), np.sin(angles)], axis=1), 1.0
    if name == "star":
        depth = rng.uniform(0.38, 0.5)
        angles = math.pi / 2.0 + np.arange(10) * math.pi / 5.0
        radii = np.where(np.arange(10) % 2 == 0, 1.0, depth)
        return np.stack([np.cos(angles) * radii, np.sin(angles) * radii], axis=1), 2.0 * depth * math.sin(math.pi / 5)
    if name == "cross":
        arm = rng.uniform(0.22, 0.34)
        quarter = np.array([[arm, -1.0], [arm, -arm], [1.0, -arm]])  # one corner's three vertices
        turns = [
            np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) for a in np.arange(4) * math.pi / 2
        ]
        return np.concatenate([quarter @ turn.T for turn in turns]), 2.0 * arm
    raise ValueError(f"{name} is not a polygonal class")


@dataclass(frozen=True)
class _Placed:
    """A class shape placed in the native picture: enough to evaluate its signed distance anywhere."""

    name: str
    centre: np.ndarray  # (x, y) in native pixels
    rotation: np.ndarray  # 2 x 2, unit shape -> picture
    stretch: np.ndarray  # (sx, sy) in native pixels per unit
    polygon: np.ndarray | None  # in native pixels, for polygonal classes
    hole: float  # ring's inner radius in units of the outer one
    half: np.ndarray  # half of the axis-aligned bounding box, in native pixels

    def sdf(self, px: np.ndarray, py: np.ndarray) -> np.ndarray:
        if self.polygon is not None:
            return _polygon_sdf(px, py, self.polygon)
        # Round classes: the radius in the shape's own frame, scaled back by the mean stretch
        # (the stretch differs by at most ~10% between axes, so this is within a few % of the true distance).
        local = np.stack([px - self.centre[0], py - self.centre[1]], axis=-1) @ self.rotation
        radius = np.hypot(local[..., 0] / self.stretch[0], local[..., 1] / self.stretch[1])
        scale = float(self.stretch.mean())
        outer = (radius - 1.0) * scale
        if self.name == "ring":
            return np.maximum(outer, (self.hole - radius) * scale)
        return outer


def _place(name: str, rng: np.random.Generator, native: int) -> tuple[_Placed, float, float, float, float]:
    """Pick size, aspect, rotation and position; returns (shape, narrowest part in px, extent, aspect, angle)."""
    round_class = name in ("circle", "ring")
    # A circle stays a circle: at most 10% between its axes (an ellipse past ~15% would be another shape).
    aspect = rng.uniform(0.9, 1.1) if round_class else rng.uniform(0.78, 1.28)
    angle = rng.uniform(0.0, 360.0)
    extent = rng.uniform(*_EXTENT)
    rad = math.radians(angle)
    rotation = np.array([[math.cos(rad), -math.sin(rad)], [math.sin(rad), math.cos(rad)]])
    if round_class:
        polygon_unit = None
        hole = rng.uniform(0.45, 0.68) if name == "ring" else 0.0
        thin = 1.0 - hole if name == "ring" else 2.0  # the ring's band, the circle's diameter
        # Bounding box of a rotated ellipse with semi-axes a, b.
        a, b = math.sqrt(aspect), 1.0 / math.sqrt(aspect)
        unit_half = np.array(
            [math.hypot(a * math.cos(rad), b * math.sin(rad)), math.hypot(a * math.sin(rad), b * math.cos(rad))]
        )
    else:
        polygon_unit, thin = _unit_polygon(name, rng)
        hole = 0.0
        stretched = polygon_unit * np.array([math.sqrt(aspect), 1.0 / math.sqrt(aspect)]) @ rotation.T
        # Centre the box on the origin: a triangle's vertices are not symmetric about it.
        centre_shift = (stretched.max(axis=0) + stretched.min(axis=0)) / 2.0
        polygon_unit = stretched - centre_shift
        unit_half = (polygon_unit.max(axis=0) - polygon_unit.min(axis=0)) / 2.0
    scale = extent * native / (2.0 * float(unit_half.max()))
    half = unit_half * scale
    margin = half + 0.04 * native
    centre = np.array([rng.uniform(margin[0], native - margin[0]), rng.uniform(margin[1], native - margin[1])])
    stretch = np.array([math.sqrt(aspect), 1.0 / math.sqrt(aspect)]) * scale
    polygon = None if polygon_unit is None else polygon_unit * scale + centre
    placed = _Placed(name, centre, rotation, stretch, polygon, hole, half)
    return placed, thin * scale / math.sqrt(max(aspect, 1.0 / aspect)), extent, aspect, angle


def _supersampled_grid(x0: int, y0: int, x1: int, y1: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample points (centres of sub-pixels) covering native pixels [x0, x1) x [y0, y1)."""
    ss = _SUPERSAMPLE
    xs = x0 + (np.arange((x1 - x0) * ss) + 0.5) / ss
    ys = y0 + (np.arange((y1 - y0) * ss) + 0.5) / ss
    return np.meshgrid(xs, ys)


def _box_average(values: np.ndarray) -> np.ndarray:
    """Mean of every SUPERSAMPLE x SUPERSAMPLE block: sub-pixel coverage -> anti-aliased pixel coverage."""
    ss = _SUPERSAMPLE
    height, width = values.shape[0] // ss, values.shape[1] // ss
    return values.reshape(height, ss, width, ss).mean(axis=(1, 3))


# ----------------------------------------------------------------------------------------------
# Colours and backgrounds
# ----------------------------------------------------------------------------------------------


def _luma(colour: np.ndarray) -> np.ndarray:
    return np.asarray(colour, dtype=np.float64) @ np.array([0.299, 0.587, 0.114])


def _visible(colour: np.ndarray, other: np.ndarray) -> bool:
    return bool(np.linalg.norm(colour - other) > 110 and abs(_luma(colour) - _luma(other)) > 45)


def _far_colour(rng: np.random.Generator, others: list[np.ndarray], start: np.ndarray | None = None) -> np.ndarray:
    """A random RGB colour clearly visible against every colour in ``others`` (distance and brightness).

    With ``start``, every blend between ``start`` and the new colour must be visible too, so a
    gradient never passes through the object's colour on its way.
    """
    steps = (1.0,) if start is None else (0.25, 0.5, 0.75, 1.0)
    for _ in range(200):
        colour = rng.uniform(0.0, 255.0, 3)
        blends = [colour if start is None else start + t * (colour - start) for t in steps]
        if all(_visible(blend, other) for blend in blends for other in others):
            return colour
    # Practically unreachable; the fallback is still visible: black or white, whichever is farther.
    return np.zeros(3) if _luma(others[0]) > 127 else np.full(3, 255.0)


def _paint_background(rng: np.random.Generator, kind: str, native: int, object_colour: np.ndarray) -> np.ndarray:
    """native x native x 3 float background; gradients run between two colours that both contrast the object."""
    first = _far_colour(rng, [object_colour])
    if kind in ("noise", "clutter"):
        kind = "linear" if rng.random() < 0.5 else "solid"  # half of them have a gradient underneath
    if kind == "solid":
        return np.broadcast_to(first, (native, native, 3)).copy()
    second = _far_colour(rng, [object_colour], start=first)
    coords = (np.arange(native) + 0.5) / native
    xs, ys = np.meshgrid(coords, coords)
    if kind == "radial":
        cx, cy = rng.uniform(0.2, 0.8, 2)
        t = np.clip(np.hypot(xs - cx, ys - cy) / rng.uniform(0.5, 0.9), 0.0, 1.0)
    else:
        direction = rng.uniform(0.0, 2.0 * math.pi)
        t = (xs - 0.5) * math.cos(direction) + (ys - 0.5) * math.sin(direction)
        t = np.clip(t / math.sqrt(0.5) + 0.5, 0.0, 1.0)
    return first * (1.0 - t[..., None]) + second * t[..., None]


def _add_clutter(rng: np.random.Generator, picture: np.ndarray, native: int, size: int) -> None:
    """4-12 thin straight lines across the whole picture and a few small dots, in random colours, in place.

    Drawn after the object, so lines may cross it; widths are set in evaluation-size pixels so they
    stay thin (but visible) whatever the native size.
    """
    per_px = native / size  # native pixels per evaluation pixel
    ss = 2
    coords = (np.arange(native * ss) + 0.5) / ss
    xs, ys = np.meshgrid(coords, coords)

    def paint(coverage_fine: np.ndarray, colour: np.ndarray) -> None:
        coverage = coverage_fine.reshape(native, ss, native, ss).mean(axis=(1, 3))[..., None]
        picture[:] = picture * (1.0 - coverage) + colour * coverage

    for _ in range(int(rng.integers(4, 13))):
        x0, y0 = rng.uniform(0.0, native, 2)
        direction = rng.uniform(0.0, math.pi)
        width = rng.uniform(0.7, 1.4) * per_px
        distance = np.abs((xs - x0) * math.sin(direction) - (ys - y0) * math.cos(direction))
        paint((distance < width / 2.0).astype(np.float64), rng.uniform(0.0, 255.0, 3))
    for _ in range(int(rng.integers(3, 15))):
        cx, cy = rng.uniform(0.0, native, 2)
        radius = rng.uniform(0.8, 2.2) * per_px
        paint((np.hypot(xs - cx, ys - cy) < radius).astype(np.float64), rng.uniform(0.0, 255.0, 3))


# ----------------------------------------------------------------------------------------------
# One scene
# ----------------------------------------------------------------------------------------------


def render_heldout_scene(
    rng: np.random.Generator,
    size: int = 64,
    *,
    background: str | None = None,
    style: str | None = None,
) -> HeldoutScene:
    """Draw one held-out picture from ``rng`` (the label is its first draw, the background kind its second).

    ``background`` and ``style`` force a kind (tests use "solid" and "filled");
    the rest of the random stream is unchanged by forcing them.
    """
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    label = int(rng.integers(len(SHAPE_CLASSES)))
    drawn_background = HELDOUT_BACKGROUNDS[int(rng.integers(len(HELDOUT_BACKGROUNDS)))]
    background = drawn_background if background is None else background
    if background not in HELDOUT_BACKGROUNDS:
        raise ValueError(f"background must be one of {HELDOUT_BACKGROUNDS}, got {background!r}")
    name = SHAPE_CLASSES[label]
    drawn_style = HELDOUT_STYLES[int(rng.integers(len(HELDOUT_STYLES)))]
    if name in ("circle", "ring") and drawn_style in ("thick", "thin"):
        drawn_style = "filled" if drawn_style == "thick" else "bordered"  # an outlined circle is a ring
    style = drawn_style if style is None else style
    if style not in HELDOUT_STYLES:
        raise ValueError(f"style must be one of {HELDOUT_STYLES}, got {style!r}")
    native = int(rng.integers(_NATIVE_SIZES[0], _NATIVE_SIZES[1] + 1))
    per_px = native / size
    shape, narrowest, extent, aspect, angle = _place(name, rng, native)

    # Line widths in native pixels; an outline never covers more than ~35% of the narrowest part,
    # so a thick cross or star keeps its hole and its points.
    if style == "thick":
        line = min(rng.uniform(0.07, 0.13) * extent * native, 0.35 * narrowest)
        line = max(line, 1.2 * per_px)
    elif style == "thin":
        line = rng.uniform(0.9, 1.5) * per_px
    elif style == "bordered":
        line = min(rng.uniform(1.5, 3.0) * per_px, 0.3 * narrowest)
    else:
        line = 0.0

    pad = int(math.ceil(line / 2.0)) + 2
    x0, y0 = np.maximum(np.floor(shape.centre - shape.half).astype(int) - pad, 0)
    x1, y1 = np.minimum(np.ceil(shape.centre + shape.half).astype(int) + pad, native)
    px, py = _supersampled_grid(int(x0), int(y0), int(x1), int(y1))
    sdf = shape.sdf(px, py)
    fill = np.zeros((native, native))
    edge = np.zeros((native, native))
    if style in ("filled", "bordered"):
        fill[y0:y1, x0:x1] = _box_average((sdf < 0).astype(np.float64))
    if line > 0:
        edge[y0:y1, x0:x1] = _box_average((np.abs(sdf) < line / 2.0).astype(np.float64))

    object_colour = rng.uniform(0.0, 255.0, 3)
    picture = _paint_background(rng, background, native, object_colour)
    border_colour = _far_colour(rng, [object_colour]) if style == "bordered" else object_colour
    picture = picture * (1.0 - fill[..., None]) + object_colour * fill[..., None]
    picture = picture * (1.0 - edge[..., None]) + border_colour * edge[..., None]
    if background == "clutter":
        _add_clutter(rng, picture, native, size)

    coverage = np.maximum(fill, edge)
    image = Image.fromarray(np.clip(picture + 0.5, 0, 255).astype(np.uint8))
    resized = np.asarray(image.resize((size, size), Image.Resampling.LANCZOS), dtype=np.float64)
    alpha = Image.fromarray(coverage.astype(np.float32)).resize((size, size), Image.Resampling.BILINEAR)
    mask = np.asarray(alpha) >= 0.5
    if background == "noise":
        resized = resized + rng.normal(0.0, rng.uniform(*_NOISE_SIGMA), resized.shape)
    final = np.clip(resized + 0.5, 0, 255).astype(np.uint8)
    return HeldoutScene(
        image=final,
        mask=mask,
        label=label,
        background=background,
        style=style,
        native_size=native,
        extent=float(extent),
        aspect=float(aspect),
        angle=float(angle),
        object_colour=tuple(int(round(c)) for c in object_colour),  # type: ignore[arg-type]
    )


class ShapesHeldoutDataset(RenderedTestSet):
    """Held-out shapes pictures for evaluation only, deterministic per index (see ``RenderedTestSet``)."""

    SALT = _SALT

    def __init__(
        self, length: int = HELDOUT_DEFAULT_LENGTH, size: int = 64, seed: int = 0, transform: Transform | None = None
    ) -> None:
        super().__init__(length, size, seed, transform)
        self.classes: list[str] = list(SHAPE_CLASSES)
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}

    def render(self, rng: np.random.Generator, size: int) -> Any:
        return render_heldout_scene(rng, size)

    def _first_draws(self, index: int) -> tuple[int, str]:
        rng = self.rng_for(index)
        label = int(rng.integers(len(SHAPE_CLASSES)))
        return label, HELDOUT_BACKGROUNDS[int(rng.integers(len(HELDOUT_BACKGROUNDS)))]

    @property
    def backgrounds(self) -> list[str]:
        """Background kind of every sample (one of ``HELDOUT_BACKGROUNDS``), without rendering."""
        return [self._first_draws(i)[1] for i in range(self.length)]
