"""The sixth sealed shapes renderer: even-odd polygon fills and stamped brushes, seen through an OpenCV lens.

The training generator draws with PIL polygons, the held-out renderer with
numpy distances to polygon edges, the first sealed renderer with matplotlib's
point-in-path test, the second with OpenCV's fills, the third with
matplotlib's Agg rasteriser, the fourth with implicit functions in torch and
the fifth with scipy's hole filling. This one counts, for every point of a
twice-finer grid, how many outline edges a ray to its left crosses (the
even-odd rule: a ring is its two loops, the hole falls out), and inks strokes
by stamping a bristled brush along the path with an FFT convolution. Its
surfaces are a topographic map, a polka-dot cloth, pebbled leather, a dot-grid
journal page, a lit screen's sub-pixels and a woven basket; its camera is
white balance, gamma, a barrel lens with colour fringes and a rolling shutter
through ``cv2.remap``, vignetting, blur, shot noise, ``cv2.resize`` and
OpenCV's JPEG. It exists because the fifth sealed set was read after its one
run: the next model shipped needs a figure from pictures nothing was chosen on.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
from scipy import ndimage, signal

from .shapes_scene import SHAPE_CLASSES
from .shapes_sealed import SealedScene, ShapesSealedDataset, first_draws
from .shapes_strokes import thickest_circle_line, thinnest_ring_band

SURFACES6: tuple[str, ...] = ("topographic", "polka", "leather", "dotgrid", "screen", "basket")
STYLES6: tuple[str, ...] = ("crayon", "brush", "ballpoint", "highlighter", "dashed", "two-tone")
_NATIVE = 192  # the picture's side before the camera's resize
_FINE = 2  # fills and strokes are drawn on a grid this many times finer, then averaged down
_SALT = 60606
_MARGIN = 0.05  # the object stays this share of the side inside every edge, clear of the lens and the shutter


def _grid(side: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre x and y coordinates of a side x side picture."""
    axis = np.arange(side, dtype=np.float64) + 0.5
    return np.meshgrid(axis, axis, indexing="xy")


def _smooth(rng: np.random.Generator, side: int, sigma: float | tuple[float, float]) -> np.ndarray:
    """Gaussian-smoothed noise, stretched to span [0, 1] exactly."""
    field = ndimage.gaussian_filter(rng.standard_normal((side, side)), sigma, mode="wrap")
    return (field - field.min()) / (np.ptp(field) + 1e-12)


def _colour(rng: np.random.Generator, low: float = 0.0, high: float = 255.0) -> np.ndarray:
    return rng.uniform(low, high, 3)


