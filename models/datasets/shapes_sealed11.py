"""The eleventh sealed renderer: SVG paths filled by a scanline rasteriser, held up to a webcam on a video call.

Each class is an SVG path (``M``, ``L``, ``H``, ``V``, ``C``, ``Z``: a circle four cubic Béziers, a ring two wound
against each other, a cross two bars laid over each other) parsed and flattened here, then filled by a scanline
rasteriser written for it: eight sub-scanlines per pixel row, each cut where the path's edges cross it, its spans
kept by the non-zero winding rule and laid into the row with their exact horizontal coverage. A line is the same
code: a quad per segment and an octagon at each corner. The surfaces are places where a drawing is made or held
up, with features as large as the shapes: a wall of sticky notes, a jigsaw puzzle, a comic page, a
paint-splattered table, a patchwork quilt and a notebook page of doodles. The styles are washi tape in strips, a
rubber stamp, finger paint, foil and electrical tape along the outline. The camera is a laptop's on a video call,
the sheet held up by hand: bowed, leaning and turned (bilinear sampling written here), hand shake and defocus
(``cv2.filter2D``), auto exposure under a room's light with a highlight shoulder and a vignette, an area resize,
shot, read and column noise, and OpenCV's 4:2:2 JPEG. Nothing in the training generator was, or may be, tuned on its
pictures: its figure in the model card is the result of one run after training.
"""

from __future__ import annotations

import colorsys
import math
import re
from typing import Any

import cv2
import numpy as np

from .shapes_camera import EVERY_BAND
from .shapes_scene import SHAPE_CLASSES
from .shapes_sealed import SealedScene, ShapesSealedDataset, first_draws

