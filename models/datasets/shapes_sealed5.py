"""The fifth sealed shapes renderer: traced outlines filled by scipy, on surfaces no other renderer paints.

The training generator draws with PIL polygons, the held-out renderer with
numpy distances to polygon edges, the first sealed renderer with matplotlib's
point-in-path test, the second with OpenCV, the third with matplotlib's Agg
rasteriser and the fourth with implicit functions in torch. This one traces
each outline as a dense line of points on a three-times finer grid, fills it
with ``scipy.ndimage.binary_fill_holes`` and inks strokes by the distance
transform, then averages the grid down. Its surfaces are crumpled paper, a
whiteboard, knitted wool, a flagstone path, printed wallpaper and stucco; its
camera is a homography through ``scipy.ndimage.map_coordinates``, a lamp, a
shadow across a corner, defocus or motion blur, and Pillow's JPEG or WebP.
It exists because the fourth sealed set was read after its one run: its figure
in the model card is one run on a model chosen without it.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.spatial import cKDTree

from .shapes_scene import SHAPE_CLASSES
from .shapes_sealed import SealedScene, ShapesSealedDataset, first_draws
from .shapes_strokes import thickest_circle_line, thinnest_ring_band

SURFACES5: tuple[str, ...] = ("crumpled", "whiteboard", "knit", "flagstone", "wallpaper", "stucco")
STYLES5: tuple[str, ...] = ("filled", "pen", "marker", "sketched", "sticker", "stippled")
_NATIVE = 192  # the picture's side before the camera and the final resize
_FINE = 3  # outlines are traced and filled on a grid this many times finer, then averaged down
_SALT = 50505
_VIEW_INSET = 0.04  # the camera sees at most this share of the side less at each corner


def _pixels(side: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre x and y coordinates of a side x side picture."""
    centres = np.arange(side, dtype=np.float64) + 0.5
    return np.meshgrid(centres, centres, indexing="xy")


def _noise(rng: np.random.Generator, side: int, scale: float) -> np.ndarray:
    """White noise smoothed over about ``scale`` pixels, stretched to [0, 1]."""
    field = ndimage.gaussian_filter(rng.standard_normal((side, side)), scale, mode="wrap")
    return (field - field.min()) / (np.ptp(field) + 1e-9)


def _tone(rng: np.random.Generator, low: float = 0.0, high: float = 255.0) -> np.ndarray:
    return rng.uniform(low, high, 3)


