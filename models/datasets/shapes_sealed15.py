"""The fifteenth sealed renderer: shapes made of discs and half-planes, settled cell by cell, under a document camera.

Each class is a formula on the plane: a disc, a disc less a smaller one (a ring), four or three half-planes met (a
square, a triangle), five wedges joined (a star, each wedge two half-planes along a point's edges and one across its
foot), two bars joined (a cross). Meeting takes the largest of the parts' values and joining the smallest, so the
shape is where the formula is below nought. Which pixels it covers is settled in a quadtree: the frame is cut into
cells 16 px wide, and each cell gets the formula's bounds over the whole cell by interval arithmetic (exact for a
half-plane and a disc, carried through the largest, the smallest and the sign); a cell wholly below nought is inside,
one wholly above is outside, and only a cell that straddles the outline is split in four, down to an eighth of a
pixel, where the sign at its middle decides. A pixel's cover is the area of its inside cells. The objects are what a
teacher puts under a classroom visualiser: rolled plasticine with fingerprints, a translucent acrylic tile with a
polished edge, a laminated card with the lamp's glare on it and ironed fuse beads. They lie on a desk's things, most
with features as large as the shapes: a keyboard, bubble wrap, a puzzle book's crossword, a metro map with its fare
zones, a baseplate of toy bricks and a textbook's page of charts. The document camera looks down from its arm: its
head turned and leaning a little (a keystone), a wide lens's barrel and a digital zoom, sampled by a bicubic kernel
written here; its LED lamp's pool of light and cool white, a soft focus, sensor noise, and its video stream's 4:2:0
colour with each 4 x 4 block's integer transform quantised. Nothing in the training generator was, or may be, tuned
on its pictures: its figure in the model card is the result of one run after training.
"""

from __future__ import annotations

import colorsys
import math
from typing import Any

import cv2
import numpy as np
from scipy import ndimage

from .shapes_camera import EVERY_BAND
from .shapes_scene import SHAPE_CLASSES
from .shapes_sealed import SealedScene, ShapesSealedDataset, first_draws

SURFACES15: tuple[str, ...] = ("keyboard", "bubble wrap", "crossword", "metro map", "brick plate", "chart page")
STYLES15: tuple[str, ...] = ("plasticine", "acrylic", "laminated card", "fuse beads")
_NATIVE = 192  # the desk's and the frame's side in pixels before the resize
_SALT = 150_151
_LUMA = np.array([0.299, 0.587, 0.114])
_RING_HOLE = 0.55  # a ring's hole, as a share of its outer radius
_STAR_INNER = 0.45  # a star's inner corners, as a share of its points' radius
_STAR_FOOT = 0.1  # a star's wedge reaches this share of the radius past the middle, so the wedges overlap there
_ARM = 0.32  # half a cross's bar, as a share of its half length
_ROOT = 16  # a quadtree's first cells, in pixels
_FINEST = 1 / 8  # the smallest cell's side, in pixels, where the sign at its middle decides
_MARGIN = 0.07  # the object's box stays this share of the frame's side inside each edge
# the core transform of the camera's video codec for a 4 x 4 block, and the length of each of its rows
_CORE = np.array([[1.0, 1, 1, 1], [2, 1, -1, -2], [1, -1, -1, 1], [1, -2, 2, -1]])
_CORE_NORMS = np.sqrt((_CORE**2).sum(axis=1))

Formula = tuple[Any, ...]  # ("plane", nx, ny, c) | ("disc", x, y, r) | ("all", parts) | ("any", parts) | ("not", part)


def _convex(corners: np.ndarray) -> Formula:
    """A convex polygon as its edges' half-planes met, each normal unit length and pointing away from its middle."""
    middle = corners.mean(axis=0)
    planes = []
    for a, b in zip(corners, np.roll(corners, -1, axis=0), strict=True):
        normal = np.array([b[1] - a[1], a[0] - b[0]]) / math.hypot(*(b - a))
        normal = -normal if normal @ (middle - a) > 0 else normal
        planes.append(("plane", float(normal[0]), float(normal[1]), float(normal @ a)))
    return ("all", tuple(planes))


def _box(half_x: float, half_y: float) -> Formula:
    """A box about the middle, ``half_x`` by ``half_y`` either side."""
    return _convex(np.array([(-half_x, -half_y), (half_x, -half_y), (half_x, half_y), (-half_x, half_y)]))


