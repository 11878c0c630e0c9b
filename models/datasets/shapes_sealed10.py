"""The tenth sealed renderer: outlines traced by a line walker and filled as holes, on round and cellular surfaces.

Each class is a polygon (a circle one of 256 sides, a ring two of them). Its
edges are walked one sample per step on a canvas four times finer than the
picture (a digital differential analyser), the closed outline is filled by
``scipy.ndimage.binary_fill_holes``, and a 4 x 4 box mean gives each pixel's
coverage. The surfaces have features as large as the shapes: Turing spots and
mazes, wood knots, stained glass, a seed head's spirals, marbled rings and a
cratered moon. The styles are felt appliqué with its stitches, pointillist
dots, a woodcut's gouges, a streaky marker and torn paper. The camera is
``scipy.ndimage``: a turn, a keystone and a lens's barrel by
``map_coordinates``, a pre-blurred zoom, an S-shaped exposure, a tint, shot
noise and a 4:2:0 JPEG. Nothing in the training generator was, or may be, tuned
on its pictures: its figure in the model card is the result of one run after
training.
"""

from __future__ import annotations

import colorsys
import io
import math
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from .shapes_camera import EVERY_BAND
from .shapes_scene import SHAPE_CLASSES
from .shapes_sealed import SealedScene, ShapesSealedDataset, first_draws

SURFACES10: tuple[str, ...] = ("turing", "knots", "stained glass", "seed head", "marbling", "craters")
STYLES10: tuple[str, ...] = ("applique", "pointillist", "woodcut", "marker", "torn paper")
_NATIVE = 160  # the picture's side before the camera
_FINE = 4  # the outline is walked and filled this many times finer than the picture
_SALT = 101_023
_LUMA = np.array([0.299, 0.587, 0.114])
_RING_HOLE = 0.6  # a ring's hole, as a share of its outer radius
_ROOM = 0.08  # the object's box stays this share of the side inside each edge, beyond what the camera moves it


def polygon(name: str) -> list[np.ndarray]:
    """The class's outlines as (n, 2) corner arrays round the origin, farthest corner at 1; a ring has two."""
    if name in ("circle", "ring"):
        angle = np.linspace(0, 2 * math.pi, 256, endpoint=False)
        outer = np.stack([np.cos(angle), np.sin(angle)], axis=1)
        return [outer, outer * _RING_HOLE] if name == "ring" else [outer]
    if name == "square":
        return [np.array([(1, 0), (0, 1), (-1, 0), (0, -1)], float)]
    if name == "triangle":
        angle = -math.pi / 2 + np.arange(3) * 2 * math.pi / 3
        return [np.stack([np.cos(angle), np.sin(angle)], axis=1)]
    if name == "star":
        angle = -math.pi / 2 + np.arange(10) * math.pi / 5
        reach = np.where(np.arange(10) % 2 == 0, 1.0, 0.4)
        return [np.stack([reach * np.cos(angle), reach * np.sin(angle)], axis=1)]
    if name == "cross":  # two bars a third as wide as long, their corners at 1
        a = 1 / math.sqrt(1 + (1 / 3) ** 2)
        b = a / 3
        corners = [(b, -a), (b, -b), (a, -b), (a, b), (b, b), (b, a), (-b, a), (-b, b), (-a, b), (-a, -b), (-b, -b)]
        return [np.array([*corners, (-b, -a)], float)]
    raise ValueError(f"unknown class {name!r}")


def _walk(corners: np.ndarray, side: int) -> np.ndarray:
    """The closed outline through ``corners`` (canvas pixels), one sample per step along each edge's longer axis."""
    canvas = np.zeros((side, side), bool)
    for start, end in zip(corners, np.roll(corners, -1, axis=0)):
        steps = int(np.ceil(np.abs(end - start).max())) + 1
        t = np.linspace(0.0, 1.0, steps + 1)
        points = np.floor(start + (end - start) * t[:, None]).astype(int)
        keep = (points >= 0).all(axis=1) & (points < side).all(axis=1)
        canvas[points[keep, 1], points[keep, 0]] = True
    return canvas


def coverage(name: str, side: int, centre: np.ndarray, scale: float, turn: float, squash: float) -> np.ndarray:
    """Each pixel's share inside the posed class: walked and filled at ``_FINE`` times the side, then box-averaged."""
    fine = side * _FINE
    rotation = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
    filled = []
    for corners in polygon(name):
        posed = (corners * np.array([squash, 1 / squash])) @ rotation.T * scale + centre
        filled.append(ndimage.binary_fill_holes(_walk(posed * _FINE, fine)))
    inside = filled[0] & ~filled[1] if len(filled) == 2 else filled[0]
    return inside.reshape(side, _FINE, side, _FINE).mean(axis=(1, 3))


