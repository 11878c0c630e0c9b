"""The ninth sealed renderer: each class a radius around its centre, on surfaces whose cells are a shape's size.

Every class is star-shaped about its centre, so a picture's object is a rule
on polar coordinates: a sample lies inside when its distance from the centre
is under the class's radius at its angle (a ring: between two radii). Four
samples per pixel on a rotated grid give the coverage. The surfaces have
features as large as the shapes (giraffe patches, zebra stripes, soap bubbles,
dried-mud cracks, bokeh and lace), the weakness every earlier sealed set found;
the styles are cut paper with its shadow, pencil hatching, stencil spray,
glitter and chalk; shapes run to 75% of the side, as a sheet held close to a
webcam shows them. A PIL perspective warp, a lamp's falloff, a gamma, colour
noise and a JPEG stand for the camera. Nothing in the training generator was,
or may be, tuned on its pictures: its figure in the model card is the result of
one run after training.
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

SURFACES9: tuple[str, ...] = ("giraffe", "zebra", "bubbles", "mud", "bokeh", "lace")
STYLES9: tuple[str, ...] = ("cut paper", "hatched", "stencil", "glitter", "chalk")
_NATIVE = 160  # the picture's side before the camera's resize
_SALT = 90917
_ROTATED_GRID = np.array([(0.375, 0.125), (0.875, 0.375), (0.125, 0.625), (0.625, 0.875)])  # 4 samples, 4 rows
_LUMA = np.array([0.299, 0.587, 0.114])
_RING_HOLE = 0.62  # a ring's hole, as a share of its outer radius
_LEAN = 0.00015  # the perspective's tilt: a point moves by up to 5% of its distance from the sheet's corner
_ROOM = 0.085  # the object's box stays this share of the side inside each edge: 3%, and the 5.5% the tilt moves it


def radius(name: str, angle: np.ndarray) -> np.ndarray:
    """The class's boundary at each angle, for a shape whose farthest point is 1 from its centre."""
    if name in ("circle", "ring"):
        return np.ones_like(angle)
    if name == "square":  # the corners at 1, so the sides lie cos(pi/4) from the centre
        return math.cos(math.pi / 4) / np.maximum(np.abs(np.cos(angle)), np.abs(np.sin(angle)))
    if name == "triangle":  # each side lies cos(pi/3) from the centre, facing the angle halfway between two corners
        return math.cos(math.pi / 3) / np.cos((angle - math.pi / 2) % (2 * math.pi / 3) - math.pi / 3)
    if name == "star":  # five tips at 1 and five notches at 0.38, joined by straight edges
        return _polygon_radius(angle, np.array([1.0 if k % 2 == 0 else 0.38 for k in range(10)]))
    if name == "cross":  # two bars a third as wide as long: the ray leaves whichever bar holds it longer
        arm = 1 / math.sqrt(1 + (1 / 3) ** 2)  # half the bar's length, so a bar's corner lies at 1
        half = arm / 3
        cos, sin = np.abs(np.cos(angle)) + 1e-12, np.abs(np.sin(angle)) + 1e-12
        along_x = np.minimum(arm / cos, half / sin)
        along_y = np.minimum(half / cos, arm / sin)
        return np.maximum(along_x, along_y)
    raise ValueError(f"unknown class {name!r}")


