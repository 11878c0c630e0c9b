"""The profile at scale: devices, shards under torchrun, saved counts and resuming, each against one plain run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from attention.devices import device_of, resolve_device
from attention.distributed import Shard, World, shard_length, world_from_env
from attention.errors import InputError
from attention.profile import ProfileCounts, load_counts, save_counts
from models.checkpoint import load_checkpoint
from models.datasets import ShapesDataset
from tests.commands import ROOT, one_thread_env, run_attention


def labelled_folder(root: Path, count: int, broken: bool = True) -> Path:
    """``count`` shapes scenes as PNG files in one subfolder per class, and one file that is not an image."""
    classes = load_checkpoint("shapes").classes
    dataset = ShapesDataset("test", length=count)
    for index in range(count):
        array, _mask, label = dataset.sample(index)
        folder = root / classes[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(folder / f"{index:04d}.png")
    if broken:
        (root / classes[0] / "broken.png").write_bytes(b"not a png")
    return root


def same_profile(first: dict, second: dict) -> None:
    """Counts equal exactly; activity and class means equal up to float summation order."""
    assert first["images"] == second["images"] and first["accuracy"] == second["accuracy"]
    assert first.get("skipped") == second.get("skipped")
    assert [layer["name"] for layer in first["layers"]] == [layer["name"] for layer in second["layers"]]
    for one, two in zip(first["layers"], second["layers"]):
        assert one["ablated_accuracy"] == two["ablated_accuracy"]
        assert one["activity"] == pytest.approx(two["activity"], abs=2e-6)
        if "class_mean" in one:
            np.testing.assert_allclose(one["class_mean"], two["class_mean"], atol=2e-6)


# Devices


def test_device_names_resolve_or_are_refused_in_one_line() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    expected = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else None
    assert resolve_device("auto") == (expected or resolve_device("auto"))
    if not torch.cuda.is_available():
        assert resolve_device("auto").type in ("cpu", "mps")
        with pytest.raises(InputError, match="sees no CUDA GPU") as refused:
            resolve_device("cuda:0")
        assert "\n" not in str(refused.value)
    for wrong in ("tpu", "cuda:x", "cuda:1:2", "gpu"):
        with pytest.raises(InputError, match="choose auto, cpu, cuda, cuda:N or mps"):
            resolve_device(wrong)


def test_an_unknown_device_is_refused_before_the_model_loads() -> None:
    done = run_attention("analyze", "assets/examples/shapes_star_11.png", "--device", "tpu")
    assert done.returncode == 2 and done.stderr == "error: --device 'tpu': choose auto, cpu, cuda, cuda:N or mps\n"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; PyTorch sees none on this machine")
def test_analyze_on_cuda_matches_the_cpu(tmp_path: Path) -> None:
    image = "assets/examples/shapes_star_11.png"
    on_cpu = run_attention("analyze", image, "--device", "cpu", "--json", "--ablate", "identity")
    on_gpu = run_attention("analyze", image, "--device", "cuda", "--json", "--ablate", "identity")
    assert on_cpu.returncode == 0 and on_gpu.returncode == 0, on_gpu.stderr
    cpu, gpu = json.loads(on_cpu.stdout)["results"][0], json.loads(on_gpu.stdout)["results"][0]
    assert cpu["prediction"]["label"] == gpu["prediction"]["label"]
    for one, two in zip(cpu["layers"], gpu["layers"]):
        gate = "weights" if "weights" in one else "mask"
        np.testing.assert_allclose(one[gate], two[gate], atol=1e-3)
    folder = labelled_folder(tmp_path / "data", 24)
    profiled = run_attention("profile", "--data", str(folder), "--device", "cuda", "--json")
    assert profiled.returncode == 0, profiled.stderr
    assert json.loads(profiled.stdout)["images"] == 24
    explained = run_attention("explain", image, "--device", "cuda", "--layer", "all", "--out", str(tmp_path / "x"))
    assert explained.returncode == 0 and "not shown" not in explained.stdout, explained.stdout


def test_an_analyzer_runs_a_model_where_its_weights_are() -> None:
    from attention.analysis import Analyzer

    loaded = load_checkpoint("shapes")
    image = Image.open(ROOT / "assets" / "examples" / "shapes_star_11.png").convert("RGB")
    with Analyzer(loaded.model, loaded.classes, loaded.preprocessing) as analyzer:
        (analysis,) = analyzer.analyze([image], ablate="identity")
    assert device_of(loaded.model) == torch.device("cpu")
    assert all(layer.gate.dtype == np.float32 for layer in analysis.layers) and analysis.ablations


# Shards and counts


def test_shards_cover_every_image_once_without_padding() -> None:
    for length in (0, 1, 7, 10):
        for size in (1, 2, 3):
            shards = [list(Shard(length, World(rank, size))) for rank in range(size)]
            assert sorted(index for shard in shards for index in shard) == list(range(length))
            assert [shard_length(length, World(rank, size)) for rank in range(size)] == [len(s) for s in shards]
    assert list(Shard(10, World(1, 3), skip=2)) == [7]


def test_torchrun_environment_is_read_and_checked() -> None:
    assert world_from_env({}) == World(0, 1, 0)
    assert world_from_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"}) == World(3, 4, 1)
    for wrong in ({"WORLD_SIZE": "2", "RANK": "2"}, {"WORLD_SIZE": "two"}, {"WORLD_SIZE": "0"}):
        with pytest.raises(InputError):
            world_from_env(wrong)


def _counts(seed: int) -> ProfileCounts:
    rng = np.random.default_rng(seed)
    counts = ProfileCounts(["a", "b"], ["x", "y", "z"], ["identity", "mean"])
    counts.seen, counts.correct = 10, 7
    counts.class_count = np.array([3, 3, 4])
    counts.kinds = {"a": ("eca", "channel"), "b": ("spatial", "spatial")}
    counts.ablated_correct = {key: int(rng.integers(0, 10)) for key in counts.ablated_correct}
    counts.activity_sum = {"a": float(rng.random()), "b": float(rng.random())}
    counts.activity_count = {"a": 10, "b": 10}
    counts.class_sum = {"a": rng.random((3, 5))}
    counts.skipped = [f"bad-{seed}.png: damaged"]
    return counts


def test_saved_counts_come_back_exactly_and_merge_like_one_run(tmp_path: Path) -> None:
    first, second = _counts(1), _counts(2)
    save_counts(tmp_path / "c.npz", first, {"model": "m"})
    back, fingerprint = load_counts(tmp_path / "c.npz")
    assert fingerprint == {"model": "m"}
    assert json.dumps(back.state(), default=np.ndarray.tolist) == json.dumps(first.state(), default=np.ndarray.tolist)
    back.merge(second)
    assert back.seen == 20 and back.correct == 14 and back.skipped == ["bad-1.png: damaged", "bad-2.png: damaged"]
    np.testing.assert_array_equal(back.class_sum["a"], first.class_sum["a"] + second.class_sum["a"])
    profile = back.result("m", "d")
    assert profile.images == 20 and profile.layers[0].activity == pytest.approx(
        (first.activity_sum["a"] + second.activity_sum["a"]) / 20
    )


def test_saved_counts_whose_layers_disagree_are_refused() -> None:
    for broken in ("activity_sum", "ablated_correct"):
        state = _counts(1).state()
        if broken == "activity_sum":
            state["activity_sum"] = {"a": 0.5}  # one layer's sums lost
        else:
            state["ablated_correct"] = [*state["ablated_correct"], ["ghost", "identity", 3]]  # a layer it lacks
        with pytest.raises(ValueError, match="its layers and modes do not agree"):
            ProfileCounts.from_state(state)


def test_a_counts_file_that_declares_more_than_it_holds_is_refused_before_loading(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "c.npz"
    save_counts(path, _counts(1), {})
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    header = members["class_sum_0.npy"]
    members["class_sum_0.npy"] = header.replace(b"(3, 5)", b"(300000, 500000)".ljust(6))
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ValueError, match="declares more than it holds"):
        load_counts(path)
    path.write_bytes(b"PK\x03\x04 not a zip at all")
    with pytest.raises(ValueError, match="not a profile's saved counts"):
        load_counts(path)


# The command, as a user runs it


@pytest.mark.slow
def test_two_processes_under_torchrun_give_the_profile_of_one(tmp_path: Path) -> None:
    folder = labelled_folder(tmp_path / "data", 30)
    single = run_attention("profile", "--data", str(folder), "--batch-size", "4", "--json", env=one_thread_env())
    assert single.returncode == 0, single.stderr
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command = [*torchrun, "-m", "attention", "profile", "--data", str(folder), "--batch-size", "4", "--json"]
    out = tmp_path / "out"
    sharded = subprocess.run(
        [*command, "--out", str(out)], cwd=ROOT, env=one_thread_env(), capture_output=True, text=True, timeout=600
    )
    assert sharded.returncode == 0, sharded.stderr
    one, two = json.loads(single.stdout), json.loads(sharded.stdout)  # rank 0 alone prints
    broken = folder / "circle" / "broken.png"
    assert one["images"] == 30 and one["skipped"] == [f"{broken}: not an image Pillow can read"]
    same_profile(one, two)
    assert (out / "profile.md").is_file() and sharded.stderr.count("skipped") == 1


@pytest.mark.slow
def test_a_killed_profile_resumes_where_it_stopped_and_matches_an_unbroken_run(tmp_path: Path) -> None:
    folder = labelled_folder(tmp_path / "data", 240, broken=False)
    out = tmp_path / "out"
    args = ["profile", "--data", str(folder), "--batch-size", "4", "--checkpoint-every", "2", "--out", str(out)]
    partial = out / ".profile-partial-0-of-1.npz"
    started = subprocess.Popen(
        [sys.executable, "-m", "attention", *args, "--json"],
        cwd=ROOT,
        env=one_thread_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 300
    while not partial.is_file() and started.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    started.send_signal(signal.SIGKILL)  # a crash or a lost machine: nothing after this runs
    started.communicate(timeout=60)
    assert started.returncode == -signal.SIGKILL, "the profile ended before it could be interrupted"
    saved, _ = load_counts(partial)
    assert 8 <= saved.done < 240 and saved.done % 8 == 0
    resumed = run_attention(*args, "--json", env=one_thread_env(), timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming: {saved.done} images already profiled" in resumed.stderr
    assert not partial.exists()  # a finished profile leaves no partial counts behind
    unbroken = run_attention("profile", "--data", str(folder), "--batch-size", "4", "--json", env=one_thread_env())
    assert unbroken.returncode == 0, unbroken.stderr
    same_profile(json.loads(resumed.stdout), json.loads(unbroken.stdout))


@pytest.mark.slow
def test_a_resumed_profile_refuses_other_arguments(tmp_path: Path) -> None:
    folder = labelled_folder(tmp_path / "data", 12, broken=False)
    out = tmp_path / "out"
    out.mkdir()
    loaded = load_checkpoint("shapes")
    counts = ProfileCounts(["x"], loaded.classes, ["identity", "mean"])
    save_counts(out / ".profile-partial-0-of-1.npz", counts, {"model": "shapes", "data": "another folder"})
    args = ["profile", "--data", str(folder), "--checkpoint-every", "1", "--out", str(out)]
    refused = run_attention(*args, env=one_thread_env())
    assert refused.returncode == 2 and len(refused.stderr.splitlines()) == 1
    assert "holds a profile with another weights; rerun with the arguments it was started with" in refused.stderr
    (out / ".profile-partial-0-of-1.npz").write_bytes(b"junk")
    refused = run_attention(*args, env=one_thread_env())
    assert refused.returncode == 2 and "delete it to start the profile over" in refused.stderr
    no_out = run_attention("profile", "--data", str(folder), "--checkpoint-every", "1")
    assert no_out.returncode == 2 and "give --out too" in no_out.stderr


@pytest.mark.slow
def test_the_app_refuses_a_device_it_cannot_use_in_one_line(tmp_path: Path) -> None:
    from tests.serving import free_port
    from tests.test_app_models import launch

    wanted = ["tpu"] + ([] if torch.cuda.is_available() else ["cuda"])
    for device in wanted:
        process = launch(["--device", device], free_port(), tmp_path)
        assert process.wait(timeout=180) == 2
        lines = (tmp_path / "app.log").read_text(errors="replace").strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: --device ") and device in lines[0], lines


@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; PyTorch sees none on this machine")
def test_the_app_serves_from_a_gpu(tmp_path: Path) -> None:
    from gradio_client import Client

    from tests.test_app_models import api_call, photo, served

    with served(["--device", "cuda"], tmp_path) as (url, _process):
        image = photo(tmp_path / "photo.png")
        _status, top, document, _file = api_call(Client(url, verbose=False), image, "shapes")
        assert document["checkpoint"] == "shapes" and top["label"] == document["results"][0]["prediction"]["label"]
    assert "loaded on cuda" in (tmp_path / "app.log").read_text(errors="replace")
