"""The third sealed shapes renderer: the six classes drawn by matplotlib's Agg renderer on surfaces no other paints.

The training generator draws with PIL polygons, the held-out renderer with
signed distances, the first sealed renderer with matplotlib's point-in-path
test and the second with OpenCV; this one hands patches to matplotlib's Agg
rasteriser, which strokes them with real pen widths, joins and hatching; a
sketched shape is its outline flattened and wobbled by hand. Stars and polygons are matplotlib's own
unit paths, circles and rings its ellipse and annulus patches. Its surfaces
are cork, a chalkboard, terrazzo, gingham, water ripples and corrugated
cardboard. It exists because the first two sealed sets were read after their
one run: its figure in the model card is one run on a model chosen without it.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Annulus, Ellipse, Patch, PathPatch, Polygon
from matplotlib.path import Path as MplPath
from matplotlib.transforms import Affine2D
from PIL import Image, ImageFilter

from .shapes_scene import SHAPE_CLASSES
from .shapes_sealed import SealedScene, ShapesSealedDataset, first_draws

SURFACES3: tuple[str, ...] = ("cork", "chalkboard", "terrazzo", "gingham", "ripples", "cardboard")
STYLES3: tuple[str, ...] = ("filled", "stroked", "sketched", "gradient", "hatched", "edged")
_NATIVE = 192
_DPI = 96  # a 2-inch figure: one point is 96 / 72 pixels
_SALT = 90481

PatchMaker = Callable[..., Patch]


def _axes(side: int) -> tuple[Figure, Any]:
    """A figure whose one axes maps data coordinates to pixels, y down, with nothing drawn around it."""
    figure = Figure(figsize=(side / _DPI, side / _DPI), dpi=_DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, side)
    axes.set_ylim(side, 0)
    axes.set_axis_off()
    return figure, axes


def _pixels(figure: Figure) -> np.ndarray:
    """The figure rasterised by Agg, as an RGB float array."""
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba(), dtype=np.float32)[..., :3].copy()  # type: ignore[attr-defined]


def _points(pixels: float) -> float:
    """A pen width in pixels as matplotlib's points."""
    return pixels * 72.0 / _DPI


def _rgb(colour: np.ndarray) -> tuple[float, float, float]:
    r, g, b = (float(c) for c in np.clip(colour, 0, 255) / 255.0)
    return r, g, b


