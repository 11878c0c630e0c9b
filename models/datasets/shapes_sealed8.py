"""The eighth sealed shapes renderer: triangle meshes rasterised by edge functions, seen through a phone's camera.

The training generator draws with PIL polygons, the held-out renderer with
numpy distances to polygon edges, the first sealed renderer with matplotlib's
point-in-path test, the second with OpenCV's fills, the third with
matplotlib's Agg rasteriser, the fourth with implicit functions in torch, the
fifth with scipy's hole filling, the sixth by counting even-odd ray crossings
and the seventh by exact area coverage summed along rows. This one cuts every
shape into triangles (a disc and a star are fans about their middle, a ring a
strip of quads between its two loops, a square two triangles, a cross two
rectangles laid over each other, a line quads along its path with round fans
at its corners) and rasterises them as a graphics card does: three edge
functions per triangle, evaluated over its bounding box at eight jittered
samples per pixel, vertices and samples snapped to a 1/256-pixel grid so that
the functions are exact, and the top-left rule, so that an edge two triangles
share is drawn once, neither missed nor counted twice. Its styles are a
watercolour wash that darkens at its rim, waxy oil pastel, a mosaic of
tesserae, a glossy enamel badge in a metal rim, a stitched embroidery outline
and a glowing neon tube; its surfaces are honeycomb, a leopard's rosettes,
herringbone tweed, furrowed bark, sheet music and rust through painted metal;
its camera is a phone's: a flare's veil, rolling bands of exposure from mains
flicker, sensor noise, local (HDR) tone mapping, a beauty filter's bilateral
smoothing, an eager unsharp mask, Pillow's Lanczos resize and Pillow's WebP or
a coarsely quantised JPEG. It exists so that the next model shipped gets a
figure from pictures nothing was chosen on, once the seventh sealed set has
been read.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from .shapes_scene import SHAPE_CLASSES
from .shapes_sealed import SealedScene, ShapesSealedDataset, first_draws
from .shapes_strokes import thickest_circle_line, thinnest_ring_band

SURFACES8: tuple[str, ...] = ("honeycomb", "leopard", "tweed", "bark", "sheet music", "rust")
STYLES8: tuple[str, ...] = ("watercolour", "oil pastel", "mosaic", "enamel", "embroidery", "neon")
_ALONG_OUTLINE = ("embroidery", "neon")  # drawn along the outline (a ring's along its band); the rest are fills
_NATIVE = 192  # the picture's side before the camera's resize
_SAMPLES = 8  # jittered samples per pixel, one in each row and column of an 8 x 8 grid of cells
_SNAP = 256.0  # vertices and samples lie on a grid this many times finer than a pixel
_SALT = 80808
_MARGIN = 0.04  # the object stays this share of the side inside every edge, clear of the camera's border effects
_LUMA = np.array([0.2126, 0.7152, 0.0722])  # Rec. 709 weights


def _snapped(values: np.ndarray) -> np.ndarray:
    """Coordinates moved to the sub-pixel grid, where products of differences are exact in float64."""
    return np.round(np.asarray(values, dtype=np.float64) * _SNAP) / _SNAP


def _samples(rng: np.random.Generator, side: int) -> tuple[np.ndarray, np.ndarray]:
    """x and y of ``_SAMPLES`` points in every pixel (side x side x samples): each in its own row and column of an
    8 x 8 grid of cells (the rows shuffled once per picture), jittered within its cell, then snapped."""
    columns = np.arange(_SAMPLES)
    rows = rng.permutation(_SAMPLES)
    jitter = rng.random((2, side, side, _SAMPLES))
    pixel_y, pixel_x = np.indices((side, side), dtype=np.float64)
    xs = pixel_x[..., None] + (columns + jitter[0]) / _SAMPLES
    ys = pixel_y[..., None] + (rows + jitter[1]) / _SAMPLES
    return _snapped(np.minimum(xs, pixel_x[..., None] + 1 - 1 / _SNAP)), _snapped(
        np.minimum(ys, pixel_y[..., None] + 1 - 1 / _SNAP)
    )


def _rasterise(triangles: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """How many of the triangles (n x 3 complex corners) cover each sample, by three edge functions per triangle.

    Each triangle is turned to one winding, so a sample is inside where all three functions are positive; a
    sample exactly on an edge belongs to the triangle whose edge runs up the screen (a left edge) or to the right
    along a horizontal one (a top edge), and a shared edge runs the other way in its neighbour, so exactly one of
    the two takes it. Small triangles are evaluated together, each over a window its bounding box fits in.
    """
    height, width, _ = xs.shape
    counts = np.zeros(xs.size, dtype=np.int32)
    corners = _snapped(np.asarray(triangles).real) + 1j * _snapped(np.asarray(triangles).imag)
    if len(corners) == 0:
        return counts.reshape(xs.shape).astype(np.int16)
    first, second, third = corners[:, 0], corners[:, 1], corners[:, 2]
    doubled_area = ((second - first).conj() * (third - first)).imag
    backwards = doubled_area < 0
    second, third = np.where(backwards, third, second), np.where(backwards, second, third)
    # Per edge, value = across * x + down * y + offset: positive inside, exact on the snapped grid.
    across, down, offset, owned = [], [], [], []
    for start, end in ((first, second), (second, third), (third, first)):
        run, rise = end.real - start.real, end.imag - start.imag
        across.append(-rise)
        down.append(run)
        offset.append(rise * start.real - run * start.imag)
        owned.append((rise < 0) | ((rise == 0) & (run > 0)))
    across, down, offset, owned = (np.stack(rows, axis=1) for rows in (across, down, offset, owned))
    real, imag = np.stack([first.real, second.real, third.real]), np.stack([first.imag, second.imag, third.imag])
    low_x = np.clip(np.floor(real.min(axis=0)).astype(int), 0, width)  # a sample lies in [pixel, pixel + 1)
    high_x = np.clip(np.floor(real.max(axis=0)).astype(int) + 1, 0, width)
    low_y = np.clip(np.floor(imag.min(axis=0)).astype(int), 0, height)
    high_y = np.clip(np.floor(imag.max(axis=0)).astype(int) + 1, 0, height)
    drawn = (doubled_area != 0) & (high_x > low_x) & (high_y > low_y)
    reach = np.maximum(high_x - low_x, high_y - low_y)
    flat_index = np.arange(xs.size).reshape(xs.shape)
    for window in (4, 8, 16):  # windows of these sides, clamped inside the picture
        window = min(window, width, height)
        chosen = np.nonzero(drawn & (reach <= window))[0]
        drawn[chosen] = False
        for batch in np.array_split(chosen, max(1, len(chosen) // 400)):
            if len(batch) == 0:
                continue
            top = np.minimum(low_y[batch], height - window)[:, None] + np.arange(window)
            left = np.minimum(low_x[batch], width - window)[:, None] + np.arange(window)
            rows, columns = top[:, :, None], left[:, None, :]
            px, py, where = xs[rows, columns], ys[rows, columns], flat_index[rows, columns]
            inside = np.ones(px.shape, dtype=bool)
            for edge in range(3):
                value = (across[batch, edge, None, None, None] * px + down[batch, edge, None, None, None] * py
                         + offset[batch, edge, None, None, None])  # fmt: skip
                mine = owned[batch, edge, None, None, None]
                inside &= (value > 0) | (mine & (value == 0))
            counts += np.bincount(where[inside], minlength=xs.size).astype(np.int32)
    counts = counts.reshape(xs.shape)
    for k in np.nonzero(drawn)[0]:  # the large ones, one at a time over their bounding boxes
        box = (slice(low_y[k], high_y[k]), slice(low_x[k], high_x[k]))
        px, py = xs[box], ys[box]
        inside = np.ones(px.shape, dtype=bool)
        for edge in range(3):
            value = across[k, edge] * px + down[k, edge] * py + offset[k, edge]
            inside &= (value >= 0) if owned[k, edge] else (value > 0)
        counts[box] += inside
    return counts.astype(np.int16)


def _coverage(triangles: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """The share of each pixel's samples that any triangle covers: overlaps (a cross's middle) count once."""
    return (_rasterise(triangles, xs, ys) > 0).mean(axis=-1)


def _fan(middle: complex | np.ndarray, loop: np.ndarray) -> np.ndarray:
    """Triangles from a middle point to each side of a closed loop, which a convex or star-shaped loop fills; with
    a row of middles and one loop per row, a fan for each."""
    loops = np.atleast_2d(loop)
    middles = np.broadcast_to(np.reshape(middle, (-1, 1)), loops.shape)
    return np.stack([middles, loops, np.roll(loops, -1, axis=1)], axis=-1).reshape(-1, 3)


def _strip(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Two triangles per quad between matching corners of two loops: a band with nothing inside the inner loop (loops
    run down the first axis; further columns are further bands)."""
    outer_next, inner_next = np.roll(outer, -1, axis=0), np.roll(inner, -1, axis=0)
    return np.concatenate(
        [np.stack([outer, outer_next, inner_next], axis=-1), np.stack([outer, inner_next, inner], axis=-1)]
    )


