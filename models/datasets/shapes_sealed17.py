"""The seventeenth sealed renderer: shapes marked out on open ground, drawn from their Fourier transform, by drone.

Each class is one or more closed loops (a circle and a ring of 192 sides, a ring's hole wound against its outer loop,
a star ten corners, a cross twelve) mapped through the drone's camera onto the frame, and the object's cover is
computed in the frequency domain: the divergence theorem turns the area integral of ``exp(-i k.x)`` over the shape
into an integral along its outline, taken by two-point Gauss-Legendre quadrature on pieces at most 1.25 px long, for
every frequency of a square tile round the shape at once (one matrix product); the transform is windowed by a
Gaussian of 0.6 px and brought back by an inverse real FFT, so the cover is the shape smoothed by that Gaussian and
no point is tested inside or out. The objects are what is marked out on open ground to be seen from the air:
thermoplastic playground paint with its glass beads and scuffs, a survey tarpaulin with its folds and darker hem, a
bed of flowering plants, and a line of marking paint
along the outline (a circle's line at most a tenth of its radius, a ring a painted band). The ground is what a drone
flies over, with features as large as the shapes: a car park's bays with oil stains and sealed cracks, a lawn mown in
stripes with bare patches, granite setts with puddles, a beach with its tide line, tyre tracks and footprints, a
running track's curved lanes, and trampled snow with ski tracks. The camera is a drone's, looking down from its
gimbal: a pinhole at a height, pitched off the vertical (a keystone) and turned, the rows of its rolling shutter
shaken sideways by the propellers (jello), a cloud's shadow, haze towards the sky's colour, defocus as a disc's
optical transfer function, an area resize, shot and read noise, and 8-bit log-profile coding opened by a display
lookup (banding in the highlights). Nothing in the training generator was, or may be, tuned on its pictures: its
figure in the model card is the result of one run after training.
"""

from __future__ import annotations

import colorsys
import math
from typing import Any

import cv2
import numpy as np
from scipy import special

from .shapes_camera import EVERY_BAND
from .shapes_scene import SHAPE_CLASSES
from .shapes_sealed import SealedScene, ShapesSealedDataset, first_draws
from .shapes_strokes import CIRCLE_LINE_SHARE

SURFACES17: tuple[str, ...] = ("car park", "striped lawn", "granite setts", "beach", "running track", "snow")
STYLES17: tuple[str, ...] = ("playground paint", "tarpaulin", "flower bed", "line paint")
OUTLINED17 = "line paint"
_LINE_BANDS = ("40-60%", "60-75%")  # a painted line is readable at 64 px only on a shape this large
_NATIVE = 192  # the frame's side in pixels before the resize
_SALT = 170_173
_LUMA = np.array([0.299, 0.587, 0.114])
_WINDOW = 0.6  # the Gaussian smoothing the cover, in pixels
_PIECE = 1.25  # the longest piece of outline one pair of quadrature points stands for, in pixels
_ROUND = 192  # sides of a circle's polygon
_RING_HOLE = (0.5, 0.58)  # a ring's hole, as a share of its outer radius
_STAR_INNER = 0.45  # a star's inner corners, as a share of its points' radius
_ARM = 0.32  # half a cross's bar, as a share of its half length
_MARGIN = 0.06  # the object's box stays this share of the frame's side inside each edge
_FIELD = math.radians(70)  # the camera's field of view across the frame
_POINTS_BACK = {"square": 0.75, "triangle": 1.3, "star": 2.1, "cross": 0.85}  # px the smoothing takes off a box


def loops(name: str, hole: float = 0.54) -> list[np.ndarray]:
    """The class's closed loops in the box from -1 to 1 (y down, a triangle and a star point up): the outer loop
    first, anticlockwise as its shoelace counts (positive area), and a ring's hole after it, wound the other way."""
    if name in ("circle", "ring"):
        turns = np.linspace(0, 2 * math.pi, _ROUND, endpoint=False)
        outer = np.c_[np.cos(turns), np.sin(turns)]
        return [outer, hole * outer[::-1]] if name == "ring" else [outer]
    if name == "square":
        corners = [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)]
    elif name == "triangle":
        turns = np.radians([-90.0, 30.0, 150.0])
        corners = list(zip(np.cos(turns), np.sin(turns), strict=True))
    elif name == "star":
        turns = np.arange(10) * math.pi / 5 - math.pi / 2
        radii = np.where(np.arange(10) % 2 == 0, 1.0, _STAR_INNER)
        corners = list(zip(radii * np.cos(turns), radii * np.sin(turns), strict=True))
    else:
        a = _ARM
        corners = [(-a, -1), (a, -1), (a, -a), (1, -a), (1, a), (a, a), (a, 1), (-a, 1), (-a, a), (-1, a), (-1, -a)]
        corners.append((-a, -a))
    return [np.array(corners, dtype=float)]