SURFACES11: tuple[str, ...] = ("sticky notes", "jigsaw", "comic page", "paint splatter", "quilt", "doodles")
STYLES11: tuple[str, ...] = ("washi tape", "rubber stamp", "finger paint", "foil", "electrical tape")
_NATIVE = 192  # the sheet's side in pixels before the camera
_SUB = 8  # sub-scanlines per pixel row
_SALT = 110_503
_LUMA = np.array([0.299, 0.587, 0.114])
_HANDLE = 4 * (math.sqrt(2) - 1) / 3  # a cubic Bézier's handle for a quarter circle of radius 1
_RING_HOLE = 0.58  # a ring's hole, as a share of its outer radius
_ROOM = 0.09  # the object's box stays this share of the side inside each edge, beyond what the camera moves it
_TOKEN = re.compile(r"[MLHVCZ]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _circle(radius: float, backwards: bool = False) -> str:
    """A circle as four cubic Béziers; mirrored, it winds backwards, so that a ring's hole cancels its disc."""
    r, k, m = radius, radius * _HANDLE, -1 if backwards else 1
    return (
        f"M {r} 0 C {r} {m * k} {k} {m * r} 0 {m * r} C {-k} {m * r} {-r} {m * k} {-r} 0 "
        f"C {-r} {-m * k} {-k} {-m * r} 0 {-m * r} C {k} {-m * r} {r} {-m * k} {r} 0 Z"
    )


def _corners(points: np.ndarray) -> str:
    """A closed polygon's path through ``points`` given as complex numbers."""
    return "M " + " L ".join(f"{p.real:.6f} {p.imag:.6f}" for p in points) + " Z"


PATHS: dict[str, str] = {  # each class's outline in the box from -1 to 1 round its middle
    "circle": _circle(1.0),
    "ring": _circle(1.0) + " " + _circle(_RING_HOLE, backwards=True),
    "square": "M -1 -1 H 1 V 1 H -1 Z",
    "triangle": _corners(np.exp(1j * np.radians([-90.0, 30.0, 150.0]))),
    "star": _corners(np.where(np.arange(10) % 2, 0.42, 1.0) * np.exp(1j * (np.arange(10) - 2.5) * math.pi / 5)),
    "cross": "M -1 -0.32 L 1 -0.32 L 1 0.32 L -1 0.32 Z M -0.32 -1 L 0.32 -1 L 0.32 1 L -0.32 1 Z",
}


def parse_path(d: str) -> list[list[np.ndarray]]:
    """An SVG path's subpaths, each a list of segments: (2, 2) points for a line, (4, 2) for a cubic."""
    tokens, subpaths, segments = _TOKEN.findall(d), [], []
    point = start = np.zeros(2)
    command, i = "M", 0
    while i < len(tokens):
        if tokens[i].isalpha():
            command, i = tokens[i], i + 1
            if command == "Z":
                if not np.allclose(point, start):
                    segments.append(np.array([point, start]))
                subpaths, segments, point = subpaths + [segments], [], start
                continue
        count = {"M": 2, "L": 2, "H": 1, "V": 1, "C": 6}[command]
        numbers = np.array([float(t) for t in tokens[i : i + count]])
        i += count
        if command == "M":
            if segments:
                subpaths, segments = subpaths + [segments], []
            point = start = numbers
            command = "L"  # further pairs after a moveto are lines
            continue
        end = numbers[-2:] if command in "LC" else np.where([command == "H", command == "V"], numbers[0], point)
        segments.append(np.vstack([point, numbers[:-2].reshape(-1, 2), end]))
        point = end
    return subpaths + ([segments] if segments else [])


def flatten(subpaths: list[list[np.ndarray]], matrix: np.ndarray, offset: np.ndarray) -> list[np.ndarray]:
    """Each subpath posed as ``point @ matrix.T + offset`` and cut into a closed polyline, a cubic at a chord
    every two pixels of its control polygon (de Casteljau's Bernstein form)."""
    loops = []
    for segments in subpaths:
        pieces = []
        for segment in segments:
            posed = segment @ matrix.T + offset
            if len(posed) == 2:
                pieces.append(posed[:1])
                continue
            n = max(8, int(math.ceil(np.linalg.norm(np.diff(posed, axis=0), axis=1).sum() / 2)))
            t = np.linspace(0.0, 1.0, n, endpoint=False)[:, None]
            weights = [(1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3]
            pieces.append(sum(w * p for w, p in zip(weights, posed)))
        loops.append(np.concatenate(pieces))
    return loops


def fill(loops: list[np.ndarray], side: int) -> np.ndarray:
    """Each pixel's share inside closed polylines by the non-zero rule: every sub-scanline is cut where edges cross
    it, and each span between a crossing into the shape and one out of it adds its exact overlap with a pixel."""
    starts = np.concatenate(loops)
    ends = np.concatenate([np.roll(loop, -1, axis=0) for loop in loops])
    low, high = np.minimum(starts[:, 1], ends[:, 1]), np.maximum(starts[:, 1], ends[:, 1])
    first = np.clip(np.ceil(low * _SUB - 0.5), 0, side * _SUB).astype(int)  # lines (k + 0.5) / _SUB in [low, high)
    counts = np.maximum(np.clip(np.ceil(high * _SUB - 0.5), 0, side * _SUB).astype(int) - first, 0)
    edge = np.repeat(np.arange(len(starts)), counts)
    scan = first[edge] + np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    y = (scan + 0.5) / _SUB
    (x0, y0), (x1, y1) = starts[edge].T, ends[edge].T
    x = x0 + (y - y0) / (y1 - y0) * (x1 - x0)
    upward = np.where(y1 > y0, 1, -1)
    order = np.lexsort((x, scan))
    scan, x, upward = scan[order], x[order], upward[order]
    total = np.cumsum(upward)
    opens = np.diff(scan, prepend=-1) != 0  # the first crossing on each sub-scanline
    after = total - (total - upward)[opens][np.cumsum(opens) - 1]  # the winding number just past each crossing
    sign = (after - upward != 0).astype(int) - (after != 0).astype(int)  # -1 where a span opens, +1 where it shuts
    keep = sign != 0
    row, x, sign = scan[keep] // _SUB, np.clip(x[keep], 0, side), sign[keep]
    whole = np.floor(x).astype(int)
    part = x - whole
    steps = np.zeros((side, side + 2))  # sign * min(max(x - column, 0), 1), summed as running differences
    np.add.at(steps, (row, 0), sign)
    np.add.at(steps, (row, whole), sign * (part - 1))
    np.add.at(steps, (row, whole + 1), -sign * part)
    return np.clip(np.cumsum(steps, axis=1)[:, :side] / _SUB, 0.0, 1.0)


def line(points: np.ndarray, width: float, closed: bool = True) -> list[np.ndarray]:
    """The polygons whose union is a line of ``width`` through ``points``: a quad per segment and an octagon at each
    corner, all wound the same way so that the non-zero rule joins their overlaps."""
    starts = points if closed else points[:-1]
    ends = np.roll(points, -1, axis=0) if closed else points[1:]
    along = ends - starts
    normal = np.stack([-along[:, 1], along[:, 0]], axis=1)
    normal *= width / 2 / np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-9)
    quads = np.stack([starts - normal, ends - normal, ends + normal, starts + normal], axis=1)  # wound as a circle
    angle = np.arange(8) * math.pi / 4
    octagon = np.stack([np.cos(angle), np.sin(angle)], axis=1) * width / 2 / math.cos(math.pi / 8)
    return [*quads, *(point + octagon for point in points)]


def _turned(turn: float) -> np.ndarray:
    return np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])