def _surface(rng: np.random.Generator, kind: str, side: int) -> np.ndarray:
    """A side x side x 3 float picture of one of ``SURFACES6``."""
    xs, ys = _grid(side)
    if kind == "topographic":  # height tints cut by contour lines of even width
        height = _smooth(rng, side, rng.uniform(14, 30)) + 0.3 * _smooth(rng, side, rng.uniform(4, 8))
        low, high = _colour(rng, 60, 200), _colour(rng, 120, 250)
        picture = low + (high - low) * (height / height.max())[..., None]
        step = height.max() / rng.integers(6, 14)
        gy, gx = np.gradient(height)
        distance = np.abs((height / step + 0.5) % 1.0 - 0.5) * step / (np.hypot(gx, gy) + 1e-9)
        line = np.clip(1.2 - distance / rng.uniform(0.5, 0.9), 0, 1)[..., None]
        return picture * (1 - line) + _colour(rng, 30, 140) * line
    if kind == "polka":  # dots on a hexagonal lattice over a cloth that folds
        pitch = rng.uniform(12, 26)
        row = np.round(ys / (pitch * 0.866))
        u = xs - (np.round((xs - (row % 2) * pitch / 2) / pitch) * pitch + (row % 2) * pitch / 2)
        v = ys - row * pitch * 0.866
        dots = (np.hypot(u, v) < pitch * rng.uniform(0.2, 0.32))[..., None]
        picture = np.where(dots, _colour(rng), _colour(rng)).astype(np.float64)
        fold = 0.85 + 0.15 * np.sin(xs / rng.uniform(15, 40) + 3 * _smooth(rng, side, 20))
        return picture * fold[..., None]
    if kind == "leather":  # pebbled grain lit from one side, with dark pores
        bumps = _smooth(rng, side, rng.uniform(1.5, 3.0))
        bumps = np.clip((bumps - 0.45) * 4, 0, 1) + 0.4 * _smooth(rng, side, 10)
        gy, gx = np.gradient(bumps)
        light = rng.uniform(0, 2 * math.pi)
        shade = np.clip(0.9 + 2.5 * (gx * math.cos(light) + gy * math.sin(light)), 0.5, 1.3)
        pores = rng.random((side, side)) < 0.01
        shade = shade * np.where(ndimage.binary_dilation(pores), 0.6, 1.0)
        return shade[..., None] * _colour(rng, 50, 200)
    if kind == "dotgrid":  # a journal page: grey dots on a grid, a margin rule and the binding's shadow
        pitch = rng.uniform(7, 11)
        offset = rng.uniform(0, pitch, 2)
        near = np.hypot(
            (xs - offset[0] + pitch / 2) % pitch - pitch / 2, (ys - offset[1] + pitch / 2) % pitch - pitch / 2
        )
        picture = np.full((side, side, 3), 0.0) + _colour(rng, 225, 250)
        dot = np.clip(1.4 - near, 0, 1)[..., None] * rng.uniform(0.3, 0.6)
        picture = picture * (1 - dot) + _colour(rng, 60, 140) * dot
        if rng.random() < 0.5:
            rule = (np.abs(xs - rng.uniform(0.05, 0.2) * side) < 0.8)[..., None]
            picture = np.where(rule, _colour(rng, 120, 230), picture)
        binding = 1 - 0.35 * np.exp(-xs / rng.uniform(6, 18))
        return picture * binding[..., None]
    if kind == "screen":  # a picture on an LCD: red, green and blue columns, black gaps, a reflection
        content = np.stack([_smooth(rng, side, rng.uniform(8, 25)) for _ in range(3)], axis=-1)
        content = 40 + 200 * content
        column = np.floor(xs * rng.uniform(0.95, 1.05)).astype(int) % 3
        mask = np.full((side, side, 3), 0.25)
        for channel in range(3):
            mask[..., channel][column == channel] = 1.0
        mask[(ys % rng.uniform(3.0, 3.3)) < 0.6] *= 0.5  # the rows' black matrix
        angle = rng.uniform(0, math.pi)
        across = (xs - side / 2) * math.cos(angle) + (ys - side / 2) * math.sin(angle)
        glare = 30 * np.exp(-(across**2) / (2 * (side / rng.uniform(4, 10)) ** 2))
        return content * mask * rng.uniform(1.1, 1.6) + glare[..., None]
    # basket: two sets of diagonal strips woven over and under, each strip rounded by its shading
    width = rng.uniform(8, 16)
    a, b = (xs + ys) / width, (xs - ys) / width
    over = (np.floor(a) + np.floor(b)) % 2 == 0
    across = np.where(over, a % 1.0, b % 1.0)
    shade = 0.55 + 0.45 * np.sin(math.pi * across)
    straw = np.where(over[..., None], _colour(rng, 120, 230), _colour(rng, 90, 200))
    return straw * shade[..., None]


def _polygon(points: int, radii: list[float], turn: float) -> np.ndarray:
    """Corners at equal angles, radii repeating in turn, as complex numbers."""
    angles = turn + 2 * math.pi * np.arange(points) / points
    return np.resize(np.asarray(radii, dtype=np.float64), points) * np.exp(1j * angles)


