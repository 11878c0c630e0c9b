"""The fourteenth sealed renderer: outlines filled by their winding number, laid on a flatbed scanner's glass.

Each class is one or two closed polygons (a circle one of 64 sides, a ring two wound against each other, a star ten
corners, a cross twelve). A point is inside where the outline winds round it: the angles that its corners turn
through as seen from the point, each step wrapped to a half turn either way, add up to a whole turn (the hole of a
ring to none). Every pixel's middle is tested first; only pixels next to a change of side are tested again at the
eight points of a rank-1 lattice, shifted once per picture, whose mean is their cover. The styles are things put on
a scanner or printed for it: a coloured card cut-out with a lit cut edge and a soft shadow, a printed halftone
cut-out, craft foam with pits and a rolled edge, and inkjet ink with banding. The surfaces are pages and things on
the glass, most with features as large as the shapes: gift wrap of chevron stripes, an atlas page of countries and
sea, a collage of photographs, a sheet of postage stamps, a comic sunburst and a row of book spines. The scanner
sees the glass turned a little, its lamp falling off towards the ends of its bar, its sensor's columns each with
their own gain, its red and blue lines out of register, its optics soft and its software's sharpening on top, and
saves a 4:2:0 JPEG. Nothing in the training generator was, or may be, tuned on its pictures: its figure in the
model card is the result of one run after training.
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

SURFACES14: tuple[str, ...] = ("gift wrap", "atlas page", "photo collage", "stamp sheet", "sunburst", "book spines")
STYLES14: tuple[str, ...] = ("card", "halftone", "foam", "inkjet")
_NATIVE = 192  # the glass's and the scan's side in pixels before the resize
_SALT = 140_557
_LUMA = np.array([0.299, 0.587, 0.114])
_RING_HOLE = 0.55  # a ring's hole, as a share of its outer radius
_STAR_INNER = 0.45  # a star's inner corners, as a share of its points' radius
_ARM = 0.32  # half a cross's bar, as a share of its half length
_SIDES = 64  # corners of a circle's polygon
_MARGIN = 0.07  # the object's box stays this share of the frame's side inside each edge
# the rank-1 lattice of eight points with generator (1, 3), each in the middle of its cell
_LATTICE = np.c_[np.arange(8), np.arange(8) * 3 % 8] / 8 + 1 / 16


def _round(radius: float, clockwise: bool = False) -> np.ndarray:
    """A circle's polygon of ``_SIDES`` corners, wound one way or the other."""
    turns = np.arange(_SIDES) * 2 * math.pi / _SIDES * (-1 if clockwise else 1)
    return radius * np.c_[np.cos(turns), np.sin(turns)]


def outline(name: str) -> list[np.ndarray]:
    """The class's closed polygons in the box from -1 to 1 (y down, a triangle and a star point up)."""
    if name == "circle":
        return [_round(1.0)]
    if name == "ring":  # the hole wound against the rim, so the winding there is none
        return [_round(1.0), _round(_RING_HOLE, clockwise=True)]
    if name == "square":
        return [np.array([(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)])]
    if name == "triangle":
        turns = np.radians([-90.0, 30.0, 150.0])
        return [np.c_[np.cos(turns), np.sin(turns)]]
    if name == "star":
        turns, radii = np.arange(10) * math.pi / 5 - math.pi / 2, np.where(np.arange(10) % 2, _STAR_INNER, 1.0)
        return [np.c_[np.cos(turns) * radii, np.sin(turns) * radii]]
    if name == "cross":
        quarter = np.array([(_ARM, -1.0), (_ARM, -_ARM), (1.0, -_ARM)])
        turn = np.array([[0.0, 1.0], [-1.0, 0.0]])
        return [np.concatenate([quarter @ np.linalg.matrix_power(turn, k) for k in range(4)])]
    raise ValueError(f"unknown shape {name!r}")


