"""The sixteenth sealed renderer: shapes laid out of many small round things, ray-cast through a shop's CCTV fisheye.

Each class is an outline in the box from -1 to 1 (a circle and a ring by their radii, a square, a triangle, a star and
a cross by their corners), and the object is a heap of small discs scattered over it at random: points drawn
uniformly over the class (each polygon a fan of triangles from its middle, chosen by area; a disc and a band by the
root of a uniform radius), and kept only where a disc of the heap's radius clears the outline, so the union lies
inside the class and fills it but for its convex corners, rounded by one disc. Nothing is rasterised: every frame
pixel casts four rays through the lens onto the counter, and a ray is on the object when a disc's middle (found by a
k-d tree) lies within that disc's radius; the cover is the share of its rays that hit. An outline is the same heap
strung along the class's edges as a necklace of beads. The objects are things a customer spills or lays on a shop
counter: coloured sand, sequins, boiled sweets and a bead necklace (a circle's line thinner than a ring's band, so
the two stay apart). The counter is drawn where the rays land, with features as large as the shapes: dominoes on
baize, playing cards on a card table, steel diamond plate, coffee beans, till receipts and a snakes-and-ladders
board. The camera is a shop's ceiling CCTV: an equidistant fisheye tilted and rolled a little, its two interlaced
fields a camera shake apart, the shop's tubes in a falloff with the lens's vignette, a cheap sensor's tint and thin
colour, soft focus, noise, a DVR's 4:1:1 colour and two-level Haar wavelet quantising, and its timestamp along the
top. Nothing in the training generator was, or may be, tuned on its pictures: its figure in the model card is the
result of one run after training.
"""

from __future__ import annotations

import colorsys
import math
from typing import Any

import cv2
import numpy as np
from scipy.spatial import cKDTree

from .shapes_camera import EVERY_BAND
from .shapes_scene import SHAPE_CLASSES
from .shapes_sealed import SealedScene, ShapesSealedDataset, first_draws

SURFACES16: tuple[str, ...] = ("dominoes", "playing cards", "diamond plate", "coffee beans", "receipts", "board game")
STYLES16: tuple[str, ...] = ("coloured sand", "sequins", "boiled sweets", "bead necklace")
OUTLINED16 = "bead necklace"
_NATIVE = 192  # the frame's side in pixels before the resize
_RAYS = 2  # rays cast per pixel along each side
_SALT = 160_161
_LUMA = np.array([0.299, 0.587, 0.114])
_RING_HOLE = 0.55  # a ring's hole, as a share of its outer radius
_STAR_INNER = 0.45  # a star's inner corners, as a share of its points' radius
_ARM = 0.32  # half a cross's bar, as a share of its half length
_GRAIN = {"coloured sand": 0.025, "sequins": 0.045, "boiled sweets": 0.06}  # a disc's radius, in the class's units
_BEAD = 0.05  # a necklace bead's radius, in the class's units: a circle's line stays within a tenth of its radius
_HEAP = 8.0  # discs per disc area: where the heap has room, a point is missed with chance exp(-8)
_NECKLACE_BANDS = ("40-60%", "60-75%")  # a necklace's line is readable only on a shape this large
_MARGIN = 0.07  # the object's box stays this share of the frame's side inside each edge
_STAMP = 0.05  # the timestamp's band along the top, as a share of the side


def corners(name: str) -> np.ndarray:
    """A polygon class's corners in the box from -1 to 1 (y down, a triangle and a star point up), in order round."""
    if name == "square":
        return np.array([(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)])
    if name == "triangle":
        turns = np.radians([-90.0, 30.0, 150.0])
        return np.c_[np.cos(turns), np.sin(turns)]
    if name == "star":
        turns = np.arange(10) * math.pi / 5 - math.pi / 2
        radii = np.where(np.arange(10) % 2 == 0, 1.0, _STAR_INNER)
        return np.c_[radii * np.cos(turns), radii * np.sin(turns)]
    if name == "cross":
        a = _ARM
        steps = [(-a, -1), (a, -1), (a, -a), (1, -a), (1, a), (a, a), (a, 1), (-a, 1), (-a, a), (-1, a), (-1, -a)]
        return np.array([*steps, (-a, -a)], dtype=float)
    raise ValueError(f"no corners for {name!r}")


