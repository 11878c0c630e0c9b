"""The vision transformer trained here: its config is bounded like the CNNs', and it trains, distils and loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from attention.analysis import Analyzer, TokenLayer
from attention.errors import CheckpointError
from models.bounds import ConfigError, check_config
from models.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from models.networks import build_model, resolved_config
from models.train import distillation_loss, main, parse_args, train

SHAPES = ["circle", "ring", "square", "triangle", "star", "cross"]


def vit_config(**changes: object) -> dict:
    return resolved_config("vit_shapes", {"num_classes": 6, "in_channels": 3, **changes})


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


@pytest.mark.parametrize(
    ("changes", "size", "field"),
    [
        ({"patch_size": 6}, 64, "does not divide"),
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
    model = build_model("vit_shapes", **vit_config())
    payload = {
        "format": "attention-lens-checkpoint",
        "version": 1,
        "arch": "vit_shapes",
        "config": vit_config(),
        "classes": SHAPES,
        "preprocessing": {"input_size": [64, 64], "channels": 3, "mean": [0.5] * 3, "std": [0.25] * 3},
        "state_dict": model.state_dict(),
    }
    good = tmp_path / "vit.pt"
    save_checkpoint(good, payload)
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
    args = ["--dataset", "shapes", "--arch", "vit_shapes", "--teacher", "shapes", "--distill", "0.7"]
    args += ["--epochs", "5", "--train-size", "96", "--val-size", "32", "--test-size", "32", "--batch-size", "16"]
    args += ["--optimizer", "adamw", "--lr", "2e-3", "--weight-decay", "0.05", "--threads", "2", "--no-progress"]
    payload = train(parse_args([*args, "--out", str(out)]))
    losses = [epoch["train_loss"] for epoch in payload["metrics"]["history"]]
    assert losses[-1] < 0.95 * losses[0], losses
    assert payload["training"]["teacher"] == "shapes" and payload["training"]["distill"] == 0.7
    assert payload["config"]["image_size"] == 64 and payload["config"]["stem"] == "conv"
    loaded = load_checkpoint(out)
    picture = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    with Analyzer(loaded.model, loaded.classes, loaded.preprocessing) as analyzer:
        (result,) = analyzer.analyze([picture])
    layers = [layer for layer in result.layers if isinstance(layer, TokenLayer)]
    assert len(layers) == 6 and {layer.grid for layer in layers} == {(8, 8)}
    assert {layer.heads for layer in layers} == {4} and {layer.tokens for layer in layers} == {65}


def test_a_teacher_for_other_classes_is_refused_in_one_line(tmp_path: Path) -> None:
    args = ["--dataset", "shapes", "--arch", "vit_shapes", "--teacher", "fashion", "--max-steps", "1"]
    with pytest.raises(SystemExit) as refused:
        main([*args, "--out", str(tmp_path / "x.pt"), "--no-progress"])
    message = str(refused.value.code)
    assert message.startswith("error: --teacher fashion") and "\n" not in message
    assert not (tmp_path / "x.pt").exists()
