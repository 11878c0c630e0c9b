"""The shapes dataset's scenes: one object whose class depends only on its outline.

The object is drawn at 4x and box-downsampled, so its anti-aliased coverage
gives an exact pixel mask; the surroundings come from ``shapes_backgrounds``.
A scene is a pure function of its generator, which is what lets
``ShapesDataset`` rebuild any sample from its seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from .shapes_backgrounds import (
    SUPERSAMPLE,
    contrast,
    degrade_like_real_images,
    dilate_square,
    draw_clutter,
    ensure_contrast,
    hsv_colour,
    luminance,
    paint_background,
    pick_palette,
)
from .shapes_distractors import crossing_lines, occluder, wobble

SHAPE_CLASSES: tuple[str, ...] = ("circle", "ring", "square", "triangle", "star", "cross")
"""Class names of the shapes dataset; the index in this tuple is the label."""

BACKGROUND_KINDS: tuple[str, ...] = (
    "solid",
    "gradient",
    "noise",
    "texture",
    "pattern",
    "clutter",
    "photographed",
)
"""Background styles; clutter and patterns get the largest shares of the painted ones, the hardest distractors;
"pattern" is regular edges, dense marks, print, relief, motifs and surfaces of a shape's scale; "photographed" is
a drawing on paper or a painted surface seen through a webcam (``shapes_photographed``)."""

# 30% photographed; clutter, the hardest painted background, gets 19%; patterns 20%, the rest smooth or noisy
_BACKGROUND_PROBS = np.array([0.06, 0.07, 0.10, 0.08, 0.20, 0.19, 0.30])

_MIN_EXTENT, _MAX_EXTENT = 0.10, 0.75  # object bounding box, as a fraction of the image side


def _draw_extent(rng: np.random.Generator) -> float:
    """An object's side as a fraction of the image's, on a log scale as distance sets it: as many at 10-15% as at
    50-75%, because small shapes are the ones a reader misses."""
    return math.exp(rng.uniform(math.log(_MIN_EXTENT), math.log(_MAX_EXTENT)))


@dataclass(frozen=True)
class ShapeScene:
    """One rendered scene with the facts about it that tests and evaluations need.

    ``alpha`` is the anti-aliased coverage of the object (0..1); ``mask`` is
    ``alpha >= 0.5``, so the mask is exactly the pixels where the object
    dominates the colour before any blur/noise degradation.
    """

    image: np.ndarray  # uint8, H x W x 3
    mask: np.ndarray  # bool, H x W
    label: int
    alpha: np.ndarray  # float32, H x W
    object_colour: tuple[int, int, int]
    background: str
    filled: bool
    extent: float  # side of the object's bounding box in pixels (before clipping at the border)
    center: tuple[float, float]  # (x, y) in pixels
    angle: float  # rotation in degrees
    line_width: float  # outline width in pixels, 0 for filled objects
    occluded: bool = False  # part of the object hidden behind a blob (the mask leaves that part out)
    crossed: bool = False  # thin lines drawn across the whole picture, object included
    wobbly: bool = False  # outline redrawn by a shaky hand
    bordered: bool = False  # filled, with an outline in a second colour (part of the mask)


def _unit_shape(label: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None, float]:
    """Outline polygon (N x 2, roughly within [-1, 1]) of a class, an optional hole polygon,
    and the width of the shape's narrowest part in the same units.

    Shapes get small random variations (star depth, cross arm width, triangle
    vertices) so the model learns the class, not one template. The narrowest
    width caps the outline thickness: a thick outline of a thin cross would
    fill in and turn into a blob of the wrong shape.
    """
    name = SHAPE_CLASSES[label]
    hole = None
    thin = 2.0
    if name in ("circle", "ring"):
        t = np.linspace(0.0, 2.0 * math.pi, 96, endpoint=False)
        outer = np.stack([np.cos(t), np.sin(t)], axis=1)
        if name == "ring":
            hole = outer * rng.uniform(0.42, 0.72)
    elif name == "square":
        outer = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64)
    elif name == "triangle":
        angles = -math.pi / 2 + np.array([0.0, 2 * math.pi / 3, 4 * math.pi / 3]) + rng.normal(0, 0.08, 3)
        radii = rng.uniform(0.9, 1.1, 3)
        outer = np.stack([np.cos(angles) * radii, np.sin(angles) * radii], axis=1)
        thin = 1.0  # diameter of the inscribed circle of an equilateral triangle
    elif name == "star":
        inner = rng.uniform(0.36, 0.5)
        angles = -math.pi / 2 + np.arange(10) * math.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, 1.0, inner)
        outer = np.stack([np.cos(angles) * radii, np.sin(angles) * radii], axis=1)
        thin = 2.0 * inner * math.sin(math.pi / 5)  # width of a point at its base
    elif name == "cross":
        w = rng.uniform(0.2, 0.34)
        thin = 2.0 * w
        outer = np.array(
            [
                [-w, -1],
                [w, -1],
                [w, -w],
                [1, -w],
                [1, w],
                [w, w],
                [w, 1],
                [-w, 1],
                [-w, w],
                [-1, w],
                [-1, -w],
                [-w, -w],
            ],
            dtype=np.float64,
        )
    else:  # pragma: no cover - guarded by the label check of the caller
        raise ValueError(f"unknown shape label {label}")
    return outer, hole, thin


def generate_scene(
    rng: np.random.Generator,
    size: int = 64,
    label: int | None = None,
    *,
    background: str | None = None,
    degrade: bool = True,
    surface: np.random.Generator | None = None,
) -> ShapeScene:
    """Render one scene with a single object and return it with its metadata.

    The label is the first number drawn from ``rng`` (even when ``label`` is
    given, so forcing a class leaves the rest of the random stream aligned);
    this lets a dataset compute its targets without rendering anything.

    Args:
        rng: source of all randomness; the same generator state gives the same scene.
        size: side of the square image in pixels.
        label: force a class index instead of drawing one.
        background: force one of ``BACKGROUND_KINDS`` (tests use ``"solid"``).
        degrade: add what other people's drawings have (outlines in a second colour, lines across the
            picture, a blob hiding a part) and the blur / noise / resampling / JPEG degradations.
        surface: when given, the background kind, the palette, the surroundings and the degradations come from
            this generator and only the shape's class and pose from ``rng``, so two calls that share ``rng``'s
            state draw the same shape on two surfaces (a photographed scene poses its drawing afresh).
    """
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    drawn_label = int(rng.integers(len(SHAPE_CLASSES)))
    if label is None:
        label = drawn_label
    label = int(label)
    if not 0 <= label < len(SHAPE_CLASSES):
        raise ValueError(f"label must be in [0, {len(SHAPE_CLASSES)}), got {label}")
    paint = rng if surface is None else surface
    if background is None:
        background = BACKGROUND_KINDS[int(paint.choice(len(BACKGROUND_KINDS), p=_BACKGROUND_PROBS))]
    elif background not in BACKGROUND_KINDS:
        raise ValueError(f"background must be one of {BACKGROUND_KINDS}, got {background!r}")

    # ---- geometry: unit shape -> aspect jitter -> rotation -> scaled to the target extent
    outer, hole, thin = _unit_shape(label, rng)
    if background == "photographed":
        return _photographed(paint, size, label, outer, hole)
    wobbly = rng.random() < 0.35
    # Round shapes wobble less: a strong wave turns a ring into a polygon.
    wobble_amount = rng.uniform(0.02, 0.035 if hole is not None or label == 0 else 0.06)
    if wobbly:
        outer = wobble(outer, rng, wobble_amount, np.zeros(2))
        if hole is not None:
            hole = wobble(hole, rng, wobble_amount, np.zeros(2))
    aspect = rng.uniform(0.8, 1.2)
    stretch = np.array([math.sqrt(aspect), 1.0 / math.sqrt(aspect)])
    angle = rng.uniform(0.0, 360.0)
    rad = math.radians(angle)
    rotation = np.array([[math.cos(rad), -math.sin(rad)], [math.sin(rad), math.cos(rad)]])
    outer = (outer * stretch) @ rotation.T
    if hole is not None:
        hole = (hole * stretch) @ rotation.T
    filled = SHAPE_CLASSES[label] in ("circle", "ring") or rng.random() >= 0.4
    extent = _draw_extent(rng) * size
    line_width = 0.0
    if not filled:
        # The outline may cover at most 40% of the narrowest part (``thin`` spans ``extent / 2`` per
        # unit); where even the thinnest visible line (1.3 px) breaks that, draw the shape filled.
        cap = 0.4 * thin * extent / 2.0
        # Half of the outlines are thin pen strokes (1-1.6 px) whatever the size: other people draw that way.
        thin_pen = rng.random() < 0.5
        line_width = min(rng.uniform(1.0, 1.6) if thin_pen else rng.uniform(0.05, 0.18) * extent, cap)
        if line_width < 1.0:
            filled, line_width = (True, 0.0) if cap < 1.0 else (False, 1.0)
    lo, hi = outer.min(axis=0), outer.max(axis=0)
    scale = (extent - line_width) / float((hi - lo).max())
    centre_offset = (lo + hi) / 2.0
    outer = (outer - centre_offset) * scale
    if hole is not None:
        hole = (hole - centre_offset) * scale
    half = (hi - lo) * scale / 2.0 + line_width / 2.0
    overflow = 0.2 if rng.random() < 0.15 else 0.0  # sometimes cut by the border, as in crops
    margin = half - overflow * 2.0 * half
    center = np.array([rng.uniform(margin[0], size - margin[0]), rng.uniform(margin[1], size - margin[1])])
    outer = outer + center
    if hole is not None:
        hole = hole + center

    # ---- coverage at 4x, box-downsampled: the mask is the thresholded coverage
    ss = SUPERSAMPLE

    def to_canvas(points: np.ndarray) -> list[tuple[float, float]]:
        return [(float(x), float(y)) for x, y in points * ss - 0.5]

    def draw_outline(draw: ImageDraw.ImageDraw, rings: tuple[np.ndarray, ...], width: float) -> None:
        for ring in rings:
            closed = np.concatenate([ring, ring[:2]], axis=0)
            draw.line(to_canvas(closed), fill=255, width=max(1, round(width * ss)), joint="curve")

    def coverage(canvas: Image.Image) -> np.ndarray:
        return np.asarray(canvas.resize((size, size), Image.Resampling.BOX), dtype=np.float32) / 255.0

    canvas = Image.new("L", (size * ss, size * ss), 0)
    draw = ImageDraw.Draw(canvas)
    if filled:
        draw.polygon(to_canvas(outer), fill=255)
        if hole is not None:
            draw.polygon(to_canvas(hole), fill=0)
    else:
        draw_outline(draw, (outer,), line_width)
    alpha = coverage(canvas)
    mask = alpha >= 0.5

    # ---- background, contrast, clutter, composite
    obj, c1, c2 = pick_palette(paint)
    bg = paint_background(paint, background, size, c1, c2)
    box_x0, box_y0 = np.clip(np.floor(center - half).astype(int) - 1, 0, size)
    box_x1, box_y1 = np.clip(np.ceil(center + half).astype(int) + 2, 0, size)
    obj = ensure_contrast(paint, obj, bg, (box_x0, box_y0, box_x1, box_y1))
    if background == "clutter":
        bg = draw_clutter(paint, bg, obj, dilate_square(alpha > 0.02, 2))
    a = alpha[..., None]
    image = np.clip(bg * (1.0 - a) + obj * a + 0.5, 0, 255).astype(np.uint8)
    occluded = crossed = bordered = False
    if degrade:
        if filled and paint.random() < 0.3:
            # A filled shape with an outline in a second colour, as drawing programs make them: without
            # these, a bordered circle read as a ring (a band of one colour around a disc of another).
            cap = 0.3 * thin * extent / 2.0
            width = min(paint.uniform(1.0, 2.5), cap)
            border = hsv_colour(paint, (0.0, 1.0), (0.0, 1.0))
            if contrast(border, obj) < 80:
                border = np.zeros(3, np.float32) if luminance(obj) > 127 else np.full(3, 255.0, np.float32)
            if width >= 1.0:
                bordered = True
                edge_canvas = Image.new("L", (size * ss, size * ss), 0)
                draw_outline(ImageDraw.Draw(edge_canvas), (outer, hole) if hole is not None else (outer,), width)
                edge = coverage(edge_canvas)
                image = np.clip(image * (1.0 - edge[..., None]) + border * edge[..., None] + 0.5, 0, 255)
                image = image.astype(np.uint8)
                alpha = np.maximum(alpha, edge)
                mask = alpha >= 0.5
        if paint.random() < 0.12:
            cover, colour = occluder(paint, size, (float(center[0]), float(center[1])), float(half.max()))
            if contrast(colour, obj) < 80:
                colour = c1
            visible = alpha * (1.0 - cover)
            # Hide a part, never most of the object: its class must stay readable.
            if (visible >= 0.5).sum() >= 0.7 * mask.sum():
                occluded = True
                alpha, mask = visible, visible >= 0.5
                image = np.clip(image * (1.0 - cover[..., None]) + colour * cover[..., None] + 0.5, 0, 255)
                image = image.astype(np.uint8)
        if paint.random() < 0.45:
            crossed = True
            image = crossing_lines(paint, image)
        image = degrade_like_real_images(paint, image)
    return ShapeScene(
        image=image,
        mask=mask,
        label=label,
        alpha=alpha,
        object_colour=tuple(round(c) for c in obj),  # type: ignore[arg-type]
        background=background,
        filled=bool(filled),
        extent=float(extent),
        center=(float(center[0]), float(center[1])),
        angle=float(angle),
        line_width=float(line_width),
        occluded=occluded,
        crossed=crossed,
        wobbly=bool(wobbly),
        bordered=bordered,
    )


def _photographed(
    rng: np.random.Generator, size: int, label: int, outer: np.ndarray, hole: np.ndarray | None
) -> ShapeScene:
    """A drawing on paper seen through a webcam, with the scene's facts (see ``shapes_photographed``)."""
    from .shapes_photographed import photographed_parts

    extent = _draw_extent(rng)
    parts = photographed_parts(rng, SHAPE_CLASSES[label], outer, hole, size, extent)
    mask = parts["mask"]
    return ShapeScene(
        image=parts["image"],
        mask=mask,
        label=label,
        alpha=mask.astype(np.float32),
        object_colour=(0, 0, 0),
        background="photographed",
        filled=parts["style"] == "marker",
        extent=float(extent * size),
        center=(float(parts["centre"][0]), float(parts["centre"][1])),
        angle=0.0,
        line_width=0.0,
        occluded=bool(parts["camera"].hand),
        crossed=False,
        wobbly=True,
        bordered=False,
    )


def render_shape_scene(
    rng: np.random.Generator,
    size: int = 64,
    label: int | None = None,
    *,
    background: str | None = None,
    degrade: bool = True,
    surface: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Render one scene: (RGB uint8 image H x W x 3, bool object mask H x W, label).

    A thin wrapper over :func:`generate_scene` for callers that need only the
    arrays; see there for the arguments.
    """
    scene = generate_scene(rng, size, label, background=background, degrade=degrade, surface=surface)
    return scene.image, scene.mask, scene.label
