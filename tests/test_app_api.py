"""The app through its HTTP API, as a script would use it: gradio_client against ``python app.py``."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from models.checkpoint import SHIPPED
from tests.badfiles import BAD_IMAGE_MESSAGES, write_bad_checkpoints, write_bad_images, write_odd_mode_images
from tests.checkpoints import changed_checkpoint
from tests.commands import one_thread_env, run_attention
from tests.conftest import server_environment
from tests.serving import (
    call_events,
    concurrent_mismatches,
    free_port,
    post_json,
    raw_call,
    upload_file,
    wait_for_http,
)
from webapp.inputs import CHECKPOINT_SUFFIXES

pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TOLERANCE = 1e-6 * (1 + 1e-6)  # values are rounded to 6 digits on both sides


def api_document(client: Client, path: Path, **inputs: Any) -> dict[str, Any]:
    """The analysis document the /analyze endpoint returns for one image."""
    outputs = client.predict(handle_file(str(path)), api_name="/analyze", **inputs)
    documents = [value for value in outputs if isinstance(value, dict) and "results" in value]
    assert len(documents) == 1, outputs
    return documents[0]


def cli_document(*paths: Path) -> dict[str, Any]:
    completed = run_attention("analyze", *paths, "--checkpoint", "shapes", "--json", env=one_thread_env())
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def assert_close(actual: Any, expected: Any, where: str = "") -> None:
    """Equal structure and strings; numbers within TOLERANCE."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) == set(expected), where
        for key in expected:
            assert_close(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), where
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_close(a, e, f"{where}[{index}]")
    elif isinstance(expected, bool) or expected is None or isinstance(expected, str):
        assert actual == expected, where
    elif isinstance(expected, (int, float)):
        assert abs(float(actual) - float(expected)) <= TOLERANCE, f"{where}: {actual} != {expected}"
    else:
        raise AssertionError(f"unexpected value at {where}: {expected!r}")


def test_page_is_served(server_url: str) -> None:
    with urllib.request.urlopen(server_url, timeout=10) as response:
        assert response.status == 200
        assert "Attention Lens" in response.read().decode("utf-8", errors="replace")


def test_api_needs_only_the_image(client: Client) -> None:
    endpoint = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/analyze"]
    parameters = endpoint["parameters"]
    assert parameters[0]["component"] == "Image"
    assert all(parameter["parameter_has_default"] for parameter in parameters[1:])


@pytest.mark.slow
def test_api_matches_the_cli(client: Client, example_image: Path) -> None:
    outputs = client.predict(handle_file(str(example_image)), api_name="/analyze")
    status, top, document, document_file = outputs
    expected = cli_document(example_image)
    assert document["results"][0]["image"] == example_image.name
    for entry in (document, expected):
        entry["results"][0].pop("image")
    assert_close(document, expected, "document")
    # The downloadable file holds the same document.
    from_file = json.loads(Path(document_file).read_text())
    from_file["results"][0].pop("image")
    assert from_file == document
    assert top["label"] == expected["results"][0]["prediction"]["label"]
    assert len(top["confidences"]) == min(5, len(expected["classes"]))
    assert expected["results"][0]["prediction"]["label"] in status


def test_bad_inputs_get_clear_messages_and_the_server_keeps_serving(
    client: Client, tmp_path: Path, shape_images: list[Path], app_server: Any
) -> None:
    for name, path in write_bad_images(tmp_path / "bad").items():
        with pytest.raises(AppError) as caught:
            client.predict(handle_file(str(path)), api_name="/analyze")
        message = str(caught.value)
        assert BAD_IMAGE_MESSAGES[name] in message and "\n" not in message, (name, message)
    for name, path in write_odd_mode_images(tmp_path / "odd").items():
        document = api_document(client, path)
        assert document["results"][0]["image"] == name
    assert app_server.process.poll() is None
    assert api_document(client, shape_images[3])["results"][0]["image"] == shape_images[3].name