def _cells(rng: np.random.Generator, side: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """For every pixel, its nearest of ``count`` random seeds and how much nearer than the second nearest."""
    seeds = rng.uniform(0, side, (count, 2))
    xs, ys = _pixels(side)
    distances, nearest = cKDTree(seeds).query(np.stack([xs.ravel(), ys.ravel()], axis=1), k=2)
    gap = (distances[:, 1] - distances[:, 0]).reshape(side, side)
    return nearest[:, 0].reshape(side, side), gap


def _surface(rng: np.random.Generator, kind: str, side: int) -> np.ndarray:
    """A side x side x 3 float picture of one of ``SURFACES5``."""
    xs, ys = _pixels(side)
    if kind == "crumpled":  # flat facets, each tilted to the light its own way, with darker creases
        count = int(rng.integers(25, 70))
        cell, gap = _cells(rng, side, count)
        tilt = rng.normal(0, 0.0008, (count, 2))
        shade = 0.88 + tilt[cell, 0] * (xs - side / 2) + tilt[cell, 1] * (ys - side / 2)
        shade = shade - 0.12 * np.exp(-gap / 0.8)
        paper = _tone(rng, 200, 250)
        return ndimage.gaussian_filter(shade, 0.6)[..., None] * paper
    if kind == "whiteboard":  # a glossy white with a highlight and faint ghosts of wiped-off marker
        picture = np.full((side, side, 3), rng.uniform(225, 250)) + rng.uniform(-6, 6, 3)
        angle = rng.uniform(0, math.pi)
        across = (xs - side / 2) * math.cos(angle) + (ys - side / 2) * math.sin(angle)
        picture += 20 * np.exp(-((across - rng.uniform(-side / 3, side / 3)) ** 2) / (2 * (side / 6) ** 2))[..., None]
        for _ in range(int(rng.integers(2, 6))):
            walk = np.cumsum(rng.normal(0, side / 25, (60, 2)), axis=0) + rng.uniform(0, side, 2)
            trace = np.zeros((side, side))
            points = np.clip(walk.round().astype(int), 0, side - 1)
            trace[points[:, 1], points[:, 0]] = 1
            smear = np.clip(ndimage.gaussian_filter(ndimage.binary_dilation(trace, iterations=3) * 1.0, 2.0), 0, 1)
            ghost = rng.uniform(0.08, 0.2) * smear[..., None]
            picture = picture * (1 - ghost) + _tone(rng, 0, 200) * ghost
        return picture
    if kind == "knit":  # rows of V stitches, each row's yarn a little different
        height, width = rng.uniform(5, 9), rng.uniform(4, 7)
        row = np.floor(ys / height)
        across = (xs + row * rng.uniform(0, width)) % width / width - 0.5
        chevron = 0.5 + 0.5 * np.cos(2 * math.pi * (ys / height + 1.6 * np.abs(across)))
        yarn, shadow = _tone(rng, 40, 230), rng.uniform(0.45, 0.7)
        variation = rng.uniform(0.9, 1.1, int(side / height) + 2)[row.astype(int)]
        fuzz = 1 + 0.06 * rng.standard_normal((side, side))
        return (shadow + (1 - shadow) * chevron)[..., None] * (variation * fuzz)[..., None] * yarn
    if kind == "flagstone":  # irregular stones of several tones, mottled, with mortar between
        count = int(rng.integers(12, 36))
        cell, gap = _cells(rng, side, count)
        base = _tone(rng, 70, 200)
        stones = base * rng.uniform(0.7, 1.2, (count, 1)) + rng.normal(0, 10, (count, 3))
        picture = stones[cell] * (0.85 + 0.3 * _noise(rng, side, 2.0))[..., None]
        mortar = np.clip((rng.uniform(1.5, 3.0) - gap) / 1.0, 0, 1)[..., None]
        return picture * (1 - mortar) + _tone(rng, 120, 220) * mortar
    if kind == "wallpaper":  # stripes and a lattice of small four-petal flowers
        ground, stripe, flower = _tone(rng), _tone(rng), _tone(rng)
        period = rng.uniform(10, 24)
        band = ((xs % period) < period * rng.uniform(0.2, 0.5))[..., None]
        picture = np.where(band, stripe, ground).astype(np.float64)
        pitch = rng.uniform(14, 22)
        u, v = (xs % pitch) - pitch / 2, ((ys + (np.floor(xs / pitch) % 2) * pitch / 2) % pitch) - pitch / 2
        reach = pitch * rng.uniform(0.18, 0.24)  # under 5% of the native side: far smaller than any shape
        petals = np.zeros((side, side), dtype=bool)
        for du, dv in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            petals |= (u - du * reach / 2) ** 2 + (v - dv * reach / 2) ** 2 < (reach / 2.2) ** 2
        picture[petals] = flower
        return picture
    # stucco: a rough plaster relief lit from one side
    relief = _noise(rng, side, rng.uniform(1.0, 2.5)) + 0.6 * _noise(rng, side, rng.uniform(4, 8))
    gy, gx = np.gradient(relief)
    light = rng.uniform(0, 2 * math.pi)
    shade = 0.85 + rng.uniform(8, 16) * (gx * math.cos(light) + gy * math.sin(light))
    return np.clip(shade, 0.4, 1.3)[..., None] * _tone(rng, 120, 240)


def _outline(name: str, rng: np.random.Generator) -> tuple[list[np.ndarray], float]:
    """The closed outlines of one class in a unit frame within [-1, 1] (a ring has two), and its inner radius."""
    if name in ("circle", "ring"):
        angles = np.linspace(0, 2 * math.pi, 400, endpoint=False)
        unit = np.stack([np.cos(angles), np.sin(angles)], axis=1)
        inner = rng.uniform(0.5, 0.72) if name == "ring" else 0.0
        return ([unit, unit * inner] if name == "ring" else [unit]), inner
    if name == "square":
        corners = [[-1, -1], [1, -1], [1, 1], [-1, 1]]
    elif name == "triangle":
        turns = [math.pi / 2 + k * 2 * math.pi / 3 for k in range(3)]
        corners = [[math.cos(a), math.sin(a)] for a in turns]
    elif name == "star":
        inner_radius = rng.uniform(0.38, 0.5)
        turns = [math.pi / 2 + k * math.pi / 5 for k in range(10)]
        corners = [[r * math.cos(a), r * math.sin(a)] for a, r in zip(turns, [1.0, inner_radius] * 5)]
    else:  # cross: twelve corners around two bars
        bar = rng.uniform(0.28, 0.4)
        quarter = [[bar, -bar], [1, -bar], [1, bar]]  # one arm, counter-clockwise
        corners = []
        for k in range(4):
            c, s = round(math.cos(k * math.pi / 2)), round(math.sin(k * math.pi / 2))
            corners += [[c * x - s * y, s * x + c * y] for x, y in quarter]
    return [np.asarray(corners, dtype=np.float64) + rng.normal(0, 0.02, (len(corners), 2))], 0.0


def _trace(corners: np.ndarray, step: float) -> np.ndarray:
    """Points every ``step`` units along the closed polygon through ``corners``."""
    ends = np.roll(corners, -1, axis=0)
    pieces = []
    for start, end in zip(corners, ends):
        count = max(2, int(math.ceil(np.linalg.norm(end - start) / step)))
        pieces.append(start + (end - start) * np.linspace(0, 1, count, endpoint=False)[:, None])
    return np.concatenate(pieces)


def _wobble(rng: np.random.Generator, points: np.ndarray, strength: float) -> np.ndarray:
    """A hand's unsteadiness: every point moved by a smooth field of the plane, ``strength`` pixels at most."""
    moved = points.copy()
    for axis in range(2):
        for _ in range(2):
            frequency, phase = rng.normal(0, 0.05, 2), rng.uniform(0, 2 * math.pi)
            moved[:, axis] += strength / 2 * np.sin(points @ frequency + phase)
    return moved


def _mark(points: np.ndarray, side: int) -> np.ndarray:
    """The fine-grid cells the traced points fall in."""
    grid = np.zeros((side, side), dtype=bool)
    cells = np.clip(np.floor(points).astype(int), 0, side - 1)
    grid[cells[:, 1], cells[:, 0]] = True
    return grid


def _stroke(line: np.ndarray, width: float) -> np.ndarray:
    """A pen of ``width`` fine cells drawn along the marked cells."""
    return ndimage.distance_transform_edt(~line) <= width / 2


def _down(fine: np.ndarray) -> np.ndarray:
    """Average ``_FINE`` x ``_FINE`` blocks: a fine boolean grid as native coverage in [0, 1]."""
    side = fine.shape[0] // _FINE
    return fine.reshape(side, _FINE, side, _FINE).mean(axis=(1, 3))


def _ink_for(rng: np.random.Generator, around: np.ndarray) -> np.ndarray:
    """Of eight random inks, black and white, the one that stands out most from the worst-matching tenth around."""
    inks = np.concatenate([rng.uniform(0, 255, (8, 3)), [[0.0, 0.0, 0.0], [255.0, 255.0, 255.0]]])
    luma = np.array([0.3, 0.59, 0.11])
    difference = inks[:, None, :] - around[None]
    contrast = np.abs(difference @ luma) + 0.25 * np.linalg.norm(difference, axis=-1)
    return inks[int(np.percentile(contrast, 10, axis=1).argmax())]


def _homography(rng: np.random.Generator, side: int) -> np.ndarray:
    """The 3 x 3 map from output pixels to source pixels of a sheet seen a little from the side.

    Every output corner looks at a point up to ``_VIEW_INSET`` of the side inside the picture, so the view
    never runs past the surface's edge.
    """
    corners = np.array([[0, 0], [side, 0], [side, side], [0, side]], dtype=np.float64)
    inward = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]])
    looked_at = corners + inward * rng.uniform(0, _VIEW_INSET, (4, 2)) * side
    rows, rhs = [], []
    for (x, y), (u, v) in zip(corners, looked_at):
        rows += [[x, y, 1, 0, 0, 0, -u * x, -u * y], [0, 0, 0, x, y, 1, -v * x, -v * y]]
        rhs += [u, v]
    solution = np.linalg.solve(np.asarray(rows), np.asarray(rhs))
    return np.append(solution, 1.0).reshape(3, 3)


