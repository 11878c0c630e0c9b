"""The seventh sealed shapes renderer: exact area coverage accumulated along rows, seen through a Bayer sensor.

The training generator draws with PIL polygons, the held-out renderer with
numpy distances to polygon edges, the first sealed renderer with matplotlib's
point-in-path test, the second with OpenCV's fills, the third with
matplotlib's Agg rasteriser, the fourth with implicit functions in torch, the
fifth with scipy's hole filling and the sixth by counting even-odd ray
crossings. This one cuts every outline edge at the pixel grid, lets each piece
deposit its exact signed area into its pixel and the next one, and sums the
deposits along each row (a font rasteriser's method): every pixel gets its
exact share of the shape by the non-zero rule, with no finer grid, so a ring
is an outer loop wound against its inner one and a cross is two bars laid over
each other. Strokes are quads and round caps through the same code, inked as a
felt-tip bleeding along the paper's fibres, a grainy pencil or chalk that
skips; fills as flat poster paint, stencil spray or a lino print. Its surfaces
are snakeskin, a sponge, a circuit board, a fish-scale roof, a pool floor's
caustics and raindrops on a window; its camera is a warm lamp against
daylight, a tilted focal plane, lateral colour, a Bayer sensor with photon
noise and bilinear demosaicing, partial auto white balance, a film shoulder,
Pillow's Hamming resize and a JPEG written here with ``scipy.fft``. It exists
because the sixth sealed set was read after its one run: the next model
shipped needs a figure from pictures nothing was chosen on.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PIL import Image
from scipy import fft, ndimage

from .shapes_scene import SHAPE_CLASSES
from .shapes_sealed import SealedScene, ShapesSealedDataset, first_draws
from .shapes_strokes import thickest_circle_line, thinnest_ring_band

SURFACES7: tuple[str, ...] = ("snakeskin", "sponge", "circuit", "shingles", "caustics", "raindrops")
STYLES7: tuple[str, ...] = ("poster", "spray", "lino", "felt-tip", "pencil", "chalk")
_STROKED = ("felt-tip", "pencil", "chalk")
_NATIVE = 192  # the picture's side before the camera's resize; coverage is exact, so no finer grid
_SALT = 70707
_MARGIN = 0.05  # the object stays this share of the side inside every edge, clear of the blur and the fringes
# The JPEG standard's example quantisation tables (Annex K), scaled by quality as libjpeg does.
_LUMA_TABLE = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=np.float64,
)
_CHROMA_TABLE = np.full((8, 8), 99.0)
_CHROMA_TABLE[:4, :4] = [[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]]


def _grid(side: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre x and y coordinates of a side x side picture."""
    axis = np.arange(side, dtype=np.float64) + 0.5
    return np.meshgrid(axis, axis, indexing="xy")


def _noise(rng: np.random.Generator, side: int, sigma: float | tuple[float, float]) -> np.ndarray:
    """Gaussian-smoothed white noise with mean 0 and standard deviation 1, so thresholds mean the same at any sigma."""
    field = ndimage.gaussian_filter(rng.standard_normal((side, side)), sigma, mode="wrap")
    return (field - field.mean()) / (field.std() + 1e-12)


def _colour(rng: np.random.Generator, low: float = 0.0, high: float = 255.0) -> np.ndarray:
    return rng.uniform(low, high, 3)


