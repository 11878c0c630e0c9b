"""The running app refuses files that declare more than they hold in one line, cheaply, and keeps serving."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from tests.conftest import AppServer
from tests.hostile_files import HostileFile, reset_peak, status_bytes, write_hostile_files

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
IMAGE = ROOT / "assets" / "examples" / "shapes_star_11.png"
GROWTH_LIMIT_BYTES = 200 << 20
TIME_LIMIT_S = 5.0
REFUSED_IN_A_ROW = 10


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, HostileFile]]:
    return write_hostile_files(tmp_path_factory.mktemp("hostile"))


def _analyze(client, path: Path, spec: str | None):  # noqa: ANN001, ANN202 - gradio_client is imported lazily
    from gradio_client import handle_file

    return client.predict(
        handle_file(str(IMAGE)),
        model=spec or "shapes",
        checkpoint_file=handle_file(str(path)),
        api_name="/analyze",
    )


def _refusal(client, path: Path, spec: str | None) -> str:  # noqa: ANN001
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as caught:
        _analyze(client, path, spec)
    return str(caught.value)


def test_the_app_refuses_each_hostile_file_in_one_line_within_200_mb_and_5_s(
    app_server: AppServer,
    client,
    hostile: dict[str, tuple[Path, HostileFile]],
    tmp_path: Path,  # noqa: ANN001
) -> None:
    pid = app_server.process.pid
    # Laying out a library network for the first time imports PyTorch's meta-device machinery once per process.
    (tmp_path / "empty.pth").write_bytes(b"")
    assert "is empty" in _refusal(client, tmp_path / "empty.pth", "timm:seresnet18")
    for name, (path, case) in hostile.items():
        reset_peak(pid)
        before = status_bytes(pid, "VmRSS")
        start = time.perf_counter()
        message = _refusal(client, path, case.spec)
        seconds = time.perf_counter() - start
        growth = status_bytes(pid, "VmHWM") - before
        assert "\n" not in message and case.refusal in message, (name, message)
        assert growth < GROWTH_LIMIT_BYTES, (name, growth)
        assert seconds < TIME_LIMIT_S, (name, seconds)
    status, _top, document, _file = _analyze_plain(client)
    assert document["results"][0]["prediction"]["label"] == "star", status


def _analyze_plain(client):  # noqa: ANN001, ANN202
    from gradio_client import handle_file

    return client.predict(handle_file(str(IMAGE)), api_name="/analyze")


def test_ten_refused_weights_files_in_a_row_leave_the_server_no_larger(
    app_server: AppServer,
    client,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    """Each file is real (47 MB of seresnet18 weights) but one tensor has another shape: read, then refused."""
    import timm

    state = timm.create_model("seresnet18", num_classes=10).state_dict()
    state["layer4.1.conv2.weight"] = torch.zeros(512, 512, 3, 1)
    pid = app_server.process.pid
    paths = []
    for index in range(REFUSED_IN_A_ROW):
        state["fc.bias"] = torch.full((10,), float(index))  # other bytes: no request is answered from the cache
        paths.append(tmp_path / f"refused{index}.pth")
        torch.save(state, paths[-1])
    del state
    _refusal(client, paths[0], "timm:seresnet18")  # the first one pays for one-time imports
    before = status_bytes(pid, "VmRSS")
    for path in paths[1:]:
        assert "does not fit timm:seresnet18" in _refusal(client, path, "timm:seresnet18")
    after = status_bytes(pid, "VmRSS")
    assert after - before < 100 << 20, (before, after)
    status, _top, document, _file = _analyze_plain(client)
    assert document["results"][0]["prediction"]["label"] == "star", status


def test_the_oldest_session_is_dropped_beyond_the_session_cap(tmp_path: Path) -> None:
    import subprocess
    import sys

    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    from tests.conftest import SERVER_START_TIMEOUT_S, server_environment
    from tests.serving import free_port, stop, wait_for_app

    port = free_port()
    env = {**server_environment(port, tmp_path / "uploads"), "ATTENTION_LENS_SESSIONS": "2"}
    log_path = tmp_path / "app.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_app(url, process, log_path, SERVER_START_TIMEOUT_S)
        clients = [Client(url, verbose=False) for _ in range(3)]
        for client in clients:
            client.predict(handle_file(str(IMAGE)), api_name="/analyze")
        layer = "stages.0.0.attention.spatial"
        with pytest.raises(AppError, match="analyze an image first"):
            clients[0].predict(layer, api_name="/gradcam")
        _image, data = clients[2].predict(layer, api_name="/gradcam")
        assert data["layer"] == layer
    finally:
        stop(process)


def test_an_image_that_overflows_the_model_gets_one_line_from_the_api(client, tmp_path: Path) -> None:  # noqa: ANN001
    from tests.test_bounded_inputs import NOT_FINITE, write_overflowing_checkpoint

    checkpoint = write_overflowing_checkpoint(tmp_path / "overflow.pt")
    assert _refusal(client, checkpoint, None) == NOT_FINITE


def test_a_huge_drawing_is_refused_before_it_is_decoded(app_server: AppServer, client, tmp_path: Path) -> None:  # noqa: ANN001
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    from tests.badfiles import bomb_png

    bomb = tmp_path / "drawing.png"
    bomb.write_bytes(bomb_png(13000, 13000))
    pid = app_server.process.pid
    reset_peak(pid)
    before = status_bytes(pid, "VmRSS")
    drawing = {"background": None, "layers": [], "composite": handle_file(str(bomb))}
    with pytest.raises(AppError, match=r"^the drawing is too large: 40,000,000 pixels at most$"):
        client.predict(drawing, api_name="/analyze_sketch")
    assert status_bytes(pid, "VmHWM") - before < GROWTH_LIMIT_BYTES
