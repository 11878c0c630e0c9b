"""The twelfth sealed renderer: shapes drawn by hand, outlined by a wobbling pen and coloured in, seen by a phone.

Each class's outline is traced the way a hand traces it: from any point, once round and a little past the start,
drifting slowly off the true line so that the two ends cross instead of meeting. A round nib is dragged along it (each
pixel covered by its distance to the nearest segment, softened over one pixel), and the inside is coloured in by
back-and-forth strokes across it: each line across is cut where it crosses the traced outline, kept by the even-odd
rule (a ring's hole stays bare), ended a little short of the line or over it, a few left out, neighbours joined at
their turns. The styles are a marker, a grainy pencil, a ballpoint outline gone over two or three times (a circle and a
ring are coloured in, as an outline alone would not tell them apart), a cut-out of coloured paper with its drop
shadow (filled by an even-odd crossing count of its own) and chalk. The surfaces are places where a drawing is made,
most with features as large as the shapes: a chalkboard with half-erased writing, a gingham tablecloth, a brick wall,
a magazine page, a cork board with pinned cards and graph paper with coffee rings. The camera is a phone held over the
sheet: a tilted view (``cv2.warpPerspective``) that sees only the sheet, a lamp's uneven light and the soft shadow of
the hand, defocus or a small shake, an area resize, sensor noise and OpenCV's JPEG. Nothing in the training generator
was, or may be, tuned on its pictures: its figure in the model card is the result of one run after training.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from .shapes_camera import EVERY_BAND
from .shapes_scene import SHAPE_CLASSES
from .shapes_sealed import SealedScene, ShapesSealedDataset, first_draws

SURFACES12: tuple[str, ...] = ("chalkboard", "tablecloth", "brick wall", "magazine page", "cork board", "graph paper")
STYLES12: tuple[str, ...] = ("marker", "pencil", "ballpoint", "paper cut-out", "chalk")
_NATIVE = 192  # the sheet's side in pixels before the camera
_SALT = 120_707
_LUMA = np.array([0.299, 0.587, 0.114])
_RING_HOLE = 0.58  # a ring's hole, as a share of its outer radius
_STAR_INNER = 0.42  # a star's inner corners, as a share of its points' radius
_ARM = 0.32  # half a cross's bar, as a share of its half length
_MARGIN = 0.07  # the object's box stays this share of the frame's side inside each edge
_STEP = 3.0  # the longest segment a nib is dragged along at once, in pixels
_PALETTE = np.array([(205, 35, 45), (35, 75, 205), (25, 145, 65), (125, 45, 165), (235, 125, 25), (25, 25, 35)], float)


def outline(name: str) -> list[np.ndarray]:
    """The class's closed loops (no point repeated) in the box from -1 to 1 round its middle; a ring has two."""
    turn = np.linspace(0, 2 * math.pi, 72, endpoint=False)
    disc = np.stack([np.cos(turn), np.sin(turn)], axis=1)
    if name in ("circle", "ring"):
        return [disc] if name == "circle" else [disc, disc[::-1] * _RING_HOLE]
    if name == "square":
        return [np.array([(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)])]
    if name == "triangle":
        corners = np.radians([-90.0, 30.0, 150.0])
        return [np.stack([np.cos(corners), np.sin(corners)], axis=1)]
    if name == "star":
        corners, radii = np.arange(10) * math.pi / 5 - math.pi / 2, np.where(np.arange(10) % 2, _STAR_INNER, 1.0)
        return [np.stack([np.cos(corners) * radii, np.sin(corners) * radii], axis=1)]
    if name == "cross":
        quarter = np.array([(_ARM, -1.0), (_ARM, -_ARM), (1.0, -_ARM)])
        quarter_turn = np.array([[0.0, 1.0], [-1.0, 0.0]])
        return [np.concatenate([quarter @ np.linalg.matrix_power(quarter_turn, k) for k in range(4)])]
    raise ValueError(f"unknown shape {name!r}")


