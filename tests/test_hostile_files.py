"""Files that declare more than they hold are refused in one line, cheaply, by the library and the command line."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from attention.errors import CheckpointError, InputError
from models.bounds import MAX_CLASSES, MAX_ECA_KERNEL
from models.specs import load_model
from models.weights import MAX_SAFETENSORS_HEADER_BYTES, MAX_TENSORS, read_weights
from tests.hostile_files import HOSTILE_FILES, HostileFile, safetensors_header_bomb, write_hostile_files

ROOT = Path(__file__).resolve().parent.parent
IMAGE = ROOT / "assets" / "examples" / "shapes_star_11.png"
GROWTH_LIMIT_BYTES = 200 << 20
TIME_LIMIT_S = 5.0

# Runs the CLI in this process after its heavy imports, and reports its exit code, time and peak memory growth.
MEASURE_CLI = """
import json, sys, time
import timm, torchvision  # the CLI imports these lazily for any library model: not the file's cost
from cli import main
from tests.hostile_files import reset_peak, status_bytes
reset_peak("self")
before = status_bytes("self", "VmRSS")
start = time.perf_counter()
code = main(sys.argv[1:])
seconds = time.perf_counter() - start
print(json.dumps({"code": code, "seconds": seconds, "growth": status_bytes("self", "VmHWM") - before}))
"""


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, HostileFile]]:
    return write_hostile_files(tmp_path_factory.mktemp("hostile"))


def _load(path: Path, case: HostileFile) -> None:
    if case.spec is None:
        load_model(str(path))
    else:
        load_model(case.spec, path)


@pytest.mark.parametrize("name", sorted(HOSTILE_FILES))
def test_a_file_that_declares_more_than_it_holds_is_refused_in_one_line(
    hostile: dict[str, tuple[Path, HostileFile]], name: str
) -> None:
    path, case = hostile[name]
    with pytest.raises(InputError) as caught:
        _load(path, case)
    message = str(caught.value)
    assert "\n" not in message and path.name in message and case.refusal in message, message


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HOSTILE_FILES))
def test_the_command_line_refuses_each_hostile_file_within_200_mb_and_5_s(
    hostile: dict[str, tuple[Path, HostileFile]], name: str
) -> None:
    path, case = hostile[name]
    model = ["--model", case.spec, "--weights", str(path)] if case.spec else ["--model", str(path)]
    result = subprocess.run(
        [sys.executable, "-c", MEASURE_CLI, "analyze", str(IMAGE), *model, "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    error_lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert measured["code"] == 2 and len(error_lines) == 1, (measured, result.stderr)
    assert case.refusal in error_lines[0], error_lines
    assert measured["growth"] < GROWTH_LIMIT_BYTES, measured
    assert measured["seconds"] < TIME_LIMIT_S, measured


def _seresnet18_weights(num_classes: int) -> dict[str, torch.Tensor]:
    import timm

    torch.manual_seed(0)
    return timm.create_model("seresnet18", num_classes=num_classes).state_dict()


def test_a_dense_classifier_over_the_class_limit_is_refused_before_the_network_is_built(tmp_path: Path) -> None:
    state = _seresnet18_weights(10)
    state["fc.weight"] = torch.zeros(MAX_CLASSES + 1, 512)
    state["fc.bias"] = torch.zeros(MAX_CLASSES + 1)
    torch.save(state, tmp_path / "many_classes.pth")
    with pytest.raises(CheckpointError, match=rf"its classifier has 10,001 outputs; the limit is {MAX_CLASSES:,}"):
        load_model("timm:seresnet18", tmp_path / "many_classes.pth")


def test_a_dense_eca_kernel_over_the_limit_is_refused_before_the_network_is_built(tmp_path: Path) -> None:
    from models.ecanet import ARCHITECTURES

    state = ARCHITECTURES["eca_resnet18"]().state_dict()
    width = MAX_ECA_KERNEL + 2
    for key in [key for key in state if key.startswith("layer2.") and key.endswith(".eca.conv.weight")]:
        state[key] = torch.zeros(1, 1, width)
    torch.save(state, tmp_path / "wide_kernel.pth")
    with pytest.raises(CheckpointError, match=rf"ECA kernel in stage 2 is {width} wide; the limit is {MAX_ECA_KERNEL}"):
        load_model("ecanet:eca_resnet18", tmp_path / "wide_kernel.pth")


def test_the_parameter_bound_counts_the_head_the_file_builds(tmp_path: Path) -> None:
    """seresnet18 has 11.8 M parameters at its default head; 5,000 classes make it 14 M, counted before the build."""
    state = _seresnet18_weights(5000)
    torch.save(state, tmp_path / "wide_head.pth")
    with pytest.raises(CheckpointError, match=r"makes timm:seresnet18 a network of 14 M parameters; the limit is 12 M"):
        load_model("timm:seresnet18", tmp_path / "wide_head.pth", max_parameters=12_000_000)
    loaded = load_model("timm:seresnet18", tmp_path / "wide_head.pth", max_parameters=15_000_000)
    assert len(loaded.classes) == 5000


def test_a_tensor_of_another_shape_is_refused_before_its_values_are_read(tmp_path: Path) -> None:
    state = _seresnet18_weights(10)
    state["layer1.0.conv1.weight"] = torch.full((64, 64, 3, 1), float("nan"))
    torch.save(state, tmp_path / "reshaped.pth")
    with pytest.raises(CheckpointError, match=r"layer1\.0\.conv1\.weight is \[64, 64, 3, 1\] in the file but"):
        load_model("timm:seresnet18", tmp_path / "reshaped.pth")


def test_a_compressed_weights_archive_is_refused(tmp_path: Path) -> None:
    torch.save({"weight": torch.zeros(64, 64)}, tmp_path / "plain.pth")
    with zipfile.ZipFile(tmp_path / "plain.pth") as source:
        with zipfile.ZipFile(tmp_path / "deflated.pth", "w", zipfile.ZIP_DEFLATED) as target:
            for entry in source.infolist():
                target.writestr(entry.filename, source.read(entry))
    assert read_weights(tmp_path / "plain.pth").state_dict["weight"].shape == (64, 64)
    with pytest.raises(CheckpointError, match=r"is compressed, which torch\.save never does"):
        read_weights(tmp_path / "deflated.pth")


def test_an_archive_declaring_more_than_the_file_holds_is_refused(tmp_path: Path) -> None:
    torch.save({"weight": torch.zeros(64, 64)}, tmp_path / "lying.pth")
    data = bytearray((tmp_path / "lying.pth").read_bytes())
    # The central directory's uncompressed size of the first entry (offset 24 in its record) claims 1 GB.
    record = data.index(b"PK\x01\x02")
    data[record + 24 : record + 28] = (1 << 30).to_bytes(4, "little")
    (tmp_path / "lying.pth").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"declares .* bytes of entries in a .*-byte file"):
        read_weights(tmp_path / "lying.pth")


def test_a_safetensors_header_is_bounded_before_it_is_parsed(tmp_path: Path) -> None:
    huge = tmp_path / "huge_header.safetensors"
    huge.write_bytes((1 << 40).to_bytes(8, "little") + b"{}")
    limit = f"{MAX_SAFETENSORS_HEADER_BYTES:,}"
    with pytest.raises(CheckpointError, match=rf"header is 1,099,511,627,776 bytes; the limit is {limit}"):
        read_weights(huge)
    (tmp_path / "many").mkdir()
    many = safetensors_header_bomb(tmp_path / "many", MAX_TENSORS + 1)
    with pytest.raises(CheckpointError, match=rf"declares more than {MAX_TENSORS:,} tensors"):
        read_weights(many)
    (tmp_path / "few").mkdir()
    few = safetensors_header_bomb(tmp_path / "few", 3)
    assert read_weights(few).state_dict["t2"].shape == (0,)


def test_a_view_of_a_larger_storage_is_refused_and_a_channels_last_tensor_is_not(tmp_path: Path) -> None:
    base = torch.arange(64, dtype=torch.float32)
    torch.save({"weight": base[:8]}, tmp_path / "slice.pth")
    with pytest.raises(CheckpointError, match=r"tensor weight declares shape \[8\] over 256 bytes"):
        read_weights(tmp_path / "slice.pth")
    channels_last = torch.randn(4, 3, 5, 5).contiguous(memory_format=torch.channels_last)
    torch.save({"weight": channels_last}, tmp_path / "channels_last.pth")
    assert torch.equal(read_weights(tmp_path / "channels_last.pth").state_dict["weight"], channels_last)
