"""Clips of drawn shapes for the live and video tests and benchmarks: a star that turns into a cross, as Y4M.

Y4M is raw 4:2:0 video with a one-line header, the format Chromium's fake
camera (``--use-file-for-fake-video-capture``) plays in a loop; it is written
here with Pillow and NumPy alone.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

BACKGROUND = (235, 232, 220)  # paper
INK = (20, 20, 120)


def star_points(centre: tuple[float, float], radius: float, turn: float = 0.0) -> list[tuple[float, float]]:
    """A five-pointed star's ten corners, turned by ``turn`` degrees."""
    points = []
    for index in range(10):
        angle = math.radians(turn - 90 + 36 * index)
        reach = radius if index % 2 == 0 else radius * 0.42
        points.append((centre[0] + reach * math.cos(angle), centre[1] + reach * math.sin(angle)))
    return points


def cross_points(centre: tuple[float, float], radius: float, turn: float = 0.0) -> list[tuple[float, float]]:
    """A plus-shaped cross's twelve corners, arms a third of its width, turned by ``turn`` degrees."""
    arm = radius / 3
    corners = [(-arm, -radius), (arm, -radius), (arm, -arm), (radius, -arm), (radius, arm), (arm, arm)]
    corners += [(arm, radius), (-arm, radius), (-arm, arm), (-radius, arm), (-radius, -arm), (-arm, -arm)]
    cos, sin = math.cos(math.radians(turn)), math.sin(math.radians(turn))
    return [(centre[0] + x * cos - y * sin, centre[1] + x * sin + y * cos) for x, y in corners]


def shape_frame(kind: str, progress: float, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """One frame: a filled ``kind`` ("star" or "cross") drifting across paper as ``progress`` goes 0 to 1."""
    image = Image.new("RGB", size, BACKGROUND)
    width, height = size
    centre = (width * (0.4 + 0.2 * progress), height * 0.5)
    points = (star_points if kind == "star" else cross_points)(centre, height * 0.32, turn=20 * progress)
    ImageDraw.Draw(image).polygon(points, fill=INK)
    return image


def star_then_cross(frames: int, size: tuple[int, int] = (320, 240)) -> list[tuple[str, Image.Image]]:
    """(drawn shape, frame) pairs: a star for the first half, a cross for the second."""
    half = frames // 2
    return [
        (
            "star" if index < half else "cross",
            shape_frame("star" if index < half else "cross", (index % half) / half, size),
        )
        for index in range(frames)
    ]


def planes_420(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """``image`` (of even size) as a camera's 4:2:0 planes: full-size luma, and Cb and Cr averaged over 2x2 pixels."""
    planes = np.asarray(image.convert("YCbCr"))
    height, width = planes.shape[:2]
    chroma = planes[:, :, 1:].reshape(height // 2, 2, width // 2, 2, 2).mean(axis=(1, 3))
    return planes[:, :, 0], np.round(chroma).astype(np.uint8)


def write_y4m(path: Path, images: list[Image.Image], fps: int) -> Path:
    """``images`` (all one even size) as an uncompressed 4:2:0 Y4M clip at ``fps`` frames per second."""
    width, height = images[0].size
    with open(path, "wb") as handle:
        handle.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for image in images:
            luma, chroma = planes_420(image)
            handle.write(b"FRAME\n")
            handle.write(np.ascontiguousarray(luma).tobytes())
            handle.write(np.ascontiguousarray(chroma[:, :, 0]).tobytes())
            handle.write(np.ascontiguousarray(chroma[:, :, 1]).tobytes())
    return path