def _warp(planes: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Resample C x side x side planes through the homography, edges held at their last value."""
    side = planes.shape[1]
    xs, ys = _pixels(side)
    source = matrix @ np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])
    sx, sy = source[0] / source[2] - 0.5, source[1] / source[2] - 0.5
    return np.stack(
        [ndimage.map_coordinates(plane, [sy, sx], order=1, mode="nearest").reshape(side, side) for plane in planes]
    )


def _shrink(planes: np.ndarray, size: int) -> np.ndarray:
    """C x side x side planes to C x size x size: a Gaussian low-pass, then samples at the new pixel centres."""
    side = planes.shape[1]
    ratio = side / size
    centres = (np.arange(size) + 0.5) * ratio - 0.5
    sy, sx = np.meshgrid(centres, centres, indexing="ij")
    smooth = [ndimage.gaussian_filter(plane, 0.5 * ratio, mode="nearest") for plane in planes]
    return np.stack([ndimage.map_coordinates(plane, [sy, sx], order=1, mode="nearest") for plane in smooth])


def render_sealed5_scene(rng: np.random.Generator, size: int) -> SealedScene:
    """One picture; the first draws are the label, the surface and the size band, in that order."""
    label, surface, (band, low, high) = first_draws(rng, SURFACES5)
    style = STYLES5[int(rng.integers(len(STYLES5)))]
    name = SHAPE_CLASSES[label]
    side, fine_side = _NATIVE, _NATIVE * _FINE
    picture = _surface(rng, surface, side)
    loops, inner = _outline(name, rng)
    angle = rng.uniform(0, 2 * math.pi)
    aspect = math.sqrt(rng.uniform(0.93, 1.07) if name in ("circle", "ring") else rng.uniform(0.85, 1.18))
    turn = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    placed = [(loop * [aspect, 1 / aspect]) @ turn.T for loop in loops]
    lowest, highest = placed[0].min(axis=0), placed[0].max(axis=0)
    span_units = float((highest - lowest).max())
    scale = rng.uniform(low, high) * fine_side / span_units  # fine cells per unit
    half = (highest - lowest) / 2 * scale
    margin = (_VIEW_INSET + 0.02) * fine_side  # inside the camera's view wherever it looks
    centre = rng.uniform(half + margin, fine_side - half - margin) - (highest + lowest) / 2 * scale
    hand = style in ("pen", "marker", "sketched") or rng.random() < 0.3
    traced = [
        _wobble(rng, _trace(loop, 0.3 / scale) * scale + centre, 0.02 * span_units * scale if hand else 0.0)
        for loop in placed
    ]
    span = span_units * scale  # the object's extent in fine cells
    radius = span / 2
    lines = [_mark(points, fine_side) for points in traced]
    region = ndimage.binary_fill_holes(lines[0])
    if name == "ring":
        region &= ~(ndimage.binary_fill_holes(lines[1]) & ~lines[1])
    if style in ("pen", "sketched") and name == "circle":
        width = max(2.0 * _FINE, min(rng.uniform(0.04, 0.1) * radius, thickest_circle_line(radius, fine_side)))
        paint = _stroke(lines[0], width)
        if style == "sketched":
            paint |= _stroke(_mark(_wobble(rng, traced[0], 0.015 * span), fine_side), width)
    elif style in ("pen", "marker", "sketched") and name == "ring":  # one thick loop along the band's middle
        band_width = max(thinnest_ring_band(radius, fine_side), (1 - inner) * radius)
        middle = _mark((traced[0] - centre) * (1 + inner) / 2 + centre, fine_side)
        paint = _stroke(middle, band_width)
    elif style == "marker" and name == "circle":
        paint = region
    elif style in ("pen", "sketched"):
        width = rng.uniform(1.5, 3.5) * _FINE
        paint = _stroke(lines[0], width)
        if style == "sketched":
            paint |= _stroke(_mark(_wobble(rng, traced[0], 0.015 * span), fine_side), width)
    elif style == "marker":
        paint = _stroke(lines[0], max(2.0 * _FINE, rng.uniform(0.05, 0.08) * span))
    elif style == "stippled":  # dots on a jittered lattice, kept inside the shape
        pitch = rng.uniform(2.2, 3.0) * _FINE
        count = int(fine_side / pitch) + 1
        lattice = (np.stack(np.meshgrid(np.arange(count), np.arange(count)), axis=-1).reshape(-1, 2) + 0.5) * pitch
        dots = _mark(lattice + rng.uniform(-0.2, 0.2, lattice.shape) * pitch, fine_side)
        paint = _stroke(dots, pitch * rng.uniform(0.75, 0.95)) & region
    else:  # filled, and the sticker's face
        paint = region
    coverage = _down(paint)
    extent = _down(region) if style == "stippled" else coverage  # the object is the dotted area, gaps and all
    shape_area = _down(region) > 0.5
    around = picture[shape_area] if shape_area.any() else picture.reshape(-1, 3)
    ink = _ink_for(rng, around)
    if style == "sticker":  # a light border cut around the face, and a soft shadow under it
        border = _down(ndimage.distance_transform_edt(~region) <= rng.uniform(2.0, 4.0) * _FINE)
        offset = rng.uniform(1.5, 4.0, 2) * rng.choice([-1, 1], 2)
        shadow = ndimage.gaussian_filter(ndimage.shift(border, offset[::-1], order=1), 1.5)
        picture = picture * (1 - 0.45 * shadow[..., None])
        paper = _tone(rng, 225, 255)
        picture = picture * (1 - border[..., None]) + paper * border[..., None]
        extent = border  # the sticker, border and all, is the object
        face = _down(region)[..., None]
        picture = picture * (1 - face) + ink * face
    else:
        picture = picture * (1 - coverage[..., None]) + ink * coverage[..., None]
    xs, ys = _pixels(side)
    lamp = rng.uniform(0, side, 2)
    glow = 1 + rng.uniform(0, 0.25) * np.exp(-((xs - lamp[0]) ** 2 + (ys - lamp[1]) ** 2) / (2 * (side / 2.5) ** 2))
    picture = picture * glow[..., None]
    if rng.random() < 0.35:  # a soft shadow across one corner, never over the middle
        normal = rng.normal(0, 1, 2)
        normal /= np.linalg.norm(normal)
        reach = (xs - side / 2) * normal[0] + (ys - side / 2) * normal[1] - rng.uniform(0.3, 0.45) * side
        picture = picture * (1 - rng.uniform(0.15, 0.35) / (1 + np.exp(-reach / 4)))[..., None]
    picture = picture * min(1.0, 245.0 / float(np.percentile(picture, 99)))  # the camera's exposure
    planes = _warp(np.concatenate([picture.transpose(2, 0, 1), extent[None]]), _homography(rng, side))
    blur = rng.random()
    if blur < 0.35:
        sigma = rng.uniform(0.5, 1.5)
        planes[:3] = [ndimage.gaussian_filter(plane, sigma) for plane in planes[:3]]
    elif blur < 0.55:  # a shake: the picture smeared along one short line
        length, direction = int(rng.integers(3, 8)), rng.uniform(0, math.pi)
        kernel = np.zeros((length, length))
        middle = (length - 1) / 2
        for t in np.linspace(-middle, middle, 4 * length):
            kernel[int(round(middle + t * math.sin(direction))), int(round(middle + t * math.cos(direction)))] = 1
        kernel /= kernel.sum()
        planes[:3] = [ndimage.convolve(plane, kernel, mode="nearest") for plane in planes[:3]]
    planes[:3] += rng.normal(0, rng.uniform(1.5, 10), (3, side, side)) + rng.normal(0, 2, (3, 1, 1))
    small = _shrink(planes, size)
    image = np.clip(np.round(small[:3].transpose(1, 2, 0)), 0, 255).astype(np.uint8)
    codec = rng.random()
    if codec < 0.55:
        buffer = io.BytesIO()
        kind, quality = ("JPEG", int(rng.integers(30, 88))) if codec < 0.35 else ("WEBP", int(rng.integers(40, 85)))
        Image.fromarray(image).save(buffer, format=kind, quality=quality)
        image = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")).copy()
    return SealedScene(image, small[3] >= 0.5, label, surface, band, style)


class ShapesSealed5Dataset(ShapesSealedDataset):
    """The fifth sealed set, deterministic per index; evaluation only, and run once per trained model."""

    SALT = _SALT
    SURFACE_KINDS = SURFACES5

    def render(self, rng: np.random.Generator, size: int) -> Any:
        return render_sealed5_scene(rng, size)
