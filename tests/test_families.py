"""Every family of issue 13, end to end: its native file through the CLI, the app's API and the library.

Each network is built at random init with random batch-norm statistics and
affine parameters, saved in its family's own format in tmp_path, and given to
``python -m attention analyze --json`` and to a real ``python app.py``. The
layers they report are counted by kind and compared with the gates this test
recomputes from its own copy of the model (the input each attention module
sees, captured with a forward pre-hook, pushed through the module's
parameters with the plain functional references of tests/test_foreign.py).
The model's output with an Analyzer recording must be bit-identical to the
plain output.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
import torchvision
from torch import nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import timm  # noqa: E402 - after HF_HUB_OFFLINE, which huggingface_hub reads on import

from attention.analysis import Analyzer, ChannelLayer  # noqa: E402
from attention.images import load_image  # noqa: E402
from models import ecanet  # noqa: E402
from models.specs import LoadedModel, load_model  # noqa: E402
from tests.conftest import SERVER_START_TIMEOUT_S  # noqa: E402
from tests.serving import free_port, stop, wait_for_app  # noqa: E402
from tests.test_ecanet import randomise, save_official  # noqa: E402
from tests.test_foreign import reference  # noqa: E402
from tests.test_specs import (  # noqa: E402
    run_cli,
    save_bare,
    save_data_parallel,
    save_safetensors,
    save_timm_train,
    save_torchvision_reference,
)

pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402

JSON_TOLERANCE = 2e-6  # 1e-6 between the gates, plus the document's rounding to 6 digits
LIBRARY_TOLERANCE = 1e-6  # the bound between a record and the module's own gate
CLI_SIZE = 64
# family -> (kind of input, largest difference): printed at the end for the closing note
DIFFERENCES: dict[str, dict[str, float]] = {}

BLOG_FACTORY = '''"""A user's own network: blog-style ECA + spatial attention in a torchvision ResNet-18."""
from tests.networks_zoo import blog_resnet18


def build():
    return blog_resnet18()
'''

CBAM_FACTORY = '''"""A user's own network: timm's ResNet-18 with CBAM blocks."""
import timm


def build():
    return timm.create_model("resnet18", block_args={"attn_layer": "cbam"}, num_classes=10)