def _hls(hue: float, lightness: float, saturation: float) -> np.ndarray:
    return np.array(colorsys.hls_to_rgb(hue % 1.0, lightness, saturation)) * 255.0


def _band_noise(rng: np.random.Generator, side: int, wavelength: float) -> np.ndarray:
    """White noise kept near one wavelength (in pixels) by an FFT ring filter, scaled to unit spread."""
    fy = np.fft.fftfreq(side)[:, None]
    fx = np.fft.fftfreq(side)[None, :]
    ring = np.exp(-(((np.hypot(fx, fy) * wavelength - 1.0) / 0.25) ** 2))
    field = np.real(np.fft.ifft2(np.fft.fft2(rng.normal(size=(side, side))) * ring))
    return field / (field.std() + 1e-9)


def _surface(rng: np.random.Generator, kind: str, side: int) -> np.ndarray:
    """A (side, side, 3) float picture whose features are about as large as the shapes drawn on it."""
    rows, cols = np.mgrid[0:side, 0:side].astype(np.float64)
    hue = rng.random()
    light = rng.uniform(0.3, 0.75)
    base = _hls(hue, light, rng.uniform(0.15, 0.7))
    other = _hls(hue + rng.uniform(-0.2, 0.2), light * rng.uniform(0.35, 0.6), rng.uniform(0.3, 0.8))
    if kind == "turing":  # a reaction-diffusion look: spots or a maze at one wavelength, a shape's size
        field = _band_noise(rng, side, side * rng.uniform(0.12, 0.3))
        level = rng.choice([-0.8, 0.0, 0.8])  # spots of one tone, a maze, or spots of the other
        weight = np.clip((field - level) * 2.5 + 0.5, 0, 1)
        return base + weight[..., None] * (other - base)
    if kind == "knots":  # wood grain bent round knots, whose rings are as large as the shapes
        grain = cols + side * 0.04 * np.sin(rows / side * rng.uniform(2, 6))
        for _ in range(int(rng.integers(1, 4))):
            cy, cx = rng.uniform(0, side, 2)
            d = np.hypot(rows - cy, (cols - cx) * rng.uniform(0.6, 1.0))
            reach = side * rng.uniform(0.1, 0.25)
            grain = np.where(d < reach * 1.6, d * 2.2 + (grain - d * 2.2) * np.clip(d / reach - 0.6, 0, 1), grain)
        period = side * rng.uniform(0.03, 0.07)
        lines = (np.sin(grain / period * 2 * math.pi) + 1) / 2
        return base + (lines**3)[..., None] * (other - base)
    if kind == "stained glass":  # coloured panes as large as a shape, leaded in dark lines
        count = int(rng.integers(8, 30))
        seeds = rng.uniform(0, side, (count, 2))
        d = np.hypot(rows[..., None] - seeds[:, 0], cols[..., None] - seeds[:, 1])
        order = np.sort(d, axis=-1)
        owner = d.argmin(axis=-1)
        panes = np.array([_hls(hue + rng.uniform(-0.3, 0.3), rng.uniform(0.35, 0.7), 0.7) for _ in range(count)])
        lead = (order[..., 1] - order[..., 0]) < rng.uniform(1.5, 3.5)
        return np.where(lead[..., None], other * 0.3, panes[owner])
    if kind == "seed head":  # a sunflower's seeds on golden-angle spirals, larger away from the middle
        picture = np.broadcast_to(base, (side, side, 3)).copy()
        cy, cx = rng.uniform(-0.2, 1.2, 2) * side
        spacing = side * rng.uniform(0.025, 0.05)
        for k in range(1, 1600):
            r = spacing * math.sqrt(k)
            if r > side * 1.6:
                break
            y, x = cy + r * math.sin(k * 2.39996), cx + r * math.cos(k * 2.39996)
            reach = spacing * 0.42 * (1 + r / side)
            top, left = max(int(y - reach), 0), max(int(x - reach), 0)
            bottom, right = min(int(y + reach) + 2, side), min(int(x + reach) + 2, side)
            if top < bottom and left < right:  # only the seed's own patch of the picture
                patch = np.hypot(rows[top:bottom, left:right] - y, cols[top:bottom, left:right] - x) < reach
                picture[top:bottom, left:right][patch] = other
        return picture
    if kind == "marbling":  # ink rings dropped on water, then combed into waves
        picture = np.broadcast_to(base, (side, side, 3)).copy()
        warp_r = rows + side * 0.05 * np.sin(cols / side * rng.uniform(4, 10) + rng.uniform(0, 6))
        warp_c = cols + side * 0.05 * np.sin(rows / side * rng.uniform(4, 10) + rng.uniform(0, 6))
        for _ in range(int(rng.integers(2, 6))):
            cy, cx = rng.uniform(0, side, 2)
            d = np.hypot(warp_r - cy, warp_c - cx)
            period = side * rng.uniform(0.04, 0.08)
            rings = (np.sin(d / period * 2 * math.pi) > 0.2) & (d < side * rng.uniform(0.2, 0.45))
            picture[rings] = _hls(hue + rng.uniform(-0.3, 0.3), light * 0.55, 0.7)
        return picture
    if kind == "craters":  # a grey moon: bowls of many sizes, shadowed on one side and lit on the rim across
        height = np.zeros((side, side))
        for _ in range(int(rng.integers(8, 30))):
            cy, cx = rng.uniform(0, side, 2)
            r = side * rng.uniform(0.03, 0.18)
            d = np.hypot(rows - cy, cols - cx) / r
            height += np.where(d < 1, d**2 - 1, 0.3 * np.exp(-(((d - 1.0) / 0.25) ** 2))) * r
        gy, gx = np.gradient(height)
        light_angle = rng.uniform(0, 2 * math.pi)
        shade = np.clip(0.5 + 0.8 * (gx * math.cos(light_angle) + gy * math.sin(light_angle)), 0, 1)
        grey = np.full(3, 255.0 * light)
        return grey * (0.5 + shade[..., None])
    raise ValueError(f"unknown surface {kind!r}")


