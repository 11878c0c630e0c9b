"""What a webcam does to a drawing held up to it: perspective, uneven light, blur, a hand, sensor noise, JPEG.

``photograph`` takes a flat picture of a sheet (and its object mask) and
returns the frame a camera would give: the sheet tilted in perspective with
the table around it, lit by a light ramp with vignetting and a soft shadow,
blurred by focus or motion, partly covered at one edge by a hand, with sensor
noise and JPEG compression. The camera renderer (``shapes_camera``) shows the
model such frames for evaluation, and the training generator applies the same
effects to some of its scenes, so that a teacher's webcam is a view the model
has learned.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SKIN_TONES = ((224, 172, 140), (198, 134, 100), (141, 85, 60), (242, 200, 170), (110, 70, 50))
TABLE_TONES = ((92, 64, 45), (150, 120, 90), (60, 60, 64), (200, 200, 196), (30, 30, 34))


@dataclass(frozen=True)
class Camera:
    """The draws of one photograph, so a test or a report can say what the camera did."""

    tilt: float  # largest corner displacement of the perspective, as a fraction of the side
    light: float  # darkest / brightest of the light ramp
    vignette: float  # brightness lost at the corners
    blur: str  # "none", "defocus" or "motion"
    hand: bool
    noise: float  # sensor noise sigma, 0-255 units
    quality: int  # JPEG quality


def _perspective_coefficients(source: list[tuple[float, float]], target: list[tuple[float, float]]) -> list[float]:
    """PIL's eight PERSPECTIVE coefficients mapping each output point in ``target`` to its input in ``source``."""
    rows, values = [], []
    for (x, y), (u, v) in zip(target, source):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        values += [u, v]
    return np.linalg.solve(np.asarray(rows, dtype=np.float64), np.asarray(values, dtype=np.float64)).tolist()


def _tilted(
    rng: np.random.Generator, picture: Image.Image, mask: Image.Image, tilt: float, table: tuple[int, int, int]
) -> tuple[Image.Image, Image.Image]:
    """The sheet seen at an angle: each corner moved by up to ``tilt`` of the side, the table showing around it."""
    side = picture.width
    corners = [(0.0, 0.0), (side, 0.0), (side, side), (0.0, side)]
    moved = [(x + rng.uniform(-tilt, tilt) * side, y + rng.uniform(-tilt, tilt) * side) for x, y in corners]
    coefficients = _perspective_coefficients(corners, moved)
    sheet = Image.new("L", picture.size, 255)
    warp = {"size": picture.size, "method": Image.Transform.PERSPECTIVE, "data": coefficients}
    seen = picture.transform(**warp, resample=Image.Resampling.BICUBIC, fillcolor=table)
    inside = sheet.transform(**warp, resample=Image.Resampling.BILINEAR, fillcolor=0)
    ground = Image.new("RGB", picture.size, table)
    return Image.composite(seen, ground, inside), mask.transform(**warp, resample=Image.Resampling.BILINEAR)


def _light(rng: np.random.Generator, side: int, low: float, vignette: float) -> np.ndarray:
    """A light ramp from ``low`` to 1 in a random direction, times a vignette, times a soft shadow now and then."""
    ys, xs = np.mgrid[0:side, 0:side] / (side - 1) - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xs + np.sin(angle) * ys) / np.sqrt(0.5) * 0.5 + 0.5  # 0..1 across the frame
    light = low + (1.0 - low) * ramp
    light *= 1.0 - vignette * np.clip((xs**2 + ys**2) / 0.5, 0, 1)
    if rng.random() < 0.35:  # the shadow of the phone or the person holding the sheet
        cx, cy = rng.uniform(-0.6, 0.6, 2)
        radius = rng.uniform(0.25, 0.5)
        shadow = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * radius**2))
        light *= 1.0 - rng.uniform(0.15, 0.35) * shadow
    return light[..., None]