def _coverage(polygons: list[np.ndarray], side: int) -> np.ndarray:
    """Each pixel's exact share inside the closed polygons (rows of complex corners) by the non-zero winding rule.

    Every edge is cut where it crosses a pixel column or row; each piece adds its height, signed by its direction,
    times the share of its pixel right of it there, and the rest to the next pixel; a running sum along the row
    then holds the winding times the area, which saturates at 1 so overlapping pieces of one shape stay ink.
    """
    starts = np.concatenate([rows.ravel() for rows in polygons])
    ends = np.concatenate([np.roll(rows, -1, axis=-1).ravel() for rows in polygons])
    count = starts.size
    owner, where = [np.arange(count), np.arange(count)], [np.zeros(count), np.ones(count)]
    for a, b in ((starts.real, ends.real), (starts.imag, ends.imag)):
        first = np.floor(np.minimum(a, b)) + 1  # the grid lines strictly between the two ends
        last = np.ceil(np.maximum(a, b)) - 1
        lines = np.maximum(0, last - first + 1).astype(np.int64)
        which = np.repeat(np.arange(count), lines)
        step = np.arange(lines.sum()) - np.repeat(np.cumsum(lines) - lines, lines)
        owner.append(which)
        where.append((first[which] + step - a[which]) / (b[which] - a[which]))
    segment, t = np.concatenate(owner), np.concatenate(where)
    order = np.lexsort((t, segment))
    segment, t = segment[order], t[order]
    same = segment[:-1] == segment[1:]
    begin, finish = segment[:-1][same], segment[1:][same]
    along = ends[begin] - starts[begin]
    head, tail = starts[begin] + along * t[:-1][same], starts[finish] + along * t[1:][same]
    middle = (head + tail) / 2
    row, column = np.floor(middle.imag).astype(np.int64), np.floor(middle.real).astype(np.int64)
    rise = tail.imag - head.imag
    share = middle.real - column
    left = column < 0  # wholly left of the picture: the full height counts from the first pixel on
    share[left], column[left] = 0.0, 0
    keep = (row >= 0) & (row < side) & (column < side)
    deposits = np.zeros((side, side + 1))
    np.add.at(deposits, (row[keep], column[keep]), rise[keep] * (1 - share[keep]))
    np.add.at(deposits, (row[keep], column[keep] + 1), rise[keep] * share[keep])
    return np.minimum(1.0, np.abs(np.cumsum(deposits, axis=1)[:, :side]))


def _wound(rows: np.ndarray) -> np.ndarray:
    """The polygons (rows of corners) each turned to wind the same way, so that where they overlap they add up."""
    area = (rows.conj() * np.roll(rows, -1, axis=1)).imag.sum(axis=1)
    return np.where((area < 0)[:, None], rows[:, ::-1], rows)


def _stroke(points: np.ndarray, width: float, closed: bool = True) -> list[np.ndarray]:
    """A line of ``width`` through the points as quads along its segments and round caps at its corners."""
    starts, ends = (points, np.roll(points, -1)) if closed else (points[:-1], points[1:])
    length = np.abs(ends - starts)
    starts, ends, length = starts[length > 0], ends[length > 0], length[length > 0]
    normal = (ends - starts) / length * 1j * width / 2
    quads = np.stack([starts + normal, ends + normal, ends - normal, starts - normal], axis=1)
    caps = points[:, None] + width / 2 * np.exp(2j * math.pi * np.arange(12) / 12)[None, :]
    return [_wound(quads), _wound(caps)]


def _disc(centre: complex, radius: float, corners: int = 16) -> np.ndarray:
    return centre + radius * np.exp(2j * math.pi * np.arange(corners) / corners)


