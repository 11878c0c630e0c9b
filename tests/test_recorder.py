"""The recorder: exact values, no side effects, clean lifecycle, thread isolation."""

from __future__ import annotations

import copy
import dataclasses
import gc
import threading
import tracemalloc

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from attention import (
    ECA,
    AttentionRecorder,
    ChannelRecord,
    SpatialAttention,
    SpatialRecord,
    register_attention_type,
    registered_attention_type,
)
from attention.recorder import CHANNEL, SPATIAL, Adapter, cpu_copy, find_adapter, find_attention_layers
from models.networks import build_model


def _hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.fixture(scope="module")
def small_model() -> nn.Module:
    torch.manual_seed(0)
    model = build_model("attention_resnet_shapes", num_classes=6)
    # Non-trivial attention parameters so that masks and weights vary.
    for module in model.modules():
        if isinstance(module, (ECA, SpatialAttention)):
            nn.init.normal_(module.conv.weight, std=0.5)
    return model.eval()


def test_records_every_layer_in_forward_order(small_model: nn.Module) -> None:
    x = torch.randn(3, 3, 64, 64)
    with AttentionRecorder(small_model) as recorder:
        small_model(x)
    names = [r.name for r in recorder.records]
    module_order = [n for n, m in small_model.named_modules() if isinstance(m, (ECA, SpatialAttention))]
    assert names == module_order
    kinds = [type(r) for r in recorder.records]
    assert kinds == [ChannelRecord, SpatialRecord] * 4
    sizes = [r.size for r in recorder.records if isinstance(r, SpatialRecord)]
    assert sizes == [(32, 32), (16, 16), (8, 8), (4, 4)]
    for record in recorder.records:
        if isinstance(record, ChannelRecord):
            assert record.weights.shape == (3, record.channels)
            assert record.avg.shape == record.max.shape == (3, record.channels)
            assert record.kernel_size == (5 if record.channels == 128 else 3)
            assert not record.weights.requires_grad and record.weights.device.type == "cpu"
        else:
            assert record.mask.shape[0] == 3 and record.kernel_size == 7


def test_recorded_values_equal_module_computation(small_model: nn.Module) -> None:
    x = torch.randn(2, 3, 64, 64)
    inputs: dict[str, torch.Tensor] = {}
    handles = [
        m.register_forward_pre_hook(lambda mod, inp, name=n: inputs.__setitem__(name, inp[0].detach().clone()))
        for n, m in small_model.named_modules()
        if isinstance(m, (ECA, SpatialAttention))
    ]
    try:
        with AttentionRecorder(small_model) as recorder:
            small_model(x)
    finally:
        for handle in handles:
            handle.remove()
    modules = dict(small_model.named_modules())
    for record in recorder.records:
        module = modules[record.name]
        if isinstance(record, ChannelRecord):
            expected = module.channel_weights(inputs[record.name])
            torch.testing.assert_close(record.weights, expected.weights)
            torch.testing.assert_close(record.avg, expected.avg)
            torch.testing.assert_close(record.max, expected.max)
        else:
            torch.testing.assert_close(record.mask, module.spatial_mask(inputs[record.name])[:, 0])


def test_output_bit_identical(small_model: nn.Module) -> None:
    x = torch.randn(4, 3, 64, 64)
    with torch.no_grad():
        before = small_model(x)
        with AttentionRecorder(small_model, feature_layer="stages.1.0.attention.channel"):
            during = small_model(x)
        after = small_model(x)
    assert torch.equal(before, during) and torch.equal(before, after)


def test_does_not_change_model_mode(small_model: nn.Module) -> None:
    """A pass in training mode with the recorder leaves mode, BatchNorm statistics and output as without it."""
    plain, recorded = copy.deepcopy(small_model).train(), copy.deepcopy(small_model).train()
    x = torch.randn(2, 3, 64, 64)
    torch.manual_seed(5)
    expected = plain(x)
    torch.manual_seed(5)
    with AttentionRecorder(recorded, feature_layer="stages.0.0.attention.channel") as recorder:
        output = recorded(x)
    assert len(recorder.records) == 8
    assert recorded.training and all(m.training for m in recorded.modules())
    torch.testing.assert_close(output, expected, rtol=0, atol=0)
    plain_state, recorded_state = plain.state_dict(), recorded.state_dict()
    running = [key for key in plain_state if "running_" in key or "num_batches_tracked" in key]
    assert running
    for key in running:  # the pass moved the statistics, by the same amount
        torch.testing.assert_close(recorded_state[key], plain_state[key], rtol=0, atol=0)
    assert not torch.equal(plain_state[running[0]], small_model.state_dict()[running[0]])
    with AttentionRecorder(small_model):
        assert not small_model.training


