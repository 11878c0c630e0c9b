"""The eighteenth sealed renderer: objects contoured by marching squares on their signed distance, shot on 35 mm film.

Each class is one closed loop (a circle of 192 sides, a star ten corners, a cross twelve) laid on the ground, seen
through the camera and measured in the frame by its signed distance: the distance from every pixel corner to the
nearest edge of the seen loop, negative where a ray from the corner crosses the loop an odd number of times. A ring is
a band round a circle (the distance's magnitude less half the band), and so is a rope laid along any outline. The
cover of each pixel is the area of the marching-squares polygon in it: the four corners' values, the outline crossing
each edge where the values interpolated along it reach nought, and a cell whose corners alternate decided by their
mean (joined when it is inside, two corners apart when not); no point is tested inside or out. The same distance
shapes the objects: glazed ceramic rounded at its rim with a glint and crackle, brushed metal with its streaks and
a bright chamfer, velvet whose pile catches the light at its edge, and a twisted rope laid along the outline (a
circle's rope at most a tenth of its radius, a ring a band of rope). The ground has features as large as the shapes:
lichen on rock, woodchips, a bamboo mat, a tabby cat's fur, a chain-link fence and pine needles. The camera is a
35 mm film camera, its frame scanned: held a little turned and tilted (a keystone), a soft lens, its vignette,
halation round the highlights, film grain strongest in the mid-tones, the dyes aged into a colour cast with lifted
blacks, the scanner's dust, hair and scratches along the strip, an area resize and a JPEG. Nothing in the training
generator was, or may be, tuned on its pictures: its figure in the model card is the result of one run after
training.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from .shapes_camera import EVERY_BAND
from .shapes_scene import SHAPE_CLASSES
from .shapes_sealed import SealedScene, ShapesSealedDataset, first_draws
from .shapes_sealed17 import homography, ink, line_half, loops

SURFACES18: tuple[str, ...] = (
    "lichen on rock",
    "woodchips",
    "bamboo mat",
    "tabby fur",
    "chain-link fence",
    "pine needles",
)
STYLES18: tuple[str, ...] = ("glazed ceramic", "brushed metal", "velvet", "rope")
OUTLINED18 = "rope"
_LINE_BANDS = ("40-60%", "60-75%")  # a rope is readable at 64 px only on a shape this large
_NATIVE = 192  # the frame's side in pixels before the scan's resize
_SALT = 180_181
_LUMA = np.array([0.299, 0.587, 0.114])
_RING_HOLE = (0.5, 0.58)  # a ring's hole, as a share of its outer radius
_MARGIN = 0.06  # the object's box stays this share of the frame's side inside each edge
_CHUNK = 2048  # points measured against every edge at once


def to_frame(camera: dict[str, float], ground: np.ndarray, side: int = _NATIVE) -> np.ndarray:
    """Ground points (n, 2) to the frame through the camera's homography."""
    seen = np.c_[ground, np.ones(len(ground))] @ homography(camera, side).T
    return seen[:, :2] / seen[:, 2:]


def to_ground(camera: dict[str, float], frame: np.ndarray, side: int = _NATIVE) -> np.ndarray:
    """Frame points (n, 2) back to the ground: the homography inverted."""
    seen = np.c_[frame, np.ones(len(frame))] @ np.linalg.inv(homography(camera, side)).T
    return seen[:, :2] / seen[:, 2:]


def _camera(rng: np.random.Generator) -> dict[str, float]:
    """The photographer's hold: the film plane tilted a little off the ground's (a keystone), towards a random side,
    and the frame turned a few degrees off level."""
    return {
        "pitch": math.radians(rng.uniform(2, 9)),
        "lean": rng.uniform(0, 2 * math.pi),
        "heading": math.radians(rng.uniform(-7, 7)),
    }


