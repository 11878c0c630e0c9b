"""The debugging views through their real interfaces: the CLI's ``--ablate`` and the app's API.

Every number the CLI or the server reports is checked against a computation
done here independently: a deep copy of the model with the layer replaced by
``nn.Identity``, ``grad_cam`` on the same input, the two /analyze documents.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from attention.compare import spearman
from attention.images import load_image, preprocess
from models.checkpoint import load_checkpoint
from models.evaluation.gradcam import grad_cam
from tests.checkpoints import changed_checkpoint
from tests.commands import one_thread_env, run_attention
from tests.serving import concurrent_mismatches

pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "assets" / "examples" / "shapes_star_11.png"
OTHER = ROOT / "assets" / "examples" / "shapes_circle_2.png"
TOLERANCE = 2e-6  # both sides rounded to 6 digits


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return run_attention("analyze", *args, env=one_thread_env())


def model_input(loaded: Any, path: Path) -> torch.Tensor:
    prep = loaded.preprocessing
    return preprocess([load_image(path)], prep.input_size, prep.channels, prep.mean, prep.std)


def without(model: nn.Module, name: str) -> nn.Module:
    """A deep copy of ``model`` whose module ``name`` is replaced by an identity, set on its parent."""
    twin = copy.deepcopy(model)
    parent_name, _, child = name.rpartition(".")
    setattr(twin.get_submodule(parent_name), child, nn.Identity())
    return twin


def check_identity_ablations(
    entries: list[dict[str, Any]], loaded: Any, batch: torch.Tensor, target: str | None = None
) -> None:
    """Each entry's prediction and delta (of ``target``, by default the prediction) against the model with that
    layer really replaced."""
    with torch.inference_mode():
        original = torch.softmax(loaded.model(batch).float(), 1)[0]
    base = int(original.argmax()) if target is None else loaded.classes.index(target)
    names = [name for name, module in loaded.model.named_modules() if name in {e["layer"] for e in entries}]
    assert [entry["layer"] for entry in entries] == names and len(names) == 8
    moved = 0
    for entry in entries:
        assert entry["mode"] == "identity" and entry["type"] in ("eca", "spatial")
        assert entry["target"] == loaded.classes[base]
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


@pytest.mark.slow
def test_cli_ablate_matches_the_model_with_each_layer_replaced() -> None:
    done = run_cli(EXAMPLE, "--checkpoint", "shapes", "--json", "--ablate", "identity")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)["results"][0]
    loaded = load_checkpoint("shapes")
    check_identity_ablations(result["ablations"], loaded, model_input(loaded, EXAMPLE))
    # Without --ablate the document keeps its schema.
    plain = run_cli(EXAMPLE, "--checkpoint", "shapes", "--json")
    assert "ablations" not in json.loads(plain.stdout)["results"][0]


@pytest.mark.slow
def test_cli_refuses_an_unknown_mode_in_one_line() -> None:
    done = run_cli(EXAMPLE, "--json", "--ablate", "zero")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: argument --ablate: invalid choice: 'zero'")
    assert len(done.stderr.splitlines()) == 1


# --------------------------------------------------------------------------- app API: ablation


def api_document(client: Client, path: Path, **inputs: Any) -> dict[str, Any]:
    status, top, document, document_file = client.predict(handle_file(str(path)), api_name="/analyze", **inputs)
    return document


def test_api_ablation_matches_the_model_with_each_layer_replaced(client: Client) -> None:
    document = api_document(client, EXAMPLE, ablate="identity")
    loaded = load_checkpoint("shapes")
    check_identity_ablations(document["results"][0]["ablations"], loaded, model_input(loaded, EXAMPLE))
    # The plain analysis is the same document without the ablations, and /analyze still needs only the image.
    plain = api_document(client, EXAMPLE)
    assert "ablations" not in plain["results"][0]
    document["results"][0].pop("ablations")
    assert document == plain
    with pytest.raises(AppError, match="unknown ablation mode 'zero'"):
        api_document(client, EXAMPLE, ablate="zero")


def test_api_ablation_and_gradcam_follow_the_target_class(server_url: str) -> None:
    client = Client(server_url, verbose=False)  # its own session: /gradcam draws this client's last analysis
    loaded = load_checkpoint("shapes")
    document = api_document(client, OTHER, ablate="identity", target="ring")
    assert document["results"][0]["prediction"]["label"] != "ring"
    check_identity_ablations(document["results"][0]["ablations"], loaded, model_input(loaded, OTHER), "ring")
    name = "stages.1.0.attention.spatial"
    _image, predicted = client.predict(name, api_name="/gradcam")
    _image, ring = client.predict(name, "viridis", "absolute", "ring", api_name="/gradcam")
    assert predicted["class"]["label"] == document["results"][0]["prediction"]["label"]
    assert ring["class"] == {"label": "ring", "index": loaded.classes.index("ring")}
    expected = grad_cam(copy.deepcopy(loaded.model), model_input(loaded, OTHER), name, ring["class"]["index"])[0]
    np.testing.assert_allclose(np.asarray(ring["gradcam"]), expected, atol=1e-4)
    for call in (
        lambda: api_document(client, OTHER, ablate="identity", target="dog"),
        lambda: client.predict(name, "viridis", "absolute", "dog", api_name="/gradcam"),
    ):
        with pytest.raises(AppError, match="unknown class 'dog'; this model's classes are: circle"):
            call()


def test_ablations_and_analyses_at_the_same_time_match_their_sequential_answers(
    server_url: str, shape_images: list[Path]
) -> None:
    """Requests that ablate and requests that do not share the server's one model object at the same time."""
    jobs = [(path, mode) for path in shape_images[:3] for mode in ("none", "identity", "mean")]
    sequential = Client(server_url, verbose=False)
    expected = {(path.name, mode): api_document(sequential, path, ablate=mode) for path, mode in jobs}
    assert all(("ablations" in doc["results"][0]) == (mode != "none") for (_, mode), doc in expected.items())
    clients = [Client(server_url, verbose=False) for _ in range(4)]

    def ask(worker: int, request: int) -> tuple[str, dict, dict]:
        path, mode = jobs[(3 * worker + request) % len(jobs)]
        label = f"{path.name} with ablate={mode}"
        return label, api_document(clients[worker], path, ablate=mode), expected[path.name, mode]

    failures = concurrent_mismatches(4, 5, ask)
    assert not failures, failures[:5]


