"""The thirteenth sealed renderer: real objects cut to each class's exact signed distance, seen by a webcam.

Each class is a signed distance in closed form (a disc, a band round a circle, a box, an equilateral triangle, a
five-pointed star folded onto one tenth of itself, a cross folded onto one eighth), exact inside and outside; its
corners are rounded by the opening with a disc (every disc of the rounding that fits inside). Coverage is the sign at
sixteen jittered samples a pixel (one random point in each cell of a 4 x 4 grid, fresh for every pixel), and the
same distance makes the object a thing lying on a surface: its level sets give a sticker's white die-cut border and
an icing's inset, its gradient a bevel lit from one side. The styles are a glossy vinyl sticker with a white border,
a felt cut-out with fuzzy edges, a painted wooden toy block (beveled, its side face showing, a hard shadow), an iced
biscuit browned at its rim, and an embroidered patch (satin stitches one way inside a twisted border). The surfaces
are where such objects lie, most with features as large as the shapes: a tartan blanket, a tiled kitchen floor, a
wooden table of planks, a rug of lozenges, a corduroy sofa cushion and a tray of pencils, crayons, bananas and
leaves. The camera is a webcam looking down at an angle: one ``cv2.remap`` for its view and a radial barrel lens, a
touch of motion blur, an area resize, a vignette, white balance left in a colour cast, low light with noise and
colour blotches in the shadows, and a 4:2:0 JPEG. Nothing in the training generator was, or may be, tuned on its
pictures: its figure in the model card is the result of one run after training.
"""

from __future__ import annotations

import colorsys
import math
from typing import Any, NamedTuple

import cv2
import numpy as np

from .shapes_camera import EVERY_BAND
from .shapes_scene import SHAPE_CLASSES
from .shapes_sealed import SealedScene, ShapesSealedDataset, first_draws

SURFACES13: tuple[str, ...] = ("tartan blanket", "kitchen tiles", "wooden table", "rug", "sofa cushion", "tray")
STYLES13: tuple[str, ...] = ("sticker", "felt", "wooden block", "biscuit", "patch")
_NATIVE = 192  # the scene's and the frame's side in pixels before the resize
_SALT = 130_363
_LUMA = np.array([0.299, 0.587, 0.114])
_RING_HOLE = 0.56  # a ring's hole, as a share of its outer radius
_STAR_INNER = 0.45  # a star's inner corners, as a share of its points' radius
_ARM = 0.33  # half a cross's bar, as a share of its half length
# how far a star's sides lie from its middle, per unit of its points' radius
_STAR_SIDE = math.sin(0.2 * math.pi) / math.hypot(math.sin(0.2 * math.pi), 1 / _STAR_INNER - math.cos(0.2 * math.pi))
_STRATA = 4  # jittered samples per pixel along each axis
_MARGIN = 0.07  # the object's box stays this share of the frame's side inside each edge
_ROUNDING = {"sticker": 0.05, "felt": 0.02, "wooden block": 0.05, "biscuit": 0.08, "patch": 0.05}  # most, in units


def _triangle(x: np.ndarray, y: np.ndarray, radius: float) -> np.ndarray:
    """An equilateral triangle's distance, its corners ``radius`` from its middle and one straight up (-y)."""
    k, half = math.sqrt(3.0), radius * math.sqrt(3.0) / 2  # half a side
    px, py = np.abs(x) - half, -y + half / k
    fold = px + k * py > 0  # the point is nearer the slanted side: reflect it onto the base's side
    px, py = np.where(fold, (px - k * py) / 2, px), np.where(fold, (-k * px - py) / 2, py)
    px = px - np.clip(px, -2 * half, 0)
    return -np.hypot(px, py) * np.sign(py)


def _star(x: np.ndarray, y: np.ndarray, radius: float, inner: float) -> np.ndarray:
    """A five-pointed star's distance, one point straight up: the plane folded onto one tenth, then one edge."""
    c, s = math.cos(math.pi / 5), math.sin(math.pi / 5)
    px, py = np.abs(x), -y
    for kx, ky in ((c, -s), (-c, -s)):  # the two mirrors that bring every point into the top point's wedge
        dot = np.maximum(kx * px + ky * py, 0)
        px, py = px - 2 * dot * kx, py - 2 * dot * ky
    px, py = np.abs(px), py - radius
    bx, by = inner * s, inner * c - 1  # from the point to the inner corner, per unit of radius
    h = np.clip((px * bx + py * by) / (bx * bx + by * by), 0, radius)
    return np.hypot(px - bx * h, py - by * h) * np.sign(py * bx - px * by)


