"""Weights files fitted to a model: wrapper prefixes come off the front of every name, and only there."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

from attention.errors import CheckpointError
from models.weights import align_keys, apply_weights, read_weights, split_keys


def named_like_a_wrapper() -> nn.Module:
    """A real network whose own names contain ``module.`` and ``model.`` inside them (``se_module``, ``submodel``)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        OrderedDict(
            se_module=nn.Conv2d(3, 4, 3, padding=1),
            submodel=nn.Sequential(nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 1)),
            pool=nn.AdaptiveAvgPool2d(1),
            flat=nn.Flatten(),
            head_model=nn.Linear(4, 3),
        )
    )
    with torch.no_grad():
        model.submodel[0].running_mean.uniform_(-0.5, 0.5)
        model.submodel[0].running_var.uniform_(0.5, 1.5)
    return model.eval()


@pytest.mark.parametrize("prefix", ["module.", "model.", "_orig_mod.", "module.model.", "model.module."])
def test_a_wrapper_prefix_is_removed_from_the_front_only(tmp_path: Path, prefix: str) -> None:
    native = named_like_a_wrapper()
    path = tmp_path / "wrapped.pth"
    torch.save({"state_dict": {prefix + key: value for key, value in native.state_dict().items()}}, path)
    weights = read_weights(path)
    assert set(align_keys(weights.state_dict, native.state_dict().keys())) == set(native.state_dict())
    fresh = named_like_a_wrapper()
    for parameter in fresh.parameters():
        nn.init.zeros_(parameter)
    apply_weights(fresh, weights, "my_net")
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        assert torch.equal(fresh(x), native(x))


def test_a_prefix_the_model_itself_has_is_kept() -> None:
    # A model whose own names all start with ``model.`` reads its own file unchanged.
    wrapper = nn.Module()
    wrapper.model = named_like_a_wrapper()
    state = wrapper.state_dict()
    assert all(key.startswith("model.") for key in state)
    assert align_keys(state, state.keys()) == state
    # A file with the prefix on only some names is left alone, so the mismatch is reported, not hidden.
    partly = {("module." + key if index % 2 else key): value for index, (key, value) in enumerate(state.items())}
    assert align_keys(partly, state.keys()) == partly


def test_one_tensor_of_another_shape_is_refused_by_name(tmp_path: Path) -> None:
    native = named_like_a_wrapper()
    state = {"module." + key: value for key, value in native.state_dict().items()}
    state["module.submodel.2.weight"] = torch.zeros(5, 4, 1, 1)
    path = tmp_path / "wider.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as error:
        apply_weights(named_like_a_wrapper(), read_weights(path), "my_net")
    assert str(error.value) == (
        "wider.pt does not fit my_net: submodel.2.weight is [5, 4, 1, 1] in the file but [4, 4, 1, 1] in the model"
    )


def test_a_file_missing_one_tensor_is_refused_and_only_step_counters_are_filled_in(tmp_path: Path) -> None:
    native = named_like_a_wrapper()
    state = native.state_dict()
    del state["submodel.2.bias"]
    path = tmp_path / "short.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as error:
        apply_weights(named_like_a_wrapper(), read_weights(path), "my_net")
    assert str(error.value) == "short.pt is a state dict for another architecture than my_net: " + (
        "submodel.2.bias is missing from the file"
    )
    # A file from before PyTorch 0.4.1 has no batch-norm step counter: that one is filled in, and loads.
    state = native.state_dict()
    del state["submodel.0.num_batches_tracked"]
    torch.save(state, path)
    fresh = named_like_a_wrapper()
    apply_weights(fresh, read_weights(path), "my_net")
    assert all(torch.equal(value, native.state_dict()[key]) for key, value in fresh.state_dict().items())


def _zeroed() -> nn.Module:
    fresh = named_like_a_wrapper()
    for parameter in fresh.parameters():
        nn.init.zeros_(parameter)
    return fresh


def _same_outputs(a: nn.Module, b: nn.Module) -> bool:
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        return torch.equal(a(x), b(x))


@pytest.mark.parametrize("prefix", ["model.", "net.backbone.", ""])
def test_entries_outside_the_model_are_listed_and_left_out_under_any_common_prefix(tmp_path: Path, prefix: str) -> None:
    native = named_like_a_wrapper()
    state = {prefix + key: value for key, value in native.state_dict().items()}
    # A Lightning module's loss weight and an optimizer leftover sit beside the model's tensors.
    state["criterion.weight"] = torch.ones(3)
    state["ema_decay"] = torch.tensor(0.999)
    path = tmp_path / "lightning.ckpt"
    torch.save({"state_dict": state, "epoch": 3}, path)
    weights = read_weights(path)
    aligned, ignored = split_keys(weights.state_dict, native.state_dict().keys())
    assert set(aligned) == set(native.state_dict()) and sorted(ignored) == ["criterion.weight", "ema_decay"]
    fresh = _zeroed()
    apply_weights(fresh, weights, "my_net")
    assert _same_outputs(fresh, native)


