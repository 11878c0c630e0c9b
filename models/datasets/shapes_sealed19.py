"""The nineteenth sealed renderer: outlines fanned into triangles clipped to each pixel, seen through a shop window.

Each class is one or two closed loops (a circle of 96 sides, a ring two wound against each other, a star ten corners,
a cross twelve) laid on a display board and seen through the camera. A pixel the outline passes near gets its cover
exactly, with no point tested inside or out: every edge of the loops makes a triangle with the pixel's middle, the
triangle is clipped to the pixel's square by Sutherland-Hodgman (against its four sides in turn), and the clipped
pieces' signed areas, summed over the edges, are the share of the square the loops wind round. Every other pixel lies
wholly in or out, settled by the crossings of its row. A line along the outline is a band between the outline moved
out and in. The objects are what a shop dresses its window with: gold leaf laid in squares with cracks between them,
sponge-painted board, a knitted patch of V stitches, and a bent wire along the outline (a circle's wire at most a
tenth of its radius, a ring a band of wire). The board is painted to look like places, with features as large as the
shapes: autumn leaves, peeling paint, crazy paving, corrugated iron, a floor striped by a blind's shadows and an oil
slick on tarmac. The camera is a passer-by's phone at the glass: held a little turned and tilted (a keystone), the
street reflected faintly in the pane, the glass's tint, a greasy smudge that softens and lifts part of the view, an
area resize, sensor noise and a WebP. Nothing in the training generator was, or may be, tuned on its pictures: its
figure in the model card is the result of one run after training.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from .shapes_camera import EVERY_BAND
from .shapes_scene import SHAPE_CLASSES
from .shapes_sealed import SealedScene, ShapesSealedDataset, first_draws
from .shapes_sealed17 import ink, line_half, loops, offset, shoelace
from .shapes_sealed18 import area_resize, lay, noise, sticks, to_ground

SURFACES19: tuple[str, ...] = ("autumn leaves", "peeling paint", "crazy paving", "corrugated iron")
SURFACES19 += ("blind shadows", "oil slick")
STYLES19: tuple[str, ...] = ("gold leaf", "sponge paint", "knitted", "bent wire")
OUTLINED19 = STYLES19[-1]  # the one style drawn along the outline, only on shapes of _WIRE_BANDS
_WIRE_BANDS = ("40-60%", "60-75%")  # a wire is readable at 64 px only on a shape this large
_SALT, _NATIVE, _CHUNK = 190_193, 192, 256  # the set's salt, the frame's side before the resize, pixels at once
_LUMA = np.array([0.299, 0.587, 0.114])
_HOLE = (0.5, 0.58)  # a ring's hole, as a share of its outer radius
_MARGIN = 0.06  # the object's box stays this share of the frame's side inside each edge


def _camera(rng: np.random.Generator) -> dict[str, float]:
    """The phone's hold at the glass: tilted a degree to seven off the board's plane towards a random side (the
    lean), and turned up to six degrees (the heading)."""
    pitch, lean = math.radians(rng.uniform(1, 7)), rng.uniform(0, 2 * math.pi)
    return dict(pitch=pitch, lean=lean, heading=math.radians(rng.uniform(-6, 6)))


def clip_to_squares(polygons: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """Convex polygons (m, k, 2) clipped by Sutherland-Hodgman to the unit squares whose top left corners are
    ``corners`` (m, 2), against the left, right, top and bottom sides in turn; each answer (m, k + 4, 2) pads its
    polygon by repeating its last corner (every corner at nought when nothing is left)."""
    points = polygons
    for axis, sign, shift in ((0, 1.0, 0.0), (0, -1.0, 1.0), (1, 1.0, 0.0), (1, -1.0, 1.0)):
        here = sign * (points[..., axis] - corners[:, None, axis] - shift)  # >= 0 on the square's side
        before, was = np.roll(points, 1, axis=1), np.roll(here, 1, axis=1)
        cuts = (here >= 0) != (was >= 0)
        t = np.where(cuts, was / np.where(cuts, was - here, 1.0), 0.0)
        meet = before + t[..., None] * (points - before)
        emitted = np.stack([meet, points], axis=2).reshape(len(points), -1, 2)
        kept = np.stack([cuts, here >= 0], axis=2).reshape(len(points), -1)
        order = np.argsort(~kept, axis=1, kind="stable")[:, : points.shape[1] + 1]
        points = np.take_along_axis(emitted, order[..., None], axis=1)
        count = kept.sum(axis=1)
        last = np.take_along_axis(points, np.maximum(count - 1, 0)[:, None, None], axis=1)
        slots = np.arange(points.shape[1])[None, :, None]
        points = np.where(slots < count[:, None, None], points, last)
        points = np.where((count > 0)[:, None, None], points, 0.0)
    return points


def polygon_areas(points: np.ndarray) -> np.ndarray:
    """The signed areas of polygons (m, k, 2) by the shoelace (positive when x turns towards y)."""
    x, y = points[..., 0], points[..., 1]
    return 0.5 * (x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y).sum(axis=1)


def fan_cover(frame_loops: list[np.ndarray], pixels: np.ndarray) -> np.ndarray:
    """The share of each pixel (n, 2 as column, row) the loops wind round: the sum over their edges of the signed
    area of the triangle each edge makes with the pixel's middle, clipped to the pixel's square."""
    starts = np.concatenate(frame_loops)
    ends = np.concatenate([np.roll(loop, -1, axis=0) for loop in frame_loops])
    out = np.zeros(len(pixels))
    for first in range(0, len(pixels), _CHUNK):
        corner = pixels[first : first + _CHUNK].astype(float)
        middle = np.broadcast_to((corner + 0.5)[:, None, :], (len(corner), len(starts), 2))
        a = np.broadcast_to(starts[None], middle.shape)
        b = np.broadcast_to(ends[None], middle.shape)
        triangles = np.stack([middle, a, b], axis=2).reshape(-1, 3, 2)
        pieces = clip_to_squares(triangles, np.repeat(corner, len(starts), axis=0))
        out[first : first + _CHUNK] = polygon_areas(pieces).reshape(len(corner), len(starts)).sum(axis=1)
    return out


def row_parity(frame_loops: list[np.ndarray], cols: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Whether each pixel's middle is inside the loops by the even-odd rule: the loops' edges crossing its row
    to the left of it, counted."""
    starts = np.concatenate(frame_loops)
    ends = np.concatenate([np.roll(loop, -1, axis=0) for loop in frame_loops])
    y = rows[:, None] + 0.5
    straddle = (starts[None, :, 1] > y) != (ends[None, :, 1] > y)
    dy = np.where(straddle, ends[:, 1] - starts[:, 1], 1.0)
    meet = np.where(straddle, starts[:, 0] + (y - starts[:, 1]) * (ends[:, 0] - starts[:, 0]) / dy, np.inf)
    return (meet[:, None, :] < cols[None, :, None] + 0.5).sum(axis=2) % 2 == 1


