"""Checkpoint loading: hostile or broken files are refused with one line that says what is wrong, cheaply.

A checkpoint comes from outside (the CLI's --checkpoint, the app's upload), so
these tests play the attacker: oversized configs, zip bombs, NaN weights, wrong
types, a preprocessing that does not fit the network. Memory is measured in
subprocesses so the numbers are the loader's own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from attention.errors import CheckpointError
from models.bounds import MAX_ACTIVATIONS, MAX_MULTIPLY_ADDS, MAX_PARAMETERS, check_config
from models.checkpoint import (
    MEMORY_BUDGET_BYTES,
    SHIPPED,
    checkpoint_dict,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from models.networks import build_model, resolved_config
from tests.badfiles import (
    _mutations,
    write_bad_checkpoints,
    write_invalid_checkpoints,
    write_legacy_checkpoint,
    write_plain_checkpoint,
    write_zip_bomb,
)

ROOT = Path(__file__).resolve().parent.parent

# Peak RSS of a fresh process, minus its RSS just before the measured step (Linux /proc).
MEASURE = """
import json, sys
import numpy as np
import torch
from PIL import Image
from attention.analysis import Analyzer
from attention.errors import CheckpointError
from models.checkpoint import load_checkpoint

torch.set_num_threads(1)

def status(field):
    with open("/proc/self/status") as file:
        for line in file:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024

image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (512, 512, 3), dtype=np.uint8))
before = status("VmRSS")
outcome = "loaded"
try:
    loaded = load_checkpoint(sys.argv[1])
    with Analyzer(loaded.model, loaded.classes, loaded.preprocessing) as analyzer:
        analysis = analyzer.analyze([image])[0]
    outcome = f"analysed {len(analysis.layers)} layers"
except CheckpointError as error:
    outcome = f"refused: {error}"
print(json.dumps({"extra": status("VmHWM") - before, "outcome": outcome}))
"""


def measure(path: Path) -> dict:
    """Load ``path`` and analyse one image in a fresh process; its extra peak RSS and what happened."""
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def invalid(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    return write_invalid_checkpoints(tmp_path_factory.mktemp("invalid"))


@pytest.mark.parametrize("name", sorted(_mutations()))
def test_invalid_checkpoint_refused_with_its_reason(invalid: dict[str, tuple[Path, str]], name: str) -> None:
    path, wording = invalid[name]
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert "\n" not in message and name in message, message
    assert wording in message, message


def test_directory_and_device_refused_for_what_they_are(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"^checkpoint \S+ is a directory, not a file$"):
        load_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match=r"^checkpoint null is not a regular file$"):
        load_checkpoint("/dev/null")
    with pytest.raises(CheckpointError, match=r"^checkpoint not found: .*missing\.pt \(shipped models: shapes"):
        load_checkpoint(tmp_path / "missing.pt")


@pytest.mark.parametrize(
    ("arch", "config", "size"),
    [
        ("attention_resnet_shapes", {"num_classes": 6, "in_channels": 3, "widths": [24, 48, 96, 192]}, 64),
        (
            "attention_resnet_shapes",
            {"num_classes": 6, "widths": [24, 48, 96, 192], "attention_kwargs": {"spatial": {"norm": True}}},
            64,
        ),
        ("attention_resnet_fashion", {"num_classes": 10, "in_channels": 1}, 28),
        (
            "attention_resnet",
            {"num_classes": 7, "attention": ["cbam", "se", "none"], "attention_kwargs": {"reduction": 8}},
            45,
        ),
        ("attention_resnet18", {"num_classes": 1000}, 224),
        ("attention_resnet34", {"num_classes": 10, "attention": "cbam"}, 100),
        ("attention_resnet50", {"num_classes": 1000}, 224),
    ],
)
def test_cost_estimate_matches_the_built_network(arch: str, config: dict, size: int) -> None:
    """The bounds are only as good as the estimate: its parameter count is exact, its activations the conv outputs'."""
    config = resolved_config(arch, config)
    cost = check_config(arch, config, (size, size))
    model = build_model(arch, **config).eval()
    assert cost.parameters == sum(p.numel() for p in model.parameters())
    written = []
    hooks = [
        module.register_forward_hook(lambda _m, _i, out: written.append(out.numel()))
        for module in model.modules()
        if isinstance(module, torch.nn.Conv2d)
    ]
    with torch.inference_mode():
        model(torch.zeros(1, config.get("in_channels", 3), size, size))
    for hook in hooks:
        hook.remove()
    # The estimate adds the spatial attention's pooled maps and mask, at most 3 values per pixel per block.
    assert sum(written) <= cost.activations <= 1.05 * sum(written)


