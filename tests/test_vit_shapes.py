"""The vision transformer trained here: its config is bounded like the CNNs', and it trains, distils and loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

from attention.analysis import Analyzer, TokenLayer
from attention.errors import CheckpointError
from attention.records import TokenRecord
from models.bounds import ConfigError, check_config
from models.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from models.evaluation import evaluate_checkpoint
from models.evaluation.report import format_report
from models.evaluation.run import class_token_maps
from models.networks import build_model, resolved_config
from models.train import distillation_loss, main, parse_args, train

SHAPES = ["circle", "ring", "square", "triangle", "star", "cross"]


def vit_config(**changes: object) -> dict:
    return resolved_config("vit_shapes", {"num_classes": 6, "in_channels": 3, **changes})


def save_vit(path: Path) -> Path:
    """A vit_shapes checkpoint at random init, as models.train would write it."""
    payload = {
        "format": "attention-lens-checkpoint",
        "version": 1,
        "arch": "vit_shapes",
        "config": vit_config(),
        "classes": SHAPES,
        "preprocessing": {"input_size": [64, 64], "channels": 3, "mean": [0.5] * 3, "std": [0.25] * 3},
        "state_dict": build_model("vit_shapes", **vit_config()).state_dict(),
        "training": {"dataset": "shapes"},
    }
    save_checkpoint(path, payload)
    return path


@pytest.mark.parametrize(
    "changes",
    [{}, {"stem": "patch"}, {"embed_dim": 64, "depth": 2, "num_heads": 2, "mlp_ratio": 4.0}, {"patch_size": 4}],
    ids=["shipped", "patch-stem", "narrow", "patch-4"],
)
def test_vit_cost_estimate_counts_the_built_networks_parameters(changes: dict) -> None:
    config = vit_config(**changes)
    cost = check_config("vit_shapes", config, (64, 64))
    model = build_model("vit_shapes", **config)
    assert cost.parameters == sum(parameter.numel() for parameter in model.parameters())
    tokens = (64 // config["patch_size"]) ** 2
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 6)
    assert model.patch_embed(torch.zeros(1, 3, 64, 64)).shape == (1, tokens, config["embed_dim"])


@pytest.mark.parametrize("stem", ["conv", "patch"])
def test_vit_cost_estimate_counts_the_multiply_adds_torch_counts(stem: str) -> None:
    config = vit_config(stem=stem)
    cost = check_config("vit_shapes", config, (64, 64))
    model = build_model("vit_shapes", **config).eval()
    for block in model.blocks:
        block.attn.fused_attn = False  # torch's counter sees the explicit q·kᵀ and weighted sum, not a fused kernel
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 3, 64, 64))
    multiply_adds = counter.get_total_flops() / 2
    assert 0.97 * multiply_adds <= cost.multiply_adds <= 1.03 * multiply_adds


@pytest.mark.parametrize(
    ("changes", "size", "field"),
    [
        ({"patch_size": 6}, 64, "does not divide"),
        ({"patch_size": 1}, 64, "conv stem halves"),
        ({"patch_size": 12, "image_size": 96}, 96, "conv stem halves"),
        ({"patch_size": 1, "image_size": 128, "stem": "patch"}, 128, "patch tokens"),
        ({"num_heads": 5}, 64, "does not split"),
        ({"embed_dim": 10**6}, 64, "config embed_dim"),
        ({"depth": 0}, 64, "config depth"),
        ({"depth": 10**9}, 64, "config depth"),
        ({"mlp_ratio": float("nan")}, 64, "config mlp_ratio"),
        ({"stem": "os.system"}, 64, "config stem"),
        ({"image_size": 128}, 64, "preprocessing gives 64x64"),
        ({"num_heads": True}, 64, "config num_heads"),
        ({"embed_dim": 4096, "depth": 48, "mlp_ratio": 8.0}, 64, "parameters"),
        ({"patch_size": 2, "image_size": 128, "stem": "patch"}, 128, "activation values"),
        ({"qkv_bias": False}, 64, "unknown key"),
    ],
)
def test_a_hostile_vit_config_is_refused_before_anything_is_built(changes: dict, size: int, field: str) -> None:
    with pytest.raises(ConfigError, match=field) as refused:
        check_config("vit_shapes", vit_config(**changes), (size, size))
    assert "\n" not in str(refused.value)


def test_a_checkpoint_with_a_hostile_vit_config_is_refused_in_one_line(tmp_path: Path) -> None:
    good = save_vit(tmp_path / "vit.pt")
    loaded = load_checkpoint(good)
    assert loaded.arch == "vit_shapes" and not loaded.model.training
    bad = tmp_path / "huge.pt"
    save_checkpoint(bad, {**read_checkpoint(good), "config": vit_config(depth=10**6)})
    with pytest.raises(CheckpointError, match="config depth") as refused:
        load_checkpoint(bad)
    assert "\n" not in str(refused.value)


def test_distillation_loss_is_the_cross_entropy_against_the_teachers_softmax() -> None:
    torch.manual_seed(0)
    teacher = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 6))
    images, logits = torch.randn(5, 3, 2, 2), torch.randn(5, 6)
    target = teacher(images).softmax(dim=1)
    expected = torch.nn.functional.cross_entropy(logits, target.detach())
    assert torch.allclose(distillation_loss(logits, teacher, images), expected, atol=1e-6)
    # The teacher's own answer is the student's best: any other logits cost more.
    best = distillation_loss(teacher(images).detach(), teacher, images)
    assert best < distillation_loss(logits, teacher, images)


@pytest.mark.slow
def test_a_vit_distils_from_the_shipped_cnn_and_its_checkpoint_records_every_layer(tmp_path: Path) -> None:
    out = tmp_path / "vit.pt"
    # The student reads what its teacher reads: the shipped CNN's 128-pixel pictures.
    args = [
        "--dataset",
        "shapes",
        "--arch",
        "vit_shapes",
        "--image-size",
        "128",
        "--teacher",
        "shapes",
        "--distill",
        "0.7",
    ]
    args += ["--epochs", "5", "--train-size", "96", "--val-size", "32", "--test-size", "32", "--batch-size", "16"]
    args += ["--optimizer", "adamw", "--lr", "2e-3", "--weight-decay", "0.05", "--threads", "2", "--no-progress"]
    payload = train(parse_args([*args, "--out", str(out)]))
    losses = [epoch["train_loss"] for epoch in payload["metrics"]["history"]]
    assert losses[-1] < 0.95 * losses[0], losses
    assert payload["training"]["teacher"] == "shapes" and payload["training"]["distill"] == 0.7
    assert payload["config"]["image_size"] == 128 and payload["config"]["stem"] == "conv"
    loaded = load_checkpoint(out)
    picture = Image.fromarray(np.random.default_rng(0).integers(0, 256, (80, 80, 3), dtype=np.uint8))
    with Analyzer(loaded.model, loaded.classes, loaded.preprocessing) as analyzer:
        (result,) = analyzer.analyze([picture])
    layers = [layer for layer in result.layers if isinstance(layer, TokenLayer)]
    assert len(layers) == 6 and {layer.grid for layer in layers} == {(16, 16)}
    assert {layer.heads for layer in layers} == {4} and {layer.tokens for layer in layers} == {257}  # 16 x 16 + 1


def test_a_teacher_for_other_classes_is_refused_in_one_line(tmp_path: Path) -> None:
    args = ["--dataset", "shapes", "--arch", "vit_shapes", "--teacher", "fashion", "--max-steps", "1"]
    with pytest.raises(SystemExit) as refused:
        main([*args, "--out", str(tmp_path / "x.pt"), "--no-progress"])
    message = str(refused.value.code)
    assert message.startswith("error: --teacher fashion names the classes") and "\n" not in message
    assert not (tmp_path / "x.pt").exists()


def test_the_class_token_maps_put_each_patch_where_it_sits_in_the_image() -> None:
    """A class token that attends to one patch only peaks at that patch's row and column, per layer and in rollout."""
    model = build_model("vit_shapes", **vit_config())
    row, column, heads, tokens = 2, 5, 4, 65
    patch = 1 + row * 8 + column  # the class token comes first, then the patches row by row
    first = torch.zeros(3, heads, tokens)
    first[:, :, patch] = 1.0
    mean = torch.full((3, tokens, tokens), 1.0 / tokens)  # every other token attends evenly
    mean[:, 0, :] = 0.1 / (tokens - 1)
    mean[:, 0, patch] = 0.9
    records = [TokenRecord(f"blocks.{index}.attn", "timm_attention", first, mean=mean) for index in range(2)]
    maps = class_token_maps(model, records)
    assert set(maps) == {"blocks.0.attn", "blocks.1.attn", "rollout"}
    for value in maps.values():
        assert value.shape == (3, 8, 8)
        peaks = value.flatten(1).argmax(dim=1)
        assert (peaks == row * 8 + column).all()
    # Without a class token there is no map to score, even where the tokens make a square grid.
    assert class_token_maps(torch.nn.Identity(), records) == {}
    square = [TokenRecord("blocks.0.attn", "timm_attention", first[:, :, 1:], mean=mean[:, 1:, 1:])]
    assert class_token_maps(torch.nn.Identity(), square) == {}
    assert class_token_maps(model, []) == {}


