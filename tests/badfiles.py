"""Files that users should never be able to crash the tools with, made on the spot."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A valid PNG header claiming a huge size, with almost no data behind it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


class _Exploit:
    """Pickles into a call of os.system: what a malicious checkpoint carries."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: D105
        import os

        return (os.system, (f"touch {self.marker}",))


# The phrase each bad image's one-line message must contain, wherever it is shown.
BAD_IMAGE_MESSAGES = {
    "text.png": "not an image",
    "truncated.png": "could not be decoded",
    "truncated.jpg": "could not be decoded",
    "bomb.png": "too large",
    "tiny.png": "too small",
    "empty.png": "not an image",
}


def write_bad_images(folder: Path) -> dict[str, Path]:
    """Name -> path of every bad image case."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8))
    full_png = png_bytes(photo)
    jpeg = io.BytesIO()
    photo.save(jpeg, format="JPEG")
    cases = {
        "text.png": b"this is not an image, just text with a .png name\n",
        "truncated.png": full_png[: len(full_png) // 2],
        "truncated.jpg": jpeg.getvalue()[: len(jpeg.getvalue()) // 2],
        "bomb.png": bomb_png(),
        "tiny.png": png_bytes(Image.new("RGB", (1, 1), "red")),
        "empty.png": b"",
    }
    paths = {}
    for name, data in cases.items():
        path = folder / name
        path.write_bytes(data)
        paths[name] = path
    return paths


def write_odd_mode_images(folder: Path) -> dict[str, Path]:
    """Valid images in modes that must simply work."""
    folder.mkdir(parents=True, exist_ok=True)
    base = Image.new("RGB", (80, 60), "white")
    base.paste((200, 30, 30), (20, 15, 60, 45))
    gradient16 = (np.linspace(0, 65535, 80 * 60).reshape(60, 80)).astype(np.uint16)
    images = {
        "gray.png": base.convert("L"),
        "gray16.png": Image.fromarray(gradient16),
        "palette.png": base.convert("P"),
        "rgba.png": base.convert("RGBA"),
        "cmyk.jpg": base.convert("CMYK"),
        "la.png": base.convert("LA"),
        "bilevel.png": base.convert("1"),
    }
    paths = {}
    for name, image in images.items():
        path = folder / name
        image.save(path)
        paths[name] = path
    animated = folder / "animated.gif"
    frames = [base.convert("P"), Image.new("RGB", (80, 60), "blue").convert("P")]
    frames[0].save(animated, save_all=True, append_images=frames[1:], duration=100, loop=0)
    paths["animated.gif"] = animated
    rotated = folder / "exif_rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    base.save(rotated, exif=exif.tobytes())
    paths["exif_rotated.jpg"] = rotated
    return paths


def write_bad_checkpoints(folder: Path, marker: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "corrupt.pt": folder / "corrupt.pt",
        "foreign.pt": folder / "foreign.pt",
        "malicious.pt": folder / "malicious.pt",
        "truncated.pt": folder / "truncated.pt",
        "state_dict_only.pt": folder / "state_dict_only.pt",
    }
    paths["corrupt.pt"].write_bytes(b"\x00garbage" * 100)
    torch.save({"weights": torch.zeros(3)}, paths["foreign.pt"])
    torch.save({"format": "attention-lens-checkpoint", "payload": _Exploit(marker)}, paths["malicious.pt"])
    torch.save(torch.nn.Linear(2, 2).state_dict(), paths["state_dict_only.pt"])
    data = paths["foreign.pt"].read_bytes()
    paths["truncated.pt"].write_bytes(data[: len(data) // 2])
    return paths