def test_shipped_models_and_resnet50_pass_the_bounds_with_room() -> None:
    for name in SHIPPED:
        payload = read_checkpoint(SHIPPED[name])
        cost = check_config(payload["arch"], payload["config"], tuple(payload["preprocessing"]["input_size"]))
        assert cost.parameters < MAX_PARAMETERS / 10 and cost.activations < MAX_ACTIVATIONS / 10
    cost = check_config("attention_resnet50", {"num_classes": 1000}, (224, 224))
    assert cost.parameters < MAX_PARAMETERS / 1.9
    assert cost.activations < MAX_ACTIVATIONS / 5
    assert cost.multiply_adds < MAX_MULTIPLY_ADDS / 4.5


@pytest.mark.slow
@pytest.mark.parametrize(
    ("arch", "config", "size"),
    [
        # Parameters and multiply-adds near their limits (44.0 M of 50 M, 18.8 G of 20 G).
        ("attention_resnet50", {"num_classes": 10000}, 480),
        # Activations near theirs (63.2 M of 64 M), in few wide tensors at full resolution.
        ("attention_resnet", {"num_classes": 10, "widths": [16, 32, 64], "depths": [1, 1, 1]}, 848),
    ],
)
def test_largest_allowed_model_analyses_within_the_memory_budget(
    tmp_path: Path, arch: str, config: dict, size: int
) -> None:
    cost = check_config(arch, config, (size, size))
    assert cost.parameters > 0.85 * MAX_PARAMETERS or cost.activations > 0.95 * MAX_ACTIVATIONS
    model = build_model(arch, **config)
    from attention.images import Preprocessing

    preprocessing = Preprocessing((size, size), 3, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    classes = [f"class {index}" for index in range(config["num_classes"])]
    path = tmp_path / "largest.pt"
    save_checkpoint(path, checkpoint_dict(model, arch, config, classes, preprocessing))
    del model
    measured = measure(path)
    assert measured["outcome"].startswith("analysed"), measured
    assert 0 < measured["extra"] < MEMORY_BUDGET_BYTES, measured


def test_a_checkpoint_keeps_its_recorded_resize_and_crop(tmp_path: Path) -> None:
    from attention.images import Preprocessing

    config = resolved_config("attention_resnet_shapes", {"num_classes": 2})
    model = build_model("attention_resnet_shapes", **config)
    cropped = Preprocessing((32, 32), 3, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), "shorter-crop", 0.875, "bicubic")
    path = tmp_path / "cropped.pt"
    save_checkpoint(path, checkpoint_dict(model, "attention_resnet_shapes", config, ["a", "b"], cropped))
    assert load_checkpoint(path).preprocessing == cropped
    # A checkpoint written before resizes were recorded was trained on whole images squashed.
    payload = torch.load(path, weights_only=True)
    for key in ("resize", "crop_pct", "interpolation"):
        del payload["preprocessing"][key]
    torch.save(payload, path)
    older = load_checkpoint(path).preprocessing
    assert (older.resize, older.crop_pct, older.interpolation) == ("squash", 1.0, "bilinear")


@pytest.mark.slow
def test_zip_bomb_refused_from_its_directory(tmp_path: Path) -> None:
    bomb = write_zip_bomb(tmp_path / "bomb.pt")
    assert bomb.stat().st_size < 4 * 1024 * 1024
    with pytest.raises(CheckpointError, match=r"^bomb\.pt would unpack to 1,02\d MB; the limit is 512 MB$"):
        load_checkpoint(bomb)
    measured = measure(bomb)
    assert measured["outcome"].startswith("refused: bomb.pt would unpack"), measured
    assert measured["extra"] < 100 * 1024 * 1024, measured


def test_a_compressed_entry_is_refused_whatever_its_ratio(tmp_path: Path) -> None:
    """A bomb small enough to pass the total size is still refused: torch.save never compresses."""
    import zipfile

    source = tmp_path / "plain.pt"
    torch.save(read_checkpoint(SHIPPED["shapes"]), source)
    squeezed = tmp_path / "squeezed.pt"
    with zipfile.ZipFile(source) as archive, zipfile.ZipFile(squeezed, "w") as target:
        for info in archive.infolist():
            target.writestr(info.filename, archive.read(info), compress_type=zipfile.ZIP_STORED)
        prefix = archive.namelist()[0].split("/")[0]
        target.writestr(f"{prefix}/data/zeros", bytes(8 * 1024 * 1024), compress_type=zipfile.ZIP_DEFLATED)
    with pytest.raises(CheckpointError, match=r"^squeezed\.pt: its entry \S+/data/zeros is compressed, which torch"):
        load_checkpoint(squeezed)