def formula(name: str) -> Formula:
    """The class as a formula in the box from -1 to 1 (y down, a triangle and a star point up), below nought inside."""
    if name == "circle":
        return ("disc", 0.0, 0.0, 1.0)
    if name == "ring":  # the disc met with the outside of its hole
        return ("all", (("disc", 0.0, 0.0, 1.0), ("not", ("disc", 0.0, 0.0, _RING_HOLE))))
    if name == "square":
        return _box(1.0, 1.0)
    if name == "triangle":
        turns = np.radians([-90.0, 30.0, 150.0])
        return _convex(np.c_[np.cos(turns), np.sin(turns)])
    if name == "star":  # five wedges: a point's two edges run on past its inner corners, and a foot past the middle
        wedges = []
        for k in range(5):
            tip = -math.pi / 2 + k * 2 * math.pi / 5
            corners = np.array(
                [(math.cos(tip), math.sin(tip))]
                + [
                    (_STAR_INNER * math.cos(tip + s), _STAR_INNER * math.sin(tip + s))
                    for s in (-math.pi / 5, math.pi / 5)
                ]
            )
            edges = [
                plane for plane in _convex(corners)[1] if plane[1] * math.cos(tip) + plane[2] * math.sin(tip) > -0.99
            ]
            wedges.append(("all", (*edges, ("plane", -math.cos(tip), -math.sin(tip), _STAR_FOOT))))
        return ("any", tuple(wedges))
    if name == "cross":  # two bars joined
        return ("any", (_box(1.0, _ARM), _box(_ARM, 1.0)))
    raise ValueError(f"unknown shape {name!r}")


def placed(shape: Formula, middle: np.ndarray, scale: float, turn: float) -> Formula:
    """The formula moved onto the desk: turned by ``turn``, ``scale`` pixels to a unit, its middle at ``middle``;
    its values stay distances in pixels for a half-plane and a disc."""
    kind = shape[0]
    cos, sin = math.cos(turn), math.sin(turn)
    if kind == "plane":
        nx, ny = cos * shape[1] - sin * shape[2], sin * shape[1] + cos * shape[2]
        return ("plane", nx, ny, nx * middle[0] + ny * middle[1] + shape[3] * scale)
    if kind == "disc":
        x, y = shape[1], shape[2]
        return (
            "disc",
            middle[0] + scale * (cos * x - sin * y),
            middle[1] + scale * (sin * x + cos * y),
            scale * shape[3],
        )
    if kind == "not":
        return ("not", placed(shape[1], middle, scale, turn))
    return (kind, tuple(placed(part, middle, scale, turn) for part in shape[1]))


