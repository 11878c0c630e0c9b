"""Model specs and weights files as users have them: timm, torchvision, ECA-Net, their own factory.

Every network is built at random init with random batch-norm statistics,
saved in its family's native format, and loaded back through ``load_model``
(and the CLI); the loaded model must give bit-identical output. Nothing is
downloaded: the tests run offline, with the libraries' caches in tmp_path.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import struct
import subprocess
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torch import nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import timm  # noqa: E402 - after HF_HUB_OFFLINE, which huggingface_hub reads on import
from timm.data import create_transform, resolve_data_config  # noqa: E402

from attention.errors import CheckpointError, InputError  # noqa: E402
from attention.images import load_image, preprocess  # noqa: E402
from models import ecanet  # noqa: E402
from models.architectures import FEATURED, gated_parameters, known_architectures, names  # noqa: E402
from models.architectures import attention_architectures as architecture_list  # noqa: E402
from models.specs import (  # noqa: E402
    apply_overrides,
    load_model,
    parse_spec,
    read_classes,
)
from models.weights import WEIGHT_SUFFIXES, read_weights  # noqa: E402
from tests.badfiles import _Exploit  # noqa: E402
from tests.commands import run_attention
from tests.networks_zoo import randomise_norms  # noqa: E402
from tests.test_ecanet import randomise  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def offline_env(home: Path) -> dict[str, str]:
    """No hub, empty caches, and a proxy that refuses at once: downloads fail fast and for sure."""
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        HF_HOME=str(home / "hf"),
        TORCH_HOME=str(home / "torch"),
        http_proxy="http://127.0.0.1:9",
        https_proxy="http://127.0.0.1:9",
        HTTP_PROXY="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
        OMP_NUM_THREADS="1",
    )
    return env


def run_cli(home: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return run_attention("analyze", *args, env=offline_env(home))


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def same_output(a: nn.Module, b: nn.Module, size: int = 64) -> None:
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(5))
    with torch.inference_mode():
        out_a, out_b = a(x), b(x)
    assert torch.isfinite(out_a).all() and out_a.std() > 0
    assert torch.equal(out_a, out_b)


# ---------------------------------------------------------------- native formats


def save_bare(model: nn.Module, path: Path) -> None:
    torch.save(model.state_dict(), path)


def save_safetensors(model: nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))


def save_timm_train(model: nn.Module, path: Path) -> None:
    """The layout of timm's train.py checkpoints, argparse Namespace included."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    torch.save(
        {
            "epoch": 10,
            "arch": model.pretrained_cfg["architecture"],
            "state_dict": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "version": 2,
            "args": argparse.Namespace(model=model.pretrained_cfg["architecture"], lr=0.1, epochs=10),
            "metric": 71.2,
            "state_dict_ema": model.state_dict(),
        },
        path,
    )