def test_legacy_format_refused(tmp_path: Path) -> None:
    path = write_legacy_checkpoint(tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match=r"^old\.pt is in PyTorch's legacy \(non-zip\) format"):
        load_checkpoint(path)


def test_model_without_attention_loads_in_the_library(tmp_path: Path) -> None:
    """Ablations train with attention "none"; the library loads them, and the CLI refuses to show them."""
    loaded = load_checkpoint(write_plain_checkpoint(tmp_path / "plain.pt"))
    assert loaded.config["attention"] == "none" and loaded.classes == ["a", "b", "c"]


def test_shipped_checkpoints_are_finite() -> None:
    for name in SHIPPED:
        loaded = load_checkpoint(name)
        assert all(torch.isfinite(t).all() for t in loaded.model.state_dict().values() if t.is_floating_point())


def test_bad_checkpoints_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    paths = write_bad_checkpoints(tmp_path / "ckpt", marker)
    expectations = {
        "corrupt.pt": "not a readable PyTorch checkpoint",
        "truncated.pt": "not a readable PyTorch checkpoint",
        "foreign.pt": "not an Attention Lens checkpoint",
        "state_dict_only.pt": "not an Attention Lens checkpoint",
        "malicious.pt": "refused to load",
    }
    for name, phrase in expectations.items():
        with pytest.raises(CheckpointError) as caught:
            load_checkpoint(paths[name])
        assert phrase in str(caught.value) and "\n" not in str(caught.value), name
    assert not marker.exists(), "the malicious checkpoint ran code"
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_mismatched_state_dict_refused(tmp_path: Path) -> None:
    payload = read_checkpoint(SHIPPED["shapes"])
    payload["state_dict"] = {k: v for k, v in payload["state_dict"].items() if "fc" not in k}
    path = tmp_path / "mismatch.pt"
    torch.save(payload, path)
    with pytest.raises(
        CheckpointError, match=r"does not match .*: fc\.weight is missing from the file \(1 more tensor differs\)"
    ):
        load_checkpoint(path)
    payload = read_checkpoint(SHIPPED["shapes"])
    payload["arch"] = "os.system"
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="unknown architecture"):
        load_checkpoint(path)


def test_checkpoint_from_other_widths_names_the_first_tensor_that_differs(tmp_path: Path) -> None:
    """A checkpoint whose config lacks widths falls back to the registry's: the line must say which tensor breaks."""
    narrow = build_model("attention_resnet_fashion", num_classes=10, in_channels=1, widths=[32, 64, 128])
    payload = read_checkpoint(SHIPPED["fashion"])
    payload["config"] = {"num_classes": 10, "in_channels": 1}
    payload["state_dict"] = narrow.state_dict()
    path = tmp_path / "fashion_old.pt"
    torch.save(payload, path)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    message = str(caught.value)
    assert "\n" not in message
    assert "stem.0.weight is [32, 1, 3, 3] in the file but [64, 1, 3, 3] in the model" in message
    assert "more tensors differ" in message


def test_training_config_writes_out_the_registry_defaults() -> None:
    config = resolved_config("attention_resnet_fashion", {"num_classes": 10, "in_channels": 1})
    assert config["widths"] == [64, 128, 256] and config["depths"] == [1, 1, 1] and config["stem_stride"] == 1
    assert resolved_config("attention_resnet_shapes", {"widths": [8, 16, 32, 64]})["widths"] == [8, 16, 32, 64]
    built = build_model("attention_resnet_fashion", **config)
    assert sum(p.numel() for p in built.parameters()) == sum(
        p.numel() for p in build_model("attention_resnet_fashion", num_classes=10, in_channels=1).parameters()
    )


def test_shipped_default_loads_in_eval_mode() -> None:
    loaded = load_checkpoint(None)
    assert loaded.name == "shapes" and not loaded.model.training
    assert loaded.classes[:6] == ["circle", "ring", "square", "triangle", "star", "cross"]
    assert loaded.preprocessing.channels == 3