def _quads(quads: np.ndarray) -> np.ndarray:
    """Each quad (n x 4 corners in order) as two triangles that share its diagonal."""
    return np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])


def _line(points: np.ndarray, width: float, closed: bool = True) -> np.ndarray:
    """A line of ``width`` through the points: a quad along each segment, a triangle filling each bend's outer
    side, and a round fan where the path turns sharply or ends, so corners and ends come out round."""
    points = np.asarray(points, dtype=complex)
    starts = points if closed else points[:-1]
    ends = np.roll(points, -1) if closed else points[1:]
    keep = np.abs(ends - starts) > 1e-9
    starts, ends = starts[keep], ends[keep]
    heading = (ends - starts) / np.abs(ends - starts)
    side = heading * 1j * (width / 2)
    pieces = [_quads(np.stack([starts - side, ends - side, ends + side, starts + side], axis=1))]
    arriving, leaving = (np.roll(side, 1), side) if closed else (side[:-1], side[1:])
    joints = starts if closed else starts[1:]
    for sign in (1, -1):  # both sides of each bend; the inner one only overlaps the quads
        pieces.append(np.stack([joints, joints + sign * arriving, joints + sign * leaving], axis=1))
    bend = np.abs(np.angle(leaving / arriving))
    rounded = list(joints[bend > math.radians(20)]) + ([] if closed else [points[0], points[-1]])
    corners = max(8, int(math.ceil(width * 1.5)))
    rim = np.exp(2j * math.pi * np.arange(corners) / corners) * (width / 2)
    rounded = np.asarray(rounded, dtype=complex)
    pieces.append(_fan(rounded, rounded[:, None] + rim[None, :]))
    return np.concatenate(pieces)