def frame_cover(frame_loops: list[np.ndarray], side: int) -> np.ndarray:
    """Each pixel's share of the loops in a ``side`` px frame: clipped exactly where an edge passes within a pixel
    of it, by its row's crossings elsewhere."""
    every = np.concatenate(frame_loops)
    x0, y0 = np.maximum(np.floor(every.min(axis=0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(every.max(axis=0)).astype(int) + 2, side)
    cols, rows = np.arange(x0, x1), np.arange(y0, y1)
    cover = row_parity(frame_loops, cols, rows).astype(float)
    near = np.zeros(cover.shape, bool)
    for loop in frame_loops:
        for a, b in zip(loop, np.roll(loop, -1, axis=0), strict=True):
            steps = np.linspace(0, 1, int(np.linalg.norm(b - a) * 4) + 2)[:, None]
            walked = np.floor(a + steps * (b - a)).astype(int) - (x0, y0)
            near[walked[:, 1], walked[:, 0]] = True
    near = cv2.dilate(near.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    where = np.argwhere(near)
    cover[near] = fan_cover(frame_loops, where[:, ::-1] + (x0, y0))
    full = np.zeros((side, side))
    full[y0:y1, x0:x1] = np.clip(cover, 0.0, 1.0)
    return full


def _wound(frame_loops: list[np.ndarray]) -> list[np.ndarray]:
    """The loops turned so that the first (outer) one winds positively and the rest against it."""
    sign = 1.0 if shoelace(frame_loops[0]) > 0 else -1.0
    return [
        loop if sign * shoelace(loop) * (1 if k == 0 else -1) > 0 else loop[::-1] for k, loop in enumerate(frame_loops)
    ]


def placed_cover(
    camera: dict[str, float], shape: list[np.ndarray], goal: np.ndarray, extent: float, side: int = _NATIVE
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The loops laid so that their cover's half-covered pixels span ``extent`` px about ``goal``, and the loops:
    laid once by their corners, then once more scaled by what the cover's box missed (a star's thin points)."""
    wanted = extent
    for attempt in range(2):
        frame_loops = _wound(lay(camera, shape, goal, wanted, side))
        cover = frame_cover(frame_loops, side)
        ys, xs = np.nonzero(cover >= 0.5)
        miss = extent - (max(np.ptp(xs), np.ptp(ys)) + 1)
        if attempt or abs(miss) <= 0.5:
            return cover, frame_loops
        wanted += miss
    raise AssertionError("unreachable")


def _hash(ix: np.ndarray, iy: np.ndarray, salt: int) -> np.ndarray:
    """A number in [0, 1) for each integer cell: the value noise at its lattice point, where nothing is eased."""
    return noise(np.asarray(ix, float), np.asarray(iy, float), 1.0, salt)


def _rainbow(share: np.ndarray) -> np.ndarray:
    """Thin-film colours (n, 3) round the hue circle by ``share``."""
    return 127.5 + 127.5 * np.cos(2 * math.pi * (share[:, None] + np.array([0.0, 1 / 3, 2 / 3])))


def ground(rng: np.random.Generator, kind: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The board's colour (n, 3) at board points, its features as large as the shapes, within 0-255."""
    return np.clip(_ground(rng, kind, x, y), 0, 255)


def _ground(rng: np.random.Generator, kind: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The board's colour (n, 3) by its kind, before it is kept within 0-255."""
    salt = int(rng.integers(1 << 28))
    speck = noise(x, y, 1.3, salt + 50) - 0.5
    if kind == "autumn leaves":
        earth = np.array([70.0, 52, 36]) * (1 + 0.3 * speck)[:, None]
        top, along, across = sticks(x, y, 11.0, (16.0, 30.0), (9.0, 17.0), salt)
        leaves = np.array([[215.0, 90, 30], [235, 170, 40], [160, 45, 30], [130, 95, 50], [190, 130, 60]])
        leaf = leaves[np.minimum((top * 1e3 % 1 * len(leaves)).astype(int), len(leaves) - 1)]
        vein = (np.abs(across) < 0.08) & (np.abs(along) < 0.9)
        level = np.where(vein, 0.7, 1.0 - 0.2 * np.abs(across))
        return np.where((top >= 0)[:, None], leaf * level[:, None], earth)
    if kind == "peeling paint":
        paint, under = rng.uniform(60, 220, 3), np.array([200.0, 195, 180]) * rng.uniform(0.6, 1.0)
        flake = noise(x, y, 28, salt + 1) * 0.7 + noise(x, y, 7, salt + 2) * 0.3
        edge = rng.uniform(0.5, 0.58)
        colour = np.where(
            (flake > edge)[:, None], under * (1 + 0.2 * speck)[:, None], paint * (1 + 0.1 * speck)[:, None]
        )
        curl = np.abs(flake - edge) < 0.015
        return np.where(curl[:, None], np.minimum(colour * 1.3 + 30, 255.0), colour)
    if kind == "crazy paving":
        cell = rng.uniform(22, 34)
        ci, cj = np.floor(x / cell), np.floor(y / cell)
        near, second, stone = np.full(len(x), np.inf), np.full(len(x), np.inf), np.zeros(len(x))
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                i, j = ci + di, cj + dj
                gap = np.hypot(x - (i + _hash(i, j, salt + 3)) * cell, y - (j + _hash(i, j, salt + 4)) * cell)
                closer = gap < near
                second = np.where(closer, near, np.minimum(second, gap))
                stone = np.where(closer, _hash(i, j, salt + 5), stone)
                near = np.minimum(near, gap)
        rock = rng.uniform(120, 200) * np.array([1.0, 0.95, 0.85]) * (0.7 + 0.6 * stone)[:, None]
        rock = rock * (1 + 0.15 * speck)[:, None]
        return np.where((second - near < 2.5)[:, None], np.array([55.0, 52, 48]), rock)
    if kind == "corrugated iron":
        turn = rng.uniform(0, math.pi)
        across = x * math.cos(turn) + y * math.sin(turn)
        ridge = np.sin(2 * math.pi * across / rng.uniform(14, 22))
        paint = rng.uniform(70, 200, 3)
        rust = noise(x, y, 26, salt + 6) > rng.uniform(0.6, 0.7)
        colour = np.where(rust[:, None], np.array([140.0, 70, 35]) * (1 + 0.4 * speck)[:, None], paint)
        return colour * (0.8 + 0.35 * ridge)[:, None]
    if kind == "blind shadows":
        plank = rng.uniform(24, 36)
        boards = np.floor(y / plank)
        wood = np.array([185.0, 135, 85]) * (0.8 + 0.3 * _hash(boards, boards, salt + 7))[:, None]
        wood = wood * (0.93 + 0.14 * noise(x / 8, y, 1.5, salt + 8))[:, None]
        wood = np.where((y / plank - boards < 0.05)[:, None], wood * 0.45, wood)
        turn = rng.uniform(0.3, 1.2)
        stripe = np.sin(2 * math.pi * (x * math.cos(turn) + y * math.sin(turn)) / rng.uniform(24, 36))
        return wood * np.where(stripe > 0.1, 1.25, 0.45)[:, None]
    tarmac = np.array([55.0, 55, 58]) * (1 + 0.5 * speck)[:, None]  # an oil slick on wet tarmac
    film = noise(x, y, 34, salt + 9)
    bands = _rainbow(film * 3 + noise(x, y, 9, salt + 10) * 0.4) * 0.8
    return np.where((film > 0.42)[:, None], bands, tarmac)


def material(rng: np.random.Generator, style: str, colour: np.ndarray, spots: np.ndarray) -> np.ndarray:
    """The object's colour (n, 3) at board points ``spots`` by what it is made of, near ``colour`` in grey."""
    salt = int(rng.integers(1 << 28))
    x, y = spots[:, 0], spots[:, 1]
    if style == "gold leaf":
        leaf = rng.uniform(7, 11)
        i, j = np.floor(x / leaf), np.floor(y / leaf)
        sheet = 0.85 + 0.3 * _hash(i, j, salt)
        seam = np.minimum(x / leaf - i, y / leaf - j) * leaf < 0.7
        metal = 0.6 * colour + 0.4 * np.array([235.0, 190, 90]) * float(colour @ _LUMA) / 185.0
        return np.clip(metal * np.where(seam, 0.7, sheet)[:, None], 0, 255)
    if style == "sponge paint":
        dab = noise(x, y, 2.2, salt + 1) * 0.6 + noise(x, y, 9, salt + 2) * 0.4
        return np.clip(colour * (0.78 + 0.44 * dab)[:, None], 0, 255)
    if style == "knitted":
        width = rng.uniform(3.5, 5.0)
        u, v = x / width, y / (1.3 * width)
        vee = np.abs(np.abs(u - np.floor(u) - 0.5) * 2 - (v - np.floor(v)))
        return np.clip(colour * (1.12 - 0.5 * vee)[:, None], 0, 255)
    if style == OUTLINED19:
        glint = noise(x, y, 5, salt + 3) > 0.75
        return np.clip(
            np.where(glint[:, None], colour * 0.6 + 100, colour * (0.9 + 0.2 * noise(x, y, 3, salt + 4))[:, None]),
            0,
            255,
        )
    raise ValueError(f"no style {style!r}")


def reflect(rng: np.random.Generator, picture: np.ndarray, strength: float) -> np.ndarray:
    """The street reflected in the pane: a soft, bright-and-dark picture of large blobs laid over ``strength`` of
    the view."""
    side = picture.shape[0]
    rows, cols = np.mgrid[0:side, 0:side] + 0.5
    salt = int(rng.integers(1 << 28))
    street = 255 * noise(cols.ravel(), rows.ravel(), side / 3, salt).reshape(side, side)
    return picture * (1 - strength) + strength * street[..., None] * np.array([0.95, 1.0, 1.05])


def smudge(rng: np.random.Generator, picture: np.ndarray) -> np.ndarray:
    """A greasy fingerprint on the glass: within a soft oval, the view blurred and lifted towards grey."""
    side = picture.shape[0]
    rows, cols = np.mgrid[0:side, 0:side] + 0.5
    cx, cy = rng.uniform(0, side, 2)
    rx, ry = rng.uniform(0.1, 0.25, 2) * side
    weight = np.exp(-(((cols - cx) / rx) ** 2 + ((rows - cy) / ry) ** 2))[..., None] * rng.uniform(0.3, 0.6)
    soft = cv2.GaussianBlur(picture.astype(np.float32), (0, 0), 2.0).astype(np.float64) * 0.85 + 0.15 * 128
    return picture * (1 - weight) + soft * weight


def webp(picture: np.ndarray, quality: int) -> np.ndarray:
    """The photo saved as a WebP at ``quality`` (rounded to whole levels, red first) and opened again."""
    levels = np.round(np.clip(picture, 0, 255)).astype(np.uint8)
    data = cv2.imencode(".webp", cv2.cvtColor(levels, cv2.COLOR_RGB2BGR), (cv2.IMWRITE_WEBP_QUALITY, quality))[1]
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def through_glass(rng: np.random.Generator, picture: np.ndarray, size: int) -> np.ndarray:
    """The window seen by the phone: the street's reflection, the glass's tint, a smudge, a soft lens, the resize,
    sensor noise and a WebP."""
    seen = reflect(rng, picture, rng.uniform(0.05, 0.15))
    seen = seen * np.array([rng.uniform(0.9, 0.97), 1.0, rng.uniform(0.92, 1.0)])
    seen = smudge(rng, seen)
    seen = cv2.GaussianBlur(seen.astype(np.float32), (0, 0), rng.uniform(0.3, 0.7)).astype(np.float64)
    if size != seen.shape[0]:
        seen = area_resize(seen.astype(np.float32), size).astype(np.float64)
    seen = seen + rng.normal(0, rng.uniform(1.5, 4.0), seen.shape)
    return webp(seen, int(rng.integers(55, 90)))


def _laid_shape(rng: np.random.Generator, name: str, style: str) -> list[np.ndarray]:
    """The class's loops in the box from -1 to 1, turned at random: a circle of 96 sides, a ring's two loops, and
    for a wire the band between the outline moved out and in by half its width."""
    if name == "ring":
        return [loop[::2] for loop in loops("ring", rng.uniform(*_HOLE))]
    turn = rng.uniform(0, 2 * math.pi)
    outline = loops(name)[0][:: 2 if name == "circle" else 1] @ np.array(
        [[math.cos(turn), math.sin(turn)], [-math.sin(turn), math.cos(turn)]]
    )
    if style != OUTLINED19:
        return [outline]
    half = line_half(rng, name)
    return [offset(outline, half), offset(outline, -half)[::-1]]


def render_sealed19_scene(rng: np.random.Generator, size: int) -> SealedScene:
    """One picture; the first draws are the label, the surface and the size band, in that order."""
    label, surface, (band, low, high) = first_draws(rng, SURFACES19, EVERY_BAND)
    wire = band in _WIRE_BANDS  # the wire, last of the styles, only where it is readable
    style = STYLES19[int(rng.integers(len(STYLES19) if wire else len(STYLES19) - 1))]
    camera, side = _camera(rng), _NATIVE
    shape = _laid_shape(rng, SHAPE_CLASSES[label], style)
    extent = rng.uniform(low, high) * side
    goal = rng.uniform(_MARGIN * side + extent / 2, side - _MARGIN * side - extent / 2, 2)
    cover, _ = placed_cover(camera, shape, goal, extent, side)
    middles = np.stack(np.meshgrid(np.arange(side) + 0.5, np.arange(side) + 0.5), axis=-1).reshape(-1, 2)
    board = to_ground(camera, middles, side)
    colours = ground(rng, surface, board[:, 0], board[:, 1])
    bare = (cv2.dilate((cover > 0.02).astype(np.uint8), np.ones((15, 15), np.uint8)) > 0) & (cover < 0.02)
    drawn = material(rng, style, ink(rng, colours[bare.ravel()]), board)
    share = cover.reshape(-1, 1)
    picture = (drawn * share + colours * (1 - share)).reshape(side, side, 3)
    seen = area_resize(cover.astype(np.float32), size) if size != side else cover
    return SealedScene(through_glass(rng, picture, size), seen >= 0.5, label, surface, band, style)


class ShapesSealed19Dataset(ShapesSealedDataset):
    """The nineteenth sealed set, deterministic per index; evaluation only, and run once per trained model."""

    SALT, SURFACE_KINDS, BANDS = _SALT, SURFACES19, EVERY_BAND

    def render(self, rng: np.random.Generator, size: int) -> Any:
        return render_sealed19_scene(rng, size)
