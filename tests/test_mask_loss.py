"""Rules for training spatial attention on where the drawn object is (``--mask-loss``)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from models.datasets import ShapesDataset, ShapesMasked
from models.networks import build_model
from models.train import (
    SpatialLogits,
    attention_on_object_loss,
    main,
    parse_args,
    preprocessing_for,
    reaching_only,
    train,
)
from models.transforms import ShapesWithMask

SHIPPED_LIKE = {"num_classes": 6, "widths": [8, 16, 16, 16], "attention_kwargs": {"spatial": {"norm": True}}}


def _flips(mask: np.ndarray) -> list[np.ndarray]:
    return [mask, mask[:, ::-1], mask[::-1], mask[::-1, ::-1]]


def test_the_mask_moves_with_the_picture_through_every_augmentation() -> None:
    """A picture that is its own mask, in grey, still shows the moved mask after flips, crops and colour changes."""
    prep = preprocessing_for("shapes", 64)
    augment = ShapesWithMask(prep)
    scenes = ShapesDataset("train", 40, 64, seed=3)
    torch.manual_seed(0)
    moved_away = 0
    for index in range(40):
        _, mask, _ = scenes.sample(index)
        grey = Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).convert("RGB")
        picture, moved = augment(grey, mask)
        assert picture.shape == (3, 64, 64) and moved.shape == (1, 64, 64) and moved.dtype == torch.float32
        assert set(moved.unique().tolist()) <= {0.0, 1.0}
        light = picture.mean(dim=0)
        bright = (light > (light.max() + light.min()) / 2).numpy()
        on = moved[0].numpy() > 0.5
        # A crop resamples the picture bilinearly and the mask by its nearest pixel: they agree within a pixel.
        near = np.ones((3, 3), bool)
        assert not (on & ~ndimage.binary_dilation(bright, near)).any(), index
        assert not (bright & ~ndimage.binary_dilation(on, near)).any(), index
        moved_away += not np.array_equal(on, mask)
    assert moved_away >= 20  # flips and crops really happen


def test_a_masked_item_is_the_scene_its_label_and_its_mask_flipped_or_cropped_alike() -> None:
    prep = preprocessing_for("shapes", 48)
    items = ShapesMasked("train", 30, 48, seed=4, transform=ShapesWithMask(prep))
    plain = ShapesDataset("train", 30, 48, seed=4)
    assert len(items) == 30 and items.classes == plain.classes and items.targets == plain.targets
    torch.manual_seed(1)
    flipped_only = 0
    for index in range(30):
        picture, label, moved = items[index]
        _, mask, plain_label = plain.sample(index)
        assert label == plain_label and picture.shape == (3, 48, 48)
        assert moved.shape == (1, 48, 48) and 0 < moved.sum() < 48 * 48
        flipped_only += any(np.array_equal(moved[0].numpy() > 0.5, view) for view in _flips(mask))
    assert 12 <= flipped_only < 30  # most items are only flipped; about three in ten are cropped too


def test_the_loss_is_minus_the_log_of_the_softmax_mass_on_the_object() -> None:
    masks = torch.zeros(2, 1, 8, 8)
    masks[0, 0, :2, :2] = 1  # 4 of 64 pixels
    masks[1, 0, 4:, 4:] = 1  # 16 of 64 pixels
    flat = torch.zeros(2, 1, 8, 8)
    expected = -(math.log(4 / 64) + math.log(16 / 64)) / 2
    assert float(attention_on_object_loss([flat], masks)) == pytest.approx(expected, rel=1e-6)
    peaked = torch.where(masks > 0, 30.0, -30.0)
    assert float(attention_on_object_loss([peaked], masks)) == pytest.approx(0.0, abs=1e-6)
    assert float(attention_on_object_loss([-peaked], masks)) > 50


def test_a_coarse_cell_is_on_the_object_when_any_of_its_pixels_is_and_layers_are_averaged() -> None:
    masks = torch.zeros(1, 1, 8, 8)
    masks[0, 0, 3, 3] = 1  # one pixel: one cell of a 4 x 4 layer, one of a 2 x 2 layer
    coarse, coarser = torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 2, 2)
    expected = (math.log(16) + math.log(4)) / 2
    assert float(attention_on_object_loss([coarse, coarser], masks)) == pytest.approx(expected, rel=1e-6)


def test_a_picture_without_an_object_adds_nothing_and_stays_finite() -> None:
    masks = torch.zeros(2, 1, 4, 4)
    masks[0, 0, 0, 0] = 1
    logits = torch.randn(2, 1, 4, 4)
    loss = attention_on_object_loss([logits], masks)
    alone = -torch.log_softmax(logits[0].flatten(), 0)[0] / 2
    assert torch.isfinite(loss) and float(loss) == pytest.approx(float(alone), rel=1e-5)


def test_one_step_on_the_loss_moves_attention_onto_the_object() -> None:
    torch.manual_seed(0)
    model = build_model("attention_resnet_shapes", num_classes=6, widths=[8, 16, 16, 16])
    scenes = ShapesMasked("train", 16, 32, seed=2, transform=ShapesWithMask(preprocessing_for("shapes", 32)))
    pictures, _, masks = (torch.stack([torch.as_tensor(x) for x in column]) for column in zip(*scenes))
    model.eval()  # the same norm statistics before and after the step

    def loss() -> torch.Tensor:
        with SpatialLogits(model) as taps:
            model(pictures)
        return attention_on_object_loss(taps.logits, masks)

    before = loss()
    before.backward()
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.grad is not None:
                parameter -= 0.05 * parameter.grad
        after = loss()
    assert float(after) < float(before.detach())


def test_a_mask_loss_reaching_attention_only_moves_no_weight_but_the_spatial_attentions() -> None:
    """With the reach kept to attention, a step on class loss plus mask loss leaves every other weight where the
    class loss alone puts it, while the spatial attentions move, and the loss's value still counts the term."""
    scenes = ShapesMasked("train", 8, 32, seed=3, transform=ShapesWithMask(preprocessing_for("shapes", 32)))
    pictures, labels, masks = (torch.stack([torch.as_tensor(x) for x in column]) for column in zip(*scenes))
    torch.manual_seed(0)
    start = build_model("attention_resnet_shapes", **SHIPPED_LIKE).state_dict()
    after: dict[str, dict[str, torch.Tensor]] = {}
    for kind in ("class only", "reaching attention", "reaching everything"):
        model = build_model("attention_resnet_shapes", **SHIPPED_LIKE)
        model.load_state_dict(start)
        with SpatialLogits(model) as taps:
            loss = torch.nn.functional.cross_entropy(model(pictures), labels)
        term = 2.0 * attention_on_object_loss(taps.logits, masks)
        if kind == "reaching attention":
            reached = reaching_only(term, taps.own_parameters())
            assert torch.allclose(reached, term)
            loss = loss + reached
        elif kind == "reaching everything":
            loss = loss + term
        loss.backward()
        with torch.no_grad():
            for parameter in model.parameters():
                parameter -= 0.1 * parameter.grad
        after[kind] = {key: value.clone() for key, value in model.state_dict().items()}
    spatial = {key for key in start if ".attention.spatial." in key and key.endswith(("conv.weight", "norm.weight"))}
    assert len(spatial) == 8 and len(taps.own_parameters()) == 12  # a conv weight and a norm's weight and bias each
    plain, reach, full = after["class only"], after["reaching attention"], after["reaching everything"]
    for key in start:
        if ".attention.spatial." in key:
            continue
        assert torch.allclose(reach[key], plain[key], atol=1e-6), key
    assert any(not torch.allclose(full[key], plain[key], atol=1e-4) for key in start if "stages.0.0.conv" in key)
    for key in spatial:
        assert not torch.allclose(reach[key], plain[key], atol=1e-5), key


