"""The app serves the user's own network: a model given at launch, and architectures picked with uploaded weights.

Everything runs through a real ``python app.py`` and gradio_client. Each
network is built here at random init with random batch-norm statistics, saved
in its family's native format, and the gates the server reports are compared
with the gates this test recomputes from its own copy of the model (the input
each attention module sees, captured with a forward hook, pushed through the
module's parameters with plain functional calls).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import timm  # noqa: E402 - after HF_HUB_OFFLINE, which huggingface_hub reads on import

from attention.images import load_image, preprocess  # noqa: E402
from models import ecanet  # noqa: E402
from models.describe import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402
from tests.conftest import SERVER_START_TIMEOUT_S, server_environment  # noqa: E402
from tests.serving import free_port, stop, wait_for_app  # noqa: E402
from tests.test_ecanet import randomise, save_official  # noqa: E402
from tests.test_specs import save_timm_train  # noqa: E402
from webapp.state import MAX_ARCHITECTURE_PARAMETERS  # noqa: E402

pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
JSON_TOLERANCE = 2e-6  # 1e-6 between the gates, plus the document's rounding to 6 digits
LAUNCH_SIZE = 64


# --------------------------------------------------------------------------- the test's own references


def photo(path: Path, seed: int = 3) -> Path:
    """A noisy photo-like image, so that every gate sees a varied feature map."""
    generator = torch.Generator().manual_seed(seed)
    pixels = (torch.rand(90, 120, 3, generator=generator) * 255).to(torch.uint8).numpy()
    Image.fromarray(pixels).save(path)
    return path


def module_inputs(model: nn.Module, kind: str, batch: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """(the input of every module of class ``kind``, by name; the logits) from one forward pass of the test's model."""
    inputs: dict[str, torch.Tensor] = {}
    handles = [
        module.register_forward_hook(lambda _m, args, _out, name=name: inputs.__setitem__(name, args[0].clone()))
        for name, module in model.named_modules()
        if type(module).__name__ == kind
    ]
    try:
        with torch.inference_mode():
            logits = model(batch)
    finally:
        for handle in handles:
            handle.remove()
    return inputs, logits


