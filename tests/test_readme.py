"""The README's examples run word for word, as a new user would type them, on generated data in temp folders.

Shell lines run in ``bash`` from a temp folder that holds what the README assumes (``assets/``, ``photo.jpg``,
the weights files, ``my_images/``), with ``.venv/bin/python`` a one-line wrapper around this interpreter;
Python blocks run in a fresh interpreter. Every code block is run, or named in ``NOT_RUN`` with the reason.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT
from tests.test_model_families import hub_cache

pytestmark = pytest.mark.slow

FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```$", re.MULTILINE | re.DOTALL)
NOT_RUN = {
    "Quick start": "it installs PyTorch and Chromium into .venv; CI runs scripts/run-tests.sh itself",
}


def readme_blocks() -> list[tuple[str, str, str]]:
    """(section, language, code) of every fenced block, code dedented; a block without a language is output."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        section = re.findall(r"^## (.+)$", text[: match.start()], re.MULTILINE)[-1]
        blocks.append((section, match.group(2), textwrap.dedent(match.group(3))))
    return blocks


def blocks_of(section: str, language: str) -> list[str]:
    found = [code for where, lang, code in readme_blocks() if where == section and lang == language]
    assert found, f"the README has no {language} block under ## {section}"
    return found


def shell_lines(code: str) -> list[str]:
    """One command per entry: continuation lines joined, comment lines dropped."""
    joined = code.replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def workspace(tmp_path: Path) -> Path:
    """A folder laid out as the README's reader has it: ``assets/`` and ``.venv/bin/python``."""
    (tmp_path / "assets").symlink_to(ROOT / "assets")
    (tmp_path / "benchmarks").symlink_to(ROOT / "benchmarks")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    return tmp_path


def environment() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONPATH=path, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")