def test_unknown_model_and_bad_checkpoints_are_refused(
    client: Client, tmp_path: Path, shape_images: list[Path]
) -> None:
    with pytest.raises(AppError, match="unknown model"):
        client.predict(handle_file(str(shape_images[0])), "/etc/passwd", api_name="/analyze")
    marker = tmp_path / "pwned"
    for name, path in write_bad_checkpoints(tmp_path / "ckpt", marker).items():
        with pytest.raises(AppError) as caught:
            client.predict(handle_file(str(shape_images[0])), "shapes", handle_file(str(path)), api_name="/analyze")
        assert name in str(caught.value)
    assert not marker.exists()


def test_uploaded_checkpoint_is_used(client: Client, tmp_path: Path, shape_images: list[Path]) -> None:
    # Class list and output rows reversed together: the same predictions under other indices.
    upload = changed_checkpoint(tmp_path / "uploaded_shapes.pt", reverse_classes=True, reverse_outputs=True)
    custom = api_document(client, shape_images[0], checkpoint_file=handle_file(str(upload)))
    shipped = api_document(client, shape_images[0])
    assert custom["checkpoint"] == "uploaded_shapes.pt"
    assert custom["classes"] == list(reversed(shipped["classes"]))
    mine, theirs = custom["results"][0], shipped["results"][0]
    assert mine["layers"] == theirs["layers"]
    assert mine["prediction"]["label"] == theirs["prediction"]["label"]
    assert mine["prediction"]["index"] == len(shipped["classes"]) - 1 - theirs["prediction"]["index"]
    # Only the class list reversed: every label changes, the scores do not.
    renamed = changed_checkpoint(tmp_path / "renamed.pt", reverse_classes=True)
    status, top, document, _file = client.predict(
        handle_file(str(shape_images[0])), "shapes", handle_file(str(renamed)), api_name="/analyze"
    )
    prediction = document["results"][0]["prediction"]
    assert prediction["index"] == theirs["prediction"]["index"]
    assert prediction["label"] == custom["classes"][theirs["prediction"]["index"]] != theirs["prediction"]["label"]
    assert top["label"] == prediction["label"] and "renamed\\.pt" in status


def _true_label(path: Path) -> str:
    """The label in an example's file name: shapes_star_11.png -> star, fashion_t-shirt-top_19.png -> t-shirt-top."""
    return path.stem.split("_", 1)[1].rsplit("_", 1)[0]


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


def test_every_shipped_example_gets_its_true_label(client: Client) -> None:
    examples = sorted((ROOT / "assets" / "examples").glob("*_*_*.png"))
    by_model = {model: [path for path in examples if path.name.startswith(model + "_")] for model in SHIPPED}
    assert by_model["shapes"] and by_model["fashion"], examples
    for model, paths in by_model.items():
        for path in paths:
            document = api_document(client, path, model=model)
            assert document["checkpoint"] == model
            prediction = document["results"][0]["prediction"]
            assert _slug(prediction["label"]) == _true_label(path), (path.name, prediction)
    # The README's example.
    star = api_document(client, ROOT / "assets" / "examples" / "shapes_star_11.png")["results"][0]["prediction"]
    assert star["label"] == "star" and star["index"] == 4 and star["probability"] > 0.99


def test_error_messages_show_file_names_as_text(client: Client, tmp_path: Path) -> None:
    named = tmp_path / "<i>x<i> & y.png"
    named.write_text("not an image at all\n")
    with pytest.raises(AppError) as caught:
        client.predict(handle_file(str(named)), api_name="/analyze")
    message = str(caught.value)
    # Gradio drops < and > from uploaded file names itself; the app escapes what is left.
    assert "x" in message and "&amp; y.png is not an image" in message and "<i>" not in message


def test_the_checkpoint_picker_offers_what_the_api_accepts(server_url: str) -> None:
    with urllib.request.urlopen(server_url + "config", timeout=10) as response:
        config = json.loads(response.read())
    picker = next(c for c in config["components"] if c.get("props", {}).get("elem_id") == "checkpoint-upload")
    assert tuple(picker["props"]["file_types"]) == CHECKPOINT_SUFFIXES