def winding(loops: list[np.ndarray], points: np.ndarray) -> np.ndarray:
    """How many times the loops wind round each point (n, 2): the angles their corners turn through as seen from
    the point, each step wrapped to a half turn either way, summed over a whole turn."""
    total = np.zeros(len(points))
    for loop in loops:
        angle = np.arctan2(loop[None, :, 1] - points[:, 1:2], loop[None, :, 0] - points[:, 0:1])
        step = np.diff(angle, axis=1, append=angle[:, :1])
        total += ((step + math.pi) % (2 * math.pi) - math.pi).sum(axis=1)
    return total / (2 * math.pi)


def cover(loops: list[np.ndarray], side: int, shift: np.ndarray) -> np.ndarray:
    """Each pixel's share inside the loops (in pixels): its middle tested, and where a neighbour's middle lies on
    the other side, the mean of the eight lattice points shifted by ``shift``."""
    corners = np.concatenate(loops)
    low = np.clip(np.floor(corners.min(axis=0)) - 2, 0, side).astype(int)
    high = np.clip(np.ceil(corners.max(axis=0)) + 2, 0, side).astype(int)
    ys, xs = np.mgrid[low[1] : high[1], low[0] : high[0]]
    middles = np.c_[xs.ravel(), ys.ravel()] + 0.5
    inside = (np.abs(winding(loops, middles)) > 0.5).reshape(xs.shape)
    edge = ndimage.binary_dilation(inside, np.ones((3, 3))) & ~ndimage.binary_erosion(inside, np.ones((3, 3)))
    share = inside.astype(np.float64)
    pixels = np.c_[xs[edge], ys[edge]].astype(np.float64)
    points = (pixels[:, None] + (_LATTICE + shift) % 1).reshape(-1, 2)
    share[edge] = (np.abs(winding(loops, points)) > 0.5).reshape(-1, len(_LATTICE)).mean(axis=1)
    whole = np.zeros((side, side))
    whole[low[1] : high[1], low[0] : high[0]] = share
    return whole


def _hue(rng: np.random.Generator, luma: float) -> np.ndarray:
    """A colour of any hue brought to a grey level of ``luma``: scaled down, or mixed towards white."""
    colour = np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.4, 0.9), 1.0)) * 255
    level = float(colour @ _LUMA)
    return colour * luma / level if level >= luma else colour + (255 - colour) * (luma - level) / (255 - level)


