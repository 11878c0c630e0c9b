"""Gates in torch.fx-traced networks and written inline: recorded where a module makes them, else named."""

from __future__ import annotations

import timm
import torch
import torchvision
from torch import fx, nn

from attention.ablation import ablator_for
from attention.discovery import discovery_report
from attention.fx_gates import inline_gates, traced_gates
from attention.recorder import AttentionRecorder, find_attention_layers
from tests.test_ecanet import randomise

SIZE = (3, 64, 64)


def recorded(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list]:
    layers = find_attention_layers(model, SIZE)
    recorder = AttentionRecorder(model, layers=layers)
    recorder.attach()
    try:
        with torch.inference_mode(), recorder.recording() as recording:
            output = model(x)
    finally:
        recorder.detach()
    return output, recording.records


def ablated(model: nn.Module, layer: str, mode: str, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    ablator = ablator_for(find_attention_layers(model, SIZE))
    ablator.attach()
    try:
        with torch.inference_mode(), ablator.ablating(layer, mode, scale):
            return model(x)
    finally:
        ablator.detach()


def test_a_traced_torchvision_network_records_every_gate_as_the_network_itself_does() -> None:
    torch.manual_seed(0)
    # The convolutional trunk: at random init the classifier's outputs barely differ between images.
    model = randomise(torchvision.models.mobilenet_v3_small(), seed=4).features
    traced = fx.symbolic_trace(model).eval()
    assert traced_gates(traced) and not any(name.endswith("scale_activation") for name, _ in traced.named_children())
    x = torch.randn(2, *SIZE)
    mine, records = recorded(traced, x)
    theirs, truth = recorded(model, x)
    assert torch.equal(mine, theirs)  # recording changes nothing
    assert [record.name for record in records] == [record.name for record in truth] and len(records) == 9
    for record, true in zip(records, truth):
        assert record.kind == true.kind == "channel"
        assert torch.equal(record.gate, true.gate) and float(record.gate.std()) > 1e-3
    busiest = max(records, key=lambda record: float((1 - record.gate).abs().mean()))  # the gate that scales most
    for mode in ("identity", "mean"):
        scale = busiest.gate.flatten(1).mean(dim=1)
        changed = ablated(traced, busiest.name, mode, x, scale)
        assert torch.allclose(changed, ablated(model, busiest.name, mode, x, scale), atol=1e-6)
        assert not torch.allclose(changed, mine, atol=1e-4)  # the ablation did something


def test_gates_a_trace_inlined_are_named_with_their_block_not_missed() -> None:
    model = randomise(timm.create_model("seresnet18"), seed=5)
    traced = fx.symbolic_trace(model).eval()
    layers = find_attention_layers(traced, SIZE)
    report = discovery_report(traced, layers)
    assert layers == [] and len(find_attention_layers(model, SIZE)) == 8
    assert [entry["name"] for entry in report["rejected"]] == [f"layer{s}.{b}.se" for s in range(1, 5) for b in (0, 1)]
    assert all(
        entry["type"] == "SEModule" and "the trace inlined (.sigmoid()" in entry["reason"]
        for entry in report["rejected"]
    )


class InlineSE(nn.Module):
    """A residual block whose squeeze-and-excitation is written in its forward, with no module of its own."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.fc = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.conv(x))
        gate = torch.sigmoid(self.fc(y.mean((2, 3), keepdim=True)))
        return y * gate.view(y.shape[0], -1, 1, 1) + x


class Normalised(nn.Module):
    """Not a gate: a sigmoid added, never multiplied."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.sigmoid(x)


def test_an_inline_gate_is_named_with_its_block_and_an_added_sigmoid_is_not() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), InlineSE(8), Normalised(), InlineSE(8)).eval()
    layers = find_attention_layers(model, SIZE)
    rejected = discovery_report(model, layers)["rejected"]
    assert layers == []
    assert [(entry["name"], entry["type"]) for entry in rejected] == [("1", "InlineSE"), ("3", "InlineSE")]
    assert rejected[0]["reason"].startswith("a gate computed inline (torch.sigmoid times the features in its forward)")


def test_a_network_tracing_cannot_follow_names_nothing_and_still_records() -> None:
    class Branching(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * torch.sigmoid(x) if x.sum() > 0 else x  # data-dependent: no symbolic trace

    assert inline_gates(Branching()) == []
    from models.checkpoint import load_checkpoint

    shipped = load_checkpoint("shapes").model
    assert inline_gates(shipped) == [] and len(find_attention_layers(shipped)) == 8


def test_looking_for_inline_gates_leaves_other_threads_models_alone() -> None:
    import threading

    torch.manual_seed(1)
    busy = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), InlineSE(8)).eval()
    x = torch.randn(2, *SIZE)
    with torch.inference_mode():
        expected = busy(x)
    stop = threading.Event()
    outcomes: list[object] = []

    def run() -> None:
        while not stop.is_set():
            try:
                with torch.inference_mode():
                    outcomes.append(torch.equal(busy(x), expected))
            except Exception as error:  # noqa: BLE001 - reported below
                outcomes.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        for seed in range(5):
            fresh = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), InlineSE(8), InlineSE(8)).eval()
            torch.manual_seed(seed)
            rejected = discovery_report(fresh, find_attention_layers(fresh, SIZE))["rejected"]
            assert [entry["name"] for entry in rejected] == ["1", "2"]
    finally:
        stop.set()
        thread.join(timeout=60)
    assert outcomes and all(outcome is True for outcome in outcomes), {repr(o) for o in outcomes if o is not True}


class AddedGate(nn.Module):
    """A sigmoid module whose output is added to the features: a traced graph shows no product, so no gate."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.act = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.act(self.conv(x))


class Swish(nn.Module):
    """x * sigmoid(x): an activation, each value scaled by a function of itself, not a gate."""

    def __init__(self) -> None:
        super().__init__()
        self.act = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.act(x)


class RootGate(nn.Module):
    """A network whose own forward gates the features its child made."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y * torch.sigmoid(y.mean((2, 3), keepdim=True))


def test_an_added_sigmoid_in_a_traced_network_is_no_gate_and_a_whole_networks_own_gate_is_named() -> None:
    assert traced_gates(fx.symbolic_trace(AddedGate())) == [] and traced_gates(AddedGate()) == []
    assert traced_gates(fx.symbolic_trace(Swish())) == []
    model = RootGate().eval()
    rejected = discovery_report(model, find_attention_layers(model, SIZE))["rejected"]
    assert [(entry["name"], entry["type"]) for entry in rejected] == [("", "RootGate")]