def _bars(ends: np.ndarray, width: float) -> np.ndarray:
    """Straight bars of ``width`` without caps between the two ends in each row: a staff's lines, its stems."""
    across = (ends[:, 1] - ends[:, 0]) / np.abs(ends[:, 1] - ends[:, 0]) * 0.5j * width
    return _quads(np.stack([ends[:, 0] - across, ends[:, 1] - across, ends[:, 1] + across, ends[:, 0] + across], 1))


def _field(rng: np.random.Generator, side: int, tall: float, wide: float | None = None) -> np.ndarray:
    """White noise blurred in frequency space by a Gaussian ``tall`` px high and ``wide`` px wide (wrapping round
    the picture), scaled to mean 0 and standard deviation 1, so thresholds mean the same at any blur."""
    wide = tall if wide is None else wide
    spectrum = np.fft.rfft2(rng.standard_normal((side, side)))
    down, across = np.fft.fftfreq(side)[:, None], np.fft.rfftfreq(side)[None, :]
    spectrum *= np.exp(-2 * math.pi**2 * ((down * tall) ** 2 + (across * wide) ** 2))
    field = np.fft.irfft2(spectrum, s=(side, side))
    return (field - field.mean()) / (field.std() + 1e-12)


def _hue(hue: np.ndarray | float) -> np.ndarray:
    """Fully saturated colours (0-1 per channel, brightest channel 1) at hues in turns."""
    hue = np.asarray(hue, dtype=np.float64)[..., None]
    return np.clip(np.abs((hue * 6 + np.array([0.0, 4.0, 2.0])) % 6 - 3) - 1, 0, 1)


def _at_lightness(colour: np.ndarray, lightness: float) -> np.ndarray:
    """A 0-1 colour darkened, or mixed with white, until its Rec. 709 luma is ``lightness`` (0-255)."""
    own = float(colour @ _LUMA) * 255
    if lightness <= own:
        return colour * 255 * lightness / max(own, 1e-6)
    share = (lightness - own) / max(255 - own, 1e-6)
    return 255 * (colour + share * (1 - colour))