# --------------------------------------------------------------------------- app API: Grad-CAM


def test_gradcam_shown_equals_grad_cam_on_the_same_input(server_url: str) -> None:
    client = Client(server_url, verbose=False)  # its own session: /gradcam draws this client's last analysis
    document = api_document(client, EXAMPLE)
    loaded = load_checkpoint("shapes")
    batch = model_input(loaded, EXAMPLE)
    predicted = document["results"][0]["prediction"]["index"]
    masks = {layer["name"]: layer["mask"] for layer in document["results"][0]["layers"] if layer["type"] == "spatial"}
    assert len(masks) == 4
    for name, mask in masks.items():
        image, data = client.predict(name, api_name="/gradcam")
        assert Path(image).stat().st_size > 1000
        assert data["layer"] == name and data["class"]["index"] == predicted
        shown = np.asarray(data["gradcam"])
        expected = grad_cam(loaded.model, batch, name, predicted)[0]
        assert shown.shape == expected.shape == np.asarray(mask).shape
        assert expected.max() > 0  # a map with something in it
        np.testing.assert_allclose(shown, expected, rtol=1e-4, atol=1e-5 * float(expected.max()))
        np.testing.assert_allclose(np.asarray(data["mask"]), np.asarray(mask), atol=TOLERANCE)
        rho = spearman(np.asarray(data["mask"]), shown)
        assert rho is not None and data["spearman"] == pytest.approx(rho, abs=1e-9)
    # Another colour map redraws the same numbers.
    _image, again = client.predict(name, "viridis", "minmax", api_name="/gradcam")
    assert again == data


def test_gradcam_before_any_analysis_is_refused(server_url: str) -> None:
    with pytest.raises(AppError, match="analyze an image first"):
        Client(server_url, verbose=False).predict("stages.0.0.attention.spatial", api_name="/gradcam")


# --------------------------------------------------------------------------- app API: compare two


def check_differences(layers: list[dict[str, Any]], first: dict[str, Any], second: dict[str, Any]) -> None:
    """Each layer's A - B against the two /analyze documents, which are rounded to 6 digits."""
    a_layers, b_layers = first["results"][0]["layers"], second["results"][0]["layers"]
    assert (
        [layer["name"] for layer in layers]
        == [layer["name"] for layer in a_layers]
        == [layer["name"] for layer in b_layers]
    )
    for entry, a, b in zip(layers, a_layers, b_layers):
        key = "weights" if a["type"] != "spatial" else "mask"
        assert entry["kind"] == ("channel" if key == "weights" else "spatial")
        expected = np.asarray(a[key], dtype=np.float64) - np.asarray(b[key], dtype=np.float64)
        np.testing.assert_allclose(np.asarray(entry["difference"]), expected, rtol=0, atol=TOLERANCE)
        assert abs(entry["score"] - float(np.abs(expected).mean())) <= TOLERANCE


def test_compare_two_images_matches_two_analyses(client: Client) -> None:
    summary, data = client.predict(handle_file(str(EXAMPLE)), image_b=handle_file(str(OTHER)), api_name="/compare")
    check_differences(data["layers"], api_document(client, EXAMPLE), api_document(client, OTHER))
    assert data["a"]["image"] == EXAMPLE.name and data["b"]["image"] == OTHER.name
    assert max(layer["score"] for layer in data["layers"]) > 0.01  # two different scenes: something differs
    most = max(data["layers"], key=lambda layer: layer["score"])["name"]
    assert data["summary"].startswith(f"attention differs most in {most} (mean |A-B| ")
    assert summary == f"A: {EXAMPLE.name} with shapes; B: {OTHER.name} with shapes; {data['summary']}"


def test_compare_one_image_under_two_models(client: Client, tmp_path: Path) -> None:
    other = changed_checkpoint(tmp_path / "perturbed.pt", perturb=0.05)
    _summary, data = client.predict(
        handle_file(str(EXAMPLE)), checkpoint_b=handle_file(str(other)), api_name="/compare"
    )
    assert data["b"]["checkpoint"] == "perturbed.pt" and data["a"]["checkpoint"] == "shapes"
    perturbed = api_document(client, EXAMPLE, checkpoint_file=handle_file(str(other)))
    check_differences(data["layers"], api_document(client, EXAMPLE), perturbed)
    assert max(layer["score"] for layer in data["layers"]) > 1e-3
    with pytest.raises(AppError, match="give a second image, or a second model"):
        client.predict(handle_file(str(EXAMPLE)), api_name="/compare")
    # Models with other layers compare by kind and position; the layers left without a partner are listed.
    summary, data = client.predict(handle_file(str(EXAMPLE)), model_b="fashion", api_name="/compare")
    assert data["b"]["checkpoint"] == "fashion" and data["layers"]
    assert data["unmatched"] and "Not compared: " + "; ".join(data["unmatched"]) in summary
    assert any("stages.3.0.attention" in line for line in data["unmatched"])
