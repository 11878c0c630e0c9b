"""Ablation: each reported probability checked against a forward pass with the layer really replaced."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import torch
from torch import nn

from attention.ablation import Ablator, run_ablations
from attention.errors import InputError
from attention.images import load_image
from attention.recorder import AttentionRecorder, find_attention_layers
from models.checkpoint import load_checkpoint

EXAMPLES = ["assets/examples/shapes_star_11.png", "assets/examples/shapes_circle_2.png"]


class _MeanGate(nn.Module):
    """A layer replaced by its input times the mean of the original layer's own gate."""

    def __init__(self, original: nn.Module) -> None:
        super().__init__()
        self.original = original

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self.original, "channel_weights"):
            gate = self.original.channel_weights(x).weights
        else:
            gate = self.original.spatial_weights(x).mask
        return x * gate.flatten(1).mean(dim=1).view(-1, 1, 1, 1)


def _replaced(model: nn.Module, name: str, make: Callable[[nn.Module], nn.Module]) -> nn.Module:
    """A deep copy of ``model`` with the module called ``name`` swapped, the way a test can do independently."""
    twin = copy.deepcopy(model)
    parent_name, _, child = name.rpartition(".")
    parent = twin.get_submodule(parent_name)
    setattr(parent, child, make(getattr(parent, child)))
    return twin


@pytest.fixture(scope="module")
def shapes():  # noqa: ANN201
    loaded = load_checkpoint("shapes")
    images = [load_image(path) for path in EXAMPLES]
    from attention.images import preprocess

    prep = loaded.preprocessing
    batch = preprocess(images, prep.input_size, prep.channels, prep.mean, prep.std)
    return loaded, batch


@contextmanager
def _attached(model: nn.Module) -> Iterator[tuple[list[tuple[str, nn.Module]], Ablator]]:
    """An Ablator attached to every attention layer of ``model`` for the block, detached after it."""
    layers = [(name, module) for name, module, _ in find_attention_layers(model)]
    ablator = Ablator(layers)
    ablator.attach()
    try:
        yield layers, ablator
    finally:
        ablator.detach()


def _recorded(model: nn.Module, batch: torch.Tensor):  # noqa: ANN202
    with torch.inference_mode(), AttentionRecorder(model) as recorder:
        logits = model(batch)
    return recorder.records, torch.softmax(logits, dim=1)


@pytest.mark.parametrize("mode", ["identity", "mean"])
def test_ablated_probabilities_match_the_model_with_the_layer_replaced(shapes, mode: str) -> None:  # noqa: ANN001
    loaded, batch = shapes
    model = loaded.model
    records, probabilities = _recorded(model, batch)
    with _attached(model) as (layers, ablator):
        results = run_ablations(model, batch, ablator, records, probabilities, loaded.classes, mode)
    assert len(results) == batch.shape[0] and all(len(entry) == len(layers) for entry in results)
    changed = 0
    for position, (name, _module) in enumerate(layers):
        swap = (lambda _original: nn.Identity()) if mode == "identity" else _MeanGate
        with torch.inference_mode():
            expected = torch.softmax(_replaced(model, name, swap)(batch), 1)
        for index in range(batch.shape[0]):
            entry = results[index][position]
            assert entry["layer"] == name and entry["mode"] == mode
            base = int(probabilities[index].argmax())
            best = int(expected[index].argmax())
            assert entry["prediction"]["index"] == best
            assert entry["prediction"]["label"] == loaded.classes[best]
            assert entry["prediction"]["probability"] == pytest.approx(float(expected[index, best]), abs=2e-6)
            delta = float(expected[index, base] - probabilities[index, base])
            assert entry["delta"] == pytest.approx(delta, abs=2e-6)
            changed += abs(delta) > 1e-4
    assert changed > 0  # some layer matters, so the comparison above is not trivially zero
    # The shared model is untouched: the same output as before, and no hook left behind.
    with torch.inference_mode():
        after = torch.softmax(model(batch), 1)
    torch.testing.assert_close(after, probabilities, rtol=0, atol=0)
    assert all(not module._forward_hooks for _, module in layers)


def test_ablations_and_normal_passes_run_at_the_same_time(shapes) -> None:  # noqa: ANN001
    """Threads ablating and threads analysing share one model object; each gets exactly its own answer."""
    loaded, batch = shapes
    model = loaded.model
    records, probabilities = _recorded(model, batch)
    with _attached(model) as (_layers, ablator):
        expected_ablations = run_ablations(model, batch, ablator, records, probabilities, loaded.classes, "identity")
        failures: list[str] = []

        def ablate() -> None:
            for _ in range(3):
                got = run_ablations(model, batch, ablator, records, probabilities, loaded.classes, "identity")
                if got != expected_ablations:
                    failures.append("ablation differs")

        def plain() -> None:
            for _ in range(12):
                with torch.inference_mode():
                    got = torch.softmax(model(batch), 1)
                if not torch.equal(got, probabilities):
                    failures.append("plain pass changed by another thread's ablation")

        threads = [threading.Thread(target=ablate) for _ in range(2)] + [
            threading.Thread(target=plain) for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert not failures, failures[:3]


def test_bad_layer_or_mode_is_one_line() -> None:
    model = load_checkpoint("shapes").model
    with _attached(model) as (_layers, ablator):
        with pytest.raises(InputError, match="not an attention layer"):
            ablator.ablating("stem.0", "identity")
        with pytest.raises(InputError, match="unknown ablation mode 'zero'"):
            ablator.ablating(ablator.layer_names[0], "zero")
        # A failed pass releases the thread: it can ablate again.
        with pytest.raises(RuntimeError):
            with ablator.ablating(ablator.layer_names[0], "identity"):
                model(torch.randn(1, 5, 64, 64))
        with ablator.ablating(ablator.layer_names[0], "identity"):
            pass


def test_an_ablator_says_whether_its_hooks_are_on() -> None:
    model = load_checkpoint("shapes").model
    layers = [(name, module) for name, module, _ in find_attention_layers(model)]
    ablator = Ablator(layers)
    assert not ablator.attached
    ablator.attach()
    try:
        assert ablator.attached
    finally:
        ablator.detach()
    assert not ablator.attached
    assert Ablator([]).attached  # nothing to hook: always ready


def test_run_ablations_refuses_an_unknown_mode_before_any_pass(shapes) -> None:  # noqa: ANN001
    loaded, batch = shapes
    model = loaded.model
    records, probabilities = _recorded(model, batch)
    passes: list[int] = []
    handle = model.register_forward_hook(lambda *_: passes.append(1))
    try:
        with _attached(model) as (_layers, ablator):
            with pytest.raises(InputError, match="unknown ablation mode 'zero'"):
                run_ablations(model, batch, ablator, records, probabilities, loaded.classes, "zero")
    finally:
        handle.remove()
    assert passes == []