def _surface(rng: np.random.Generator, kind: str, side: int) -> np.ndarray:
    """A side x side x 3 float picture of one of ``SURFACES7``."""
    xs, ys = _grid(side)
    if kind == "snakeskin":  # overlapping scales on a diamond lattice, under pale-edged dark saddles as large as shapes
        pitch = rng.uniform(9, 14)
        u, v = (xs + ys) / pitch, (xs - ys) / pitch
        inside = np.hypot(u % 1.0 - 0.5, v % 1.0 - 0.5)
        scale = np.clip(1.15 - 1.6 * inside, 0.35, 1.0) * (0.85 + 0.15 * (u % 1.0))
        field, edge = _noise(rng, side, rng.uniform(6, 11)), rng.uniform(0.1, 0.6)
        saddles = np.clip((field - edge) / 0.3, 0, 1)[..., None]
        rim = 0.7 * np.exp(-(((field - edge + 0.25) / 0.12) ** 2))[..., None]
        light, dark, cream = _colour(rng, 110, 230), _colour(rng, 20, 90), _colour(rng, 200, 250)
        skin = (light * (1 - saddles) + dark * saddles) * (1 - rim) + cream * rim
        return skin * scale[..., None]
    if kind == "sponge":  # open cells of many sizes, dark inside, their rims lit from above
        white = rng.standard_normal((side, side))
        sigma = rng.uniform(1.2, 3.0)
        fine, coarse = (ndimage.gaussian_filter(white, spread, mode="wrap") for spread in (sigma, 2.2 * sigma))
        band = fine - coarse
        band = (band - band.mean()) / band.std()
        holes = np.clip((-band - rng.uniform(0.4, 0.8)) / 0.4, 0, 1)
        rims = np.clip(np.gradient(ndimage.gaussian_filter(holes, 0.8), axis=0) * 3, 0, 0.4)
        base = _colour(rng, 110, 250)
        return base * (1 - 0.62 * holes[..., None]) + (255 - base) * rims[..., None] + rng.normal(0, 5, (side, side, 1))
    if kind == "circuit":  # traces at right angles and diagonals, pads at their ends, vias as tiny rings
        board = _colour(rng, 10, 120)
        board[int(rng.integers(3))] += rng.uniform(40, 110)
        pitch = rng.uniform(5, 9)
        traces, pads, vias = [], [], []
        headings = np.exp(1j * math.pi / 4 * np.array([0, 2, 4, 6, 0, 2, 4, 6, 1, 3, 5, 7]))
        for _ in range(int(rng.integers(14, 28))):
            point = complex(*(np.round(rng.uniform(0, side, 2) / pitch) * pitch))
            corners = [point]
            for _ in range(int(rng.integers(2, 6))):
                point = point + headings[int(rng.integers(len(headings)))] * pitch * int(rng.integers(2, 8))
                corners.append(point)
            traces += _stroke(np.array(corners), rng.uniform(1.2, 2.8), closed=False)
            half = rng.uniform(1.5, 2.6)
            pads += [np.array([[end + half * (sx + 1j * sy) for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]])
                     for end in (corners[0], corners[-1])]  # fmt: skip
        for centre in rng.uniform(0, side, (int(rng.integers(8, 30)), 2)):
            outer = _disc(complex(*centre), rng.uniform(1.5, 2.5))
            vias.append(np.stack([outer, (complex(*centre) + (outer - complex(*centre)) * 0.45)[::-1]]))
        copper = _coverage(traces, side)[..., None]
        metal = _coverage(pads + vias, side)[..., None]
        picture = board * (1 - copper) + np.clip(board * 1.45 + 15, 0, 255) * copper
        return picture * (1 - metal) + _colour(rng, 170, 235) * metal
    if kind == "shingles":  # a roof of fish-scale tiles, each row laid over the top of the row below
        width = rng.uniform(14, 28)
        height = width * rng.uniform(0.45, 0.65)
        length = height + 0.45 * width
        base = _colour(rng, 70, 210)
        tones = rng.uniform(0.8, 1.15, (int(side / height) + 4, int(side / width) + 3))
        picture = np.zeros((side, side, 3)) + base * 0.5
        for row in range(int(side / height) + 1, -2, -1):
            top, shift = row * height, (row % 2) * width / 2
            column = np.floor((xs - shift) / width)
            across = (xs - shift - (column + 0.5) * width) / (width / 2)
            bottom = top + length - width / 2 * (1 - np.sqrt(np.clip(1 - across**2, 0, 1)))
            tile = (ys >= top) & (ys < bottom)
            shade = tones[row + 1, (column.astype(int) + 1) % tones.shape[1]] * (0.72 + 0.3 * (ys - top) / length)
            shade = np.where(bottom - ys < 1.4, 0.45, shade)  # the tile's own edge, in shadow
            picture = np.where(tile[..., None], base * shade[..., None], picture)
        return picture
    if kind == "caustics":  # a pool floor under waves: a bright net of focused light, cells as large as the shapes
        floor = np.array([rng.uniform(30, 150), rng.uniform(100, 200), rng.uniform(120, 230)])
        floor = floor[rng.permutation(3)] if rng.random() < 0.3 else floor
        light = np.zeros((side, side))
        for weight in (1.0, 0.6):
            field = _noise(rng, side, rng.uniform(4.5, 9))
            light = np.maximum(light, weight * np.exp(-((field / rng.uniform(0.12, 0.22)) ** 2)))
        waves = 0.88 + 0.12 * _noise(rng, side, 20)
        return floor * waves[..., None] + (255 - floor) * 0.75 * light[..., None]
    # raindrops: a window before a blurred scene; each drop shows the scene upside down, a dark rim, a glint
    scene = _colour(rng, 40, 215) + _colour(rng, -70, 70) * _noise(rng, side, rng.uniform(15, 30))[..., None] * 0.5
    picture = np.clip(scene, 0, 255)
    source = picture.copy()
    for _ in range(int(rng.integers(60, 170))):
        radius = math.exp(rng.uniform(math.log(1.5), math.log(7)))
        cx, cy = rng.uniform(0, side, 2)
        x0, x1 = max(0, int(cx - radius) - 1), min(side, int(cx + radius) + 2)
        y0, y1 = max(0, int(cy - radius) - 1), min(side, int(cy + radius) + 2)
        dx, dy = xs[y0:y1, x0:x1] - cx, ys[y0:y1, x0:x1] - cy
        distance = np.hypot(dx, dy) / radius
        seen_x = np.clip(cx - 1.5 * dx, 0, side - 1).astype(int)
        seen_y = np.clip(cy - 1.5 * dy, 0, side - 1).astype(int)
        drop = source[seen_y, seen_x] * np.where(distance > 0.72, 0.5, 1.08)[..., None]
        glint = np.hypot(dx + 0.35 * radius, dy + 0.35 * radius) < 0.22 * radius
        drop = np.where(glint[..., None], 245.0, drop)
        alpha = np.clip((1 - distance) * radius, 0, 1)[..., None]
        picture[y0:y1, x0:x1] = picture[y0:y1, x0:x1] * (1 - alpha) + drop * alpha
    return picture