def signed_distance(frame_loops: list[np.ndarray], points: np.ndarray) -> np.ndarray:
    """Each point's distance to the nearest edge of the loops, negative inside them (an odd number of the loops'
    edges crossed by a ray from the point towards +x)."""
    starts = np.concatenate(frame_loops)
    ends = np.concatenate([np.roll(loop, -1, axis=0) for loop in frame_loops])
    edge = ends - starts
    length2 = np.maximum((edge**2).sum(axis=1), 1e-12)
    out = np.empty(len(points))
    for first in range(0, len(points), _CHUNK):
        p = points[first : first + _CHUNK, None, :]
        rel = p - starts[None]
        t = np.clip((rel * edge[None]).sum(axis=2) / length2, 0.0, 1.0)
        gap2 = ((rel - t[..., None] * edge[None]) ** 2).sum(axis=2).min(axis=1)
        py, px = p[..., 1], p[..., 0]
        straddle = (starts[None, :, 1] > py) != (ends[None, :, 1] > py)
        dy = np.where(straddle, edge[None, :, 1], 1.0)
        meet = starts[None, :, 0] + (py - starts[None, :, 1]) * edge[None, :, 0] / dy
        inside = (straddle & (px < meet)).sum(axis=1) % 2 == 1
        out[first : first + _CHUNK] = np.where(inside, -1.0, 1.0) * np.sqrt(gap2)
    return out


def _corner_triangles(values: list[np.ndarray], crossing: list[np.ndarray]) -> np.ndarray:
    """The sum over a cell's four corners of the triangle its two edges' crossings cut off it."""
    return sum(0.5 * crossing[k] * (1 - crossing[k - 1]) for k in range(4))


def marching_cover(field: np.ndarray) -> np.ndarray:
    """Each cell's share where the field is below nought, from the values at its corners (``field`` is the lattice of
    pixel corners, (h + 1, w + 1); the answer (h, w)): the area of the marching-squares polygon, the corners inside
    and the points where the field interpolated along an edge crosses nought, taken round the cell; a cell whose
    corners alternate is one piece when their mean is inside and two corners apart when it is not."""
    values = [field[:-1, :-1], field[:-1, 1:], field[1:, 1:], field[1:, :-1]]  # round the cell, (0,0) to (0,1)
    corners = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))
    xs, ys, keep, crossing = [], [], [], []
    for k in range(4):
        a, b = values[k], values[(k + 1) % 4]
        (ax, ay), (bx, by) = corners[k], corners[(k + 1) % 4]
        cuts = (a < 0) != (b < 0)
        t = np.where(cuts, a / np.where(cuts, a - b, 1.0), 0.0)
        crossing.append(t)
        xs += [np.full(a.shape, ax), ax + t * (bx - ax)]
        ys += [np.full(a.shape, ay), ay + t * (by - ay)]
        keep += [a < 0, cuts]
    px, py, kept = np.stack(xs), np.stack(ys), np.stack(keep)
    last = 7 - np.argmax(kept[::-1], axis=0)  # the last vertex kept stands in for those before the first
    px[0] = np.where(kept[0], px[0], np.take_along_axis(px, last[None], 0)[0])
    py[0] = np.where(kept[0], py[0], np.take_along_axis(py, last[None], 0)[0])
    for i in range(1, 8):  # a vertex not kept repeats the one before it: an edge of no length
        px[i] = np.where(kept[i], px[i], px[i - 1])
        py[i] = np.where(kept[i], py[i], py[i - 1])
    area = 0.5 * (px * np.roll(py, -1, axis=0) - np.roll(px, -1, axis=0) * py).sum(axis=0)
    alternate = (values[0] < 0) == (values[2] < 0)
    alternate &= (values[1] < 0) == (values[3] < 0)
    alternate &= (values[0] < 0) != (values[1] < 0)
    apart = alternate & (sum(values) >= 0)
    area = np.where(apart, area - (1 - _corner_triangles(values, crossing)), area)
    return np.clip(area, 0.0, 1.0)


def _window(frame_loops: list[np.ndarray], reach: float, side: int) -> tuple[int, int, int, int]:
    """The pixel corners (x0, y0, x1, y1) round the loops and ``reach`` px more, within the frame."""
    every = np.concatenate(frame_loops)
    low = np.floor(every.min(axis=0) - reach - 2).astype(int)
    high = np.ceil(every.max(axis=0) + reach + 2).astype(int)
    return max(low[0], 0), max(low[1], 0), min(high[0], side), min(high[1], side)