def save_torchvision_reference(model: nn.Module, path: Path) -> None:
    """The layout of torchvision's references/classification/train.py checkpoints."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30)
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "lr_scheduler": scheduler.state_dict(),
            "epoch": 3,
            "args": argparse.Namespace(model="mobilenet_v3_small", lr=0.1),
        },
        path,
    )


def save_data_parallel(model: nn.Module, path: Path) -> None:
    torch.save({"model_state_dict": nn.DataParallel(model).state_dict(), "epoch": 1}, path)


LIBRARY_CASES: list[tuple[str, Callable[[], nn.Module], Callable[[nn.Module, Path], None], str]] = [
    ("timm:ecaresnet26t", lambda: timm.create_model("ecaresnet26t"), save_safetensors, "model.safetensors"),
    ("timm:seresnet18", lambda: timm.create_model("seresnet18"), save_timm_train, "model_best.pth.tar"),
    (
        "torchvision:mobilenet_v3_small",
        lambda: torchvision.models.mobilenet_v3_small(weights=None),
        save_torchvision_reference,
        "checkpoint.pth",
    ),
    (
        "torchvision:efficientnet_b0",
        lambda: torchvision.models.efficientnet_b0(weights=None),
        save_data_parallel,
        "efficientnet.ckpt",
    ),
    ("torchvision:regnet_y_400mf", lambda: torchvision.models.regnet_y_400mf(weights=None), save_bare, "regnet.bin"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("spec", "build", "save", "filename"), LIBRARY_CASES, ids=[c[0] for c in LIBRARY_CASES])
def test_library_models_load_from_their_native_files(
    tmp_path: Path, spec: str, build: Callable[[], nn.Module], save: Callable[[nn.Module, Path], None], filename: str
) -> None:
    torch.manual_seed(0)
    native = randomise(build(), seed=1)
    path = tmp_path / filename
    save(native, path)
    loaded = load_model(spec, weights=path)
    assert not loaded.model.training
    assert loaded.name == spec and loaded.source == str(path)
    same_output(loaded.model, native)
    family, name = spec.split(":")
    if family == "timm":
        config = resolve_data_config({}, model=native)
        assert loaded.preprocessing.input_size == tuple(config["input_size"][1:])
        assert loaded.preprocessing.mean == tuple(config["mean"]) and loaded.preprocessing.std == tuple(config["std"])
        assert len(loaded.classes) == 1000 and loaded.classes[:2] == ["tench", "goldfish"]
    else:
        weights = torchvision.models.get_model_weights(name).DEFAULT
        transforms = weights.transforms()
        assert loaded.preprocessing.input_size == (transforms.crop_size[0],) * 2
        assert list(loaded.preprocessing.mean) == transforms.mean and list(loaded.preprocessing.std) == transforms.std
        assert loaded.classes == weights.meta["categories"]


def photo(width: int = 1600, height: int = 1200) -> Image.Image:
    """A photo-sized picture with structure everywhere, so a crop or resize that differs changes the input."""
    rows, columns = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    red = torch.sin(rows * 23) * 0.5 + 0.5
    green = torch.cos(columns * 17 + rows * 5) * 0.5 + 0.5
    blue = ((rows * 9).floor() + (columns * 13).floor()) % 2
    return Image.fromarray((torch.stack([red, green, blue], -1) * 255).to(torch.uint8).numpy())


PHOTO_CASES = [
    ("timm:mobilenetv3_small_100", lambda: timm.create_model("mobilenetv3_small_100")),
    ("torchvision:mobilenet_v3_small", lambda: torchvision.models.mobilenet_v3_small(weights=None)),
]


@pytest.mark.slow
@pytest.mark.parametrize(("spec", "build"), PHOTO_CASES, ids=[case[0] for case in PHOTO_CASES])
def test_a_library_model_sees_a_photo_as_its_library_evaluates_it(
    tmp_path: Path, spec: str, build: Callable[[], nn.Module]
) -> None:
    from attention.analysis import Analyzer

    torch.manual_seed(0)
    native = randomise_norms(build(), seed=4)
    path = tmp_path / "weights.pth"
    save_bare(native, path)
    photo().save(tmp_path / "photo.jpg", quality=92)
    picture = load_image(tmp_path / "photo.jpg")
    if spec.startswith("timm:"):
        own = create_transform(**resolve_data_config({}, model=native))
    else:
        own = torchvision.models.get_model_weights(spec.split(":")[1]).DEFAULT.transforms()
    loaded = load_model(spec, weights=path)
    assert torch.equal(loaded.preprocessing.batch([picture])[0], own(picture))
    with Analyzer(loaded.model, loaded.classes, loaded.preprocessing, spec) as analyzer:
        (analysis,) = analyzer.analyze([picture])
    with torch.inference_mode():
        expected = torch.softmax(native(own(picture)[None]), dim=1)[0].numpy()
    assert int(analysis.probabilities.argmax()) == int(expected.argmax())
    np.testing.assert_allclose(analysis.probabilities, expected, atol=1e-6)
    # A 4:3 photo: the centre crop keeps crop_pct of its height and three quarters of that of its width.
    left, top, right, bottom = analysis.view
    crop = loaded.preprocessing.crop_pct
    assert bottom - top == pytest.approx(crop, abs=0.01) and right - left == pytest.approx(0.75 * crop, abs=0.01)
    assert top == pytest.approx(1 - bottom, abs=0.01) and left == pytest.approx(1 - right, abs=0.01)  # centred
    squashed = apply_overrides(loaded.preprocessing, {"resize": "squash"})
    assert (squashed.resize, squashed.crop_pct) == ("squash", 1.0)
    assert squashed.view(picture) == (0.0, 0.0, 1.0, 1.0)
    assert not torch.equal(squashed.batch([picture]), loaded.preprocessing.batch([picture]))


def test_timm_pretrained_config_gives_the_input_size(tmp_path: Path) -> None:
    # ecaresnet26t's pretrained config says 256 px, not the usual 224: the loader must not assume.
    native = randomise(timm.create_model("ecaresnet26t"), seed=2)
    path = tmp_path / "eca26t.pth"
    save_bare(native, path)
    assert load_model("timm:ecaresnet26t", weights=path).preprocessing.input_size == (256, 256)


@pytest.mark.slow
def test_wrapped_and_legacy_files(tmp_path: Path) -> None:
    # torch.compile's _orig_mod. prefix, a Lightning module's model. prefix, and PyTorch's pre-1.6 file format.
    native = randomise(ecanet.ARCHITECTURES["eca_resnet18"](num_classes=3), seed=15)
    compiled = tmp_path / "compiled.pt"
    torch.save(torch.compile(native).state_dict(), compiled)
    lightning = tmp_path / "epoch=3.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in native.state_dict().items()}, "epoch": 3}, lightning)
    legacy = tmp_path / "legacy.pth"
    torch.save(native.state_dict(), legacy, _use_new_zipfile_serialization=False)
    for path in (compiled, lightning, legacy):
        loaded = load_model("ecanet:eca_resnet18", weights=path, preprocessing_overrides={"input_size": 64})
        same_output(loaded.model, native)


def test_fine_tuned_head_and_class_names(tmp_path: Path) -> None:
    native = randomise(torchvision.models.mobilenet_v3_small(weights=None, num_classes=7), seed=3)
    path = tmp_path / "seven.pth"
    save_bare(native, path)
    overrides = {"input_size": 64}
    loaded = load_model("torchvision:mobilenet_v3_small", weights=path, preprocessing_overrides=overrides)
    assert loaded.classes == [f"class {i}" for i in range(7)] and loaded.config["num_classes"] == 7
    same_output(loaded.model, native)

    names = tmp_path / "classes.txt"
    names.write_text("cat\ndog\n\nfox\nowl\n  hen \nant\nbee\n")
    loaded = load_model(
        "torchvision:mobilenet_v3_small", weights=path, classes=names, preprocessing_overrides=overrides
    )
    assert loaded.classes == ["cat", "dog", "fox", "owl", "hen", "ant", "bee"]

    names.write_text("cat\ndog\n")
    with pytest.raises(InputError, match=r"^classes.txt names 2 classes but torchvision:mobilenet_v3_small has 7"):
        load_model("torchvision:mobilenet_v3_small", weights=path, classes=names, preprocessing_overrides=overrides)


FACTORY = """
import timm
import torch


