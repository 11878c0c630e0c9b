"""Files that users should never be able to crash the tools with, made on the spot."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from attention.images import Preprocessing


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


def _shipped_payload() -> dict:
    from models.checkpoint import SHIPPED

    return torch.load(SHIPPED["shapes"], map_location="cpu", weights_only=True)


def _mutations() -> dict[str, tuple[Callable[[dict], None], str]]:
    """Name -> (change to the shipped shapes payload, the wording its one-line refusal must contain)."""

    def setter(*keys_and_value: Any) -> Callable[[dict], None]:
        *keys, value = keys_and_value

        def change(payload: dict) -> None:
            target = payload
            for key in keys[:-1]:
                target = target[key]
            target[keys[-1]] = value

        return change

    def delete(key: str) -> Callable[[dict], None]:
        return lambda payload: payload.pop(key)

    def state(key: str, index: tuple[int, ...], value: float) -> Callable[[dict], None]:
        def change(payload: dict) -> None:
            payload["state_dict"][key][index] = value

        return change

    def gray(payload: dict) -> None:
        payload["preprocessing"].update(channels=1, mean=[0.5], std=[0.25])

    classes = ["circle", "ring", "square", "triangle", "star", "cross"]
    return {
        "version_2.pt": (setter("version", 2), "uses checkpoint version 2; this program reads up to 1"),
        "version_text.pt": (setter("version", "1"), "has a malformed version '1'"),
        "no_classes.pt": (delete("classes"), "is missing classes"),
        "no_state_dict.pt": (delete("state_dict"), "is missing state_dict"),
        "classes_text.pt": (setter("classes", "circle"), "has no list of class names"),
        "empty_class.pt": (setter("classes", ["", *classes[1:]]), "class name 0 is empty"),
        "number_class.pt": (setter("classes", [*classes[:5], 5]), "class name 5 is int 5, not a string"),
        "newline_class.pt": (setter("classes", ["circle\nfake", *classes[1:]]), "holds a control character"),
        "twice_class.pt": (setter("classes", ["circle", "circle", *classes[2:]]), "names the class 'circle' twice"),
        "extra_class.pt": (setter("classes", [*classes, "heart"]), "names 7 classes but the model has 6 outputs"),
        "config_list.pt": (setter("config", [1, 2]), "has a malformed config (a list, not a dict)"),
        "state_dict_list.pt": (setter("state_dict", []), "has a malformed state_dict (a list, not a dict)"),
        "state_dict_number.pt": (
            setter("state_dict", "fc.bias", 3),
            "state_dict entry fc.bias is int, not a tensor",
        ),
        "metrics_text.pt": (setter("metrics", "great"), "has malformed metrics (a str, not a dict)"),
        "prep_text.pt": (setter("preprocessing", "imagenet"), "preprocessing must be a dict, not str"),
        "prep_missing.pt": (lambda p: p["preprocessing"].pop("std"), "preprocessing is missing std"),
        "prep_size_text.pt": (setter("preprocessing", "input_size", "64"), "input_size must hold integers, not '64'"),
        "prep_size_three.pt": (setter("preprocessing", "input_size", [64, 64, 3]), "must be [height, width]"),
        "prep_size_huge.pt": (
            setter("preprocessing", "input_size", 100000),
            "preprocessing input_size 100000 is over the limit of 1024 pixels",
        ),
        "prep_channels_2.pt": (setter("preprocessing", "channels", 2), "preprocessing channels is 2; it must be 1"),
        "prep_mean_short.pt": (setter("preprocessing", "mean", [0.5]), "preprocessing mean must be a list of 3"),
        "prep_std_zero.pt": (setter("preprocessing", "std", [0.25, 0.0, 0.25]), "preprocessing std[1] is 0.0"),
        "prep_std_nan.pt": (
            setter("preprocessing", "std", [float("nan"), 0.25, 0.25]),
            "preprocessing std[0] is nan; it must be a finite number",
        ),
        "prep_mean_inf.pt": (
            setter("preprocessing", "mean", [0.5, float("inf"), 0.5]),
            "preprocessing mean[1] is inf; it must be a finite number",
        ),
        "prep_resize_unknown.pt": (
            setter("preprocessing", "resize", "stretch"),
            "preprocessing resize must be squash or shorter-crop, not 'stretch'",
        ),
        "prep_crop_tiny.pt": (
            setter("preprocessing", "crop_pct", 0.01),
            "preprocessing crop_pct must be between 0.25 and 1.0, not 0.01",
        ),
        "prep_crop_text.pt": (
            setter("preprocessing", "crop_pct", "0.9"),
            "preprocessing crop_pct is '0.9', not a number",
        ),
        "prep_interpolation.pt": (
            setter("preprocessing", "interpolation", ["bicubic"]),
            "preprocessing resize and interpolation must be names",
        ),
        "gray_for_rgb.pt": (
            gray,
            "its preprocessing gives 1 channel but the model's first convolution (stem.0) takes 3",
        ),
        "widths_huge.pt": (
            setter("config", "widths", [8192, 48, 96, 192]),
            "config widths[0] is 8192; the limit is 1024",
        ),
        "depths_huge.pt": (
            setter("config", "depths", [100000, 1, 1, 1]),
            "config depths[0] is 100000; the limit is 64",
        ),
        "depths_sum.pt": (setter("config", "depths", [20, 20, 20, 20]), "config depths add up to 80 blocks"),
        "width_float.pt": (setter("config", "widths", [24.0, 48, 96, 192]), "widths[0] must be an integer, not float"),
        "channels_bool.pt": (setter("config", "in_channels", True), "in_channels must be an integer, not bool"),
        "classes_huge.pt": (
            setter("config", "num_classes", 10**6),
            "config num_classes is 1000000; the limit is 10000",
        ),
        "stages_mismatch.pt": (setter("config", "widths", [24, 48, 96]), "widths has 3 entries but depths has 4"),
        "unknown_key.pt": (setter("config", "depthz", [1]), "config has an unknown key 'depthz'"),
        "attention_kind.pt": (setter("config", "attention", "transformer"), "config attention is 'transformer'"),
        "attention_kwarg.pt": (
            setter("config", "attention_kwargs", {"evil": 1}),
            "config attention_kwargs has an unknown key 'evil'",
        ),
        "eca_even.pt": (
            setter("config", "attention_kwargs", {"eca": {"kernel_size": 4}}),
            "attention_kwargs.eca.kernel_size is 4; it must be odd",
        ),
        "spatial_norm_text.pt": (
            setter("config", "attention_kwargs", {"spatial": {"norm": "yes"}}),
            "config attention_kwargs.spatial.norm must be true or false",
        ),
        "spatial_first_text.pt": (
            setter("config", "attention_kwargs", {"spatial_first": 1}),
            "config attention_kwargs.spatial_first must be true or false",
        ),
        "dropout_one.pt": (setter("config", "dropout", 1.0), "config dropout is 1.0; it must be a number in [0, 1)"),
        "too_many_parameters.pt": (
            setter("config", "widths", [1024, 1024, 1024, 1024]),
            "parameters; the limit is 50,000,000",
        ),
        "too_many_activations.pt": (
            lambda p: (
                p["config"].update(widths=[256, 256, 256, 256]),
                p["preprocessing"].update(input_size=[1024, 1024]),
            ),
            "activation values for one 1024x1024 image; the limit is 64,000,000",
        ),
        "nan_weight.pt": (
            state("stem.0.weight", (0, 0, 0, 0), float("nan")),
            "tensor stem.0.weight holds non-finite values (NaN or infinity)",
        ),
        "inf_buffer.pt": (
            state("stem.1.running_var", (0,), float("inf")),
            "tensor stem.1.running_var holds non-finite values",
        ),
        "negative_variance.pt": (
            state("stem.1.running_var", (0,), -5.0),
            "the model's output for a blank image is not finite",
        ),
    }


def write_invalid_checkpoints(folder: Path) -> dict[str, tuple[Path, str]]:
    """Name -> (path, wording of its refusal) for checkpoints that are readable but must not load.

    Each is the shipped shapes checkpoint with one thing wrong, so a refusal
    can only come from the check meant to catch that thing.
    """
    folder.mkdir(parents=True, exist_ok=True)
    cases = {}
    for name, (change, wording) in _mutations().items():
        payload = _shipped_payload()
        change(payload)
        path = folder / name
        torch.save(payload, path)
        cases[name] = (path, wording)
    return cases


def _deflated_zeros(gib: int) -> tuple[bytes, int]:
    """A raw deflate stream of ``gib`` GiB of zeros and its CRC-32, made from one compressed 16 MiB piece.

    After a full flush the compressor forgets its history, so every further
    16 MiB of zeros compresses to the same bytes: the stream is that piece
    repeated, which takes a second instead of deflating a gigabyte.
    """
    chunk = bytes(16 * 1024 * 1024)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeats = gib * 64
    crc = 0
    for _ in range(repeats):
        crc = zlib.crc32(chunk, crc)
    return piece * repeats + compressor.flush(zlib.Z_FINISH), crc


def write_zip_bomb(path: Path, gib: int = 1) -> Path:
    """A checkpoint of about 1 MB whose archive unpacks to ``gib`` GiB of zeros (``gib`` < 4: no zip64 needed).

    It is a real checkpoint archive (the shipped shapes one) with one more
    entry, a gigabyte of zeros under ZIP_DEFLATED: what PyTorch would allocate
    and inflate if the declared sizes were not checked first.
    """
    import zipfile

    small = path.with_suffix(".small")
    torch.save(_shipped_payload(), small)
    with zipfile.ZipFile(small) as source:
        entries = [(info.filename, source.read(info), zipfile.ZIP_STORED) for info in source.infolist()]
    small.unlink()
    prefix = entries[0][0].split("/")[0]
    zeros, zeros_crc = _deflated_zeros(gib)
    entries.append((f"{prefix}/data/zeros", zeros, zipfile.ZIP_DEFLATED))
    body = bytearray()
    directory = bytearray()
    for name, data, method in entries:
        encoded = name.encode()
        if method == zipfile.ZIP_DEFLATED:
            crc, size, packed = zeros_crc, gib << 30, data
        else:
            crc, size, packed = zlib.crc32(data), len(data), data
        fields = (20, 0, method, 0, 0, crc, len(packed), size, len(encoded))
        directory += struct.pack("<4s2H", b"PK\x01\x02", 20, fields[0]) + struct.pack("<4H3I2H", *fields[1:], 0)
        directory += struct.pack("<3H2I", 0, 0, 0, 0, len(body)) + encoded
        body += struct.pack("<4s5H3I2H", b"PK\x03\x04", *fields, 0) + encoded + packed
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(directory), len(body), 0)
    path.write_bytes(bytes(body + directory + end))
    return path


def write_legacy_checkpoint(path: Path) -> Path:
    """The shipped payload in PyTorch's pre-1.6 (non-zip) format."""
    torch.save(_shipped_payload(), path, _use_new_zipfile_serialization=False)
    return path


def write_plain_checkpoint(path: Path) -> Path:
    """A valid checkpoint of a network without attention layers (attention "none")."""
    from models.checkpoint import checkpoint_dict, save_checkpoint
    from models.networks import build_model

    config = {"num_classes": 3, "in_channels": 3, "widths": [8, 16], "depths": [1, 1], "attention": "none"}
    model = build_model("attention_resnet", **config)
    preprocessing = Preprocessing((32, 32), 3, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    save_checkpoint(path, checkpoint_dict(model, "attention_resnet", config, ["a", "b", "c"], preprocessing))
    return path