def _dense(points: np.ndarray, step: float) -> np.ndarray:
    """A polyline through ``points`` with more corners on it, none further than ``step`` from the next."""
    counts = np.maximum(np.ceil(np.linalg.norm(np.diff(points, axis=0), axis=1) / step), 1).astype(int)
    share = np.concatenate([np.arange(n) / n for n in counts])[:, None]
    start, end = np.repeat(points[:-1], counts, axis=0), np.repeat(points[1:], counts, axis=0)
    return np.vstack([start + (end - start) * share, points[-1:]])


def trace(rng: np.random.Generator, loop: np.ndarray, wobble: float, overshoot: float) -> tuple[np.ndarray, np.ndarray]:
    """A hand tracing a closed loop: the pen's path (from a random corner, once round and ``overshoot`` of the way
    again) and the loop its first round closes, both drifting slowly off the line by up to about ``wobble``."""
    loop = np.roll(loop, -int(rng.integers(len(loop))), axis=0)
    dense = _dense(np.vstack([loop, loop[:1]]), 0.08)
    t = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(dense, axis=0), axis=1))])
    t, dense = t[:-1] / t[-1], dense[:-1]
    again = int((t <= overshoot).sum()) if overshoot > 0 else 0
    path, path_t = np.vstack([dense, dense[:again]]), np.concatenate([t, 1 + t[:again]])
    for k in range(1, 4):  # slow, and not periodic in one round, so the two ends miss each other
        frequency, phase = rng.uniform(0.5, 2.6) * k, rng.uniform(0, 2 * math.pi, 2)
        path = path + wobble / k * np.c_[np.cos(frequency * path_t + phase[0]), np.sin(frequency * path_t + phase[1])]
    return path, path[: len(dense)]


def stamp(polylines: list[np.ndarray], width: float, side: int) -> np.ndarray:
    """Each pixel's cover by a round nib ``width`` across dragged along the polylines: its distance to the nearest
    segment (each cut to ``_STEP`` or shorter), softened over one pixel."""
    dense = [_dense(line, _STEP) for line in polylines if len(line) > 1]
    cover = np.zeros(side * side)
    if not dense:
        return cover.reshape(side, side)
    a, b = np.concatenate([line[:-1] for line in dense]), np.concatenate([line[1:] for line in dense])
    reach = width / 2 + 1
    corner = np.floor(np.minimum(a, b) - reach).astype(int)
    span = np.arange(int(math.ceil(_STEP + 2 * reach)) + 1)
    xs, ys = (corner[:, 0, None] + span)[:, None, :], (corner[:, 1, None] + span)[:, :, None]  # each segment's window
    d, px, py = (b - a)[:, :, None, None], xs + 0.5 - a[:, 0, None, None], ys + 0.5 - a[:, 1, None, None]
    along = np.clip((px * d[:, 0] + py * d[:, 1]) / np.maximum((d * d).sum(1), 1e-9), 0, 1)
    share = np.clip(width / 2 + 0.5 - np.hypot(px - along * d[:, 0], py - along * d[:, 1]), 0.0, 1.0)
    keep = (xs >= 0) & (xs < side) & (ys >= 0) & (ys < side) & (share > 0)
    np.maximum.at(cover, np.broadcast_to(ys * side + xs, share.shape)[keep], share[keep])
    return cover.reshape(side, side)


def inside(loops: list[np.ndarray], side: int, sub: int = 3) -> np.ndarray:
    """Each pixel's share inside closed loops by the even-odd rule: ``sub`` x ``sub`` samples a pixel, each inside
    when an odd number of the loops' edges cross its row to its left."""
    n = side * sub
    toggles = np.zeros((n, n + 1), np.int64)
    starts, ends = np.concatenate(loops), np.concatenate([np.roll(loop, -1, axis=0) for loop in loops])
    for (xa, ya), (xb, yb) in zip(starts, ends):
        if ya == yb:
            continue
        low, high = min(ya, yb), max(ya, yb)
        rows = np.arange(max(int(math.ceil(low * sub - 0.5)), 0), min(int(math.ceil(high * sub - 0.5)), n))
        x = xa + ((rows + 0.5) / sub - ya) * (xb - xa) / (yb - ya)
        np.add.at(toggles, (rows, np.clip(np.floor(x * sub - 0.5).astype(int) + 1, 0, n)), 1)
    odd = np.cumsum(toggles, axis=1)[:, :n] % 2
    return odd.reshape(side, sub, side, sub).mean(axis=(1, 3))