def _shape(name: str, rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray], float]:
    """One class as (polygons to fill, its outline loops, a ring's inner radius), complex corners around 0."""

    def corners(count: int, radii: list[float], turn: float) -> np.ndarray:
        angles = turn + 2 * math.pi * np.arange(count) / count
        return np.resize(np.asarray(radii, dtype=np.float64), count) * np.exp(1j * angles)

    if name in ("circle", "ring"):
        outer = corners(160, [1.0], 0.0)
        if name == "circle":
            return [outer[None]], [outer], 0.0
        inner = rng.uniform(0.5, 0.72)
        return [np.stack([outer, outer[::-1] * inner])], [outer, outer * inner], inner
    if name == "square":
        loop = corners(4, [math.sqrt(2)], math.pi / 4)
    elif name == "triangle":
        loop = corners(3, [1.0], -math.pi / 2)
    elif name == "star":
        loop = corners(10, [1.0, rng.uniform(0.38, 0.5)], -math.pi / 2)
    else:  # a cross: filled as two bars laid over each other, outlined as one loop of twelve corners
        half = rng.uniform(0.28, 0.4)
        bar = np.array([complex(-1, -half), complex(1, -half), complex(1, half), complex(-1, half)])
        arm = [complex(1, -half), complex(1, half), complex(half, half)]
        loop = np.array([corner * 1j**k for k in range(4) for corner in arm])
        return [_wound(np.stack([bar, bar * 1j]))], [loop], 0.0
    return [loop[None]], [loop], 0.0


def _fill_ink(rng: np.random.Generator, style: str, region: np.ndarray) -> np.ndarray:
    """How much ink a filled style lays at each pixel of the region; values in [0, 1]."""
    side = region.shape[0]
    if style == "spray":  # a stencil: fine droplets, dense inside, a little overspray past the edge
        inside = rng.uniform(0.75, 0.92)
        chance = region * inside + 0.45 * ndimage.gaussian_filter(region, 1.5) * (1 - region)
        droplets = (rng.random((side, side)) < chance).astype(np.float64)
        return np.clip(1.3 * ndimage.gaussian_filter(droplets, 0.5), 0, 1)
    if style == "lino":  # a block print: mottled ink, the block's grain left as pale streaks
        mottle = _noise(rng, side, rng.uniform(0.8, 2.5))
        grain = _noise(rng, side, (0.6, 6.0) if rng.random() < 0.5 else (6.0, 0.6))
        return region * np.clip(0.95 + 0.2 * mottle - 0.35 * (grain > 1.4), 0, 1)
    return region  # poster paint: flat and opaque


