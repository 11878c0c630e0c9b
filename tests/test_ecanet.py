"""The official ECA-Net architectures: their names and shapes match the release, and the authors' files load."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn
from torch.nn import functional as F

from attention.errors import CheckpointError, InputError
from models import ecanet
from models.specs import load_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# torchvision's ResNets and MobileNetV2 use the same module names as the authors' code, so
# the ECA versions must have exactly torchvision's tensors plus one ECA kernel per block.
TORCHVISION_TWINS = {
    "eca_resnet18": "resnet18",
    "eca_resnet34": "resnet34",
    "eca_resnet50": "resnet50",
    "eca_resnet101": "resnet101",
    "eca_resnet152": "resnet152",
    "eca_mobilenet_v2": "mobilenet_v2",
}


def randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random batch-norm statistics and affine parameters, so no gate sees all-zero inputs."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.copy_(torch.randn(module.num_features, generator=generator))
                module.running_var.copy_(torch.rand(module.num_features, generator=generator) * 1.5 + 0.5)
                module.weight.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(module.num_features, generator=generator) * 0.5)
            elif isinstance(module, nn.Conv1d):  # the ECA kernels
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator))
    return model.eval()


def eca_kernels(model: nn.Module) -> dict[str, int]:
    layers = ((name, module) for name, module in model.named_modules() if isinstance(module, ecanet.eca_layer))
    return {name: module.conv.kernel_size[0] for name, module in layers}


@pytest.mark.parametrize("name", list(TORCHVISION_TWINS))
def test_state_dict_names_match_the_release(name: str) -> None:
    with torch.device("meta"):  # names and shapes only: skip initialising the weights
        model = ecanet.ARCHITECTURES[name]()
        twin = torchvision.models.get_model(TORCHVISION_TWINS[name], weights=None)
    ours = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    eca_keys = {key for key, shape in ours.items() if len(shape) == 3}  # Conv1d kernels; torchvision has none
    theirs = {key: tuple(value.shape) for key, value in twin.state_dict().items()}
    assert {key: shape for key, shape in ours.items() if key not in eca_keys} == theirs
    block_types = ("BasicBlock", "Bottleneck", "InvertedResidual")
    blocks = sum(1 for module in twin.modules() if type(module).__name__ in block_types)
    assert len(eca_keys) == blocks == len(eca_kernels(model))


@pytest.mark.parametrize(
    ("name", "per_stage"),
    [("eca_resnet50", (3, 5, 5, 7)), ("eca_resnet101", (3, 3, 5, 7)), ("eca_resnet152", (3, 3, 5, 7))],
)
def test_released_kernel_sizes_per_stage(name: str, per_stage: tuple[int, ...]) -> None:
    # The README's released files: eca_resnet50_k3557, eca_resnet101_k3357, eca_resnet152_k3357.
    with torch.device("meta"):
        kernels = eca_kernels(ecanet.ARCHITECTURES[name]())
    for stage, size in enumerate(per_stage, start=1):
        in_stage = {k for n, k in kernels.items() if n.startswith(f"layer{stage}.")}
        assert in_stage == {size}, (stage, in_stage)


def test_mobilenet_kernel_sizes_follow_the_channel_count() -> None:
    model = ecanet.ARCHITECTURES["eca_mobilenet_v2"]()
    for name, module in model.named_modules():
        if isinstance(module, ecanet.eca_layer):
            block = model.get_submodule(name.rsplit(".conv.", 1)[0])
            channels = block.conv[-2].num_features
            assert module.conv.kernel_size[0] == (1 if channels <= 96 else 3), name


def test_eca_layer_gates_channels_like_the_paper() -> None:
    torch.manual_seed(0)
    layer = ecanet.eca_layer(32, 5)
    nn.init.normal_(layer.conv.weight)
    x = torch.randn(2, 32, 6, 7)
    pooled = x.mean(dim=(2, 3))  # (B, C)
    # The 1-D convolution runs along the channel axis with zero padding of (k - 1) / 2.
    mixed = F.conv1d(pooled[:, None, :], layer.conv.weight, padding=2)[:, 0, :]
    expected = x * torch.sigmoid(mixed)[:, :, None, None]
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="odd"):
        ecanet.eca_layer(32, 4)


def save_official(model: nn.Module, arch: str, path: Path) -> None:
    """What the authors' main.py writes: DataParallel keys, and the optimizer after a step."""
    # The step is bounded (gradient norm clipped; 4 images of 64 pixels, so the last stage's batch norm
    # sees 16 values per channel, not 2): no thread count or summation order blows a random network up.
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, weight_decay=1e-4)
    model.train()
    model(torch.randn(4, 3, 64, 64)).logsumexp(dim=1).mean().backward()
    nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    optimizer.step()
    optimizer.zero_grad()
    model.eval()
    wrapped = nn.DataParallel(model)
    torch.save(
        {
            "epoch": 90,
            "arch": arch,
            "state_dict": wrapped.state_dict(),
            "best_prec1": torch.tensor(77.48),
            "optimizer": optimizer.state_dict(),
        },
        path,
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", ["eca_resnet18", "eca_resnet50"])
def test_official_pth_tar_loads_unchanged(tmp_path: Path, name: str) -> None:
    torch.manual_seed(1)
    model = randomise(ecanet.ARCHITECTURES[name](), seed=2)
    path = tmp_path / f"{name}_model_best.pth.tar"
    save_official(model, name, path)
    assert all(key.startswith("module.") for key in torch.load(path, weights_only=True)["state_dict"])

    loaded = load_model(f"ecanet:{name}", weights=path, preprocessing_overrides={"input_size": 64})
    assert not loaded.model.training
    assert loaded.config["k_size"] == list(ecanet.RELEASED_KERNEL_SIZES[name])
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        output = loaded.model(x)
        assert torch.isfinite(output).all() and output.std() > 0
        assert torch.equal(output, model(x))
    assert len(loaded.classes) == 1000 and loaded.classes[0] == "tench"
    assert loaded.preprocessing.mean == (0.485, 0.456, 0.406) and loaded.preprocessing.std == (0.229, 0.224, 0.225)


def test_own_kernel_sizes_and_classes_are_read_from_the_file(tmp_path: Path) -> None:
    # Trained with main.py --ksize 3333 on 7 classes: the file says so, and loads as trained.
    model = randomise(ecanet.ARCHITECTURES["eca_resnet50"](num_classes=7, k_size=(3, 3, 3, 3)), seed=3)
    path = tmp_path / "checkpoint.pth.tar"
    torch.save({"epoch": 1, "arch": "eca_resnet50", "state_dict": nn.DataParallel(model).state_dict()}, path)
    loaded = load_model("ecanet:eca_resnet50", weights=path, preprocessing_overrides={"input_size": 48})
    assert loaded.config["k_size"] == [3, 3, 3, 3]
    assert loaded.classes == [f"class {i}" for i in range(7)]
    x = torch.randn(1, 3, 48, 48)
    with torch.inference_mode():
        assert torch.equal(loaded.model(x), model(x))


def test_mixed_kernel_sizes_in_one_stage_are_named(tmp_path: Path) -> None:
    state = ecanet.ARCHITECTURES["eca_resnet18"]().state_dict()
    state["layer1.0.eca.conv.weight"] = torch.randn(1, 1, 5)
    path = tmp_path / "odd.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as error:
        load_model("ecanet:eca_resnet18", weights=path)
    assert str(error.value) == (
        "odd.pth does not fit ecanet:eca_resnet18: layer1.0.eca.conv.weight is [1, 1, 5] in the file "
        "but [1, 1, 3] in the model"
    )


def test_plain_resnet_is_another_architecture(tmp_path: Path) -> None:
    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(CheckpointError) as error:
        load_model("ecanet:eca_resnet18", weights=path)
    message = str(error.value)
    assert message.startswith(
        "resnet18.pth is a state dict for another architecture than ecanet:eca_resnet18: "
        "layer1.0.eca.conv.weight is missing from the file"
    )
    assert "\n" not in message


def test_ecanet_without_weights_says_how_to_pass_them() -> None:
    with pytest.raises(InputError, match="needs --weights FILE"):
        load_model("ecanet:eca_mobilenet_v2")