def test_spatial_logits_keep_every_layers_logits_with_gradients_and_leave_no_hook_behind() -> None:
    torch.manual_seed(1)  # weights whose logits are negative somewhere in every layer, whatever ran before
    model = build_model("attention_resnet_shapes", num_classes=6, widths=[8, 16, 16, 16])
    taps = SpatialLogits(model)
    assert len(taps.layers) == 4
    gates: list[torch.Tensor] = []
    seen = [layer.mask_tap.register_forward_hook(lambda _m, _a, out: gates.append(out.mask)) for layer in taps.layers]
    with taps:
        model(torch.randn(2, 3, 32, 32))
    for handle in seen:
        handle.remove()
    assert [tuple(t.shape[-2:]) for t in taps.logits] == [(16, 16), (8, 8), (4, 4), (2, 2)]
    assert all(t.requires_grad for t in taps.logits)
    for layer, logits, gate in zip(taps.layers, taps.logits, gates):  # the logits the gate read, not the gate
        assert torch.equal(layer.gate(logits), gate) and (logits < 0).any()
    assert all(not layer.mask_tap._forward_hooks for layer in taps.layers)
    with pytest.raises(RuntimeError), SpatialLogits(model):
        model(torch.randn(2, 5, 32, 32))  # the wrong channel count fails inside the pass
    assert all(not layer.mask_tap._forward_hooks for layer in taps.layers)