def _stroke_ink(rng: np.random.Generator, style: str, line: np.ndarray) -> np.ndarray:
    """How much ink a drawn style lays along the line's coverage; values in [0, 1]."""
    side = line.shape[0]
    if style == "felt-tip":  # the ink bleeds a little way into the paper along its fibres
        fibres = _noise(rng, side, (0.5, 3.0) if rng.random() < 0.5 else (3.0, 0.5))
        bleed = ndimage.gaussian_filter(line, rng.uniform(0.8, 1.4))
        return np.maximum(line, 0.6 * np.clip((bleed - 0.12) / 0.25, 0, 1) * (fibres > 0.3))
    if style == "pencil":  # graphite catches the paper's grain, darker where the hand presses
        grain = _noise(rng, side, 0.6)
        pressure = 0.8 + 0.2 * np.clip(0.5 + 0.3 * _noise(rng, side, 12), 0, 1)
        return line * np.clip(0.85 + 0.3 * grain, 0.35, 1) * pressure
    # chalk: skips where the surface's tooth is low, and leaves dust beside the line
    tooth = _noise(rng, side, rng.uniform(1.0, 1.8))
    dust = (rng.random((side, side)) < 0.12) * 0.6 * ndimage.gaussian_filter(line, 2.0)
    return np.maximum(line * np.clip((tooth + 0.85) / 0.5, 0, 1), dust)


def _ink(rng: np.random.Generator, picture: np.ndarray, extent: np.ndarray) -> np.ndarray:
    """Of sixteen random inks, black and white, the one whose weakest contrast with the surface near the shape is
    strongest, lightness counted six times over hue, so that even a thin line stays readable on every surface."""
    near = ndimage.binary_dilation(extent > 0.5, iterations=4)
    around = picture[near] if near.any() else picture.reshape(-1, 3)
    sample = around[rng.integers(0, len(around), min(len(around), 300))]
    candidates = np.concatenate([rng.uniform(0, 255, (16, 3)), [[18.0, 18.0, 18.0], [240.0, 240.0, 240.0]]])
    lightness = np.array([0.3, 0.59, 0.11])
    difference = candidates[:, None, :] - sample[None]
    contrast = 3 * np.abs(difference @ lightness) + 0.5 * np.linalg.norm(difference, axis=-1)
    return candidates[int(np.argmax(np.percentile(contrast, 10, axis=1)))]


