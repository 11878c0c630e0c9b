"""The dataset profile: accuracies and activity recomputed here from plain passes of the same data."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from attention.ablation import ablator_for
from attention.profile import profile_model, write_report
from attention.recorder import AttentionRecorder, find_attention_layers
from models.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow  # every test reads one profile of a whole dataset (1 + 2 L passes per batch)


def _batches(loaded, count: int = 48, batch_size: int = 16):  # noqa: ANN001, ANN202
    from models.datasets import ShapesDataset
    from models.transforms import eval_transform

    side = loaded.preprocessing.input_size[0]
    dataset = ShapesDataset("test", length=count, size=side, transform=eval_transform(loaded.preprocessing))
    items = [dataset[index] for index in range(count)]
    inputs = torch.stack([item[0] for item in items])
    labels = torch.tensor([int(item[-1]) for item in items])
    return [(inputs[i : i + batch_size], labels[i : i + batch_size]) for i in range(0, count, batch_size)]


@pytest.fixture(scope="module")
def profiled():  # noqa: ANN201
    loaded = load_checkpoint("shapes")
    batches = _batches(loaded)
    layers = find_attention_layers(loaded.model)
    recorder = AttentionRecorder(loaded.model, layers=layers)
    ablator = ablator_for(layers)
    recorder.attach()
    ablator.attach()
    try:
        profile = profile_model(loaded.model, batches, loaded.classes, recorder, ablator, model_name="shapes")
    finally:
        recorder.detach()
        ablator.detach()
    return loaded, batches, profile


def test_profile_accuracies_match_plain_passes_with_layers_replaced(profiled) -> None:  # noqa: ANN001
    loaded, batches, profile = profiled
    inputs = torch.cat([b[0] for b in batches])
    labels = torch.cat([b[1] for b in batches])
    with torch.inference_mode():
        accuracy = float((loaded.model(inputs).argmax(1) == labels).float().mean())
    assert profile.images == len(labels) and profile.accuracy == pytest.approx(accuracy)
    assert profile.accuracy > 0.9  # the shipped model on its own test scenes
    for layer in profile.layers:
        twin = copy.deepcopy(loaded.model)
        parent, _, child = layer.name.rpartition(".")
        setattr(twin.get_submodule(parent), child, nn.Identity())
        with torch.inference_mode():
            expected = float((twin(inputs).argmax(1) == labels).float().mean())
        assert layer.ablated_accuracy["identity"] == pytest.approx(expected), layer.name


def test_activity_and_class_means_match_the_recorded_gates(profiled) -> None:  # noqa: ANN001
    loaded, batches, profile = profiled
    inputs = torch.cat([b[0] for b in batches])
    labels = torch.cat([b[1] for b in batches]).numpy()
    with torch.inference_mode(), AttentionRecorder(loaded.model) as recorder:
        loaded.model(inputs)
    by_name = {record.name: record for record in recorder.records}
    assert [layer.name for layer in profile.layers] == list(by_name)
    for layer in profile.layers:
        record = by_name[layer.name]
        gate = (record.weights if layer.kind == "channel" else record.mask).numpy().astype(np.float64)
        assert layer.activity == pytest.approx(np.abs(1 - gate).mean(), rel=1e-5)
        if layer.kind == "channel":
            for index in set(labels.tolist()):
                np.testing.assert_allclose(layer.class_mean[index], gate[labels == index].mean(axis=0), rtol=1e-5)
        else:
            assert layer.class_mean is None


def test_report_and_json(profiled, tmp_path) -> None:  # noqa: ANN001
    _loaded, _batches_, profile = profiled
    files = write_report(profile, tmp_path)
    text = (tmp_path / "profile.md").read_text()
    assert f"{profile.accuracy:.2%}" in text and all(f"`{layer.name}`" in text for layer in profile.layers)
    channel_layers = [layer for layer in profile.layers if layer.kind == "channel"]
    assert len(files) == 1 + len(channel_layers) and all(path.stat().st_size > 1000 for path in files)
    document = profile.to_dict()
    assert set(document) == {"model", "data", "images", "accuracy", "classes", "layers"}
    assert set(document["layers"][0]) == {"name", "type", "activity", "ablated_accuracy", "class_mean"}
    assert len(document["layers"][0]["class_mean"]) == len(profile.classes)


def test_the_profile_document_rounds_every_number_to_six_digits() -> None:
    from attention.profile import LayerProfile, Profile

    layer = LayerProfile(
        name="c", type="eca", kind="channel", activity=0.12345678, ablated_accuracy={"identity": 0.87654321},
        class_mean=np.array([[0.11111111, 0.22222222]]),
    )  # fmt: skip
    document = Profile("shapes", "shapes", 10, 0.98765432, ["a"], [layer]).to_dict()
    assert document["accuracy"] == 0.987654
    (entry,) = document["layers"]
    assert entry["activity"] == 0.123457 and entry["ablated_accuracy"] == {"identity": 0.876543}
    assert entry["class_mean"] == [[0.111111, 0.222222]]
