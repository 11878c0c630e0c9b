"""Everything around the shapes dataset's object: colours, backgrounds, clutter and degradations.

Kept apart from the object geometry (``shapes_scene``) because this is what makes
the task hard: backgrounds built to distract, clutter in the object's own
colours, and the blur / noise / JPEG of images from other sources. Every
function draws from the caller's generator in a fixed order, so a scene stays
reproducible from its seed.
"""

from __future__ import annotations

import colorsys
import functools
import io
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SUPERSAMPLE = 4  # draw at 4x and box-downsample: anti-aliased edges like real drawings
_MIN_CONTRAST = 80.0  # contrast (see contrast) the object keeps from (almost all of) its local background
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_SHAPE_SIZED = (6.0, 22.0)  # cells and coats span 9-34% of the side in 1/64ths: the size of the shapes drawn on them
_CLUTTER_MAX = 0.08  # clutter items stay below this fraction of the side: far from any class shape


def hsv_colour(rng: np.random.Generator, s: tuple[float, float], v: tuple[float, float]) -> np.ndarray:
    """Sample a colour in HSV: ranges of saturation/value are easier to reason about than RGB."""
    h = rng.random()
    r, g, b = colorsys.hsv_to_rgb(h, rng.uniform(*s), rng.uniform(*v))
    return np.array([r, g, b], dtype=np.float32) * 255.0


def luminance(colour: np.ndarray) -> float:
    """Perceived brightness of an RGB colour (0-255), with the weights ``contrast`` uses."""
    return float(np.asarray(colour, np.float32) @ _LUMA)


def contrast(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Visibility of colour a against colour b (broadcasting over the last axis of size 3).

    Half the RGB distance plus the luminance difference: plain RGB distance
    rates two hues of equal brightness (dark red on brown) as very different
    although they are hard to tell apart, so brightness counts twice.
    """
    diff = np.asarray(a, np.float32) - np.asarray(b, np.float32)
    return 0.5 * np.linalg.norm(diff, axis=-1) + np.abs(diff @ _LUMA)


def pick_palette(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Choose (object colour, background colour 1, background colour 2).

    A share of scenes imitates what users feed the app: black ink on white
    paper, white on black, coloured pen on paper. The rest use arbitrary
    colours so colour carries no information about the class.
    """
    u = rng.random()
    if u < 0.12:  # black ink on (slightly tinted) paper
        obj = hsv_colour(rng, (0.0, 0.6), (0.0, 0.25))
        bg1 = hsv_colour(rng, (0.0, 0.12), (0.82, 1.0))
        amp = rng.uniform(0, 40)
    elif u < 0.20:  # white / chalk on dark
        obj = hsv_colour(rng, (0.0, 0.15), (0.85, 1.0))
        bg1 = hsv_colour(rng, (0.0, 0.4), (0.0, 0.2))
        amp = rng.uniform(0, 40)
    elif u < 0.30:  # coloured pen on paper
        obj = hsv_colour(rng, (0.4, 1.0), (0.3, 0.85))
        bg1 = hsv_colour(rng, (0.0, 0.12), (0.82, 1.0))
        amp = rng.uniform(0, 40)
    else:
        bg1 = hsv_colour(rng, (0.0, 1.0), (0.0, 1.0))
        obj = hsv_colour(rng, (0.0, 1.0), (0.0, 1.0))
        for _ in range(12):
            if contrast(obj, bg1) >= 120:
                break
            obj = hsv_colour(rng, (0.0, 1.0), (0.0, 1.0))
        else:
            black, white = np.zeros(3, np.float32), np.full(3, 255.0, np.float32)
            obj = black if contrast(black, bg1) > contrast(white, bg1) else white
        amp = rng.uniform(20, 110)
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction) + 1e-8
    bg2 = np.clip(bg1 + direction * amp, 0, 255).astype(np.float32)
    return obj, bg1, bg2