def test_sketch_endpoint(client: Client, tmp_path: Path) -> None:
    from PIL import Image, ImageDraw

    drawing = Image.new("RGBA", (256, 256), (0, 0, 0, 0))
    ImageDraw.Draw(drawing).ellipse((50, 50, 200, 200), outline=(0, 0, 0, 255), width=10)
    path = tmp_path / "drawing.png"
    drawing.save(path)
    sketch = {"background": None, "layers": [], "composite": handle_file(str(path)), "id": None}
    outputs = client.predict(sketch, api_name="/analyze_sketch")
    document = next(value for value in outputs if isinstance(value, dict) and "results" in value)
    assert document["results"][0]["image"] == "sketch.png"


def test_concurrent_requests_match_sequential_results(server_url: str, shape_images: list[Path]) -> None:
    """8 clients x 10 requests over 8 images: every answer equals the one-at-a-time answer for its image."""
    sequential_client = Client(server_url, verbose=False)
    expected = {path.name: api_document(sequential_client, path) for path in shape_images}
    assert len({json.dumps(doc["results"][0]["layers"]) for doc in expected.values()}) == len(shape_images)
    clients = [Client(server_url, verbose=False) for _ in range(8)]

    def ask(worker: int, request: int) -> tuple[str, dict, dict]:
        path = shape_images[(worker + request) % len(shape_images)]
        return path.name, api_document(clients[worker], path), expected[path.name]

    failures = concurrent_mismatches(8, 10, ask)
    assert not failures, failures[:5]


# --------------------------------------------------------------------------- files a client names


def _refusal(server_url: str, data: list[Any]) -> str:
    """The error message of one raw /analyze call, sent as any HTTP client can send it."""
    events = raw_call(server_url, "analyze", data)
    kind, message = events[-1]
    assert kind == "error", events
    return str(message.get("error") if isinstance(message, dict) else message)


def test_a_client_cannot_make_the_server_open_its_files(
    app_server: Any, tmp_path: Path, shape_images: list[Path]
) -> None:
    """Paths in a raw payload that Gradio did not receive are refused with one line, existing or not."""
    url = app_server.url
    outside_image = tmp_path / "server_side.png"
    shutil.copyfile(shape_images[0], outside_image)
    app_server.upload_folder.mkdir(parents=True, exist_ok=True)
    link = app_server.upload_folder / f"link-{tmp_path.name}.png"
    link.symlink_to(outside_image)
    escaping = str(app_server.upload_folder / ".." / ".." / outside_image.relative_to(outside_image.anchor))
    # Siblings whose names start with the upload folder's: outside it, though a string prefix test says inside.
    siblings = []
    for suffix in ("_evil", "2"):
        sibling = app_server.upload_folder.parent / f"{app_server.upload_folder.name}{suffix}" / f"{tmp_path.name}.png"
        sibling.parent.mkdir(exist_ok=True)
        shutil.copyfile(shape_images[0], sibling)
        siblings.append(str(sibling))
    named = [
        *siblings,
        "/etc/passwd",
        "/etc/no-such-file-here",
        str(outside_image),
        str(tmp_path / "missing.png"),
        str(link),
        escaping,
        "../../../../etc/passwd",
    ]
    refusals = {_refusal(url, [{"path": path}, "shapes", None, "none", ""]) for path in named}
    refusals |= {_refusal(url, [{"path": path, "orig_name": "cat.png"}, "shapes", None, "none", ""]) for path in named}
    assert len(refusals) == 1, refusals  # the same line whether the file exists or not: no oracle
    assert refusals.pop() == "no image was uploaded: upload, paste or photograph an image first"
    # Payloads typed as Gradio files or as bare strings: refused too, and alike for every path.
    for payload in ({"path": "P", "meta": {"_type": "gradio.FileData"}}, "P"):
        answers = {
            _refusal(url, [json.loads(json.dumps(payload).replace('"P"', json.dumps(p))), None, None, "none", ""])
            for p in named
        }
        assert len(answers) == 1, (payload, answers)
        assert "root:" not in answers.pop()

    # A server-side checkpoint named raw is refused the same way, next to a real upload of the image.
    image = {"path": upload_file(url, shape_images[0]), "orig_name": "shape0.png", "meta": {"_type": "gradio.FileData"}}
    loads_before = app_server.log.read_text(errors="replace").count("loaded uploaded checkpoint")
    checkpoint_link = app_server.upload_folder / f"link-{tmp_path.name}.pt"
    checkpoint_link.symlink_to(SHIPPED["shapes"])
    server_side = [str(SHIPPED["shapes"]), str(tmp_path / "missing.pt"), "/etc/passwd", "../assets/shapes.pt"]
    for form in ("dict", "file", "text"):
        answers = set()
        for checkpoint in [*server_side, str(checkpoint_link)]:
            payload = {
                "dict": {"path": checkpoint},
                "file": {"path": checkpoint, "meta": {"_type": "gradio.FileData"}},
                "text": checkpoint,
            }[form]
            answers.add(_refusal(url, [image, "shapes", payload, "none", ""]))
        assert len(answers) == 1, (form, answers)  # alike for every path: no oracle, no load
        assert answers.pop() in ("None", "no checkpoint was uploaded: upload the checkpoint file again")
    # Gradio's own checks or the app's refusal stopped every one of them before any checkpoint was read.
    assert app_server.log.read_text(errors="replace").count("loaded uploaded checkpoint") == loads_before
    # The same upload with no checkpoint is analysed: the refusals were about the paths only.
    kind, data = raw_call(url, "analyze", [image, "shapes", None, "none", ""])[-1]
    assert kind == "complete" and data[1].startswith("**shape0\\.png**"), data
    assert app_server.process.poll() is None