def test_training_with_the_mask_loss_says_so_in_the_checkpoint_and_changes_the_weights(tmp_path: Path) -> None:
    args = ["--dataset", "shapes", "--train-size", "32", "--val-size", "16", "--test-size", "16", "--epochs", "1"]
    args += ["--batch-size", "16", "--image-size", "32", "--widths", "8", "16", "16", "16", "--no-progress"]
    masked = train(parse_args([*args, "--mask-loss", "5", "--out", str(tmp_path / "masked.pt")]))
    plain = train(parse_args([*args, "--out", str(tmp_path / "plain.pt")]))
    assert masked["training"]["mask_loss"] == 5.0 and plain["training"]["mask_loss"] == 0.0
    assert masked["training"]["mask_loss_reach"] == "network" and plain["training"]["mask_loss_reach"] is None
    assert masked["training"]["steps"] == plain["training"]["steps"] == 2
    assert torch.load(tmp_path / "masked.pt", weights_only=True)["training"]["mask_loss"] == 5.0
    spatial = [key for key in masked["state_dict"] if ".spatial.conv." in key]
    assert spatial and any(not torch.equal(masked["state_dict"][k], plain["state_dict"][k]) for k in spatial)


def test_the_train_command_keeps_a_mask_loss_reaching_attention_off_every_other_weight(tmp_path: Path) -> None:
    """One step at two mask-loss weights on the same scenes: with the reach kept to attention only the spatial
    attentions differ, as the checkpoint records; with the default reach the convolutions differ too."""
    args = ["--dataset", "shapes", "--train-size", "16", "--val-size", "8", "--test-size", "8", "--max-steps", "1"]
    args += ["--batch-size", "16", "--image-size", "32", "--widths", "8", "16", "16", "16", "--spatial-norm"]
    args += ["--no-progress", "--threads", "1"]
    runs = {}
    for reach in ("attention", "network"):
        for weight in ("0.001", "5"):
            out = str(tmp_path / f"{reach}{weight}.pt")
            extra = ["--mask-loss", weight, "--mask-loss-reach", reach, "--out", out]
            runs[reach, weight] = train(parse_args([*args, *extra]))
    assert runs["attention", "5"]["training"]["mask_loss_reach"] == "attention"
    for reach, kept in (("attention", True), ("network", False)):
        light, heavy = runs[reach, "0.001"]["state_dict"], runs[reach, "5"]["state_dict"]
        spatial = [key for key in light if ".attention.spatial.conv." in key]
        assert spatial and all(not torch.allclose(light[k], heavy[k], atol=1e-5) for k in spatial)
        convs = [key for key in light if key.startswith("stages.") and key.endswith(("conv1.weight", "conv2.weight"))]
        assert all(torch.allclose(light[k], heavy[k], atol=1e-6) for k in convs) is kept


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--mask-loss", "-1"], "error: --mask-loss must be a weight from 0 to 100"),
        (["--mask-loss", "nan"], "error: --mask-loss must be a weight from 0 to 100"),
        (["--mask-loss", "1", "--surface-pairs", "1"], "error: --mask-loss needs --dataset shapes"),
        (["--mask-loss", "1", "--attention", "eca"], "error: --mask-loss needs spatial attention"),
    ],
)
def test_the_train_command_refuses_a_bad_mask_loss_request_in_one_line(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["--dataset", "shapes", "--train-size", "8", *extra, "--max-steps", "1", "--out", str(tmp_path / "x.pt")])
    text = str(refused.value.code)
    assert text.startswith(message) and "\n" not in text
    assert not (tmp_path / "x.pt").exists()


def test_the_train_command_refuses_an_unknown_mask_loss_reach_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["--dataset", "shapes", "--mask-loss", "1", "--mask-loss-reach", "../x", "--out", str(tmp_path / "x.pt")])
    assert refused.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("python -m models.train: error: argument --mask-loss-reach: invalid choice")
    assert not (tmp_path / "x.pt").exists()


def test_the_mask_loss_refuses_a_dataset_without_object_masks(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["--dataset", "imagefolder", "--data-root", str(tmp_path), "--mask-loss", "1", "--out", "x.pt"])
    assert str(refused.value.code).startswith("error: --mask-loss needs --dataset shapes")