def clearance(name: str, points: np.ndarray) -> np.ndarray:
    """How far each point (n, 2) lies from the class's outline, in the class's units (inside or out alike)."""
    rho = np.hypot(points[:, 0], points[:, 1])
    if name == "circle":
        return np.abs(1 - rho)
    if name == "ring":
        return np.minimum(np.abs(1 - rho), np.abs(rho - _RING_HOLE))
    ring = corners(name)
    a, b = ring, np.roll(ring, -1, axis=0)
    edge = b - a
    t = np.clip(((points[:, None] - a) * edge).sum(axis=2) / (edge**2).sum(axis=1), 0, 1)
    return np.linalg.norm(points[:, None] - (a + t[..., None] * edge), axis=2).min(axis=1)


def area(name: str) -> float:
    """The class's area in the box from -1 to 1."""
    if name == "circle":
        return math.pi
    if name == "ring":
        return math.pi * (1 - _RING_HOLE**2)
    x, y = corners(name).T
    return 0.5 * abs(float(x @ np.roll(y, -1) - y @ np.roll(x, -1)))


def scatter(rng: np.random.Generator, name: str, count: int) -> np.ndarray:
    """``count`` points drawn uniformly over the class: a disc or a band by the root of a uniform radius squared, a
    polygon by a triangle of its fan from the middle picked by area, then a uniform point in it."""
    if name in ("circle", "ring"):
        inner = _RING_HOLE if name == "ring" else 0.0
        rho = np.sqrt(rng.uniform(inner**2, 1.0, count))
        turn = rng.uniform(0, 2 * math.pi, count)
        return np.c_[rho * np.cos(turn), rho * np.sin(turn)]
    ring = corners(name)
    a, b = ring, np.roll(ring, -1, axis=0)
    areas = 0.5 * np.abs(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])
    pick = rng.choice(len(ring), count, p=areas / areas.sum())
    s, t = rng.random(count), rng.random(count)
    fold = s + t > 1  # a point of the parallelogram beyond the triangle, folded back into it
    s, t = np.where(fold, 1 - s, s), np.where(fold, 1 - t, t)
    return s[:, None] * a[pick] + t[:, None] * b[pick]