def _cross(x: np.ndarray, y: np.ndarray, length: float, arm: float) -> np.ndarray:
    """Two bars' distance (half ``length`` long, half ``arm`` wide): the plane folded onto one eighth."""
    px, py = np.abs(x), np.abs(y)
    px, py = np.maximum(px, py), np.minimum(px, py)
    qx, qy = px - length, py - arm
    k = np.maximum(qx, qy)
    wx, wy = np.where(k > 0, qx, arm - px), np.where(k > 0, qy, -k)
    return np.sign(k) * np.hypot(np.maximum(wx, 0), np.maximum(wy, 0))


def sdf(name: str, points: np.ndarray, rounding: float = 0.0) -> np.ndarray:
    """The exact signed distance (negative inside) of the class in the box from -1 to 1, its corners rounded by
    ``rounding``: every disc of that radius that fits inside, which is the shape whose sides lie that much further in,
    less the rounding (a shape whose sides are all one distance from its middle shrinks by scaling)."""
    x, y, r = points[..., 0], points[..., 1], rounding
    if name == "circle":
        return np.hypot(x, y) - 1
    if name == "ring":
        return np.abs(np.hypot(x, y) - (1 + _RING_HOLE) / 2) - (1 - _RING_HOLE) / 2
    if name == "square":
        qx, qy = np.abs(x) - (1 - r), np.abs(y) - (1 - r)
        return np.hypot(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(np.maximum(qx, qy), 0) - r
    if name == "triangle":  # its sides lie half its radius from its middle
        return _triangle(x, y, 1 - 2 * r) - r
    if name == "star":
        return _star(x, y, 1 - r / _STAR_SIDE, _STAR_INNER) - r
    if name == "cross":
        return _cross(x, y, 1 - r, _ARM - r) - r
    raise ValueError(f"unknown shape {name!r}")


def jittered(rng: np.random.Generator, corner: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """(16, h, w, 2) sample points (x, y) for the pixels of a window: one uniform point in each cell of a 4 x 4 grid
    over every pixel, drawn afresh for each, so no two pixels share a pattern."""
    h, w, n = shape[0], shape[1], _STRATA
    cells = np.stack(np.meshgrid(np.arange(n), np.arange(n)), axis=-1).reshape(-1, 1, 1, 2)
    pixels = np.stack(np.meshgrid(np.arange(w) + corner[0], np.arange(h) + corner[1]), axis=-1)
    return pixels + (cells + rng.random((n * n, h, w, 2))) / n


def _cover(samples: np.ndarray, level: Any = 0.0) -> np.ndarray:
    """Each pixel's share of samples whose distance lies below ``level``."""
    return (samples < level).mean(axis=0)


def _lay(picture: np.ndarray, alpha: np.ndarray, colour: Any) -> np.ndarray:
    """The picture covered by ``alpha`` of a colour kept within 0-255, so every layer stays within the grey scale."""
    return picture + np.clip(alpha, 0, 1)[..., None] * (np.clip(np.asarray(colour, float), 0, 255) - picture)


def _waves(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, wavelength: float, count: int = 16) -> np.ndarray:
    """Smooth noise of unit spread with features about ``wavelength`` across: cosines in random directions."""
    turns, phases = rng.uniform(0, 2 * math.pi, (2, count))
    heading = np.c_[np.cos(turns), np.sin(turns)] / (wavelength * rng.uniform(0.7, 1.4, count))[:, None]
    waves = [np.cos(2 * math.pi * (x * kx + y * ky) + p) for (kx, ky), p in zip(heading, phases)]
    return sum(waves) / math.sqrt(count / 2)


def _grain(rng: np.random.Generator, side: int, sigma: float) -> np.ndarray:
    """Fine noise of unit spread, blurred over ``sigma`` pixels: fibres, pile and the grain of paint."""
    field = cv2.GaussianBlur(rng.standard_normal((side, side)).astype(np.float32), (0, 0), sigma).astype(np.float64)
    return field / max(field.std(), 1e-9)


def _hue(rng: np.random.Generator, saturation: tuple[float, float] = (0.5, 0.9)) -> np.ndarray:
    """A bright colour of any hue, so the objects and the things on a tray come in every colour."""
    return np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(*saturation), 1.0)) * 255