def _loops(name: str, rng: np.random.Generator) -> tuple[list[np.ndarray], float]:
    """One class's closed loops as complex corners around 0, its longer half-span 1 or so; and a ring's inner radius."""
    if name in ("circle", "ring"):
        outer = _polygon(160, [1.0], 0.0)
        inner = rng.uniform(0.5, 0.72) if name == "ring" else 0.0
        return ([outer, outer[::-1] * inner] if name == "ring" else [outer]), inner
    if name == "square":
        return [_polygon(4, [math.sqrt(2)], math.pi / 4)], 0.0
    if name == "triangle":
        return [_polygon(3, [1.0], -math.pi / 2)], 0.0
    if name == "star":
        return [_polygon(10, [1.0, rng.uniform(0.38, 0.5)], -math.pi / 2)], 0.0
    half = rng.uniform(0.28, 0.4)  # a cross: one loop of twelve corners around two bars
    arm = [complex(1, -half), complex(1, half), complex(half, half)]
    return [np.array([corner * 1j**k for k in range(4) for corner in arm])], 0.0


def _even_odd(loops: list[np.ndarray], side: int) -> np.ndarray:
    """Which cell centres of a side x side grid lie inside the loops by the even-odd rule."""
    inside = np.zeros((side, side), dtype=bool)
    every = np.concatenate(loops)
    left, top = (max(0, int(math.floor(v)) - 1) for v in (every.real.min(), every.imag.min()))
    right, bottom = (min(side, int(math.ceil(v)) + 2) for v in (every.real.max(), every.imag.max()))
    xs, ys = _grid(side)
    px, py = xs[top:bottom, left:right], ys[top:bottom, left:right]
    crossed = np.zeros(px.shape, dtype=bool)
    for loop in loops:
        for start, end in zip(loop, np.roll(loop, -1)):
            if start.imag == end.imag:
                continue
            spans = (py >= min(start.imag, end.imag)) & (py < max(start.imag, end.imag))
            x_at = start.real + (py - start.imag) * (end.real - start.real) / (end.imag - start.imag)
            crossed ^= spans & (px < x_at)
    inside[top:bottom, left:right] = crossed
    return inside


def _path(loop: np.ndarray, spacing: float) -> np.ndarray:
    """Points every ``spacing`` cells along a closed loop of complex corners."""
    pieces = []
    for start, end in zip(loop, np.roll(loop, -1)):
        count = max(1, int(math.ceil(abs(end - start) / spacing)))
        pieces.append(start + (end - start) * np.arange(count) / count)
    return np.concatenate(pieces)


def _brush(rng: np.random.Generator, diameter: float, bristled: bool) -> np.ndarray:
    """A round footprint of ``diameter`` cells, streaked by bristles when ``bristled``."""
    reach = max(1, int(math.ceil(diameter / 2)))
    offsets = np.arange(-reach, reach + 1, dtype=np.float64)
    u, v = np.meshgrid(offsets, offsets)
    footprint = np.clip(diameter / 2 + 0.5 - np.hypot(u, v), 0, 1)
    if bristled:
        footprint *= rng.uniform(0.55, 1.0, footprint.shape)
    return footprint


def _stamp(rng: np.random.Generator, points: np.ndarray, side: int, diameter: float, **options: Any) -> np.ndarray:
    """Ink of the brush pressed at every point, saturating where presses overlap; values in [0, 1]."""
    presses = np.zeros((side, side))
    columns, rows = np.round(points.real).astype(int), np.round(points.imag).astype(int)
    keep = (columns >= 0) & (columns < side) & (rows >= 0) & (rows < side)
    weight = options.get("pressure", np.ones(points.size))
    np.add.at(presses, (rows[keep], columns[keep]), weight[keep])
    ink = signal.fftconvolve(presses, _brush(rng, diameter, options.get("bristled", False)), mode="same")
    return 1.0 - np.exp(-3.0 * np.clip(ink, 0, None))


def _down(fine: np.ndarray) -> np.ndarray:
    """Average ``_FINE`` x ``_FINE`` blocks of a fine grid into native coverage."""
    side = fine.shape[0] // _FINE
    return fine.reshape(side, _FINE, side, _FINE).mean(axis=(1, 3))


def _inks(rng: np.random.Generator, around: np.ndarray, count: int) -> list[np.ndarray]:
    """The ``count`` inks, of twelve random ones, black and white, farthest from nearly all of the surface around."""
    candidates = np.concatenate([rng.uniform(0, 255, (12, 3)), [[20.0, 20.0, 20.0], [245.0, 245.0, 245.0]]])
    sample = around[rng.integers(0, len(around), min(len(around), 256))]
    distance = np.linalg.norm(candidates[:, None, :] - sample[None], axis=-1)
    order = np.argsort(-np.percentile(distance, 15, axis=1))
    return [candidates[index] for index in order[:count]]