def build():
    # A ResNet-18 with CBAM in every block: timm has the module but registers no such model.
    return timm.create_model("resnet18", block_args=dict(attn_layer="cbam"), num_classes=5)


def imagenet():
    # timm's own 1000 classes: the labels come from timm's config for the network
    return timm.create_model("resnet18", block_args=dict(attn_layer="cbam"))


def in21k():
    # ImageNet-21k's 21,843 outputs: the names come from timm's label set for the network's pretrained config
    return timm.create_model("vit_tiny_patch16_224.augreg_in21k")


def broken():
    raise RuntimeError("the factory needs a GPU")


def not_a_model():
    return 42


class _Maps(torch.nn.Module):
    def forward(self, x):
        return x  # feature maps, not class scores


class _Pair(torch.nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3)), x


def maps():
    return _Maps()


def pair():
    return _Pair()
"""


def test_factory_file_with_overrides(tmp_path: Path) -> None:
    factory = tmp_path / "my_nets.py"
    factory.write_text(FACTORY)
    torch.manual_seed(4)
    native = randomise(timm.create_model("resnet18", block_args={"attn_layer": "cbam"}, num_classes=5), seed=4)
    path = tmp_path / "cbam.pt"
    save_bare(native, path)
    classes = tmp_path / "classes.json"
    classes.write_text(json.dumps(["circle", "square", "star", "triangle", "hexagon"]))
    spec = f"{factory}:build"
    overrides = {"input_size": [48, 40], "mean": [0.5], "std": [0.25]}
    loaded = load_model(spec, weights=path, classes=classes, preprocessing_overrides=overrides, allow_code=True)
    assert loaded.classes == ["circle", "square", "star", "triangle", "hexagon"]
    assert loaded.preprocessing.input_size == (48, 40)
    assert loaded.preprocessing.mean == (0.5, 0.5, 0.5) and loaded.preprocessing.std == (0.25, 0.25, 0.25)
    same_output(loaded.model, native)

    with pytest.raises(InputError, match="runs Python code"):
        load_model(spec, weights=path)
    # Without --classes: a timm network of 1000 outputs gets ImageNet's names, another size numbered ones.
    labels = load_model(f"{factory}:imagenet", allow_code=True).classes
    assert len(labels) == 1000 and labels[0] == "tench" and labels[999] == "toilet tissue"
    labels = load_model(f"{factory}:in21k", allow_code=True).classes
    assert len(labels) == 21843 and labels[:2] == ["organism", "benthos"]
    assert load_model(spec, allow_code=True).classes == [f"class {index}" for index in range(5)]
    for function, message in [
        ("broken", r"raised RuntimeError: the factory needs a GPU$"),
        ("not_a_model", r"returned a int, not a torch.nn.Module$"),
        ("missing", r"^my_nets.py has no function missing$"),
        ("maps", r":maps returns \[1, 3, 224, 224\], not one row of class scores per image$"),
        ("pair", r":pair returns tuple, not one row of class scores per image$"),
    ]:
        with pytest.raises(InputError, match=message):
            load_model(f"{factory}:{function}", allow_code=True)


def test_factory_module_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "userpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "nets.py").write_text(
        "from models.networks import attention_torchvision_resnet\n\n\n"
        "def build():\n    return attention_torchvision_resnet(18, num_classes=3)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    from models.networks import attention_torchvision_resnet

    native = randomise(attention_torchvision_resnet(18, num_classes=3), seed=6)
    path = tmp_path / "blog.pth"
    save_bare(native, path)
    loaded = load_model("userpkg.nets:build", weights=path, allow_code=True, preprocessing_overrides={"input_size": 64})
    assert loaded.classes == ["class 0", "class 1", "class 2"]
    assert loaded.preprocessing.input_size == (64, 64) and loaded.preprocessing.mean == (0.485, 0.456, 0.406)
    same_output(loaded.model, native)


# ---------------------------------------------------------------- specs and options


@pytest.mark.slow
def test_the_architecture_list_is_what_laying_each_one_out_finds() -> None:
    known = known_architectures()
    assert known, "models/architectures.json is missing or was made for other versions: python -m models.architectures"
    # The two the page refused when it offered name patterns, and one of each family.
    assert {"timm:regnety_002", "timm:mobilenetv3_large_100", "torchvision:regnet_y_400mf", "ecanet:eca_resnet50",
            "timm:ecaresnet50d", "torchvision:efficientnet_b0"} <= set(known)  # fmt: skip
    assert not {"timm:resnet18", "torchvision:resnet50", "timm:mixer_b16_224"} & set(known)  # no attention at all
    assert {"timm:vit_tiny_patch16_224", "timm:deit_tiny_distilled_patch16_224", "torchvision:vit_b_16"} <= set(known)
    specs = names()
    checked = random.Random(7).sample(specs, 40) + list(FEATURED) + ["torchvision:regnet_y_800mf"]
    for spec in checked:
        assert gated_parameters(spec) == known.get(spec), spec
    attention = architecture_list(limit=None)
    assert attention[: len(FEATURED)] == list(FEATURED) and sorted(attention) == sorted(known)


def test_parse_spec_kinds() -> None:
    assert parse_spec(None).kind == "checkpoint" and parse_spec(None).name == "shapes"
    assert parse_spec("fashion").kind == "checkpoint"
    assert parse_spec("runs/model:1.pt").kind == "checkpoint"
    assert (parse_spec("timm:ecaresnet50d").kind, parse_spec("timm:ecaresnet50d").name) == ("timm", "ecaresnet50d")
    assert parse_spec("ecanet:eca_resnet50").kind == "ecanet"
    assert parse_spec("nets/my.py:build", allow_code=True).function == "build"
    assert parse_spec("pkg.mod:make", allow_code=True).kind == "module"
    for spec in ("nets/my.py:build", "pkg.mod:make", "os:system"):
        with pytest.raises(InputError, match="runs Python code"):
            parse_spec(spec)
    with pytest.raises(InputError, match="names no model"):
        parse_spec("timm:")
    with pytest.raises(InputError, match="control characters"):
        parse_spec("timm:resnet\n50")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("timm:seresnet1", r"^unknown timm model 'seresnet1'; close matches: seresnet18"),
        ("torchvision:mobilenet_v3_smal", r"^unknown torchvision classification model .*: mobilenet_v3_small"),
        ("torchvision:fasterrcnn_resnet50_fpn", r"^unknown torchvision classification model"),
        ("ecanet:eca_resnet19", r"^unknown ECA-Net architecture 'eca_resnet19'; choose one of eca_resnet18"),
        ("timm:seresnet18", r"^timm has no pretrained weights for timm:seresnet18; pass --weights FILE$"),
    ],
)
def test_bad_specs_are_one_line(spec: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_model(spec)


@pytest.mark.parametrize("spec", ["torchvision:resnet18", "timm:resnet18"])
def test_a_library_network_without_attention_is_refused_before_any_download(
    spec: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in offline_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    with pytest.raises(InputError) as error:
        load_model(spec)
    assert str(error.value).startswith(
        f"{spec} has no attention layers the recorder can find: an attention layer is a module whose output is its "
        "input times a gate computed from that input"
    )
    captured = capsys.readouterr()
    assert "Downloading" not in captured.out + captured.err and not list(tmp_path.rglob("*.pth"))


def test_offline_torchvision_says_how_to_pass_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # An empty cache and a proxy that refuses: the download fails at once, as it does offline.
    for key, value in offline_env(tmp_path).items():
        if key.lower().endswith("proxy") or key == "TORCH_HOME":
            monkeypatch.setenv(key, value)
    with pytest.raises(InputError) as error:
        load_model("torchvision:mobilenet_v3_small")
    assert str(error.value) == (
        "could not download torchvision:mobilenet_v3_small's pretrained weights (offline?); pass --weights FILE"
    )
    assert capsys.readouterr().out == ""  # torch.hub's "Downloading" line must not reach --json's stdout


def test_training_checkpoints_open_by_path_alone(tmp_path: Path) -> None:
    # The file names its network: ECA-Net's main.py and timm's train.py as "arch", torchvision's script in args.
    from tests.test_ecanet import save_official

    eca = randomise(ecanet.ARCHITECTURES["eca_resnet18"](), seed=12)
    save_official(eca, "eca_resnet18", tmp_path / "model_best.pth.tar")
    se = randomise(timm.create_model("seresnet18"), seed=13)
    save_timm_train(se, tmp_path / "timm_best.pth.tar")
    mobile = randomise(torchvision.models.mobilenet_v3_small(weights=None), seed=14)
    save_torchvision_reference(mobile, tmp_path / "checkpoint.pth")
    for filename, spec, native in [
        ("model_best.pth.tar", "ecanet:eca_resnet18", eca),
        ("timm_best.pth.tar", "timm:seresnet18", se),
        ("checkpoint.pth", "torchvision:mobilenet_v3_small", mobile),
    ]:
        loaded = load_model(tmp_path / filename, preprocessing_overrides={"input_size": 64})
        assert loaded.name == spec and loaded.source == str(tmp_path / filename)
        same_output(loaded.model, native)

    save_bare(mobile, tmp_path / "bare.pth")
    with pytest.raises(CheckpointError) as error:
        load_model(tmp_path / "bare.pth")
    assert str(error.value) == (
        "bare.pth is a weights file, not an Attention Lens checkpoint; name its network with --model timm:NAME, "
        "torchvision:NAME, ecanet:NAME or file.py:FUNCTION, and pass --weights bare.pth"
    )


def test_checkpoint_specs_take_no_weights(tmp_path: Path) -> None:
    path = tmp_path / "w.pt"
    save_bare(nn.Linear(2, 2), path)
    with pytest.raises(InputError, match="shapes is an Attention Lens checkpoint, which carries its own weights"):
        load_model("shapes", weights=path)
    assert load_model("shapes", classes=[f"c{i}" for i in range(len(load_model("shapes").classes))]).classes[0] == "c0"


def test_overrides_are_checked() -> None:
    base = apply_overrides(load_model("shapes").preprocessing, None)
    assert apply_overrides(base, {"input_size": 32}).input_size == (32, 32)
    assert apply_overrides(base, {"resize": "shorter-crop"}).resize == "shorter-crop"
    gray = apply_overrides(base, {"channels": 1})
    assert gray.channels == 1 and len(gray.mean) == 1
    for overrides, message in [
        ({"input_size": [0]}, "--input-size must be between"),
        ({"input_size": [1, 2, 3]}, "--input-size takes one side"),
        ({"mean": [0.1, 0.2]}, "--mean takes one number, or one per input channel"),
        ({"std": [0.0]}, "--std values must be positive"),
        ({"std": [float("nan")]}, "--std takes one number"),
        ({"channels": 2}, "--channels must be 1 or 3"),
        ({"resize": "stretch"}, "--resize must be squash or shorter-crop, not 'stretch'"),
    ]:
        with pytest.raises(InputError, match=message):
            apply_overrides(base, overrides)


def test_wrong_input_size_is_reported_at_load(tmp_path: Path) -> None:
    native = randomise(torchvision.models.mobilenet_v3_small(weights=None), seed=7)
    path = tmp_path / "m.pth"
    save_bare(native, path)
    with pytest.raises(InputError, match=r"^torchvision:mobilenet_v3_small fails on a 1x64x64 input"):
        load_model(
            "torchvision:mobilenet_v3_small", weights=path, preprocessing_overrides={"input_size": 64, "channels": 1}
        )


def test_classes_files(tmp_path: Path) -> None:
    path = tmp_path / "names.txt"
    path.write_text('["a", "b"]')
    assert read_classes(path) == ["a", "b"]
    for text, message in [
        ('["a", 3]', "must be a JSON list of strings"),
        ("[oops", "is not a valid JSON list"),
        ("\n \n", "names no classes"),
        ("x" * 400, "longer than 300 characters"),
    ]:
        path.write_text(text)
        with pytest.raises(InputError, match=message):
            read_classes(path)
    path.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(InputError, match="not UTF-8 text"):
        read_classes(path)


# ---------------------------------------------------------------- weights files that cannot be used


def zip_claiming(path: Path, claimed: int) -> None:
    """A tiny zip archive whose directory says its entry unpacks to ``claimed`` bytes."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", b"x" * 16)
    data = bytearray(path.read_bytes())
    central = data.index(b"PK\x01\x02")
    data[central + 24 : central + 28] = struct.pack("<I", claimed)
    path.write_bytes(bytes(data))


