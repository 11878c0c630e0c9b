"""Weights files fitted to a model: wrapper prefixes come off the front of every name, and only there."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

from attention.errors import CheckpointError
from models.weights import align_keys, apply_weights, read_weights


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
