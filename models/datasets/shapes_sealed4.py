"""The fourth sealed shapes renderer: the six classes as implicit functions in torch, on surfaces no other paints.

The training generator draws with PIL polygons, the held-out renderer with
numpy distances to polygon edges, the first sealed renderer with matplotlib's
point-in-path test, the second with OpenCV and the third with matplotlib's Agg
rasteriser. This one has no polygons at all: each class is an inequality on
the plane (a disc, a band between two circles, a box, three half-planes, a
star folded into one of its ten half-points, two crossed bars) evaluated with
torch on a doubled grid and averaged down. Its surfaces are marble, denim,
camouflage, a halftone print, a brick wall and parquet; its camera is a torch
homography and lens bulge through ``grid_sample``, a torch blur, and
OpenCV's JPEG codec. It exists because the first three sealed sets were
read after their one run: its figure in the model card is one run on a model
chosen without it.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .shapes_scene import SHAPE_CLASSES
from .shapes_sealed import SealedScene, ShapesSealedDataset, first_draws

SURFACES4: tuple[str, ...] = ("marble", "denim", "camouflage", "halftone", "brick", "parquet")
STYLES4: tuple[str, ...] = ("filled", "outlined", "two-tone", "graded", "brushed", "shadowed")
_NATIVE = 160  # the picture's side before the camera and the final resize
_FINE = 2  # implicit functions are evaluated on a grid this many times finer, then averaged
_SALT = 31337


def _plane(side: int, fine: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates of a side x side picture, ``fine`` samples per pixel along each axis."""
    axis = (torch.arange(side * fine, dtype=torch.float64) + 0.5) / fine
    ys, xs = torch.meshgrid(axis, axis, indexing="ij")
    return xs, ys


def _smooth_field(rng: np.random.Generator, side: int, cells: int) -> torch.Tensor:
    """Noise in [0, 1] that varies over about side / cells pixels: a random grid, bicubically enlarged."""
    grid = torch.from_numpy(rng.random((1, 1, cells + 1, cells + 1)))
    field = F.interpolate(grid, size=(side, side), mode="bicubic", align_corners=True)[0, 0]
    low, high = field.min(), field.max()
    return (field - low) / (high - low + 1e-9)


def _octaves(rng: np.random.Generator, side: int, cells: int, count: int) -> torch.Tensor:
    """Several smooth fields, each twice as fine and half as strong as the one before."""
    total = torch.zeros(side, side, dtype=torch.float64)
    weight = 1.0
    for octave in range(count):
        total += weight * _smooth_field(rng, side, cells * 2**octave)
        weight /= 2
    return total / (2 - 2 ** (1 - count))


def _colour(rng: np.random.Generator) -> torch.Tensor:
    return torch.from_numpy(rng.uniform(0, 255, 3))