def value(shape: Formula, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The formula at points (x, y): below nought inside the shape."""
    kind = shape[0]
    if kind == "plane":
        return shape[1] * x + shape[2] * y - shape[3]
    if kind == "disc":
        return np.hypot(x - shape[1], y - shape[2]) - shape[3]
    if kind == "not":
        return -value(shape[1], x, y)
    parts = [value(part, x, y) for part in shape[1]]
    return np.maximum.reduce(parts) if kind == "all" else np.minimum.reduce(parts)


def bounds(shape: Formula, x: np.ndarray, y: np.ndarray, half: float) -> tuple[np.ndarray, np.ndarray]:
    """The least and the most the formula takes over each square cell centred at (x, y), ``half`` wide either side:
    exact for a half-plane and a disc, and never narrower than the truth once met, joined or turned inside out."""
    kind = shape[0]
    if kind == "plane":
        middle, reach = shape[1] * x + shape[2] * y - shape[3], (abs(shape[1]) + abs(shape[2])) * half
        return middle - reach, middle + reach
    if kind == "disc":
        dx, dy = np.abs(x - shape[1]), np.abs(y - shape[2])
        near = np.hypot(np.maximum(dx - half, 0), np.maximum(dy - half, 0))
        return near - shape[3], np.hypot(dx + half, dy + half) - shape[3]
    if kind == "not":
        low, high = bounds(shape[1], x, y, half)
        return -high, -low
    lows, highs = zip(*(bounds(part, x, y, half) for part in shape[1]), strict=True)
    pick = np.maximum.reduce if kind == "all" else np.minimum.reduce
    return pick(lows), pick(highs)


def cover(shape: Formula, side: int) -> np.ndarray:
    """Each pixel's share inside the shape, settled in a quadtree: cells wholly inside or outside by their bounds
    are kept or dropped whole, straddling cells split in four down to ``_FINEST``, where the middle's sign decides."""
    share = np.zeros((side, side))
    starts = np.arange(0, side, _ROOT) + _ROOT / 2
    x, y = (grid.ravel() for grid in np.meshgrid(starts, starts))
    width = float(_ROOT)
    while len(x):
        low, high = bounds(shape, x, y, width / 2)
        if width <= _FINEST:  # the last cells: the sign at the middle decides
            inside, split = value(shape, x, y) < 0, np.zeros(len(x), bool)
        else:
            inside, split = high < 0, (low < 0) & (high >= 0)
        if width >= 1:  # whole pixels: each inside cell fills a block of them
            step = int(width)
            for cx, cy in zip(x[inside] - width / 2, y[inside] - width / 2, strict=True):
                share[int(cy) : int(cy) + step, int(cx) : int(cx) + step] = 1.0
        else:
            np.add.at(share, (np.floor(y[inside]).astype(int), np.floor(x[inside]).astype(int)), width**2)
        quarter = width / 4
        x = (x[split][:, None] + np.array([-quarter, quarter, -quarter, quarter])).ravel()
        y = (y[split][:, None] + np.array([-quarter, -quarter, quarter, quarter])).ravel()
        width /= 2
    return share


def _tone(rng: np.random.Generator, grey: float) -> np.ndarray:
    """A colour of a random hue whose grey is ``grey``: its full colour darkened towards black or lifted towards
    white until it gets there."""
    full = np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.35, 0.85), 1.0)) * 255
    own = float(full @ _LUMA)
    if grey <= own:
        return full * (grey / own)
    return 255 - (255 - full) * (255 - grey) / (255 - own)


def _tones(rng: np.random.Generator, count: int, low: float = 85, high: float = 185) -> np.ndarray:
    """``count`` colours of random hues at greys spread from ``low`` to ``high``, shuffled, so that neighbours
    differ in grey as well as hue."""
    greys = rng.permutation(np.linspace(low, high, count)) + rng.uniform(-6, 6, count)
    return np.array([_tone(rng, float(np.clip(grey, low, high))) for grey in greys])