def _stick(picture: np.ndarray, path: np.ndarray, widths: np.ndarray, colours: np.ndarray, light: np.ndarray):
    """An elongated thing lying on the tray (a pencil, a crayon, a banana, a leaf): at each pixel the nearest
    point of its path gives its width and colour, rounded across like a cylinder, with a soft shadow."""
    side = picture.shape[0]
    low, high = np.clip(path.min(0) - 12, 0, side).astype(int), np.clip(path.max(0) + 12, 0, side).astype(int)
    ys, xs = np.mgrid[low[1] : high[1], low[0] : high[0]] + 0.5
    gaps = np.hypot(xs[..., None] - path[:, 0], ys[..., None] - path[:, 1])
    nearest = gaps.argmin(axis=-1)
    half, gap = widths[nearest] / 2, gaps.min(axis=-1)
    body = np.zeros((side, side))
    body[low[1] : high[1], low[0] : high[0]] = np.clip(half - gap + 0.5, 0, 1) * (half > 0.25)
    picture = _shadow(picture, body, light, 3.0, 2.0, 0.4)
    shade = 0.7 + 0.4 * np.sqrt(np.clip(1 - (gap / np.maximum(half, 0.25)) ** 2, 0, 1))
    window = picture[low[1] : high[1], low[0] : high[0]]
    window[:] = _lay(window, body[low[1] : high[1], low[0] : high[0]], colours[nearest] * shade[..., None])
    return picture


def _shadow(picture: np.ndarray, cover: np.ndarray, light: np.ndarray, height: float, blur: float, depth: float):
    """The surface darkened where ``cover`` lifted ``height`` pixels off it shades it from the light."""
    away = -light[:2] / max(float(np.hypot(*light[:2])), 1e-9) * height
    moved = cv2.warpAffine(cover.astype(np.float32), np.float32([[1, 0, away[0]], [0, 1, away[1]]]), cover.shape[::-1])
    return picture * (1 - depth * cv2.GaussianBlur(moved, (0, 0), blur).astype(np.float64))[..., None]


