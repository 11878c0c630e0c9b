"""Datasets for Attention Lens: procedural shapes, Fashion-MNIST from IDX files, and image folders.

The shapes dataset exists to make spatial attention visible: every scene holds
exactly one object whose class depends only on its outline, on a background
built to distract (gradients, noise, textures, clutter in the object's own
colours). A network can only solve it by finding the object, and because the
object's pixel mask is known exactly, an attention map can be checked against
it. Scenes are generated from a per-sample seed, so any sample can be rebuilt
on demand and nothing has to be stored on disk.

Fashion-MNIST is read straight from the IDX files that Debian's
``dataset-fashion-mnist`` package installs, so training works offline; the
torchvision downloader is only a fallback for users with internet access.
"""

from __future__ import annotations

import colorsys
import functools
import gzip
import io
import logging
import math
import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps
from torch.utils.data import Dataset

logger = logging.getLogger(__name__)

Transform = Callable[[Image.Image], Any]

# --------------------------------------------------------------------------------------
# Procedural shapes
# --------------------------------------------------------------------------------------

SHAPE_CLASSES: tuple[str, ...] = ("circle", "ring", "square", "triangle", "star", "cross")
"""Class names of the shapes dataset; the index in this tuple is the label."""

BACKGROUND_KINDS: tuple[str, ...] = ("solid", "gradient", "noise", "texture", "clutter")
"""Background styles; clutter gets the largest share because it is the hardest distractor."""

_BACKGROUND_PROBS = np.array([0.18, 0.2, 0.2, 0.17, 0.25])

SPLITS: tuple[str, ...] = ("train", "val", "test")
SHAPES_DEFAULT_LENGTHS: dict[str, int] = {"train": 24000, "val": 2000, "test": 2000}

_SUPERSAMPLE = 4  # draw at 4x and box-downsample: anti-aliased edges like real drawings
_MIN_EXTENT, _MAX_EXTENT = 0.15, 0.60  # object bounding box, as a fraction of the image side
_MIN_CONTRAST = 80.0  # contrast (see _contrast) the object keeps from (almost all of) its local background
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_CLUTTER_MAX = 0.08  # clutter items stay below this fraction of the side: far from any class shape


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


def _hsv_colour(rng: np.random.Generator, s: tuple[float, float], v: tuple[float, float]) -> np.ndarray:
    """Sample a colour in HSV: ranges of saturation/value are easier to reason about than RGB."""
    h = rng.random()
    r, g, b = colorsys.hsv_to_rgb(h, rng.uniform(*s), rng.uniform(*v))
    return np.array([r, g, b], dtype=np.float32) * 255.0


def _contrast(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Visibility of colour a against colour b (broadcasting over the last axis of size 3).

    Half the RGB distance plus the luminance difference: plain RGB distance
    rates two hues of equal brightness (dark red on brown) as very different
    although they are hard to tell apart, so brightness counts twice.
    """
    diff = np.asarray(a, np.float32) - np.asarray(b, np.float32)
    return 0.5 * np.linalg.norm(diff, axis=-1) + np.abs(diff @ _LUMA)


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


def _pick_palette(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Choose (object colour, background colour 1, background colour 2).

    A share of scenes imitates what users feed the app: black ink on white
    paper, white on black, coloured pen on paper. The rest use arbitrary
    colours so colour carries no information about the class.
    """
    u = rng.random()
    if u < 0.12:  # black ink on (slightly tinted) paper
        obj = _hsv_colour(rng, (0.0, 0.6), (0.0, 0.25))
        bg1 = _hsv_colour(rng, (0.0, 0.12), (0.82, 1.0))
        amp = rng.uniform(0, 40)
    elif u < 0.20:  # white / chalk on dark
        obj = _hsv_colour(rng, (0.0, 0.15), (0.85, 1.0))
        bg1 = _hsv_colour(rng, (0.0, 0.4), (0.0, 0.2))
        amp = rng.uniform(0, 40)
    elif u < 0.30:  # coloured pen on paper
        obj = _hsv_colour(rng, (0.4, 1.0), (0.3, 0.85))
        bg1 = _hsv_colour(rng, (0.0, 0.12), (0.82, 1.0))
        amp = rng.uniform(0, 40)
    else:
        bg1 = _hsv_colour(rng, (0.0, 1.0), (0.0, 1.0))
        obj = _hsv_colour(rng, (0.0, 1.0), (0.0, 1.0))
        for _ in range(12):
            if _contrast(obj, bg1) >= 120:
                break
            obj = _hsv_colour(rng, (0.0, 1.0), (0.0, 1.0))
        else:
            black, white = np.zeros(3, np.float32), np.full(3, 255.0, np.float32)
            obj = black if _contrast(black, bg1) > _contrast(white, bg1) else white
        amp = rng.uniform(20, 110)
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction) + 1e-8
    bg2 = np.clip(bg1 + direction * amp, 0, 255).astype(np.float32)
    return obj, bg1, bg2