def test_tensors_of_a_bigger_network_under_the_prefix_are_refused_not_left_out(tmp_path: Path) -> None:
    native = named_like_a_wrapper()
    state = {"model." + key: value for key, value in native.state_dict().items()}
    state["model.submodel.3.weight"] = torch.zeros(4, 4, 1, 1)  # a block the model does not have
    state["extra_head.weight"] = torch.zeros(3, 4)  # outside the prefix and names nothing of the model's: left out
    state["other.head_model.bias"] = torch.zeros(3)  # outside the prefix but ends in a model's name: kept
    path = tmp_path / "bigger.pt"
    torch.save(state, path)
    aligned, ignored = split_keys(read_weights(path).state_dict, native.state_dict().keys())
    assert "submodel.3.weight" in aligned and "other.head_model.bias" in aligned and ignored == ["extra_head.weight"]
    with pytest.raises(CheckpointError, match="another architecture than my_net: .*submodel.3.weight"):
        apply_weights(_zeroed(), read_weights(path), "my_net")


def test_a_hostile_file_s_long_names_cost_no_more_than_the_model_s() -> None:
    native = named_like_a_wrapper()
    state = {"x." * 200_000 + key: value for key, value in native.state_dict().items()}
    aligned, ignored = split_keys(state, native.state_dict().keys())
    assert ignored == [] and set(aligned) == set(native.state_dict())


def test_the_ema_entry_is_read_only_when_asked_and_its_presence_is_said(tmp_path: Path) -> None:
    native, averaged = named_like_a_wrapper(), named_like_a_wrapper()
    with torch.no_grad():
        for parameter in averaged.parameters():
            parameter.mul_(0.5)
    path = tmp_path / "train.pth.tar"
    torch.save({"state_dict": native.state_dict(), "state_dict_ema": averaged.state_dict(), "arch": "my_net"}, path)
    # By default, as timm's validate without --use-ema: the plain weights, and the EMA entry named.
    plain = read_weights(path)
    assert plain.entry == "state_dict" and plain.ema == ("state_dict_ema",)
    fresh = _zeroed()
    apply_weights(fresh, plain, "my_net")
    assert _same_outputs(fresh, native)
    ema = read_weights(path, "state_dict_ema")
    assert ema.entry == "state_dict_ema" and ema.ema == () and ema.arch == "my_net"
    apply_weights(fresh, ema, "my_net")
    assert _same_outputs(fresh, averaged) and not _same_outputs(fresh, native)
    with pytest.raises(CheckpointError) as error:
        read_weights(path, "model_ema")
    assert str(error.value) == "train.pth.tar has no entry 'model_ema' (its entries: arch, state_dict, state_dict_ema)"
    # torchvision's and other scripts' ``model`` + ``model_ema``.
    torch.save({"model": native.state_dict(), "model_ema": averaged.state_dict()}, path)
    assert read_weights(path).entry == "model" and read_weights(path).ema == ("model_ema",)


def test_a_safetensors_file_is_known_by_its_header_whatever_its_name(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    native = named_like_a_wrapper()
    path = tmp_path / "pytorch_model.bin"  # the hub's name for either format
    save_file({key: value.contiguous() for key, value in native.state_dict().items()}, str(path))
    fresh = _zeroed()
    apply_weights(fresh, read_weights(path), "my_net")
    assert _same_outputs(fresh, native)


def test_a_state_dict_nested_two_entries_deep_is_found(tmp_path: Path) -> None:
    native = named_like_a_wrapper()
    path = tmp_path / "nested.ckpt"
    torch.save({"state_dict": {"model": native.state_dict(), "step": 10}, "epoch": 2}, path)
    weights = read_weights(path)
    assert weights.entry == "state_dict" and weights.extras == {"step": 10, "epoch": 2}
    fresh = _zeroed()
    apply_weights(fresh, weights, "my_net")
    assert _same_outputs(fresh, native)


@pytest.mark.parametrize("count", [5, 7])
def test_a_class_list_of_any_other_length_than_the_outputs_is_refused(count: int) -> None:
    from attention.errors import InputError
    from models.specs import load_model

    with pytest.raises(InputError) as error:
        load_model("shapes", classes=[f"c{index}" for index in range(count)])
    assert str(error.value) == f"the class list names {count} classes but shapes has 6 outputs"
    assert load_model("shapes", classes=list("abcdef")).classes == list("abcdef")