def _surface(rng: np.random.Generator, kind: str, side: int, light: np.ndarray) -> np.ndarray:
    """A (side, side, 3) float picture of a place where objects sit, most with features a shape's size."""
    rows, cols = np.mgrid[0:side, 0:side] + 0.5
    turn = rng.uniform(-0.3, 0.3) + (math.pi / 2 if rng.random() < 0.5 else 0.0)
    u, v = cols * math.cos(turn) + rows * math.sin(turn), rows * math.cos(turn) - cols * math.sin(turn)
    if kind == "tartan blanket":  # a mirrored sett of stripes woven across itself in a 2/2 twill; checks a shape's size
        colours = np.array([(30, 70, 45), (25, 35, 85), (175, 30, 35), (20, 20, 24), (225, 190, 60), (232, 228, 215)])
        stripes = np.resize(rng.permutation(len(colours))[: int(rng.integers(3, 5))], int(rng.integers(4, 7)))
        widths = rng.uniform(0.25, 1.0, len(stripes)) * np.where(rng.random(len(stripes)) < 0.25, 0.12, 1.0)
        period = side / rng.uniform(1.8, 3.2)
        edges = np.cumsum(widths) / widths.sum() * period / 2
        folded = (np.minimum(w % period, period - w % period) for w in (u, v))  # the sett runs out and back again
        warp, weft = (colours[stripes[np.minimum(np.searchsorted(edges, w), len(stripes) - 1)]] for w in folded)
        twill = ((np.floor(u) + np.floor(v)) % 4 < 2)[..., None]
        picture = np.where(twill, 0.8 * warp + 0.2 * weft, 0.2 * warp + 0.8 * weft)
        picture = picture * (1 + 0.07 * _grain(rng, side, 0.7) + 0.09 * _waves(rng, u, v, side / 2.5))[..., None]
    elif kind == "kitchen tiles":  # glazed square tiles a shape's size in grout, checked or plain, square or diagonal
        tile, grout = side / rng.uniform(2.3, 4.2), rng.uniform(1.5, 3.2)
        if rng.random() < 0.4:
            u, v = (cols + rows) / math.sqrt(2), (rows - cols) / math.sqrt(2)
        schemes = [((235, 235, 228), (35, 35, 40)), ((196, 98, 62), (236, 222, 192)), ((62, 92, 152), (238, 238, 232))]
        first, second = np.array(schemes[int(rng.integers(len(schemes)))], float)[rng.permutation(2)]
        second = second if rng.random() < 0.7 else first
        i, j = np.floor(u / tile), np.floor(v / tile)
        tone = rng.uniform(0.92, 1.06, (64, 64))[i.astype(int) % 64, j.astype(int) % 64]
        picture = np.where(((i + j) % 2 == 0)[..., None], first, second) * tone[..., None]
        edge = np.minimum(np.minimum(u - i * tile, (i + 1) * tile - u), np.minimum(v - j * tile, (j + 1) * tile - v))
        window = rng.uniform(0, side, 2)  # a window's light glazed across the floor
        glaze = np.exp(-(((cols - window[0]) / side * 2.5) ** 2 + ((rows - window[1]) / side) ** 2))
        picture = _lay(picture, glaze * rng.uniform(0.15, 0.35), (255, 255, 255))
        picture = _lay(picture, grout / 2 + 0.5 - edge, np.array([150, 145, 135]) * rng.uniform(0.5, 1.1))
    elif kind == "wooden table":  # planks a shape's width, each its own tone, with growth lines, knots and dark seams
        width, ring = side / rng.uniform(2.4, 4.5), rng.uniform(3.0, 7.0)
        plank = np.floor(v / width)
        tone = 0.72 + 0.5 * ((plank * 0.618 + rng.random()) % 1)  # neighbours a golden step apart in tone
        woods = np.array([(186, 134, 84), (122, 80, 50), (214, 176, 124), (200, 190, 174)])
        base = woods[rng.integers(len(woods))] * rng.uniform(0.9, 1.08)
        phase = (v - plank * width) / ring + 1.5 * _waves(rng, u / 8, v, side / 3) + 7.3 * plank
        for _ in range(int(rng.integers(0, 3))):  # a knot: lines crowd round a dark eye, three times as long as wide
            at = rng.uniform(0, side, 2)
            far = np.hypot((u - at[0]) / 3, v - at[1])
            phase, tone = phase + 6 * np.exp(-far / 7), tone * (1 - 0.5 * np.exp(-((far / 3) ** 2)))
        picture = base * (tone * (1 - 0.4 * (0.5 + 0.5 * np.sin(2 * math.pi * phase)) ** 3))[..., None]
        seam = np.minimum(v - plank * width, (plank + 1) * width - v)
        picture = _lay(picture, np.clip(1.6 - seam, 0, 1) * 0.7, base * 0.25)
    elif kind == "rug":  # a lattice of long lozenges a shape's size, outlined, each with a core, and a zigzag border
        palettes = [((140, 30, 35), (230, 215, 180), (30, 40, 80)), ((30, 45, 90), (215, 190, 130), (150, 40, 40))]
        palettes += [((200, 180, 140), (90, 40, 30), (40, 80, 90)), ((40, 90, 90), (235, 220, 190), (170, 70, 40))]
        ground, line, core = np.array(palettes[int(rng.integers(len(palettes)))], float)
        wide = side / rng.uniform(1.4, 2.4)
        high = wide / rng.uniform(1.8, 2.4)
        row = np.floor(v / high)
        across = u - (row % 2) * wide / 2
        off = np.abs(across - (np.floor(across / wide) + 0.5) * wide) / wide, np.abs(v - (row + 0.5) * high) / high
        m = 2 * (off[0] + off[1])  # 1 on the lozenge's outline, where it meets its neighbours
        picture = np.where((m < 0.45)[..., None], core, np.where((m < 0.8)[..., None], ground * 0.7, ground))
        picture = np.where(((m > 0.8) & (m < 0.92))[..., None], line, picture)
        at, band = rng.uniform(0, side), side * rng.uniform(0.08, 0.13)
        zig = np.abs(np.abs(u % (band * 1.2) - band * 0.6) / 0.6 - (v - at) % side) < 2
        zigzag = np.where(zig[..., None], line, core)
        picture = np.where((((v - at) % side) < band)[..., None], zigzag, picture)
        picture = picture * (1 + 0.08 * _grain(rng, side, 0.6) + 0.05 * _waves(rng, u, v, side / 2))[..., None]
    elif kind == "sofa cushion":  # corduroy wales over soft lumps as large as the shapes, a crease and a piped seam
        fabrics = np.array([(120, 40, 50), (50, 70, 100), (150, 130, 100), (70, 90, 60), (180, 170, 155), (60, 55, 60)])
        base = fabrics[rng.integers(len(fabrics))] * rng.uniform(0.85, 1.15)
        wale = 0.5 + 0.5 * np.cos(2 * math.pi * u / rng.uniform(3.5, 6.0))
        lumps = 1 + 0.2 * _waves(rng, u, v, side / 2.2, 8) + 0.05 * _grain(rng, side, 0.8)
        crease = np.abs(v - rng.uniform(0, side) - side * 0.12 * np.sin(u / side * rng.uniform(2, 5)))
        picture = base * ((0.84 + 0.16 * wale) * lumps * (1 - 0.35 * np.exp(-((crease / 3) ** 2))))[..., None]
        seam = v - rng.uniform(0.2, 0.8) * side  # the gap between two cushions, its cord beside it
        picture = picture * (1 - 0.6 * np.exp(-((seam / 4) ** 2)))[..., None]
        cord = np.clip(1 - ((seam - 6) / 3.5) ** 2, 0, 1)
        picture = _lay(picture, np.sqrt(cord) * 1.5, base * (0.6 + 0.7 * np.sqrt(cord))[..., None])
    elif kind == "tray":  # a plastic or steel tray with pencils, crayons, bananas and leaves on it, none a class
        picture = np.ones((side, side, 3)) * (_hue(rng, (0.1, 0.5)) * rng.uniform(0.35, 0.9))
        picture = picture * (1 + 0.06 * _waves(rng, u, v, side / 1.5, 6))[..., None]
        for _ in range(int(rng.integers(4, 9))):
            thing, start = rng.integers(4), rng.uniform(0.05, 0.95, 2) * side
            length, heading, bend = side * rng.uniform(0.3, 0.6), rng.uniform(0, 2 * math.pi), rng.uniform(-1, 1)
            t = np.linspace(0, 1, int(length / 0.8))
            angle = heading + bend * (t - 0.5) * (1.2 if thing >= 2 else 0.0)
            path = start + np.cumsum(np.c_[np.cos(angle), np.sin(angle)] * length / len(t), axis=0)
            width = side * rng.uniform(0.035, 0.06)
            if thing == 0:  # a pencil: a painted body, a sharpened wooden cone and its lead
                widths = width * np.minimum(1, (1 - t) / 0.14)
                wood = np.where((t > 0.96)[:, None], (50, 50, 55), (222, 184, 135))
                colours = np.where((t > 0.86)[:, None], wood, _hue(rng))
            elif thing == 1:  # a crayon in its paper label
                widths = width * 1.2 * np.minimum(1, (1 - t) / 0.08)
                colours = np.where(((t > 0.2) & (t < 0.8))[:, None], _hue(rng, (0.1, 0.3)), _hue(rng))
            elif thing == 2:  # a banana: yellow, thickest in the middle, its ends brown
                widths = width * 2.2 * np.sin(math.pi * np.clip(t, 0.04, 0.96)) ** 0.5
                colours = np.where(((t < 0.06) | (t > 0.94))[:, None], (90, 70, 40), (232, 200, 70))
            else:  # a leaf, pointed at both ends
                widths = width * 2.0 * np.sin(math.pi * t)
                colours = np.tile(np.array((70, 130, 50)) * rng.uniform(0.6, 1.2), (len(t), 1))
            picture = _stick(picture, path, widths, np.asarray(colours, float) * np.ones((len(t), 1)), light)
    else:
        raise ValueError(f"unknown surface {kind!r}")
    return np.clip(picture, 0, 255)


