"""Image decoding and checkpoint loading: every failure is one clear line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from attention.errors import CheckpointError, ImageInputError
from attention.images import load_image, preprocess
from models.checkpoint import SHIPPED, load_checkpoint, read_checkpoint
from models.networks import build_model, resolved_config
from tests.badfiles import write_bad_checkpoints, write_bad_images, write_odd_mode_images


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


def test_missing_file() -> None:
    with pytest.raises(ImageInputError, match="no such file"):
        load_image("/nonexistent/picture.png")


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


def test_bad_checkpoints_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    paths = write_bad_checkpoints(tmp_path / "ckpt", marker)
    expectations = {
        "corrupt.pt": "not a readable PyTorch checkpoint",
        "truncated.pt": "not a readable PyTorch checkpoint",
        "foreign.pt": "not an Attention Lens checkpoint",
        "state_dict_only.pt": "not an Attention Lens checkpoint",
        "malicious.pt": "refused to load",
    }
    for name, phrase in expectations.items():
        with pytest.raises(CheckpointError) as caught:
            load_checkpoint(paths[name])
        assert phrase in str(caught.value) and "\n" not in str(caught.value), name
    assert not marker.exists(), "the malicious checkpoint ran code"
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_mismatched_state_dict_refused(tmp_path: Path) -> None:
    payload = read_checkpoint(SHIPPED["shapes"])
    payload["state_dict"] = {k: v for k, v in payload["state_dict"].items() if "fc" not in k}
    path = tmp_path / "mismatch.pt"
    torch.save(payload, path)
    with pytest.raises(
        CheckpointError, match=r"does not match .*: fc\.weight is missing from the file \(1 more tensor differs\)"
    ):
        load_checkpoint(path)
    payload = read_checkpoint(SHIPPED["shapes"])
    payload["arch"] = "os.system"
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="unknown architecture"):
        load_checkpoint(path)


def test_checkpoint_from_other_widths_names_the_first_tensor_that_differs(tmp_path: Path) -> None:
    """A checkpoint whose config lacks widths falls back to the registry's: the line must say which tensor breaks."""
    narrow = build_model("attention_resnet_fashion", num_classes=10, in_channels=1, widths=[32, 64, 128])
    payload = read_checkpoint(SHIPPED["fashion"])
    payload["config"] = {"num_classes": 10, "in_channels": 1}
    payload["state_dict"] = narrow.state_dict()
    path = tmp_path / "fashion_old.pt"
    torch.save(payload, path)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert "\n" not in message
    assert "stem.0.weight is [32, 1, 3, 3] in the file but [64, 1, 3, 3] in the model" in message
    assert "more tensors differ" in message


def test_training_config_writes_out_the_registry_defaults() -> None:
    config = resolved_config("attention_resnet_fashion", {"num_classes": 10, "in_channels": 1})
    assert config["widths"] == [64, 128, 256] and config["depths"] == [1, 1, 1] and config["stem_stride"] == 1
    assert resolved_config("attention_resnet_shapes", {"widths": [8, 16, 32, 64]})["widths"] == [8, 16, 32, 64]
    built = build_model("attention_resnet_fashion", **config)
    assert sum(p.numel() for p in built.parameters()) == sum(
        p.numel() for p in build_model("attention_resnet_fashion", num_classes=10, in_channels=1).parameters()
    )


def test_shipped_default_loads_in_eval_mode() -> None:
    loaded = load_checkpoint(None)
    assert loaded.name == "shapes" and not loaded.model.training
    assert loaded.classes[:6] == ["circle", "ring", "square", "triangle", "star", "cross"]
    assert loaded.preprocessing.channels == 3
