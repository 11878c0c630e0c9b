"""Image decoding: every failure is one clear line, and every odd mode becomes RGB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from attention.errors import ImageInputError
from attention.images import load_image, preprocess
from tests.badfiles import bomb_png, write_bad_images, write_odd_mode_images


@pytest.fixture(scope="module")
def bad_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_bad_images(tmp_path_factory.mktemp("bad"))


@pytest.fixture(scope="module")
def odd_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_odd_mode_images(tmp_path_factory.mktemp("odd"))


@pytest.mark.parametrize(
    ("case", "phrase"),
    [
        ("text.png", "not an image"),
        ("empty.png", "not an image"),
        ("truncated.png", "truncated"),
        ("truncated.jpg", "could not be decoded"),
        ("bomb.png", "too large"),
        ("tiny.png", "too small"),
    ],
)
def test_bad_images_give_one_line(bad_images: dict[str, Path], case: str, phrase: str) -> None:
    with pytest.raises(ImageInputError) as caught:
        load_image(bad_images[case])
    message = str(caught.value)
    assert phrase in message and "\n" not in message
    with pytest.raises(ImageInputError):
        load_image(bad_images[case].read_bytes())


def test_missing_file_folder_and_device_are_named_for_what_they_are(tmp_path: Path) -> None:
    with pytest.raises(ImageInputError, match=r"^/nonexistent/picture\.png: no such file$"):
        load_image("/nonexistent/picture.png")
    with pytest.raises(ImageInputError, match=r" is a directory, not an image file$"):
        load_image(tmp_path)
    with pytest.raises(ImageInputError, match=r"^/dev/null is not a regular file$"):
        load_image("/dev/null")


def test_odd_modes_become_rgb(odd_images: dict[str, Path]) -> None:
    for name, path in odd_images.items():
        image = load_image(path)
        assert image.mode == "RGB", name
    # 16-bit gradient keeps its range instead of clipping to white.
    gray16 = np.asarray(load_image(odd_images["gray16.png"]))
    assert gray16.min() < 10 and gray16.max() > 245
    # Transparent pixels become white, like a paint program's canvas.
    assert load_image(odd_images["rgba.png"]).getpixel((0, 0)) == (255, 255, 255)
    # CMYK red square stays reddish.
    r, g, b = load_image(odd_images["cmyk.jpg"]).getpixel((40, 30))
    assert r > 150 and g < 100 and b < 100


def test_exif_orientation_applied(odd_images: dict[str, Path]) -> None:
    assert Image.open(odd_images["exif_rotated.jpg"]).size == (80, 60)
    assert load_image(odd_images["exif_rotated.jpg"]).size == (60, 80)


def test_large_image_downscaled() -> None:
    image = load_image(Image.new("RGB", (5000, 2500), "white"))
    assert image.size == (2048, 1024)


def test_preprocess_shapes_and_normalisation() -> None:
    images = [Image.new("RGB", (100, 50), (255, 0, 0)), Image.new("RGB", (64, 64), (0, 0, 0))]
    batch = preprocess(images, (64, 64), 3, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert batch.shape == (2, 3, 64, 64)
    assert torch.allclose(batch[0, 0], torch.full((64, 64), 2.0))
    assert torch.allclose(batch[1], torch.full((3, 64, 64), -2.0))
    gray = preprocess(images, (28, 28), 1, (0.5,), (0.5,))
    assert gray.shape == (2, 1, 28, 28)


def test_a_non_square_input_keeps_height_and_width_in_their_places() -> None:
    image = Image.new("L", (120, 90), 0)
    image.paste(255, (0, 0, 60, 90))  # the left half white
    batch = preprocess([image], (48, 64), 1, (0.0,), (1.0,))
    assert batch.shape == (1, 1, 48, 64)
    assert float(batch[0, 0, :, :28].min()) > 0.99 and float(batch[0, 0, :, 36:].max()) < 0.01


def test_the_pixel_limit_is_forty_megapixels_exactly() -> None:
    with pytest.raises(ImageInputError) as error:
        load_image(bomb_png(8000, 5001))
    assert str(error.value) == "upload is too large: 8000x5001 pixels (limit 40 megapixels)"
    with pytest.raises(ImageInputError) as error:  # 40,000,000 pixels pass the limit; the missing data does not
        load_image(bomb_png(8000, 5000))
    assert "too large" not in str(error.value)


def test_sixteen_bit_grey_keeps_its_levels_and_other_depths_are_stretched() -> None:
    from attention.images import _to_8bit

    deep = Image.fromarray(np.array([[2570, 5140]], dtype=np.uint16))
    assert deep.mode.startswith("I;16")
    assert np.asarray(_to_8bit(deep)).tolist() == [[10, 20]]  # /257: a 16-bit level is an 8-bit level
    wide = Image.fromarray(np.array([[1000, 3000]], dtype=np.int32))
    assert np.asarray(_to_8bit(wide)).tolist() == [[0, 255]]  # beyond 8 bits: stretched to 0-255


def test_a_preprocessing_record_round_trips_and_bad_ones_are_refused() -> None:
    from attention.images import Preprocessing

    good = {"input_size": [48, 64], "channels": 3, "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.2, 0.2]}
    prep = Preprocessing.from_dict(good)
    assert prep.input_size == (48, 64) and prep.to_dict() == {
        **good, "resize": "squash", "crop_pct": 1.0, "interpolation": "bilinear"}  # fmt: skip
    cropped = {**good, "resize": "shorter-crop", "crop_pct": 0.875, "interpolation": "bicubic"}
    assert Preprocessing.from_dict(cropped).to_dict() == cropped
    assert Preprocessing.from_dict({**good, "input_size": 32}).input_size == (32, 32)
    assert Preprocessing.from_dict({**good, "input_size": [1, 1]}).input_size == (1, 1)  # the smallest there is
    for bad in (
        {"input_size": [48]},
        {"input_size": [0, 64]},
        {"channels": 2},
        {"mean": [0.5]},
        {"std": [0.2, 0.0, 0.2]},
        {"resize": "stretch"},
        {"crop_pct": 0.2},
        {"crop_pct": 1.01},
        {"crop_pct": float("nan")},
        {"interpolation": "area"},
    ):
        with pytest.raises(ValueError):
            Preprocessing.from_dict({**good, **bad})


def test_a_large_jpeg_is_decoded_small_and_keeps_its_aspect_and_grey() -> None:
    import io

    for mode, colour, size, shown in (
        ("RGB", (10, 200, 30), (5000, 3000), (2048, 1229)),
        ("L", 90, (3000, 5000), (1229, 2048)),
        ("RGB", (10, 200, 30), (1200, 900), (1200, 900)),
    ):
        buffer = io.BytesIO()
        Image.new(mode, size, colour).save(buffer, format="JPEG")
        image = load_image(buffer.getvalue())
        assert image.size == shown and image.mode == "RGB"
        expected = colour if isinstance(colour, tuple) else (colour,) * 3
        assert max(abs(a - b) for a, b in zip(image.getpixel((5, 5)), expected)) <= 3


def _picture(width: int, height: int) -> Image.Image:
    rows, columns = np.mgrid[0:height, 0:width]
    pixels = np.stack([rows * 255 // height, columns * 255 // width, (rows * 7 + columns * 13) % 256], axis=-1)
    return Image.fromarray(pixels.astype(np.uint8))


@pytest.mark.parametrize("size", [(400, 300), (500, 300), (300, 400), (333, 517), (224, 224)])
@pytest.mark.parametrize(("interpolation", "mode"), [("bicubic", "BICUBIC"), ("bilinear", "BILINEAR")])
def test_the_model_sees_what_torchvisions_resize_and_centre_crop_give(
    size: tuple[int, int], interpolation: str, mode: str
) -> None:
    from torchvision import transforms

    from attention.images import fit

    picture = _picture(*size)
    how = getattr(transforms.InterpolationMode, mode)
    shorter = transforms.Compose([transforms.Resize(256, how), transforms.CenterCrop(224)])
    assert np.array_equal(np.asarray(fit(picture, (224, 224), "shorter-crop", 0.875, interpolation)),
                          np.asarray(shorter(picture)))  # fmt: skip
    squashed = transforms.Compose([transforms.Resize((256, 256), how), transforms.CenterCrop(224)])
    assert np.array_equal(np.asarray(fit(picture, (224, 224), "squash", 0.875, interpolation)),
                          np.asarray(squashed(picture)))  # fmt: skip


def test_the_view_is_where_the_crop_lies_in_the_image() -> None:
    from attention.images import Preprocessing, fit, view_of

    # 400x300 with the shorter side to 256: 341x256, of which the centre 224x224 is kept.
    assert view_of((400, 300), (224, 224), "shorter-crop", 0.875) == (58 / 341, 16 / 256, 282 / 341, 240 / 256)
    assert view_of((300, 400), (224, 224), "shorter-crop", 0.875) == (16 / 256, 58 / 341, 240 / 256, 282 / 341)
    assert view_of((400, 300), (224, 224), "squash", 1.0) == (0.0, 0.0, 1.0, 1.0)
    # A non-square input keeps the picture's aspect and covers the input: a portrait picture, a landscape input.
    picture = _picture(300, 600)
    seen = fit(picture, (48, 64), "shorter-crop", 1.0)
    assert seen.size == (64, 48)
    left, top, right, bottom = view_of(picture.size, (48, 64), "shorter-crop", 1.0)
    assert (left, right) == (0.0, 1.0) and bottom - top == pytest.approx(48 / 128)
    prep = Preprocessing((48, 64), 3, (0.5,) * 3, (0.5,) * 3, "shorter-crop", 1.0, "nearest")
    assert prep.view(picture) == (left, top, right, bottom)
    # Nearest-neighbour keeps only values the picture holds; bilinear blends its columns into new ones.
    crop = np.asarray(picture.resize((64, 128), Image.Resampling.NEAREST).crop((0, 40, 64, 88)))
    assert np.array_equal(np.asarray(fit(picture, (48, 64), "shorter-crop", 1.0, "nearest")), crop)


def test_a_float_picture_is_stretched_whatever_its_range() -> None:
    from attention.images import _to_8bit

    float_picture = Image.fromarray(np.array([[10.0, 20.0]], dtype=np.float32), mode="F")
    assert np.asarray(_to_8bit(float_picture)).tolist() == [[0, 255]]