def _lens_maps(rng: np.random.Generator, side: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per colour channel, the cv2.remap source maps of a barrel lens, its colour fringe and a rolling shutter."""
    xs, ys = _grid(side)
    u, v = (xs - side / 2) / (side / 2), (ys - side / 2) / (side / 2)
    k1, fringe = rng.uniform(0.005, 0.07), rng.uniform(0.0, 0.004)
    shear = rng.uniform(-0.02, 0.02)
    maps = []
    for k in (k1 + fringe, k1, max(0.0, k1 - fringe)):
        stretch = (1 + k * (u**2 + v**2)) / (1 + 2 * k)  # corners stay corners, the rest is seen from inside
        source_x = (u * stretch) * side / 2 + side / 2 - 0.5 + shear * (ys - side / 2)
        source_y = (v * stretch) * side / 2 + side / 2 - 0.5
        maps.append((source_x.astype(np.float32), source_y.astype(np.float32)))
    return maps


def _camera(
    rng: np.random.Generator, picture: np.ndarray, extent: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """The picture and the object's extent as this renderer's camera sees them, at ``size`` px."""
    side = picture.shape[0]
    light = picture / 255.0 * rng.uniform(0.88, 1.12, 3)  # white balance
    light = np.clip(light * min(1.0, 0.96 / float(np.percentile(light, 99))), 0, 1) ** rng.uniform(0.8, 1.25)
    maps = _lens_maps(rng, side)
    seen = np.stack(
        [cv2.remap(light[..., c].astype(np.float32), *maps[c], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
         for c in range(3)], axis=-1)  # fmt: skip
    where = cv2.remap(extent.astype(np.float32), *maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    xs, ys = _grid(side)
    radius = np.hypot(xs - side / 2, ys - side / 2) / (side / math.sqrt(2))
    seen *= (1 - rng.uniform(0, 0.35) * radius**2)[..., None]
    blur = rng.random()
    if blur < 0.4:
        seen = cv2.GaussianBlur(seen, (0, 0), rng.uniform(0.5, 1.4))
    elif blur < 0.55:
        length = int(rng.integers(3, 7))
        kernel = np.eye(length, dtype=np.float32) if rng.random() < 0.5 else np.full((1, length), 1.0, np.float32)
        seen = cv2.filter2D(seen, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT101)
    gain = rng.uniform(0.002, 0.012)  # shot noise grows with the light; read noise does not
    seen = seen + rng.standard_normal(seen.shape) * np.sqrt(gain * np.clip(seen, 0, 1) + rng.uniform(1e-5, 1e-4))
    shrink = cv2.INTER_AREA if size < side else cv2.INTER_LINEAR
    small = cv2.resize(np.clip(seen, 0, 1).astype(np.float32), (size, size), interpolation=shrink)
    mask = cv2.resize(where, (size, size), interpolation=shrink) >= 0.5
    image = np.round(small * 255).astype(np.uint8)
    if rng.random() < 0.6:
        quality = int(rng.integers(25, 90))
        _, encoded = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        image = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1].copy()
    return image, mask


def render_sealed6_scene(rng: np.random.Generator, size: int) -> SealedScene:
    """One picture; the first draws are the label, the surface and the size band, in that order."""
    label, surface, (band, low, high) = first_draws(rng, SURFACES6)
    style = STYLES6[int(rng.integers(len(STYLES6)))]
    name = SHAPE_CLASSES[label]
    side, fine = _NATIVE, _NATIVE * _FINE
    picture = _surface(rng, surface, side)
    loops, inner = _loops(name, rng)
    stretch = math.sqrt(rng.uniform(0.94, 1.06) if name in ("circle", "ring") else rng.uniform(0.87, 1.15))
    spin = np.exp(1j * rng.uniform(0, 2 * math.pi))
    loops = [(loop.real * stretch + 1j * loop.imag / stretch) * spin for loop in loops]
    outer = loops[0]
    span_x, span_y = np.ptp(outer.real), np.ptp(outer.imag)
    scale = rng.uniform(low, high) * fine / max(span_x, span_y)  # fine cells per unit
    middle = complex((outer.real.max() + outer.real.min()) / 2, (outer.imag.max() + outer.imag.min()) / 2)
    room = _MARGIN * fine
    centre = complex(
        rng.uniform(room + span_x * scale / 2, fine - room - span_x * scale / 2),
        rng.uniform(room + span_y * scale / 2, fine - room - span_y * scale / 2),
    )
    placed = [(loop - middle) * scale + centre for loop in loops]
    radius = max(span_x, span_y) * scale / 2  # in fine cells
    region = _even_odd(placed, fine).astype(np.float64)
    outlined = style in ("brush", "ballpoint", "dashed")
    if outlined and name == "ring":  # one thick loop along the band's middle, by the rule of shapes_strokes
        band_width = max(thinnest_ring_band(radius, fine), (1 - inner) * radius)
        paint = _stamp(rng, _path((placed[0] - centre) * (1 + inner) / 2 + centre, 0.5), fine, band_width)
    elif outlined:
        if name == "circle":
            width = min(rng.uniform(0.04, 0.1) * radius, thickest_circle_line(radius, fine))
            width = max(width, 1.5 * _FINE)
        elif style == "brush":
            width = rng.uniform(0.05, 0.09) * 2 * radius
        else:
            width = rng.uniform(1.2, 2.4) * _FINE
        path = _path(placed[0], 0.5)
        pressure = 0.6 + 0.4 * np.sin(np.linspace(0, rng.uniform(4, 12), path.size) + rng.uniform(0, 6)) ** 2
        if style == "dashed":
            run = np.cumsum(np.abs(np.diff(path, prepend=path[-1])))
            period = rng.uniform(0.06, 0.12) * 2 * radius
            pressure = pressure * ((run % period) < period * rng.uniform(0.55, 0.75))
        paint = _stamp(rng, path, fine, width, pressure=pressure, bristled=style == "brush")
    elif style == "crayon":  # waxy streaks: the paper's grain shows through the colour
        grain = _smooth(rng, fine, (0.6, rng.uniform(2.0, 5.0)))
        paint = region * np.clip((grain - rng.uniform(0.25, 0.4)) / 0.15, 0, 1)
    else:  # highlighter, two-tone: a filled region
        paint = region
    coverage = _down(paint)
    extent = _down(region) if style in ("crayon", "highlighter", "two-tone") else coverage
    area = extent > 0.5
    around = picture[area] if area.any() else picture.reshape(-1, 3)
    ink, edge_ink = _inks(rng, around, 2)
    if style == "highlighter":  # translucent: the surface shows through, darker where strokes overlap
        strokes = 0.65 + 0.35 * (_smooth(rng, side, (0.8, rng.uniform(6, 12))) > 0.5)
        alpha = (coverage * rng.uniform(0.7, 0.85) * strokes)[..., None]
        picture = picture * (1 - alpha) + ink * alpha
    else:
        picture = picture * (1 - coverage[..., None]) + ink * coverage[..., None]
    if style == "two-tone":  # an outline of another ink around the fill
        rim = _down(_stamp(rng, _path(placed[0], 0.5), fine, rng.uniform(0.04, 0.07) * 2 * radius))
        if name == "ring":
            rim = np.maximum(rim, _down(_stamp(rng, _path(placed[1], 0.5), fine, rng.uniform(0.04, 0.07) * radius)))
        picture = picture * (1 - rim[..., None]) + edge_ink * rim[..., None]
        extent = np.maximum(extent, rim)
    image, mask = _camera(rng, picture, extent, size)
    return SealedScene(image, mask, label, surface, band, style)


class ShapesSealed6Dataset(ShapesSealedDataset):
    """The sixth sealed set, deterministic per index; evaluation only, and run once per trained model."""

    SALT = _SALT
    SURFACE_KINDS = SURFACES6

    def render(self, rng: np.random.Generator, size: int) -> Any:
        return render_sealed6_scene(rng, size)