def _hand(rng: np.random.Generator, side: int, avoid: tuple[float, float]) -> tuple[Image.Image, Image.Image]:
    """A hand holding the sheet at the edge farthest from ``avoid`` (x, y in pixels): a palm and three or four fingers.

    A person holds a drawing by its margin, not over the drawing, so the hand
    covers the object only when the object lies near every edge.
    """
    layer = Image.new("RGB", (side, side), SKIN_TONES[int(rng.integers(len(SKIN_TONES)))])
    cover = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(cover)
    x, y = avoid
    edge = int(np.argmax([y, side - x, side - y, x]))  # top, right, bottom, left: the farthest one
    depth = rng.uniform(0.12, 0.22) * side  # how far the fingers reach into the frame
    along = rng.uniform(0.2, 0.8) * side
    width = rng.uniform(0.08, 0.12) * side
    fingers = int(rng.integers(3, 5))
    shapes = [(along - fingers * width / 2, -width, along + fingers * width / 2, depth * 0.55)]  # the palm
    for index in range(fingers):
        left = along - fingers * width / 2 + index * width
        reach = depth * rng.uniform(0.8, 1.0)
        shapes.append((left + 0.1 * width, -width, left + 0.9 * width, reach))
    for x0, y0, x1, y1 in shapes:
        box = {0: (x0, y0, x1, y1), 1: (side - y1, x0, side - y0, x1), 2: (x0, side - y1, x1, side - y0)}.get(
            edge, (y0, x0, y1, x1)
        )
        draw.rounded_rectangle(box, radius=width * 0.45, fill=255)
    cover = cover.filter(ImageFilter.GaussianBlur(side / 160))
    shade = np.asarray(layer, dtype=np.float64) * rng.uniform(0.75, 1.05)
    return Image.fromarray(np.clip(shade, 0, 255).astype(np.uint8)), cover


def _motion_kernel(rng: np.random.Generator, length: int) -> ImageFilter.Kernel:
    """A straight streak of ``length`` pixels (3 or 5) in one of four directions: a hand that moved."""
    size = 5 if length > 3 else 3
    grid = np.zeros((size, size))
    centre = size // 2
    direction = int(rng.integers(4))
    for step in range(size):
        offset = step - centre
        x, y = [(offset, 0), (0, offset), (offset, offset), (offset, -offset)][direction]
        grid[centre + y, centre + x] = 1.0
    return ImageFilter.Kernel((size, size), grid.ravel().tolist(), scale=float(grid.sum()))


def photograph(
    rng: np.random.Generator,
    picture: np.ndarray,
    mask: np.ndarray,
    out_size: int,
    hand_chance: float = 0.35,
) -> tuple[np.ndarray, np.ndarray, Camera]:
    """(uint8 frame out_size x out_size x 3, bool object mask, the draws) of a camera seeing ``picture``.

    ``picture`` is the flat sheet (uint8 H x W x 3, square) and ``mask`` its
    object coverage (float 0..1 or bool); the mask follows the perspective
    and counts only where the hand does not cover the object.
    """
    side = picture.shape[0]
    table = TABLE_TONES[int(rng.integers(len(TABLE_TONES)))]
    tilt = float(rng.uniform(0.0, 0.1))
    image, cover_mask = _tilted(
        rng,
        Image.fromarray(picture),
        Image.fromarray((np.asarray(mask, dtype=np.float32) * 255).astype(np.uint8)),
        tilt,
        table,
    )
    low, vignette = float(rng.uniform(0.55, 0.95)), float(rng.uniform(0.0, 0.35))
    lit = np.asarray(image, dtype=np.float64) * _light(rng, side, low, vignette) * rng.uniform(0.9, 1.15)
    image = Image.fromarray(np.clip(lit, 0, 255).astype(np.uint8))
    hand = bool(rng.random() < hand_chance)
    if hand:
        weights = np.asarray(mask, dtype=np.float64)
        total = weights.sum()
        ys, xs = np.mgrid[0:side, 0:side]
        centre = (float((xs * weights).sum() / total), float((ys * weights).sum() / total)) if total > 0 else (0.0, 0.0)
        skin, cover = _hand(rng, side, centre)
        image = Image.composite(skin, image, cover)
        cover_mask = Image.fromarray(
            (np.asarray(cover_mask, dtype=np.float64) * (1 - np.asarray(cover, dtype=np.float64) / 255)).astype(
                np.uint8
            )
        )
    image = image.resize((out_size, out_size), Image.Resampling.BILINEAR)
    blur = ("none", "defocus", "motion")[int(rng.choice(3, p=[0.3, 0.45, 0.25]))]
    if blur == "defocus":
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.1) * out_size / 64))
    elif blur == "motion":
        image = image.filter(_motion_kernel(rng, int(rng.choice([3, 5]))))
    sigma = float(rng.uniform(3.0, 14.0))
    pixels = np.asarray(image, dtype=np.float64)
    pixels = pixels + rng.normal(0.0, sigma, pixels.shape) + rng.normal(0.0, sigma / 3, pixels.shape[:2])[..., None]
    image = Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8))
    quality = int(rng.integers(30, 86))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    frame = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    # A pen line is a third of an output pixel wide: an area average above 0.3 keeps it in the mask.
    seen = np.asarray(cover_mask.resize((out_size, out_size), Image.Resampling.BOX)) >= 0.3 * 255
    return frame, seen, Camera(tilt, low, vignette, blur, hand, sigma, quality)