def _surface(rng: np.random.Generator, kind: str, side: int) -> np.ndarray:
    """A (side, side, 3) float picture of a thing on the desk, most with features a shape's size."""
    rows, cols = np.mgrid[0:side, 0:side] + 0.5
    turn = rng.uniform(-0.5, 0.5)
    u, v = cols * math.cos(turn) + rows * math.sin(turn), rows * math.cos(turn) - cols * math.sin(turn)
    if kind == "keyboard":  # keycaps a shape's size in staggered rows, dished, each with a pale legend
        pitch = side / rng.uniform(4.5, 6.5)
        row = np.floor(v / pitch)
        shifted = u + row * pitch * rng.uniform(0.2, 0.5)
        key = np.floor(shifted / pitch)
        a, b = shifted / pitch - key, v / pitch - row
        caps = _tones(rng, 4, 70, 180)  # a children's keyboard: rows of keys in four colours
        cap = caps[((key * 5 + row * 3) % 7 % 4).astype(int)]
        edge = np.minimum(np.minimum(a, 1 - a), np.minimum(b, 1 - b))
        dish = 1 + 0.12 * np.clip(edge * 6 - 0.5, 0, 1) - 0.05 * np.hypot(a - 0.5, b - 0.5)
        legend = (np.abs(a - 0.32) < 0.08) & (np.abs(b - 0.3) < 0.12)
        picture = np.where(legend[..., None], 225.0, cap * dish[..., None])
        picture = np.where((edge < 0.07)[..., None], np.array([28.0, 28, 32]), picture)
    elif kind == "bubble wrap":  # domes a shape's size in a hexagonal lattice on film over a coloured folder
        radius = side / rng.uniform(8, 11)
        pitch = radius * 2.2
        row = np.round(v / (pitch * math.sqrt(3) / 2))
        across = (u - (row % 2) * pitch / 2) / pitch
        dx = (across - np.round(across)) * pitch
        dy = v - row * pitch * math.sqrt(3) / 2
        d = np.hypot(dx, dy) / radius
        under, film = _tone(rng, rng.uniform(80, 110)), _tone(rng, rng.uniform(175, 200))
        dome = np.clip(1 - d, 0, 1)
        light = 1 + 0.5 * np.clip(1 - np.hypot(dx + 0.35 * radius, dy + 0.35 * radius) / (0.35 * radius), 0, 1)
        picture = np.where((d < 1)[..., None], (under * 0.3 + film * 0.7) * (0.75 + 0.3 * dome)[..., None], under)
        picture = np.where((d < 1)[..., None], picture * light[..., None], picture)
        picture = np.where((np.abs(d - 1) < 0.06)[..., None], picture * 0.7, picture)
    elif kind == "crossword":  # a puzzle book's grid: cells a shape's size, blocks in the book's colour, numbers
        cell = side / rng.uniform(5.5, 8)
        i, j = np.floor(u / cell), np.floor(v / cell)
        picks = rng.random((40, 40)) < rng.uniform(0.1, 0.14)
        picks = picks | picks[::-1, ::-1]  # a crossword's blocks turn onto themselves by a half turn
        block = picks[(i % 40).astype(int), (j % 40).astype(int)]
        paper, ink = _tone(rng, rng.uniform(195, 215)) * 0.3 + 0.7 * np.array([236.0, 232, 220]), _tone(rng, 105)
        picture = np.where(block[..., None], ink, paper)
        a, b = u / cell - i, v / cell - j
        number = ~block & ((i * 5 + j * 3) % 4 == 0) & (a > 0.08) & (a < 0.28) & (b > 0.08) & (b < 0.24)
        line = np.minimum(np.minimum(a, 1 - a), np.minimum(b, 1 - b)) * cell < 0.9
        picture = np.where((line | number)[..., None], np.array([60.0, 60, 64]), picture)
    elif kind == "metro map":  # fare zones a shape's size round a middle, coloured lines across, stations ringed
        middle = rng.uniform(0.2, 0.8, 2) * side
        zone = np.floor(
            np.maximum(np.abs(cols - middle[0]), np.abs(rows - middle[1])) / (side * rng.uniform(0.15, 0.22))
        )
        picture = np.where((zone % 2 == 0)[..., None], np.array([226.0, 226, 222]), _tone(rng, 185))
        for colour in _tones(rng, int(rng.integers(3, 6)), 70, 150):
            bend, angle = rng.uniform(0, side, 2), rng.choice([0.0, math.pi / 4, math.pi / 2, 3 * math.pi / 4])
            along = (cols - bend[0]) * math.cos(angle) + (rows - bend[1]) * math.sin(angle)
            across = -(cols - bend[0]) * math.sin(angle) + (rows - bend[1]) * math.cos(angle)
            width = side * rng.uniform(0.015, 0.025)  # half the line
            picture = np.where((np.abs(across) < width)[..., None], colour, picture)
            gap = side * rng.uniform(0.15, 0.25)
            station = np.hypot((along % gap) - gap / 2, across)
            picture = np.where((station < width * 1.5)[..., None], 250.0, picture)
            picture = np.where((np.abs(station - width * 1.5) < 1.0)[..., None], 30.0, picture)
    elif kind == "brick plate":  # a studded baseplate with toy bricks a shape's size laid on it
        pitch = side / rng.uniform(14, 18)
        plate = _tone(rng, rng.choice([rng.uniform(80, 100), rng.uniform(170, 190)]))
        picture = np.broadcast_to(plate, (side, side, 3)).copy()
        for colour in _tones(rng, int(rng.integers(7, 12)), 80, 190):
            corner = np.floor(rng.uniform(-2, side / pitch, 2))
            size = rng.choice([(2, 4), (4, 2), (2, 6), (6, 2), (2, 2), (3, 4)])
            inside = (u / pitch >= corner[0]) & (u / pitch < corner[0] + size[0])
            inside &= (v / pitch >= corner[1]) & (v / pitch < corner[1] + size[1])
            picture = np.where(inside[..., None], colour, picture)
            rim = inside & (
                (np.abs(u / pitch - corner[0] - size[0] / 2) > size[0] / 2 - 0.08)
                | (np.abs(v / pitch - corner[1] - size[1] / 2) > size[1] / 2 - 0.08)
            )
            picture = np.where(rim[..., None], colour * 0.55, picture)
        stud = np.hypot(u / pitch % 1 - 0.5, v / pitch % 1 - 0.5)
        picture = picture * np.where(stud < 0.3, 1.12, np.where(stud < 0.36, 0.8, 1.0))[..., None]
    elif kind == "chart page":  # a textbook's page: a pie chart and a bar chart a shape's size, lines of text
        picture = np.full((side, side, 3), 232.0) * rng.uniform(0.94, 1.0, 3)
        text = ((v % 9) < 2.2) & ((np.floor(u / 23) * 7 + np.floor(v / 9)) % 5 != 0)
        picture = np.where(text[..., None], 120.0, picture)
        pie, radius = rng.uniform(0.2, 0.8, 2) * side, side * rng.uniform(0.16, 0.26)
        slices = np.cumsum(rng.uniform(0.5, 1.5, 5))
        angle = (np.arctan2(rows - pie[1], cols - pie[0]) + math.pi) / (2 * math.pi) * slices[-1]
        colours = _tones(rng, 5)
        picture = np.where(
            (np.hypot(cols - pie[0], rows - pie[1]) < radius)[..., None],
            colours[np.searchsorted(slices, angle)],
            picture,
        )
        base, left = rng.uniform(0.6, 0.95) * side, rng.uniform(0, 0.5) * side
        width = side * rng.uniform(0.06, 0.1)
        for k, colour in enumerate(_tones(rng, 5)):
            top = base - rng.uniform(0.15, 0.5) * side
            bar = (
                (cols >= left + k * width * 1.4)
                & (cols < left + k * width * 1.4 + width)
                & (rows > top)
                & (rows < base)
            )
            picture = np.where(bar[..., None], colour, picture)
        picture = np.where((np.abs(rows - base) < 1)[..., None], 40.0, picture)
    else:
        raise ValueError(f"unknown surface {kind!r}")
    grain = cv2.GaussianBlur(rng.standard_normal((side, side)), (0, 0), 1.0)
    return np.clip(picture * (1 + 0.03 * grain)[..., None], 0, 255)