def test_feature_layer_recorded(small_model: nn.Module) -> None:
    with AttentionRecorder(small_model, feature_layer="stages.2.0.attention.channel") as recorder:
        small_model(torch.randn(2, 3, 64, 64))
    assert recorder.features["stages.2.0.attention.channel"].shape == (2, 64, 8, 8)
    wanted = ["stages.0.0.attention.channel", "stages.3.0.attention.channel"]
    with AttentionRecorder(small_model, feature_layer=wanted) as recorder:
        small_model(torch.randn(2, 3, 64, 64))
    assert sorted(recorder.features) == wanted
    assert recorder.features[wanted[0]].shape == (2, 16, 32, 32)
    assert recorder.features[wanted[1]].shape == (2, 128, 4, 4)
    with pytest.raises(ValueError, match="not an attention layer"):
        AttentionRecorder(small_model, feature_layer="stem")


def test_hooks_removed_after_exit_and_after_exception(small_model: nn.Module) -> None:
    baseline = _hook_count(small_model)
    with AttentionRecorder(small_model, feature_layer="stages.0.0.attention.channel"):
        assert _hook_count(small_model) > baseline
    assert _hook_count(small_model) == baseline

    with pytest.raises(RuntimeError, match="boom"):
        with AttentionRecorder(small_model):
            small_model(torch.randn(1, 3, 64, 64))
            raise RuntimeError("boom")
    assert _hook_count(small_model) == baseline

    with pytest.raises(RuntimeError):  # wrong input channels: the forward itself raises
        with AttentionRecorder(small_model):
            small_model(torch.randn(1, 5, 64, 64))
    assert _hook_count(small_model) == baseline


def _traced_bytes_in_recording_code() -> int:
    """Live bytes allocated by the recorder and by torch, where a leak per analysis would show.

    Counting only these files keeps threads left over from other tests (an API
    client, say) from adding their own allocations to the measurement.
    """
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(True, "*/attention/*"), tracemalloc.Filter(True, "*/torch/*")]
    )
    return sum(stat.size for stat in snapshot.statistics("filename"))


@pytest.mark.slow
@pytest.mark.parametrize("form", ["with-block", "attached"])
def test_memory_flat_over_repeated_analyses(small_model: nn.Module, form: str) -> None:
    x = torch.randn(1, 3, 64, 64)
    layer = "stages.0.0.attention.channel"
    attached = AttentionRecorder(small_model)

    def analyse() -> None:
        if form == "attached":
            with torch.no_grad(), attached.recording(layer) as rec:
                small_model(x)
        else:
            with torch.no_grad(), AttentionRecorder(small_model, feature_layer=layer) as rec:
                small_model(x)
        assert len(rec.records) == 8 and layer in rec.features

    if form == "attached":
        attached.attach()

    for _ in range(20):  # warm caches and allocator
        analyse()
    gc.collect()
    tracemalloc.start()
    try:
        analyse()
        gc.collect()
        first = _traced_bytes_in_recording_code()
        for _ in range(200):
            analyse()
        gc.collect()
        last = _traced_bytes_in_recording_code()
    finally:
        tracemalloc.stop()
        attached.detach()
    assert _hook_count(small_model) == 0
    # Python-side growth must stay far below one analysis' records (~140 KB of features).
    assert last - first < 64 * 1024, f"memory grew by {last - first} bytes over 200 analyses"


def test_two_threads_get_only_their_own_maps(small_model: nn.Module) -> None:
    torch.manual_seed(3)
    images = {name: torch.randn(1, 3, 64, 64) * scale for name, scale in (("a", 1.0), ("b", 3.0))}
    expected = {}
    for name, x in images.items():
        with torch.no_grad(), AttentionRecorder(small_model) as rec:
            small_model(x)
        expected[name] = rec.records

    barrier = threading.Barrier(2)
    results: dict[str, list] = {}
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            barrier.wait()
            collected = []
            for _ in range(15):
                with torch.no_grad(), AttentionRecorder(small_model) as rec:
                    small_model(images[name])
                collected.append(rec.records)
            results[name] = collected
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(name,)) for name in images]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for name, runs in results.items():
        for records in runs:
            assert len(records) == len(expected[name])
            for got, want in zip(records, expected[name]):
                assert got.name == want.name
                if isinstance(got, ChannelRecord):
                    torch.testing.assert_close(got.weights, want.weights)
                else:
                    torch.testing.assert_close(got.mask, want.mask)
    assert _hook_count(small_model) == 0