def _coords(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates normalised to [-1, 1]; cached because every scene needs them."""
    return _coords_cached(size)


@functools.lru_cache(maxsize=8)
def _coords_cached(size: int) -> tuple[np.ndarray, np.ndarray]:
    axis = (np.arange(size, dtype=np.float32) + 0.5) / size * 2.0 - 1.0
    yy, xx = np.meshgrid(axis, axis, indexing="ij")
    yy.flags.writeable = False
    xx.flags.writeable = False
    return xx, yy


def _mix(c1: np.ndarray, c2: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Blend two colours with a per-pixel weight field t in [0, 1] -> H x W x 3 float32."""
    t = np.clip(t, 0.0, 1.0)[..., None]
    return (c1 * (1.0 - t) + c2 * t).astype(np.float32)


def _background_gradient(rng: np.random.Generator, size: int, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    xx, yy = _coords(size)
    if rng.random() < 0.3:  # radial, like uneven lighting on a photographed page
        cx, cy = rng.uniform(-1, 1, 2)
        t = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) / rng.uniform(1.0, 2.5)
    else:
        theta = rng.uniform(0, 2 * math.pi)
        t = (xx * math.cos(theta) + yy * math.sin(theta)) * 0.5 / math.sqrt(2) + 0.5
    return _mix(c1, c2, t)


def _value_noise(rng: np.random.Generator, size: int, scale: float) -> np.ndarray:
    """Smooth noise in [0, 1]: random values on a coarse grid, bicubically upsampled."""
    cells = max(2, round(size / scale) + 1)
    grid = Image.fromarray(rng.random((cells, cells)).astype(np.float32))
    field = np.asarray(grid.resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32)
    return field


def _background_noise(rng: np.random.Generator, size: int, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    scale = rng.uniform(3.0, 24.0) * size / 64.0
    t = _value_noise(rng, size, scale)
    if rng.random() < 0.5:  # a finer octave on top: more "paper grain" / foliage-like
        t = 0.7 * t + 0.3 * _value_noise(rng, size, max(1.5, scale / 3.0))
    return _mix(c1, c2, t)


def _background_texture(rng: np.random.Generator, size: int, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """Stripes or a checkerboard: regular edges everywhere, so edges alone do not find the object."""
    xx, yy = _coords(size)
    theta = rng.uniform(0, math.pi)
    u = (xx * math.cos(theta) + yy * math.sin(theta)) * size / 2.0
    v = (-xx * math.sin(theta) + yy * math.cos(theta)) * size / 2.0
    period = rng.uniform(3.0, 14.0) * size / 64.0
    phase = rng.uniform(0, period)
    if rng.random() < 0.55:
        wave = np.sin(2 * math.pi * (u + phase) / period)
        t = (wave > 0).astype(np.float32) if rng.random() < 0.5 else 0.5 + 0.5 * wave
    else:
        t = ((np.floor((u + phase) / period) + np.floor(v / period)) % 2).astype(np.float32)
    return _mix(c1, c2, t)


def _ensure_contrast(
    rng: np.random.Generator, obj: np.ndarray, background: np.ndarray, box: tuple[int, int, int, int]
) -> np.ndarray:
    """Return an object colour that stands out from the background around the object.

    The 5th percentile of the per-pixel contrast is used instead of the mean so
    that a two-colour texture cannot hide the object behind one of its colours.
    """
    x0, y0, x1, y1 = box
    region = background[y0:y1, x0:x1].reshape(-1, 3)
    if region.size == 0:
        return obj
    if region.shape[0] > 400:  # a subsample is plenty for a percentile and keeps this fast
        region = region[:: region.shape[0] // 400 + 1]

    def score(colours: np.ndarray) -> np.ndarray:
        return np.percentile(_contrast(region[None, :, :], colours[:, None, :]), 5, axis=1)

    if score(obj[None])[0] >= _MIN_CONTRAST:
        return obj
    candidates = np.stack(
        [_hsv_colour(rng, (0.0, 1.0), (0.0, 1.0)) for _ in range(10)] + [np.zeros(3), np.full(3, 255.0)]
    ).astype(np.float32)
    scores = score(candidates)
    good = np.flatnonzero(scores >= _MIN_CONTRAST)
    best = good[0] if good.size else int(np.argmax(scores))
    return candidates[best]


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation by a square of side 2 * radius + 1 (separable, so cheap at these sizes)."""
    out = mask.copy()
    for axis in (0, 1):
        grown = out.copy()
        for shift in range(1, radius + 1):
            if axis == 0:
                grown[shift:] |= out[:-shift]
                grown[:-shift] |= out[shift:]
            else:
                grown[:, shift:] |= out[:, :-shift]
                grown[:, :-shift] |= out[:, shift:]
        out = grown
    return out


def _draw_clutter(
    rng: np.random.Generator, background: np.ndarray, obj: np.ndarray, forbidden: np.ndarray
) -> np.ndarray:
    """Short strokes and small irregular blobs in the object's colour family.

    Items never touch each other or the object (checked on an occupancy grid
    of their bounding boxes), so two strokes cannot combine into a cross and
    nothing grows into a class shape; every item stays below ``_CLUTTER_MAX``
    of the side. All random numbers are drawn in bulk: per-item generator
    calls used to dominate the cost of a scene.
    """
    size = background.shape[0]
    ss = _SUPERSAMPLE
    canvas = Image.fromarray(np.clip(background, 0, 255).astype(np.uint8)).resize(
        (size * ss, size * ss), Image.Resampling.NEAREST
    )
    draw = ImageDraw.Draw(canvas)
    occupied = forbidden.copy()
    wanted = max(1, int(rng.integers(6, 24) * (size / 64.0) ** 2))
    tries = wanted * 3
    colours = np.clip((obj + rng.normal(0, 22, (tries, 3))) * rng.uniform(0.85, 1.15, (tries, 1)), 0, 255)
    colours = colours.astype(np.uint8).tolist()
    centres = (rng.uniform(0, size, (tries, 2))).tolist()
    strokes = (rng.random(tries) < 0.6).tolist()
    lengths = (rng.uniform(0.03, 0.075, tries) * size).tolist()
    stroke_angles = rng.uniform(0, math.pi, tries).tolist()
    widths = (rng.uniform(0.7, 2.0, tries) * size / 64.0).tolist()
    blob_radii = rng.uniform(0.01, 0.035, tries) * size
    blob_angles = np.sort(rng.uniform(0, 2 * math.pi, (tries, 7)), axis=1)
    blob_points = rng.uniform(0.55, 1.0, (tries, 7)) * blob_radii[:, None]
    blob_x = (np.cos(blob_angles) * blob_points).tolist()
    blob_y = (np.sin(blob_angles) * blob_points).tolist()
    placed = 0
    for k in range(tries):
        if placed >= wanted:
            break
        cx, cy = centres[k]
        if strokes[k]:
            dx = math.cos(stroke_angles[k]) * lengths[k] / 2
            dy = math.sin(stroke_angles[k]) * lengths[k] / 2
            xs, ys = [cx - dx, cx + dx], [cy - dy, cy + dy]
            pad = widths[k] / 2 + 1
        else:
            xs = [cx + x for x in blob_x[k]]
            ys = [cy + y for y in blob_y[k]]
            pad = 1.0
        bx0, by0 = max(0, int(min(xs) - pad)), max(0, int(min(ys) - pad))
        bx1 = min(size, math.ceil(max(xs) + pad) + 1)
        by1 = min(size, math.ceil(max(ys) + pad) + 1)
        if bx0 >= bx1 or by0 >= by1 or occupied[by0:by1, bx0:bx1].any():
            continue
        occupied[by0:by1, bx0:bx1] = True
        placed += 1
        points = [(x * ss, y * ss) for x, y in zip(xs, ys)]
        if strokes[k]:
            draw.line(points, fill=tuple(colours[k]), width=max(1, round(widths[k] * ss)))
        else:
            draw.polygon(points, fill=tuple(colours[k]))
    small = canvas.resize((size, size), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32)


def _degrade(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Imitate images from other sources: resampling, slight blur, sensor noise, JPEG."""
    size = image.shape[0]
    pil = Image.fromarray(image)
    filters = (Image.Resampling.NEAREST, Image.Resampling.BILINEAR, Image.Resampling.BICUBIC)
    if rng.random() < 0.1:  # drawn at another resolution and resized
        low = max(8, round(size * rng.uniform(0.4, 0.8)))
        pil = pil.resize((low, low), filters[int(rng.integers(1, 3))])
        pil = pil.resize((size, size), filters[int(rng.integers(0, 3))])
    if rng.random() < 0.2:
        pil = pil.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0) * size / 64.0))
    out = np.asarray(pil)
    if rng.random() < 0.3:
        noisy = out.astype(np.float32) + rng.normal(0, rng.uniform(2.0, 10.0), out.shape)
        out = np.clip(noisy, 0, 255).astype(np.uint8)
    if rng.random() < 0.1:
        buffer = io.BytesIO()
        Image.fromarray(out).save(buffer, format="JPEG", quality=int(rng.integers(30, 91)))
        buffer.seek(0)
        out = np.asarray(Image.open(buffer).convert("RGB"))
    return np.ascontiguousarray(out)


def generate_scene(
    rng: np.random.Generator,
    size: int = 64,
    label: int | None = None,
    *,
    background: str | None = None,
    degrade: bool = True,
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
        degrade: apply the blur / noise / resampling / JPEG degradations.
    """
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    drawn_label = int(rng.integers(len(SHAPE_CLASSES)))
    if label is None:
        label = drawn_label
    label = int(label)
    if not 0 <= label < len(SHAPE_CLASSES):
        raise ValueError(f"label must be in [0, {len(SHAPE_CLASSES)}), got {label}")
    if background is None:
        background = BACKGROUND_KINDS[int(rng.choice(len(BACKGROUND_KINDS), p=_BACKGROUND_PROBS))]
    elif background not in BACKGROUND_KINDS:
        raise ValueError(f"background must be one of {BACKGROUND_KINDS}, got {background!r}")

    # ---- geometry: unit shape -> aspect jitter -> rotation -> scaled to the target extent
    outer, hole, thin = _unit_shape(label, rng)
    aspect = rng.uniform(0.8, 1.2)
    stretch = np.array([math.sqrt(aspect), 1.0 / math.sqrt(aspect)])
    angle = rng.uniform(0.0, 360.0)
    rad = math.radians(angle)
    rotation = np.array([[math.cos(rad), -math.sin(rad)], [math.sin(rad), math.cos(rad)]])
    outer = (outer * stretch) @ rotation.T
    if hole is not None:
        hole = (hole * stretch) @ rotation.T
    filled = SHAPE_CLASSES[label] in ("circle", "ring") or rng.random() >= 0.4
    extent = rng.uniform(_MIN_EXTENT, _MAX_EXTENT) * size
    line_width = 0.0
    if not filled:
        # The outline may cover at most 40% of the narrowest part (``thin`` spans ``extent / 2`` per
        # unit); where even the thinnest visible line (1.3 px) breaks that, draw the shape filled.
        cap = 0.4 * thin * extent / 2.0
        line_width = min(rng.uniform(0.05, 0.18) * extent, cap)
        if line_width < 1.3:
            filled, line_width = (True, 0.0) if cap < 1.3 else (False, 1.3)
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
    ss = _SUPERSAMPLE

    def to_canvas(points: np.ndarray) -> list[tuple[float, float]]:
        return [(float(x), float(y)) for x, y in points * ss - 0.5]

    canvas = Image.new("L", (size * ss, size * ss), 0)
    draw = ImageDraw.Draw(canvas)
    if filled:
        draw.polygon(to_canvas(outer), fill=255)
        if hole is not None:
            draw.polygon(to_canvas(hole), fill=0)
    else:
        closed = np.concatenate([outer, outer[:2]], axis=0)
        draw.line(to_canvas(closed), fill=255, width=max(1, round(line_width * ss)), joint="curve")
    alpha = np.asarray(canvas.resize((size, size), Image.Resampling.BOX), dtype=np.float32) / 255.0
    mask = alpha >= 0.5

    # ---- background, contrast, clutter, composite
    obj, c1, c2 = _pick_palette(rng)
    if background == "solid":
        bg = np.broadcast_to(c1, (size, size, 3)).astype(np.float32)
    elif background == "gradient":
        bg = _background_gradient(rng, size, c1, c2)
    elif background == "noise":
        bg = _background_noise(rng, size, c1, c2)
    elif background == "texture":
        bg = _background_texture(rng, size, c1, c2)
    else:  # clutter sits on a plain or gently shaded base
        bg = (
            _background_gradient(rng, size, c1, c2)
            if rng.random() < 0.5
            else np.broadcast_to(c1, (size, size, 3)).astype(np.float32)
        )
    box_x0, box_y0 = np.clip(np.floor(center - half).astype(int) - 1, 0, size)
    box_x1, box_y1 = np.clip(np.ceil(center + half).astype(int) + 2, 0, size)
    obj = _ensure_contrast(rng, obj, bg, (box_x0, box_y0, box_x1, box_y1))
    if background == "clutter":
        bg = _draw_clutter(rng, bg, obj, _dilate(alpha > 0.02, 2))
    a = alpha[..., None]
    image = np.clip(bg * (1.0 - a) + obj * a + 0.5, 0, 255).astype(np.uint8)
    if degrade:
        image = _degrade(rng, image)
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
    )


def render_shape_scene(
    rng: np.random.Generator,
    size: int = 64,
    label: int | None = None,
    *,
    background: str | None = None,
    degrade: bool = True,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Render one scene: (RGB uint8 image H x W x 3, bool object mask H x W, label).

    A thin wrapper over :func:`generate_scene` for callers that need only the
    arrays; see there for the arguments.
    """
    scene = generate_scene(rng, size, label, background=background, degrade=degrade)
    return scene.image, scene.mask, scene.label


def _check_split(split: str) -> int:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return SPLITS.index(split)


class ShapesDataset(Dataset):
    """Procedural shapes scenes, generated lazily and deterministically.

    Sample ``i`` of split ``s`` comes from ``np.random.default_rng([seed, s, i])``
    (s = 0/1/2 for train/val/test): any sample can be rebuilt without storage
    and the splits never share a scene. Rendered samples are cached in memory
    (about 16 KB each at 64 px); with a multi-worker DataLoader call
    :meth:`materialize` first, otherwise every worker fills its own copy.

    ``__getitem__`` returns ``(PIL RGB image, label)`` like torchvision datasets
    (or ``(transform(image), label)``); :meth:`sample` also gives the mask.
    """

    def __init__(
        self,
        split: str = "train",
        length: int | None = None,
        size: int = 64,
        seed: int = 0,
        transform: Transform | None = None,
        *,
        cache: bool = True,
    ) -> None:
        self.split = split
        self.split_index = _check_split(split)
        self.length = SHAPES_DEFAULT_LENGTHS[split] if length is None else int(length)
        if self.length < 0:
            raise ValueError(f"length must be >= 0, got {length}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0 (numpy seed sequences need it), got {seed}")
        if size < 16:
            raise ValueError(f"size must be at least 16 pixels, got {size}")
        self.size = int(size)
        self.seed = int(seed)
        self.transform = transform
        self.classes: list[str] = list(SHAPE_CLASSES)
        self.class_to_idx: dict[str, int] = {name: i for i, name in enumerate(self.classes)}
        self.cache = cache
        self._images: np.ndarray | None = None
        self._masks: np.ndarray | None = None  # bit-packed: masks are 1/24 of the image memory this way
        self._labels = np.full(self.length, -1, dtype=np.int16)
        self._filled = np.zeros(self.length, dtype=bool)
        self._targets: list[int] | None = None

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        return (
            f"ShapesDataset(split={self.split!r}, length={self.length}, size={self.size}, "
            f"seed={self.seed}, cached={int(self._filled.sum())})"
        )

    def __getstate__(self) -> dict[str, Any]:
        # Spawned DataLoader workers receive a pickled copy: leave out a cache that holds
        # nothing yet instead of shipping hundreds of MB of uninitialised memory.
        state = self.__dict__.copy()
        if not self._filled.any():
            state["_images"] = state["_masks"] = None
        return state

    def rng_for(self, index: int) -> np.random.Generator:
        """The generator that defines sample ``index``; exposed so tools can re-render it."""
        return np.random.default_rng([self.seed, self.split_index, int(index)])

    def _normalise_index(self, index: int) -> int:
        index = int(index)
        if index < 0:
            index += self.length
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} samples")
        return index

    def _allocate(self) -> None:
        # np.empty reserves address space only; pages are committed as samples are written.
        self._images = np.empty((self.length, self.size, self.size, 3), dtype=np.uint8)
        self._masks = np.empty((self.length, (self.size * self.size + 7) // 8), dtype=np.uint8)

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray, int]:
        """(uint8 image H x W x 3, bool mask H x W, label) of sample ``index``.

        Cached arrays are returned as read-only views, so callers cannot corrupt the cache.
        """
        index = self._normalise_index(index)
        if self.cache and self._filled[index]:
            assert self._images is not None and self._masks is not None
            image = self._images[index]
            image.flags.writeable = False
            packed = self._masks[index]
            mask = np.unpackbits(packed, count=self.size * self.size).astype(bool).reshape(self.size, self.size)
            return image, mask, int(self._labels[index])
        image, mask, label = render_shape_scene(self.rng_for(index), self.size)
        if self.cache:
            if self._images is None:
                self._allocate()
            assert self._images is not None and self._masks is not None
            self._images[index] = image
            self._masks[index] = np.packbits(mask.reshape(-1))
            self._labels[index] = label
            self._filled[index] = True
        return image, mask, label

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image, _, label = self.sample(index)
        pil = Image.fromarray(np.ascontiguousarray(image))
        return (self.transform(pil) if self.transform is not None else pil), label

    def materialize(self, progress: bool = False) -> ShapesDataset:
        """Render every sample not cached yet (with a tqdm bar if ``progress``); returns self."""
        if not self.cache:
            raise RuntimeError("materialize() needs cache=True")
        missing = np.flatnonzero(~self._filled)
        if missing.size == 0:
            return self
        from tqdm.auto import tqdm

        logger.info("rendering %d %s shapes scenes", missing.size, self.split)
        for index in tqdm(missing, desc=f"shapes/{self.split}", disable=not progress, unit="img"):
            self.sample(int(index))
        return self

    @property
    def targets(self) -> list[int]:
        """Labels of all samples, computed from the first draw of each generator (no rendering)."""
        if self._targets is None:
            n = len(SHAPE_CLASSES)
            self._targets = [
                int(self._labels[i]) if self._filled[i] else int(self.rng_for(i).integers(n))
                for i in range(self.length)
            ]
        return self._targets

    def masks(self, index: int) -> np.ndarray:
        """The bool object mask of sample ``index``."""
        return self.sample(index)[1]


# --------------------------------------------------------------------------------------
# Fashion-MNIST from IDX files
# --------------------------------------------------------------------------------------

FASHION_CLASSES: list[str] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
DEFAULT_FASHION_ROOT = Path("/usr/share/datasets/fashion-mnist")

_FASHION_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# IDX type codes -> big-endian numpy dtypes (the format is always big-endian).
_IDX_DTYPES: dict[int, str] = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (as used by MNIST / Fashion-MNIST), gzip-compressed or plain.

    Compression is detected from the gzip magic bytes, not the file name, so a
    renamed or already-decompressed file still loads. Returns a native-endian,
    writable array.

    Raises:
        ValueError: the file is not valid IDX (bad magic, unknown type, truncated data).
        FileNotFoundError: the file does not exist.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        compressed = fh.read(2) == b"\x1f\x8b"
    try:
        with gzip.open(path, "rb") if compressed else open(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise ValueError(f"{path}: cannot decompress IDX file ({exc})") from exc
    if len(raw) < 4:
        raise ValueError(f"{path}: too short to be an IDX file ({len(raw)} bytes)")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: bad IDX magic number {raw[:4].hex()} (expected 0000 followed by type and rank)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX data type code 0x{code:02x}")
    if ndim == 0:
        raise ValueError(f"{path}: IDX file declares zero dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: IDX header truncated (needs {header} bytes, file has {len(raw)})")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[code])
    count = math.prod(dims)
    expected = count * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(f"{path}: IDX shape {dims} of {dtype} needs {expected} data bytes, found {len(raw) - header}")
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(dims)
    return data.astype(dtype.newbyteorder("="))


def _find_file(directories: Sequence[Path], stem: str) -> Path | None:
    for directory in directories:
        for name in (stem, stem + ".gz"):
            candidate = directory / name
            if candidate.is_file():
                return candidate
    return None


def find_fashion_files(root: str | os.PathLike[str]) -> dict[str, tuple[Path, Path]] | None:
    """Locate the four Fashion-MNIST IDX files under ``root`` (or torchvision's ``FashionMNIST/raw``).

    Returns ``{"train": (images, labels), "test": (images, labels)}`` or None if any is missing.
    """
    root = Path(root).expanduser()
    directories = [root, root / "FashionMNIST" / "raw"]
    found: dict[str, tuple[Path, Path]] = {}
    for part, (images_stem, labels_stem) in _FASHION_FILES.items():
        images, labels = _find_file(directories, images_stem), _find_file(directories, labels_stem)
        if images is None or labels is None:
            return None
        found[part] = (images, labels)
    return found


@functools.lru_cache(maxsize=4)
def _load_idx_pair(images: str, labels: str, _stamp: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Read and validate one images/labels pair; cached so train and val share one decompression.

    ``_stamp`` (modification times) is part of the cache key so replaced files are re-read.
    """
    x = read_idx(images)
    y = read_idx(labels)
    if x.ndim != 3 or x.dtype != np.uint8:
        raise ValueError(f"{images}: expected uint8 images of shape (N, H, W), got {x.dtype} {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"{labels}: expected {len(x)} labels, got shape {y.shape}")
    if len(y) and (y.min() < 0 or y.max() >= len(FASHION_CLASSES)):
        raise ValueError(f"{labels}: labels outside 0..{len(FASHION_CLASSES) - 1}")
    x.flags.writeable = False
    y = y.astype(np.int64)
    y.flags.writeable = False
    return x, y


def _download_fashion(root: Path) -> None:
    """Fetch the IDX files with torchvision (needs internet); they land in ``root/FashionMNIST/raw``."""
    from torchvision.datasets import FashionMNIST

    logger.info("downloading Fashion-MNIST into %s", root)
    root.mkdir(parents=True, exist_ok=True)
    for train in (True, False):
        FashionMNIST(root=str(root), train=train, download=True)


class FashionMNISTIdx(Dataset):
    """Fashion-MNIST read from IDX files, with a fixed train/val split of the 60k training images.

    ``val`` is the last ``val_size`` images of a permutation seeded by
    ``split_seed``, so it is the same in every run and never overlaps ``train``;
    ``test`` is the official 10k test set. Items are ``(PIL "L" image, label)``.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] = DEFAULT_FASHION_ROOT,
        split: str = "train",
        transform: Transform | None = None,
        val_size: int = 5000,
        download: bool = False,
        *,
        split_seed: int = 0,
        limit: int | None = None,
    ) -> None:
        _check_split(split)
        self.root = Path(root).expanduser()
        self.split = split
        self.transform = transform
        self.classes: list[str] = list(FASHION_CLASSES)
        self.class_to_idx: dict[str, int] = {name: i for i, name in enumerate(self.classes)}
        files = find_fashion_files(self.root)
        if files is None and download:
            _download_fashion(self.root)
            files = find_fashion_files(self.root)
        if files is None:
            raise FileNotFoundError(
                f"Fashion-MNIST IDX files (train-images-idx3-ubyte[.gz] etc.) not found in {self.root}: "
                "run `sudo apt-get install dataset-fashion-mnist` or pass --data-root DIR"
            )
        images_path, labels_path = files["test" if split == "test" else "train"]
        stamp = (images_path.stat().st_mtime, labels_path.stat().st_mtime)
        images, labels = _load_idx_pair(str(images_path), str(labels_path), stamp)
        if split == "test":
            indices = np.arange(len(images))
        else:
            n = len(images)
            if not 0 <= val_size < n:
                raise ValueError(f"val_size must be in [0, {n}), got {val_size}")
            order = np.random.default_rng(split_seed).permutation(n)
            chosen = order[: n - val_size] if split == "train" else order[n - val_size :]
            indices = np.sort(chosen)  # keep the files' order: reproducible and cache friendly
        if limit is not None:
            indices = indices[: max(0, int(limit))]
        self.indices = indices
        self.data: np.ndarray = images[indices]
        self.targets: list[int] = labels[indices].tolist()
        logger.debug("Fashion-MNIST %s: %d images from %s", split, len(self.targets), images_path)

    def __len__(self) -> int:
        return len(self.targets)

    def __repr__(self) -> str:
        return f"FashionMNISTIdx(root={str(self.root)!r}, split={self.split!r}, length={len(self)})"

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image = Image.fromarray(self.data[index])
        return (self.transform(image) if self.transform is not None else image), self.targets[index]


# --------------------------------------------------------------------------------------
# Image folders
# --------------------------------------------------------------------------------------


def load_rgb_image(path: str | os.PathLike[str]) -> Image.Image:
    """Open any image as RGB, the way a viewer would show it.

    EXIF orientation is applied (phone photos are often stored sideways), and
    transparent images are flattened onto white, not black: drawings exported
    from paint programs are often black strokes on a transparent canvas.
    """
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            rgba = im.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(white, rgba).convert("RGB")
        return im.convert("RGB")


def _image_folder(root: Path, class_to_idx: dict[str, int] | None = None) -> Any:
    """A torchvision ImageFolder, optionally forced to an existing class mapping.

    Forcing the mapping keeps labels consistent when ``val/`` or ``test/`` lack
    a class that ``train/`` has (ImageFolder would otherwise renumber them).
    """
    from torchvision.datasets import ImageFolder

    if class_to_idx is None:
        return ImageFolder(str(root), loader=load_rgb_image)

    fixed = dict(class_to_idx)

    class _MappedImageFolder(ImageFolder):
        def find_classes(self, directory: str | os.PathLike[str]) -> tuple[list[str], dict[str, int]]:
            extra = sorted(entry.name for entry in os.scandir(directory) if entry.is_dir() and entry.name not in fixed)
            if extra:
                logger.warning("%s: ignoring class folders not present in train: %s", directory, extra)
            return sorted(fixed, key=fixed.__getitem__), dict(fixed)

    return _MappedImageFolder(str(root), loader=load_rgb_image, allow_empty=True)


def _split_counts(n: int, fractions: dict[str, float]) -> dict[str, int]:
    """How many of n samples each carved-out split gets; non-empty where possible so tiny folders work."""
    counts: dict[str, int] = {}
    for name, fraction in fractions.items():
        if not 0.0 <= fraction < 1.0:
            raise ValueError(f"{name} fraction must be in [0, 1), got {fraction}")
        count = round(n * fraction)
        if fraction > 0 and count == 0 and n > len(fractions):
            count = 1
        counts[name] = count
    if sum(counts.values()) >= n:
        raise ValueError(f"{n} images are too few to split off {counts}")
    return counts


class ImageFolderDataset(Dataset):
    """A folder of class subfolders (torchvision ``ImageFolder`` layout) with train/val/test splits.

    Layouts:
      * ``root/train/<class>/...`` (+ optional ``root/val`` or ``valid``/``validation``, ``root/test``):
        existing split folders are used; a missing val or test split is carved out of train.
      * ``root/<class>/...``: one folder split by a seeded permutation (default 80/10/10).

    Every image is loaded with :func:`load_rgb_image`. Items are ``(PIL RGB image, label)``.
    """

    _VAL_NAMES = ("val", "valid", "validation")

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        transform: Transform | None = None,
        *,
        seed: int = 0,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        limit: int | None = None,
    ) -> None:
        _check_split(split)
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise FileNotFoundError(f"image folder {self.root} does not exist")
        self.split = split
        self.transform = transform
        self.seed = seed

        train_dir = self.root / "train"
        if train_dir.is_dir():
            base = _image_folder(train_dir)
            split_dirs: dict[str, Path | None] = {
                "val": next((self.root / n for n in self._VAL_NAMES if (self.root / n).is_dir()), None),
                "test": self.root / "test" if (self.root / "test").is_dir() else None,
            }
            carve = {"val": val_fraction, "test": test_fraction}
            carve = {name: f for name, f in carve.items() if split_dirs[name] is None}
        else:
            base = _image_folder(self.root)
            split_dirs = {"val": None, "test": None}
            carve = {"val": val_fraction, "test": test_fraction}

        self.classes: list[str] = list(base.classes)
        self.class_to_idx: dict[str, int] = dict(base.class_to_idx)
        if split != "train" and split_dirs[split] is not None:
            folder = _image_folder(split_dirs[split], self.class_to_idx)  # type: ignore[arg-type]
            samples = list(folder.samples)
        else:
            samples = self._carve(list(base.samples), carve, split)
        if limit is not None:
            samples = samples[: max(0, int(limit))]
        self.samples: list[tuple[str, int]] = samples
        self.targets: list[int] = [target for _, target in samples]
        logger.debug("image folder %s, %s: %d images, %d classes", self.root, split, len(samples), len(self.classes))

    def _carve(self, samples: list[tuple[str, int]], carve: dict[str, float], split: str) -> list[tuple[str, int]]:
        """Deterministically split ``samples`` into train and the carved-out splits."""
        if not carve:
            return samples
        counts = _split_counts(len(samples), carve)
        order = np.random.default_rng(self.seed).permutation(len(samples))
        start = 0
        parts: dict[str, np.ndarray] = {}
        for name in ("val", "test"):
            if name in counts:
                parts[name] = order[start : start + counts[name]]
                start += counts[name]
        parts["train"] = order[start:]
        return [samples[i] for i in np.sort(parts[split])]

    def __len__(self) -> int:
        return len(self.samples)

    def __repr__(self) -> str:
        return f"ImageFolderDataset(root={str(self.root)!r}, split={self.split!r}, length={len(self)})"

    def __getitem__(self, index: int) -> tuple[Any, int]:
        path, target = self.samples[index]
        image = load_rgb_image(path)
        return (self.transform(image) if self.transform is not None else image), target