def _lay(picture: np.ndarray, alpha: np.ndarray, colour: Any) -> np.ndarray:
    """The picture covered by ``alpha`` of a colour held within 0-255, so every layer stays within the grey scale."""
    colour = np.clip(np.asarray(colour, float), 0, 255)
    return picture + np.clip(alpha, 0, 1)[..., None] * (colour - picture)


def _shadow(picture: np.ndarray, share: np.ndarray, drop: np.ndarray, depth: float) -> np.ndarray:
    """The desk darkened under a thing lying on it, the shadow thrown ``drop`` pixels (x, y) away from the lamp."""
    moved = ndimage.gaussian_filter(ndimage.shift(share, (drop[1], drop[0]), order=1), 1.2)
    return picture * (1 - depth * np.clip(moved, 0, 1))[..., None]


def _ink(rng: np.random.Generator, around: np.ndarray) -> np.ndarray:
    """The object's colour: dark (grey 15-45) on a desk whose middle tone round it is light, light (215-245) on a
    dark one."""
    level = float(np.median(around @ _LUMA)) if len(around) else 128.0
    return _tone(rng, rng.uniform(15, 45) if level >= 128 else rng.uniform(215, 245))


def _paint(
    rng: np.random.Generator, picture: np.ndarray, share: np.ndarray, style: str, place: tuple[np.ndarray, float, float]
) -> np.ndarray:
    """The object, in ``style``, on the desk where ``share`` covers it; ``place`` is its middle, pixels to a unit
    and turn, so that a pattern of its own (its beads) lies square to it."""
    side = picture.shape[0]
    rows, cols = np.mgrid[0:side, 0:side] + 0.5
    around = ndimage.binary_dilation(share > 0, iterations=6) & (share == 0)
    colour = _ink(rng, picture[around])
    lamp = rng.normal(size=2)
    lamp /= np.linalg.norm(lamp)  # the lamp's direction across the desk, seen from the object
    if style == "plasticine":  # rolled clay: its rounded edge lit from the lamp's side, fingerprints, a soft shadow
        picture = _shadow(picture, share, -lamp * rng.uniform(1.5, 3.0), 0.3)
        height = ndimage.gaussian_filter(share, 2.0)
        slope_y, slope_x = np.gradient(height)
        shade = np.clip(1 + 1.6 * (slope_x * lamp[0] + slope_y * lamp[1]), 0.7, 1.15)
        whorl = rng.uniform(0, side, 2)
        prints = 1 + 0.05 * np.sin(np.hypot(cols - whorl[0], rows - whorl[1]) * rng.uniform(1.8, 2.6))
        return _lay(picture, share, colour * (shade * prints)[..., None])
    if style == "acrylic":  # a tinted see-through tile: the desk faint through it, a polished edge, the lamp's glare
        picture = _shadow(picture, share, -lamp * rng.uniform(1.0, 2.5), 0.25)
        tile = colour * 0.85 + picture * 0.15
        edge = np.clip(2.5 * (share - ndimage.uniform_filter(share, 5)), 0, 1) * share
        picture = _lay(_lay(picture, share, tile), edge * 0.5, colour * 0.4 + 150)
        spot, reach = place[0] + lamp * place[1] * rng.uniform(0.2, 0.5), place[1] * rng.uniform(0.15, 0.3)
        glare = np.exp(-((cols - spot[0]) ** 2 + (rows - spot[1]) ** 2) / (2 * reach**2))
        return _lay(picture, share * glare * 0.35, 255.0)
    if style == "laminated card":  # a card in gloss film: flat colour, a band of the lamp's glare across it
        picture = _shadow(picture, share, -lamp * rng.uniform(0.8, 1.6), 0.3)
        across = (cols - place[0][0]) * lamp[0] + (rows - place[0][1]) * lamp[1]
        band = np.exp(-(((across - place[1] * rng.uniform(-0.5, 0.5)) / (0.15 * place[1])) ** 2))
        return _lay(_lay(picture, share, colour), share * band * 0.3, 255.0)
    if style == "fuse beads":  # ironed beads in a square pegboard's rows, each with the desk showing through its hole
        pitch = 2 * place[1] / rng.uniform(9, 12)
        cos, sin = math.cos(place[2]), math.sin(place[2])
        a = ((cols - place[0][0]) * cos + (rows - place[0][1]) * sin) / pitch
        b = (-(cols - place[0][0]) * sin + (rows - place[0][1]) * cos) / pitch
        d = np.hypot(a % 1 - 0.5, b % 1 - 0.5)
        beads = colour * np.where(d > 0.6, 0.8, 1.0 - 0.12 * d)[..., None]
        picture = _lay(_shadow(picture, share, -lamp * 1.5, 0.25), share, beads)
        hole = np.clip((0.17 - d) * pitch + 0.5, 0, 1) * share
        return _lay(picture, hole * 0.8, 0.5 * colour + 0.5 * picture.mean(axis=(0, 1)))
    raise ValueError(f"unknown style {style!r}")