def run_shell(
    line: str, cwd: Path, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["bash", "-c", line],
        cwd=cwd,
        env={**environment(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"{line}\nexit {result.returncode}\n{result.stderr[-3000:]}"
    return result


def run_python(code: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=environment(), capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{code}\nexit {result.returncode}\n{result.stderr[-3000:]}"
    return result


def photo(path: Path) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (160, 200, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, quality=90)


def test_every_code_block_is_run_or_says_why_not() -> None:
    tested = {
        "Command line",
        "Large datasets",
        "Your own network",
        "From a client",
        "As a library",
        "Models",
        "Benchmarks",
        "Self-attention (vision transformers)",
    }
    for section, language, _code in readme_blocks():
        if language:
            assert section in tested or section in NOT_RUN, f"## {section} has a {language} block no test runs"


def test_the_command_line_examples_run(tmp_path: Path) -> None:
    where = workspace(tmp_path)
    lines = shell_lines(blocks_of("Command line", "bash")[0])
    outputs = [run_shell(line, where).stdout for line in lines]
    assert '"prediction"' in outputs[0] and '"ablations"' in outputs[2]
    assert (where / "out" / "profile" / "profile.md").is_file()
    assert list((where / "out").glob("shapes_star_11_*_explain.png"))


def test_the_shipped_vit_examples_run(tmp_path: Path) -> None:
    where = workspace(tmp_path)
    analyze, evaluate = shell_lines(blocks_of("Self-attention (vision transformers)", "bash")[0])
    assert "shapes-vit_star_15.png: star" in run_shell(analyze, where).stdout
    assert (where / "vit_out" / "shapes-vit_star_15_rollout.png").is_file()
    report = run_shell(evaluate, where).stdout
    assert "on shapes-heldout/test: 1000 images" in report and "rollout from the class token" in report


def test_the_large_dataset_examples_run_and_agree(tmp_path: Path) -> None:
    """The block as written: one process with saved counts, two under torchrun, and a folder report."""
    where = workspace(tmp_path)
    torchrun = where / ".venv" / "bin" / "torchrun"
    torchrun.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m torch.distributed.run "$@"\n')
    torchrun.chmod(0o755)
    lines = shell_lines(blocks_of("Large datasets", "bash")[0])
    assert len(lines) == 3 and lines[1].startswith(".venv/bin/torchrun --standalone --nproc_per_node 2")
    one, two, _ = (run_shell(line, where, env={"OMP_NUM_THREADS": "1"}).stdout for line in lines)
    first, second = json.loads(one), json.loads(two)
    assert first["images"] == second["images"] == 400 and first["accuracy"] == second["accuracy"]
    assert [layer["ablated_accuracy"] for layer in first["layers"]] == [
        layer["ablated_accuracy"] for layer in second["layers"]
    ]
    assert not list((where / "out" / "profile-large").glob(".profile-partial-*"))  # finished: nothing left over
    page = where / "out" / "report" / "report.html"
    images = [path for path in (ROOT / "assets" / "examples").iterdir() if path.suffix in (".png", ".jpg")]
    assert page.read_text(encoding="utf-8").count("<tr>") == 1 + len(images)  # the header and a row per image


def test_the_own_network_examples_run(tmp_path: Path) -> None:
    """Each architecture with a weights file of its own shape (random weights: the README's files are downloads)."""
    import timm
    import torch
    import torchvision
    from safetensors.torch import save_file

    from models import ecanet

    where = workspace(tmp_path)
    photo(where / "photo.jpg")
    save_file(timm.create_model("ecaresnet50d", pretrained=False).state_dict(), where / "ecaresnet50d.safetensors")
    save_file(timm.create_model("vit_tiny_patch16_224", pretrained=False).state_dict(), where / "vit_tiny.safetensors")
    torch.save(torchvision.models.mobilenet_v3_small().state_dict(), where / "mnv3.pth")
    official = ecanet.ARCHITECTURES["eca_resnet50"]().state_dict()
    torch.save(
        {"state_dict": {f"module.{key}": value for key, value in official.items()}},
        where / "eca_resnet50_k3557.pth.tar",
    )
    (where / "my_net.py").write_text(
        "from torch import nn\n\nfrom attention import ECA\n\n\n"
        "def build():\n"
        "    return nn.Sequential(nn.Conv2d(3, 8, 3), ECA(8), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))\n"
    )
    sys.path.insert(0, str(where))
    try:
        import my_net

        torch.save(my_net.build().state_dict(), where / "best.pt")
    finally:
        sys.path.remove(str(where))
        sys.modules.pop("my_net", None)
    (where / "classes.txt").write_text("circle\nsquare\n")
    hub = hub_cache(where / "hub", "timm/seresnet50.a1_in1k", [f"class {index}" for index in range(5)], "seresnet50")
    lines = shell_lines(blocks_of("Your own network", "bash")[0])
    assert len(lines) == 6
    for line in lines:
        assert run_shell(line, where, env={"HF_HOME": hub["HF_HOME"]}).stdout.startswith("photo.jpg: ")
    run_python(blocks_of("Your own network", "python")[0], where)


def test_the_client_example_runs_against_a_served_app(server_url: str) -> None:
    (code,) = blocks_of("From a client", "python")
    assert "http://127.0.0.1:7860/" in code
    printed = run_python(code.replace("http://127.0.0.1:7860/", server_url), ROOT).stdout.splitlines()
    comment = next(line for line in code.splitlines() if line.startswith("print(")).split("  # ", 1)[1]
    shown = ast.literal_eval(comment)  # what the README says the last line prints
    got = ast.literal_eval(printed[-1])  # after the client's own line
    assert shown["label"] == got["label"] == "star" and shown["index"] == got["index"] == 4
    assert abs(shown["probability"] - got["probability"]) < 0.01 and got["probability"] > 0.9


def test_the_library_examples_run_one_after_the_other() -> None:
    first, attached = blocks_of("As a library", "python")
    printed = run_python(first + "\n" + attached, ROOT).stdout.splitlines()
    assert printed and all(line.split()[1] in ("eca", "spatial") for line in printed)


def test_train_evaluate_and_analyze_my_own_images(tmp_path: Path) -> None:
    """The README's three lines: train on a folder, evaluate the checkpoint with no more options, analyze a photo."""
    where = workspace(tmp_path)
    rng = np.random.default_rng(0)
    for name, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        (where / "my_images" / name).mkdir(parents=True)
        for index in range(15):
            pixels = np.clip(np.array(colour) + rng.integers(-40, 40, (40, 40, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(where / "my_images" / name / f"{index}.png")
    photo(where / "photo.jpg")
    train, evaluate, analyze = shell_lines(blocks_of("Models", "bash")[0])
    run_shell(train, where)
    assert "accuracy" in run_shell(evaluate, where).stdout
    assert run_shell(analyze, where).stdout.startswith("photo.jpg: ")


def test_every_benchmark_the_readme_names_starts(tmp_path: Path) -> None:
    """``--help`` only: each benchmark times for minutes by design, so this checks the lines, not the figures."""
    where = workspace(tmp_path)
    lines = shell_lines(blocks_of("Benchmarks", "bash")[0])
    named = sorted(line.split()[1] for line in lines)
    assert named == sorted(f"benchmarks/{path.name}" for path in (ROOT / "benchmarks").glob("bench_*.py"))
    for line in lines:
        command = line.split("#")[0].strip()
        assert "usage:" in run_shell(f"{command} --help", where).stdout