def _hsv(hue: float, saturation: float, value: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, saturation, value)) * 255.0


def _lay(picture: np.ndarray, cover: np.ndarray, colour: Any, alpha: float = 1.0) -> np.ndarray:
    return picture + (alpha * cover)[..., None] * (np.asarray(colour, float) - picture)


def _surface(rng: np.random.Generator, kind: str, side: int) -> np.ndarray:
    """A (side, side, 3) float picture of a place where a drawing is made or held up, its features a shape's size."""
    rows, cols = np.mgrid[0:side, 0:side].astype(np.float64)
    hue = rng.random()
    if kind == "sticky notes":  # a wall or a monitor's frame covered in square notes, some written on
        picture = np.broadcast_to(_hsv(hue, rng.uniform(0, 0.2), rng.choice([0.2, 0.75, 0.92])), (side, side, 3))
        for _ in range(int(rng.integers(5, 14))):
            half, centre = side * rng.uniform(0.06, 0.15), rng.uniform(0, side, 2)
            pose = half * _turned(math.radians(rng.uniform(-12, 12)))
            note = parse_path(PATHS["square"])
            shadow = cv2.GaussianBlur(fill(flatten(note, pose, centre + 2.5), side), (0, 0), 2.0)
            picture = _lay(picture, shadow, (0, 0, 0), 0.35)
            colour = [(255, 235, 90), (255, 150, 190), (150, 230, 140), (130, 205, 255), (255, 180, 90)]
            picture = _lay(picture, fill(flatten(note, pose, centre), side), colour[int(rng.integers(5))])
            for k in range(int(rng.integers(0, 4))):  # a few handwritten lines across it
                t = np.linspace(-0.7, 0.7, 40)
                scrawl = np.stack([t, -0.5 + 0.35 * k + 0.05 * np.sin(t * rng.uniform(20, 40))], axis=1)
                picture = _lay(picture, fill(line(scrawl @ pose.T + centre, 1.2, False), side), (40, 40, 90), 0.8)
        return picture
    if kind == "jigsaw":  # a landscape cut into pieces whose round knobs are as large as small shapes
        horizon = side * rng.uniform(0.3, 0.7) + side * 0.05 * np.sin(cols / side * rng.uniform(3, 9))
        sky, ground = _hsv(rng.uniform(0.5, 0.65), 0.5, 0.9), _hsv(rng.uniform(0.15, 0.4), 0.6, 0.55)
        picture = np.where((rows < horizon)[..., None], sky * (0.8 + 0.2 * rows / side)[..., None], ground)
        picture = picture * (0.85 + 0.3 * cv2.GaussianBlur(rng.random((side, side)), (0, 0), side * 0.04))[..., None]
        count = int(rng.integers(3, 7))
        cell = side / count
        piece = (rows // cell) * count + cols // cell
        seam = np.zeros((side, side), bool)
        for across, along in ((cols, rows), (rows, cols)):
            for k in range(1, count):
                for j in range(count):
                    knob, out = cell * rng.uniform(0.14, 0.2), rng.choice([-1.0, 1.0])
                    middle, at = (j + 0.5) * cell, k * cell + out * 0.6 * knob
                    far = np.hypot(across - at, along - middle)
                    gap = np.abs(along - middle) < 0.8 * knob
                    seam |= (np.abs(across - k * cell) < 0.8) & (along // cell == j) & ~gap
                    seam |= (np.abs(far - knob) < 0.8) & (out * (across - k * cell) > 0)
                    owner = piece - out * (count if across is rows else 1)
                    piece = np.where((far < knob) & (out * (across - k * cell) > 0), owner, piece)
        picture = picture * rng.uniform(0.92, 1.08, count * count)[piece.astype(int)][..., None]
        return np.clip(np.where(seam[..., None], picture * 0.45, picture), 0, 255)
    if kind == "comic page":  # panels in black borders, flat tints, halftone dots and speech balloons
        picture = np.broadcast_to(_hsv(0.12, 0.08, 0.96), (side, side, 3)).copy()
        count = int(rng.integers(2, 4))  # rows, each cut into one to three panels
        cuts = (np.arange(1, count) / count + rng.uniform(-0.08, 0.08, count - 1)) * side
        for top, bottom in zip([4.0, *cuts + 3], [*cuts - 3, side - 4.0]):
            panels = int(rng.integers(1, 4))
            splits = (np.arange(1, panels) / panels + rng.uniform(-0.08, 0.08, panels - 1)) * side
            for left, right in zip([4.0, *splits + 3], [*splits - 3, side - 4.0]):
                box = np.array([(left, top), (right, top), (right, bottom), (left, bottom)])
                inside = (rows > top) & (rows < bottom) & (cols > left) & (cols < right)
                tint = _hsv(rng.random(), rng.uniform(0.1, 0.4), rng.uniform(0.8, 0.97))
                picture[inside] = tint
                if rng.random() < 0.5:
                    dots = (np.hypot(rows % 5 - 2.5, cols % 5 - 2.5) < 1.1) & inside
                    picture[dots] *= 0.75
                centre = np.array([rng.uniform(left, right), rng.uniform(top, bottom)])
                stretch = np.diag([rng.uniform(0.07, 0.16), rng.uniform(0.05, 0.1)]) * side
                balloon = flatten(parse_path(_circle(1.0)), _turned(rng.uniform(0, math.pi)) @ stretch, centre)
                picture = _lay(picture, fill(balloon, side) * inside, (250, 250, 250))
                picture = _lay(picture, fill(line(balloon[0], 1.3), side) * inside, 20)
                picture = _lay(picture, fill(line(box, 2.0), side), (15, 15, 15))
        return picture
    if kind == "paint splatter":  # an art table's paper with splats, spikes and droplets of paint
        picture = np.broadcast_to(_hsv(0.1, rng.uniform(0.02, 0.3), rng.uniform(0.75, 0.97)), (side, side, 3))
        for _ in range(int(rng.integers(3, 9))):
            centre, reach = rng.uniform(0, side, 2), side * rng.uniform(0.04, 0.13)
            angle = np.linspace(0, 2 * math.pi, 192, endpoint=False)
            wobble = sum(rng.normal(0, 0.3 / h) * np.cos(h * angle + rng.uniform(0, 6)) for h in range(2, 9))
            for spike in rng.uniform(0, 2 * math.pi, int(rng.integers(3, 8))):  # streaks thrown out of the splat
                wobble += rng.uniform(0.4, 1.0) * np.exp(-((np.angle(np.exp(1j * (angle - spike))) / 0.07) ** 2))
            blob = [centre + reach * (1 + wobble)[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)]
            for _ in range(int(rng.integers(4, 14))):
                a, d = rng.uniform(0, 2 * math.pi), reach * rng.uniform(1.2, 2.4)
                drop = centre + d * np.array([math.cos(a), math.sin(a)])
                blob += flatten(parse_path(_circle(reach * rng.uniform(0.05, 0.2))), np.eye(2), drop)
            picture = _lay(picture, fill(blob, side), _hsv(rng.random(), rng.uniform(0.5, 1), rng.uniform(0.3, 0.95)))
        return picture
    if kind == "quilt":  # patchwork squares and half-square triangles of printed cloth, stitched together
        count = int(rng.integers(3, 7))
        cell = side / count
        palette = np.array(
            [_hsv(hue + rng.uniform(-0.25, 0.25), rng.uniform(0.3, 0.8), rng.uniform(0.45, 0.95)) for _ in range(5)]
        )
        r, c = (rows // cell).astype(int), (cols // cell).astype(int)
        first, second = rng.integers(0, 5, (count, count)), rng.integers(0, 5, (count, count))
        split = rng.integers(0, 3, (count, count))  # 0: one cloth, 1 and 2: two triangles either way
        ly, lx = rows - r * cell, cols - c * cell
        other = np.where(split[r, c] == 1, lx > ly, cell - lx > ly) & (split[r, c] > 0)
        picture = palette[np.where(other, second[r, c], first[r, c])]
        printed = (np.hypot(ly % 7 - 3.5, lx % 7 - 3.5) < 1.4) if rng.random() < 0.5 else (ly + lx) % 6 < 2
        picture = np.where(printed[..., None], picture * 0.82, picture)
        stitch = (np.minimum(np.abs(ly - 3), np.abs(lx - 3)) < 0.5) & ((rows + cols) % 4 < 2)
        picture = np.where((np.minimum(ly, lx) < 1.0)[..., None], picture * 0.5, picture)
        return np.where(stitch[..., None], 235.0, picture)
    if kind == "doodles":  # a notebook page covered in pencil or ballpoint doodles of a shape's size
        picture = np.broadcast_to(_hsv(0.13, 0.06, 0.96), (side, side, 3)).copy()
        picture[(rows % (side * 0.07)) < 0.8] = (185, 205, 235)
        picture[np.abs(cols - side * 0.12) < 0.8] = (230, 140, 140)
        pen = (70, 70, 75) if rng.random() < 0.5 else (40, 60, 150)
        for _ in range(int(rng.integers(5, 12))):
            centre, reach = rng.uniform(0, side, 2), side * rng.uniform(0.06, 0.18)
            t = np.linspace(0, 1, 160)
            a = t * 2 * math.pi * rng.integers(3, 7)
            path = [
                t[:, None] * np.c_[np.cos(a), np.sin(a)],  # a spiral
                np.c_[2 * t - 1, np.abs(a / math.pi % 2 - 1) * 0.5],  # a zigzag
                np.c_[2 * t - 1 + 0.12 * np.cos(a), 0.3 * np.sin(a)],  # a row of cursive loops
                (1 + 0.15 * np.abs(np.sin(a)))[:, None] * np.c_[np.cos(t * 2 * math.pi), 0.7 * np.sin(t * 2 * math.pi)],
            ][int(rng.integers(4))]  # or a cloud
            picture = _lay(picture, fill(line(centre + path * reach, rng.uniform(1.2, 2.0), False), side), pen, 0.85)
        return picture
    raise ValueError(f"unknown surface {kind!r}")


def _ink(rng: np.random.Generator, around: np.ndarray) -> np.ndarray:
    """A colour of any hue 85-125 grey levels from the middle of the surface round the shape and 40 beyond most
    of it, darker on a pale surface: a shape on a horizon or across notes still stands out from both sides."""
    low, level, high = np.percentile(around @ _LUMA, [10, 50, 90])
    gap = rng.uniform(85, 125)
    target = float(np.clip(min(level - gap, low - 40) if level > 127.5 else max(level + gap, high + 40), 8, 247))
    pure = _hsv(rng.random(), rng.uniform(0.5, 1.0), 1.0)
    luma = float(pure @ _LUMA)
    if luma >= target:  # darken towards black
        return pure * target / luma
    return pure + (target - luma) / (255.0 - luma) * (255.0 - pure)  # or mix in white


def _paint(rng: np.random.Generator, picture: np.ndarray, cover: np.ndarray, style: str, reach: float) -> np.ndarray:
    """Lay the object in ``style`` over the surface where ``cover`` says; ``reach`` is its size in pixels."""
    rows, cols = np.mgrid[0 : cover.shape[0], 0 : cover.shape[1]].astype(np.float64)
    near = (cv2.dilate((cover > 0).astype(np.uint8), np.ones((13, 13), np.uint8)) > 0) & (cover == 0)
    ink = _ink(rng, picture[near])
    angle = rng.uniform(0, math.pi)
    across = cols * math.cos(angle) + rows * math.sin(angle)
    shade = np.ones(cover.shape)
    alpha = cover
    if style == "washi tape":  # strips of printed paper tape side by side, each a little overlapping the last
        width = reach * rng.uniform(0.2, 0.3)
        strip = np.floor(across / width)
        along = cols * math.sin(angle) - rows * math.cos(angle)
        dots = np.hypot(across % 6 - 3, along % 6 - 3) < 1.0  # the tape's printed pattern
        shade = np.where(strip % 2 == 0, 1.0, 0.9) * np.where(across % width < 1.2, 0.8, 1.0) * np.where(dots, 1.1, 1)
        alpha = cover * 0.95
    elif style == "rubber stamp":  # ink pressed unevenly: speckled gaps, a heavier rim
        speckle = cv2.GaussianBlur(rng.random(cover.shape), (0, 0), 1.2)
        alpha = cover * np.where(speckle > np.quantile(speckle, 0.85), 0.45, 1.0)
        shade = np.where(cover - cv2.GaussianBlur(cover, (0, 0), 1.5) > 0.1, 0.85, 1.0)
    elif style == "finger paint":  # thick paint in swirls whose ridges catch the light
        swirl = across / rng.uniform(3, 6) + 2 * np.sin(rows / reach * 6) + 2 * np.sin(cols / reach * 5)
        shade = 1 + 0.12 * np.sin(swirl * 2 * math.pi)
    elif style == "foil":  # a metallic sheet: broad bright and dark bands where it reflects the room
        shade = 0.85 + 0.3 * (0.5 + 0.5 * np.cos(across / reach * rng.uniform(3, 6) + rng.uniform(0, 6))) ** 3
    elif style == "electrical tape":  # pieces of tape along the outline (``cover`` is the line), or across a circle
        shade = np.where(across % (reach * 0.15) < 1.0, 0.7, 1.0) * (1 + 0.05 * rng.normal(size=cover.shape))
    else:
        raise ValueError(f"unknown style {style!r}")
    return _lay(picture, alpha, 0) + alpha[..., None] * np.clip(ink * shade[..., None], 0, 255)


def _bilinear(picture: np.ndarray, y: np.ndarray, x: np.ndarray, beyond: float) -> np.ndarray:
    """``picture`` at fractional pixel positions, with ``beyond`` past its edge (the dark room behind a sheet)."""
    padded = np.pad(picture, [(1, 1), (1, 1)] + [(0, 0)] * (picture.ndim - 2), constant_values=beyond)
    y, x = np.clip(y + 1, 0, padded.shape[0] - 1.001), np.clip(x + 1, 0, padded.shape[1] - 1.001)
    top, left = np.floor(y).astype(int), np.floor(x).astype(int)
    dy, dx = y - top, x - left
    if picture.ndim == 3:
        dy, dx = dy[..., None], dx[..., None]
    upper = padded[top, left] * (1 - dx) + padded[top, left + 1] * dx
    lower = padded[top + 1, left] * (1 - dx) + padded[top + 1, left + 1] * dx
    return upper * (1 - dy) + lower * dy


def _camera(
    rng: np.random.Generator, picture: np.ndarray, cover: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """A laptop's webcam on a sheet held up by hand: bowed, leaning and turned, shaken and out of focus, exposed
    for the room under a coloured light, resized, noisy and saved as a JPEG."""
    side = picture.shape[0]
    v, u = (np.mgrid[0:side, 0:side] + 0.5) / side * 2 - 1
    lean = rng.uniform(-0.02, 0.02, 2)
    u, v = u / (1 + lean[0] * u + lean[1] * v), v / (1 + lean[0] * u + lean[1] * v)
    turn = math.radians(rng.uniform(-2.5, 2.5))
    u, v = u * math.cos(turn) + v * math.sin(turn), -u * math.sin(turn) + v * math.cos(turn)
    bow = rng.uniform(0.05, 0.35)  # the page curls round an upright or a level axis
    if rng.random() < 0.5:
        u, v = np.arcsin(np.clip(bow * u, -1, 1)) / bow, v / (1 + 0.05 * bow * (1 - u**2))
    else:
        u, v = u / (1 + 0.05 * bow * (1 - v**2)), np.arcsin(np.clip(bow * v, -1, 1)) / bow
    fit = 0.985 / max(np.abs(u).max(), np.abs(v).max())  # zoomed so that the whole frame lies on the sheet
    y, x = (v * fit + 1) * side / 2 - 0.5, (u * fit + 1) * side / 2 - 0.5
    seen, mask = _bilinear(picture, y, x, 22.0).astype(np.float32), _bilinear(cover, y, x, 0.0).astype(np.float32)
    shake = np.zeros((9, 9), np.float32)
    length, angle = rng.uniform(0, 3.5), rng.uniform(0, math.pi)
    for t in np.linspace(-0.5, 0.5, 15):
        shake[int(round(4 + t * length * math.sin(angle))), int(round(4 + t * length * math.cos(angle)))] += 1
    seen = cv2.filter2D(seen, -1, shake / shake.sum(), borderType=cv2.BORDER_REFLECT)
    seen = cv2.GaussianBlur(seen, (0, 0), rng.uniform(0.3, 1.0))
    shrink = cv2.INTER_AREA if size < side else cv2.INTER_LINEAR
    seen, mask = cv2.resize(seen, (size, size), None, 0, 0, shrink), cv2.resize(mask, (size, size), None, 0, 0, shrink)
    light = [(1.0, 1.0, 1.0), (1.25, 1.0, 0.72), (0.95, 1.08, 0.9), (0.85, 0.95, 1.2)][int(rng.integers(4))]
    gains = np.array(light) ** rng.uniform(0.1, 0.5)  # what the camera's white balance leaves of the light
    yy, xx = (np.mgrid[0:size, 0:size] + 0.5) / size * 2 - 1
    vignette = 1 - rng.uniform(0, 0.25) * (xx**2 + yy**2) / 2
    linear = (np.clip(seen, 0, 255) / 255) ** 2.2 * rng.uniform(0.7, 1.5) * gains * vignette[..., None]
    knee = rng.uniform(0.6, 0.85)  # highlights above it roll off towards white instead of clipping at once
    linear = np.where(linear < knee, linear, knee + (1 - knee) * (1 - np.exp((knee - linear) / (1 - knee))))
    level = np.clip(linear, 0, 1) ** (1 / 2.2) * 255
    level = level + rng.normal(size=level.shape) * np.sqrt(rng.uniform(0.05, 0.4) * level + rng.uniform(1, 9))
    level = level + rng.normal(0, rng.uniform(0, 2), (1, size, 1))  # a cheap sensor's column pattern
    frame = np.clip(level + 0.5, 0, 255).astype(np.uint8)[..., ::-1]  # a webcam's MJPEG frame: 4:2:2 chroma
    quality, chroma = int(rng.integers(25, 81)), cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422
    settings = [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, chroma]
    image = cv2.imdecode(cv2.imencode(".jpg", frame, settings)[1], cv2.IMREAD_COLOR)[..., ::-1]
    return np.ascontiguousarray(image), mask >= 0.5


def render_sealed11_scene(rng: np.random.Generator, size: int) -> SealedScene:
    """One picture; the first draws are the label, the surface and the size band, in that order."""
    label, surface, (band, low, high) = first_draws(rng, SURFACES11, EVERY_BAND)
    style = STYLES11[int(rng.integers(len(STYLES11)))]
    name = SHAPE_CLASSES[label]
    side = _NATIVE
    picture = _surface(rng, surface, side)
    turn = rng.uniform(0, 2 * math.pi)
    stretch = math.sqrt(rng.uniform(0.95, 1.05) if name in ("circle", "ring") else rng.uniform(0.9, 1.11))
    pose = _turned(turn) @ np.diag([stretch, 1 / stretch])
    subpaths = parse_path(PATHS[name])
    unit = np.concatenate(flatten(subpaths, pose * 100, np.zeros(2))) / 100
    corner, span = unit.min(axis=0), unit.max(axis=0) - unit.min(axis=0)
    reach = rng.uniform(low, high) * side  # the longer side of the painted box lands in the band
    outline = style == "electrical tape" and name != "circle"  # a circle's outline alone would read as a ring
    width = max(reach * rng.uniform(0.07, 0.1), 3.5) if outline else 0.0
    scale = (reach - width) / span.max()
    room = _ROOM * side + width / 2
    box = np.array([rng.uniform(room, side - room - scale * s) for s in span])
    loops = flatten(subpaths, pose * scale, box - corner * scale)
    cover = fill([piece for loop in loops for piece in line(loop, width)] if width else loops, side)
    picture = _paint(rng, picture, cover, style, reach)
    image, mask = _camera(rng, picture, cover, size)
    return SealedScene(image, mask, label, surface, band, style)


class ShapesSealed11Dataset(ShapesSealedDataset):
    """The eleventh sealed set, deterministic per index; evaluation only, and run once per trained model."""

    SALT = _SALT
    SURFACE_KINDS = SURFACES11
    BANDS = EVERY_BAND

    def render(self, rng: np.random.Generator, size: int) -> Any:
        return render_sealed11_scene(rng, size)