def _coords(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates normalised to [-1, 1]; cached because every scene needs them."""
    return _coords_cached(size)


@functools.lru_cache(maxsize=8)
def _coords_cached(size: int) -> tuple[np.ndarray, np.ndarray]:
    axis = (np.arange(size, dtype=np.float32) + 0.5) / size * 2.0 - 1.0
    yy, xx = np.meshgrid(axis, axis, indexing="ij")
    yy.flags.writeable = False
    xx.flags.writeable = False
    return xx, yy


@functools.lru_cache(maxsize=8)
def _pixel_centres(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's centre in pixels (x, y), read-only and cached, for surfaces measured in pixels from a point."""
    xs, ys = np.meshgrid(np.arange(size, dtype=np.float32) + 0.5, np.arange(size, dtype=np.float32) + 0.5)
    xs.flags.writeable = False
    ys.flags.writeable = False
    return xs, ys


def _mix(c1: np.ndarray, c2: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Blend two colours with a per-pixel weight field t in [0, 1] -> H x W x 3 float32."""
    t = np.clip(t, 0.0, 1.0)[..., None]
    return (c1 * (1.0 - t) + c2 * t).astype(np.float32)


def _leaning(c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """A ground tone drawn three tenths of the way towards its marks, as fur or a printed cloth drifts towards them."""
    return _mix(c1, c2, np.array(0.3))


def _background_gradient(rng: np.random.Generator, size: int, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    xx, yy = _coords(size)
    if rng.random() < 0.3:  # radial, like uneven lighting on a photographed page
        cx, cy = rng.uniform(-1, 1, 2)
        t = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) / rng.uniform(1.0, 2.5)
    else:
        theta = rng.uniform(0, 2 * math.pi)
        t = (xx * math.cos(theta) + yy * math.sin(theta)) * 0.5 / math.sqrt(2) + 0.5
    return _mix(c1, c2, t)


def _value_noise(rng: np.random.Generator, size: int, scale: float) -> np.ndarray:
    """Smooth noise in [0, 1]: random values on a coarse grid, bicubically upsampled."""
    cells = max(2, round(size / scale) + 1)
    grid = Image.fromarray(rng.random((cells, cells)).astype(np.float32))
    field = np.asarray(grid.resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32)
    return field


def _background_noise(rng: np.random.Generator, size: int, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    scale = rng.uniform(3.0, 24.0) * size / 64.0
    t = _value_noise(rng, size, scale)
    if rng.random() < 0.5:  # a finer octave on top: more "paper grain" / foliage-like
        t = 0.7 * t + 0.3 * _value_noise(rng, size, max(1.5, scale / 3.0))
    return _mix(c1, c2, t)


def _rotated_frame(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates along and across a random direction, in pixels."""
    xx, yy = _coords(size)
    theta = rng.uniform(0, math.pi)
    u = (xx * math.cos(theta) + yy * math.sin(theta)) * size / 2.0
    v = (-xx * math.sin(theta) + yy * math.cos(theta)) * size / 2.0
    return u, v


def _background_texture(rng: np.random.Generator, size: int, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """Stripes or a checkerboard: regular edges everywhere, so edges alone do not find the object."""
    u, v = _rotated_frame(rng, size)
    period = rng.uniform(3.0, 14.0) * size / 64.0
    phase = rng.uniform(0, period)
    if rng.random() < 0.55:
        wave = np.sin(2 * math.pi * (u + phase) / period)
        t = (wave > 0).astype(np.float32) if rng.random() < 0.5 else 0.5 + 0.5 * wave
    else:
        t = ((np.floor((u + phase) / period) + np.floor(v / period)) % 2).astype(np.float32)
    return _mix(c1, c2, t)


def _square_wave(coordinate: np.ndarray, period: float, duty: float) -> np.ndarray:
    """1 on the first ``duty`` of every period along ``coordinate``, else 0."""
    return ((coordinate / period) % 1.0 < duty).astype(np.float32)


def _pattern_weave(rng: np.random.Generator, size: int, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """Gingham or plaid: two crossing sets of bands, so their overlaps make a third tone."""
    u, v = _rotated_frame(rng, size)
    unit = size / 64.0
    period_u, period_v = rng.uniform(2.5, 9.0) * unit, rng.uniform(2.5, 9.0) * unit
    if rng.random() < 0.6:
        period_v = period_u  # gingham: square checks
    t = 0.5 * (_square_wave(u + rng.uniform(0, period_u), period_u, rng.uniform(0.3, 0.6)))
    t += 0.5 * (_square_wave(v + rng.uniform(0, period_v), period_v, rng.uniform(0.3, 0.6)))
    return _mix(c1, c2, t)


def _pattern_grid(rng: np.random.Generator, size: int, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """Thin lines in a regular grid, as on tiles, graph paper or bricks (every other row shifted)."""
    u, v = _rotated_frame(rng, size)
    unit = size / 64.0
    period = rng.uniform(4.0, 14.0) * unit
    width = rng.uniform(0.6, 1.8) * unit
    rows = np.floor(v / period)
    shift = (rows % 2) * period / 2.0 if rng.random() < 0.35 else 0.0  # brickwork
    across = (u + shift) % period < width
    along = v % period < width
    t = (across | along).astype(np.float32)
    return _mix(c1, c2, t)


def _pattern_waves(rng: np.random.Generator, size: int, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """Ripples around a point or wavy stripes, as on water, wood grain or corrugated card."""
    xx, yy = _coords(size)
    unit = size / 64.0
    period = rng.uniform(2.5, 10.0) * unit
    if rng.random() < 0.5:
        cx, cy = rng.uniform(-1.5, 1.5, 2)
        distance = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) * size / 2.0
    else:
        u, v = _rotated_frame(rng, size)
        distance = u + rng.uniform(0.5, 3.0) * unit * np.sin(2 * math.pi * v / (rng.uniform(10.0, 40.0) * unit))
    t = 0.5 + 0.5 * np.sin(2 * math.pi * distance / period + rng.uniform(0, 2 * math.pi))
    if rng.random() < 0.5:
        t = 0.6 * t + 0.4 * _value_noise(rng, size, rng.uniform(2.0, 6.0) * unit)
    return _mix(c1, c2, t)


def _pattern_marks(rng: np.random.Generator, size: int, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """Dense small marks in many colours, as on confetti, terrazzo or gravel."""
    ss = 2
    base = _mix(c1, c2, _value_noise(rng, size, rng.uniform(6.0, 20.0) * size / 64.0))
    canvas = Image.fromarray(np.clip(base + 0.5, 0, 255).astype(np.uint8)).resize((size * ss, size * ss))
    draw = ImageDraw.Draw(canvas)
    count = int(rng.uniform(0.03, 0.12) * size * size / 4.0)
    many_colours = rng.random() < 0.6
    radius = rng.uniform(0.006, 0.02, count) * size  # under 4% of the side: never a class shape's size
    centres = rng.uniform(0, size, (count, 2))
    angles = rng.uniform(0, 2 * math.pi, (count, 4))
    colours = rng.uniform(0, 255, (count, 3)) if many_colours else _mix(c1, c2, rng.random(count)[None])[0]
    for k in range(count):
        points = [
            ((centres[k, 0] + radius[k] * math.cos(a)) * ss, (centres[k, 1] + radius[k] * math.sin(a)) * ss)
            for a in np.sort(angles[k])
        ]
        draw.polygon(points, fill=tuple(int(c) for c in colours[k]))
    return np.asarray(canvas.resize((size, size), Image.Resampling.BOX), dtype=np.float32)


def _ink_on(c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """The second colour where it stands out from the first, else black or white: print is meant to be read."""
    if contrast(c2, c1) > 60:
        return c2
    return np.zeros(3, np.float32) if luminance(c1) > 127 else np.full(3, 255.0, np.float32)


def _pattern_print(rng: np.random.Generator, size: int, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """A printed page: columns of text lines made of word-long dashes, sometimes under a bold headline."""
    ss, unit = 2, size / 64.0
    canvas = Image.fromarray(np.clip(np.broadcast_to(c1, (size * ss, size * ss, 3)) + 0.5, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    fill = tuple(int(c) for c in _ink_on(c1, c2))
    pitch = rng.uniform(2.5, 7.0) * unit
    columns = int(rng.integers(1, 4))
    gutter = rng.uniform(2.0, 5.0) * unit
    width = (size - gutter * (columns - 1)) / columns
    top = rng.uniform(-pitch, pitch)
    if rng.random() < 0.3:  # a headline: taller, darker words across the page
        height = rng.uniform(0.08, 0.16) * size
        x = rng.uniform(0, 3) * unit
        while x < size:
            word = rng.uniform(4.0, 14.0) * unit
            draw.rectangle([x * ss, top * ss, (x + word) * ss, (top + height) * ss], fill=fill)
            x += word + height * rng.uniform(0.3, 0.6)
        top += height * 1.5
    for column in range(columns):
        left = column * (width + gutter)
        y = top
        while y < size:
            x = left + (rng.uniform(2.0, 5.0) * unit if rng.random() < 0.12 else 0.0)  # a paragraph's indent
            end = left + width * (rng.uniform(0.3, 0.9) if rng.random() < 0.12 else 1.0)
            height = pitch * rng.uniform(0.35, 0.6)
            while x < end:
                word = min(rng.uniform(1.0, 7.0) * unit, end - x)
                draw.rectangle([x * ss, y * ss, (x + word) * ss, (y + height) * ss], fill=fill)
                x += word + rng.uniform(0.6, 1.6) * unit
            y += pitch
    return np.asarray(canvas.resize((size, size), Image.Resampling.BOX), dtype=np.float32)


def _mottled(rng: np.random.Generator, size: int, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """A base tone that drifts from c1 towards c2 in broad patches, as a real surface's colour does."""
    unit = size / 64.0
    return _mix(c1, c2, _value_noise(rng, size, rng.uniform(10.0, 30.0) * unit) * rng.uniform(0.0, 1.0))


def _pattern_relief(rng: np.random.Generator, size: int, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """A rough surface lit from one side (plaster, bark, stone, crumpled card): shading edges with no outline."""
    unit = size / 64.0
    height = _value_noise(rng, size, rng.uniform(1.0, 3.0) * unit)
    height = height + rng.uniform(0.3, 1.0) * _value_noise(rng, size, rng.uniform(4.0, 10.0) * unit)
    gy, gx = np.gradient(height)
    light = rng.uniform(0, 2 * math.pi)
    slope = (gx * math.cos(light) + gy * math.sin(light)) / unit
    shade = np.clip(0.5 + rng.uniform(4.0, 12.0) * slope, 0.0, 1.0)
    tone = _mottled(rng, size, c1, c2)
    return np.clip(tone * (0.55 + 0.7 * shade[..., None]), 0, 255).astype(np.float32)


def _two_nearest(seeds: np.ndarray, radii: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each pixel's distances, in radii, to its nearest and second-nearest seed, and the nearest seed's index: bumps,
    cells, their seams and whose cell a pixel lies in."""
    xs, ys = _pixel_centres(size)
    nearest = np.full((size, size), np.inf, np.float32)
    second = np.full((size, size), np.inf, np.float32)
    owner = np.zeros((size, size), np.int64)
    for index, ((x, y), radius) in enumerate(zip(seeds, radii)):  # one seed at a time keeps memory at three pictures
        d = np.hypot(xs - x, ys - y) / radius
        closer = d < nearest
        second = np.where(closer, nearest, np.minimum(second, d))
        owner = np.where(closer, index, owner)
        nearest = np.minimum(nearest, d)
    return nearest, second, owner


def _scattered(rng: np.random.Generator, size: int, cell: float) -> np.ndarray:
    """Seed points about ``cell`` apart, a margin beyond the picture so no edge is bare."""
    count = int((size / cell) ** 2 * 1.3) + 4
    return rng.uniform(-cell, size + cell, (count, 2)).astype(np.float32)


def _lit(height: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Shade a height field by light from one random side: 0.5 on the flat, brighter on slopes that face it."""
    gy, gx = np.gradient(height)
    light = rng.uniform(0, 2 * math.pi)
    return np.clip(0.5 + strength * (gx * math.cos(light) + gy * math.sin(light)), 0.0, 1.0)


def _pattern_pebbles(rng: np.random.Generator, size: int, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """Pebbled leather, cobbles or gravel: packed round bumps lit from one side, crisp where one meets the next."""
    unit = size / 64.0
    cell = rng.uniform(1.5, 8.0) * unit
    seeds = _scattered(rng, size, cell)
    nearest, second, _ = _two_nearest(seeds, cell * rng.uniform(0.5, 0.8, len(seeds)), size)
    height = np.sqrt(np.clip(1.0 - nearest**2, 0.0, 1.0))  # a round dome on each bump, flat grout between them
    shade = _lit(height, rng, rng.uniform(0.8, 2.0) * cell)
    seam = (second - nearest < rng.uniform(0.05, 0.15)) | (nearest > 1.0)
    shade = shade * np.where(seam, rng.uniform(0.3, 0.8), 1.0)  # dark seams, grout or pores
    tone = _mottled(rng, size, c1, c2)
    return np.clip(tone * (0.55 + 0.7 * shade[..., None]), 0, 255).astype(np.float32)


def _caustics(rng: np.random.Generator, size: int, tone: np.ndarray, cell: float) -> np.ndarray:
    """Light through rippled water: a thin bright net of wavy threads round dim cells."""
    seeds = _scattered(rng, size, cell)
    nearest, second, _ = _two_nearest(seeds, np.full(len(seeds), cell, np.float32), size)
    unit = size / 64.0
    width = min(rng.uniform(0.5, 1.5) * unit, 0.08 * cell)  # a thread's half-width in pixels, thin beside its cell
    width = width * (0.6 + 0.8 * _value_noise(rng, size, cell * 0.6))  # threads swell and thin as ripples pass
    net = np.exp(-(((second - nearest) * cell / 2 / width) ** 2))  # a thread, in pixels, on each edge between cells
    brightness = rng.uniform(0.5, 1.0)
    dim = tone * rng.uniform(0.45, 0.8)
    return dim + net[..., None] * brightness * (255.0 - dim)


def _sponge(rng: np.random.Generator, size: int, tone: np.ndarray, cell: float) -> np.ndarray:
    """A sponge, foam or pitted stone: round dark holes, each lit on the side that faces away from the light."""
    seeds = _scattered(rng, size, cell)
    nearest, _, _ = _two_nearest(seeds, cell * rng.uniform(0.2, 0.45, len(seeds)), size)
    depth = np.sqrt(np.clip(1.0 - nearest**2, 0.0, 1.0))  # a round pit under each hole
    shade = _lit(-depth, rng, rng.uniform(0.8, 2.0) * cell * 0.4)
    shade = shade * np.where(nearest < 1.0, rng.uniform(0.25, 0.6), 1.0)  # the holes' floors lie in shadow
    return tone * (0.55 + 0.7 * shade[..., None])


def _pattern_cells(rng: np.random.Generator, size: int, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """Caustics or a sponge: a net or holes as large as a shape, whose round cells a model may take for one."""
    unit = size / 64.0
    cell = rng.uniform(*_SHAPE_SIZED) * unit
    tone = _mottled(rng, size, c1, c2)
    picture = _caustics(rng, size, tone, cell) if rng.random() < 0.5 else _sponge(rng, size, tone, cell / 2)
    return np.clip(picture, 0, 255).astype(np.float32)


def _hex_lattice(rng: np.random.Generator, size: int, cell: float, jitter: float) -> np.ndarray:
    """Points ``cell`` apart on a turned hexagonal lattice, each moved up to ``jitter`` cells, past every edge."""
    u, v = np.meshgrid(np.arange(-2, int(size / cell) + 4), np.arange(-2, int(size / cell * 2 / math.sqrt(3)) + 4))
    lattice = np.stack([(u + 0.5 * (v % 2)) * cell, v * cell * math.sqrt(3) / 2], axis=-1).reshape(-1, 2)
    turn = rng.uniform(0, math.pi / 3)
    rotation = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
    points = (lattice - size / 2) @ rotation.T + size / 2 + rng.uniform(-jitter, jitter, lattice.shape) * cell
    return points.astype(np.float32)


def _rosettes(
    rng: np.random.Generator, size: int, c1: np.ndarray, c2: np.ndarray, tone: np.ndarray, cell: float
) -> np.ndarray:
    """A leopard's coat: rings of broken dark arcs round a deeper tint, with small solid spots between them."""
    xs, ys = _pixel_centres(size)
    ring = np.zeros((size, size), np.float32)
    middle = np.zeros((size, size), np.float32)
    for x, y in _hex_lattice(rng, size, cell, 0.2):
        radius = cell * rng.uniform(0.28, 0.4)
        if rng.random() < 0.2:  # a small solid spot, not a rosette
            ring = np.maximum(ring, np.hypot(xs - x, ys - y) < radius * rng.uniform(0.2, 0.4))
            continue
        d = np.hypot(xs - x, ys - y) / radius
        arcs = int(rng.integers(3, 6))
        whole = np.cos(arcs * np.arctan2(ys - y, xs - x) + rng.uniform(0, 2 * math.pi)) > rng.uniform(-0.5, 0.1)
        ring = np.maximum(ring, (np.abs(d - 1.0) < rng.uniform(0.18, 0.35)) & whole)
        middle = np.maximum(middle, d < 0.85)
    coat = _mottled(rng, size, c1, tone)
    tinted = _mix(coat, c2, middle * rng.uniform(0.15, 0.4))
    return _mix(tinted, c2, ring)


def _honeycomb(
    rng: np.random.Generator, size: int, c1: np.ndarray, c2: np.ndarray, tone: np.ndarray, cell: float
) -> np.ndarray:
    """Wax cells or hexagonal tiles: a net of straight walls round six-sided cells, deeper towards each middle."""
    seeds = _hex_lattice(rng, size, cell, 0.0)
    nearest, second, _ = _two_nearest(seeds, np.full(len(seeds), cell, np.float32), size)
    wall = (second - nearest) * cell / 2 < rng.uniform(0.04, 0.12) * cell  # a wall's half-width beside its cell
    depth = np.clip(1.0 - nearest / 0.58, 0.0, 1.0)  # 1 in a cell's middle, 0 at its corners
    inside = _mottled(rng, size, c1, tone)
    inside = inside * (1.0 - rng.uniform(0.15, 0.45) * depth[..., None] ** 2)
    return np.where(wall[..., None], c2, inside)


def _pattern_coat(rng: np.random.Generator, size: int, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """Rosettes or a honeycomb: rings and hexagons as large as a shape, on the scale of the shapes drawn on them."""
    unit = size / 64.0
    cell = rng.uniform(*_SHAPE_SIZED) * unit
    tone = _leaning(c1, c2)
    coat = _rosettes if rng.random() < 0.5 else _honeycomb
    picture = coat(rng, size, c1, c2, tone, cell)
    return np.clip(picture, 0, 255).astype(np.float32)


def _round(
    xs: np.ndarray, ys: np.ndarray, x: float, y: float, radius: float, kind: str
) -> tuple[np.ndarray, np.ndarray]:
    """How much of each pixel one round thing covers, and with how much of the mark's colour: (cover, light)."""
    d = np.hypot(xs - x, ys - y)
    disc = np.clip(radius - d + 0.5, 0.0, 1.0)  # a pixel-wide soft edge: the coverage of an anti-aliased disc
    if kind == "rim":  # a soap bubble: a thin rim over a faint sheen
        width = max(1.0, radius * 0.12)
        rim = np.clip(width / 2 - np.abs(d - radius) + 0.5, 0.0, 1.0)
        return np.maximum(rim, disc * 0.1), np.zeros_like(d)
    if kind == "glow":  # bokeh: an out-of-focus light, a pale disc whose edge fades over a third of its radius
        return np.clip((radius - d) / (0.3 * radius), 0.0, 1.0) * 0.5, np.ones_like(d)
    if kind == "hole":  # lace: a dark hole with a pale thread round it
        thread = np.clip(max(1.0, radius * 0.15) / 2 - np.abs(d - radius * 1.12) + 0.5, 0.0, 1.0)
        return np.maximum(disc, thread), thread
    return disc, np.zeros_like(d)  # a spot


_ROUND_KINDS = ("rim", "glow", "hole", "spot")


def _pattern_rounds(rng: np.random.Generator, size: int, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """Bubbles, bokeh, lace or spots: round things of many sizes off any lattice, the largest as large as a shape."""
    unit = size / 64.0
    xs, ys = _pixel_centres(size)
    picture = _mottled(rng, size, c1, _leaning(c1, c2))
    pale = _mix(c1, np.full(3, 255.0, np.float32), np.array(rng.uniform(0.5, 0.9)))  # a thread, a glow's light
    kind = _ROUND_KINDS[int(rng.integers(len(_ROUND_KINDS)))] if rng.random() < 0.75 else None  # else mixed
    low, high = math.log(_SHAPE_SIZED[0] / 4), math.log(_SHAPE_SIZED[1] / 2)  # radii of 1.5-11 units: 5-34% across
    for _ in range(int(rng.integers(10, 40))):
        x, y = rng.uniform(-0.1, 1.1, 2) * size
        radius = math.exp(rng.uniform(low, high)) * unit
        cover, light = _round(xs, ys, x, y, radius, kind or _ROUND_KINDS[int(rng.integers(len(_ROUND_KINDS)))])
        colour = c2 + light[..., None] * (pale - c2)
        picture = picture + cover[..., None] * (colour - picture)
    return np.clip(picture, 0, 255).astype(np.float32)


def _edge_cover(field: np.ndarray, level: float) -> np.ndarray:
    """How much of each pixel lies past ``level`` of a smooth field: a crisp edge, anti-aliased by the slope."""
    gy, gx = np.gradient(field)
    return np.clip((field - level) / np.maximum(np.hypot(gx, gy), 1e-6) + 0.5, 0.0, 1.0)


def _pattern_glass(rng: np.random.Generator, size: int, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """Stained glass, mosaic or crazy paving: cells as large as a shape, each its own colour, often leaded."""
    unit = size / 64.0
    cell = math.exp(rng.uniform(math.log(4.0), math.log(_SHAPE_SIZED[1]))) * unit
    seeds = _scattered(rng, size, cell)
    nearest, second, owner = _two_nearest(seeds, np.ones(len(seeds), np.float32), size)  # in pixels
    lean = rng.uniform(0.0, 1.0, (len(seeds), 1))  # each pane somewhere between the two colours, or its own
    own = np.stack([hsv_colour(rng, (0.3, 1.0), (0.3, 1.0)) for _ in seeds])
    panes = np.where(rng.random((len(seeds), 1)) < 0.6, own, c1 * (1 - lean) + c2 * lean).astype(np.float32)
    picture = panes[owner]
    if rng.random() < 0.75:  # lead or grout between the panes, a pixel or two wide
        lead = _mix(c2, np.zeros(3, np.float32), np.array(rng.uniform(0.3, 1.0)))
        cover = np.clip(rng.uniform(0.4, 1.6) * unit - (second - nearest) / 2 + 0.5, 0.0, 1.0)
        picture = picture + cover[..., None] * (lead - picture)
    return np.clip(picture, 0, 255).astype(np.float32)


def _pattern_tiles(rng: np.random.Generator, size: int, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """Gingham or a tiled floor with squares a shape's size, so four straight edges alone do not make a square."""
    u, v = _rotated_frame(rng, size)
    unit = size / 64.0
    if rng.random() < 0.5:  # gingham: bands of the second colour cross at right angles, their overlaps the darkest
        period = 2.0 * rng.uniform(5.0, 12.0) * unit
        t = 0.5 * _square_wave(u + rng.uniform(0, period), period, 0.5)
        t += 0.5 * _square_wave(v + rng.uniform(0, period), period, 0.5)
        return _mix(c1, c2, t)
    period, grout = rng.uniform(7.0, 20.0) * unit, rng.uniform(0.6, 1.8) * unit
    u, v = u + rng.uniform(0, period), v + rng.uniform(0, period)
    column, row = np.floor(u / period).astype(np.int64), np.floor(v / period).astype(np.int64)
    column, row = column - column.min(), row - row.min()
    shade = rng.uniform(0.0, 0.25, (column.max() + 1, row.max() + 1))[column, row]  # each tile a little its own
    checked = rng.random() < 0.6  # neighbouring tiles in the two colours, or all in the first
    t = np.where((column + row) % 2 == 1, 1.0 - shade, shade) if checked else shade
    joint = (u % period < grout) | (v % period < grout)
    t = np.where(joint, 0.5 if checked else 1.0, t)  # grout apart from both tiles, or the second colour
    return _mix(c1, c2, t)


def _pattern_lozenges(rng: np.random.Generator, size: int, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """Harlequin, argyle or a rug: a lattice of lozenges a shape's size, so four slanted edges alone make no square."""
    u, v = _rotated_frame(rng, size)
    unit = size / 64.0
    wide = rng.uniform(14.0, 40.0) * unit
    high = wide / rng.uniform(1.0, 2.5)  # from squares stood on a corner to long, flat lozenges
    p, q = u / wide + v / high + rng.uniform(0, 1), u / wide - v / high + rng.uniform(0, 1)
    fp, fq = p - np.floor(p), q - np.floor(q)  # each lozenge is a unit square in (p, q)
    per_pixel = math.hypot(1.0 / wide, 1.0 / high)  # how far (p, q) moves in one pixel
    third = _mix(c1, c2, np.array(rng.uniform(0.3, 0.7)))
    checked = rng.random() < 0.5  # harlequin: neighbouring lozenges in the two colours
    t = ((np.floor(p) + np.floor(q)) % 2).astype(np.float32) if checked else np.zeros_like(u)
    picture = _mix(c1, c2, t)
    cored = rng.random() < 0.6
    if cored:  # a core: a smaller lozenge inside each, in a third tone
        reach = np.maximum(np.abs(fp - 0.5), np.abs(fq - 0.5))
        cover = np.clip((rng.uniform(0.15, 0.35) - reach) / per_pixel + 0.5, 0.0, 1.0)
        picture = picture + cover[..., None] * (third - picture)
    if rng.random() < 0.7 or not (checked or cored):  # outlines where they meet, or argyle's overcheck through middles
        shift = 0.5 if rng.random() < 0.4 else 0.0
        gp, gq = (fp + shift) % 1.0, (fq + shift) % 1.0
        edge = np.minimum(np.minimum(gp, 1 - gp), np.minimum(gq, 1 - gq)) / per_pixel  # pixels to the nearest line
        cover = np.clip(rng.uniform(0.4, 1.2) * unit - edge + 0.5, 0.0, 1.0)
        line = c1 if checked else _ink_on(c1, c2)
        picture = picture + cover[..., None] * (_mix(line, third, np.array(0.3 * shift)) - picture)
    return np.clip(picture, 0, 255).astype(np.float32)


def _pattern_spots(rng: np.random.Generator, size: int, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """Turing spots and mazes, camouflage or a cow's hide: blobs cut from band-pass noise, some as large as a shape."""
    unit = size / 64.0
    scale = rng.uniform(3.0, 10.0) * unit
    field = _value_noise(rng, size, scale) - rng.uniform(0.5, 0.9) * _value_noise(rng, size, scale * 2.5)
    level = float(np.quantile(field, rng.uniform(0.35, 0.75)))  # more or less of the second colour
    cover = _edge_cover(field, level)
    return np.clip(_mix(c1, c2, cover), 0, 255).astype(np.float32)


def _pattern_contours(rng: np.random.Generator, size: int, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """Wood grain round knots, marbling or a map's contours: level lines that close round shape-sized knots."""
    unit = size / 64.0
    u, _ = _rotated_frame(rng, size)
    xs, ys = _pixel_centres(size)
    period = rng.uniform(2.0, 6.0) * unit
    field = u * rng.choice((0.0, rng.uniform(0.3, 1.0)))  # grain running one way, or none: marbling
    for _ in range(int(rng.integers(1, 5))):  # each knot a bump the level lines ring round
        x, y = rng.uniform(0.0, 1.0, 2) * size
        reach = rng.uniform(*_SHAPE_SIZED) * unit
        field = field + rng.choice((-1, 1)) * reach * np.exp(-(np.hypot(xs - x, ys - y) ** 2) / (2 * reach**2)) * 2
    field = field + rng.uniform(0.0, 2.0) * period * _value_noise(rng, size, rng.uniform(8.0, 20.0) * unit)
    gy, gx = np.gradient(field)
    spacing = period / np.maximum(np.hypot(gx, gy), 1e-6)  # pixels from one level line to the next
    offset = (field / period - np.round(field / period)) * spacing  # pixels to the nearest level line
    width = rng.uniform(0.3, 1.0) * unit  # a line's half-width in pixels
    lines = np.clip(width - np.abs(offset) + 0.5, 0.0, 1.0)
    crowded = np.clip((2 * width + 2.5 - spacing) / 2.0, 0.0, 1.0)  # lines closer than a pixel or two blend
    lines = lines + crowded * (np.clip((2 * width + 1) / spacing, 0.0, 1.0) - lines)  # into their mean tone
    return np.clip(_mix(_mottled(rng, size, c1, _leaning(c1, c2)), c2, lines), 0, 255).astype(np.float32)


def _disc(draw: ImageDraw.ImageDraw, x: float, y: float, radius: float, fill: tuple[int, ...], ss: int) -> None:
    """A filled disc on a canvas drawn ``ss`` times larger than the picture."""
    draw.ellipse([(x - radius) * ss, (y - radius) * ss, (x + radius) * ss, (y + radius) * ss], fill=fill)


def _pattern_motif(rng: np.random.Generator, size: int, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """Wallpaper or printed cloth: a lattice of one small motif (dot, plus, diamond, flower), often over stripes."""
    ss, unit = 2, size / 64.0
    picture = np.broadcast_to(c1, (size, size, 3)).astype(np.float32)
    if rng.random() < 0.5:
        u, _ = _rotated_frame(rng, size)
        period = rng.uniform(6.0, 16.0) * unit
        picture = _mix(c1, _mix(c1, c2, np.array(rng.uniform(0.3, 0.7))), _square_wave(u, period, 0.4))
    canvas = Image.fromarray(np.clip(picture + 0.5, 0, 255).astype(np.uint8)).resize((size * ss, size * ss))
    draw = ImageDraw.Draw(canvas)
    fill = tuple(int(c) for c in _ink_on(c1, c2))
    pitch = rng.uniform(6.0, 11.0) * unit
    reach = pitch * rng.uniform(0.15, 0.25)  # at most 2.75 units each way: under 9% of the side across
    motif = int(rng.integers(4))
    for row in range(-1, int(size / pitch) + 2):
        for col in range(-1, int(size / pitch) + 2):
            cx, cy = (col + 0.5 * (row % 2)) * pitch, row * pitch
            if motif == 0:  # dot
                _disc(draw, cx, cy, reach, fill, ss)
            elif motif == 1:  # plus
                arm = max(reach * 0.35, 0.5)
                draw.rectangle([(cx - reach) * ss, (cy - arm) * ss, (cx + reach) * ss, (cy + arm) * ss], fill=fill)
                draw.rectangle([(cx - arm) * ss, (cy - reach) * ss, (cx + arm) * ss, (cy + reach) * ss], fill=fill)
            elif motif == 2:  # diamond
                corners = [(cx, cy - reach), (cx + reach, cy), (cx, cy + reach), (cx - reach, cy)]
                draw.polygon([(x * ss, y * ss) for x, y in corners], fill=fill)
            else:  # four petals
                for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                    _disc(draw, cx + dx * reach / 2, cy + dy * reach / 2, reach / 2, fill, ss)
    return np.asarray(canvas.resize((size, size), Image.Resampling.BOX), dtype=np.float32)


_FINE_PATTERNS = (
    _pattern_weave,
    _pattern_grid,
    _pattern_waves,
    _pattern_marks,
    _pattern_print,
    _pattern_relief,
    _pattern_motif,
    _pattern_pebbles,
)
"""Regular edges, dense marks, print, lit relief, motifs and pebbles: surfaces finer than any shape."""
_SHAPE_SCALE_PATTERNS = (
    _pattern_cells,
    _pattern_coat,
    _pattern_rounds,
    _pattern_glass,
    _pattern_spots,
    _pattern_contours,
    _pattern_tiles,
    _pattern_lozenges,
)
"""Cells, coats, rounds, glass, spots, contours, tiles, lozenges: features a shape's size, each sealed set's snag."""
_PATTERNS = _FINE_PATTERNS + _SHAPE_SCALE_PATTERNS
_SHAPE_SCALE_SHARE = 0.6  # of the patterns: the eight of sixteen drawn half as often again as the other eight together


def _background_pattern(rng: np.random.Generator, size: int, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """One of ``_PATTERNS``, most often in two clearly different colours, as printed fabric and tiles are."""
    if rng.random() < 0.7 and contrast(c1, c2) < 90:
        c2 = _mix(c1, hsv_colour(rng, (0.0, 1.0), (0.0, 1.0)), np.array(rng.uniform(0.6, 1.0)))
    patterns = _SHAPE_SCALE_PATTERNS if rng.random() < _SHAPE_SCALE_SHARE else _FINE_PATTERNS
    return patterns[int(rng.integers(len(patterns)))](rng, size, c1, c2)


def paint_background(rng: np.random.Generator, kind: str, size: int, c1: np.ndarray, c2: np.ndarray) -> np.ndarray:
    """The background of one scene (H x W x 3 float32) in style ``kind``, before any clutter is drawn."""
    if kind == "solid":
        return np.broadcast_to(c1, (size, size, 3)).astype(np.float32)
    if kind == "gradient":
        return _background_gradient(rng, size, c1, c2)
    if kind == "noise":
        return _background_noise(rng, size, c1, c2)
    if kind == "texture":
        return _background_texture(rng, size, c1, c2)
    if kind == "pattern":
        return _background_pattern(rng, size, c1, c2)
    # clutter sits on a plain or gently shaded base
    if rng.random() < 0.5:
        return _background_gradient(rng, size, c1, c2)
    return np.broadcast_to(c1, (size, size, 3)).astype(np.float32)


def ensure_contrast(
    rng: np.random.Generator, obj: np.ndarray, background: np.ndarray, box: tuple[int, int, int, int]
) -> np.ndarray:
    """Return an object colour that stands out from the background around the object.

    The 5th percentile of the per-pixel contrast is used instead of the mean so
    that a two-colour texture cannot hide the object behind one of its colours.
    """
    x0, y0, x1, y1 = box
    region = background[y0:y1, x0:x1].reshape(-1, 3)
    if region.size == 0:
        return obj
    if region.shape[0] > 400:  # a subsample is plenty for a percentile and keeps this fast
        region = region[:: region.shape[0] // 400 + 1]

    def score(colours: np.ndarray) -> np.ndarray:
        return np.percentile(contrast(region[None, :, :], colours[:, None, :]), 5, axis=1)

    if score(obj[None])[0] >= _MIN_CONTRAST:
        return obj
    candidates = np.stack(
        [hsv_colour(rng, (0.0, 1.0), (0.0, 1.0)) for _ in range(10)] + [np.zeros(3), np.full(3, 255.0)]
    ).astype(np.float32)
    scores = score(candidates)
    good = np.flatnonzero(scores >= _MIN_CONTRAST)
    best = good[0] if good.size else int(np.argmax(scores))
    return candidates[best]


def dilate_square(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation by a square of side 2 * radius + 1 (separable, so cheap at these sizes)."""
    out = mask.copy()
    for axis in (0, 1):
        grown = out.copy()
        for shift in range(1, radius + 1):
            if axis == 0:
                grown[shift:] |= out[:-shift]
                grown[:-shift] |= out[shift:]
            else:
                grown[:, shift:] |= out[:, :-shift]
                grown[:, :-shift] |= out[:, shift:]
        out = grown
    return out


def draw_clutter(
    rng: np.random.Generator, background: np.ndarray, obj: np.ndarray, forbidden: np.ndarray
) -> np.ndarray:
    """Short strokes and small irregular blobs in the object's colour family.

    Items never touch each other or the object (checked on an occupancy grid
    of their bounding boxes), so two strokes cannot combine into a cross and
    nothing grows into a class shape; every item stays below ``_CLUTTER_MAX``
    of the side. All random numbers are drawn in bulk, because one
    generator call per item would cost more than drawing the scene.
    """
    size = background.shape[0]
    ss = SUPERSAMPLE
    canvas = Image.fromarray(np.clip(background, 0, 255).astype(np.uint8)).resize(
        (size * ss, size * ss), Image.Resampling.NEAREST
    )
    draw = ImageDraw.Draw(canvas)
    occupied = forbidden.copy()
    wanted = max(1, int(rng.integers(6, 24) * (size / 64.0) ** 2))
    tries = wanted * 3
    colours = np.clip((obj + rng.normal(0, 22, (tries, 3))) * rng.uniform(0.85, 1.15, (tries, 1)), 0, 255)
    colours = colours.astype(np.uint8).tolist()
    centres = (rng.uniform(0, size, (tries, 2))).tolist()
    strokes = (rng.random(tries) < 0.6).tolist()
    lengths = (rng.uniform(0.03, 0.075, tries) * size).tolist()
    stroke_angles = rng.uniform(0, math.pi, tries).tolist()
    widths = (rng.uniform(0.7, 2.0, tries) * size / 64.0).tolist()
    blob_radii = rng.uniform(0.01, 0.035, tries) * size
    blob_angles = np.sort(rng.uniform(0, 2 * math.pi, (tries, 7)), axis=1)
    blob_points = rng.uniform(0.55, 1.0, (tries, 7)) * blob_radii[:, None]
    blob_x = (np.cos(blob_angles) * blob_points).tolist()
    blob_y = (np.sin(blob_angles) * blob_points).tolist()
    placed = 0
    for k in range(tries):
        if placed >= wanted:
            break
        cx, cy = centres[k]
        if strokes[k]:
            dx = math.cos(stroke_angles[k]) * lengths[k] / 2
            dy = math.sin(stroke_angles[k]) * lengths[k] / 2
            xs, ys = [cx - dx, cx + dx], [cy - dy, cy + dy]
            pad = widths[k] / 2 + 1
        else:
            xs = [cx + x for x in blob_x[k]]
            ys = [cy + y for y in blob_y[k]]
            pad = 1.0
        bx0, by0 = max(0, int(min(xs) - pad)), max(0, int(min(ys) - pad))
        bx1 = min(size, math.ceil(max(xs) + pad) + 1)
        by1 = min(size, math.ceil(max(ys) + pad) + 1)
        if bx0 >= bx1 or by0 >= by1 or occupied[by0:by1, bx0:bx1].any():
            continue
        occupied[by0:by1, bx0:bx1] = True
        placed += 1
        points = [(x * ss, y * ss) for x, y in zip(xs, ys)]
        if strokes[k]:
            draw.line(points, fill=tuple(colours[k]), width=max(1, round(widths[k] * ss)))
        else:
            draw.polygon(points, fill=tuple(colours[k]))
    small = canvas.resize((size, size), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32)


def degrade_like_real_images(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Imitate images from other sources: resampling, slight blur, sensor noise, JPEG."""
    size = image.shape[0]
    pil = Image.fromarray(image)
    filters = (Image.Resampling.NEAREST, Image.Resampling.BILINEAR, Image.Resampling.BICUBIC)
    if rng.random() < 0.1:  # drawn at another resolution and resized
        low = max(8, round(size * rng.uniform(0.4, 0.8)))
        pil = pil.resize((low, low), filters[int(rng.integers(1, 3))])
        pil = pil.resize((size, size), filters[int(rng.integers(0, 3))])
    if rng.random() < 0.2:
        pil = pil.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0) * size / 64.0))
    out = np.asarray(pil)
    if rng.random() < 0.4:  # sensor noise, from faint to heavy (sigma up to 45 of 255)
        sigma = rng.uniform(2.0, 10.0) if rng.random() < 0.5 else rng.uniform(10.0, 45.0)
        noisy = out.astype(np.float32) + rng.normal(0, sigma, out.shape)
        out = np.clip(noisy, 0, 255).astype(np.uint8)
    if rng.random() < 0.2:
        buffer = io.BytesIO()
        Image.fromarray(out).save(buffer, format="JPEG", quality=int(rng.integers(15, 91)))
        buffer.seek(0)
        out = np.asarray(Image.open(buffer).convert("RGB"))
    return np.ascontiguousarray(out)