def object_field(frame_loops: list[np.ndarray], band: float, side: int) -> tuple[np.ndarray, np.ndarray, tuple]:
    """The object's field at the pixel corners of a window round it (negative inside) and the loops' own signed
    distance there: the loops' distance itself, or its magnitude less ``band`` px for a band along them."""
    x0, y0, x1, y1 = _window(frame_loops, band, side)
    cols, rows = np.meshgrid(np.arange(x0, x1 + 1, dtype=float), np.arange(y0, y1 + 1, dtype=float))
    outline = signed_distance(frame_loops, np.c_[cols.ravel(), rows.ravel()]).reshape(cols.shape)
    field = np.abs(outline) - band if band > 0 else outline
    return field, outline, (x0, y0, x1, y1)


def lay(
    camera: dict[str, float], shape: list[np.ndarray], goal: np.ndarray, extent: float, side: int = _NATIVE
) -> list[np.ndarray]:
    """The loops laid on the ground under ``goal`` at about ``extent`` px, seen through the camera, then moved and
    scaled in the frame so that their box's longer side is ``extent`` and its middle is at ``goal``."""
    rough = extent / float(np.ptp(np.concatenate(shape), axis=0).max())
    under = to_ground(camera, goal[None], side)[0]
    seen = [to_frame(camera, under + rough * loop, side) for loop in shape]
    every = np.concatenate(seen)
    low, high = every.min(axis=0), every.max(axis=0)
    zoom = extent / float((high - low).max())
    return [goal + zoom * (loop - (low + high) / 2) for loop in seen]


def _box_side(cover: np.ndarray) -> int:
    """The longer side of the box round a cover's half-covered pixels."""
    ys, xs = np.nonzero(cover >= 0.5)
    return int(max(np.ptp(xs), np.ptp(ys))) + 1