def _ink(rng: np.random.Generator, near: np.ndarray) -> np.ndarray:
    """A colour of any hue whose brightness lies 70-110 grey levels from the middle of the surface round it."""
    level = float(np.median(near @ _LUMA))
    target = level - rng.uniform(70, 110) if level > 127.5 else level + rng.uniform(70, 110)
    target = float(np.clip(target, 8, 247))
    colour = _hls(rng.random(), 0.5, rng.uniform(0.4, 1.0))
    luma = float(colour @ _LUMA)
    if luma > target:
        return colour * target / luma
    return 255 - (255 - colour) * (255 - target) / (255 - luma)


def _paint(rng: np.random.Generator, picture: np.ndarray, cover: np.ndarray, style: str) -> np.ndarray:
    """Lay the object's paint, in ``style``, over the surface where ``cover`` says."""
    rows, cols = np.mgrid[0 : cover.shape[0], 0 : cover.shape[1]].astype(np.float64)
    near = ndimage.binary_dilation(cover > 0, iterations=5) & (cover < 1)
    ink = _ink(rng, picture[near])
    alpha = cover.copy()
    paint = np.broadcast_to(ink, picture.shape).astype(np.float64)
    if style == "applique":  # felt cut to shape, sewn on with a dashed stitch just inside its edge
        inner = ndimage.distance_transform_edt(cover > 0.5)
        dash = np.sin((rows + cols) * rng.uniform(0.6, 1.0)) > 0
        stitch = (np.abs(inner - 2.5) < 0.7) & dash
        thread = 255.0 - ink * 0.6
        paint = np.where(stitch[..., None], thread, paint * (1 + rng.normal(0, 0.04, picture.shape)))
    elif style == "pointillist":  # dense dots of ink, the surface showing between them
        dots = ndimage.gaussian_filter(rng.random(cover.shape), 0.7) > rng.uniform(0.47, 0.5)
        alpha = cover * np.where(dots, 1.0, 0.35)
    elif style == "woodcut":  # a print whose block was gouged by thin parallel cuts
        angle = rng.uniform(0, math.pi)
        cut = np.sin((cols * math.cos(angle) + rows * math.sin(angle)) / rng.uniform(2.5, 4.0) * math.pi) > 0.85
        alpha = cover * np.where(cut, 0.15, 1.0)
    elif style == "marker":  # strokes side by side, darker where two overlap
        angle = rng.uniform(0, math.pi)
        across = cols * math.cos(angle) + rows * math.sin(angle)
        streak = 0.85 + 0.15 * np.abs(np.sin(across / rng.uniform(3, 6) * math.pi))
        paint = paint * streak[..., None]
    elif style == "torn paper":  # coloured paper torn to shape: a ragged edge with white fibres round it
        rag = ndimage.gaussian_filter(rng.normal(size=cover.shape), 1.2) * 0.9
        torn = np.clip(ndimage.gaussian_filter(cover, 1.0) + rag * (cover > 0.02) * (cover < 0.98), 0, 1)
        fibres = np.clip(ndimage.binary_dilation(cover > 0.5, iterations=2) & (cover < 0.5), 0, 1)
        picture = np.where(fibres[..., None], 245.0, picture)
        alpha = np.maximum(cover, torn * (cover > 0.5))
    else:
        raise ValueError(f"unknown style {style!r}")
    return picture * (1 - alpha[..., None]) + paint * alpha[..., None]