def _colour(rng: np.random.Generator, around: np.ndarray) -> np.ndarray:
    """A colour 95-130 grey levels from the middle of the surface round the object and 30 beyond most of it, dark or
    light, whichever leaves the object further from the bulk of that surface."""
    low, level, high = np.percentile(around @ _LUMA, [10, 50, 90])
    gap = rng.uniform(95, 130)
    dark, light = max(min(level - gap, low - 30), 12.0), min(max(level + gap, high + 30), 240.0)
    target = dark if min(level - dark, 2 * (low - dark)) >= min(light - level, 2 * (light - high)) else light
    colour = _hue(rng, (0.45, 0.95))
    luma = float(colour @ _LUMA)
    return colour * target / luma if luma >= target else colour + (255 - colour) * (target - luma) / (255 - luma)


def _relief(d: np.ndarray, width: float, steep: float, light: np.ndarray) -> np.ndarray:
    """How brightly a raised edge is lit: a height rising over ``width`` pixels inside the outline, its slope
    ``steep`` times as high, lit from ``light``, so a flat top is 1, the lit bevel brighter and the far one darker."""
    h = np.clip(-d / max(width, 1e-6), 0, 1)
    h = h * h * (3 - 2 * h)
    gy, gx = np.gradient(h * width * steep)
    lit = (-gx * light[0] - gy * light[1] + light[2]) / np.sqrt(gx * gx + gy * gy + 1)
    return np.clip(lit / light[2], 0.3, 1.6)