def test_the_evaluation_scores_a_vit_on_the_pointing_game_without_grad_cam(tmp_path: Path) -> None:
    path = save_vit(tmp_path / "vit.pt")
    result = evaluate_checkpoint(load_checkpoint(path), "shapes-heldout", limit=8, progress=False)
    rows = result["localization"]
    assert [key for key in rows if key.startswith("blocks.")] == [f"blocks.{index}.attn" for index in range(6)]
    assert "rollout" in rows and "grad_cam" not in rows and "centre_prior" in rows
    assert all(0.0 <= row["pointing_game"] <= 1.0 and row["n"] == 8 for row in rows.values())
    report = format_report(result)
    assert "blocks.5.attn class token, head mean" in report and "rollout from the class token" in report


def test_a_teacher_that_reads_other_images_is_refused_in_one_line(tmp_path: Path) -> None:
    args = ["--dataset", "shapes", "--arch", "vit_shapes", "--image-size", "32", "--teacher", "shapes"]
    with pytest.raises(SystemExit) as refused:
        main([*args, "--max-steps", "1", "--out", str(tmp_path / "x.pt"), "--no-progress"])
    message = str(refused.value.code)
    teacher = load_checkpoint("shapes").preprocessing.input_size
    assert message.startswith("error: --teacher shapes reads images as") and f"{tuple(teacher)}" in message
    assert "(32, 32)" in message
    assert "\n" not in message and not (tmp_path / "x.pt").exists()


@pytest.mark.parametrize("weight", ["1.5", "-0.1", "nan"])
def test_a_distillation_weight_outside_zero_to_one_is_refused_in_one_line(tmp_path: Path, weight: str) -> None:
    args = ["--dataset", "shapes", "--arch", "vit_shapes", "--teacher", "shapes", "--distill", weight]
    with pytest.raises(SystemExit) as refused:
        main([*args, "--max-steps", "1", "--out", str(tmp_path / "x.pt"), "--no-progress"])
    message = str(refused.value.code)
    assert message.startswith("error: --distill must be a weight from 0 to 1") and "\n" not in message
    assert not (tmp_path / "x.pt").exists()