def _camera(
    rng: np.random.Generator, picture: np.ndarray, cover: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """A webcam: a turn, a keystone and a barrel lens, a zoom, an S-shaped exposure, a tint, noise and JPEG."""
    side = picture.shape[0]
    rows, cols = np.mgrid[0:side, 0:side].astype(np.float64)
    u, v = (cols - side / 2) / (side / 2), (rows - side / 2) / (side / 2)
    turn = math.radians(rng.uniform(-4, 4))
    u, v = u * math.cos(turn) - v * math.sin(turn), u * math.sin(turn) + v * math.cos(turn)
    lean = rng.uniform(-0.04, 0.04)
    u = u * (1 + lean * v)  # a keystone: the sheet's top nearer or farther than its bottom
    barrel = 1 + rng.uniform(0.0, 0.05) * (u**2 + v**2)
    u, v = u * barrel * 0.96, v * barrel * 0.96  # 4% zoomed in, so the barrel never reads past the sheet
    where = [v * side / 2 + side / 2 - 0.5, u * side / 2 + side / 2 - 0.5]
    seen = np.stack([ndimage.map_coordinates(picture[..., c], where, order=1, mode="reflect") for c in range(3)], -1)
    mask = ndimage.map_coordinates(cover, where, order=1, mode="constant")
    zoom = size / side
    if zoom < 1:
        seen = ndimage.gaussian_filter(seen, (0.45 / zoom, 0.45 / zoom, 0))
    seen = ndimage.zoom(seen, (zoom, zoom, 1), order=1, grid_mode=True, mode="nearest")
    mask = ndimage.zoom(mask, zoom, order=1, grid_mode=True, mode="nearest") >= 0.5
    level = np.clip(seen / 255, 0, 1)
    contrast = rng.uniform(0.0, 0.6)
    level = level + contrast * level * (1 - level) * (2 * level - 1) * -1  # an S-curve round mid-grey
    seen = 255 * np.clip(level, 0, 1) * np.array([rng.uniform(0.92, 1.08), 1.0, rng.uniform(0.92, 1.08)])
    seen = seen + rng.normal(0, 1, seen.shape) * np.sqrt(np.clip(seen, 1, 255)) * rng.uniform(0.1, 0.5)
    buffer = io.BytesIO()
    quality = int(rng.integers(30, 85))
    Image.fromarray(np.clip(seen, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=quality, subsampling=2)
    return np.asarray(Image.open(buffer).convert("RGB")), mask


def render_sealed10_scene(rng: np.random.Generator, size: int) -> SealedScene:
    """One picture; the first draws are the label, the surface and the size band, in that order."""
    label, surface, (band, low, high) = first_draws(rng, SURFACES10, EVERY_BAND)
    style = STYLES10[int(rng.integers(len(STYLES10)))]
    name = SHAPE_CLASSES[label]
    side = _NATIVE
    picture = _surface(rng, surface, side)
    turn = rng.uniform(0, 2 * math.pi)
    squash = math.sqrt(rng.uniform(0.95, 1.05) if name in ("circle", "ring") else rng.uniform(0.9, 1.11))
    rotation = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
    posed = (polygon(name)[0] * np.array([squash, 1 / squash])) @ rotation.T
    low_corner, high_corner = posed.min(axis=0), posed.max(axis=0)
    span = high_corner - low_corner
    scale = rng.uniform(low, high) * side / span.max()  # the longer side of the box lands in the band
    room = _ROOM * side
    box = np.array([rng.uniform(room + scale * s / 2, side - room - scale * s / 2) for s in span])
    centre = box - (low_corner + high_corner) / 2 * scale  # the box, not the class's centre, is what is placed
    cover = coverage(name, side, centre, scale, turn, squash)
    picture = _paint(rng, picture, cover, style)
    image, mask = _camera(rng, picture, cover, size)
    return SealedScene(image, mask, label, surface, band, style)


class ShapesSealed10Dataset(ShapesSealedDataset):
    """The tenth sealed set, deterministic per index; evaluation only, and run once per trained model."""

    SALT = _SALT
    SURFACE_KINDS = SURFACES10
    BANDS = EVERY_BAND

    def render(self, rng: np.random.Generator, size: int) -> Any:
        return render_sealed10_scene(rng, size)