def heap(rng: np.random.Generator, name: str, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """A heap of discs filling the class: middles scattered at ``_HEAP`` per disc area and kept where a disc of
    ``radius`` (each a little larger or smaller) clears the outline; returns middles and radii in the class's units."""
    count = int(_HEAP * area(name) / (math.pi * radius**2))
    middles = scatter(rng, name, count)
    radii = radius * rng.uniform(0.85, 1.0, count)
    keep = clearance(name, middles) >= radii
    return middles[keep], radii[keep]


def necklace(rng: np.random.Generator, name: str, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Beads strung along the class's outline, a bead at every corner and the rest a little under a radius apart
    at random, each off the line by a little; a ring, whose band an outline cannot show, is a heap of beads."""
    if name == "ring":
        return heap(rng, name, radius)
    if name == "circle":
        loop = np.c_[np.cos(np.linspace(0, 2 * math.pi, 257)), np.sin(np.linspace(0, 2 * math.pi, 257))][:-1]
    else:
        loop = corners(name)
    beads = []
    for a, b in zip(loop, np.roll(loop, -1, axis=0), strict=True):
        length = float(np.linalg.norm(b - a))
        steps = np.cumsum(rng.uniform(0.7, 1.0, int(length / (0.7 * radius)) + 2) * radius)
        beads.append(a)
        beads.extend(a + (b - a) * (s / length) for s in steps[steps < length - 0.5 * radius])
    middles = np.array(beads)
    middles = middles + rng.normal(0, 0.08 * radius, middles.shape)
    return middles, radius * rng.uniform(0.9, 1.0, len(middles))


def hits(points: np.ndarray, middles: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """For each ray's point on the counter (n, 2), the uppermost disc (the last laid) whose radius reaches it, or -1:
    the k-d tree gives the eight nearest middles, and a disc hits when the point lies within its radius."""
    top = np.full(len(points), -1)
    if not len(middles):
        return top
    low, high = middles.min(axis=0) - radii.max(), middles.max(axis=0) + radii.max()
    near = np.nonzero(((points >= low) & (points <= high)).all(axis=1))[0]
    if not len(near):
        return top
    k = min(8, len(middles))
    distance, index = cKDTree(middles).query(points[near], k=k, distance_upper_bound=float(radii.max()))
    distance, index = distance.reshape(len(near), k), index.reshape(len(near), k)
    found = index < len(middles)
    reach = np.where(found, radii[np.minimum(index, len(middles) - 1)], -1.0)
    top[near] = np.where(distance < reach, index, -1).max(axis=1)
    return top


def to_counter(view: np.ndarray, points: np.ndarray, side: int) -> np.ndarray:
    """Frame points (n, 2) to where their rays land on the counter: an equidistant fisheye (the angle off the axis
    grows as the distance from the frame's middle), the camera rolled and pitched, and the ray met with the counter's
    plane, scaled so that a frame pixel at the middle of a level camera sees one counter pixel."""
    field, roll, pitch = view[0], view[1], view[2]
    q = (np.asarray(points, float) - side / 2) / (side / 2)
    rho = np.hypot(q[:, 0], q[:, 1])
    theta = field * rho
    with np.errstate(invalid="ignore", divide="ignore"):
        ux, uy = np.where(rho > 0, q[:, 0] / rho, 1.0), np.where(rho > 0, q[:, 1] / rho, 0.0)
    x, y, z = np.sin(theta) * ux, np.sin(theta) * uy, np.cos(theta)
    x, y = math.cos(roll) * x - math.sin(roll) * y, math.sin(roll) * x + math.cos(roll) * y
    y, z = math.cos(pitch) * y + math.sin(pitch) * z, -math.sin(pitch) * y + math.cos(pitch) * z
    return side / 2 + np.c_[x / z, y / z] / field * (side / 2)


def _view(rng: np.random.Generator) -> np.ndarray:
    """The CCTV's view (half field in radians across half the frame, roll, pitch, the second field's shake in
    counter pixels): a 30-42 degree half field, rolled up to 7 degrees, pitched 4-14 degrees, shaken up to 0.8 px."""
    return np.array(
        [
            math.radians(rng.uniform(30, 42)),
            math.radians(rng.uniform(-7, 7)),
            math.radians(rng.uniform(4, 14)) * rng.choice([-1, 1]),
            rng.uniform(0.2, 0.8) * rng.choice([-1, 1]),
        ]
    )


def rays(view: np.ndarray, side: int) -> np.ndarray:
    """Where each frame pixel's four rays land on the counter, as (side, side, 4, 2): the odd rows are the second
    interlaced field, taken a moment later, when the camera had shaken ``view[3]`` pixels sideways."""
    offsets = (np.arange(_RAYS) + 0.5) / _RAYS
    rows, cols = np.mgrid[0:side, 0:side]
    sub_y, sub_x = np.meshgrid(offsets, offsets, indexing="ij")
    x = (cols[..., None] + sub_x.ravel()).ravel()
    y = (rows[..., None] + sub_y.ravel()).ravel()
    land = to_counter(view, np.c_[x, y], side).reshape(side, side, _RAYS**2, 2)
    land[1::2, :, :, 0] += view[3]
    return land


def _tone(rng: np.random.Generator, grey: float, strength: float = 1.0) -> np.ndarray:
    """A colour of a random hue whose grey is exactly ``grey``: the grey plus the hue's chroma (its colour less its
    own grey), scaled as far as 0-255 allows, times ``strength``."""
    hue = np.array(colorsys.hsv_to_rgb(rng.random(), 1.0, 1.0)) * 255
    chroma = hue - hue @ _LUMA
    room = min(((255 - grey) / c if c > 0 else (grey / -c if c < 0 else np.inf)) for c in chroma)
    return grey + chroma * min(room, 1.0) * strength * rng.uniform(0.5, 1.0)


def _items(rng: np.random.Generator, count: int, side: int, sizes: tuple[float, float]) -> list[tuple[Any, ...]]:
    """``count`` things strewn over the counter the camera sees (its middle and a frame's side around it): a
    middle, a turn and a length each."""
    return [
        (rng.uniform(-0.6, 1.6, 2) * side, rng.uniform(0, math.pi), rng.uniform(*sizes) * side) for _ in range(count)
    ]


def _local(
    points: np.ndarray, middle: np.ndarray, turn: float, length: float, reach: float = 0.6
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The points within ``reach`` lengths of a thing's middle (their indices) in its own frame: along and across
    it, in its lengths; the rest of the counter is left alone, so a thing costs only what it covers."""
    near = np.nonzero(np.abs(points[:, 0] - middle[0]) < reach * length)[0]
    near = near[np.abs(points[near, 1] - middle[1]) < reach * length]
    d = points[near] - middle
    along = (d @ np.array([math.cos(turn), math.sin(turn)])) / length
    across = (d @ np.array([-math.sin(turn), math.cos(turn)])) / length
    return near, along, across


_PIPS = {  # a die face's pips on a 3 x 3 grid, (along, across) from -1 to 1
    0: [],
    1: [(0, 0)],
    2: [(-1, -1), (1, 1)],
    3: [(-1, -1), (0, 0), (1, 1)],
    4: [(-1, -1), (-1, 1), (1, -1), (1, 1)],
    5: [(-1, -1), (-1, 1), (0, 0), (1, -1), (1, 1)],
    6: [(-1, -1), (-1, 0), (-1, 1), (1, -1), (1, 0), (1, 1)],
}


def counter(rng: np.random.Generator, kind: str, points: np.ndarray, side: int) -> np.ndarray:
    """The counter's colour (n, 3) where the rays land, most of it with features a shape's size."""
    x, y = points[:, 0], points[:, 1]
    n = len(points)
    if kind == "dominoes":  # tiles two squares long with their pips, strewn face up over baize
        picture = np.tile(_tone(rng, rng.uniform(120, 145), 0.6), (n, 1))
        ivory, ink = (np.array([232.0, 226, 206]), np.array([25.0, 25, 28]))
        if rng.random() < 0.4:
            ivory, ink = ink + 5, ivory
        for middle, turn, length in _items(rng, 60, side, (0.2, 0.28)):
            near, a, b = _local(points, middle, turn, length)
            tile = (np.abs(a) < 0.5) & (np.abs(b) < 0.25)
            paint = np.where(tile[:, None], ivory, picture[near])
            paint[tile & (np.abs(a) < 0.012)] = ink
            for half, spots in ((-1, _PIPS[int(rng.integers(7))]), (1, _PIPS[int(rng.integers(7))])):
                for sa, sb in spots:
                    pip = np.hypot(a - half * 0.25 - sa * 0.14, b - sb * 0.14) < 0.045
                    paint[tile & pip] = ink
            rim = tile & ((np.abs(a) > 0.485) | (np.abs(b) > 0.235))
            paint[rim] = paint[rim] * 0.7
            picture[near] = paint
    elif kind == "playing cards":  # cards strewn over a card table, each with two columns of suit marks
        picture = np.tile(_tone(rng, rng.uniform(120, 145), 0.5), (n, 1))
        for middle, turn, length in _items(rng, 45, side, (0.24, 0.32)):
            near, a, b = _local(points, middle, turn, length)
            card = (np.abs(a) < 0.5) & (np.abs(b) < 0.36)
            paint = picture[near]
            paint[card] = (246.0, 244, 238)
            ink = np.array([200.0, 30, 40]) if rng.random() < 0.5 else np.array([20.0, 20, 24])
            diamond = rng.random() < 0.5
            for sa in np.linspace(-0.3, 0.3, int(rng.integers(2, 5))):
                for sb in (-0.14, 0.14):
                    u, v = np.abs(a - sa), np.abs(b - sb)
                    mark = (u + v < 0.07) if diamond else (np.hypot(u, v) < 0.05)
                    paint[card & mark] = ink
            corner = (np.abs(a + 0.4) < 0.05) & (np.abs(b + 0.27) < 0.04)
            paint[card & corner] = ink
            paint[card & ((np.abs(a) > 0.49) | (np.abs(b) > 0.35))] = 150.0
            picture[near] = paint
    elif kind == "diamond plate":  # steel with raised lozenges in a herringbone, lit from one side,
        # the shop's tubes reflected across it in broad bands
        steel = _tone(rng, rng.uniform(125, 160), 0.15)
        pitch, turn = side * rng.uniform(0.09, 0.13), rng.uniform(0, math.pi)
        u = (x * math.cos(turn) + y * math.sin(turn)) / pitch
        v = (-x * math.sin(turn) + y * math.cos(turn)) / pitch
        row = np.floor(v)
        lean = np.where(row % 2 == 0, 1.0, -1.0)
        a, b = (u + 0.5 * row) % 1 - 0.5, v % 1 - 0.5
        p, q = (a + lean * b) / math.sqrt(2), (a - lean * b) / math.sqrt(2)
        ridge = (np.abs(p) < 0.32) & (np.abs(q) < 0.07)
        lit = np.where(q * lean > 0, 1.35, 0.6)
        across = x * math.cos(turn + 0.4) + y * math.sin(turn + 0.4)
        tubes = 0.75 + 0.5 * np.exp(-(((across / side * rng.uniform(2, 3.5) + rng.random()) % 1 - 0.5) ** 2) / 0.02)
        picture = steel * (np.where(ridge, lit, 1.0) * tubes)[:, None]
    elif kind == "coffee beans":  # a bed of roasted beans, one to a cell of a jittered grid, each with its crease
        pitch = side * rng.uniform(0.07, 0.1)
        cell_x, cell_y = np.floor(x / pitch).astype(int), np.floor(y / pitch).astype(int)
        salt = int(rng.integers(1 << 30))
        best = np.full(n, np.inf)
        shade = np.zeros(n)
        crease = np.zeros(n, bool)
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                cx, cy = cell_x + dx, cell_y + dy
                code = (cx * 73_856_093) ^ (cy * 19_349_663) ^ salt
                hashed = [np.sin(code * k + salt % 97) * 43_758.5453 % 1 for k in (1.1, 2.3, 3.7, 5.3)]
                middle_x, middle_y = (cx + 0.2 + 0.6 * hashed[0]) * pitch, (cy + 0.2 + 0.6 * hashed[1]) * pitch
                turn = hashed[2] * math.pi
                a = ((x - middle_x) * np.cos(turn) + (y - middle_y) * np.sin(turn)) / (0.75 * pitch)
                b = (-(x - middle_x) * np.sin(turn) + (y - middle_y) * np.cos(turn)) / (0.5 * pitch)
                d = np.hypot(a, b)
                closer = (d < 1) & (d < best)
                best = np.where(closer, d, best)
                shade = np.where(closer, 0.6 + 0.8 * hashed[3] - 0.3 * d**2, shade)
                crease = np.where(closer, np.abs(b - 0.2 * np.sin(a * 3)) < 0.12, crease)
        bean = _tone(rng, rng.uniform(65, 95), 0.5)
        picture = np.where(np.isfinite(best)[:, None], bean * shade[:, None], bean * 0.35)
        picture[crease] = picture[crease] * 0.45
    elif kind == "receipts":  # till receipts strewn over a laminate counter: rows of print, a total, a barcode
        picture = np.tile(_tone(rng, rng.uniform(90, 150), 0.7), (n, 1))
        for middle, turn, length in _items(rng, 12, side, (0.6, 0.9)):
            near, a, b = _local(points, middle, turn, length)
            paper = (np.abs(a) < 0.5) & (np.abs(b) < 0.12)
            paint = picture[near]
            paint[paper] = (240.0, 238, 232)
            line = (np.abs((a * 22) % 1 - 0.5) < 0.18) & (np.abs(b) < 0.1) & (np.abs(a) < 0.3)
            line &= (np.floor(a * 22) * 7 % 5 != 0) & ((b + 0.1) % 0.08 < 0.05)
            total = (np.abs(a - 0.33) < 0.02) & (np.abs(b) < 0.1)
            bars = (a > 0.38) & (a < 0.47) & (np.abs(b) < 0.09) & (np.sin(b * 260 + np.sin(b * 37) * 3) > 0.2)
            paint[paper & (line | total | bars)] = (60.0, 60, 66)
            picture[near] = paint
    elif kind == "board game":  # a board of numbered squares in four colours, ladders and snakes across it
        cell, turn = side * rng.uniform(0.14, 0.2), rng.uniform(-0.3, 0.3)
        u = (x * math.cos(turn) + y * math.sin(turn)) / cell
        v = (-x * math.sin(turn) + y * math.cos(turn)) / cell
        colours = np.array([_tone(rng, grey, 0.8) for grey in rng.permutation([110.0, 150, 190, 225])])
        picture = colours[((np.floor(u) + 2 * np.floor(v)) % 4).astype(int)]
        a, b = u % 1, v % 1
        number = (a > 0.1) & (a < 0.3) & (b > 0.1) & (b < 0.28) & (np.sin(a * 60) > -0.2)
        picture[number] = (40.0, 40, 40)
        picture[(np.minimum(a, b) < 0.03)] = (70.0, 70, 70)
        for _ in range(3):
            start, turn2, length = rng.uniform(-0.2, 1.2, 2) * side, rng.uniform(0, math.pi), side * 0.8
            near, along, across = _local(points, start, turn2, length, 1.1)
            reach = (along > 0) & (along < 1)
            rails = reach & (np.abs(np.abs(across) - 0.05) < 0.012)
            rungs = reach & (np.abs(across) < 0.05) & ((along * 12) % 1 < 0.12)
            picture[near[rails | rungs]] = (150.0, 100, 50)
        for _ in range(2):
            start, turn2, length = rng.uniform(-0.2, 1.2, 2) * side, rng.uniform(0, math.pi), side * 0.8
            near, along, across = _local(points, start, turn2, length, 1.1)
            body = (along > 0) & (along < 1) & (np.abs(across - 0.06 * np.sin(along * 14)) < 0.025)
            head = np.hypot(along - 1, across - 0.06 * math.sin(14)) < 0.045
            picture[near[body | head]] = _tone(rng, rng.uniform(60, 90))
    else:
        raise ValueError(f"unknown surface {kind!r}")
    return np.clip(picture, 0, 255)


def _ink(rng: np.random.Generator, around: np.ndarray) -> np.ndarray:
    """The object's colour, of any hue: dark (grey 20-50) or light (205-240), whichever fewer of the counter's
    pixels round it come within 70 grey levels of, so that white dominoes or cards round a shape do not hide it."""
    greys = around @ _LUMA if len(around) else np.array([128.0])
    dark, light = rng.uniform(20, 50), rng.uniform(205, 240)
    crowd_dark, crowd_light = (float((np.abs(greys - level) < 70).mean()) for level in (dark, light))
    return _tone(rng, dark if crowd_dark <= crowd_light else light)


def shade(
    rng: np.random.Generator, style: str, colour: np.ndarray, top: np.ndarray, offset: np.ndarray, count: int
) -> np.ndarray:
    """The object's colour (n, 3) at the rays that hit it, from the disc each hits (``top``) and where on that disc
    (``offset``, in its radii): sand grains each a little lighter or darker, sequins each catching the light or not,
    a sweet's or a bead's dome with a highlight."""
    lift = rng.uniform(-1, 1, count)[top]
    spot = np.hypot(offset[:, 0] + 0.35, offset[:, 1] + 0.35)
    rim = np.hypot(offset[:, 0], offset[:, 1])
    dark = colour @ _LUMA < 128
    if style == "coloured sand":
        factor = 1 + 0.12 * lift
    elif style == "sequins":
        factor = 1 + 0.18 * lift - 0.2 * (rim > 0.8)
    else:  # a sweet or a bead: a dome darker at its rim, a highlight towards the lamp
        factor = 1.05 - 0.25 * rim**2 + 0.05 * lift
    out = colour * factor[:, None]
    if style != "coloured sand":
        glint = np.clip(1 - spot / 0.3, 0, 1) * (0.25 if dark else 0.5)
        out = out + glint[:, None] * (255 - out) * (0.5 if dark else 1.0)
    return np.clip(out, 0, 255)


def _fit(
    placed_heap: tuple[np.ndarray, np.ndarray], land: np.ndarray, view: np.ndarray, goal: np.ndarray, extent: float
) -> tuple[np.ndarray, np.ndarray]:
    """The heap (middles, radii in the class's units, turned) placed on the counter so that its mask's box in the
    frame is ``extent`` pixels at its longer side, centred on ``goal``: aimed by the ray through the goal, then
    rescaled and moved three times by the box its rays make; returns middles and radii in counter pixels."""
    side = land.shape[0]
    middles, radii = placed_heap
    aim = to_counter(view, goal[None], side)[0]
    middle, scale = aim, extent / 2
    for _ in range(3):
        mask = _cover(land, middle + scale * middles, scale * radii) >= 0.5
        ys, xs = np.nonzero(mask)
        longer = max(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
        box = np.array([(xs.min() + xs.max() + 1) / 2, (ys.min() + ys.max() + 1) / 2])
        scale *= extent / longer
        middle = middle + aim - to_counter(view, box[None], side)[0]
    return middle + scale * middles, scale * radii


def _cover(land: np.ndarray, middles: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Each frame pixel's share of rays that land on a disc."""
    side = land.shape[0]
    return (hits(land.reshape(-1, 2), middles, radii) >= 0).reshape(side, side, -1).mean(axis=2)


def _haar(plane: np.ndarray, step: float, levels: int = 2) -> np.ndarray:
    """A plane (its sides multiples of 4) through the DVR's wavelet codec: a two-level Haar transform, every detail
    coefficient rounded to ``step`` (the coarsest averages kept), and the transform undone."""
    if levels == 0:
        return plane
    a, b = plane[0::2, 0::2], plane[0::2, 1::2]
    c, d = plane[1::2, 0::2], plane[1::2, 1::2]
    average = (a + b + c + d) / 4
    details = [(a - b + c - d) / 4, (a + b - c - d) / 4, (a - b - c + d) / 4]
    average = _haar(average, step * 1.5, levels - 1)
    h, v, g = (np.round(detail / step) * step for detail in details)
    out = np.empty_like(plane)
    out[0::2, 0::2], out[0::2, 1::2] = average + h + v + g, average - h + v - g
    out[1::2, 0::2], out[1::2, 1::2] = average + h - v - g, average - h - v + g
    return out


def _record(rng: np.random.Generator, frame: np.ndarray) -> np.ndarray:
    """The DVR's recording of a frame: BT.601 YCbCr, colour averaged over four pixels along each row (4:1:1),
    brightness through the wavelet codec and colour more coarsely."""
    h, w = frame.shape[:2]
    rgb = np.pad(np.clip(frame, 0, 255), ((0, -h % 4), (0, -w % 4), (0, 0)), mode="edge")
    luma = rgb @ _LUMA
    blue, red = (rgb[..., 2] - luma) * 0.564, (rgb[..., 0] - luma) * 0.713
    step = rng.uniform(3.0, 8.0)
    luma = _haar(luma, step)
    blue, red = (
        np.repeat(_haar(c.reshape(c.shape[0], -1, 4).mean(axis=2), step * 2, 1), 4, axis=1) for c in (blue, red)
    )
    r, b = luma + red / 0.713, luma + blue / 0.564
    g = (luma - 0.299 * r - 0.114 * b) / 0.587
    return np.clip(np.stack([r, g, b], axis=-1)[:h, :w] + 0.5, 0, 255).astype(np.uint8)


def stamp(rng: np.random.Generator, frame: np.ndarray) -> np.ndarray:
    """The DVR's date and time written along the top of the frame, white with a dark edge, within ``_STAMP`` of it."""
    size = frame.shape[0]
    text = f"2026-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d} {rng.integers(24):02d}:{rng.integers(60):02d}"
    band = max(int(_STAMP * size), 2)
    layer = np.zeros((band, size), np.uint8)
    scale = band / 16
    cv2.putText(layer, text, (max(size // 40, 1), band - max(band // 6, 1)), cv2.FONT_HERSHEY_PLAIN, scale, 255, 1)
    out = frame.copy()
    writing = layer > 0
    edge = cv2.dilate(layer, np.ones((2, 2), np.uint8)) > 0
    out[:band][edge & ~writing] = out[:band][edge & ~writing] // 3
    out[:band][writing] = 235
    return out


def _capture(
    rng: np.random.Generator, picture: np.ndarray, cover: np.ndarray, view: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """The CCTV's frame of what the rays saw and the object's mask from the same rays: the shop's light with the
    fisheye's vignette, the sensor's tint and thin colour, soft focus, the resize, noise, the DVR and its stamp."""
    side = picture.shape[0]
    rows, cols = np.mgrid[0:side, 0:side] + 0.5
    rho = np.hypot(cols - side / 2, rows - side / 2) / (side / 2)
    lamp = rng.uniform(-1, 1, 2)
    light = (np.cos(view[0] * rho) ** 3) * (1 + 0.12 * ((cols / side - 0.5) * lamp[0] + (rows / side - 0.5) * lamp[1]))
    seen = picture * (rng.uniform(1.0, 1.1) * light)[..., None]
    grey = seen @ _LUMA
    seen = grey[..., None] + rng.uniform(0.65, 0.9) * (seen - grey[..., None])
    seen = seen * np.array([rng.uniform(0.93, 1.0), 1.0, rng.uniform(0.9, 1.0)])
    seen = cv2.GaussianBlur(seen.astype(np.float32), (0, 0), rng.uniform(0.5, 1.0)).astype(np.float64)
    shrink = cv2.INTER_AREA if size < side else cv2.INTER_LINEAR
    seen, share = (cv2.resize(layer, (size, size), interpolation=shrink) for layer in (seen, cover))
    seen = seen + rng.standard_normal((size, size, 1)) * rng.uniform(1.5, 4.0) + rng.standard_normal(seen.shape)
    return stamp(rng, _record(rng, seen)), share >= 0.5


def render_sealed16_scene(rng: np.random.Generator, size: int) -> SealedScene:
    """One picture; the first draws are the label, the surface and the size band, in that order."""
    label, surface, (band, low, high) = first_draws(rng, SURFACES16, EVERY_BAND)
    style = STYLES16[int(rng.integers(len(STYLES16)))]
    if style == OUTLINED16 and band not in _NECKLACE_BANDS:
        style = STYLES16[int(rng.integers(len(STYLES16) - 1))]
    name = SHAPE_CLASSES[label]
    side = _NATIVE
    view = _view(rng)
    land = rays(view, side)
    if style == OUTLINED16:
        middles, radii = necklace(rng, name, _BEAD)
    else:
        middles, radii = heap(rng, name, _GRAIN[style])
    turn = rng.uniform(0, 2 * math.pi)
    spin = np.array([[math.cos(turn), math.sin(turn)], [-math.sin(turn), math.cos(turn)]])
    extent = rng.uniform(low, high) * side
    goal = rng.uniform(_MARGIN * side + extent / 2, side - _MARGIN * side - extent / 2, 2)
    middles, radii = _fit((middles @ spin, radii), land, view, goal, extent)
    flat = land.reshape(-1, 2)
    top = hits(flat, middles, radii)
    colours = counter(rng, surface, flat, side)
    on = top >= 0
    cover = on.reshape(side, side, -1).mean(axis=2)
    near = cv2.dilate((cover > 0).astype(np.uint8), np.ones((13, 13), np.uint8)) > 0
    around = colours.reshape(side, side, -1, 3).mean(axis=2)[near & (cover == 0)]
    colour = _ink(rng, around)
    if style in ("boiled sweets", "bead necklace"):  # a small dome throws a shadow on the counter beside it
        drop = rng.normal(size=2)
        drop = drop / np.linalg.norm(drop) * 0.4 * float(radii.mean())
        dim = ~on & (hits(flat - drop, middles, radii * 1.1) >= 0)
        colours[dim] *= 0.65
    offset = (flat[on] - middles[top[on]]) / radii[top[on], None]
    colours[on] = shade(rng, style, colour, top[on], offset, len(middles))
    picture = colours.reshape(side, side, -1, 3).mean(axis=2)
    image, mask = _capture(rng, picture, cover, view, size)
    return SealedScene(image, mask, label, surface, band, style)


class ShapesSealed16Dataset(ShapesSealedDataset):
    """The sixteenth sealed set, deterministic per index; evaluation only, and run once per trained model."""

    SALT = _SALT
    SURFACE_KINDS = SURFACES16
    BANDS = EVERY_BAND

    def render(self, rng: np.random.Generator, size: int) -> Any:
        return render_sealed16_scene(rng, size)