def se_gate(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """timm SEModule: sigmoid(fc2(relu(fc1(mean(x))))), from its parameters."""
    assert isinstance(module.bn, nn.Identity) and isinstance(module.act, nn.ReLU)  # nothing else in between
    hidden = F.relu(F.conv2d(x.mean((2, 3), keepdim=True), module.fc1.weight, module.fc1.bias))
    return torch.sigmoid(F.conv2d(hidden, module.fc2.weight, module.fc2.bias)).flatten()


def eca_gate(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """ECA-Net eca_layer: sigmoid(conv1d over the channels of mean(x)), from its parameters."""
    pooled = x.mean((2, 3)).unsqueeze(1)  # (1, 1, C)
    return torch.sigmoid(F.conv1d(pooled, module.conv.weight, padding=module.conv.padding)).flatten()


def assert_gates(document: dict[str, Any], model: nn.Module, kind: str, gate: Any, batch: torch.Tensor) -> None:
    """The document's layers are the model's ``kind`` modules, with the recomputed gates, and its prediction."""
    inputs, logits = module_inputs(model, kind, batch)
    result = document["results"][0]
    layers = result["layers"]
    assert [layer["name"] for layer in layers] == list(inputs)
    for layer in layers:
        with torch.no_grad():
            expected = gate(model.get_submodule(layer["name"]), inputs[layer["name"]])
        assert expected.std() > 1e-3, layer["name"]  # a gate that varies: the comparison can fail
        actual = torch.tensor(layer["weights"], dtype=torch.float64)
        difference = float((actual - expected.double()).abs().max())
        assert difference <= JSON_TOLERANCE, (layer["name"], difference)
    probabilities = torch.softmax(logits, dim=1)[0]
    index = int(probabilities.argmax())
    assert result["prediction"]["index"] == index
    assert result["prediction"]["label"] == document["classes"][index]
    assert result["prediction"]["probability"] == pytest.approx(float(probabilities[index]), abs=JSON_TOLERANCE)


def api_call(client: Client, image: Path, model: str | None = None, weights: Path | None = None) -> tuple:
    inputs: dict[str, Any] = {}
    if model is not None:
        inputs["model"] = model
    if weights is not None:
        inputs["checkpoint_file"] = handle_file(str(weights))
    return client.predict(handle_file(str(image)), api_name="/analyze", **inputs)


def refusal(client: Client, image: Path, model: str, weights: Path | None = None) -> str:
    with pytest.raises(AppError) as caught:
        api_call(client, image, model, weights)
    message = str(caught.value)
    assert "\n" not in message, message
    return message


def component(url: str, elem_id: str) -> dict[str, Any]:
    """The properties the page's config gives the component with ``elem_id``."""
    with urllib.request.urlopen(url + "config", timeout=10) as response:
        config = json.loads(response.read())
    return next(c for c in config["components"] if c.get("props", {}).get("elem_id") == elem_id)["props"]


# --------------------------------------------------------------------------- a model given at launch


class Launched(NamedTuple):
    url: str
    client: Client
    model: nn.Module
    process: subprocess.Popen[bytes]


def launch(
    args: list[str | Path], port: int, folder: Path, extra: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    env = server_environment(port, folder / "uploads")
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", **(extra or {}))
    log = open(folder / "app.log", "wb")  # noqa: SIM115 - the server writes to it while it runs
    return subprocess.Popen(
        [sys.executable, "app.py", *map(str, args)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )


@contextlib.contextmanager
def served(
    args: list[str | Path], folder: Path, extra: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``python app.py ARGS`` on a free port until the block ends; the test fails if it never answers."""
    port = free_port()
    process = launch(args, port, folder, extra)
    url = f"http://127.0.0.1:{port}/"
    try:
        try:
            wait_for_app(url, process, folder / "app.log", SERVER_START_TIMEOUT_S)
        except RuntimeError as error:
            pytest.fail(str(error))
        yield url, process
    finally:
        stop(process)


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launched]:
    """``python app.py --model timm:seresnet18 --weights model_best.pth.tar --input-size 64 --resize squash``."""
    folder = tmp_path_factory.mktemp("launched")
    torch.manual_seed(0)
    model = randomise(timm.create_model("seresnet18"), seed=21)
    weights = folder / "model_best.pth.tar"
    save_timm_train(model, weights)  # timm's train.py layout, argparse args included
    args = ["--model", "timm:seresnet18", "--weights", weights, "--input-size", LAUNCH_SIZE, "--resize", "squash"]
    with served(args, folder) as (url, process):
        yield Launched(url, Client(url, verbose=False), model, process)


def test_the_launch_model_is_the_pickers_default(launched: Launched) -> None:
    endpoint = launched.client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/analyze"]
    names = [parameter["parameter_name"] for parameter in endpoint["parameters"]]
    assert names[:3] == ["image", "model", "checkpoint_file"]
    assert endpoint["parameters"][1]["parameter_default"] == "timm:seresnet18"
    assert endpoint["parameters"][2]["parameter_default"] is None
    props = component(launched.url, "model")
    values = [value for _label, value in props["choices"]]
    assert props["value"] == "timm:seresnet18" and values[0] == "timm:seresnet18"
    assert values.count("timm:seresnet18") == 1  # the launch model stands for the architecture too
    assert {"shapes", "fashion", "ecanet:eca_resnet18", "torchvision:mobilenet_v3_small"} <= set(values)
    assert component(launched.url, "model-status")["value"] == "Using the launch model **timm:seresnet18**."


def test_the_launch_model_records_its_se_gates(launched: Launched, tmp_path: Path) -> None:
    image = photo(tmp_path / "photo.png")
    status, top, document, _file = api_call(launched.client, image)  # the image alone: the launch model
    assert document["checkpoint"] == "timm:seresnet18" and len(document["classes"]) == 1000
    layers = document["results"][0]["layers"]
    assert len(layers) == 8 and {layer["type"] for layer in layers} == {"se"}
    mean, std = timm.data.resolve_data_config({}, model=launched.model)["mean"], IMAGENET_STD
    assert tuple(mean) == IMAGENET_MEAN
    # The launch flags' --resize squash replaced timm's centre crop; its bicubic interpolation stays.
    assert document["preprocessing"]["resize"] == "squash" and document["preprocessing"]["crop_pct"] == 1.0
    assert document["results"][0]["view"] == [0.0, 0.0, 1.0, 1.0]
    size = (LAUNCH_SIZE, LAUNCH_SIZE)
    batch = preprocess([load_image(image)], size, 3, IMAGENET_MEAN, std, "squash", 1.0, "bicubic")
    assert_gates(document, launched.model, "SEModule", se_gate, batch)
    assert top["label"] == document["results"][0]["prediction"]["label"] and "timm:seresnet18" in status
    # The shipped models are still there, by name.
    _status, _top, shapes, _file = api_call(launched.client, image, "shapes")
    assert shapes["checkpoint"] == "shapes"


@pytest.mark.slow
def test_a_launch_model_without_attention_is_refused_in_one_line(tmp_path: Path) -> None:
    import torchvision

    weights = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    args = ["--model", "torchvision:resnet18", "--weights", weights, "--input-size", "32"]
    process = launch(args, free_port(), tmp_path)
    assert process.wait(timeout=180) == 2
    lines = (tmp_path / "app.log").read_text(errors="replace").strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: torchvision:resnet18 has no attention layers the recorder can find")


@pytest.mark.slow
def test_a_hosted_copy_serves_the_models_its_variable_lists_and_skips_one_not_cached(tmp_path: Path) -> None:
    from tests.test_model_families import hub_cache

    labels = [f"class {index}" for index in range(1000)]
    env = hub_cache(tmp_path, "timm/ecaresnet26t.ra2_in1k", labels, "ecaresnet26t")  # its pretrained tag
    extra = {"HF_HOME": env["HF_HOME"], "ATTENTION_LENS_MODELS": "timm:ecaresnet26t,timm:seresnet50"}
    with served([], tmp_path, extra) as (url, _process):  # app.py with no arguments, as a Hugging Face Space runs it
        props = component(url, "model")
        assert props["value"] == "timm:ecaresnet26t"
        assert [value for _label, value in props["choices"]][:3] == ["timm:ecaresnet26t", "shapes", "fashion"]
        assert component(url, "examples-timm:ecaresnet26t")  # the photo examples, for the photo model
        client = Client(url, verbose=False)
        image = photo(tmp_path / "photo.png")
        _status, _top, document, _file = api_call(client, image)
        assert document["checkpoint"] == "timm:ecaresnet26t" and len(document["results"][0]["layers"]) == 8
        assert document["preprocessing"]["resize"] == "shorter-crop"  # timm's own evaluation transform
    skipped = [line for line in (tmp_path / "app.log").read_text().splitlines() if "skipped" in line]
    assert len(skipped) == 1 and "launch model timm:seresnet50 skipped: " in skipped[0], skipped


# --------------------------------------------------------------------------- an architecture picked in the page


@pytest.fixture(scope="module")
def official_eca(tmp_path_factory: pytest.TempPathFactory) -> tuple[nn.Module, Path]:
    """An ECA-Net eca_resnet18 with ECA-Net-50's per-stage kernels, as the authors' main.py saves it."""
    torch.manual_seed(1)
    model = randomise(ecanet.ARCHITECTURES["eca_resnet18"](num_classes=5, k_size=(3, 5, 5, 7)), seed=22)
    path = tmp_path_factory.mktemp("eca") / "model_best.pth.tar"
    save_official(model, "eca_resnet18", path)  # module.-prefixed keys, epoch, arch, best_prec1, optimizer
    return model, path


def test_an_architecture_with_uploaded_weights_is_analysed(
    client: Client, official_eca: tuple[nn.Module, Path], tmp_path: Path
) -> None:
    model, weights = official_eca
    image = photo(tmp_path / "photo.png", seed=4)
    status, _top, document, _file = api_call(client, image, "ecanet:eca_resnet18", weights)
    assert document["checkpoint"] == "model_best.pth.tar (ecanet:eca_resnet18)"
    assert document["classes"] == [f"class {index}" for index in range(5)]
    layers = document["results"][0]["layers"]
    assert [layer["type"] for layer in layers] == ["eca"] * 8
    assert [layer["kernel_size"] for layer in layers] == [3, 3, 5, 5, 5, 5, 7, 7]  # read from the file
    # The authors' main.py evaluates with Resize(256) and CenterCrop(224), and so does the page.
    assert document["preprocessing"]["resize"] == "shorter-crop" and document["preprocessing"]["crop_pct"] == 0.875
    batch = preprocess([load_image(image)], (224, 224), 3, IMAGENET_MEAN, IMAGENET_STD, "shorter-crop", 0.875)
    assert_gates(document, model, "eca_layer", eca_gate, batch)
    assert "ecanet:eca\\_resnet18" in status
    # The picker offers the architecture, and the shipped default is unchanged without an upload.
    _status, _top, shipped, _file = api_call(client, image)
    assert shipped["checkpoint"] == "shapes"


def test_unusable_uploads_get_one_line_each(
    client: Client, official_eca: tuple[nn.Module, Path], tmp_path: Path
) -> None:
    image = photo(tmp_path / "photo.png", seed=5)
    small = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.script is deprecated, but users still have such files
        torch.jit.script(small).save(str(tmp_path / "scripted.pt"))
    torch.save(small, tmp_path / "full_model.pth")
    torch.save(timm.create_model("seresnet18", num_classes=5).state_dict(), tmp_path / "seresnet18.pth")
    cases = {
        "scripted.pt": "scripted.pt is a TorchScript archive",
        "full_model.pth": "full_model.pth is a full pickled model, which cannot be loaded safely; save its state_dict",
        "seresnet18.pth": "seresnet18.pth is a state dict for another architecture than ecanet:eca_resnet18: "
        "layer1.0.eca.conv.weight is missing from the file",
    }
    for name, expected in cases.items():
        assert refusal(client, image, "ecanet:eca_resnet18", tmp_path / name).startswith(expected), name
    # An architecture needs its weights: nothing is downloaded for a request.
    message = refusal(client, image, "timm:seresnet18")
    assert message.startswith("timm:seresnet18 is an architecture without weights: upload a weights file")
    # Too large to build for a request, refused before the file is read (any file will do).
    message = refusal(client, image, "timm:senet154", tmp_path / "seresnet18.pth")
    limit = f"{MAX_ARCHITECTURE_PARAMETERS / 1e6:.0f} M"
    assert message.startswith(f"timm:senet154 has 115 M parameters; the page builds architectures of up to {limit}")
    # A library model without a gate, with or without weights; a name the library does not have.
    assert refusal(client, image, "timm:resnet18", tmp_path / "seresnet18.pth").startswith(
        "timm:resnet18 holds no gate the recorder knows (SE, ECA, CBAM and their kin)"
    )
    assert refusal(client, image, "timm:seresnet1888").startswith("unknown timm model 'seresnet1888'")
    # The server still serves the good upload.
    _status, _top, document, _file = api_call(client, image, "ecanet:eca_resnet18", official_eca[1])
    assert len(document["results"][0]["layers"]) == 8


def test_an_architecture_spec_that_is_code_is_never_run(client: Client, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.py"
    evil.write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
        "def build():\n    import torchvision\n    return torchvision.models.mobilenet_v3_small()\n"
    )
    weights = tmp_path / "weights.pth"
    torch.save({"w": torch.zeros(1)}, weights)
    image = photo(tmp_path / "photo.png", seed=6)
    for spec in ("evil.py:build", f"{evil}:build", "os:system", "tests.networks_zoo:blog_resnet18"):
        for upload in (None, weights):
            message = refusal(client, image, spec, upload)
            assert "names Python code, which the page never runs" in message, (spec, message)
    assert not marker.exists()