# --------------------------------------------------------------------------------------
# Factory
# --------------------------------------------------------------------------------------

DATASET_NAMES: tuple[str, ...] = ("shapes", "fashion-mnist", "imagefolder")
_ALIASES: dict[str, str] = {
    "shapes": "shapes",
    "fashion-mnist": "fashion-mnist",
    "fashion": "fashion-mnist",
    "fashion_mnist": "fashion-mnist",
    "fashionmnist": "fashion-mnist",
    "imagefolder": "imagefolder",
    "image-folder": "imagefolder",
    "folder": "imagefolder",
}

DATASET_INFO: dict[str, dict[str, Any]] = {
    "shapes": {"channels": 3, "input_size": 64, "classes": SHAPE_CLASSES, "has_masks": True},
    "fashion-mnist": {"channels": 1, "input_size": 28, "classes": FASHION_CLASSES, "has_masks": False},
}


def canonical_dataset_name(name: str) -> str:
    """Map a user-facing name or alias ("fashion") to its canonical name ("fashion-mnist")."""
    key = name.strip().lower()
    if key not in _ALIASES:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(DATASET_NAMES)} (alias: fashion)")
    return _ALIASES[key]


def build_dataset(
    name: str,
    split: str,
    *,
    root: str | os.PathLike[str] | None = None,
    transform: Transform | None = None,
    seed: int = 0,
    length: int | None = None,
    size: int = 64,
    download: bool = False,
) -> Dataset:
    """Create a dataset by name: "shapes", "fashion-mnist" (alias "fashion") or "imagefolder".

    ``seed`` picks the shapes scenes and the image-folder split; the
    Fashion-MNIST validation split is fixed on purpose so scores stay
    comparable between runs. ``length`` sets the number of shapes scenes and
    truncates the other datasets (handy for smoke runs). ``size`` only
    applies to shapes; ``root`` defaults to the Debian path for
    Fashion-MNIST and is required for image folders.
    """
    canonical = canonical_dataset_name(name)
    _check_split(split)
    if canonical == "shapes":
        return ShapesDataset(split=split, length=length, size=size, seed=seed, transform=transform)
    if canonical == "fashion-mnist":
        return FashionMNISTIdx(
            root=DEFAULT_FASHION_ROOT if root is None else root,
            split=split,
            transform=transform,
            download=download,
            limit=length,
        )
    if root is None:
        raise ValueError("the imagefolder dataset needs root= (a folder of class subfolders)")
    return ImageFolderDataset(root, split=split, transform=transform, seed=seed, limit=length)