def placed_cover(
    camera: dict[str, float], shape: list[np.ndarray], band: float, goal: np.ndarray, extent: float, side: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The object laid with its mask's box ``extent`` px long: the frame's cover, the field and the loops' distance
    at the corners of its window (at the frame's top left corner when the window starts there), and the band in px.
    ``band`` is in the loops' units; a shape whose mask misses (a star's points cover under half a pixel) is laid out
    again larger by what it missed."""
    unit = float(np.ptp(np.concatenate(shape), axis=0).max())
    wanted = extent * unit / (unit + 2 * band)
    for attempt in range(2):
        frame_loops = lay(camera, shape, goal, wanted, side)
        band_px = band * wanted / unit
        field, outline, (x0, y0, x1, y1) = object_field(frame_loops, band_px, side)
        cover = np.zeros((side, side))
        cover[y0:y1, x0:x1] = marching_cover(field)
        miss = extent - _box_side(cover)
        if attempt or abs(miss) <= 0.5:
            break
        wanted += miss * unit / (unit + 2 * band)
    full_field = np.full((side + 1, side + 1), np.inf)
    full_field[y0 : y1 + 1, x0 : x1 + 1] = field
    full_outline = np.full((side + 1, side + 1), np.inf)
    full_outline[y0 : y1 + 1, x0 : x1 + 1] = outline
    return cover, full_field, full_outline, band_px


def _hash(ix: np.ndarray, iy: np.ndarray, salt: int) -> np.ndarray:
    """A number in [0, 1) for each integer cell, the same for the same cell and salt."""
    h = (ix.astype(np.int64) * 0x27D4EB2D + iy.astype(np.int64) * 0x165667B1 + np.int64(salt)) & 0xFFFFFFFF
    h = ((h ^ (h >> 15)) * 0x2C1B3C6D) & 0xFFFFFFFF
    h = ((h ^ (h >> 12)) * 0x297A2D39) & 0xFFFFFFFF
    return ((h ^ (h >> 15)) & 0xFFFFFFFF).astype(np.float64) / 2.0**32


def noise(x: np.ndarray, y: np.ndarray, scale: float, salt: int) -> np.ndarray:
    """Smooth value noise in [0, 1] with features about ``scale`` px: hashed lattice values, eased between."""
    u, v = np.asarray(x, float) / scale, np.asarray(y, float) / scale
    i, j = np.floor(u), np.floor(v)
    fu, fv = u - i, v - j
    su, sv = fu * fu * (3 - 2 * fu), fv * fv * (3 - 2 * fv)
    top = _hash(i, j, salt) * (1 - su) + _hash(i + 1, j, salt) * su
    bottom = _hash(i, j + 1, salt) * (1 - su) + _hash(i + 1, j + 1, salt) * su
    return top * (1 - sv) + bottom * sv


def _fbm(x: np.ndarray, y: np.ndarray, scale: float, salt: int, octaves: int = 3) -> np.ndarray:
    """Value noise summed over octaves, each half the last's scale and weight, kept in [0, 1]."""
    weights = 0.5 ** np.arange(octaves)
    total = sum(w * noise(x, y, scale * w, salt + k) for k, w in enumerate(weights))
    return total / weights.sum()


def _along(x: np.ndarray, y: np.ndarray, turn: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates turned by ``turn`` (one or one a point): along a direction and across it."""
    c, s = np.cos(turn), np.sin(turn)
    return x * c + y * s, -x * s + y * c


def sticks(
    x: np.ndarray,
    y: np.ndarray,
    cell: float,
    length: tuple[float, float],
    width: tuple[float, float],
    salt: int,
    reach: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sticks strewn one to a cell of ``cell`` px, each at a random spot in its cell, turn, length and width, each
    tapering to its ends: for each point the top stick's number in [0, 1) (-1 where the ground is bare), and where the
    point lies along it and across it (-1 to 1). The sticks of cells ``reach`` cells off are asked; by default
    those whose half length can reach the point's cell, the furthest that can."""
    top, along, across = np.full(len(x), -1.0), np.zeros(len(x)), np.zeros(len(x))
    ci, cj = np.floor(x / cell), np.floor(y / cell)
    reach = int(math.ceil(length[1] / 2 / cell)) if reach is None else reach
    for di in range(-reach, reach + 1):
        for dj in range(-reach, reach + 1):
            i, j = ci + di, cj + dj
            cx, cy = (i + _hash(i, j, salt)) * cell, (j + _hash(i, j, salt + 1)) * cell
            u, v = _along(x - cx, y - cy, _hash(i, j, salt + 2) * math.pi)
            half = (length[0] + (length[1] - length[0]) * _hash(i, j, salt + 3)) / 2
            thick = (width[0] + (width[1] - width[0]) * _hash(i, j, salt + 4)) / 2
            s, t = u / half, v / (thick * np.sqrt(np.clip(1 - (u / half) ** 4, 0, 1)) + 1e-9)
            z = _hash(i, j, salt + 5)
            better = (np.abs(s) < 1) & (np.abs(t) < 1) & (z > top)
            top, along, across = np.where(better, z, top), np.where(better, s, along), np.where(better, t, across)
    return top, along, across


def _mix(palette: np.ndarray, share: np.ndarray) -> np.ndarray:
    """Colours (n, 3) picked from the palette's rows by ``share`` in [0, 1)."""
    return palette[np.minimum((share * len(palette)).astype(int), len(palette) - 1)]


def ground(rng: np.random.Generator, kind: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The ground's colour (n, 3) at ground points, its features as large as the shapes, within 0-255."""
    return np.clip(_ground(rng, kind, x, y), 0, 255)


def _ground(rng: np.random.Generator, kind: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The ground's colour (n, 3) by its kind, before it is kept within 0-255."""
    salt = int(rng.integers(1 << 28))
    speck = _hash(np.floor(x * 1.4), np.floor(y * 1.4), salt + 99) - 0.5
    shade = 1 + rng.uniform(0.2, 0.4) * (_fbm(x, y, 70, salt + 90) - 0.5)  # light through leaves, damp patches
    if kind == "lichen on rock":
        rock = rng.uniform(95, 150) * (1 + rng.uniform(-0.06, 0.06, 3))
        level = 1 + 0.45 * (_fbm(x, y, 45, salt) - 0.5) + 0.15 * speck
        colour = rock * level[:, None]
        crack = np.abs(noise(x, y, 70, salt + 3) - 0.5) < 0.012
        colour = np.where(crack[:, None], colour * 0.4, colour)
        patch = _fbm(x, y, 24, salt + 4)
        edge = rng.uniform(0.56, 0.62)
        lichens = np.array([[175.0, 185, 140], [225, 145, 55], [205, 195, 85], [150, 165, 150]])
        tint = _mix(lichens[rng.permutation(4)[:2]], noise(x, y, 60, salt + 5))
        growth = tint * (0.85 + 0.3 * noise(x, y, 2.0, salt + 6))[:, None]
        growth = np.where((patch < edge + 0.025)[:, None], np.minimum(growth * 1.15, 255.0), growth)
        colour = np.where((patch > edge)[:, None], growth, colour)
    elif kind == "woodchips":
        soil = np.array([58.0, 44, 32]) * (1 + 0.3 * speck)[:, None]
        top, along, across = sticks(x, y, 10.0, (12.0, 30.0), (5.0, 11.0), salt)
        woods = np.array([[210.0, 170, 120], [150, 115, 80], [125, 118, 105], [180, 110, 75], [195, 150, 95]])
        wood = _mix(woods, _hash(np.floor(top * 1e6), np.zeros_like(top), salt + 7))
        grain = 1 + 0.1 * np.sin(across * 5 + top * 40) - 0.25 * np.abs(across) ** 4 - 0.15 * np.abs(along) ** 6
        colour = np.where((top >= 0)[:, None], wood * grain[:, None], soil)
    elif kind == "bamboo mat":
        u, v = _along(x, y, rng.uniform(0, math.pi))
        w = rng.uniform(8, 13)
        i, j = np.floor(u / w), np.floor(v / w)
        flat = ((i - j) // 2) % 2 == 0  # a twill: each strip over two, under two
        strip, cross_at, run = np.where(flat, j, i), np.where(flat, v / w - j, u / w - i), np.where(flat, u, v)
        straw = np.array([205.0, 175, 115]) * rng.uniform(0.75, 1.1)
        tone = 1 + 0.45 * (_hash(strip, flat.astype(float), salt + 8) - 0.5)
        rounded = 0.78 + 0.3 * np.sin(math.pi * cross_at)
        fibre = 1 + 0.08 * (_hash(np.floor(cross_at * w * 1.5), strip, salt + 9) - 0.5)
        spacing = rng.uniform(45, 75)
        node = np.abs((run + _hash(strip, strip, salt + 10) * spacing) % spacing - spacing / 2) < 1.2
        level = tone * rounded * fibre * np.where(node, 0.7, 1.0)
        gap = (cross_at < 0.07) | (cross_at > 0.93)
        colour = np.where(gap[:, None], np.array([50.0, 38, 25]), straw * level[:, None])
    elif kind == "tabby fur":
        coats = np.array(
            [[[215.0, 140, 70], [140, 75, 35]], [[170, 140, 105], [85, 65, 45]], [[175, 172, 168], [90, 90, 96]]]
        )
        light, dark = coats[int(rng.integers(3))]
        u, v = _along(x, y, rng.uniform(0, math.pi))
        warp = 26 * (_fbm(x, y, 60, salt + 11) - 0.5)
        period = rng.uniform(26, 40)
        stripe = np.clip((0.5 + 0.5 * np.sin(2 * math.pi * (v + warp) / period) - 0.55) * 3, 0, 1)
        hair = noise(u / 9, v / 0.8, 1.0, salt + 12)
        colour = (light * (1 - stripe[:, None]) + dark * stripe[:, None]) * (0.82 + 0.36 * hair)[:, None]
    elif kind == "chain-link fence":
        leaves = np.array([[40.0, 70, 35], [90, 120, 60], [150, 170, 120], [120, 115, 105]])
        behind = _mix(leaves[rng.permutation(4)[:3]], _fbm(x, y, 40, salt + 13, 2))
        colour = behind * (0.9 + 0.2 * noise(x, y, 12, salt + 14))[:, None]
        u, v = _along(x, y, rng.uniform(0, math.pi / 2))
        pitch = rng.uniform(14, 22)
        a, b = (u + v) / math.sqrt(2) / pitch, (u - v) / math.sqrt(2) / pitch
        gap = np.minimum(np.abs(a - np.round(a)), np.abs(b - np.round(b))) * pitch
        wire = np.array([185.0, 190, 195]) * (0.85 + 0.3 * noise(x, y, 5, salt + 15))[:, None]
        colour = np.where((gap < 1.1)[:, None], wire * (1 - 0.3 * gap / 1.1)[:, None], colour)
    else:  # pine needles, fallen on dark soil
        soil = np.array([62.0, 46, 32]) * (1 + 0.3 * speck)[:, None]
        top, _, across = sticks(x, y, 6.0, (24.0, 44.0), (1.4, 2.6), salt)
        needles = np.array([[170.0, 90, 40], [195, 150, 95], [120, 95, 70], [110, 118, 60], [150, 70, 35]])
        needle = _mix(needles, _hash(np.floor(top * 1e6), np.ones_like(top), salt + 16))
        colour = np.where((top >= 0)[:, None], needle * (1 - 0.35 * across**2)[:, None], soil)
    return colour * shade[:, None]


def material(
    rng: np.random.Generator,
    style: str,
    colour: np.ndarray,
    depth: np.ndarray,
    normal: np.ndarray,
    spots: np.ndarray,
    rope: np.ndarray,
) -> np.ndarray:
    """The object's colour (n, 3) by what it is made of, near ``colour`` in grey: ``depth`` is how far inside its
    edge each point lies (px), ``normal`` the edge's outward direction there (n, 2), ``spots`` where it lies on the
    ground, and ``rope`` (n, 2) its place across a rope (-1 to 1) and along it (px)."""
    salt = int(rng.integers(1 << 28))
    x, y = spots[:, 0], spots[:, 1]
    fuzz = _hash(np.floor(x * 1.5), np.floor(y * 1.5), salt) - 0.5
    if style == "glazed ceramic":
        rim = rng.uniform(2.5, 5.0)
        inside = np.clip(depth / rim, 0, 1)
        slope = np.minimum((1 - inside) / np.sqrt(np.maximum(1 - (1 - inside) ** 2, 1e-3)), 3.0)
        surface = np.c_[normal * slope[:, None], np.ones(len(x))]
        surface /= np.linalg.norm(surface, axis=1, keepdims=True)
        turn, rise = rng.uniform(0, 2 * math.pi), math.radians(rng.uniform(40, 60))
        light = np.array([math.cos(turn) * math.cos(rise), math.sin(turn) * math.cos(rise), math.sin(rise)])
        halfway = (light + np.array([0.0, 0.0, 1.0])) / np.linalg.norm(light + np.array([0.0, 0.0, 1.0]))
        diffuse = np.clip(surface @ light, 0, 1)
        glint = np.clip(surface @ halfway, 0, 1) ** 60
        crackle = np.abs(noise(x, y, 9, salt + 1) - noise(x, y, 9, salt + 2)) < 0.02
        level = (0.45 + 0.6 * diffuse) * np.where(crackle, 0.88, 1.0)
        return np.clip(colour * level[:, None] + 200 * glint[:, None], 0, 255)
    if style == "brushed metal":
        metal = 0.45 * colour + 0.55 * float(colour @ _LUMA)
        u, v = _along(x, y, rng.uniform(0, math.pi))
        streak = noise(u / 14, v / 0.5, 1.0, salt + 3) - 0.5
        sheen = np.cos(2 * math.pi * v / rng.uniform(50, 90) + rng.uniform(0, 6))
        level = 1 + 0.2 * streak + 0.1 * sheen + np.where(depth < 1.4, 0.3, 0.0)
        return np.clip(metal * level[:, None], 0, 255)
    if style == "velvet":
        pile = 0.82 + 0.38 * np.exp(-depth / rng.uniform(2.0, 4.0))
        crushed = 0.12 * (_fbm(x, y, 14, salt + 4, 2) - 0.5)
        return np.clip(colour * (pile + crushed + 0.08 * fuzz)[:, None], 0, 255)
    if style == OUTLINED18:
        across, run = rope[:, 0], rope[:, 1]
        phase = run / rng.uniform(3.0, 4.5) - 0.8 * across
        strands = 0.55 + 0.5 * np.abs(np.sin(math.pi * phase)) ** 0.6
        level = strands * (1 - 0.2 * across**2) + 0.08 * fuzz
        return np.clip(colour * level[:, None], 0, 255)
    raise ValueError(f"no style {style!r}")


def vignette(side: int, strength: float) -> np.ndarray:
    """The lens's falloff over the frame by the cosine-fourth law, the corners ``strength`` darker than the middle."""
    rows, cols = np.mgrid[0:side, 0:side] + 0.5
    far = np.hypot(cols - side / 2, rows - side / 2)
    focal = (side / math.sqrt(2)) / math.tan(math.acos((1 - strength) ** 0.25))
    return np.cos(np.arctan(far / focal)) ** 4


def halation(picture: np.ndarray, strength: float, radius: float) -> np.ndarray:
    """Light through the film scattered back from its base: a red-orange glow spread ``radius`` px round the
    highlights, ``strength`` of their excess over grey 180."""
    bright = np.clip((picture @ _LUMA - 180) / 75, 0, 1).astype(np.float32)
    glow = cv2.GaussianBlur(bright, (0, 0), radius).astype(np.float64)
    return picture + strength * 255 * glow[..., None] * np.array([1.0, 0.35, 0.08])


def grain(rng: np.random.Generator, picture: np.ndarray, amount: float) -> np.ndarray:
    """The film's grain: clumped noise of ``amount`` grey levels at mid-grey, fading towards black and white, its
    channels mostly moving together."""
    side_y, side_x = picture.shape[:2]
    raw = rng.standard_normal((side_y, side_x, 4)).astype(np.float32)
    clumps = cv2.GaussianBlur(raw, (0, 0), 0.6) / 0.45
    together = 0.8 * clumps[..., :1] + 0.45 * clumps[..., 1:]
    level = np.clip(picture / 255, 0, 1)
    return picture + amount * 4 * level * (1 - level) * together


def age(picture: np.ndarray, lift: np.ndarray, top: np.ndarray, curve: float) -> np.ndarray:
    """Dyes aged in the album: an S-shaped contrast of ``curve`` (0 to under 1, never reversing), then each channel's
    black lifted to ``lift`` and its white faded to ``top``, so a cast creeps into the whole picture."""
    level = np.clip(picture / 255, 0, 1)
    level = level - curve * np.sin(2 * math.pi * level) / (2 * math.pi)
    return lift + (top - lift) * level


def dust_and_scratches(rng: np.random.Generator, picture: np.ndarray) -> np.ndarray:
    """The scanner's dust: a few specks and maybe a hair, white (dust on a negative) or dark (on a slide), and
    scratches along the strip (down the frame), faint and a pixel wide."""
    side = picture.shape[0]
    marks = np.zeros(picture.shape[:2], np.float32)
    for _ in range(int(rng.integers(3, 12))):
        spot = rng.uniform(0, side, 2) * 16
        cv2.circle(marks, tuple(int(c) for c in spot), int(rng.uniform(0.4, 1.5) * 16), 1.0, -1, cv2.LINE_AA, 4)
    if rng.random() < 0.5:
        turns = np.cumsum(rng.normal(0, 0.35, 30)) + rng.uniform(0, 2 * math.pi)
        hair = rng.uniform(0, side, 2) + np.cumsum(np.c_[np.cos(turns), np.sin(turns)] * 1.2, axis=0)
        cv2.polylines(marks, [np.round(hair * 16).astype(np.int32)], False, 0.8, 1, cv2.LINE_AA, 4)
    for _ in range(int(rng.integers(0, 3))):
        x = rng.uniform(0, side)
        drift = x + np.cumsum(rng.normal(0, 0.05, side + 1))
        line = np.c_[drift, np.arange(side + 1)] * 16
        cv2.polylines(marks, [np.round(line).astype(np.int32)], False, rng.uniform(0.2, 0.45), 1, cv2.LINE_AA, 4)
    level = 245.0 if rng.random() < 0.5 else 15.0
    share = np.clip(marks, 0, 1)[..., None].astype(np.float64)
    return picture * (1 - share) + level * share


def jpeg(picture: np.ndarray, quality: int) -> np.ndarray:
    """The scan saved as a JPEG at ``quality`` and opened again."""
    pixels = np.clip(picture + 0.5, 0, 255).astype(np.uint8)
    ok, data = cv2.imencode(".jpg", pixels[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1].copy()


def shoot(rng: np.random.Generator, picture: np.ndarray, size: int) -> np.ndarray:
    """The frame as the film records it and the scanner reads it: a soft lens, the vignette, halation, grain, the
    dyes aged, the scanner's dust and scratches, the resize to ``size`` and a JPEG."""
    side = picture.shape[0]
    seen = cv2.GaussianBlur(picture.astype(np.float32), (0, 0), rng.uniform(0.35, 0.8)).astype(np.float64)
    seen = seen * vignette(side, rng.uniform(0.12, 0.3))[..., None]
    seen = halation(seen, rng.uniform(0.1, 0.25), rng.uniform(3, 7))
    seen = grain(rng, seen, rng.uniform(4, 9))
    cast = rng.uniform(-1, 1, 3) * np.array([8.0, 5.0, 8.0])
    seen = age(seen, rng.uniform(6, 22) + cast, rng.uniform(225, 250) + 1.5 * cast, rng.uniform(0.1, 0.5))
    seen = dust_and_scratches(rng, seen)
    if size != side:
        seen = area_resize(seen.astype(np.float32), size).astype(np.float64)
    return jpeg(seen, int(rng.integers(60, 93)))


def area_resize(picture: np.ndarray, size: int) -> np.ndarray:
    """A scanner's or a phone's resampling to ``size`` px: an area mean when it shrinks, bilinear when it enlarges."""
    shrink = cv2.INTER_AREA if size < picture.shape[0] else cv2.INTER_LINEAR
    return cv2.resize(picture, (size, size), interpolation=shrink)


def _rope_places(outline: np.ndarray, band_px: float, goal: np.ndarray, extent: float) -> np.ndarray:
    """Each pixel's place across a band (the loops' distance over its half width, -1 to 1) and along it (its turn
    round the object's middle times half the extent, in px)."""
    middle = (outline[:-1, :-1] + outline[:-1, 1:] + outline[1:, :-1] + outline[1:, 1:]) / 4
    rows, cols = np.mgrid[0 : middle.shape[0], 0 : middle.shape[1]] + 0.5
    across = np.clip(middle / max(band_px, 1e-6), -1, 1)
    run = np.arctan2(rows - goal[1], cols - goal[0]) * extent / 2
    return np.c_[across.ravel(), run.ravel()]


def render_sealed18_scene(rng: np.random.Generator, size: int) -> SealedScene:
    """One picture; the first draws are the label, the surface and the size band, in that order."""
    label, surface, (band, low, high) = first_draws(rng, SURFACES18, EVERY_BAND)
    styles = STYLES18 if band in _LINE_BANDS else STYLES18[:-1]  # the rope, last, only where it is readable
    style, name, side = styles[int(rng.integers(len(styles)))], SHAPE_CLASSES[label], _NATIVE
    camera = _camera(rng)
    turn = rng.uniform(0, 2 * math.pi)
    spin = np.array([[math.cos(turn), math.sin(turn)], [-math.sin(turn), math.cos(turn)]])
    if name == "ring":  # a band round the circle midway between the hole and the rim
        hole = rng.uniform(*_RING_HOLE)
        shape, half = [loops("circle")[0] * (1 + hole) / 2], (1 - hole) / 2
    else:
        shape = [loops(name)[0] @ spin]
        half = line_half(rng, name) if style == OUTLINED18 else 0.0
    extent = rng.uniform(low, high) * side
    goal = rng.uniform(_MARGIN * side + extent / 2, side - _MARGIN * side - extent / 2, 2)
    cover, field, outline, band_px = placed_cover(camera, shape, half, goal, extent, side)
    rows, cols = np.mgrid[0:side, 0:side] + 0.5
    spots = to_ground(camera, np.c_[cols.ravel(), rows.ravel()], side)
    colours = ground(rng, surface, spots[:, 0], spots[:, 1])
    near = cv2.dilate((cover > 0.02).astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    colour = ink(rng, colours[(near & (cover < 0.02)).ravel()])
    inside = np.where(np.isfinite(field), -field, -1e3)
    depth = (inside[:-1, :-1] + inside[:-1, 1:] + inside[1:, :-1] + inside[1:, 1:]) / 4
    gy, gx = np.gradient(depth)
    normal = -np.c_[gx.ravel(), gy.ravel()] / np.maximum(np.hypot(gx, gy).ravel(), 1e-9)[:, None]
    rope = _rope_places(np.where(np.isfinite(outline), outline, 0.0), band_px, goal, extent)
    drawn = material(rng, style, colour, depth.ravel(), normal, spots, rope)
    share = cover.reshape(-1, 1)
    picture = (colours * (1 - share) + drawn * share).reshape(side, side, 3)
    scanned = cover if size == side else area_resize(cover.astype(np.float32), size)
    return SealedScene(shoot(rng, picture, size), scanned >= 0.5, label, surface, band, style)


class ShapesSealed18Dataset(ShapesSealedDataset):
    """The eighteenth sealed set, deterministic per index; evaluation only, and run once per trained model."""

    SALT, SURFACE_KINDS, BANDS = _SALT, SURFACES18, EVERY_BAND

    def render(self, rng: np.random.Generator, size: int) -> Any:
        return render_sealed18_scene(rng, size)