def _palette(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` mid-tone colours spread over grey levels 85-185, so that neighbours differ in tone as well as hue
    and a dark or a light object stands off every one."""
    levels = np.clip(rng.permutation(np.linspace(85, 185, count)) + rng.uniform(-8, 8, count), 85, 185)
    return np.array([_hue(rng, level) for level in levels])


def _surface(rng: np.random.Generator, kind: str, side: int) -> np.ndarray:
    """A (side, side, 3) float picture of a page or things on the glass, most with features a shape's size."""
    rows, cols = np.mgrid[0:side, 0:side] + 0.5
    turn = rng.uniform(0, math.pi)
    u, v = cols * math.cos(turn) + rows * math.sin(turn), rows * math.cos(turn) - cols * math.sin(turn)
    if kind == "gift wrap":  # chevron stripes a shape's width, zigzagging across the sheet
        colours, width = _palette(rng, 3), side / rng.uniform(3.0, 5.0)
        period = width * rng.uniform(1.5, 3.0)
        phase = (v + rng.uniform(0.4, 1.0) * np.abs(u % period - period / 2)) / width
        picture = colours[np.floor(phase).astype(int) % 3]
    elif kind == "atlas page":  # countries a shape's size in pale tints, dark borders, and a blue sea on one side
        seeds = rng.uniform(-0.2, 1.2, (int(rng.integers(6, 11)), 2)) * side
        gaps = np.sort(np.hypot(cols[..., None] - seeds[:, 0], rows[..., None] - seeds[:, 1]), axis=-1)
        nearest = np.hypot(cols[..., None] - seeds[:, 0], rows[..., None] - seeds[:, 1]).argmin(axis=-1)
        picture = _palette(rng, len(seeds))[nearest]
        picture = np.where((gaps[..., 1] - gaps[..., 0] < 2.0)[..., None], np.array([70.0, 60, 55]), picture)
        coast = u - rng.uniform(0.2, 0.5) * side * 2 + 12 * np.sin(v / side * rng.uniform(6, 12))
        picture = np.where(
            (coast > 0)[..., None], np.array([110.0, 160, 200]) * (1 - 0.002 * coast[..., None]), picture
        )
    elif kind == "photo collage":  # photographs a shape's size or larger, each two-toned, with white borders
        picture = np.full((side, side, 3), 120.0) * rng.uniform(0.8, 1.2)
        for _ in range(int(rng.integers(5, 9))):
            at, half, tilt = rng.uniform(0, side, 2), rng.uniform(0.15, 0.3, 2) * side, rng.uniform(-0.4, 0.4)
            a = (cols - at[0]) * math.cos(tilt) + (rows - at[1]) * math.sin(tilt)
            b = (rows - at[1]) * math.cos(tilt) - (cols - at[0]) * math.sin(tilt)
            sky, ground = _palette(rng, 2)
            photo = np.where((b < rng.uniform(-0.5, 0.5) * half[1])[..., None], sky, ground)
            frame = np.maximum(np.abs(a) - half[0], np.abs(b) - half[1])
            picture = np.where((frame < -3)[..., None], photo, np.where((frame < 0)[..., None], 245.0, picture))
    elif kind == "stamp sheet":  # postage stamps a shape's size, each coloured round a pale picture, perforated
        cell = side / rng.uniform(2.5, 4.0)
        i, j = np.floor(u / cell), np.floor(v / cell)
        colours = _palette(rng, 4)
        picture = colours[((i * 3 + j * 5) % 4).astype(int)]
        inner = np.minimum(np.minimum(u - i * cell, (i + 1) * cell - u), np.minimum(v - j * cell, (j + 1) * cell - v))
        picture = np.where((inner > cell * 0.22)[..., None], picture * 0.6 + 90, picture)
        holes = np.hypot((u + cell / 2) % 5 - 2.5, v % cell) * np.hypot(u % cell, (v + cell / 2) % 5 - 2.5) < 1.5
        picture = np.where(((inner < 1.5) | holes)[..., None], 240.0, picture)
    elif kind == "sunburst":  # a comic's rays from a point, each wedge as wide as a shape where it is seen
        middle = rng.uniform(-0.3, 1.3, 2) * side
        rays, colours = int(rng.integers(8, 16)), _palette(rng, 2)
        angle = np.arctan2(rows - middle[1], cols - middle[0]) + math.pi
        picture = colours[(np.floor(angle / (2 * math.pi) * 2 * rays) % 2).astype(int)]
    elif kind == "book spines":  # books a shape's width side by side, each its own colour with a title band
        edges = np.cumsum(rng.uniform(0.1, 0.3, 12) * side) - rng.uniform(0, 0.2 * side)
        book = np.searchsorted(edges, u % edges[-1])
        colours, bands = _palette(rng, 12), rng.uniform(0.1, 0.8, 12) * side
        picture = colours[book]
        band = np.abs(v % side - bands[book]) < 0.06 * side
        picture = np.where(band[..., None], picture * 0.5 + 110, picture)
        gap = np.min(np.abs(u[..., None] % edges[-1] - edges), axis=-1) < 1.2
        picture = np.where(gap[..., None], 40.0, picture)
    else:
        raise ValueError(f"unknown surface {kind!r}")
    grain = cv2.GaussianBlur(rng.standard_normal((side, side)), (0, 0), 0.8)
    return np.clip(picture * (1 + 0.04 * grain)[..., None], 0, 255)


def _lay(picture: np.ndarray, alpha: np.ndarray, colour: Any) -> np.ndarray:
    """The picture covered by ``alpha`` of a colour kept within 0-255, so every layer stays within the grey scale."""
    return picture + np.clip(alpha, 0, 1)[..., None] * (np.clip(np.asarray(colour, float), 0, 255) - picture)


def _shadow(picture: np.ndarray, share: np.ndarray, drop: float, depth: float) -> np.ndarray:
    """The page darkened under the edge of a thing lifted off the glass, away from the lamp (down the page)."""
    moved = cv2.warpAffine(share.astype(np.float32), np.float32([[1, 0, 0.5 * drop], [0, 1, drop]]), share.shape)
    return picture * (1 - depth * cv2.GaussianBlur(moved, (0, 0), 1.5).astype(np.float64))[..., None]


def _ink(rng: np.random.Generator, around: np.ndarray) -> np.ndarray:
    """The object's colour: dark (grey 15-45) on a surface whose middle is light, light (215-245) on a dark one."""
    level = float(np.median(around @ _LUMA)) if len(around) else 128.0
    return _hue(rng, rng.uniform(15, 45) if level >= 128 else rng.uniform(215, 245))


def _paint(rng: np.random.Generator, picture: np.ndarray, share: np.ndarray, style: str) -> np.ndarray:
    """The object, in ``style``, on the page, where ``share`` covers it."""
    side = picture.shape[0]
    rows, cols = np.mgrid[0:side, 0:side] + 0.5
    around = ndimage.binary_dilation(share > 0, iterations=6) & (share == 0)
    colour = _ink(rng, picture[around])
    if style == "card":  # flat card, its cut edge catching the lamp, a soft shadow below it
        picture = _shadow(picture, share, rng.uniform(1.5, 3.0), 0.4)
        rim = np.clip(share - ndimage.uniform_filter(share, 3) + 0.4, 0, 1) * (share > 0.3)
        return _lay(_lay(picture, share, colour), rim * 0.35, colour * 0.5 + 127)
    if style == "halftone":  # a printed cut-out: the colour's dots on white paper, a thin shadow
        picture = _shadow(picture, share, 1.0, 0.3)
        pitch, tilt = rng.uniform(2.5, 3.5), math.radians(rng.choice([15, 45, 75]))
        a, b = (
            (cols * math.cos(tilt) + rows * math.sin(tilt)) / pitch,
            (rows * math.cos(tilt) - cols * math.sin(tilt)) / pitch,
        )
        dots = np.clip((0.62 - np.hypot(a % 1 - 0.5, b % 1 - 0.5)) * pitch + 0.5, 0, 1)  # about 90% inked
        paper = np.array([246.0, 244, 236]) if colour @ _LUMA < 128 else colour * 0.85
        return _lay(_lay(picture, share, paper), share * dots, colour)
    if style == "foam":  # craft foam: pitted, its edge rolled down darker, a deeper shadow
        picture = _shadow(picture, share, rng.uniform(2.5, 4.0), 0.5)
        pits = 1 + 0.12 * cv2.GaussianBlur(rng.standard_normal((side, side)), (0, 0), 1.0)
        rolled = 0.75 + 0.25 * np.clip(cv2.GaussianBlur(share, (0, 0), 1.5) * 2 - 1, 0, 1)
        return _lay(picture, share, colour * (pits * rolled)[..., None])
    if style == "inkjet":  # ink printed on the page itself, bled a little, banded along the print head's passes
        bands = 1 + 0.08 * np.sin(2 * math.pi * rows / rng.uniform(6, 12)) * rng.uniform(0.5, 1.0)
        bled = cv2.GaussianBlur(share, (0, 0), rng.uniform(0.4, 0.8))
        return _lay(picture, bled * 0.97, colour * bands[..., None])
    raise ValueError(f"unknown style {style!r}")


def _glass(rng: np.random.Generator, side: int) -> np.ndarray:
    """The scan's affine map from the glass to the frame: turned a little about the middle and enlarged just enough
    that every frame pixel reads the glass."""
    turn = math.radians(rng.uniform(-4, 4))
    scale = (abs(math.cos(turn)) + abs(math.sin(turn))) * rng.uniform(1.0, 1.04)
    return cv2.getRotationMatrix2D((side / 2, side / 2), math.degrees(turn), scale).astype(np.float64)


def to_glass(glass: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Frame points (n, 2) to the glass's: the scan's map undone."""
    return cv2.transform(points[None].astype(np.float64), cv2.invertAffineTransform(glass))[0]


def _scan(
    rng: np.random.Generator, picture: np.ndarray, share: np.ndarray, glass: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """The scanner's frame of the glass and the object's mask through the same map: soft optics, the red and blue
    lines out of register, a lamp falling off to its ends, each sensor column's gain, sharpening and a JPEG."""
    side = picture.shape[0]
    seen = cv2.warpAffine(picture.astype(np.float32), glass, (side, side), flags=cv2.INTER_LINEAR)
    paint = cv2.warpAffine(share.astype(np.float32), glass, (side, side), flags=cv2.INTER_LINEAR)
    seen = cv2.GaussianBlur(seen, (0, 0), rng.uniform(0.5, 0.9)).astype(np.float64)
    for channel in (0, 2):  # the sensor's red and blue lines read a little before or after the green
        lag = np.float32([[1, 0, 0], [0, 1, rng.uniform(-1.2, 1.2)]])
        seen[..., channel] = cv2.warpAffine(seen[..., channel], lag, (side, side), borderMode=cv2.BORDER_REFLECT)
    cols = (np.arange(side) + 0.5) / side - 0.5
    lamp = 1 - rng.uniform(0.05, 0.2) * (2 * cols) ** 2
    columns = 1 + rng.standard_normal(side) * 0.01 + (rng.random(side) < 0.03) * rng.uniform(-0.12, 0.12, side)
    seen = seen * (lamp * columns)[None, :, None] * rng.uniform(0.92, 1.08, 3)
    soft = cv2.GaussianBlur(seen, (0, 0), 1.2)
    seen = seen + rng.uniform(0.3, 0.8) * (seen - soft)  # the scanner software's unsharp mask
    shrink = cv2.INTER_AREA if size < side else cv2.INTER_LINEAR
    seen, paint = (cv2.resize(layer, (size, size), interpolation=shrink) for layer in (seen, paint.astype(np.float64)))
    seen = seen + rng.standard_normal(seen.shape) * rng.uniform(1, 3)
    frame = np.clip(seen + 0.5, 0, 255).astype(np.uint8)[..., ::-1]
    quality = [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(50, 90))]
    quality += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420]
    photo = cv2.imdecode(cv2.imencode(".jpg", frame, quality)[1], cv2.IMREAD_COLOR)
    return np.ascontiguousarray(photo[..., ::-1]), paint >= 0.5


def render_sealed14_scene(rng: np.random.Generator, size: int) -> SealedScene:
    """One picture; the first draws are the label, the surface and the size band, in that order."""
    label, surface, (band, low, high) = first_draws(rng, SURFACES14, EVERY_BAND)
    style = STYLES14[int(rng.integers(len(STYLES14)))]
    name, side = SHAPE_CLASSES[label], _NATIVE
    picture = _surface(rng, surface, side)
    glass = _glass(rng, side)
    turn = rng.uniform(0, 2 * math.pi)
    rotation = np.array([[math.cos(turn), math.sin(turn)], [-math.sin(turn), math.cos(turn)]])
    loops = [loop @ rotation for loop in outline(name)]
    corners = np.concatenate(loops)
    middle, span = (corners.min(axis=0) + corners.max(axis=0)) / 2, float(np.ptp(corners, axis=0).max())
    extent = rng.uniform(low, high) * side
    goal = rng.uniform(_MARGIN * side + extent / 2, side - _MARGIN * side - extent / 2, 2)
    loops = [to_glass(glass, goal + (loop - middle) * extent / span) for loop in loops]  # placed in the frame
    share = cover(loops, side, rng.random(2))
    picture = _paint(rng, picture, share, style)
    image, mask = _scan(rng, picture, share, glass, size)
    return SealedScene(image, mask, label, surface, band, style)


class ShapesSealed14Dataset(ShapesSealedDataset):
    """The fourteenth sealed set, deterministic per index; evaluation only, and run once per trained model."""

    SALT = _SALT
    SURFACE_KINDS = SURFACES14
    BANDS = EVERY_BAND

    def render(self, rng: np.random.Generator, size: int) -> Any:
        return render_sealed14_scene(rng, size)