def _ink_for(rng: np.random.Generator, around: np.ndarray, saturation: tuple[float, float] = (0.5, 1.0)) -> np.ndarray:
    """Of eight hues, each dark, middling and light, the ink that stands clear of the most pixels around the shape,
    lightness differences counted twice over hue's, so that dark spots or pale paper do not swallow it."""
    hues = 1 - rng.uniform(*saturation, (8, 1)) * (1 - _hue(rng.random(8)))
    levels = (rng.uniform(20, 60), rng.uniform(85, 140), rng.uniform(190, 235))
    candidates = np.array([_at_lightness(hue, level) for hue in hues for level in levels])
    sample = around[rng.integers(0, len(around), min(len(around), 400))]

    def split(colours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lightness = colours @ _LUMA
        return lightness, colours - lightness[..., None]

    ink_light, ink_hue = split(candidates)
    seen_light, seen_hue = split(sample)
    distance = np.hypot(
        2 * (ink_light[:, None] - seen_light[None]), np.linalg.norm(ink_hue[:, None] - seen_hue[None], axis=-1)
    )
    score = (distance > 90).mean(axis=1) + 1e-4 * distance.mean(axis=1)
    return candidates[int(np.argmax(score))]


def _surface(rng: np.random.Generator, kind: str, side: int, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """A side x side x 3 float picture of one of ``SURFACES8``; ``xs`` and ``ys`` are the rasteriser's samples."""
    py, px = np.indices((side, side), dtype=np.float64) + 0.5
    if kind == "honeycomb":  # hexagonal wax cells, some capped, the open ones dark and deep in the middle
        corner = rng.uniform(4.0, 6.0)  # centre to corner, px
        turn = rng.uniform(0, math.pi / 3)
        u = px * math.cos(turn) + py * math.sin(turn)
        v = -px * math.sin(turn) + py * math.cos(turn)
        q, r = (2 / 3) * u / corner, (-u / 3 + math.sqrt(3) / 3 * v) / corner
        cube = np.stack([q, -q - r, r])
        nearest = np.round(cube)
        error = np.abs(nearest - cube)
        worst = np.argmax(error, axis=0)
        for axis in range(3):  # the coordinate rounded furthest is set by the other two, so the three sum to 0
            others = nearest.sum(axis=0) - nearest[axis]
            nearest[axis] = np.where(worst == axis, -others, nearest[axis])
        du = u - corner * 1.5 * nearest[0]
        dv = v - corner * math.sqrt(3) * (nearest[2] + nearest[0] / 2)
        apothem = corner * math.sqrt(3) / 2
        half = math.sqrt(3) / 2
        depth = np.maximum(np.abs(dv), np.maximum(np.abs(half * du + dv / 2), np.abs(half * du - dv / 2))) / apothem
        table = rng.random((3, 61, 61))
        cell = (nearest[0].astype(int) % 61, nearest[2].astype(int) % 61)
        wax = np.array([rng.uniform(215, 250), rng.uniform(180, 215), rng.uniform(80, 130)])
        honey = np.array([rng.uniform(150, 210), rng.uniform(80, 120), rng.uniform(10, 40)]) * rng.uniform(0.6, 1.0)
        capped = (table[0][cell] < rng.uniform(0.2, 0.7))[..., None]
        deep = honey * (0.45 + 0.55 * depth**2)[..., None] * (0.85 + 0.3 * table[1][cell])[..., None]
        cap = wax * (0.88 + 0.1 * table[2][cell])[..., None] * (1.02 - 0.12 * depth**2)[..., None]
        picture = np.where(capped, cap, deep)
        wall = np.clip((depth - (1 - 1.0 / apothem)) * apothem, 0, 1)[..., None]
        return picture * (1 - wall) + wax * 1.05 * wall
    if kind == "leopard":  # rosettes of broken dark arcs round a deeper tan, on a buff coat with fine hairs
        coat = np.array([rng.uniform(185, 230), rng.uniform(135, 175), rng.uniform(55, 100)])
        pitch = rng.uniform(11, 15)
        count = int(side / pitch) + 3
        grid = (np.stack(np.meshgrid(np.arange(count), np.arange(count)), axis=-1).reshape(-1, 2) - 1.0) * pitch
        grid[:, 0] += (np.arange(len(grid)) // count % 2) * pitch / 2
        centres = grid + rng.uniform(-0.3, 0.3, grid.shape) * pitch
        splats = np.zeros((side, side))
        middles = np.zeros((side, side))
        for cx, cy in centres:
            radius = rng.uniform(2.6, 4.0)
            arcs = int(rng.integers(3, 6))
            start = rng.uniform(0, 2 * math.pi)
            for arc in range(arcs):
                for step in np.linspace(0, rng.uniform(0.5, 1.1), 3):  # a short arc of three splats
                    angle = start + 2 * math.pi * arc / arcs + step
                    x, y = int(cx + radius * math.cos(angle)), int(cy + radius * math.sin(angle))
                    if 0 <= x < side and 0 <= y < side:
                        splats[y, x] += rng.uniform(0.7, 1.3)
            if 0 <= int(cx) < side and 0 <= int(cy) < side:
                middles[int(cy), int(cx)] = 1.0
        for x, y in rng.uniform(0, side, (int(rng.integers(20, 60)), 2)).astype(int):
            splats[y, x] += rng.uniform(0.8, 1.6)  # small solid spots between the rosettes
        spots = ndimage.gaussian_filter(splats, 0.9)
        spot = np.clip((spots - 0.06) / 0.04, 0, 1)[..., None]
        tan = np.clip(ndimage.gaussian_filter(middles, 2.2) * 2 * math.pi * 2.2**2 * 1.4, 0, 1)[..., None]
        hair = 1 + 0.06 * _field(rng, side, 2.5, 0.4)[..., None] + 0.05 * _field(rng, side, 25)[..., None]
        picture = (coat * (1 - 0.28 * tan) + np.array([0.0, -12, -10]) * tan) * hair
        return picture * (1 - spot) + np.array([35.0, 26, 18]) * rng.uniform(0.7, 1.3) * spot
    if kind == "tweed":  # herringbone twill: columns of diagonal ribs, each the mirror of the last, with flecks
        column = rng.uniform(6, 10)
        period = rng.uniform(2.4, 3.4)
        index = np.floor(px / column)
        local = px - index * column
        slope = np.where(index % 2 == 0, 1.0, -1.0)
        rib = (0.5 + 0.5 * np.cos(2 * math.pi * (py + slope * local) / period)) ** 1.5
        rib = rib * np.clip(local * 1.5, 0.4, 1)  # a darker break where the ribs change direction
        dark, light = rng.uniform(40, 110, 3), rng.uniform(110, 200, 3)
        heather = 1 + 0.12 * _field(rng, side, 0.6)[..., None] + 0.06 * rng.standard_normal((side, side, 3))
        picture = (dark + (light - dark) * rib[..., None]) * heather
        flecks = []
        for x, y in rng.uniform(0, side, (int(rng.integers(60, 140)), 2)):
            direction = np.exp(1j * rng.uniform(0, math.pi)) * rng.uniform(1.0, 2.2)
            flecks.append(_line(np.array([complex(x, y) - direction, complex(x, y) + direction]), 0.8, closed=False))
        fleck = _coverage(np.concatenate(flecks), xs, ys)[..., None]
        colour = _hue(rng.random()) * 255 * rng.uniform(0.7, 1.0)
        return picture * (1 - fleck) + colour * fleck
    if kind == "bark":  # long vertical plates split by dark furrows, lit from one side, with lichen specks
        ridges = _field(rng, side, rng.uniform(9, 16), rng.uniform(1.2, 2.0))
        edge = rng.uniform(-0.6, -0.15)
        plate = np.clip((ridges - edge) / 0.5, 0, 1)
        light = np.clip(np.gradient(ridges, axis=1) * rng.choice([-1.0, 1.0]) * 2.5, -0.35, 0.35)
        red = rng.uniform(95, 160)
        base = np.array([red, red * rng.uniform(0.72, 0.9), red * rng.uniform(0.5, 0.72)])
        picture = base * ((0.35 + 0.65 * plate) * (1 + light) * (1 + 0.08 * _field(rng, side, 0.7)))[..., None]
        cracks = np.clip((-_field(rng, side, 0.6, 4.0) - 2.2) / 0.4, 0, 1)[..., None]
        lichen = np.clip((_field(rng, side, 1.2) - 1.9) / 0.3, 0, 1) * (_field(rng, side, 30) > 0)
        picture = picture * (1 - 0.6 * cracks)
        return picture * (1 - lichen[..., None]) + np.array([170.0, 185, 150]) * lichen[..., None]
    if kind == "sheet music":  # staves of five lines, note heads with stems, bar lines, on cream paper
        paper = np.array([rng.uniform(235, 252), rng.uniform(228, 245), rng.uniform(200, 232)])
        picture = paper * (1 + 0.025 * _field(rng, side, 30))[..., None]
        spacing = rng.uniform(2.3, 3.1)
        gap = rng.uniform(2.8, 4.5) * spacing
        tilt = rng.uniform(-0.02, 0.02)
        lines, bars, heads, hollow, stems = [], [], [], [], []
        top = rng.uniform(-4 * spacing, gap)
        while top < side:
            lines += [top + line * spacing for line in range(5)]
            x = rng.uniform(2, 12)
            while x < side:
                if rng.random() < 0.12:  # a bar line through the staff
                    bars.append(complex(x, top + tilt * x))
                    x += rng.uniform(4, 7)
                    continue
                step = int(rng.integers(-2, 11))
                middle = complex(x, top + step * spacing / 2 + tilt * x)
                (heads if rng.random() < 0.7 else hollow).append(middle)
                up = step >= 4  # low notes' stems rise on the right, high notes' fall on the left
                root = middle + (0.55 if up else -0.55) * spacing
                stems.append([root, root + (-3.3j if up else 3.3j) * spacing])
                x += rng.uniform(5, 13)
            top += 4 * spacing + gap
        rows = np.array(lines)
        staff = np.stack([complex(-2, 0) + 1j * (rows - 2 * tilt), complex(side + 2, 0) + 1j * (rows + tilt * side)], 1)
        bar_ends = np.array(bars, dtype=complex).reshape(-1, 1) + np.array([0, 4j * spacing])
        head = np.exp(2j * math.pi * np.arange(8) / 8)
        head = (head.real * 0.62 + 1j * head.imag * 0.44) * spacing * np.exp(-0.35j)
        heads, hollow = np.array(heads, dtype=complex), np.array(hollow, dtype=complex)
        outer, inner = hollow[:, None] + head, hollow[:, None] + 0.55 * head
        marks = [
            _bars(staff, 0.7),
            _bars(bar_ends, 0.8),
            _bars(np.array(stems, dtype=complex).reshape(-1, 2), 0.6),
            _fan(heads, heads[:, None] + head),
            _strip(outer.T, inner.T).reshape(-1, 3),
        ]
        ink = _coverage(np.concatenate(marks), xs, ys)[..., None]
        return picture * (1 - ink) + rng.uniform(15, 50) * ink
    # rust: a painted sheet whose paint has lifted in small blisters, rust in them, stains running down
    paint = _at_lightness(1 - rng.uniform(0.3, 0.8) * (1 - _hue(rng.random())), rng.uniform(70, 200))
    sheen = 1 + 0.05 * _field(rng, side, 40) + 0.03 * _field(rng, side, 0.8, 5.0)
    picture = paint * sheen[..., None]
    spots = _field(rng, side, rng.uniform(1.2, 2.0)) + 0.5 * _field(rng, side, 30)
    threshold = rng.uniform(1.5, 2.0)
    rusty = np.clip((spots - threshold) / 0.3, 0, 1)
    lifted = np.clip((spots - threshold + 0.3) / 0.3, 0, 1) - rusty
    stain = ndimage.convolve1d(rusty, np.exp(-np.arange(30) / rng.uniform(6, 14)), axis=0, origin=-14)
    stain = np.clip(stain * 0.12, 0, 0.45) * (1 + 0.3 * _field(rng, side, 0.6, 3.0))
    rust = np.array([rng.uniform(130, 175), rng.uniform(55, 85), rng.uniform(20, 40)])
    grain = (1 + 0.25 * _field(rng, side, 0.6))[..., None]
    picture = picture * (1 - stain[..., None]) + rust * stain[..., None]
    picture = picture * (1 - 0.1 * lifted[..., None]) + 255 * 0.1 * lifted[..., None]
    return picture * (1 - rusty[..., None]) + rust * grain * rusty[..., None]


def _shape(name: str, rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray], float]:
    """One class around 0 as (its triangle mesh, its outline loops, a ring's inner radius), in complex corners."""

    def loop(count: int, radii: list[float], turn: float) -> np.ndarray:
        angles = turn + 2 * math.pi * np.arange(count) / count
        return np.resize(np.asarray(radii, dtype=np.float64), count) * np.exp(1j * angles)

    if name == "circle":
        rim = loop(128, [1.0], 0.0)
        return _fan(0j, rim), [rim], 0.0
    if name == "ring":
        rim, inner = loop(128, [1.0], 0.0), rng.uniform(0.5, 0.72)
        return _strip(rim, rim * inner), [rim, rim * inner], inner
    if name == "square":
        corners = loop(4, [math.sqrt(2)], math.pi / 4)
        return _quads(corners[None]), [corners], 0.0
    if name == "triangle":
        corners = loop(3, [1.0], -math.pi / 2)
        return corners[None], [corners], 0.0
    if name == "star":
        corners = loop(10, [1.0, rng.uniform(0.38, 0.5)], -math.pi / 2)
        return _fan(0j, corners), [corners], 0.0
    half = rng.uniform(0.28, 0.4)  # a cross: two bars laid over each other, outlined as one loop of twelve corners
    bar = np.array([complex(-1, -half), complex(1, -half), complex(1, half), complex(-1, half)])
    arm = np.array([complex(1, -half), complex(1, half), complex(half, half)])
    outline = np.concatenate([arm * 1j**quarter for quarter in range(4)])
    return _quads(np.stack([bar, bar * 1j])), [outline], 0.0


def _resampled(loop: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Points every ``spacing`` px of arc round a closed loop, and the loop's direction there."""
    ends = np.roll(loop, -1)
    lengths = np.abs(ends - loop)
    travelled = np.concatenate([[0.0], np.cumsum(lengths)])
    count = max(3, int(travelled[-1] / spacing))
    where = np.arange(count) * travelled[-1] / count
    piece = np.clip(np.searchsorted(travelled, where, side="right") - 1, 0, len(loop) - 1)
    share = (where - travelled[piece]) / np.maximum(lengths[piece], 1e-12)
    heading = (ends[piece] - loop[piece]) / np.maximum(lengths[piece], 1e-12)
    return loop[piece] + share * (ends[piece] - loop[piece]), heading


def _washed(rng: np.random.Generator, region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Watercolour: an uneven, granulating wash whose pigment gathers into a darker rim where it dried; gives (how
    much pigment, how much of it is the rim's)."""
    side = region.shape[0]
    rim = np.clip(region - ndimage.gaussian_filter(region, rng.uniform(1.5, 2.5)), 0, 1) * 2
    blooms, granules = _field(rng, side, rng.uniform(5, 10)), _field(rng, side, 0.7)
    return region * np.clip(0.72 + 0.08 * blooms + 0.06 * granules + 0.4 * rim, 0, 0.98), np.clip(rim, 0, 1)


def _pastel(rng: np.random.Generator, region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Oil pastel: parallel waxy strokes, each its own pressure, skipping where the paper's tooth stands up; gives
    (how much wax, how much lighter or darker than the stick's colour)."""
    side = region.shape[0]
    py, px = np.indices((side, side), dtype=np.float64)
    turn = rng.uniform(0, math.pi)
    across = (-px * math.sin(turn) + py * math.cos(turn)) / rng.uniform(2.5, 4.5)
    pressure = rng.uniform(0.8, 1.0, int(across.max() - across.min()) + 3)[(across - across.min()).astype(int)]
    tooth = _field(rng, side, 0.6)
    wax = region * np.where(tooth > rng.uniform(0.9, 1.4), 0.3, 1.0) * pressure
    return np.clip(wax, 0, 1), (pressure - 0.9) * 1.5 + 0.04 * tooth


def _mosaic(rng: np.random.Generator, region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tesserae on a turned grid, each its own shade, with grout between them; gives (tile or grout, tile shade)."""
    side = region.shape[0]
    py, px = np.indices((side, side), dtype=np.float64) + 0.5
    turn, pitch, grout = rng.uniform(0, math.pi / 2), rng.uniform(3.5, 5.0), rng.uniform(0.6, 0.9)
    u = (px * math.cos(turn) + py * math.sin(turn)) / pitch
    v = (-px * math.sin(turn) + py * math.cos(turn)) / pitch
    tile = np.minimum(np.minimum(u % 1, 1 - u % 1), np.minimum(v % 1, 1 - v % 1)) * pitch
    tile = np.clip(tile * 2 - grout + 0.5, 0, 1)
    shades = rng.uniform(-0.25, 0.25, (97, 97))
    return tile, shades[np.floor(u).astype(int) % 97, np.floor(v).astype(int) % 97]


def _paint(
    rng: np.random.Generator,
    picture: np.ndarray,
    style: str,
    triangles: np.ndarray,
    loops: list[np.ndarray],
    samples: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """A filled style's paint over the picture, and the shape's coverage (its mask before the camera)."""
    region = _coverage(triangles, *samples)
    near = ndimage.binary_dilation(region > 0.5, iterations=5)
    ink = _ink_for(rng, picture[near])
    if style == "watercolour":
        amount, rim = _washed(rng, region)
        pigment = ink * (1 - 0.35 * rim[..., None])
        return picture * (1 - amount[..., None]) + pigment * amount[..., None], region
    if style == "oil pastel":
        wax, shade = _pastel(rng, region)
        stick = np.clip(ink * (1 + shade[..., None]), 0, 255)
        return picture * (1 - wax[..., None]) + stick * wax[..., None], region
    if style == "mosaic":
        tile, shade = _mosaic(rng, region)
        grout = np.clip(ink * 0.55 + (110.0 if float(ink @ _LUMA) > 128 else 150.0) * 0.45, 0, 255)
        stone = np.clip(ink * (1 + shade[..., None]), 0, 255)
        paint = stone * tile[..., None] + grout * (1 - tile[..., None])
        return picture * (1 - region[..., None]) + paint * region[..., None], region
    # enamel: a glossy fill in a metal rim, a highlight across it
    scale = max(np.ptp(loops[0].real), np.ptp(loops[0].imag))
    rim_width = max(1.6, rng.uniform(0.03, 0.05) * scale)
    rim = np.minimum(region, _coverage(np.concatenate([_line(loop, 2 * rim_width) for loop in loops]), *samples))
    side = region.shape[0]
    py, px = np.indices((side, side), dtype=np.float64)
    turn = rng.uniform(0, 2 * math.pi)
    along = px * math.cos(turn) + py * math.sin(turn)
    middle = float((along * region).sum() / max(region.sum(), 1e-6))
    gloss = np.exp(-(((along - middle - rng.uniform(-0.25, 0.25) * scale) / (0.08 * scale)) ** 2)) * 0.45
    metal = np.array([230.0, 190, 80]) if rng.random() < 0.5 else np.array([215.0, 215, 225])
    polish = metal * (0.7 + 0.3 * np.cos((along - middle) / scale * 6))[..., None]
    fill = ink + (255 - ink) * gloss[..., None]
    face = fill * (1 - rim[..., None]) + polish * rim[..., None]
    return picture * (1 - region[..., None]) + face * region[..., None], region


def _draw_along(
    rng: np.random.Generator,
    picture: np.ndarray,
    style: str,
    path: np.ndarray,
    width: float,
    ring: bool,
    samples: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """A style drawn along the path (a ring's along the middle of its band) over the picture, and the line's
    coverage (its mask before the camera)."""
    line = _coverage(_line(path, width), *samples)
    near = ndimage.binary_dilation(line > 0.5, iterations=5)
    if style == "neon":  # a glass tube lit from inside: a white-hot core, a vivid body, a glow dimming the surface
        ink = _ink_for(rng, picture[near], saturation=(0.95, 1.0))
        ink = 255 * ink / max(float(ink.max()), 1e-6)  # lit: the brightest its hue can be
        core = _coverage(_line(path, max(0.8, min(0.35 * width, 2.5))), *samples)[..., None]  # a band stays one
        glow = ndimage.gaussian_filter(line, 0.6 + 0.2 * width)  # narrow, so a circle's tube stays a thin loop
        glow = (np.clip(1.5 * glow / max(float(glow.max()), 1e-6), 0, 1) * (1 - line))[..., None]
        lit = picture * (1 - 0.4 * glow) + ink * 0.25 * glow
        tube = ink + (255 - ink) * 0.65 * core
        return lit * (1 - line[..., None]) + tube * line[..., None], line
    # embroidery: backstitches along the line, or a ring's band in satin stitches across it; thread and holes
    ink = _ink_for(rng, picture[near])
    if ring:  # satin: short slanted stitches side by side across the band
        points, heading = _resampled(path, 1.3)
        across = heading * 1j * np.exp(1j * rng.uniform(-0.35, 0.35)) * (width / 2)
        stitch = heading * 0.55
        ends = np.stack([points - across - stitch, points + across - stitch,
                         points + across + stitch, points - across + stitch], axis=1)  # fmt: skip
        holes = np.zeros(0, dtype=complex)
    else:
        points, heading = _resampled(path, rng.uniform(4.0, 6.5))
        following = np.roll(points, -1)
        step = (following - points) / np.maximum(np.abs(following - points), 1e-9) * 1j * (width / 2)
        ends = np.stack([points - step, following - step, following + step, points + step], axis=1)
        holes = points
    odd = _coverage(_quads(ends[1::2]), *samples)
    dimples = _coverage(_fan(holes, holes[:, None] + 0.3 * width * np.exp(2j * math.pi * np.arange(8) / 8)), *samples)
    thread = ink * (1 - 0.22 * odd[..., None]) * (1 - 0.45 * dimples[..., None])
    shadow = ndimage.shift(line, (0.8, 0.8), order=1) * (1 - line)
    shaded = picture * (1 - 0.35 * shadow[..., None])
    return shaded * (1 - line[..., None]) + thread * line[..., None], line


def _bilateral(image: np.ndarray, spatial: float, tonal: float, reach: int = 2) -> np.ndarray:
    """A beauty filter's smoothing: each pixel the mean of its neighbours within ``reach`` px, weighted by distance
    and by how close their brightness is to its own, so noise and fine texture fade while edges stay."""
    height, width, _ = image.shape
    brightness = image @ _LUMA
    padded = np.pad(image, ((reach, reach), (reach, reach), (0, 0)), mode="reflect")
    padded_brightness = np.pad(brightness, reach, mode="reflect")
    total, weights = np.zeros_like(image), np.zeros_like(brightness)
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            window = (slice(reach + dy, reach + dy + height), slice(reach + dx, reach + dx + width))
            weight = np.exp(-(dx * dx + dy * dy) / (2 * spatial**2)) * np.exp(
                -(((padded_brightness[window] - brightness) / tonal) ** 2) / 2
            )
            total += padded[window] * weight[..., None]
            weights += weight
    return total / weights[..., None]


def _encoded(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """The picture (uint8) through Pillow's WebP at a low quality or a JPEG with coarse quantisation tables that
    grow towards high frequencies, and decoded again."""
    buffer = io.BytesIO()
    if rng.random() < 0.6:
        Image.fromarray(image).save(buffer, "WEBP", quality=int(rng.integers(20, 76)), method=4)
    else:
        frequency = np.add.outer(np.arange(8), np.arange(8))
        luma = np.clip(np.round(rng.uniform(5, 14) + rng.uniform(2.5, 7) * frequency), 1, 255).astype(int)
        chroma = np.clip(luma * 2, 1, 255)
        Image.fromarray(image).save(buffer, "JPEG", qtables=[luma.ravel().tolist(), chroma.ravel().tolist()],
                                    subsampling=2)  # fmt: skip
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"))


def _phone(
    rng: np.random.Generator, picture: np.ndarray, extent: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """The picture and the object's extent as a phone's camera gives them, at ``size`` px."""
    side = picture.shape[0]
    py, px = np.indices((side, side), dtype=np.float64) + 0.5
    linear = (np.clip(picture, 0, 255) / 255.0) ** 2.2
    source = complex(side / 2, side / 2) + side * rng.uniform(0.7, 0.9) * np.exp(1j * rng.uniform(0, 2 * math.pi))
    distance = np.abs(px + 1j * py - source) / side  # a light just outside the frame veils the side nearest it
    veil = rng.uniform(0.01, 0.07) * np.exp(-distance / rng.uniform(0.3, 0.6)) + rng.uniform(0.0, 0.015)
    streak = np.exp(-(((py - source.imag) / rng.uniform(0.8, 1.6)) ** 2)) * np.exp(-distance * 2) * rng.uniform(0, 0.06)
    light = np.array([1.0, rng.uniform(0.85, 1.0), rng.uniform(0.6, 0.95)])
    linear = linear + (veil + streak)[..., None] * light
    period = rng.uniform(25, 70)  # rows read out while mains-lit lamps brighten and dim
    flicker = 1 + rng.uniform(0.015, 0.05) * np.sin(2 * math.pi * py / period + rng.uniform(0, 2 * math.pi))
    linear = linear * flicker[..., None]
    well, read = rng.uniform(800, 4000), rng.uniform(0.002, 0.006)
    linear = linear + rng.standard_normal(linear.shape) * np.sqrt(np.clip(linear, 0, None) / well + read**2)
    brightness = np.log(np.clip(linear @ _LUMA, 1e-4, None))  # local tone mapping: squeeze the base, keep detail
    base = ndimage.gaussian_filter(brightness, side / rng.uniform(8, 14), mode="nearest")
    middle = float(np.median(base))  # metered halfway between the scene's own middle grey and a fixed one
    mapped = rng.uniform(0.5, 0.8) * (base - middle) + rng.uniform(1.0, 1.3) * (brightness - base)
    key = 0.5 * middle + 0.5 * math.log(rng.uniform(0.28, 0.45))
    toned = np.clip(linear, 0, None) * np.exp(mapped + key - brightness)[..., None]
    white = rng.uniform(1.6, 3.0)  # a soft shoulder on each pixel's brightest channel: this value reaches white
    peak = np.maximum(toned.max(axis=-1, keepdims=True), 1e-6)
    toned = toned * (1 + peak / white**2) / (1 + peak)
    shown = np.clip(toned, 0, 1) ** (1 / 2.2)
    shown = _bilateral(shown, rng.uniform(1.0, 1.8), rng.uniform(0.04, 0.1))
    radius = rng.uniform(0.8, 1.6)
    shown = shown + rng.uniform(0.5, 1.4) * (shown - ndimage.gaussian_filter(shown, (radius, radius, 0)))
    image = np.round(np.clip(shown, 0, 1) * 255).astype(np.uint8)
    if size != side:
        image = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.LANCZOS))
        extent = np.asarray(
            Image.fromarray(extent.astype(np.float32), mode="F").resize((size, size), Image.Resampling.BOX)
        )
    return _encoded(rng, image), extent >= 0.5


def render_sealed8_scene(rng: np.random.Generator, size: int) -> SealedScene:
    """One picture; the first draws are the label, the surface and the size band, in that order."""
    label, surface, (band, low, high) = first_draws(rng, SURFACES8)
    style = STYLES8[int(rng.integers(len(STYLES8)))]
    name = SHAPE_CLASSES[label]
    side = _NATIVE
    samples = _samples(rng, side)
    picture = _surface(rng, surface, side, *samples)
    triangles, loops, inner = _shape(name, rng)
    squash = math.sqrt(rng.uniform(0.95, 1.05) if name in ("circle", "ring") else rng.uniform(0.88, 1.14))
    spin = np.exp(1j * rng.uniform(0, 2 * math.pi))

    def posed(points: np.ndarray) -> np.ndarray:
        return (points.real * squash + 1j * points.imag / squash) * spin

    triangles, loops = posed(triangles), [posed(loop) for loop in loops]
    outer = loops[0]
    span = complex(np.ptp(outer.real), np.ptp(outer.imag))
    extent = rng.uniform(low, high) * side  # the drawn object's longer side, line and all
    radius = extent / 2
    along = style in _ALONG_OUTLINE
    width = 0.0  # the part of a line drawn along the outline that lies outside it, both sides together
    if along and name == "ring":  # one band inside the outer loop, by the rule of shapes_strokes
        band_width = max(thinnest_ring_band(radius, side), (1 - inner) * radius)
    elif along and name == "circle":  # measured on the line's middle, which lies within a tenth of the radius
        width = min(max(rng.uniform(0.04, 0.1) * radius, 1.5), thickest_circle_line(0.9 * radius, side))
    elif along:
        width = max(2.5, rng.uniform(0.05, 0.09) * extent)
    scale = (extent - width) / max(span.real, span.imag)  # pixels per unit
    half = span * scale / 2 + width / 2 * (1 + 1j)
    room = _MARGIN * side
    centre = complex(
        rng.uniform(room + half.real, side - room - half.real), rng.uniform(room + half.imag, side - room - half.imag)
    )
    middle = complex(outer.real.max() + outer.real.min(), outer.imag.max() + outer.imag.min()) / 2
    triangles, loops = (triangles - middle) * scale + centre, [(loop - middle) * scale + centre for loop in loops]
    if along and name == "ring":
        path = centre + (loops[0] - centre) * (1 - band_width / 2 / radius)
        picture, covered = _draw_along(rng, picture, style, path, band_width, True, samples)
    elif along:
        picture, covered = _draw_along(rng, picture, style, loops[0], width, False, samples)
    else:
        picture, covered = _paint(rng, picture, style, triangles, loops, samples)
    image, mask = _phone(rng, picture, covered, size)
    return SealedScene(image, mask, label, surface, band, style)


class ShapesSealed8Dataset(ShapesSealedDataset):
    """The eighth sealed set, deterministic per index; evaluation only, and run once per trained model."""

    SALT = _SALT
    SURFACE_KINDS = SURFACES8

    def render(self, rng: np.random.Generator, size: int) -> Any:
        return render_sealed8_scene(rng, size)