def _polygon_radius(angle: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """The radius of a polygon whose corners sit at equal angles (from straight up) and the given distances."""
    count = len(corners)
    step = 2 * math.pi / count
    turned = (angle + math.pi / 2) % (2 * math.pi)  # corner 0 points up the picture (y grows downwards)
    index = np.floor(turned / step).astype(int) % count
    a = corners[index] * np.exp(1j * index * step)
    b = corners[(index + 1) % count] * np.exp(1j * (index + 1) * step)
    normal = (b - a) * -1j  # the edge's normal; the ray meets the edge where its projection reaches the edge's
    distance = (np.conj(normal) * a).real
    ray = np.exp(1j * turned)
    return distance / (np.conj(normal) * ray).real


def coverage(name: str, side: int, centre: complex, size: float, turn: float, squash: float) -> np.ndarray:
    """The share of each pixel's four samples inside the shape: its farthest point ``size`` from ``centre``."""
    total = np.zeros((side, side))
    rows, cols = np.mgrid[0:side, 0:side].astype(np.float64)
    for dx, dy in _ROTATED_GRID:
        point = (cols + dx + 1j * (rows + dy) - centre) * np.exp(-1j * turn) / size
        point = point.real / squash + 1j * point.imag * squash
        distance, angle = np.abs(point), np.angle(point)
        inside = distance < radius(name, angle)
        if name == "ring":
            inside &= distance > _RING_HOLE
        total += inside
    return total / len(_ROTATED_GRID)


def _hls(hue: float, lightness: float, saturation: float) -> np.ndarray:
    return np.array(colorsys.hls_to_rgb(hue % 1.0, lightness, saturation)) * 255.0


def _surface(rng: np.random.Generator, kind: str, side: int) -> np.ndarray:
    """A (side, side, 3) float picture whose features are about as large as the shapes drawn on it."""
    rows, cols = np.mgrid[0:side, 0:side].astype(np.float64)
    hue = rng.random()
    light = rng.uniform(0.25, 0.8)
    base, other = _hls(hue, light, rng.uniform(0.2, 0.8)), _hls(hue + rng.uniform(-0.15, 0.15), light * 0.45, 0.6)
    if kind in ("giraffe", "mud"):  # patches round seed points, found by the distance transform, with gaps between
        seeds = np.zeros((side, side), bool)
        count = int(rng.integers(8, 30))
        seeds[rng.integers(0, side, count), rng.integers(0, side, count)] = True
        _, (near_r, near_c) = ndimage.distance_transform_edt(~seeds, return_indices=True)
        owner = near_r * side + near_c
        edge = (owner != np.roll(owner, 1, 0)) | (owner != np.roll(owner, 1, 1))
        gap = ndimage.binary_dilation(edge, iterations=int(rng.integers(1, 4 if kind == "mud" else 7)))
        tone = rng.uniform(-0.15, 0.15, side * side)[owner][..., None]
        patches = other * (1 + tone) if kind == "giraffe" else base * (1 + tone)
        gaps = base if kind == "giraffe" else other * 0.5
        return np.where(gap[..., None], gaps, patches)
    if kind == "zebra":  # wavy stripes as wide as a small shape
        period = side * rng.uniform(0.08, 0.2)
        wave = np.sin(rows / side * rng.uniform(3, 9) + rng.uniform(0, 6)) * side * rng.uniform(0.03, 0.1)
        stripes = np.sin((cols + wave) / period * 2 * math.pi) > rng.uniform(-0.3, 0.3)
        picture = np.where(stripes[..., None], base, other)
        return ndimage.rotate(picture, rng.uniform(0, 180), reshape=False, order=1, mode="reflect")
    if kind in ("bubbles", "bokeh", "lace"):  # rings, soft discs or holes: round things of many sizes
        picture = np.broadcast_to(base, (side, side, 3)).copy()
        for _ in range(int(rng.integers(10, 40))):
            cy, cx = rng.uniform(0, side, 2)
            r = side * rng.uniform(0.03, 0.16)
            d = np.hypot(rows - cy, cols - cx) / r
            if kind == "bubbles":  # a thin bright rim and a faint sheen
                weight = np.exp(-(((d - 1) / 0.08) ** 2)) * 0.8 + (d < 1) * 0.08
                picture += weight[..., None] * (255 - picture)
            elif kind == "bokeh":  # an out-of-focus light: a bright disc with a soft edge
                weight = np.clip((1.15 - d) / 0.3, 0, 1) * rng.uniform(0.2, 0.6)
                picture += weight[..., None] * (_hls(rng.random(), 0.8, 0.9) - picture)
            else:  # a hole in lace, dark, with a pale thread round it
                picture = np.where((d < 1)[..., None], other * 0.4, picture)
                picture += (np.exp(-(((d - 1.15) / 0.1) ** 2)) * 0.5)[..., None] * (255 - picture)
        if kind == "bokeh":
            picture = ndimage.gaussian_filter(picture, (1.5, 1.5, 0))
        return picture
    raise ValueError(f"unknown surface {kind!r}")


def _ink(rng: np.random.Generator, surface: np.ndarray) -> np.ndarray:
    """A colour darker than the surface's darker tones or lighter than its lighter ones, whichever leaves more room,
    so a person reads the shape at a glance on a two-tone surface too.

    The hue is free; the colour is then darkened towards black or lightened towards white until its luma is
    the one chosen, since a colour's HLS lightness says little about how bright it looks (dark yellow is not).
    """
    low, high = np.percentile(surface @ _LUMA, [10, 90])
    if low >= 255 - high:
        target = max(5.0, low - rng.uniform(45, 70))
    else:
        target = min(250.0, high + rng.uniform(45, 70))
    colour = _hls(rng.random(), 0.5, rng.uniform(0.3, 1.0))
    luma = float(colour @ _LUMA)
    if luma > target:
        return colour * target / luma
    return 255 - (255 - colour) * (255 - target) / (255 - luma)


def _paint(rng: np.random.Generator, picture: np.ndarray, cover: np.ndarray, style: str) -> np.ndarray:
    """Lay the object's paint, in ``style``, over the surface where ``cover`` says."""
    near = ndimage.binary_dilation(cover > 0, iterations=4)  # the surface the shape's edge will be seen against
    ink = _ink(rng, picture[near])
    alpha = cover.copy()
    if style == "cut paper":  # a sheet cut to shape, lying a little above the surface and casting a shadow
        shift = rng.integers(2, 6, 2)
        shadow = ndimage.gaussian_filter(np.roll(cover, tuple(shift), (0, 1)), 1.5) * rng.uniform(0.3, 0.6)
        picture = picture * (1 - shadow[..., None])
        ink = ink + rng.normal(0, 6, picture.shape)  # the paper's fibres
    elif style == "hatched":  # pencil lines across the inside, inside a firm outline
        rows, cols = np.mgrid[0 : cover.shape[0], 0 : cover.shape[1]]
        slope = rng.uniform(0, math.pi)
        period = rng.uniform(3, 5)
        lines = np.cos((cols * math.cos(slope) + rows * math.sin(slope)) / period * 2 * math.pi) > 0.2
        rim = cover - ndimage.minimum_filter(cover, size=int(rng.integers(3, 5)))
        alpha = np.clip(np.maximum(cover * lines * 0.9, rim * 1.5), 0, 1)
    elif style == "stencil":  # spray through a stencil: a soft edge and speckle
        alpha = ndimage.gaussian_filter(cover, rng.uniform(0.6, 1.4)) * rng.uniform(0.75, 1.0, cover.shape)
    elif style == "glitter":  # a glued fill whose flakes catch the light
        flakes = rng.random(cover.shape) < 0.08
        ink = np.where(flakes[..., None], np.full(3, 250.0), ink)
    elif style == "chalk":  # a dry fill that misses the low grain of the surface
        grain = ndimage.gaussian_filter(rng.random(cover.shape), 0.8)
        alpha = cover * np.clip((grain - 0.3) / 0.25, 0.35, 1.0)
    else:
        raise ValueError(f"unknown style {style!r}")
    return picture * (1 - alpha[..., None]) + ink * alpha[..., None]


def _camera(
    rng: np.random.Generator, picture: np.ndarray, cover: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """A webcam's view: a slight perspective, a lamp's falloff, a gamma, colour noise and a JPEG."""
    side, pad = picture.shape[0], picture.shape[0] // 10
    lean = rng.uniform(-_LEAN, _LEAN, 2)  # the PIL perspective's last two terms: how far the sheet tilts
    # Output (x, y) reads the padded sheet at ((x + pad) / d, (y + pad) / d), d = 1 + lean . (x, y) within 1 +- 5%,
    # so every output pixel finds the reflected margin, never the black outside the sheet.
    coefficients = (1, 0, pad, 0, 1, pad, float(lean[0]), float(lean[1]))
    warp = dict(method=Image.Transform.PERSPECTIVE, data=coefficients, resample=Image.Resampling.BILINEAR)
    sheet = np.pad(np.clip(picture, 0, 255), ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    image = Image.fromarray(sheet.astype(np.uint8)).transform((side, side), **warp)
    mask = Image.fromarray(np.pad(cover, pad).astype(np.float32), mode="F").transform((side, side), **warp)
    image = np.asarray(image.resize((size, size), Image.Resampling.LANCZOS), dtype=np.float64)
    mask = np.asarray(mask.resize((size, size), Image.Resampling.BOX)) >= 0.5
    rows, cols = np.mgrid[0:size, 0:size] / size
    lamp = np.hypot(rows - rng.uniform(0, 1), cols - rng.uniform(0, 1))
    image = image * (1 - rng.uniform(0.0, 0.35) * lamp[..., None] ** 2)
    image = 255 * (np.clip(image, 0, 255) / 255) ** rng.uniform(0.8, 1.25)
    image = image + rng.normal(0, rng.uniform(1, 8), image.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=int(rng.integers(35, 90)))
    return np.asarray(Image.open(buffer).convert("RGB")), mask


def _outline(name: str, turn: float, squash: float) -> np.ndarray:
    """The posed outline, as complex points, of the shape whose farthest point is 1 from its centre."""
    angle = np.linspace(-math.pi, math.pi, 2881)
    outline = radius(name, angle) * np.exp(1j * angle)
    return (outline.real * squash + 1j * outline.imag / squash) * np.exp(1j * turn)


def render_sealed9_scene(rng: np.random.Generator, size: int) -> SealedScene:
    """One picture; the first draws are the label, the surface and the size band, in that order."""
    label, surface, (band, low, high) = first_draws(rng, SURFACES9, EVERY_BAND)
    style = STYLES9[int(rng.integers(len(STYLES9)))]
    name = SHAPE_CLASSES[label]
    side = _NATIVE
    picture = _surface(rng, surface, side)
    turn = rng.uniform(0, 2 * math.pi)
    squash = math.sqrt(rng.uniform(0.95, 1.05) if name in ("circle", "ring") else rng.uniform(0.88, 1.14))
    outline = _outline(name, turn, squash)
    width, height = float(np.ptp(outline.real)), float(np.ptp(outline.imag))
    scale = rng.uniform(low, high) * side / max(width, height)  # the longer side of the box lands in the band
    room = _ROOM * side
    box = complex(
        rng.uniform(room + scale * width / 2, side - room - scale * width / 2),
        rng.uniform(room + scale * height / 2, side - room - scale * height / 2),
    )
    # A triangle's or a star's centre is not its box's middle: the box is what the band and the room place.
    middle = complex(outline.real.max() + outline.real.min(), outline.imag.max() + outline.imag.min()) / 2
    centre = box - middle * scale
    cover = coverage(name, side, centre, scale, turn, squash)
    picture = _paint(rng, picture, cover, style)
    image, mask = _camera(rng, picture, cover, size)
    return SealedScene(image, mask, label, surface, band, style)


class ShapesSealed9Dataset(ShapesSealedDataset):
    """The ninth sealed set, deterministic per index; evaluation only, and run once per trained model."""

    SALT = _SALT
    SURFACE_KINDS = SURFACES9
    BANDS = EVERY_BAND

    def render(self, rng: np.random.Generator, size: int) -> Any:
        return render_sealed9_scene(rng, size)