def shoelace(loop: np.ndarray) -> float:
    """A closed loop's signed area (positive when x turns towards y)."""
    x, y = loop[:, 0], loop[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def offset(loop: np.ndarray, distance: float) -> np.ndarray:
    """A loop moved ``distance`` outwards (inwards when negative) along each edge's normal, its corners mitred: the
    edge of a painted line of even width along it."""
    ahead, behind = np.roll(loop, -1, axis=0) - loop, loop - np.roll(loop, 1, axis=0)
    sign = 1.0 if shoelace(loop) > 0 else -1.0

    def normal(edge: np.ndarray) -> np.ndarray:
        return sign * np.c_[edge[:, 1], -edge[:, 0]] / np.linalg.norm(edge, axis=1, keepdims=True)

    n1, n2 = normal(behind), normal(ahead)
    mitre = n1 + n2
    return loop + distance * mitre / np.sum(mitre * n1, axis=1, keepdims=True)


def line_half(rng: np.random.Generator, name: str) -> float:
    """Half a painted line's width, in the class's units (a circle's radius is one): a circle's whole line at most
    ``CIRCLE_LINE_SHARE`` of its radius, so that it never passes for a ring's band."""
    if name == "circle":
        return rng.uniform(0.6, 0.95) * CIRCLE_LINE_SHARE / 2
    return rng.uniform(0.035, 0.05)


def outline_quadrature(frame_loops: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Points along the loops and, at each, its edge's outward normal times its share of the edge's length: two
    Gauss-Legendre points on each piece of an edge under ``_PIECE`` long, so that a sum over them integrates a
    smooth function along the outline, each loop counted with its winding."""
    nodes = 0.5 + np.array([-0.5, 0.5]) / math.sqrt(3)
    points, normals = [], []
    for loop in frame_loops:
        start, edge = loop, np.roll(loop, -1, axis=0) - loop
        pieces = np.maximum(np.ceil(np.linalg.norm(edge, axis=1) / _PIECE), 1).astype(int)
        which = np.repeat(np.arange(len(loop)), pieces)
        step = np.concatenate([np.arange(p) for p in pieces])
        for node in nodes:
            t = (step + node) / pieces[which]
            points.append(start[which] + t[:, None] * edge[which])
            normals.append(np.c_[edge[which, 1], -edge[which, 0]] * (0.5 / pieces[which])[:, None])
    return np.concatenate(points), np.concatenate(normals)


def fourier_cover(frame_loops: list[np.ndarray], side: int, window: float = _WINDOW) -> np.ndarray:
    """Each pixel's cover by the loops (pixel (r, c) centred at (c + 0.5, r + 0.5)), from the shape's Fourier
    transform: for k != 0 it is (i / |k|^2) times the outline integral of (k . n) exp(-i k.x), at k = 0 the area;
    windowed by a Gaussian of ``window`` px and inverted by a real FFT over a square tile round the loops."""
    every = np.concatenate(frame_loops)
    low = np.floor(every.min(axis=0)).astype(int) - 8
    tile = int(math.ceil((every.max(axis=0) - low).max() + 8))
    tile += tile % 2
    points, normals = outline_quadrature([loop - low - 0.5 for loop in frame_loops])
    ky = (2 * math.pi * np.fft.fftfreq(tile)).astype(np.float32)
    kx = (2 * math.pi * np.fft.rfftfreq(tile)).astype(np.float32)
    px, py = points[:, 0].astype(np.float32), points[:, 1].astype(np.float32)
    phase_y, phase_x = ky[:, None] * py[None, :], px[:, None] * kx[None, :]
    rows = (np.cos(phase_y) - 1j * np.sin(phase_y)).astype(np.complex64)  # (tile, n)
    cols = np.cos(phase_x) - 1j * np.sin(phase_x)  # (n, tile // 2 + 1)
    both = np.concatenate([normals[:, :1] * cols, normals[:, 1:] * cols], axis=1).astype(np.complex64)
    sums = rows @ both
    along_x, along_y = sums[:, : len(kx)], sums[:, len(kx) :]
    kxx, kyy = np.meshgrid(kx, ky)
    k2 = kxx**2 + kyy**2
    k2[0, 0] = 1.0
    spectrum = 1j * (kxx * along_x + kyy * along_y) / k2
    spectrum[0, 0] = sum(shoelace(loop) for loop in frame_loops)
    k2[0, 0] = 0.0
    spectrum *= np.exp(-0.5 * window**2 * k2)
    small = np.fft.irfft2(spectrum, s=(tile, tile))
    cover = np.zeros((side, side))
    x0, y0 = max(low[0], 0), max(low[1], 0)
    x1, y1 = min(low[0] + tile, side), min(low[1] + tile, side)
    cover[y0:y1, x0:x1] = small[y0 - low[1] : y1 - low[1], x0 - low[0] : x1 - low[0]]
    return np.clip(cover, 0.0, 1.0)


def _view(rng: np.random.Generator) -> dict[str, float]:
    """The drone's camera: its gimbal's pitch off the vertical and the direction it leans, its heading, and its
    rolling shutter's shake (a row's shift's amplitude in pixels, period in rows and phase)."""
    return {
        "pitch": math.radians(rng.uniform(3, 14)),
        "lean": rng.uniform(0, 2 * math.pi),
        "heading": rng.uniform(0, 2 * math.pi),
        "shake": rng.uniform(0.4, 1.3),
        "period": rng.uniform(36, 80),
        "phase": rng.uniform(0, 2 * math.pi),
    }


def homography(view: dict[str, float], side: int) -> np.ndarray:
    """The ground (in units of a frame pixel at the nadir) to the frame, for a pinhole at the height that makes a
    level camera's scale one: turned by the heading, then pitched about an axis at the lean."""
    focal = side / 2 / math.tan(_FIELD / 2)
    c, s = math.cos(view["heading"]), math.sin(view["heading"])
    turn = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    a, p = view["lean"], view["pitch"]
    axis = np.array([math.cos(a), math.sin(a), 0.0])
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    tilt = np.eye(3) + math.sin(p) * cross + (1 - math.cos(p)) * cross @ cross  # Rodrigues
    lens = np.array([[focal, 0, side / 2], [0, focal, side / 2], [0, 0, 1]])
    return lens @ tilt @ turn @ np.diag([1.0, 1.0, focal])


def shake(view: dict[str, float], rows: np.ndarray) -> np.ndarray:
    """How far the rolling shutter shifts each frame row sideways: the propellers' shake while it is read out."""
    return view["shake"] * np.sin(2 * math.pi * rows / view["period"] + view["phase"])


def to_frame(view: dict[str, float], ground: np.ndarray, side: int) -> np.ndarray:
    """Ground points (n, 2) to the frame: through the pinhole, then each row shifted by the shutter's shake."""
    seen = np.c_[ground, np.ones(len(ground))] @ homography(view, side).T
    frame = seen[:, :2] / seen[:, 2:]
    frame[:, 0] += shake(view, frame[:, 1])
    return frame


def to_ground(view: dict[str, float], frame: np.ndarray, side: int) -> np.ndarray:
    """Frame points (n, 2) back to the ground: the row's shake undone, then the pinhole inverted."""
    still = frame.astype(float).copy()
    still[:, 0] -= shake(view, still[:, 1])
    seen = np.c_[still, np.ones(len(still))] @ np.linalg.inv(homography(view, side)).T
    return seen[:, :2] / seen[:, 2:]


def _fine(loop: np.ndarray, step: float) -> np.ndarray:
    """A loop with every edge cut into pieces at most ``step`` long, so it bends with the shutter's shake."""
    edge = np.roll(loop, -1, axis=0) - loop
    pieces = np.maximum(np.ceil(np.linalg.norm(edge, axis=1) / step), 1).astype(int)
    which = np.repeat(np.arange(len(loop)), pieces)
    t = np.concatenate([np.arange(p) / p for p in pieces])
    return loop[which] + t[:, None] * edge[which]


def place(
    view: dict[str, float], shape: list[np.ndarray], goal: np.ndarray, extent: float, side: int
) -> list[np.ndarray]:
    """The loops laid on the ground and seen in the frame with their box's longer side ``extent`` and its middle at
    ``goal``: the ground scale and spot refined until the seen box fits."""
    scale = extent / float(np.ptp(np.concatenate(shape), axis=0).max())
    middle = to_ground(view, goal[None], side)[0]
    for _ in range(4):
        seen = [to_frame(view, middle + scale * loop, side) for loop in shape]
        every = np.concatenate(seen)
        low, high = every.min(axis=0), every.max(axis=0)
        scale *= extent / float((high - low).max())
        middle += to_ground(view, goal[None], side)[0] - to_ground(view, ((low + high) / 2)[None], side)[0]
    return [to_frame(view, _fine(middle + scale * loop, 2.0), side) for loop in shape]


def _fitted_cover(
    view: dict[str, float],
    shape: list[np.ndarray],
    goal: np.ndarray,
    extent: float,
    side: int,
    points_back: float = 0.0,
) -> np.ndarray:
    """The object's cover with its mask's box ``extent`` long within a pixel: the smoothing rounds a sharp point
    back by a pixel or so (about ``points_back`` px off the box, laid out larger from the start), so a shape whose
    mask still misses is laid out again by what it missed."""
    wanted = extent + points_back
    for _ in range(3):
        cover = fourier_cover(place(view, shape, goal, wanted, side), side)
        ys, xs = np.nonzero(cover >= 0.5)
        seen = max(xs.max() - xs.min(), ys.max() - ys.min()) + 1
        if abs(seen - extent) <= 1.0:
            break
        wanted += extent - seen
    return cover


def _hash(ix: np.ndarray, iy: np.ndarray, salt: int) -> np.ndarray:
    """A number in [0, 1) for each lattice cell, the same for the same cell and salt."""
    h = (ix.astype(np.int64) * 73_856_093) ^ (iy.astype(np.int64) * 19_349_663) ^ np.int64(salt)
    h = (h ^ (h >> 13)) * 1_274_126_177
    return ((h ^ (h >> 16)) & 0xFFFFFF).astype(np.float64) / float(1 << 24)


def _waves(rng: np.random.Generator, x: np.ndarray, y: np.ndarray, wavelength: float, count: int = 4) -> np.ndarray:
    """A smooth random field of mean 0 and spread about 1: ``count`` plane waves near ``wavelength`` summed."""
    turns = rng.uniform(0, 2 * math.pi, count)
    lengths = wavelength * rng.uniform(0.7, 1.4, count)
    phases = rng.uniform(0, 2 * math.pi, count)
    field = sum(
        np.cos(2 * math.pi * (x * math.cos(t) + y * math.sin(t)) / n + p)
        for t, n, p in zip(turns, lengths, phases, strict=True)
    )
    return field * math.sqrt(2 / count)


def _tone(rng: np.random.Generator, grey: float, saturation: tuple[float, float] = (0.4, 0.9)) -> np.ndarray:
    """A colour of a random hue whose grey (BT.601) is ``grey``: a hue mixed towards black or white to reach it."""
    hue = colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(*saturation), 1.0)
    colour = np.array(hue) * 255.0
    level = float(colour @ _LUMA)
    if grey <= level:
        return colour * grey / level
    return colour + (255.0 - colour) * (grey - level) / (255.0 - level)


def _along(x: np.ndarray, y: np.ndarray, turn: float) -> tuple[np.ndarray, np.ndarray]:
    """Ground coordinates turned by ``turn``: along a pattern's direction and across it."""
    c, s = math.cos(turn), math.sin(turn)
    return x * c + y * s, -x * s + y * c


def _track(
    rng: np.random.Generator, x: np.ndarray, y: np.ndarray, spread: float = 60.0
) -> tuple[np.ndarray, np.ndarray]:
    """A path's sideways distance and distance along it: a gently winding line across the ground."""
    u, v = _along(x - rng.uniform(-spread, spread), y - rng.uniform(-spread, spread), rng.uniform(0, math.pi))
    bend = rng.uniform(10, 30) * np.sin(u / rng.uniform(50, 110) + rng.uniform(0, 6))
    return v - bend, u


def ground(rng: np.random.Generator, kind: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The ground's colour (n, 3) where the frame's pixels land, its features as large as the shapes."""
    return np.clip(_ground(rng, kind, x, y), 0, 255)


def _ground(rng: np.random.Generator, kind: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The ground's colour (n, 3) by its kind, before it is kept within 0-255."""
    salt = int(rng.integers(1 << 30))
    grain = _hash(np.floor(x * 1.3), np.floor(y * 1.3), salt) - 0.5
    if kind == "car park":
        tint = np.array([1.0, 1.0, 1.0]) + rng.uniform(-0.05, 0.05, 3)
        level = rng.uniform(60, 100) + 14 * grain + 7 * _waves(rng, x, y, 50)
        u, v = _along(x, y, rng.uniform(0, math.pi))
        width, depth, line = rng.uniform(38, 56), rng.uniform(70, 100), rng.uniform(2.5, 3.5)
        u, v = u + rng.uniform(0, width), v + rng.uniform(0, depth)
        bay_u, bay_v = np.floor(u / width), np.floor(v / depth)
        stain_at = np.c_[(bay_u + 0.5) * width, (bay_v + 0.3 + 0.4 * _hash(bay_u, bay_v, salt + 1)) * depth]
        stain = np.hypot(u - stain_at[:, 0], (v - stain_at[:, 1]) * 0.8) / (6 + 10 * _hash(bay_u, bay_v, salt + 2))
        level = level * (1 - 0.45 * np.clip(1.5 - stain, 0, 1) * (_hash(bay_u, bay_v, salt + 3) < 0.6))
        crack = np.abs(_waves(rng, x, y, 90, 4)) < 0.035
        level = np.where(crack, level * 0.45, level)
        inside = v - bay_v * depth
        bays = bay_v % 3 != 2  # two rows of bays back to back, then an aisle to drive along
        paint = (bays & (np.abs(u - (bay_u + 0.5) * width) > width / 2 - line / 2)) | (inside < line)
        worn = 205 + 25 * _waves(rng, x, y, 12) * 0.5
        colour = level[:, None] * tint
        return np.where(paint[:, None], np.clip(worn, 150, 245)[:, None] * np.array([1.0, 1.0, 0.95]), colour)
    if kind == "striped lawn":
        u, _ = _along(x, y, rng.uniform(0, math.pi))
        width = rng.uniform(18, 32)
        light = (np.floor(u / width) % 2 == 0).astype(float)
        base = np.array([70.0, 120, 45]) * rng.uniform(0.85, 1.15)
        level = 0.78 + 0.3 * light + 0.22 * grain + 0.07 * _waves(rng, x, y, 40)
        colour = base * level[:, None]
        bare = np.clip((_waves(rng, x, y, 70, 5) - 1.1) * 3, 0, 1)
        soil = np.array([125.0, 100, 70]) * (0.9 + 0.3 * grain)[:, None]
        daisies = _hash(np.floor(x / 2.5), np.floor(y / 2.5), salt + 5) < 0.025
        colour = colour * (1 - bare[:, None]) + soil * bare[:, None]
        return np.where(daisies[:, None], np.array([235.0, 235, 220]), colour)
    if kind == "granite setts":
        u, v = _along(x, y, rng.uniform(0, math.pi))
        course, length = rng.uniform(8, 11), rng.uniform(9, 14)
        row = np.floor(v / course)
        shifted = u + (_hash(row, row, salt + 1) * length)
        stone = np.floor(shifted / length)
        tone = _hash(stone, row, salt + 2)
        granite = np.array([150.0, 140, 135]) * (0.6 + 0.6 * tone)[:, None]
        granite[tone > 0.8] *= np.array([1.15, 0.95, 0.9])
        joint = (v - row * course < 1.4) | (shifted - stone * length < 1.4)
        moss = np.array([60.0, 75, 40])
        colour = np.where(joint[:, None], np.where(_hash(stone, row, salt + 4)[:, None] < 0.3, moss, 45.0), granite)
        colour = colour * (1 + 0.25 * grain)[:, None]
        puddle = np.clip((_waves(rng, x, y, 80, 5) - 0.9) * 2.5, 0, 1)[:, None]
        return colour * (1 - puddle) + np.array([175.0, 185, 200]) * puddle
    if kind == "beach":
        u, v = _along(x, y, rng.uniform(0, 2 * math.pi))
        shore = v - rng.uniform(-50, 50) - 14 * _waves(rng, u, u, 70, 3)
        dry = np.array([210.0, 190, 150]) * (1 + 0.12 * grain)[:, None]
        wet = np.array([140.0, 120, 95]) * (1 + 0.1 * grain)[:, None]
        sea = np.array([60.0, 110, 120])
        ripples = 1 + 0.06 * np.sin(2 * math.pi * u / rng.uniform(5, 8) + 3 * _waves(rng, x, y, 30))
        colour = np.where((shore < 0)[:, None], dry * ripples[:, None], wet)
        foam = np.abs(shore - 30 - 6 * _waves(rng, u, u, 25, 3)) < 3.5
        colour = np.where((shore > 33)[:, None], sea, colour)
        colour = np.where(foam[:, None], np.array([235.0, 240, 240]), colour)
        across, on = _track(rng, x, y)
        rut = (np.abs(np.abs(across) - rng.uniform(10, 14)) < 2.5)[:, None]
        colour = np.where(rut, colour * 0.7, colour)
        across, on = _track(rng, x, y)
        step = np.floor(on / 9)
        foot = np.hypot((on - (step + 0.5) * 9) / 3.5, (across - np.where(step % 2 == 0, 4, -4)) / 2) < 1
        return np.where(foot[:, None], colour * 0.65, colour)
    if kind == "running track":
        away = rng.uniform(0, 2 * math.pi)
        centre = rng.uniform(-40, 40, 2) + rng.uniform(180, 320) * np.array([math.cos(away), math.sin(away)])
        radius = np.hypot(x - centre[0], y - centre[1])
        lane = rng.uniform(22, 30)
        edge = np.abs(radius - np.round(radius / lane) * lane) < 1.1
        worn = 0.3 * _hash(np.floor(radius / lane), np.zeros_like(radius), salt + 1)  # the inner lanes run most
        level = rng.uniform(0.75, 1.0) + worn + 0.25 * grain + 0.08 * _waves(rng, x, y, 40)
        colour = np.array([185.0, 75, 55]) * level[:, None]
        start = np.abs(_along(x - centre[0], y - centre[1], rng.uniform(0, 2 * math.pi))[1]) < 1.5
        return np.where((edge | start)[:, None], np.array([240.0, 240, 235]), colour)
    # snow: trampled, with ski tracks and footprints, shaded by its drifts
    colour = np.array([232.0, 238, 248]) * (1 + 0.04 * _waves(rng, x, y, 45) + 0.05 * grain)[:, None]
    for _ in range(int(rng.integers(2, 4))):
        across, _ = _track(rng, x, y, 80)
        gap = rng.uniform(4, 6)
        groove = (np.abs(np.abs(across) - gap) < 1.3)[:, None]
        colour = np.where(groove, colour * np.array([0.62, 0.68, 0.8]), colour)
    across, on = _track(rng, x, y)
    step = np.floor(on / 10)
    foot = np.hypot((on - (step + 0.5) * 10) / 4, (across - np.where(step % 2 == 0, 4.5, -4.5)) / 2.5) < 1
    return np.where(foot[:, None], colour * np.array([0.55, 0.62, 0.78]), colour)


def ink(rng: np.random.Generator, around: np.ndarray) -> np.ndarray:
    """The object's colour, of a random hue: dark or light, whichever leaves more of the ground round it at least
    100 grey levels away (dark on light ground, light on dark, dark on a beach that is mostly sand), then as far
    from the bulk of that ground as the grey scale allows."""
    greys = around @ _LUMA
    if np.mean(greys >= 130) >= np.mean(greys <= 125):
        return _tone(rng, float(np.clip(min(np.percentile(greys, 25) - 110.0, 55.0) * rng.uniform(0.5, 1.0), 15, 55)))
    lightest = max(np.percentile(greys, 75) + 110.0, 200.0) + rng.uniform(0, 15)
    return _tone(rng, min(240.0, lightest), (0.3, 0.8))


def paint(rng: np.random.Generator, style: str, colour: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The object's colour (n, 3) at ground points by what it is made of, near ``colour`` in grey."""
    salt = int(rng.integers(1 << 30))
    grain = _hash(np.floor(x * 1.5), np.floor(y * 1.5), salt) - 0.5
    if style == "playground paint":
        scuff = np.clip(_waves(rng, x, y, 18, 5) - 0.8, 0, 1)
        level = 1 + 0.1 * grain - 0.2 * scuff
        sparkle = (_hash(np.floor(x * 1.5), np.floor(y * 1.5), salt + 1) < 0.02)[:, None]
        return np.where(sparkle, np.minimum(colour + 60, 255.0), colour * level[:, None])
    if style == "tarpaulin":
        level = 1.0 + 0.06 * grain
        for _ in range(int(rng.integers(2, 5))):
            u, _ = _along(x, y, rng.uniform(0, math.pi))
            fold = u - rng.uniform(-40, 40)
            level = level + 0.14 * np.tanh(fold / 2.5) * np.exp(-np.abs(fold) / 10)
        return np.clip(colour * level[:, None], 0, 255)
    if style == "flower bed":
        cell = rng.uniform(4.5, 6.5)
        cx, cy = np.floor(x / cell), np.floor(y / cell)
        dx = x / cell - cx - 0.25 - 0.5 * _hash(cx, cy, salt + 2)
        dy = y / cell - cy - 0.25 - 0.5 * _hash(cx, cy, salt + 3)
        head = np.hypot(dx, dy) < 0.42
        plant = colour * (0.9 + 0.2 * _hash(cx, cy, salt + 4))[:, None]
        leaves = colour * 0.78 + np.array([-10.0, 10, -10])
        return np.clip(np.where(head[:, None], plant, leaves), 0, 255)
    return np.clip(colour * (1 + 0.08 * grain)[:, None], 0, 255)  # line paint


def _cloud(rng: np.random.Generator, side: int) -> np.ndarray:
    """The light on the frame: sunlit, or under a cloud's soft shadow across part of it."""
    rows, cols = np.mgrid[0:side, 0:side].astype(np.float32) + np.float32(0.5)
    if rng.random() < 0.5:
        return np.ones((side, side))
    edge = _waves(rng, cols.ravel(), rows.ravel(), 140, 3).reshape(side, side) + rng.uniform(-0.6, 0.6)
    return 1 - rng.uniform(0.2, 0.4) * (1 / (1 + np.exp(-edge * 4)))


def haze(picture: np.ndarray, through: float, sky: np.ndarray) -> np.ndarray:
    """The air between the drone and the ground: ``through`` of the ground's light reaches the lens and the rest is
    the sky's scattered light."""
    return picture * through + sky * (1 - through)


def defocus(picture: np.ndarray, radius: float) -> np.ndarray:
    """A lens out of focus by a disc of ``radius`` px: each channel's spectrum times the disc's optical transfer
    function 2 J1(r |k|) / (r |k|)."""
    side_y, side_x = picture.shape[:2]
    ky = 2 * math.pi * np.fft.fftfreq(side_y)
    kx = 2 * math.pi * np.fft.rfftfreq(side_x)
    rk = radius * np.hypot(*np.meshgrid(kx, ky))
    transfer = np.ones_like(rk)
    some = rk > 1e-9
    transfer[some] = 2 * special.j1(rk[some]) / rk[some]
    spectrum = np.fft.rfft2(picture, axes=(0, 1)) * transfer[..., None]
    return np.fft.irfft2(spectrum, s=(side_y, side_x), axes=(0, 1))


_LOG = 60.0  # the log profile's curve: code = log(1 + _LOG x) / log(1 + _LOG) of linear light x


def log_code(picture: np.ndarray) -> np.ndarray:
    """The drone's flat log profile: display values to linear light, then to 8-bit codes of its logarithm."""
    linear = (np.clip(picture, 0, 255).astype(np.float32) / np.float32(255)) ** np.float32(2.2)
    return np.round(np.float32(255 / math.log1p(_LOG)) * np.log1p(np.float32(_LOG) * linear)).astype(np.uint8)


def display(codes: np.ndarray) -> np.ndarray:
    """The viewer's lookup from log codes back to display values: the codes' steps widen in the highlights."""
    table = (np.expm1(np.arange(256) / 255 * math.log1p(_LOG)) / _LOG) ** (1 / 2.2) * 255
    return np.clip(np.round(table), 0, 255).astype(np.uint8)[codes]


def capture(rng: np.random.Generator, picture: np.ndarray, size: int) -> np.ndarray:
    """The drone's frame of the ground as the gimbal sees it: a cloud's shadow, haze, defocus, the resize to
    ``size``, shot and read noise, and the log profile opened by the display lookup."""
    side = picture.shape[0]
    seen = picture * _cloud(rng, side)[..., None] * rng.uniform(0.95, 1.08)
    seen = haze(seen, rng.uniform(0.8, 0.94), np.array([205.0, 215, 230]) * rng.uniform(0.9, 1.05))
    seen = defocus(seen, rng.uniform(0.5, 1.3))
    if size != side:
        shrink = cv2.INTER_AREA if size < side else cv2.INTER_LINEAR
        seen = cv2.resize(seen.astype(np.float32), (size, size), interpolation=shrink).astype(np.float64)
    light = np.clip(seen, 0, 255)
    seen = light + np.sqrt(light * rng.uniform(0.1, 0.35)) * rng.standard_normal(light.shape)
    seen = seen + rng.uniform(1.0, 3.0) * rng.standard_normal(light.shape)
    return display(log_code(seen))


def render_sealed17_scene(rng: np.random.Generator, size: int) -> SealedScene:
    """One picture; the first draws are the label, the surface and the size band, in that order."""
    label, surface, (band, low, high) = first_draws(rng, SURFACES17, EVERY_BAND)
    style = STYLES17[int(rng.integers(len(STYLES17)))]
    if style == OUTLINED17 and band not in _LINE_BANDS:
        style = STYLES17[int(rng.integers(len(STYLES17) - 1))]
    name = SHAPE_CLASSES[label]
    side = _NATIVE
    view = _view(rng)
    shape = loops(name, rng.uniform(*_RING_HOLE))
    turn = rng.uniform(0, 2 * math.pi)
    spin = np.array([[math.cos(turn), math.sin(turn)], [-math.sin(turn), math.cos(turn)]])
    shape = [loop @ spin for loop in shape]
    if style == OUTLINED17 and name != "ring":  # a ring is a painted band already
        half = line_half(rng, name)
        shape = [offset(shape[0], half), offset(shape[0], -half)[::-1]]
    extent = rng.uniform(low, high) * side
    goal = rng.uniform(_MARGIN * side + extent / 2, side - _MARGIN * side - extent / 2, 2)
    cover = _fitted_cover(view, shape, goal, extent, side, _POINTS_BACK.get(name, 0.0))
    rows, cols = np.mgrid[0:side, 0:side] + 0.5
    spots = to_ground(view, np.c_[cols.ravel(), rows.ravel()], side)
    spots = spots.astype(np.float32)
    colours = ground(rng, surface, spots[:, 0], spots[:, 1]).astype(np.float64)
    near = cv2.dilate((cover > 0.02).astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    colour = ink(rng, colours[(near & (cover < 0.02)).ravel()])
    drawn = paint(rng, style, colour, spots[:, 0], spots[:, 1])
    if style == "tarpaulin" and extent >= 0.25 * side:  # its hem, a darker band just inside its edge, if seen
        inner = [cv2.erode(cover.astype(np.float32), np.ones((3, 3), np.uint8), iterations=n) for n in (1, 3)]
        hem = (inner[0] - inner[1]) * (cover > 0.99)
        drawn = drawn * (1 - 0.3 * np.clip(hem, 0, 1).reshape(-1, 1))
    share = cover.reshape(-1, 1)
    picture = (colours * (1 - share) + drawn * share).reshape(side, side, 3)
    image = capture(rng, picture, size)
    if size != side:
        shrink = cv2.INTER_AREA if size < side else cv2.INTER_LINEAR
        cover = cv2.resize(cover.astype(np.float32), (size, size), interpolation=shrink)
    return SealedScene(image, cover >= 0.5, label, surface, band, style)


class ShapesSealed17Dataset(ShapesSealedDataset):
    """The seventeenth sealed set, deterministic per index; evaluation only, and run once per trained model."""

    SALT = _SALT
    SURFACE_KINDS = SURFACES17
    BANDS = EVERY_BAND

    def render(self, rng: np.random.Generator, size: int) -> Any:
        return render_sealed17_scene(rng, size)