def _jpeg(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """The image (floats 0-255) through baseline JPEG written out: YCbCr, 4:2:0 chroma, 8x8 DCTs quantised by the
    standard tables at a random quality, and back."""
    quality = int(rng.integers(30, 93))
    scaling = 5000 / quality if quality < 50 else 200 - 2 * quality
    height, width = image.shape[:2]
    padded = np.pad(image, ((0, -height % 16), (0, -width % 16), (0, 0)), mode="edge")
    red, green, blue = padded[..., 0], padded[..., 1], padded[..., 2]
    luma = 0.299 * red + 0.587 * green + 0.114 * blue
    blue_diff = 128 - 0.168736 * red - 0.331264 * green + 0.5 * blue
    red_diff = 128 + 0.5 * red - 0.418688 * green - 0.081312 * blue

    def coded(plane: np.ndarray, table: np.ndarray) -> np.ndarray:
        step = np.clip(np.floor((table * scaling + 50) / 100), 1, 255)
        rows, columns = plane.shape[0] // 8, plane.shape[1] // 8
        blocks = (plane - 128).reshape(rows, 8, columns, 8)
        terms = fft.dctn(blocks, axes=(1, 3), norm="ortho")
        terms = np.round(terms / step[None, :, None, :]) * step[None, :, None, :]
        return fft.idctn(terms, axes=(1, 3), norm="ortho").reshape(plane.shape) + 128

    def halved(plane: np.ndarray) -> np.ndarray:
        return plane.reshape(plane.shape[0] // 2, 2, plane.shape[1] // 2, 2).mean(axis=(1, 3))

    luma = coded(luma, _LUMA_TABLE)
    blue_diff = np.repeat(np.repeat(coded(halved(blue_diff), _CHROMA_TABLE), 2, axis=0), 2, axis=1) - 128
    red_diff = np.repeat(np.repeat(coded(halved(red_diff), _CHROMA_TABLE), 2, axis=0), 2, axis=1) - 128
    decoded = np.stack(
        [luma + 1.402 * red_diff, luma - 0.344136 * blue_diff - 0.714136 * red_diff, luma + 1.772 * blue_diff], axis=-1
    )
    return decoded[:height, :width]


def _camera(
    rng: np.random.Generator, picture: np.ndarray, extent: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """The picture and the object's extent as this renderer's camera sees them, at ``size`` px."""
    side = picture.shape[0]
    xs, ys = _grid(side)
    linear = (np.clip(picture, 0, 255) / 255.0) ** 2.2
    angle = rng.uniform(0, 2 * math.pi)  # a warm lamp on one side, daylight on the other, exposure drifting across
    along = ((xs - side / 2) * math.cos(angle) + (ys - side / 2) * math.sin(angle)) / side + 0.5
    warm = np.array([1.0, rng.uniform(0.78, 0.9), rng.uniform(0.55, 0.75)])
    cool = np.array([rng.uniform(0.8, 0.92), rng.uniform(0.9, 1.0), 1.0])
    mix = np.clip(along, 0, 1)[..., None]
    linear = linear * (warm * (1 - mix) + cool * mix) * (1 + rng.uniform(-0.3, 0.3) * (along - 0.5))[..., None]
    turn = rng.uniform(0, 2 * math.pi)  # the focal plane tilts: sharp along one line, a growing disc of blur away
    away = np.abs((xs - side / 2) * math.cos(turn) + (ys - side / 2) * math.sin(turn) - rng.uniform(-0.3, 0.3) * side)
    radius = rng.uniform(0.0, 2.2) * away / (side / 2)
    levels = []
    for reach in range(4):
        offsets = np.arange(-reach, reach + 1)
        disc = np.clip(reach + 0.5 - np.hypot(*np.meshgrid(offsets, offsets)), 0, 1)
        disc /= disc.sum()
        levels.append(np.stack([ndimage.convolve(linear[..., c], disc, mode="reflect") for c in range(3)], axis=-1))
    low = np.clip(np.floor(radius), 0, 2).astype(int)
    part = np.clip(radius - low, 0, 1)[..., None]
    stack = np.stack(levels)
    rows, columns = np.indices((side, side))
    linear = stack[low, rows, columns] * (1 - part) + stack[low + 1, rows, columns] * part
    fringe = rng.uniform(0.0, 0.005)  # lateral colour: red drawn a little larger than green, blue a little smaller
    middle = (side - 1) / 2
    for channel, zoom in ((0, 1 + fringe), (2, 1 - fringe)):
        linear[..., channel] = ndimage.affine_transform(
            linear[..., channel], np.full(2, 1 / zoom), offset=middle - middle / zoom, order=1, mode="nearest"
        )
    site = np.zeros((side, side, 3), dtype=bool)  # an RGGB Bayer sensor counting photons, with read noise
    site[0::2, 0::2, 0] = site[0::2, 1::2, 1] = site[1::2, 0::2, 1] = site[1::2, 1::2, 2] = True
    well = rng.uniform(1500, 8000)
    raw = (linear * site).sum(axis=-1)
    raw = (rng.poisson(np.clip(raw, 0, None) * well) + rng.normal(0, rng.uniform(2, 6), raw.shape)) / well
    cross = np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]]) / 4
    square = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 4
    seen = np.stack(
        [ndimage.convolve(raw * site[..., c], cross if c == 1 else square, mode="mirror") for c in range(3)], axis=-1
    )
    means = seen.reshape(-1, 3).mean(axis=0)  # auto white balance, which takes out part of the lamp's colour
    seen = seen * (1 + rng.uniform(0.3, 0.9) * (means.mean() / np.maximum(means, 1e-6) - 1))
    brightest = float(np.percentile(seen.max(axis=-1), 99.9))  # metered on the highlights of every channel
    seen = seen * rng.uniform(0.8, 0.95) / max(brightest, 1e-6)
    knee = rng.uniform(0.5, 1.2)  # a film shoulder: highlights roll off instead of clipping
    toned = (1 - np.exp(-knee * np.clip(seen, 0, None))) / (1 - math.exp(-knee))
    shown = 255 * np.clip(toned, 0, 1) ** (1 / 2.2)
    if size != side:
        shown = np.stack(
            [np.asarray(Image.fromarray(shown[..., c].astype(np.float32), mode="F").resize(
                (size, size), Image.Resampling.HAMMING)) for c in range(3)], axis=-1)  # fmt: skip
        extent = np.asarray(
            Image.fromarray(extent.astype(np.float32), mode="F").resize((size, size), Image.Resampling.BOX)
        )
    if rng.random() < 0.7:
        shown = _jpeg(rng, shown)
    return np.round(np.clip(shown, 0, 255)).astype(np.uint8), extent >= 0.5