# --------------------------------------------------------------------------- load and temp files


def _big_png(path: Path, side: int = 2400) -> Path:
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)).save(path, compress_level=1)
    return path


@pytest.mark.slow
def test_overflow_is_refused_as_busy_and_a_stop_leaves_no_temp_files(tmp_path: Path, shape_images: list[Path]) -> None:
    """A small queue refuses the overflow with a clear message; SIGTERM removes every temp folder the server made."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = server_environment(free_port())
    env.pop("GRADIO_TEMP_DIR", None)
    env.update(TMPDIR=str(temp), ATTENTION_LENS_QUEUE_SIZE="1", MPLCONFIGDIR=str(tmp_path / "mpl"))
    url = f"http://127.0.0.1:{env['GRADIO_SERVER_PORT']}/"
    log_path = tmp_path / "app.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_http(url, process, 120)
        created = [entry.name for entry in temp.iterdir()]
        assert len(created) == 1 and created[0].startswith("attention-lens-"), created
        big = {"path": upload_file(url, _big_png(tmp_path / "big.png")), "meta": {"_type": "gradio.FileData"}}
        data = [big, "shapes", None, "none", ""]
        answers = [post_json(f"{url}gradio_api/call/analyze", {"data": data}) for _ in range(12)]
        statuses = [status for status, _body in answers]
        assert 503 in statuses and 200 in statuses, statuses
        busy = json.loads(next(body for status, body in answers if status == 503))["detail"]
        assert "Queue is full" in busy, busy
        # Every accepted request is answered in full.
        for status, body in answers:
            if status == 200:
                kind, data = call_events(url, "analyze", json.loads(body)["event_id"])[-1]
                assert kind == "complete", data
        # gradio_client users get its clear "try again" error for the overflow.
        client = Client(url, verbose=False)
        jobs = [client.submit(handle_file(str(tmp_path / "big.png")), api_name="/analyze") for _ in range(8)]
        errors = []
        for job in jobs:
            try:
                job.result(timeout=120)
            except Exception as error:  # noqa: BLE001 - inspected below
                errors.append(error)
        assert errors and all("Queue is full! Please try again." in str(error) for error in errors), errors
        assert len(errors) < len(jobs)
        assert any(temp.rglob("*_analysis.json"))  # downloads were written under the server's own folder
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            returncode = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
            raise
    log = log_path.read_text(errors="replace")
    assert returncode == 0, log[-3000:]
    assert list(temp.iterdir()) == [], (list(temp.rglob("*"))[:10], log[-2000:])