def test_weights_files_that_cannot_be_used(tmp_path: Path) -> None:
    model = torchvision.models.resnet18(weights=None)
    cases: dict[str, str] = {}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.script is deprecated, but users still have such files
        torch.jit.script(model).save(str(tmp_path / "scripted.pt"))
    cases["scripted.pt"] = "scripted.pt is a TorchScript archive"
    torch.save(model, tmp_path / "full.pth")
    cases["full.pth"] = "full.pth is a full pickled model, which cannot be loaded safely; save its state_dict"
    marker = tmp_path / "pwned"
    torch.save({"state_dict": _Exploit(marker)}, tmp_path / "exploit.pt")
    cases["exploit.pt"] = "exploit.pt contains Python objects (posix.system) that a weights file must not hold"
    (tmp_path / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    cases["model.safetensors"] = "model.safetensors is not a readable safetensors file"
    (tmp_path / "garbage.bin").write_bytes(b"\x00garbage" * 100)
    cases["garbage.bin"] = "garbage.bin is not a readable PyTorch file (corrupt or truncated)"
    (tmp_path / "empty.pt").write_bytes(b"")
    cases["empty.pt"] = "empty.pt is empty"
    save_bare(model, tmp_path / "weights.npy")
    cases["weights.npy"] = "weights.npy is not a weights file: the name must end in .pt, .pth, .pth.tar"
    torch.save({"epoch": 3, "notes": "hi"}, tmp_path / "meta.pth.tar")
    cases["meta.pth.tar"] = "meta.pth.tar is a dict without a state dict (its keys: epoch, notes)"
    torch.save([torch.zeros(2)], tmp_path / "list.pt")
    cases["list.pt"] = "list.pt holds a list, not a state dict"
    zip_claiming(tmp_path / "bomb.pt", 3 << 30)
    cases["bomb.pt"] = "bomb.pt would unpack to 3,072 MB; the limit is 2,048 MB"
    data = (tmp_path / "full.pth").read_bytes()
    (tmp_path / "truncated.pth").write_bytes(data[: len(data) // 2])
    cases["truncated.pth"] = "truncated.pth is"

    for name, expected in cases.items():
        with pytest.raises(CheckpointError) as error:
            read_weights(tmp_path / name)
        message = str(error.value)
        assert message.startswith(expected), (name, message)
        assert "\n" not in message
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="weights file not found"):
        read_weights(tmp_path / "absent.pt")
    assert ".pth.tar" in WEIGHT_SUFFIXES and ".safetensors" in WEIGHT_SUFFIXES


def test_weights_that_do_not_fit(tmp_path: Path) -> None:
    se = timm.create_model("seresnet18")
    path = tmp_path / "se.pth"
    save_bare(se, path)
    with pytest.raises(
        CheckpointError, match=r"^se.pth is a state dict for another architecture than timm:ecaresnet26t"
    ):
        load_model("timm:ecaresnet26t", weights=path)

    state = se.state_dict()
    state["conv1.weight"][0, 0, 0, 0] = float("nan")
    torch.save(state, path)
    with pytest.raises(
        CheckpointError, match=r"^se.pth: tensor conv1.weight holds non-finite values \(NaN or infinity\)$"
    ):
        load_model("timm:seresnet18", weights=path)


# ---------------------------------------------------------------- the command line


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from PIL import Image

    generator = torch.Generator().manual_seed(8)
    pixels = (torch.rand(90, 120, 3, generator=generator) * 255).to(torch.uint8).numpy()
    path = tmp_path_factory.mktemp("cli") / "photo.png"
    Image.fromarray(pixels).save(path)
    return path


@pytest.mark.slow
def test_cli_timm_model_with_weights(tmp_path: Path, image: Path) -> None:
    native = randomise(timm.create_model("seresnet18"), seed=9)
    path = tmp_path / "se.pth"
    save_bare(native, path)
    result = run_cli(tmp_path, image, "--model", "timm:seresnet18", "--weights", path, "--input-size", "64", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["checkpoint"] == "timm:seresnet18" and len(document["classes"]) == 1000
    (entry,) = document["results"]
    assert [layer["type"] for layer in entry["layers"]] == ["se"] * 8
    # timm's own evaluation at the size asked for: its crop fraction, centre crop and interpolation kept.
    config = resolve_data_config({"input_size": (3, 64, 64)}, model=native)
    batch = create_transform(**config)(load_image(image))[None]
    assert document["preprocessing"] == {
        "input_size": [64, 64], "channels": 3, "mean": list(config["mean"]), "std": list(config["std"]),
        "resize": "shorter-crop", "crop_pct": config["crop_pct"], "interpolation": config["interpolation"]}  # fmt: skip
    # 120x90 pixels: the shorter side becomes floor(64 / 0.875) = 73, the longer 97; 64 columns of 97 are kept.
    assert entry["view"] == [round(16 / 97, 6), round(4 / 73, 6), round(80 / 97, 6), round(68 / 73, 6)]
    with torch.inference_mode():
        probabilities = torch.softmax(native(batch), dim=1)[0]
    index = int(probabilities.argmax())
    assert entry["prediction"]["index"] == index and entry["prediction"]["label"] == document["classes"][index]
    assert entry["prediction"]["probability"] == pytest.approx(float(probabilities[index]), abs=2e-6)


LOOKALIKES = """
import torch
from torch import nn


class DoubledSE(nn.Module):
    def forward(self, x):
        return x * 2.0 * torch.sigmoid(x.mean(dim=(2, 3), keepdim=True))


class Scale(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.gamma = nn.Parameter(torch.linspace(0.1, 0.9, channels))

    def forward(self, x):
        return x * self.gamma[None, :, None, None]


class MeanGate(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(3.0 * x.mean(dim=(2, 3), keepdim=True))


def build():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), DoubledSE(), Scale(8), MeanGate(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3),
    )
"""


def test_list_layers_names_what_was_found_and_what_was_turned_down(tmp_path: Path) -> None:
    (tmp_path / "lookalikes.py").write_text(LOOKALIKES)
    given = ["--list-layers", "--model", tmp_path / "lookalikes.py:build", "--input-size", "16"]
    text = run_cli(tmp_path, *given)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[:3] == [
        f"{tmp_path / 'lookalikes.py'}:build",
        "1 attention layer found:",
        "  3 (MeanGate): channel gate, found by the probe",
    ]
    assert lines[3] == "2 modules looked like gates but were rejected:"
    assert re.fullmatch(
        r"  1 \(DoubledSE\): scales each channel by factors from 0\.\d+ to 1\.\d+, outside 0 to 1; a gate times "
        r"a constant gain is recorded when the gate is a module \(nn\.Sigmoid\)",
        lines[4],
    )
    assert (
        lines[5] == "  2 (Scale): the same factors per channel for every input: a constant scaling such as LayerScale"
    )
    document = json.loads(run_cli(tmp_path, *given, "--json").stdout)
    assert [entry["name"] for entry in document["discovery"]["found"]] == ["3"]
    assert [entry["name"] for entry in document["discovery"]["rejected"]] == ["1", "2"]
    # An analysis carries the same list in its document.
    image = tmp_path / "picture.png"
    Image.new("RGB", (20, 16), (200, 40, 90)).save(image)
    analysed = json.loads(run_cli(tmp_path, image, *given[1:], "--json").stdout)
    assert analysed["discovery"] == document["discovery"]


@pytest.mark.slow
def test_cli_reads_the_ema_entry_when_asked_and_says_that_it_exists(tmp_path: Path, image: Path) -> None:
    native = randomise(timm.create_model("seresnet18"), seed=9)
    averaged = randomise(timm.create_model("seresnet18"), seed=11)
    path = tmp_path / "train.pth.tar"
    state = {"state_dict": native.state_dict(), "state_dict_ema": averaged.state_dict(), "arch": "seresnet18"}
    state["state_dict"]["criterion.pos_weight"] = torch.ones(1000)  # a weighted loss saved beside the model
    torch.save(state, path)
    given = [
        image,
        "--model",
        "timm:seresnet18",
        "--weights",
        path,
        "--input-size",
        "64",
        "--resize",
        "squash",
        "--json",
    ]
    batch = preprocess(
        [load_image(image)], (64, 64), 3, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "squash", 1.0, "bicubic"
    )
    for key, model, used in ((None, native, "state_dict"), ("state_dict_ema", averaged, "state_dict_ema")):
        result = run_cli(tmp_path, *given, *(["--weights-key", key] if key else []))
        assert result.returncode == 0, result.stderr
        document = json.loads(result.stdout)
        ignored = ["criterion.pos_weight"] if key is None else []
        ema = ["state_dict_ema"] if key is None else []
        assert document["weights"] == {"file": "train.pth.tar", "entry": used, "ema": ema, "ignored": ignored}
        with torch.inference_mode():
            probabilities = torch.softmax(model(batch), dim=1)[0]
        prediction = document["results"][0]["prediction"]
        assert prediction["probability"] == pytest.approx(float(probabilities[prediction["index"]]), abs=2e-6)
        assert prediction["index"] == int(probabilities.argmax())
    plain = run_cli(tmp_path, *given)
    assert plain.stderr.splitlines() == [
        "note: train.pth.tar: used the weights in 'state_dict'; EMA weights are also in 'state_dict_ema' "
        "(--weights-key state_dict_ema uses them)",
        "note: train.pth.tar: ignored 1 entry outside the model: criterion.pos_weight",
    ]
    assert one_line_error(run_cli(tmp_path, *given, "--weights-key", "nope")) == (
        "error: train.pth.tar has no entry 'nope' (its entries: arch, state_dict, state_dict_ema)"
    )


@pytest.mark.slow
def test_cli_ecanet_release_with_the_checkpoint_alias(tmp_path: Path, image: Path) -> None:
    from tests.test_ecanet import save_official

    native = randomise(ecanet.ARCHITECTURES["eca_resnet18"](num_classes=4), seed=10)
    path = tmp_path / "model_best.pth.tar"
    save_official(native, "eca_resnet18", path)
    classes = tmp_path / "classes.txt"
    classes.write_text("cat\ndog\nfox\nowl\n")
    args = ["--checkpoint", "ecanet:eca_resnet18", "--weights", path, "--classes", classes, "--input-size", "64"]
    result = run_cli(tmp_path, image, *args, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["checkpoint"] == "ecanet:eca_resnet18" and document["classes"] == ["cat", "dog", "fox", "owl"]
    assert document["results"][0]["prediction"]["label"] in document["classes"]
    layers = document["results"][0]["layers"]
    assert [(layer["type"], layer["kernel_size"]) for layer in layers] == [("eca", 3)] * 8  # the release's k_size


@pytest.mark.slow
def test_cli_factory_file(tmp_path: Path, image: Path) -> None:
    factory = tmp_path / "my_nets.py"
    factory.write_text(FACTORY)
    native = randomise(timm.create_model("resnet18", block_args={"attn_layer": "cbam"}, num_classes=5), seed=11)
    path = tmp_path / "cbam.safetensors"
    save_safetensors(native, path)
    args = ["--model", f"{factory}:build", "--weights", path, "--input-size", "48", "--mean", "0.5", "--std", "0.25"]
    result = run_cli(tmp_path, image, *args, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["classes"] == [f"class {i}" for i in range(5)]
    types = [layer["type"] for layer in document["results"][0]["layers"]]
    assert types == ["cbam_channel", "spatial"] * 8


@pytest.mark.slow
def test_cli_bad_models_exit_2_with_one_line(tmp_path: Path, image: Path) -> None:
    resnet = tmp_path / "resnet18.pth"
    save_bare(torchvision.models.resnet18(weights=None), resnet)
    cases = [
        (
            ["--model", "timm:ecaresnet26t"],
            "error: could not download timm:ecaresnet26t's pretrained weights (offline?)",
        ),
        (["--model", "timm:seresnet1"], "error: unknown timm model 'seresnet1'; close matches: seresnet18"),
        (
            ["--model", "ecanet:eca_resnet18", "--weights", resnet],
            "error: resnet18.pth is a state dict for another architecture than ecanet:eca_resnet18: "
            "layer1.0.eca.conv.weight is missing from the file",
        ),
    ]
    for args, expected in cases:
        line = one_line_error(run_cli(tmp_path, image, *args))
        assert line.startswith(expected), line


SMALL_FAMILIES: list[tuple[str, Callable[[], nn.Module]]] = [
    ("timm:seresnet18", lambda: timm.create_model("seresnet18")),
    ("torchvision:mobilenet_v3_small", lambda: torchvision.models.mobilenet_v3_small(weights=None)),
    ("ecanet:eca_resnet18", lambda: ecanet.ARCHITECTURES["eca_resnet18"]()),
    ("factory", lambda: timm.create_model("resnet18", block_args={"attn_layer": "cbam"}, num_classes=5)),
]


@pytest.mark.parametrize(("spec", "build"), SMALL_FAMILIES, ids=[case[0] for case in SMALL_FAMILIES])
def test_a_file_with_one_tensor_of_another_shape_is_refused_by_name(
    tmp_path: Path, spec: str, build: Callable[[], nn.Module]
) -> None:
    if spec == "factory":
        factory = tmp_path / "my_nets.py"
        factory.write_text(FACTORY)
        spec = f"{factory}:build"
    state = build().state_dict()
    # A convolution in the middle of the network, one output channel short: every name still matches.
    convolutions = [key for key, value in state.items() if value.ndim == 4 and value.shape[0] > 1]
    key = convolutions[len(convolutions) // 2]
    expected = list(state[key].shape)
    state[key] = state[key][:-1].clone()
    path = tmp_path / "one_off.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as error:
        load_model(spec, weights=path, allow_code=True, preprocessing_overrides={"input_size": 64})
    shorter = [expected[0] - 1, *expected[1:]]
    assert str(error.value) == (
        f"one_off.pth does not fit {spec}: {key} is {shorter} in the file but {expected} in the model"
    )