def _paint(
    rng: np.random.Generator, picture: np.ndarray, samples: np.ndarray, style: str, stage: Stage
) -> tuple[np.ndarray, np.ndarray]:
    """The object, in ``style``, on the surface, and its cover; ``samples`` hold its distance in pixels at each
    pixel's jittered points, whose mean is its distance at the pixel's middle (for the bevels and the browning)."""
    side, unit, light, d = picture.shape[0], stage.scale, stage.light, samples.mean(axis=0)
    rows, cols = np.mgrid[0:side, 0:side] + 0.5
    near = d < 4 + 0.3 * unit
    colour = _colour(rng, picture[near & (d > 1)])
    if style == "sticker":  # glossy vinyl printed in one colour, die-cut with a white border, a sheen across it
        die, vinyl = _cover(samples, stage.outset * unit), _cover(samples)
        white = np.array([247, 247, 243]) * rng.uniform(0.9, 1)
        picture = _lay(_shadow(picture, die, light, 1.2, 1.0, 0.35), die, white)
        sheen = np.exp(-((((cols * light[0] + rows * light[1]) - rng.uniform(0, side)) / (unit * 0.5)) ** 2))
        return _lay(_lay(picture, vinyl, colour), vinyl * sheen * rng.uniform(0.15, 0.35), (255, 255, 255)), die
    if style == "felt":  # soft fibres round the cut, a fibrous face, the edge rolled down into a soft shadow
        cut = _cover(samples, rng.uniform(0.4, 0.8) * np.clip(_grain(rng, side, 0.6), -1.5, 1.5))
        texture = 1 + 0.1 * _grain(rng, side, 0.7) + 0.04 * _grain(rng, side, 3.0)
        picture = _shadow(picture, cut, light, rng.uniform(1.5, 3.0), 2.0, 0.4)
        return _lay(picture, cut, colour * (texture * _relief(d, 2.5, 0.6, light))[..., None]), cut
    if style == "wooden block":  # painted wood, beveled and lit from one side, its side face seen, a hard shadow
        top, toward = _cover(samples), stage.near * stage.depth * unit
        moved = [cv2.warpAffine(top.astype(np.float32), np.float32([[1, 0, k * toward[0]], [0, 1, k * toward[1]]]),
                                (side, side)) for k in np.linspace(0.2, 1, 6)]  # fmt: skip
        block = np.maximum(top, np.max(moved, axis=0).astype(np.float64))
        picture = _shadow(picture, block, light, stage.depth * unit * 2.5, 0.8, 0.5)
        facing = 0.45 + 0.25 * float(np.dot(stage.near, light[:2]))
        picture = _lay(picture, block, colour * facing)
        grain = 1 + 0.05 * np.sin(2 * math.pi * (cols * 0.3 + rows * 0.95 + 2 * _grain(rng, side, 6)) / 5)
        shade = _relief(d, max(1.5, 0.08 * unit), 1.4, light) * grain
        return _lay(picture, top, colour * shade[..., None]), block
    if style == "biscuit":  # baked dough browned at its rim, flooded with glossy icing inset from the edge
        dough, inset = _cover(samples), rng.uniform(0.07, 0.12) * unit
        icing = _cover(samples, -inset)
        picture = _shadow(picture, dough, light, rng.uniform(2, 4), 1.5, 0.45)
        browned = (1 - 0.35 * np.exp(np.minimum(d, 0) / (0.1 * unit))) * (1 + 0.08 * _grain(rng, side, 0.8))
        dough_colour = np.array([205, 160, 95]) * rng.uniform(0.8, 1.05)
        picture = _lay(picture, dough, dough_colour * (browned * _relief(d, 0.15 * unit, 1.0, light))[..., None])
        gloss = np.clip(_relief(d + inset, max(1.2, 0.05 * unit), 1.5, light) - 1, 0, 1)
        return _lay(_lay(picture, icing, colour), icing * gloss, (255, 255, 255)), dough
    if style == "patch":  # satin stitches laid one way across the patch, a twisted merrowed border in a deeper thread
        edge, stitch, lay = max(1.5, rng.uniform(0.08, 0.12) * unit), rng.uniform(1.6, 2.4), rng.uniform(0, math.pi)
        whole, inner = _cover(samples), _cover(samples, -edge)
        across = (cols * math.cos(lay) + rows * math.sin(lay)) / stitch
        jitter = rng.uniform(-0.08, 0.08, 4096)[np.floor(across).astype(int) % 4096]
        sheen = 0.1 * math.cos(2 * (lay - math.atan2(light[1], light[0])))  # threads along the light shine
        satin = 0.85 + 0.3 * np.sin(math.pi * (across % 1)) + jitter + sheen
        twist = 0.8 + 0.35 * np.sin(math.pi * ((cols * math.cos(lay + 1.1) + rows * math.sin(lay + 1.1)) / 2.0 % 1))
        darker = colour @ _LUMA < picture[near & (d > 1)].mean(0) @ _LUMA
        deeper = colour * 0.55 if darker else colour + 0.5 * (255 - colour)
        picture = _shadow(picture, whole, light, 1.8, 1.5, 0.4)
        picture = _lay(picture, whole, deeper * twist[..., None])
        return _lay(picture, inner, colour * (satin * _relief(d + edge, 1.5, 0.5, light))[..., None]), whole
    raise ValueError(f"unknown style {style!r}")


class Lens(NamedTuple):
    view: np.ndarray  # homography from the undistorted frame (the box from -1 to 1) to the scene's pixels
    bow: float  # the radial model: a frame point at radius r reads the view at r (1 + bow r^2), scaled to fit
    near: np.ndarray  # unit vector in the scene towards the camera: where a block's side shows


