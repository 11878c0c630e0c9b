"""The debugging views through their real interfaces: the CLI's ``--ablate`` and the app's API.

Every number the CLI or the server reports is checked against a computation
done here independently: a deep copy of the model with the layer replaced by
``nn.Identity``, ``grad_cam`` on the same input, the two /analyze documents.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from attention.images import load_image, preprocess
from models.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "assets" / "examples" / "shapes_star_11.png"
TOLERANCE = 2e-6  # both sides rounded to 6 digits


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "attention", "analyze", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def model_input(loaded: Any, path: Path) -> torch.Tensor:
    prep = loaded.preprocessing
    return preprocess([load_image(path)], prep.input_size, prep.channels, prep.mean, prep.std)


def without(model: nn.Module, name: str) -> nn.Module:
    """A deep copy of ``model`` whose module ``name`` is replaced by an identity, set on its parent."""
    twin = copy.deepcopy(model)
    parent_name, _, child = name.rpartition(".")
    setattr(twin.get_submodule(parent_name), child, nn.Identity())
    return twin


def check_identity_ablations(entries: list[dict[str, Any]], loaded: Any, batch: torch.Tensor) -> None:
    """Each entry's prediction and delta against the model with that layer really replaced."""
    with torch.inference_mode():
        original = torch.softmax(loaded.model(batch).float(), 1)[0]
    base = int(original.argmax())
    names = [name for name, module in loaded.model.named_modules() if name in {e["layer"] for e in entries}]
    assert [entry["layer"] for entry in entries] == names and len(names) == 8
    moved = 0
    for entry in entries:
        assert entry["mode"] == "identity" and entry["type"] in ("eca", "spatial")
        with torch.inference_mode():
            expected = torch.softmax(without(loaded.model, entry["layer"])(batch).float(), 1)[0]
        best = int(expected.argmax())
        assert entry["prediction"]["index"] == best and entry["prediction"]["label"] == loaded.classes[best]
        assert abs(entry["prediction"]["probability"] - float(expected[best])) <= TOLERANCE
        delta = float(expected[base] - original[base])
        assert abs(entry["delta"] - delta) <= TOLERANCE, (entry["layer"], entry["delta"], delta)
        assert [t["label"] for t in entry["top"]][0] == loaded.classes[best] and len(entry["top"]) == 5
        moved += abs(delta) > 1e-4
    assert moved > 0  # some layer changes the answer, so the comparison is not of zeros


# --------------------------------------------------------------------------- CLI


def test_cli_ablate_matches_the_model_with_each_layer_replaced() -> None:
    done = run_cli(EXAMPLE, "--checkpoint", "shapes", "--json", "--ablate", "identity")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)["results"][0]
    loaded = load_checkpoint("shapes")
    check_identity_ablations(result["ablations"], loaded, model_input(loaded, EXAMPLE))
    # Without --ablate the document keeps its schema.
    plain = run_cli(EXAMPLE, "--checkpoint", "shapes", "--json")
    assert "ablations" not in json.loads(plain.stdout)["results"][0]


def test_cli_refuses_an_unknown_mode_in_one_line() -> None:
    done = run_cli(EXAMPLE, "--json", "--ablate", "zero")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: argument --ablate: invalid choice: 'zero'")
    assert len(done.stderr.splitlines()) == 1