'''


@dataclass(frozen=True)
class Family:
    build: Callable[[], nn.Module]
    save: Callable[[nn.Module, Path], None]
    filename: str
    counts: dict[str, int]  # record type -> number of layers
    spec: str | None = None  # the spec by name (timm:, torchvision:, ecanet:); None for a factory
    factory: str | None = None  # a factory file's source, for the factory families


def _timm(name: str, **kwargs: Any) -> Callable[[], nn.Module]:
    return lambda: timm.create_model(name, **kwargs)


def _torchvision(name: str) -> Callable[[], nn.Module]:
    return lambda: torchvision.models.get_model(name, weights=None)


def _save_eca(model: nn.Module, path: Path) -> None:
    save_official(model, "eca_resnet18", path)  # DataParallel keys, epoch, arch, best_prec1, optimizer


def _factory_model(source: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        namespace: dict[str, Any] = {}
        exec(compile(source, "factory.py", "exec"), namespace)  # the test's own source, as the CLI will run it
        return namespace["build"]()

    return build


FAMILIES: dict[str, Family] = {
    "blog ECA+SA resnet18 (factory)": Family(
        _factory_model(BLOG_FACTORY), save_bare, "blog.pth", {"eca": 8, "spatial": 8}, factory=BLOG_FACTORY
    ),
    "ecanet eca_resnet18": Family(
        lambda: ecanet.ARCHITECTURES["eca_resnet18"](num_classes=5, k_size=(3, 5, 5, 7)),
        _save_eca,
        "model_best.pth.tar",
        {"eca": 8},
        spec="ecanet:eca_resnet18",
    ),
    "timm ecaresnet26t": Family(
        _timm("ecaresnet26t"), save_safetensors, "model.safetensors", {"eca": 8}, spec="timm:ecaresnet26t"
    ),
    "timm seresnet18": Family(
        _timm("seresnet18"), save_timm_train, "model_best.pth.tar", {"se": 8}, spec="timm:seresnet18"
    ),
    "timm resnet18 + cbam (factory)": Family(
        _factory_model(CBAM_FACTORY),
        save_safetensors,
        "cbam.safetensors",
        {"cbam_channel": 8, "spatial": 8},
        factory=CBAM_FACTORY,
    ),
    "torchvision mobilenet_v3_small": Family(
        _torchvision("mobilenet_v3_small"),
        save_torchvision_reference,
        "checkpoint.pth",
        {"se": 9},
        spec="torchvision:mobilenet_v3_small",
    ),
    "torchvision efficientnet_b0": Family(
        _torchvision("efficientnet_b0"),
        save_data_parallel,
        "efficientnet.ckpt",
        {"se": 16},
        spec="torchvision:efficientnet_b0",
    ),
    "torchvision regnet_y_400mf": Family(
        _torchvision("regnet_y_400mf"), save_bare, "regnet.bin", {"se": 16}, spec="torchvision:regnet_y_400mf"
    ),
}
NAMED = [name for name, family in FAMILIES.items() if family.spec is not None]
FACTORIES = [name for name, family in FAMILIES.items() if family.factory is not None]


@dataclass
class Built:
    native: nn.Module  # the test's own copy, never given to the product
    weights: Path
    spec: str  # what the CLI and app.py's --model take
    cli_args: list[str | Path]


def shift_biases(model: nn.Module, seed: int) -> nn.Module:
    """Random biases on the gates' small MLPs too: at init they are zero, and a hidden layer all below zero
    after ReLU gives a constant 0.5 gate that any recording would match."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)) and module.bias is not None:
                module.bias.add_(0.5 * torch.randn(module.bias.shape, generator=generator))
    return model


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Built]:
    """Each family built once for the module: random init, random norms, saved natively."""
    cache: dict[str, Built] = {}

    def get(name: str) -> Built:
        if name not in cache:
            family = FAMILIES[name]
            folder = tmp_path_factory.mktemp("family")
            seed = list(FAMILIES).index(name)  # the same network whichever test builds it first
            torch.manual_seed(seed)
            native = shift_biases(randomise(family.build(), seed=100 + seed), seed=200 + seed)
            weights = folder / family.filename
            family.save(native, weights)
            native.eval()
            if family.factory is not None:
                factory = folder / "my_network.py"
                factory.write_text(family.factory)
                spec = f"{factory}:build"
            else:
                spec = family.spec  # type: ignore[assignment]
            cache[name] = Built(native, weights, spec, ["--model", spec, "--weights", weights])
        return cache[name]

    return get


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A noisy photo-like image, so that every gate sees a varied feature map."""
    from PIL import Image

    generator = torch.Generator().manual_seed(13)
    pixels = (torch.rand(90, 120, 3, generator=generator) * 255).to(torch.uint8).numpy()
    path = tmp_path_factory.mktemp("image") / "photo.png"
    Image.fromarray(pixels).save(path)
    return path


def _load(built: Built, input_size: int | None) -> LoadedModel:
    """The product's own model, for its preprocessing only: the gates are recomputed on the native copy."""
    overrides = {"input_size": input_size} if input_size is not None else None
    return load_model(built.spec, weights=built.weights, preprocessing_overrides=overrides, allow_code=True)


def _batch(loaded: LoadedModel, image: Path) -> torch.Tensor:
    return loaded.preprocessing.batch([load_image(image)])


def _largest(document: list[Any], expected: torch.Tensor) -> float:
    actual = torch.tensor(document, dtype=torch.float64)
    assert actual.shape == expected.shape
    return float((actual - expected.double()).abs().max())


def gate_differences(
    where: str, layers: list[dict[str, Any]], native: nn.Module, batch: torch.Tensor, tolerance: float
) -> tuple[float, torch.Tensor]:
    """(largest difference, logits): every reported gate and branch against the recomputed one."""
    inputs: dict[str, torch.Tensor] = {}
    handles = [
        native.get_submodule(layer["name"]).register_forward_pre_hook(
            lambda _m, args, key=layer["name"]: inputs.__setitem__(key, args[0].detach().clone())
        )
        for layer in layers
    ]
    try:
        with torch.inference_mode():
            logits = native(batch)
    finally:
        for handle in handles:
            handle.remove()
    assert list(inputs) == [layer["name"] for layer in layers]  # each reported layer ran, in forward order
    worst = 0.0
    for layer in layers:
        with torch.no_grad():
            want = reference(native.get_submodule(layer["name"]), inputs[layer["name"]])
        gate = "mask" if layer["type"] == "spatial" else "weights"
        assert float(want[gate].std()) > 1e-3, (where, layer["name"])  # a gate that varies: the check can fail
        differences = [_largest(layer[gate], want[gate][0])]
        for branch in ("avg", "max"):
            if branch in want:  # the module computes it separately: the record must hold it
                # Branch parts are logits, not 0-1 gates: float32 rounding grows with their size, and two
                # processes with other thread counts sum in another order, so they are compared relatively.
                scale = max(1.0, float(want[branch].abs().max()))
                differences.append(_largest(layer["branches"][branch], want[branch][0]) / scale)
        worst = max(worst, *differences)
        assert max(differences) <= tolerance, (where, layer["name"], differences)
    return worst, logits


def check_document(name: str, where: str, document: dict[str, Any], native: nn.Module, batch: torch.Tensor) -> None:
    """Layer counts by kind, every gate and branch recomputed, and the prediction of the native model."""
    family = FAMILIES[name]
    result = document["results"][0]
    layers = result["layers"]
    assert dict(Counter(layer["type"] for layer in layers)) == family.counts, where
    worst, logits = gate_differences(where, layers, native, batch, JSON_TOLERANCE)
    probabilities = torch.softmax(logits, dim=1)[0]
    index = int(probabilities.argmax())
    assert result["prediction"]["index"] == index, where
    assert result["prediction"]["label"] == document["classes"][index]
    assert result["prediction"]["probability"] == pytest.approx(float(probabilities[index]), abs=JSON_TOLERANCE)
    order = probabilities.argsort(descending=True)
    for entry, want_index in zip(result["top"], order):
        assert entry["probability"] == pytest.approx(float(probabilities[want_index]), abs=JSON_TOLERANCE)
    DIFFERENCES.setdefault(name, {})[where] = worst
    print(f"\n{name} [{where}]: {dict(Counter(layer['type'] for layer in layers))}, largest difference {worst:.3g}")


# --------------------------------------------------------------------------- (a) the command line


@pytest.mark.slow
@pytest.mark.parametrize("name", list(FAMILIES))
def test_cli_reports_every_layer_with_its_gate(
    name: str, built: Callable[[str], Built], image: Path, tmp_path: Path
) -> None:
    family = built(name)
    result = run_cli(tmp_path, image, *family.cli_args, "--input-size", CLI_SIZE, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    batch = _batch(_load(family, CLI_SIZE), image)
    assert batch.shape == (1, 3, CLI_SIZE, CLI_SIZE)
    check_document(name, "cli", document, family.native, batch)


# --------------------------------------------------------------------------- (c) the output, bit for bit


@pytest.mark.slow
@pytest.mark.parametrize("name", list(FAMILIES))
def test_output_is_bit_identical_with_recording_on(name: str, built: Callable[[str], Built], image: Path) -> None:
    family = built(name)
    loaded = _load(family, CLI_SIZE)
    x = torch.randn(2, 3, CLI_SIZE, CLI_SIZE, generator=torch.Generator().manual_seed(5))
    with torch.inference_mode():
        plain, native = loaded.model(x), family.native(x)
    assert torch.isfinite(plain).all() and plain.std() > 0
    assert torch.equal(plain, native)  # the file loaded into the product's model is the test's model

    outputs: list[torch.Tensor] = []
    hook = loaded.model.register_forward_hook(lambda _m, _args, output: outputs.append(output.clone()))
    try:
        with Analyzer(loaded.model, loaded.classes, loaded.preprocessing, name=name) as analyzer:
            batch = analyzer.preprocess([load_image(image)])
            outputs.clear()  # finding the layers may have run a probe pass
            with torch.inference_mode():
                before = loaded.model(batch)
            (analysis,) = analyzer.analyze([load_image(image)])
            with torch.inference_mode():
                during = loaded.model(x)  # hooks attached, not recording
    finally:
        hook.remove()
    assert len(analysis.layers) == sum(FAMILIES[name].counts.values())
    # The library's values, unrounded, against the gates recomputed on the test's own copy.
    layers = [
        {
            "name": layer.name,
            "type": layer.type,
            "weights": layer.weights,
            "branches": {"avg": layer.avg, "max": layer.max},
        }
        if isinstance(layer, ChannelLayer)
        else {"name": layer.name, "type": "spatial", "mask": layer.mask}
        for layer in analysis.layers
    ]
    worst, _logits = gate_differences(f"{name} library", layers, family.native, batch, LIBRARY_TOLERANCE)
    DIFFERENCES.setdefault(name, {})["library"] = worst
    print(f"\n{name} [library]: largest difference {worst:.3g}")
    recorded = outputs[1]  # [0] is ``before``; [1] ran inside the analyzer's recording
    assert len(outputs) == 3 and torch.equal(before, recorded)
    assert torch.equal(outputs[2], plain) and torch.equal(during, plain)
    with torch.inference_mode():
        assert torch.equal(loaded.model(x), plain)  # closed: the model is as it was


# --------------------------------------------------------------------------- (b) the app's API


def _launch(built: Built, folder: Path) -> tuple[str, subprocess.Popen[bytes]]:
    from tests.test_app_models import launch

    port = free_port()
    process = launch([*built.cli_args, "--input-size", CLI_SIZE], port, folder)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_app(url, process, folder / "app.log", SERVER_START_TIMEOUT_S)
    except RuntimeError as error:
        stop(process)
        pytest.fail(str(error))
    return url, process


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory, built: Callable[[str], Built]
) -> Iterator[Callable[[str], Client]]:
    """``python app.py --model FACTORY.py:build --weights FILE --input-size 64``, one per factory family.

    Factories run code, so only a launch flag can name them; the first
    server also serves every family the page builds by name, with the weights
    uploaded.
    """
    started: dict[str, tuple[Client, subprocess.Popen[bytes]]] = {}

    def get(factory_name: str) -> Client:
        if factory_name not in started:
            url, process = _launch(built(factory_name), tmp_path_factory.mktemp("app"))
            started[factory_name] = (Client(url, verbose=False), process)
        return started[factory_name][0]

    try:
        yield get
    finally:
        for _client, process in started.values():
            stop(process)


@pytest.mark.slow
@pytest.mark.parametrize("name", FACTORIES)
def test_app_launched_with_a_factory(
    name: str, servers: Callable[[str], Client], built: Callable[[str], Built], image: Path
) -> None:
    family = built(name)
    _status, top, document, _file = servers(name).predict(handle_file(str(image)), api_name="/analyze")
    assert top["label"] == document["results"][0]["prediction"]["label"]
    check_document(name, "app launch", document, family.native, _batch(_load(family, CLI_SIZE), image))


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMED)
def test_app_architecture_with_uploaded_weights(
    name: str, servers: Callable[[str], Client], built: Callable[[str], Built], image: Path
) -> None:
    family = built(name)
    client = servers(FACTORIES[0])
    _status, _top, document, _file = client.predict(
        handle_file(str(image)),
        model=family.spec,
        checkpoint_file=handle_file(str(family.weights)),
        api_name="/analyze",
    )
    assert document["checkpoint"] == f"{family.weights.name} ({family.spec})"
    # An upload is preprocessed the way its library states, not with the launch model's --input-size.
    check_document(name, "app upload", document, family.native, _batch(_load(family, None), image))