def render_sealed7_scene(rng: np.random.Generator, size: int) -> SealedScene:
    """One picture; the first draws are the label, the surface and the size band, in that order."""
    label, surface, (band, low, high) = first_draws(rng, SURFACES7)
    style = STYLES7[int(rng.integers(len(STYLES7)))]
    name = SHAPE_CLASSES[label]
    side = _NATIVE
    picture = _surface(rng, surface, side)
    fills, loops, inner = _shape(name, rng)
    stretch = math.sqrt(rng.uniform(0.95, 1.05) if name in ("circle", "ring") else rng.uniform(0.88, 1.14))
    spin = np.exp(1j * rng.uniform(0, 2 * math.pi))

    def turned(points: np.ndarray) -> np.ndarray:
        return (points.real * stretch + 1j * points.imag / stretch) * spin

    fills, loops = [turned(rows) for rows in fills], [turned(loop) for loop in loops]
    outer = loops[0]
    span_x, span_y = np.ptp(outer.real), np.ptp(outer.imag)
    scale = rng.uniform(low, high) * side / max(span_x, span_y)  # pixels per unit
    middle = complex((outer.real.max() + outer.real.min()) / 2, (outer.imag.max() + outer.imag.min()) / 2)
    room = _MARGIN * side
    centre = complex(
        rng.uniform(room + span_x * scale / 2, side - room - span_x * scale / 2),
        rng.uniform(room + span_y * scale / 2, side - room - span_y * scale / 2),
    )
    fills = [(rows - middle) * scale + centre for rows in fills]
    loops = [(loop - middle) * scale + centre for loop in loops]
    radius = max(span_x, span_y) * scale / 2
    if style in _STROKED:
        if name == "ring":  # one thick loop along the band's middle, by the rule of shapes_strokes
            width = max(thinnest_ring_band(radius, side), (1 - inner) * radius)
            path = (loops[0] - centre) * (1 + inner) / 2 + centre
        else:
            if name == "circle":
                width = min(max(rng.uniform(0.04, 0.1) * radius, 1.5), thickest_circle_line(radius, side))
            elif style == "pencil":
                width = rng.uniform(2.0, 3.0)
            else:
                width = max(2.0, rng.uniform(0.05, 0.09) * 2 * radius)
            path = loops[0]
        extent = _coverage(_stroke(path, width), side)
        ink = _ink(rng, picture, extent)
        paint = _stroke_ink(rng, style, extent)
    else:
        extent = _coverage(fills, side)
        ink = _ink(rng, picture, extent)
        paint = _fill_ink(rng, style, extent)
    picture = picture * (1 - paint[..., None]) + ink * paint[..., None]
    image, mask = _camera(rng, picture, extent, size)
    return SealedScene(image, mask, label, surface, band, style)


class ShapesSealed7Dataset(ShapesSealedDataset):
    """The seventh sealed set, deterministic per index; evaluation only, and run once per trained model."""

    SALT = _SALT
    SURFACE_KINDS = SURFACES7

    def render(self, rng: np.random.Generator, size: int) -> Any:
        return render_sealed7_scene(rng, size)