def to_desk(view: np.ndarray, points: np.ndarray, side: int) -> np.ndarray:
    """Frame points (n, 2) to the desk points the camera sees there: the wide lens's barrel (a frame point sees
    further out the further it is from the middle), the head's lean (a keystone), its turn, its zoom and its shift."""
    shift, zoom, turn, barrel, lean = view[0:2], view[2], view[3], view[4], view[5:7]
    q = (np.asarray(points, float) - side / 2) / (side / 2)
    q = q * (1 + barrel * (q**2).sum(axis=1, keepdims=True))
    q = q / (1 + q @ lean)[:, None]
    cos, sin = math.cos(turn), math.sin(turn)
    q = q @ np.array([[cos, sin], [-sin, cos]])
    return side / 2 + shift + q / zoom * (side / 2)


def _view(rng: np.random.Generator, side: int) -> np.ndarray:
    """The camera's view as seven numbers (shift x, shift y, zoom, turn, barrel, lean x, lean y): the head turned up to
    6 degrees and leaning, the lens's barrel, and a zoom and shift that keep the desk's edges out of the frame."""
    trial = np.array(
        [0, 0, 1.0, math.radians(rng.uniform(-6, 6)), rng.uniform(0.03, 0.08), *rng.uniform(-0.07, 0.07, 2)]
    )
    edge = np.linspace(0, side, 65)
    rim = np.concatenate(
        [np.c_[edge, 0 * edge], np.c_[edge, 0 * edge + side], np.c_[0 * edge, edge], np.c_[0 * edge + side, edge]]
    )
    reach = float(np.abs(to_desk(trial, rim, side) - side / 2).max()) / (side / 2)
    zoom = reach / 0.97 * rng.uniform(1.0, 1.12)
    room = (0.97 - reach / zoom) * side / 2
    return np.array([*rng.uniform(-room, room, 2), zoom, *trial[3:]])