class Stage(NamedTuple):
    light: np.ndarray  # unit vector towards the light (x, y, up)
    near: np.ndarray  # as the lens's
    scale: float  # pixels per unit of the class's box
    outset: float  # what the style adds round the class (a sticker's border), in units
    depth: float  # a block's thickness, in units


def _lens(rng: np.random.Generator, side: int) -> Lens:
    """A webcam looking down at an angle: the near edge of what it sees narrower than the far one, so near things
    look larger, turned a little, all inside the scene; and a barrel lens."""
    square = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1)], float)
    seen = (square + 1) / 2 * side - square * rng.uniform(0.005, 0.03, (4, 2)) * side  # each corner a little in
    near = [2, 3] if rng.random() < 0.6 else [int(k) % 4 for k in rng.integers(4) + np.arange(2)]  # mostly the foot
    along = (seen[near[1]] - seen[near[0]]) / np.linalg.norm(seen[near[1]] - seen[near[0]])
    seen[near] += np.outer([1, -1], along) * rng.uniform(0.02, 0.07) * side
    turn = math.radians(rng.uniform(-4, 4))
    seen = (seen - side / 2) @ np.array([[math.cos(turn), math.sin(turn)], [-math.sin(turn), math.cos(turn)]])
    seen = seen * min(1.0, (side / 2 - 0.5) / np.abs(seen).max()) + side / 2
    view = cv2.getPerspectiveTransform(square.astype(np.float32), seen.astype(np.float32)).astype(np.float64)
    toward = np.diff(cv2.perspectiveTransform(np.array([[(0, 0), square[near].mean(0)]]), view)[0], axis=0)[0]
    return Lens(view, rng.uniform(0.02, 0.07), toward / np.linalg.norm(toward))


def to_scene(lens: Lens, points: np.ndarray, side: int) -> np.ndarray:
    """Frame points (n, 2) in pixels to the scene's: undistorted by the radial model, scaled so the frame's corners
    reach the box's corners, then through the view."""
    q = (points - side / 2) / (side / 2)
    bowed = q * (1 + lens.bow * (q * q).sum(axis=1, keepdims=True)) / (1 + 2 * lens.bow)
    return cv2.perspectiveTransform(bowed[None].astype(np.float64), lens.view)[0]


def to_frame(lens: Lens, points: np.ndarray, side: int) -> np.ndarray:
    """Scene points (n, 2) to the frame's pixels: ``to_scene`` undone, its radius found by Newton's method."""
    u = cv2.perspectiveTransform(points[None].astype(np.float64), np.linalg.inv(lens.view))[0] * (1 + 2 * lens.bow)
    target = np.linalg.norm(u, axis=1, keepdims=True)
    r = target.copy()
    for _ in range(8):
        r -= (r * (1 + lens.bow * r**2) - target) / (1 + 3 * lens.bow * r**2)
    return u * (r / np.maximum(target, 1e-12)) * side / 2 + side / 2


def _camera(
    rng: np.random.Generator, picture: np.ndarray, cover: np.ndarray, lens: Lens, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """The webcam's frame of the scene: its view and lens (one remap), a touch of motion blur, an area resize, a
    vignette, a colour cast, low light with noise and colour blotches in the shadows, and a 4:2:0 JPEG; and the
    object's cover through the same remap."""
    side = picture.shape[0]
    pixels = np.stack(np.meshgrid(np.arange(side), np.arange(side)), axis=-1).reshape(-1, 2) + 0.5
    where = (to_scene(lens, pixels, side) - 0.5).reshape(side, side, 2).astype(np.float32)
    seen = cv2.remap(np.clip(picture, 0, 255).astype(np.float32), where[..., 0], where[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT)  # fmt: skip
    paint = cv2.remap(cover.astype(np.float32), where[..., 0], where[..., 1], cv2.INTER_LINEAR)
    length, angle = rng.uniform(0.5, 3.5), rng.uniform(0, math.pi)
    ky, kx = np.mgrid[-4:5, -4:5]  # the shake: a line of ``length`` pixels, each cell weighted by its distance to it
    along = np.clip(kx * math.cos(angle) + ky * math.sin(angle), -length / 2, length / 2)
    kernel = np.clip(1 - np.hypot(kx - along * math.cos(angle), ky - along * math.sin(angle)), 0, 1).astype(np.float32)
    seen = cv2.filter2D(seen, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)
    shrink = cv2.INTER_AREA if size < side else cv2.INTER_LINEAR
    seen, paint = (cv2.resize(layer, (size, size), interpolation=shrink) for layer in (seen, paint))
    rows, cols = (np.mgrid[0:size, 0:size] + 0.5) / size - 0.5
    casts = [(1.14, 1.0, 0.74), (0.86, 0.97, 1.16), (0.93, 1.06, 0.9), (1.06, 0.92, 1.04)]
    cast = 1 + (np.array(casts[int(rng.integers(len(casts)))]) - 1) * rng.uniform(0.5, 1.0)
    gain = rng.uniform(0.65, 1.0) * (1 - rng.uniform(0.2, 0.45) * (rows**2 + cols**2) * 2)
    level = seen.astype(np.float64) * gain[..., None] * cast
    dim = (1 - np.clip(level @ _LUMA, 0, 255) / 255)[..., None] ** 2  # the shadows, where the gain shows its noise
    blotches = np.stack([cv2.GaussianBlur(rng.standard_normal((size, size)), (0, 0), 1.2) for _ in range(3)], axis=-1)
    read, shot = rng.uniform(2, 6), rng.uniform(0.05, 0.3)
    level = level + rng.standard_normal(level.shape) * np.sqrt(read**2 + shot * np.clip(level, 0, 255))
    frame = np.clip(level + dim * blotches * rng.uniform(8, 20) + 0.5, 0, 255).astype(np.uint8)[..., ::-1]
    quality = [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 88))]
    quality += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420]
    photo = cv2.imdecode(cv2.imencode(".jpg", frame, quality)[1], cv2.IMREAD_COLOR)
    return np.ascontiguousarray(photo[..., ::-1]), paint >= 0.5