def hatch(
    rng: np.random.Generator, loops: list[np.ndarray], width: float, gap: float, skip: float
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Colouring in: strokes ``gap`` apart across the loops, back and forth, each from where its line crosses into
    the loops to where it crosses out (the even-odd rule, so a ring's hole stays bare), its round end a little short
    of the outline or over it; a ``skip`` share is left out, and each stroke starts where its neighbour turned. The
    strokes of even and of odd lines come apart, so that where neighbours overlap can be told."""
    angle = rng.uniform(0, math.pi)
    normal, along = np.array([math.cos(angle), math.sin(angle)]), np.array([-math.sin(angle), math.cos(angle)])
    starts, ends = np.concatenate(loops), np.concatenate([np.roll(loop, -1, axis=0) for loop in loops])
    sa, sb, ua, ub = starts @ normal, ends @ normal, starts @ along, ends @ along
    lines: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
    turn = None  # where the last single stroke ended
    for k, offset in enumerate(np.arange(sa.min() + gap * rng.uniform(0.3, 0.7), sa.max(), gap)):
        offset += rng.uniform(-0.15, 0.15) * gap
        hit = (sa < offset) != (sb < offset)
        crossings = np.sort(ua[hit] + (ub[hit] - ua[hit]) * (offset - sa[hit]) / (sb[hit] - sa[hit]))
        spans = crossings.reshape(-1, 2)
        for low, high in spans:
            low, high = low + width * rng.uniform(0.2, 0.8), high - width * rng.uniform(0.2, 0.8)
            if rng.random() < skip:
                turn = None
                continue
            low, high = ((low + high) / 2,) * 2 if high < low else (low, high)  # too short a span for a stroke: a dab
            t = np.linspace(0, 1, max(int((high - low) / _STEP), 1) + 1)
            bow = rng.normal(0, 0.12 * gap) * np.sin(math.pi * t)
            line = (low + (high - low) * t)[:, None] * along + (offset + bow)[:, None] * normal
            line = line[::-1] if k % 2 else line
            if turn is not None and len(spans) == 1 and np.linalg.norm(turn - line[0]) < 3 * gap:
                line = np.vstack([turn, line])
            lines[k % 2].append(line)
            turn = line[-1] if len(spans) == 1 else None
    return lines


def _lay(picture: np.ndarray, alpha: np.ndarray, colour: Any) -> np.ndarray:
    return picture + alpha[..., None] * (np.asarray(colour, float) - picture)


def _blotch(rng: np.random.Generator, side: int, sigma: float) -> np.ndarray:
    """Smooth noise of unit spread whose blobs are about ``sigma`` pixels across."""
    field = cv2.GaussianBlur(rng.standard_normal((side, side)).astype(np.float32), (0, 0), sigma).astype(np.float64)
    return field / max(field.std(), 1e-9)


def _surface(rng: np.random.Generator, kind: str, side: int) -> np.ndarray:
    """A (side, side, 3) float picture of a place where a drawing is made, most with features a shape's size."""
    rows, cols = np.mgrid[0:side, 0:side] + 0.5
    if kind == "chalkboard":  # dark slate, eraser swipes of chalk dust, rows of half-erased handwriting
        base = np.array([(40, 64, 54), (36, 40, 44), (30, 54, 48)][int(rng.integers(3))]) * rng.uniform(0.85, 1.15)
        picture = base * (1 + 0.08 * _blotch(rng, side, 10))[..., None]
        erased = np.zeros((side, side))
        for _ in range(int(rng.integers(2, 5))):
            angle, at = rng.uniform(-0.4, 0.4), rng.uniform(0, side)
            across = np.abs(rows * math.cos(angle) - cols * math.sin(angle) - at)
            erased = np.maximum(erased, np.clip((side * rng.uniform(0.06, 0.14) - across) / 4, 0, 1))
        streaks = 1 + 0.4 * cv2.GaussianBlur(rng.standard_normal((side, side)), (0, 0), sigmaX=6, sigmaY=0.8)
        picture = _lay(picture, np.clip(erased * 0.14 * streaks, 0, 1), (205, 210, 205))
        lines = []
        for baseline in np.arange(rng.uniform(8, 20), side, rng.uniform(16, 26)):
            height, x = rng.uniform(5, 10), rng.uniform(-10, 10)
            while x < side:  # a word: joined letters of wavering width and height
                s = np.arange(x, x + rng.uniform(12, 45), 1.0)
                f = rng.uniform(0.45, 0.8) * (1 + 0.3 * np.sin(s * 0.21 + rng.uniform(0, 6)))
                tall = height * (0.5 + 0.5 * (np.sin(s * 0.37 + rng.uniform(0, 6)) > 0.6))
                lines.append(np.c_[s + 0.35 * height * np.cos(s * f), baseline - tall * (0.5 + 0.5 * np.sin(s * f))])
                x = s[-1] + rng.uniform(5, 11)
        writing = stamp(lines, rng.uniform(1.3, 2.2), side) * (1 - 0.85 * erased) * rng.uniform(0.35, 0.6)
        return _lay(picture, writing * np.clip(1 + 0.3 * rng.standard_normal((side, side)), 0, 1), (225, 228, 222))
    if kind == "tablecloth":  # a gingham check whose squares are a shape's size, with a fold across it
        angle, period = rng.uniform(-0.35, 0.35), side / rng.uniform(3.2, 6.5)
        u, v = cols * math.cos(angle) + rows * math.sin(angle), rows * math.cos(angle) - cols * math.sin(angle)
        tint = sum((w + rng.uniform(0, period)) % period < period / 2 for w in (u, v))  # 0, 1 or 2 bands
        colour = [(200, 40, 45), (40, 80, 180), (40, 140, 70), (225, 185, 40), (45, 45, 50)][int(rng.integers(5))]
        picture = _lay(np.full((side, side, 3), 244.0), tint * 0.45, colour)
        fold = 1 - 0.12 * np.exp(-((((u * 0.6 + v * 0.8) - rng.uniform(0, side)) / rng.uniform(6, 16)) ** 2))
        return picture * (fold * (1 + 0.035 * np.sin(u * 2.3) * np.sin(v * 2.3)))[..., None]
    if kind == "brick wall":  # courses of bricks in running bond, each its own shade, in light mortar
        height = side / rng.uniform(5, 8.5)
        length, mortar, shift = height * rng.uniform(2.0, 2.5), rng.uniform(1.5, 3.2), rng.uniform(0, side)
        course = np.floor(rows / height).astype(int)
        along = cols + shift + (course % 2) * length / 2
        brick = np.floor(along / length).astype(int)
        joint = (rows - course * height < mortar) | (along - brick * length < mortar)
        base = np.array([(150, 70, 52), (172, 98, 66), (120, 60, 50), (205, 200, 190)][int(rng.integers(4))])
        shade = rng.uniform(0.78, 1.15, (course.max() + 1, brick.max() + 1))[course, brick]
        picture = base * (shade * (1 + 0.06 * _blotch(rng, side, 1.0)))[..., None]
        mortar_colour = np.array([182.0, 178, 168]) * rng.uniform(0.8, 1.05)
        return np.clip(np.where(joint[..., None], mortar_colour, picture), 0, 255)
    if kind == "magazine page":  # columns of text, photographs and colour blocks, a headline and a gloss
        picture = np.full((side, side, 3), 246.0)
        pitch = rng.uniform(5, 7)
        words = cv2.GaussianBlur(rng.standard_normal((int(side / pitch) + 1, side)), (0, 0), sigmaX=2.5, sigmaY=0.01)
        gutter = np.abs((cols % (side / int(rng.integers(2, 4)))) - 2) < 3
        text = ((rows % pitch) < 2) & (words[(rows // pitch).astype(int), cols.astype(int)] > -0.3) & ~gutter
        picture[text] = 95.0
        head = (np.abs(rows - rng.uniform(4, side * 0.2)) < rng.uniform(3, 5)) & (cols < side * 0.8)
        letters = head & ((cols + rng.uniform(0, 9)) % 9 < 6.5)
        picture[letters] = np.array([(30, 30, 35), (190, 30, 40), (30, 60, 150)][int(rng.integers(3))])
        for _ in range(int(rng.integers(1, 4))):  # landscape photographs, never square
            w = rng.uniform(0.3, 0.55) * side
            h = w * rng.uniform(0.5, 0.68)
            x0, y0 = rng.uniform(-0.1, 1, 2) * side - (w / 2, h / 2)
            block = (cols > x0) & (cols < x0 + w) & (rows > y0) & (rows < y0 + h)
            sky, ground = rng.uniform([90, 140, 190], [190, 210, 250]), rng.uniform([40, 70, 20], [150, 160, 90])
            horizon = y0 + h * rng.uniform(0.35, 0.65) + 4 * _blotch(rng, side, 6)
            photo = np.where((rows < horizon)[..., None], sky, ground) * (1 + 0.12 * _blotch(rng, side, 3))[..., None]
            picture = np.where(block[..., None], photo, picture)
        gloss = np.exp(-((((cols + rows) / 2 - rng.uniform(0, side)) / rng.uniform(8, 25)) ** 2))
        return np.clip(_lay(picture, gloss * rng.uniform(0.1, 0.3), (255, 255, 255)), 0, 255)
    if kind == "cork board":  # speckled cork with index cards pinned on it, each a shape's size
        picture = np.array([178, 132, 86]) * rng.uniform(0.8, 1.1) * (1 + 0.08 * _blotch(rng, side, 3))[..., None]
        specks = cv2.GaussianBlur((rng.random((side, side)) < 0.05).astype(np.float64), (0, 0), 0.6)
        picture = _lay(picture, np.clip(specks * 1.5, 0, 0.6), (80, 50, 30))
        for _ in range(int(rng.integers(2, 6))):
            w, centre, angle = side * rng.uniform(0.22, 0.36), rng.uniform(0, side, 2), rng.uniform(-0.25, 0.25)
            box = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1)]) * (w / 2, w * rng.uniform(0.29, 0.35))
            box = box @ np.array([[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]]) + centre
            picture = _lay(picture, 0.4 * cv2.GaussianBlur(inside([box + 2.5], side, 2), (0, 0), 2.0), (0, 0, 0))
            card = inside([box], side, 2)
            ruled = ((rows - centre[1]) * math.cos(angle) - (cols - centre[0]) * math.sin(angle)) % 6 < 0.9
            paper = np.array([(250, 250, 245), (250, 240, 170), (200, 225, 250), (250, 210, 220)][int(rng.integers(4))])
            picture = _lay(_lay(picture, card, paper), card * ruled * 0.5, (120, 150, 210))
            pin = np.hypot(cols - box[:2, 0].mean(), rows - box[:2, 1].mean() - 4)
            picture = _lay(picture, np.clip(3.5 - pin, 0, 1), rng.uniform(0, 255, 3))
        return np.clip(picture, 0, 255)
    if kind == "graph paper":  # a fine blue grid with heavier lines every five, and coffee rings
        picture = np.full((side, side, 3), 246.0) - (0, 0, 8)
        cell, phase = rng.uniform(5, 8), rng.uniform(0, 40, 2)
        minor = ((cols + phase[0]) % cell < 0.9) | ((rows + phase[1]) % cell < 0.9)
        major = ((cols + phase[0]) % (5 * cell) < 1.3) | ((rows + phase[1]) % (5 * cell) < 1.3)
        picture = _lay(picture, minor * 0.35 + major * 0.3, (110, 155, 210))
        for _ in range(int(rng.integers(1, 4))):
            centre, radius = rng.uniform(0, side, 2), side * rng.uniform(0.1, 0.26)
            far = np.hypot(cols - centre[0], rows - centre[1])
            around = np.arctan2(rows - centre[1], cols - centre[0])
            broken = 0.5 + 0.5 * np.cos(around + rng.uniform(0, 6))  # the rim fades away on one side
            edge = np.exp(-(((far - radius) / rng.uniform(0.8, 1.6)) ** 2)) * broken
            picture = _lay(picture, 0.5 * edge + 0.07 * (far < radius), (150, 100, 55))
        return picture
    raise ValueError(f"unknown surface {kind!r}")


def _ink(rng: np.random.Generator, around: np.ndarray, style: str) -> np.ndarray:
    """A colour 95-130 grey levels from the middle of the surface round the shape and 30 beyond most of it, dark or
    light, whichever stands further from its bulk without meeting its darkest or palest parts (a card on a cork
    board); a pencil's is greyed."""
    low, level, high = np.percentile(around @ _LUMA, [10, 50, 90])
    gap = rng.uniform(95, 130)
    dark, light = max(min(level - gap, low - 30), 10.0), min(max(level + gap, high + 30), 245.0)
    apart = min(level - dark, 3 * abs(low - dark)), min(light - level, 3 * abs(light - high))
    target = dark if apart[0] >= apart[1] else light
    colour = _PALETTE[int(rng.integers(len(_PALETTE)))]
    if style == "pencil":
        colour = colour * 0.6 + 0.4 * colour @ _LUMA
    luma = float(colour @ _LUMA)
    if luma >= target:
        return colour * target / luma
    return colour + (255 - colour) * (target - luma) / (255 - luma)


def _paint(
    rng: np.random.Generator, picture: np.ndarray, traced: list[tuple[np.ndarray, np.ndarray]], style: str, open_: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The object drawn over the sheet in ``style`` and the cover of its paint; ``traced`` holds each loop's pen
    path and the loop it closes, in sheet pixels; an ``open_`` ballpoint shape is only outlined."""
    side = picture.shape[0]
    loops = [loop for _, loop in traced]
    corner, far = np.concatenate(loops).min(axis=0), np.concatenate(loops).max(axis=0)
    reach = float((far - corner).max())
    x0, y0 = np.clip(np.floor(corner - 10), 0, side).astype(int)
    x1, y1 = np.clip(np.ceil(far + 10), 0, side).astype(int)
    around = picture[y0:y1, x0:x1].reshape(-1, 3)
    ink = _ink(rng, around, style)
    deeper = ink * 0.7 if ink @ _LUMA < around.mean(0) @ _LUMA else ink + 0.35 * (255 - ink)  # for lines and overlaps
    region = inside(loops, side)
    if style == "paper cut-out":  # cut with scissors, laid on the sheet, its shadow falling to one side
        towards = rng.uniform(0, 2 * math.pi)
        fall = rng.uniform(1.5, 4.0) * np.array([math.cos(towards), math.sin(towards)])
        shadow = cv2.GaussianBlur(inside([loop + fall for loop in loops], side), (0, 0), rng.uniform(1.0, 2.5))
        picture = _lay(picture, shadow * rng.uniform(0.35, 0.55), (0, 0, 0))
        fibre = 1 + 0.04 * _blotch(rng, side, 0.8)
        return np.clip(_lay(picture, region, ink) * np.where(region > 0, fibre, 1)[..., None], 0, 255), region
    if style == "ballpoint":  # a thin pen gone over the outline two or three times
        width = float(np.clip(reach * 0.035, 2.0, 4.0))
        passes = [path for path, _ in traced]
        for _ in range(int(rng.integers(1, 3))):
            passes += [path + rng.normal(0, reach * 0.006, 2) for path, _ in traced]
        line = stamp(passes, width, side)
        if open_:
            return _lay(picture, line * 0.95, ink), line
        twice = [hatch(rng, loops, width, width * gap, 0.02) for gap in (0.75, 0.9)]  # across each other
        fill = stamp([line for groups in twice for group in groups for line in group], width, side)
        picture = _lay(picture, fill * 0.9, ink)
        return _lay(picture, line * 0.95, deeper), np.maximum(np.maximum(line, fill), region)
    width, gap, skip, tooth, edge = {  # the nib and the gap between strokes as shares of the shape's size
        "marker": (rng.uniform(0.08, 0.12), rng.uniform(0.65, 0.85), 0.03, 0.0, 0.7),
        "pencil": (rng.uniform(0.035, 0.05), rng.uniform(1.1, 1.4), 0.06, 0.25, 0.6),
        "chalk": (rng.uniform(0.07, 0.1), rng.uniform(0.7, 0.9), 0.06, 0.5, 0.9),
    }[style]
    nib = float(np.clip(reach * width, 1.6, 10.0))
    even, odd = (stamp(group, nib, side) for group in hatch(rng, loops, nib, nib * gap, skip))
    fill, overlap = np.maximum(even, odd), np.minimum(even, odd)
    texture = np.clip(1 + tooth * _blotch(rng, side, 0.7), 0.15, 1)  # the paper's tooth
    if style == "marker":  # darker where strokes overlap or the felt ran wetter
        texture = 1 + 0.08 * _blotch(rng, side, 3)
        picture = _lay(_lay(picture, fill * 0.9, ink), np.clip(overlap * 0.45 * texture, 0, 1), deeper)
    else:
        picture = _lay(picture, np.clip((fill + 0.3 * overlap) * texture, 0, 1), ink)
    line = stamp([path for path, _ in traced], max(nib * edge, 1.6), side)
    picture = _lay(picture, np.clip(line * texture, 0, 1) * 0.95, deeper)
    return picture, np.maximum(np.maximum(line, fill), region)


def _view(rng: np.random.Generator, side: int) -> np.ndarray:
    """The phone's homography from the sheet to the frame: turned a little, the far edge of a tilted hold seen
    shorter, and every corner of what it sees inside the sheet, so that nothing beyond the sheet shows."""
    frame = np.array([(0, 0), (side, 0), (side, side), (0, side)], float)
    inset = rng.uniform(0.004, 0.03, (4, 2)) * side
    edge = int(rng.integers(4))  # the far edge: its corners drawn in along it
    inset[[edge, (edge + 1) % 4], edge % 2] += rng.uniform(0, 0.035) * side
    seen = frame + np.array([(1, 1), (-1, 1), (-1, -1), (1, -1)]) * inset
    angle = math.radians(rng.uniform(-3, 3))
    seen = (seen - side / 2) @ np.array([[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]])
    seen = seen * min(1.0, (side / 2 - 0.5) / np.abs(seen).max()) + side / 2
    return cv2.getPerspectiveTransform(seen.astype(np.float32), frame.astype(np.float32)).astype(np.float64)


def _through(view: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points (n, 2) mapped by a homography."""
    mapped = np.c_[points, np.ones(len(points))] @ view.T
    return mapped[:, :2] / mapped[:, 2:]


def _light(rng: np.random.Generator, picture: np.ndarray) -> np.ndarray:
    """A desk lamp's uneven, tinted light on the sheet and, most times, the soft shadow of the hand with the phone."""
    side = picture.shape[0]
    rows, cols = np.mgrid[0:side, 0:side] + 0.5
    lamp = rng.uniform(-0.3, 1.3, 2) * side
    gain = rng.uniform(1.0, 1.12) - rng.uniform(0.1, 0.3) * (np.hypot(cols - lamp[0], rows - lamp[1]) / side) ** 2
    tint = np.array([(1.0, 1.0, 1.0), (1.06, 1.0, 0.88), (0.96, 1.0, 1.06)][int(rng.integers(3))])
    if rng.random() < 0.75:  # an arm and hand reaching in from an edge
        start = rng.uniform(0, side, 2)
        start[int(rng.integers(2))] = rng.choice([-0.1 * side, 1.1 * side])
        aim = np.arctan2(*(side / 2 - start)[::-1]) + rng.uniform(-0.6, 0.6)
        tip = start + side * rng.uniform(0.3, 0.55) * np.array([math.cos(aim), math.sin(aim)])
        arm = stamp([np.array([start, tip])], side * rng.uniform(0.14, 0.24), side)
        gain = gain * (1 - rng.uniform(0.15, 0.32) * cv2.GaussianBlur(arm, (0, 0), side * rng.uniform(0.05, 0.09)))
    return picture * np.clip(gain, 0.55, 1.2)[..., None] * tint


def _camera(
    rng: np.random.Generator, picture: np.ndarray, cover: np.ndarray, view: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """The phone's photograph of the lit sheet: the tilted view, defocus or a small shake, an area resize, shot and
    read noise and a JPEG; and the object's paint seen through the same view."""
    side = picture.shape[0]
    warp = dict(flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    seen = cv2.warpPerspective(np.clip(picture, 0, 255).astype(np.float32), view, (side, side), **warp)
    paint = cv2.warpPerspective(cover.astype(np.float32), view, (side, side), **warp)
    if rng.random() < 0.6:
        seen = cv2.GaussianBlur(seen, (0, 0), rng.uniform(0.4, 1.3))
    else:  # the hand moved while the shutter was open
        angle, length = rng.uniform(0, math.pi), rng.uniform(1.5, 4.5)
        shake = stamp([np.array([(-1, -1), (1, 1)]) * (math.cos(angle), math.sin(angle)) * length / 2 + 4.5], 1.0, 9)
        seen = cv2.filter2D(seen, -1, (shake / shake.sum()).astype(np.float32), borderType=cv2.BORDER_REFLECT)
    shrink = cv2.INTER_AREA if size < side else cv2.INTER_LINEAR
    seen, paint = (cv2.resize(layer, (size, size), interpolation=shrink) for layer in (seen, paint))
    level = seen.astype(np.float64) * rng.uniform(0.9, 1.08)
    shot, read = rng.uniform(0.02, 0.25), rng.uniform(0.5, 6)
    level = level + rng.standard_normal(level.shape) * np.sqrt(shot * np.clip(level, 0, 255) + read)
    frame = np.clip(level + 0.5, 0, 255).astype(np.uint8)[..., ::-1]
    quality = [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(45, 93))]
    photo = cv2.imdecode(cv2.imencode(".jpg", frame, quality)[1], cv2.IMREAD_COLOR)
    return np.ascontiguousarray(photo[..., ::-1]), paint >= 0.5


def render_sealed12_scene(rng: np.random.Generator, size: int) -> SealedScene:
    """One picture; the first draws are the label, the surface and the size band, in that order."""
    label, surface, (band, low, high) = first_draws(rng, SURFACES12, EVERY_BAND)
    style = STYLES12[int(rng.integers(len(STYLES12)))]
    name = SHAPE_CLASSES[label]
    side = _NATIVE
    picture = _surface(rng, surface, side)
    view = _view(rng, side)
    # an outline alone would not tell a circle from a ring, nor a small shape from a scrawl: those are coloured in
    open_ = style == "ballpoint" and name not in ("circle", "ring") and low >= 0.25
    turn, stretch = rng.uniform(0, 2 * math.pi), math.sqrt(rng.uniform(0.92, 1.09))
    pose = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]]) * (stretch, 1 / stretch)
    cut = style == "paper cut-out"
    wobble, overshoot = (0.0, 0.0) if cut else (rng.uniform(0.012, 0.03), rng.uniform(0.03, 0.1))
    traced = [trace(rng, loop @ pose.T, wobble, overshoot) for loop in outline(name)]
    if cut:  # scissors leave straight cuts a little off the line
        traced = [(loop, loop) for loop in (path + rng.normal(0, 0.006, path.shape) for path, _ in traced)]
    unit = np.concatenate([path for path, _ in traced])
    reach = rng.uniform(low, high) * side
    extent = reach - (0.0 if cut else float(np.clip(reach * 0.06, 1.6, 6.0)))  # the line's own width lies outside
    goal = rng.uniform(_MARGIN * side + reach / 2, side - _MARGIN * side - reach / 2, 2)
    inverse, middle = np.linalg.inv(view), (unit.min(axis=0) + unit.max(axis=0)) / 2
    centre, scale = _through(inverse, goal[None])[0], extent / float(np.ptp(unit, axis=0).max())
    for _ in range(4):  # the longer side of the box the frame sees spans ``extent``, its middle at ``goal``
        seen = _through(view, centre + scale * (unit - middle))
        scale *= extent / float(np.ptp(seen, axis=0).max())
        centre = _through(inverse, (_through(view, centre[None])[0] + goal - (seen.min(0) + seen.max(0)) / 2)[None])[0]
    placed = [(centre + scale * (path - middle), centre + scale * (loop - middle)) for path, loop in traced]
    picture, cover = _paint(rng, picture, placed, style, open_)
    image, mask = _camera(rng, _light(rng, picture), cover, view, size)
    return SealedScene(image, mask, label, surface, band, style)


class ShapesSealed12Dataset(ShapesSealedDataset):
    """The twelfth sealed set, deterministic per index; evaluation only, and run once per trained model."""

    SALT = _SALT
    SURFACE_KINDS = SURFACES12
    BANDS = EVERY_BAND

    def render(self, rng: np.random.Generator, size: int) -> Any:
        return render_sealed12_scene(rng, size)