def test_registry_accepts_new_module_types() -> None:
    class ForeignChannelAttention(nn.Module):
        """Stands in for a third-party module such as timm's EcaModule."""

        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(1, 1, 3, padding=1, bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = torch.sigmoid(self.conv(x.mean((2, 3)).unsqueeze(1))).squeeze(1)
            return x * y[:, :, None, None]

    def make_record(name, module, inputs, output):
        weights = torch.sigmoid(module.conv(inputs[0].mean((2, 3)).unsqueeze(1))).squeeze(1)
        return ChannelRecord(name=name, type="foreign", weights=cpu_copy(weights), kernel_size=3)

    adapter = Adapter(CHANNEL, make_record, feature_map=lambda inputs, _: inputs[0])
    model = nn.Sequential(nn.Conv2d(3, 8, 3), ForeignChannelAttention())
    with registered_attention_type(ForeignChannelAttention, adapter):
        with AttentionRecorder(model, feature_layer="1") as recorder:
            model(torch.randn(2, 3, 8, 8))
        assert [(r.name, r.type, r.channels) for r in recorder.records] == [("1", "foreign", 8)]
        assert recorder.features["1"].shape == (2, 8, 6, 6)
        assert _hook_count(model) == 0
    assert find_adapter(model[1]) is None  # outside the block the type is unknown again


def test_a_type_registered_for_a_block_is_forgotten_after_it_also_after_an_error() -> None:
    class Gate(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * torch.sigmoid(x.mean((2, 3), keepdim=True))

    def make_record(name, _module, inputs, _output):
        return ChannelRecord(name=name, type="block", weights=cpu_copy(torch.sigmoid(inputs[0].mean((2, 3)))))

    model = nn.Sequential(Gate())
    with pytest.raises(RuntimeError, match="inside"):
        with registered_attention_type(Gate, Adapter(CHANNEL, make_record)):
            assert find_adapter(model[0]) is not None
            raise RuntimeError("inside the block")
    assert find_adapter(Gate()) is None


@pytest.mark.slow
def test_resnet50_builder_has_attention_before_residual_add() -> None:
    model = build_model("attention_resnet50", num_classes=10).eval()
    with torch.no_grad(), AttentionRecorder(model) as recorder:
        out = model(torch.randn(1, 3, 64, 64))
    assert out.shape == (1, 10)
    channel = [r for r in recorder.records if isinstance(r, ChannelRecord)]
    assert len(channel) == 16
    assert {r.kernel_size for r in channel} == {5, 7}  # 256..1024 channels give 5, 2048 gives 7
    assert model.layer4[2].bn3[1].channel.kernel_size == 7


def test_registry_refuses_a_plain_function() -> None:
    with pytest.raises(TypeError, match="Adapter"):
        register_attention_type(nn.Identity, lambda *args: [])


def test_spatial_logits_give_the_mask(small_model: nn.Module) -> None:
    with torch.no_grad(), AttentionRecorder(small_model) as recorder:
        small_model(torch.randn(2, 3, 64, 64))
    spatial = [r for r in recorder.records if isinstance(r, SpatialRecord)]
    assert spatial
    for record in spatial:
        assert record.logits.shape == record.mask.shape
        torch.testing.assert_close(torch.sigmoid(record.logits), record.mask)


def test_attached_recorder_records_only_inside_recordings(small_model: nn.Module) -> None:
    """The long-lived form the Analyzer uses: hooks once, one recording per pass, any thread."""
    baseline = _hook_count(small_model)
    recorder = AttentionRecorder(small_model)
    with pytest.raises(RuntimeError, match="attach"):
        with recorder.recording():
            pass
    recorder.attach()
    try:
        assert _hook_count(small_model) == baseline + 8  # one hook per attention layer
        x = torch.randn(2, 3, 64, 64)
        with torch.no_grad():
            small_model(x)  # no recording open: nothing kept
            with recorder.recording(feature_layers="stages.1.0.attention.channel") as first:
                out = small_model(x)
            with recorder.recording() as second:
                small_model(x[:1])
            with pytest.raises(RuntimeError, match="already has a recording"):
                with recorder.recording(), recorder.recording():
                    pass
            assert torch.equal(out, small_model(x))
        assert len(first.records) == len(second.records) == 8
        assert list(first.features) == ["stages.1.0.attention.channel"] and not second.features
        assert first.features["stages.1.0.attention.channel"].shape == (2, 32, 16, 16)
        assert second.records[0].weights.shape[0] == 1
        torch.testing.assert_close(second.records[0].weights, first.records[0].weights[:1])
        with pytest.raises(ValueError, match="not an attention layer"):
            with recorder.recording(feature_layers="stem"):
                pass
    finally:
        recorder.detach()
    assert _hook_count(small_model) == baseline
    recorder.detach()  # twice is harmless


def test_analyzer_hooks_live_as_long_as_the_analyzer(shape_images: list) -> None:
    from PIL import Image

    from attention.analysis import Analyzer
    from models.checkpoint import load_checkpoint

    loaded = load_checkpoint("shapes")
    images = [Image.open(path).convert("RGB") for path in shape_images[:2]]
    analyzer = Analyzer(loaded.model, loaded.classes, loaded.preprocessing, loaded.name)
    # One recording hook per layer (on its tap) and one ablation hook per layer (on the layer).
    assert _hook_count(loaded.model) == 16
    analyses = analyzer.analyze(images)
    with torch.no_grad():
        plain = torch.softmax(loaded.model(analyzer.preprocess(images)), dim=1).numpy()
    np.testing.assert_allclose(np.stack([a.probabilities for a in analyses]), plain, rtol=1e-5, atol=1e-6)
    assert all(len(a.layers) == 8 for a in analyses)
    analyzer.close()
    assert _hook_count(loaded.model) == 0
    with pytest.raises(RuntimeError, match="closed"):
        analyzer.analyze(images)

    with Analyzer(loaded.model, loaded.classes, loaded.preprocessing, loaded.name) as scoped:
        assert _hook_count(loaded.model) == 16
        scoped.analyze(images[:1])
    assert _hook_count(loaded.model) == 0

    forgotten = Analyzer(loaded.model, loaded.classes, loaded.preprocessing, loaded.name)
    assert _hook_count(loaded.model) == 16
    del forgotten
    gc.collect()
    assert _hook_count(loaded.model) == 0


def test_model_without_attention_layers_records_nothing_and_still_analyzes() -> None:
    """A network trained with ``--attention none`` has no layers to show, but analysing it must still work."""
    from PIL import Image

    from attention.analysis import Analyzer
    from models.checkpoint import load_checkpoint

    plain = build_model("attention_resnet_shapes", num_classes=6, attention="none").eval()
    recorder = AttentionRecorder(plain)
    recorder.attach()
    assert recorder.attached
    with torch.no_grad(), recorder.recording() as recording:
        plain(torch.randn(1, 3, 64, 64))
    assert recording.records == []
    recorder.detach()

    loaded = load_checkpoint("shapes")
    loaded.model = plain
    with Analyzer(loaded.model, loaded.classes, loaded.preprocessing, loaded.name) as analyzer:
        (analysis,) = analyzer.analyze([Image.new("RGB", (64, 64), "white")])
    assert analysis.layers == [] and analysis.probabilities.shape == (6,)


def test_keep_makes_a_detached_cpu_copy() -> None:
    weights = torch.rand(2, 5, requires_grad=True)
    kept = cpu_copy(weights * 1)
    assert not kept.requires_grad and kept.grad_fn is None and kept.device.type == "cpu"
    avg = torch.randn(2, 5)
    kept_avg = cpu_copy(avg)
    assert kept_avg.untyped_storage().data_ptr() != avg.untyped_storage().data_ptr()
    before = avg.clone()
    avg.add_(1.0)  # a later in-place change in the model must not reach the record
    torch.testing.assert_close(kept_avg, before, rtol=0, atol=0)


def test_records_hold_no_memory_the_model_or_caller_can_change() -> None:
    """Records are copies: nothing the model or the caller holds may share their memory.

    In-place ReLUs right after each attention layer rewrite the layers' outputs
    during the pass, and the caller rewrites the logits and the kept feature
    map afterwards: none of it may reach the records.
    """
    torch.manual_seed(0)
    model = nn.Sequential(ECA(8), nn.ReLU(inplace=True), SpatialAttention(), nn.ReLU(inplace=True)).eval()
    nn.init.normal_(model[2].conv.weight, std=0.5)
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        expected_weights = model[0].channel_weights(x)
        expected_mask = model[2].spatial_weights(model[1](model[0](x.clone())))
        with AttentionRecorder(model, feature_layer="0") as recorder:
            output = model(x)
    channel, spatial = recorder.records
    feature_map = recorder.features["0"]
    record_tensors = [channel.weights, channel.avg, channel.max, spatial.mask, spatial.logits]
    others = [x, output, feature_map, *model.parameters()]
    record_storages = {t.untyped_storage().data_ptr() for t in record_tensors}
    assert record_storages.isdisjoint(t.untyped_storage().data_ptr() for t in others)
    assert all(t.device.type == "cpu" and not t.requires_grad for t in record_tensors)

    output.fill_(7.0)
    feature_map.zero_()
    x.zero_()
    torch.testing.assert_close(channel.weights, expected_weights.weights, rtol=0, atol=0)
    torch.testing.assert_close(channel.avg, expected_weights.avg, rtol=0, atol=0)
    torch.testing.assert_close(spatial.mask, expected_mask.mask[:, 0], rtol=0, atol=0)
    torch.testing.assert_close(spatial.logits, expected_mask.logits[:, 0], rtol=0, atol=0)


def test_records_of_a_model_that_needs_gradients_are_detached(small_model: nn.Module) -> None:
    x = torch.randn(1, 3, 64, 64, requires_grad=True)
    with AttentionRecorder(small_model) as recorder:
        small_model(x).sum().backward()  # the recorder must not break a backward pass either
    assert recorder.records and x.grad is not None
    for record in recorder.records:
        tensors = [record.weights, record.avg] if isinstance(record, ChannelRecord) else [record.mask, record.logits]
        assert all(t is not None and not t.requires_grad and t.grad_fn is None for t in tensors)


def test_built_in_and_foreign_records_keep_forward_order() -> None:
    """Built-in layers and a registered foreign one record in forward order, pass after pass."""

    class ForeignGate(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * torch.sigmoid(x.mean((2, 3), keepdim=True))

    def make_record(name, _module, inputs, _output):
        assert inputs, "the adapter gets the layer's inputs"
        return ChannelRecord(name=name, type="foreign", weights=cpu_copy(torch.sigmoid(inputs[0].mean((2, 3)))))

    model = nn.Sequential(ECA(8), ForeignGate(), SpatialAttention(), ForeignGate())
    with registered_attention_type(ForeignGate, Adapter(CHANNEL, make_record)):
        with AttentionRecorder(model) as recorder:
            model(torch.randn(2, 8, 6, 6))
            assert [(r.name, r.type) for r in recorder.records] == [
                ("0", "eca"),
                ("1", "foreign"),
                ("2", "spatial"),
                ("3", "foreign"),
            ]
            model(torch.randn(2, 8, 6, 6))
        # The second pass's records follow the first pass's, again in forward order.
        assert [r.name for r in recorder.records] == ["0", "1", "2", "3"] * 2
        assert recorder.records[6].mask.shape == (2, 6, 6)


def test_adapter_kind_is_checked() -> None:
    with pytest.raises(ValueError, match="kind"):
        Adapter("temporal", lambda *args: None)


def test_a_registered_foreign_spatial_module_is_filed_as_spatial(shape_images: list) -> None:
    """The Analyzer takes a layer's kind from its adapter, not from the module's attributes."""
    from PIL import Image

    from attention.analysis import Analyzer, ChannelLayer, SpatialLayer
    from attention.images import Preprocessing

    class ForeignMask(nn.Module):
        """A third-party spatial gate with no tap: the hook sits on its own forward."""

        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * torch.sigmoid(self.conv(x.mean(1, keepdim=True)))

    def make_record(name, module, inputs, _output):
        logits = module.conv(inputs[0].mean(1, keepdim=True))[:, 0]
        return SpatialRecord(name=name, mask=cpu_copy(torch.sigmoid(logits)), logits=cpu_copy(logits), type="foreign")

    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), ECA(8), ForeignMask(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2)
    ).eval()
    with registered_attention_type(ForeignMask, Adapter(SPATIAL, make_record)):
        preprocessing = Preprocessing(input_size=(16, 16), channels=3, mean=(0.5,) * 3, std=(0.5,) * 3)
        with Analyzer(model, ["a", "b"], preprocessing) as analyzer:
            assert analyzer.channel_layer_names == ["1"]
            assert analyzer.spatial_layer_names == ["2"]
            (analysis,) = analyzer.analyze([Image.open(shape_images[0]).convert("RGB")])
        assert [type(layer) for layer in analysis.layers] == [ChannelLayer, SpatialLayer]
        assert analysis.spatial_layers[0].name == "2" and analysis.spatial_layers[0].mask.shape == (16, 16)


def test_a_thread_can_record_again_after_a_failed_pass(small_model: nn.Module) -> None:
    """The attached form the app uses: a pass that raises must not leave the thread's recording open."""
    recorder = AttentionRecorder(small_model)
    recorder.attach()
    try:
        with pytest.raises(RuntimeError):  # wrong input channels: the forward itself raises
            with torch.no_grad(), recorder.recording():
                small_model(torch.randn(1, 5, 64, 64))
        with torch.no_grad(), recorder.recording() as again:
            small_model(torch.randn(1, 3, 64, 64))
        assert len(again.records) == 8
    finally:
        recorder.detach()
    assert _hook_count(small_model) == 0


def test_two_threads_sharing_one_analyzer_get_their_own_results(shape_images: list) -> None:
    from PIL import Image

    from attention.analysis import Analyzer
    from models.checkpoint import load_checkpoint

    loaded = load_checkpoint("shapes")
    images = [Image.open(path).convert("RGB") for path in shape_images[:2]]
    with Analyzer(loaded.model, loaded.classes, loaded.preprocessing, loaded.name) as analyzer:
        first = analyzer.channel_layer_names[0]
        expected = [analyzer.analyze([image], feature_layer=first)[0] for image in images]
        assert not np.allclose(expected[0].probabilities, expected[1].probabilities)
        barrier = threading.Barrier(2)
        results: dict[int, list] = {}
        errors: list[BaseException] = []

        def worker(index: int) -> None:
            try:
                barrier.wait()
                results[index] = [analyzer.analyze([images[index]], feature_layer=first)[0] for _ in range(10)]
            except BaseException as error:  # surfaced below
                errors.append(error)

        threads = [threading.Thread(target=worker, args=(index,)) for index in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors
    for index, analyses in results.items():
        want = expected[index]
        for got in analyses:
            np.testing.assert_allclose(got.probabilities, want.probabilities, rtol=1e-5, atol=1e-7)
            assert [layer.name for layer in got.layers] == [layer.name for layer in want.layers]
            for got_layer, want_layer in zip(got.layers, want.layers):
                got_values = got_layer.mask if hasattr(got_layer, "mask") else got_layer.weights
                want_values = want_layer.mask if hasattr(want_layer, "mask") else want_layer.weights
                np.testing.assert_allclose(got_values, want_values, rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(got.feature_maps[first], want.feature_maps[first], rtol=1e-5, atol=1e-6)
    assert _hook_count(loaded.model) == 0


def test_clear_forgets_and_a_closed_with_block_leaves_no_recording_open(small_model: nn.Module) -> None:
    recorder = AttentionRecorder(small_model, feature_layer="stages.0.0.attention.channel")
    recorder.clear()  # nothing recorded yet: harmless
    with torch.no_grad(), recorder:
        small_model(torch.randn(1, 3, 64, 64))
        assert len(recorder.records) == 8 and list(recorder.features) == ["stages.0.0.attention.channel"]
        recorder.clear()
        assert recorder.records == [] and recorder.features == {}
        small_model(torch.randn(1, 3, 64, 64))
    assert len(recorder.records) == 8
    recorder.attach()  # the same thread may now open a recording on the same recorder
    try:
        with torch.no_grad(), recorder.recording() as recording:
            small_model(torch.randn(1, 3, 64, 64))
        assert len(recording.records) == 8
    finally:
        recorder.detach()


def test_discovered_layers_are_merged_in_forward_order() -> None:
    """A gate nobody registered is found by discovery and joins the registered layers in module order."""

    class Unregistered(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * torch.sigmoid(x.mean((2, 3), keepdim=True))

    torch.manual_seed(0)
    model = nn.Sequential(ECA(8), Unregistered(), SpatialAttention(), Unregistered()).eval()
    layers = find_attention_layers(model, (8, 5, 5))
    assert [(name, adapter.kind) for name, _, adapter in layers] == [
        ("0", CHANNEL),
        ("1", CHANNEL),
        ("2", SPATIAL),
        ("3", CHANNEL),
    ]
    batch = torch.randn(2, 8, 5, 5)
    with torch.no_grad(), AttentionRecorder(model, layers=layers) as recorder:
        model(batch)
    assert [(r.name, r.type) for r in recorder.records] == [
        ("0", "eca"),
        ("1", "channel"),
        ("2", "spatial"),
        ("3", "channel"),
    ]
    with torch.no_grad():
        entering = model[0](batch)
    expected = torch.sigmoid(entering.mean((2, 3)))
    torch.testing.assert_close(recorder.records[1].weights, expected, rtol=1e-6, atol=1e-6)


def test_analysis_document_holds_the_recorded_values() -> None:
    from PIL import Image

    from attention.analysis import ChannelLayer, ImageAnalysis, SpatialLayer, analysis_to_dict, build_document
    from attention.images import Preprocessing

    weights = np.array([0.25, 0.75, np.nan], dtype=np.float32)
    mask = np.array([[0.1, 0.9], [0.5, 0.3], [0.0, 1.0]], dtype=np.float32)
    layers = [
        ChannelLayer("a.channel", "eca", weights, weights - 1, weights + 1, 3),
        SpatialLayer("a.spatial", mask, 7),
    ]
    analysis = ImageAnalysis(
        "pic.png", Image.new("RGB", (4, 4)), ["cat", "dog", "owl"], np.array([0.2, 0.7, 0.1]), layers
    )
    entry = analysis_to_dict(analysis)
    assert entry["image"] == "pic.png" and analysis_to_dict(analysis, image="other.png")["image"] == "other.png"
    assert entry["prediction"] == {"label": "dog", "index": 1, "probability": 0.7}
    assert entry["top"] == [{"label": "dog", "probability": 0.7}, {"label": "cat", "probability": 0.2},
                            {"label": "owl", "probability": 0.1}]  # fmt: skip
    channel, spatial = entry["layers"]
    assert channel == {"name": "a.channel", "type": "eca", "channels": 3, "kernel_size": 3,
                       "weights": [0.25, 0.75, None],
                       "branches": {"avg": [-0.75, -0.25, None], "max": [1.25, 1.75, None]}}  # fmt: skip
    assert spatial == {"name": "a.spatial", "type": "spatial", "kernel_size": 7, "size": [3, 2],
                       "mask": [[0.1, 0.9], [0.5, 0.3], [0.0, 1.0]]}  # fmt: skip
    assert entry["view"] == [0.0, 0.0, 1.0, 1.0]  # the model saw the whole image
    assert analysis_to_dict(dataclasses.replace(analysis, view=(0.125, 0.0, 0.875, 1.0)))["view"] == [
        0.125, 0.0, 0.875, 1.0]  # fmt: skip
    prep = Preprocessing((8, 8), 3, (0.5,) * 3, (0.5,) * 3, "shorter-crop", 0.875, "bicubic")
    found = {"found": [{"name": "a", "type": "ECA", "kind": "channel", "by": "probe"}], "rejected": []}
    assert build_document("shapes", ["cat", "dog", "owl"], [entry], prep, found) == {
        "checkpoint": "shapes", "classes": ["cat", "dog", "owl"], "preprocessing": prep.to_dict(),
        "discovery": found, "results": [entry]}  # fmt: skip


def _same_layers(a: list, b: list) -> None:
    """The same layers, in the same order, with the same values (to float tolerance across batch sizes)."""
    assert [(layer.name, type(layer).__name__) for layer in a] == [(layer.name, type(layer).__name__) for layer in b]
    for left, right in zip(a, b):
        values = ("weights", "avg", "max") if hasattr(left, "weights") else ("mask",)
        for value in values:
            if getattr(left, value) is not None or getattr(right, value) is not None:
                # Rounding grows with the numbers summed: pre-gate logits run to about 10, gates stay within 0-1.
                scale = max(1.0, float(np.nanmax(np.abs(getattr(right, value)))))
                np.testing.assert_allclose(getattr(left, value), getattr(right, value), rtol=1e-4, atol=1e-5 * scale)


def test_each_image_of_a_batch_gets_its_own_layers_and_feature_maps(shape_images: list) -> None:
    from attention.analysis import Analyzer
    from attention.images import load_image
    from models.checkpoint import load_checkpoint

    loaded = load_checkpoint("shapes")
    images = [load_image(path) for path in shape_images[:3]]
    with Analyzer(loaded.model, loaded.classes, loaded.preprocessing, loaded.name) as analyzer:
        kept = [analyzer.channel_layer_names[0], analyzer.spatial_layer_names[-1]]
        batched = analyzer.analyze(images, names=["a", "b", "c"], feature_layer=kept)
        alone = [analyzer.analyze([image], feature_layer=kept)[0] for image in images]
    assert [analysis.name for analysis in batched] == ["a", "b", "c"]
    for together, single in zip(batched, alone):
        assert together.image is single.image and list(together.feature_maps) == kept
        for layer in kept:
            np.testing.assert_allclose(together.feature_maps[layer], single.feature_maps[layer], rtol=1e-4, atol=1e-5)
        _same_layers(together.layers, single.layers)
        np.testing.assert_allclose(together.probabilities, single.probabilities, rtol=1e-4, atol=1e-6)
    # The images differ, so a batch that gave every image the first one's values would fail above.
    assert not np.allclose(batched[0].feature_maps[kept[0]], batched[1].feature_maps[kept[0]])
    assert not np.allclose(batched[0].layers[0].weights, batched[1].layers[0].weights)


@pytest.mark.parametrize("mode", ["identity", "mean"])
def test_an_analysis_with_ablation_has_the_same_layers_as_one_without(shape_images: list, mode: str) -> None:
    from attention.analysis import Analyzer
    from attention.images import load_image
    from models.checkpoint import load_checkpoint

    loaded = load_checkpoint("shapes")
    images = [load_image(path) for path in shape_images[:2]]
    with Analyzer(loaded.model, loaded.classes, loaded.preprocessing, loaded.name) as analyzer:
        plain = analyzer.analyze(images, feature_layer=analyzer.layer_names)
        ablated = analyzer.analyze(images, feature_layer=analyzer.layer_names, ablate=mode)
    for without, with_ablation in zip(plain, ablated):
        assert len(with_ablation.layers) == len(analyzer.layer_names) == 8
        _same_layers(with_ablation.layers, without.layers)
        assert list(with_ablation.feature_maps) == list(without.feature_maps)
        for name, values in without.feature_maps.items():
            np.testing.assert_allclose(with_ablation.feature_maps[name], values, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(with_ablation.probabilities, without.probabilities, rtol=1e-5, atol=1e-7)
        assert [entry["layer"] for entry in with_ablation.ablations] == analyzer.layer_names
        assert {entry["mode"] for entry in with_ablation.ablations} == {mode} and not without.ablations


def test_a_layer_recorded_at_its_gate_child_keeps_the_feature_map_that_enters_the_layer() -> None:
    from timm.layers import SEModule

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), SEModule(8, rd_ratio=0.5)).eval()
    x = torch.randn(2, 3, 6, 6)
    with torch.no_grad(), AttentionRecorder(model, feature_layer="1") as recorder:
        model(x)
        expected = model[0](x)
    assert [record.name for record in recorder.records] == ["1"]
    torch.testing.assert_close(recorder.features["1"], expected, rtol=0, atol=0)


def test_the_analysis_document_rounds_probabilities_to_six_digits() -> None:
    from attention.analysis import ImageAnalysis, analysis_to_dict

    analysis = ImageAnalysis(
        "pic.png", Image.new("RGB", (4, 4)), ["cat", "dog"], np.array([0.12345678, 0.87654322]), []
    )
    entry = analysis_to_dict(analysis)
    assert entry["prediction"]["probability"] == 0.876543
    assert [top["probability"] for top in entry["top"]] == [0.876543, 0.123457]


def test_the_analyzer_refuses_an_unknown_ablation_mode_before_any_pass(small_model: nn.Module) -> None:
    from attention.analysis import Analyzer
    from attention.errors import InputError
    from attention.images import Preprocessing

    passes: list[int] = []
    handle = small_model.register_forward_hook(lambda *_: passes.append(1))
    classes = [f"c{index}" for index in range(small_model(torch.zeros(1, 3, 64, 64)).shape[1])]
    try:
        preprocessing = Preprocessing((64, 64), 3, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
        with Analyzer(small_model, classes, preprocessing, "small") as analyzer:
            passes.clear()  # building the analyzer may probe the model once
            with pytest.raises(InputError, match="unknown ablation mode 'zero'"):
                analyzer.analyze([Image.new("RGB", (64, 64))], ablate="zero")
    finally:
        handle.remove()
    assert passes == []


def test_this_project_s_modules_are_known_by_their_taps_without_a_probe() -> None:
    from attention.channel import CBAMChannelGate, SqueezeExcite

    for module, kind in (
        (ECA(16), CHANNEL),
        (SqueezeExcite(16), CHANNEL),
        (CBAMChannelGate(16), CHANNEL),
        (SpatialAttention(), SPATIAL),
    ):
        adapter = find_adapter(module)
        assert adapter is not None and adapter.kind == kind, type(module).__name__
    assert find_adapter(nn.Conv2d(3, 3, 1)) is None


def test_the_type_registered_last_is_asked_first_and_the_earlier_one_returns_after_its_block() -> None:
    def adapter(label: str) -> Adapter:
        return Adapter(CHANNEL, lambda name, *_: ChannelRecord(name=name, type=label, weights=torch.ones(1, 1)))

    first, second = adapter("first"), adapter("second")
    with registered_attention_type(nn.Conv2d, first):
        assert find_adapter(nn.Conv2d(1, 1, 1)) is first
        with registered_attention_type(nn.Conv2d, second):
            assert find_adapter(nn.Conv2d(1, 1, 1)) is second
        assert find_adapter(nn.Conv2d(1, 1, 1)) is first
    assert find_adapter(nn.Conv2d(1, 1, 1)) is None


def test_a_spatial_record_s_size_is_height_by_width() -> None:
    record = SpatialRecord(name="sa", mask=torch.zeros(2, 3, 5), kernel_size=7)
    assert record.size == (3, 5)


def test_an_adapter_cannot_be_changed_once_made() -> None:
    import dataclasses

    adapter = find_adapter(ECA(16))
    assert adapter is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        adapter.kind = SPATIAL  # type: ignore[misc]


def test_a_failed_attach_leaves_no_hook_behind(small_model: nn.Module) -> None:
    import dataclasses

    layers = find_attention_layers(small_model)

    def missing(_module: nn.Module) -> nn.Module:
        raise RuntimeError("no such submodule")

    name, module, adapter = layers[1]
    broken = (name, module, dataclasses.replace(adapter, hook_point=missing))
    recorder = AttentionRecorder(small_model, layers=[layers[0], broken, layers[2]])
    before = _hook_count(small_model)
    with pytest.raises(RuntimeError, match="no such submodule"):
        recorder.attach()
    assert _hook_count(small_model) == before and not recorder.attached  # the first layer's hook was taken off