def render_sealed13_scene(rng: np.random.Generator, size: int) -> SealedScene:
    """One picture; the first draws are the label, the surface and the size band, in that order."""
    label, surface, (band, low, high) = first_draws(rng, SURFACES13, EVERY_BAND)
    style = STYLES13[int(rng.integers(len(STYLES13)))]
    name, side = SHAPE_CLASSES[label], _NATIVE
    azimuth, elevation = rng.uniform(0, 2 * math.pi), rng.uniform(0.6, 1.1)
    light = np.array([math.cos(azimuth), math.sin(azimuth), math.tan(elevation)]) * math.cos(elevation)
    picture = _surface(rng, surface, side, light)
    lens = _lens(rng, side)
    rounding = rng.uniform(0.4, 1.0) * _ROUNDING[style]
    outset = rng.uniform(0.05, 0.08) if style == "sticker" else 0.0  # the white border round a sticker, in units
    depth = rng.uniform(0.05, 0.09) if style == "wooden block" else 0.0  # a block's thickness, in units
    turn = rng.uniform(0, 2 * math.pi)
    rotation = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
    grid = np.stack(np.meshgrid(*(np.linspace(-1.6, 1.6, 161),) * 2), axis=-1).reshape(-1, 2)
    unit = grid[sdf(name, grid @ rotation, rounding) < outset + 0.01]  # the object in the pose's units, its border too
    unit = np.concatenate([unit + lens.near * depth * k for k in np.linspace(0, 1, 5 if depth else 1)])
    middle = (unit.min(axis=0) + unit.max(axis=0)) / 2
    extent = rng.uniform(low, high) * side
    goal = rng.uniform(_MARGIN * side + extent / 2, side - _MARGIN * side - extent / 2, 2)
    centre, scale = to_scene(lens, goal[None], side)[0], extent / float(np.ptp(unit, axis=0).max())
    for _ in range(5):  # the longer side of the box the frame sees spans ``extent``, its middle at ``goal``
        seen = to_frame(lens, centre + scale * (unit - middle), side)
        scale *= extent / float(np.ptp(seen, axis=0).max())
        moved = to_frame(lens, centre[None], side)[0] + goal - (seen.min(axis=0) + seen.max(axis=0)) / 2
        centre = to_scene(lens, moved[None], side)[0]
    corner = np.clip(np.floor(centre - scale * 1.9 - 3), 0, side).astype(int)
    far = np.clip(np.ceil(centre + scale * 1.9 + 3), 0, side).astype(int)
    posed = (jittered(rng, tuple(corner), (far[1] - corner[1], far[0] - corner[0])) - centre) / scale + middle
    samples = np.full((_STRATA**2, side, side), 1e3)  # far outside, beyond the window round the object
    samples[:, corner[1] : far[1], corner[0] : far[0]] = scale * sdf(name, posed @ rotation, rounding)
    picture, cover = _paint(rng, picture, samples, style, Stage(light, lens.near, scale, outset, depth))
    image, mask = _camera(rng, picture, cover, lens, size)
    return SealedScene(image, mask, label, surface, band, style)


class ShapesSealed13Dataset(ShapesSealedDataset):
    """The thirteenth sealed set, deterministic per index; evaluation only, and run once per trained model."""

    SALT = _SALT
    SURFACE_KINDS = SURFACES13
    BANDS = EVERY_BAND

    def render(self, rng: np.random.Generator, size: int) -> Any:
        return render_sealed13_scene(rng, size)