def _blend(first: torch.Tensor, second: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Per-pixel mix of two colours (weight 0 gives the first): side x side x 3."""
    weight = weight.clamp(0, 1)[..., None]
    return first * (1 - weight) + second * weight


def _surface(rng: np.random.Generator, kind: str, side: int) -> torch.Tensor:
    """A side x side x 3 float64 picture of one of ``SURFACES4``."""
    xs, ys = _plane(side)
    first, second = _colour(rng), _colour(rng)
    if kind == "marble":
        turbulence = _octaves(rng, side, 3, 4)
        veins = torch.sin(xs * rng.uniform(0.03, 0.09) + ys * rng.uniform(0.0, 0.05) + turbulence * rng.uniform(6, 14))
        return _blend(first, second, 1 - veins.abs() ** rng.uniform(0.2, 0.5))
    if kind == "denim":
        period = rng.uniform(2.5, 5.0)
        twill = 0.5 + 0.5 * torch.sin(2 * math.pi * (xs + ys * rng.choice([-1.0, 1.0])) / period)
        threads = torch.from_numpy(rng.random((side, side))) * 0.5
        return _blend(first, second, 0.55 * twill + threads * (0.4 + 0.3 * _smooth_field(rng, side, 4)))
    if kind == "camouflage":
        field = _octaves(rng, side, int(rng.integers(3, 7)), 3)
        picture = first.expand(side, side, 3).clone()
        for level in np.sort(rng.uniform(0.3, 0.75, 2)):
            picture[field > float(level)] = _colour(rng)
        return picture
    if kind == "halftone":
        pitch = rng.uniform(4.0, 7.0)  # under 4% of the native side: each dot far smaller than any shape
        angle = rng.uniform(0, math.pi / 2)
        u = xs * math.cos(angle) + ys * math.sin(angle)
        v = -xs * math.sin(angle) + ys * math.cos(angle)
        du = (u / pitch) % 1.0 - 0.5
        dv = (v / pitch) % 1.0 - 0.5
        radius = 0.15 + 0.3 * _smooth_field(rng, side, int(rng.integers(2, 5)))
        return _blend(first, second, ((du**2 + dv**2).sqrt() < radius).double())
    if kind == "brick":
        height = rng.uniform(8.0, 16.0)
        length = height * rng.uniform(2.0, 3.0)
        mortar = rng.uniform(1.0, 2.5)
        row = torch.floor(ys / height)
        along = xs + (row % 2) * length / 2
        joint = ((ys % height) < mortar) | ((along % length) < mortar)
        tint = torch.from_numpy(rng.uniform(-30, 30, (int(side / height) + 2, int(side / length) + 3)))
        shade = tint[row.long(), torch.floor(along / length).long()]
        picture = first + shade[..., None] + torch.from_numpy(rng.normal(0, 6, (side, side, 1)))
        picture[joint] = second
        return picture
    # parquet: square blocks of planks, turned a quarter between neighbours, each plank with its grain
    block = rng.uniform(14.0, 30.0)
    planks = int(rng.integers(3, 6))
    turned = ((torch.floor(xs / block) + torch.floor(ys / block)) % 2).bool()
    across = torch.where(turned, xs, ys) % block
    along = torch.where(turned, ys, xs)
    seam = (across % (block / planks)) < 1.0
    grain = 0.5 + 0.5 * torch.sin(along * rng.uniform(0.3, 0.8) + across * rng.uniform(2, 5))
    picture = _blend(first, first * 0.75 + second * 0.25, grain * 0.6)
    picture[seam | ((xs % block) < 1.0) | ((ys % block) < 1.0)] = second * 0.5
    return picture


def _implicit(name: str, rng: np.random.Generator) -> tuple[Any, np.ndarray]:
    """(signed function of unit-frame coordinates, points whose hull bounds the shape) for one class.

    The function is negative inside and grows by about one per unit outside, so a band of its values
    is an outline of that width; its unit frame has the shape within [-1, 1].
    """
    if name == "circle":
        return (lambda x, y: (x**2 + y**2).sqrt() - 1), _circle_points()
    if name == "ring":
        inner = rng.uniform(0.45, 0.7)
        middle, half_band = (1 + inner) / 2, (1 - inner) / 2
        return (lambda x, y: ((x**2 + y**2).sqrt() - middle).abs() - half_band), _circle_points()
    if name == "square":
        corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64)
        return (lambda x, y: torch.maximum(x.abs(), y.abs()) - 1), corners
    if name == "triangle":
        normals = [(math.cos(a), math.sin(a)) for a in (math.pi / 2 + k * 2 * math.pi / 3 for k in range(3))]
        corners = np.array(
            [[-math.cos(a), -math.sin(a)] for a in (math.pi / 2 + k * 2 * math.pi / 3 for k in range(3))]
        )

        def triangle(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return torch.stack([x * nx + y * ny for nx, ny in normals]).amax(dim=0) - 0.5

        return triangle, corners
    if name == "star":
        inner = rng.uniform(0.38, 0.5)
        half_point = math.pi / 5
        tip, notch = np.array([1.0, 0.0]), inner * np.array([math.cos(half_point), math.sin(half_point)])
        edge = notch - tip
        normal = np.array([edge[1], -edge[0]]) / np.linalg.norm(edge)
        if normal @ tip < 0:
            normal = -normal

        def star(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            radius = (x**2 + y**2).sqrt()
            folded = torch.remainder(torch.atan2(y, x) - math.pi / 2, 2 * half_point) - half_point
            fx, fy = radius * torch.cos(folded), radius * folded.sin().abs()
            return (fx - tip[0]) * normal[0] + (fy - tip[1]) * normal[1]

        tips = [math.pi / 2 + k * 2 * half_point for k in range(5)]
        return star, np.array([[math.cos(a), math.sin(a)] for a in tips])
    bar = rng.uniform(0.28, 0.4)  # cross: half the thickness of each bar

    def cross(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        upright = torch.maximum(x.abs() - bar, y.abs() - 1)
        lying = torch.maximum(x.abs() - 1, y.abs() - bar)
        return torch.minimum(upright, lying)

    corners = np.array([[s * 1.0, t * bar] for s in (-1, 1) for t in (-1, 1)])
    return cross, np.concatenate([corners, corners[:, ::-1]])


def _circle_points() -> np.ndarray:
    angles = np.linspace(0, 2 * math.pi, 72, endpoint=False)
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _distinct_colour(rng: np.random.Generator, around: torch.Tensor) -> torch.Tensor:
    """Of eight random colours and black and white, the one whose weakest contrast with the pixels around is highest."""
    candidates = torch.cat([torch.from_numpy(rng.uniform(0, 255, (8, 3))), torch.tensor([[0.0] * 3, [255.0] * 3])])
    weights = torch.tensor([0.3, 0.59, 0.11], dtype=torch.float64)
    brightness = ((candidates[:, None, :] - around[None]) @ weights).abs()
    distance = (candidates[:, None, :] - around[None]).norm(dim=-1)
    weakest = torch.quantile(brightness + 0.3 * distance, 0.1, dim=1)
    return candidates[int(weakest.argmax())]


def _camera(
    rng: np.random.Generator, picture: torch.Tensor, coverage: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """A mild perspective and lens bulge, applied alike to the picture and the object's coverage."""
    side = picture.shape[0]
    axis = torch.linspace(-1, 1, side, dtype=torch.float64)
    ys, xs = torch.meshgrid(axis, axis, indexing="ij")
    tilt_x, tilt_y = rng.uniform(-0.12, 0.12, 2)
    depth = 1 + tilt_x * xs + tilt_y * ys
    bulge = 1 + rng.uniform(-0.06, 0.06) * (xs**2 + ys**2)
    grid = torch.stack([xs / depth * bulge, ys / depth * bulge], dim=-1)[None]
    stack = torch.cat([picture.permute(2, 0, 1), coverage[None]])[None]
    # "border", not "reflection": a reflection would mirror a shape near the edge into the picture
    seen = F.grid_sample(stack, grid, mode="bilinear", padding_mode="border", align_corners=False)[0]
    return seen[:3].permute(1, 2, 0), seen[3]


def _blur(picture: torch.Tensor, sigma: float) -> torch.Tensor:
    """A Gaussian blur of an H x W x 3 picture, as two 1-D convolutions."""
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.exp(-((torch.arange(-radius, radius + 1, dtype=torch.float64) / sigma) ** 2) / 2)
    taps = (taps / taps.sum()).expand(3, 1, 1, -1)
    channels = F.pad(picture.permute(2, 0, 1)[None], (radius, radius, radius, radius), mode="replicate")
    channels = F.conv2d(F.conv2d(channels, taps, groups=3), taps.transpose(2, 3), groups=3)
    return channels[0].permute(1, 2, 0)


def render_sealed4_scene(rng: np.random.Generator, size: int) -> SealedScene:
    """One picture; the first draws are the label, the surface and the size band, in that order."""
    label, surface, (band, low, high) = first_draws(rng, SURFACES4)
    style = STYLES4[int(rng.integers(len(STYLES4)))]
    name = SHAPE_CLASSES[label]
    if name == "circle" and style in ("outlined", "brushed"):
        style = "filled"  # a circle's outline is a ring
    side = _NATIVE
    px, py = _plane(side)
    picture = _surface(rng, surface, side)
    inside, hull = _implicit(name, rng)
    angle = rng.uniform(0, 2 * math.pi)
    aspect = (
        math.sqrt(rng.uniform(0.85, 1.18)) if name not in ("circle", "ring") else math.sqrt(rng.uniform(0.93, 1.07))
    )
    turn = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    placed = (hull * np.array([aspect, 1 / aspect])) @ turn.T
    span = float((placed.max(axis=0) - placed.min(axis=0)).max())
    scale = rng.uniform(low, high) * side / span  # pixels per unit
    half = (placed.max(axis=0) - placed.min(axis=0)) / 2 * scale
    centre = rng.uniform(half + 2, side - half - 2) - (placed.max(axis=0) + placed.min(axis=0)) / 2 * scale
    xs, ys = _plane(side, _FINE)
    dx, dy = (xs - centre[0]) / scale, (ys - centre[1]) / scale
    ux = (dx * turn[0, 0] + dy * turn[1, 0]) / aspect  # back into the unit frame: unturn, unstretch
    uy = (dx * turn[0, 1] + dy * turn[1, 1]) * aspect
    distance = inside(ux, uy) * scale  # in (about) native pixels, sampled on the doubled grid
    width = max(2.0, float(rng.uniform(0.06, 0.14)) * span * scale)
    if style == "brushed":  # a brush presses harder in places
        width = width * (0.6 + 0.8 * _smooth_field(rng, side * _FINE, 5).to(distance))
    outline = style in ("outlined", "brushed")
    signed = (distance + width / 2).abs() - width / 2 if outline else distance
    fine = (0.5 - signed * _FINE).clamp(0, 1)  # an edge one fine sample wide
    coverage = F.avg_pool2d(fine[None, None], _FINE)[0, 0]
    around = picture[coverage > 0.5] if bool((coverage > 0.5).any()) else picture.reshape(-1, 3)
    ink = _distinct_colour(rng, around)
    if style == "shadowed":
        shift = [int(v) for v in np.round(rng.uniform(2, 5, 2) * rng.choice([-1, 1], 2))]
        shadow = torch.roll(coverage, shifts=(shift[1], shift[0]), dims=(0, 1))
        picture = picture * (1 - 0.55 * shadow[..., None])
    if style == "graded":  # the fill runs from the ink to another colour across the shape
        other = _distinct_colour(rng, around)
        direction = rng.uniform(0, 2 * math.pi)
        along = (px - centre[0]) * math.cos(direction) + (py - centre[1]) * math.sin(direction)
        ink = _blend(ink, other, along / (2 * half.max()) + 0.5)
    picture = picture * (1 - coverage[..., None]) + ink * coverage[..., None]
    if style == "two-tone":  # a filled shape with an edge in a second colour
        edge_fine = ((distance + 1.5).abs() < 1.5).double()
        edge = F.avg_pool2d(edge_fine[None, None], _FINE)[0, 0]
        edge_ink = _distinct_colour(rng, ink[None])
        picture = picture * (1 - edge[..., None]) + edge_ink * edge[..., None]
    light = 1 + rng.uniform(-0.25, 0.25) * (px, py)[int(rng.integers(2))] / side
    vignette = 1 - rng.uniform(0, 0.35) * (((px / side - 0.5) ** 2 + (py / side - 0.5) ** 2) * 2)
    picture = picture * (light * vignette)[..., None]
    picture, coverage = _camera(rng, picture, coverage)
    if rng.random() < 0.5:
        picture = _blur(picture, float(rng.uniform(0.4, 1.4)))
    picture = picture + torch.from_numpy(rng.normal(0, rng.uniform(1, 12), picture.shape))
    small = F.interpolate(
        torch.cat([picture.permute(2, 0, 1), coverage[None] * 255])[None].float(),
        size=(size, size),
        mode="bilinear",
        antialias=True,
        align_corners=False,
    )[0]
    image = small[:3].round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
    if rng.random() < 0.5:
        bgr = np.ascontiguousarray(image[..., ::-1])  # OpenCV's order, so chroma is subsampled as in a camera's file
        _, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 90))])
        image = np.ascontiguousarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1])
    mask = small[3] >= 127.5
    return SealedScene(image, mask.numpy(), label, surface, band, style)


class ShapesSealed4Dataset(ShapesSealedDataset):
    """The fourth sealed set, deterministic per index; evaluation only, and run once per trained model."""

    SALT = _SALT
    SURFACE_KINDS = SURFACES4

    def render(self, rng: np.random.Generator, size: int) -> Any:
        return render_sealed4_scene(rng, size)