def _keys(t: np.ndarray) -> np.ndarray:
    """Keys's cubic convolution weights (a = -0.5) of the four taps at -1, 0, 1 and 2 for offsets ``t`` in [0, 1)."""
    s = np.abs(t[..., None] - np.arange(-1, 3))
    near = 1.5 * s**3 - 2.5 * s**2 + 1
    far = -0.5 * s**3 + 2.5 * s**2 - 4 * s + 2
    return np.where(s <= 1, near, np.where(s < 2, far, 0.0))


def bicubic(picture: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The picture read at points (n, 2) in pixels (a pixel's middle at i + 0.5) by Keys's cubic on 4 x 4 taps,
    the taps past an edge held at the edge."""
    x, y = points[:, 0] - 0.5, points[:, 1] - 0.5
    ix, iy = np.floor(x).astype(int), np.floor(y).astype(int)
    wx, wy = _keys(x - ix), _keys(y - iy)
    high = np.array(picture.shape[:2]) - 1
    out = np.zeros((len(points), *picture.shape[2:]))
    for m in range(4):
        row = np.clip(iy + m - 1, 0, high[0])
        for n in range(4):
            weight = wy[:, m] * wx[:, n]
            out += (weight.reshape(-1, *[1] * (picture.ndim - 2))) * picture[row, np.clip(ix + n - 1, 0, high[1])]
    return out


def _blocks(plane: np.ndarray, step: float) -> np.ndarray:
    """A plane (its sides multiples of 4) through the video codec: each 4 x 4 block's core transform, its
    coefficients rounded to ``step`` once scaled to unit rows, and the transform undone."""
    h, w = plane.shape
    tiles = plane.reshape(h // 4, 4, w // 4, 4).transpose(0, 2, 1, 3)
    scale = np.outer(_CORE_NORMS, _CORE_NORMS)
    coefficients = _CORE @ tiles @ _CORE.T / scale
    kept = np.round(coefficients / step) * step * scale
    inverse = np.linalg.inv(_CORE)
    return (inverse @ kept @ inverse.T).transpose(0, 2, 1, 3).reshape(h, w)


def _stream(rng: np.random.Generator, frame: np.ndarray) -> np.ndarray:
    """The camera's video frame: BT.709 studio-range YCbCr, colour halved each way (4:2:0), 4 x 4 blocks quantised."""
    h, w = frame.shape[:2]
    pad_h, pad_w = -h % 8, -w % 8
    rgb = np.pad(np.clip(frame, 0, 255), ((0, pad_h), (0, pad_w), (0, 0)), mode="edge") / 255
    luma = rgb @ np.array([0.2126, 0.7152, 0.0722])
    blue, red = (rgb[..., 2] - luma) / 1.8556, (rgb[..., 0] - luma) / 1.5748
    step = rng.uniform(2.0, 7.0)
    y = _blocks(16 + 219 * luma, step)
    halves = [
        _blocks(128 + 224 * c.reshape(c.shape[0] // 2, 2, c.shape[1] // 2, 2).mean(axis=(1, 3)), step * 1.5)
        for c in (blue, red)
    ]
    blue, red = ((np.repeat(np.repeat(c, 2, axis=0), 2, axis=1) - 128) / 224 for c in halves)
    luma = (y - 16) / 219
    r, b = luma + 1.5748 * red, luma + 1.8556 * blue
    g = (luma - 0.2126 * r - 0.0722 * b) / 0.7152
    out = np.stack([r, g, b], axis=-1)[:h, :w] * 255
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _capture(
    rng: np.random.Generator, picture: np.ndarray, share: np.ndarray, view: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """The document camera's frame of the desk and the object's mask through the same view: the lens read by the
    bicubic kernel, the LED's pool of light and cool white, soft focus, sensor noise, the resize and the stream."""
    side = picture.shape[0]
    rows, cols = np.mgrid[0:side, 0:side] + 0.5
    desk = to_desk(view, np.c_[cols.ravel(), rows.ravel()], side)
    seen = np.clip(bicubic(picture, desk), 0, 255).reshape(side, side, 3)
    paint = np.clip(bicubic(share, desk), 0, 1).reshape(side, side)
    pool, spread = rng.uniform(0.2, 0.8, 2) * side, rng.uniform(0.35, 0.6) * side
    light = rng.uniform(0.9, 1.0) + rng.uniform(0.1, 0.2) * np.exp(
        -((cols - pool[0]) ** 2 + (rows - pool[1]) ** 2) / (2 * spread**2)
    )
    seen = seen * light[..., None] * np.array([rng.uniform(0.94, 0.99), 1.0, rng.uniform(1.01, 1.06)])
    radius = rng.uniform(0.6, 1.4)
    span = np.arange(-2, 3)
    disc = np.clip(radius + 0.5 - np.hypot(*np.meshgrid(span, span)), 0, 1)
    seen = cv2.filter2D(seen.astype(np.float32), -1, (disc / disc.sum()).astype(np.float32)).astype(np.float64)
    seen = seen + rng.standard_normal(seen.shape) * rng.uniform(1.0, 3.0)
    shrink = cv2.INTER_AREA if size < side else cv2.INTER_LINEAR
    seen, paint = (cv2.resize(layer, (size, size), interpolation=shrink) for layer in (seen, paint))
    return _stream(rng, seen), paint >= 0.5


def _fit(
    view: np.ndarray, shape: Formula, goal: np.ndarray, extent: float, turn: float, side: int
) -> tuple[Formula, np.ndarray, float]:
    """The class placed on the desk so that, seen through the view, its box is ``extent`` pixels at its longer side
    and centred on ``goal``: placed by the view's map undone, then corrected twice by the box it makes in the frame;
    returns the placed formula, its middle on the desk and its pixels to a unit."""
    rows, cols = np.mgrid[0:side, 0:side] + 0.5
    desk = to_desk(view, np.c_[cols.ravel(), rows.ravel()], side)
    aim = to_desk(view, goal[None], side)[0]
    middle, scale = aim, extent / 2 / view[2]
    for _ in range(2):
        seen = np.clip(bicubic(cover(placed(shape, middle, scale, turn), side), desk), 0, 1).reshape(side, side)
        ys, xs = np.nonzero(seen >= 0.5)
        longer = max(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
        box = np.array([(xs.min() + xs.max() + 1) / 2, (ys.min() + ys.max() + 1) / 2])
        scale *= extent / longer
        middle = middle + aim - to_desk(view, box[None], side)[0]
    return placed(shape, middle, scale, turn), middle, scale


def render_sealed15_scene(rng: np.random.Generator, size: int) -> SealedScene:
    """One picture; the first draws are the label, the surface and the size band, in that order."""
    label, surface, (band, low, high) = first_draws(rng, SURFACES15, EVERY_BAND)
    style = STYLES15[int(rng.integers(len(STYLES15)))]
    side = _NATIVE
    picture = _surface(rng, surface, side)
    view = _view(rng, side)
    turn = rng.uniform(0, 2 * math.pi)
    extent = rng.uniform(low, high) * side
    goal = rng.uniform(_MARGIN * side + extent / 2, side - _MARGIN * side - extent / 2, 2)
    shape, middle, scale = _fit(view, formula(SHAPE_CLASSES[label]), goal, extent, turn, side)
    share = cover(shape, side)
    picture = _paint(rng, picture, share, style, (middle, scale, turn))
    image, mask = _capture(rng, picture, share, view, size)
    return SealedScene(image, mask, label, surface, band, style)


class ShapesSealed15Dataset(ShapesSealedDataset):
    """The fifteenth sealed set, deterministic per index; evaluation only, and run once per trained model."""

    SALT = _SALT
    SURFACE_KINDS = SURFACES15
    BANDS = EVERY_BAND

    def render(self, rng: np.random.Generator, size: int) -> Any:
        return render_sealed15_scene(rng, size)