def _surface(rng: np.random.Generator, kind: str, side: int, axes: Any) -> None:
    """Paint one of ``SURFACES3`` onto the axes."""
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
    base = rng.uniform(50, 210, 3).astype(np.float32)
    extent = (0, side, side, 0)
    if kind == "cork":
        grain = rng.normal(0, 1, (side // 2, side // 2)).astype(np.float32)
        grain = np.kron(grain, np.ones((2, 2), np.float32))
        picture = base * (1 + 0.22 * grain[..., None])
        axes.imshow(np.clip(picture, 0, 255).astype(np.uint8), extent=extent, interpolation="bilinear")
        spots = rng.uniform(0, side, (int(rng.integers(60, 120)), 2))
        shade = [_rgb(base * rng.uniform(0.4, 0.7)) for _ in range(len(spots))]
        axes.scatter(spots[:, 0], spots[:, 1], s=rng.uniform(1, 8, len(spots)), c=shade, linewidths=0)
        return
    if kind == "chalkboard":
        board = rng.uniform(20, 70, 3).astype(np.float32) * np.array([0.8, 1.0, 0.85], np.float32)
        smudge = np.sin(xs / side * rng.uniform(2, 6) + rng.uniform(0, 6)) * np.cos(ys / side * rng.uniform(2, 6))
        axes.imshow(np.clip(board + 18 * smudge[..., None], 0, 255).astype(np.uint8), extent=extent)
        for _ in range(int(rng.integers(4, 9))):  # half-wiped chalk writing
            start = rng.uniform(0, side, 2)
            steps = np.cumsum(rng.normal(0, 5, (24, 2)) + rng.normal(0, 3, 2), axis=0) + start
            axes.plot(
                steps[:, 0],
                steps[:, 1],
                color=(0.92, 0.92, 0.88),
                alpha=float(rng.uniform(0.15, 0.45)),
                linewidth=_points(float(rng.uniform(1.5, 4))),
                solid_capstyle="round",
            )
        return
    if kind == "terrazzo":
        axes.imshow(np.broadcast_to(base.astype(np.uint8), (side, side, 3)), extent=extent)
        for _ in range(int(rng.integers(70, 140))):
            centre = rng.uniform(-4, side + 4, 2)
            corners = int(rng.integers(4, 7))
            turns = np.sort(rng.uniform(0, 2 * math.pi, corners))
            radii = rng.uniform(1.5, 7, corners)
            chip = centre + np.stack([np.cos(turns) * radii, np.sin(turns) * radii], axis=1)
            axes.add_patch(Polygon(chip, closed=True, facecolor=_rgb(rng.uniform(0, 255, 3)), edgecolor="none"))
        return
    if kind == "gingham":
        period = float(rng.uniform(10, 26))
        tilt = float(rng.uniform(-0.3, 0.3))
        u, v = xs * math.cos(tilt) + ys * math.sin(tilt), -xs * math.sin(tilt) + ys * math.cos(tilt)
        across = ((u // (period / 2)) % 2 == 0).astype(np.float32)
        down = ((v // (period / 2)) % 2 == 0).astype(np.float32)
        weave = (across + down)[..., None] / 2
        white = np.array([245, 242, 236], np.float32)
        axes.imshow(np.clip(white * (1 - weave) + base * 0.8 * weave, 0, 255).astype(np.uint8), extent=extent)
        return
    if kind == "ripples":
        height = np.zeros((side, side), np.float32)
        for _ in range(int(rng.integers(2, 5))):
            source = rng.uniform(-side / 2, 1.5 * side, 2)
            distance = np.hypot(xs - source[0], ys - source[1])
            height += np.sin(distance / rng.uniform(3, 9) + rng.uniform(0, 6))
        water = np.array([rng.uniform(20, 90), rng.uniform(90, 170), rng.uniform(140, 230)], np.float32)
        glint = np.clip(height / 2.5, -1, 1)[..., None]
        axes.imshow(
            np.clip(water * (1 + 0.3 * glint), 0, 255).astype(np.uint8), extent=extent, interpolation="bilinear"
        )
        return
    brown = np.array([rng.uniform(150, 200), rng.uniform(110, 150), rng.uniform(60, 100)], np.float32)
    period = float(rng.uniform(5, 11))
    flutes = 0.5 + 0.5 * np.cos(2 * math.pi * (ys + 2 * np.sin(xs / side * 3)) / period)
    fibres = rng.normal(0, 9, (side, side, 1)).astype(np.float32)
    cardboard = brown * (0.8 + 0.25 * flutes[..., None]) + fibres
    axes.imshow(np.clip(cardboard, 0, 255).astype(np.uint8), extent=extent)


def _unit_path(name: str, rng: np.random.Generator) -> MplPath:
    """The polygonal classes as matplotlib unit paths: its regular polygons and star, and a cross outline."""
    if name == "square":
        return MplPath.unit_regular_polygon(4)
    if name == "triangle":
        return MplPath.unit_regular_polygon(3)
    if name == "star":
        return MplPath.unit_regular_star(5, float(rng.uniform(0.38, 0.5)))
    arm = float(rng.uniform(0.25, 0.38))
    quarter = [(arm, -1.0), (arm, -arm), (1.0, -arm)]
    outline = []
    for turn in range(4):
        c, s = math.cos(turn * math.pi / 2), math.sin(turn * math.pi / 2)
        outline += [(x * c - y * s, x * s + y * c) for x, y in quarter]
    return MplPath(np.array(outline + [outline[0]]), closed=True)


def _placed(name: str, rng: np.random.Generator, extent: float, side: int) -> PatchMaker:
    """A maker of fresh patches for the shape, its longer side ``extent`` pixels, anywhere inside the picture."""
    angle = float(rng.uniform(0, 360))
    if name in ("circle", "ring"):
        squash = float(rng.uniform(0.92, 1.0))
        centre = tuple(float(c) for c in rng.uniform(extent / 2 + 4, side - extent / 2 - 4, 2))
        if name == "circle":
            return lambda **style: Ellipse(centre, extent, extent * squash, angle=angle, **style)
        band = float(rng.uniform(0.3, 0.5)) * extent / 2
        radii = (extent / 2, extent / 2 * squash)
        return lambda **style: Annulus(centre, radii, band, angle=angle, **style)
    unit = _unit_path(name, rng)
    stretch = float(rng.uniform(0.85, 1.15))
    shaped = Affine2D().scale(math.sqrt(stretch), 1 / math.sqrt(stretch)).rotate_deg(angle)
    bounds = unit.transformed(shaped).get_extents()
    scale = extent / max(bounds.width, bounds.height)
    half = np.array([bounds.width, bounds.height]) * scale / 2
    centre = rng.uniform(half + 4, side - half - 4)
    middle = np.array([bounds.x0 + bounds.x1, bounds.y0 + bounds.y1]) / 2
    place = shaped + Affine2D().translate(-middle[0], -middle[1]).scale(scale).translate(*centre)
    path = unit.transformed(place)
    return lambda **style: PathPatch(path, **style)


def _wobbled(patch: Patch, hand: dict[str, Any]) -> MplPath:
    """The patch's outline flattened to polygons, each moved by a few smooth waves along its length, as a hand does."""
    outline = patch.get_path().transformed(patch.get_patch_transform())
    loops = []
    for polygon in outline.to_polygons(closed_only=True):
        steps = np.linalg.norm(np.diff(polygon, axis=0), axis=1)
        along = np.concatenate([[0.0], np.cumsum(steps)])
        even = np.linspace(0.0, along[-1], 240, endpoint=False)
        points = np.stack([np.interp(even, along, polygon[:, k]) for k in range(2)], axis=1)
        turn = 2 * math.pi * even / along[-1]
        for cycles, phase in zip((2, 3, 5), hand["phases"]):
            points = points + hand["wobble"] / 3 * np.sin(cycles * turn[:, None] + phase)
        loops.append(np.concatenate([points, points[:1]]))
    return MplPath.make_compound_path(*(MplPath(loop, closed=True) for loop in loops))


def _draw_shape(
    axes: Any,
    make: PatchMaker,
    style: str,
    pen: float,
    colours: tuple[np.ndarray, np.ndarray],
    hand: dict[str, Any],
    side: int,
    paint: bool,
) -> None:
    """Draw the shape in ``style``; with ``paint`` False, where it covers, in white, for the mask.

    ``hand`` holds the drawn choices both calls share (the wobble, the hatch), so mask and
    picture are one drawing.
    """
    first, second = (_rgb(c) for c in colours)
    if not paint:
        first = second = (1.0, 1.0, 1.0)
    pen_style = {"linewidth": _points(pen), "joinstyle": "round"}  # a round join adds half the pen, a miter more
    if style == "stroked":
        axes.add_patch(make(facecolor="none", edgecolor=first, **pen_style))
        return
    if style == "edged" or (style == "hatched" and not paint):  # a hatched shape covers its outline too
        axes.add_patch(make(facecolor=first, edgecolor=second, **pen_style))
        return
    if style == "sketched":
        axes.add_patch(PathPatch(_wobbled(make(), hand), facecolor=first, edgecolor=first, **pen_style))
        return
    if style == "hatched":
        axes.add_patch(make(facecolor="none", edgecolor=first, hatch=hand["hatch"], **pen_style))
        return
    if style == "gradient" and paint:
        clip = make(facecolor="none", edgecolor="none")
        axes.add_patch(clip)
        ramp = np.linspace(0, 1, side, dtype=np.float32)[:, None, None]
        fill = colours[0] * (1 - ramp) + colours[1] * ramp
        picture = axes.imshow(np.broadcast_to(fill, (side, side, 3)).astype(np.uint8), extent=(0, side, side, 0))
        picture.set_clip_path(clip)
        return
    axes.add_patch(make(facecolor=first, edgecolor="none"))


def _colour_apart(rng: np.random.Generator, around: np.ndarray) -> np.ndarray:
    """A colour at least 150 away (summed over RGB) from the surface around the shape, after at most 20 tries."""
    colour = rng.uniform(0, 255, 3)
    for _ in range(20):
        if np.abs(colour - around).sum() >= 150:
            break
        colour = rng.uniform(0, 255, 3)
    return colour


def render_sealed3_scene(rng: np.random.Generator, size: int) -> SealedScene:
    """One picture; the first draws are the label, the surface and the size band, in that order."""
    label, surface, (band, low, high) = first_draws(rng, SURFACES3)
    name = SHAPE_CLASSES[label]
    style = STYLES3[int(rng.integers(len(STYLES3)))]
    if name == "circle" and style == "stroked":
        style = "filled"  # an outlined circle is a ring
    side = _NATIVE
    figure, axes = _axes(side)
    _surface(rng, surface, side, axes)
    ground = _pixels(figure)
    extent = float(rng.uniform(low, high)) * side
    pen = max(2.5, float(rng.uniform(0.06, 0.12)) * extent)
    stroked = style in ("stroked", "edged", "sketched", "hatched")  # half the pen lies outside the path
    make = _placed(name, rng, extent - pen if stroked else extent, side)
    hand = {  # a sketch's wobble grows with the drawing, as a hand's does
        "wobble": max(0.5, float(rng.uniform(0.02, 0.04)) * extent),
        "phases": rng.uniform(0, 2 * math.pi, (3, 2)),
        "hatch": str(rng.choice(["///", "\\\\\\", "xx", "++", "..."])),
    }
    mask_figure, mask_axes = _axes(side)
    mask_figure.set_facecolor("black")
    _draw_shape(mask_axes, make, style, pen, (np.zeros(3), np.zeros(3)), hand, side, paint=False)
    coverage = _pixels(mask_figure)[..., 0] / 255.0
    around = ground[coverage > 0.5].mean(axis=0) if (coverage > 0.5).any() else ground.mean(axis=(0, 1))
    colours = (_colour_apart(rng, around), _colour_apart(rng, around))
    _draw_shape(axes, make, style, pen, colours, hand, side, paint=True)
    picture = _pixels(figure)
    lit = np.linspace(rng.uniform(0.7, 1.0), rng.uniform(1.0, 1.25), side, dtype=np.float32)
    picture = picture * (lit[:, None, None] if rng.random() < 0.5 else lit[None, :, None])
    picture = picture + rng.normal(0, rng.uniform(0, 10), picture.shape)
    image = Image.fromarray(np.clip(picture + 0.5, 0, 255).astype(np.uint8))
    if rng.random() < 0.4:
        image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 1.5))))
    image = image.resize((size, size), Image.Resampling.LANCZOS)
    if rng.random() < 0.5:
        encoded = io.BytesIO()
        image.save(encoded, format="JPEG", quality=int(rng.integers(35, 90)))
        image = Image.open(io.BytesIO(encoded.getvalue())).convert("RGB")
    small = np.asarray(Image.fromarray((coverage * 255).astype(np.uint8)).resize((size, size), Image.Resampling.BOX))
    return SealedScene(np.asarray(image).copy(), small >= 128, label, surface, band, style)


class ShapesSealed3Dataset(ShapesSealedDataset):
    """The third sealed set, deterministic per index; evaluation only, and run once per trained model."""

    SALT = _SALT
    SURFACE_KINDS = SURFACES3

    def render(self, rng: np.random.Generator, size: int) -> Any:
        return render_sealed3_scene(rng, size)
