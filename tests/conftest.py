"""Shared fixtures: a real ``python app.py`` server, an API client, and test images.

The server is started once per session as a subprocess on a free port, the
way a user starts it, so API and browser tests exercise exactly what ships.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from PIL import Image

from tests.serving import free_port, stop, wait_for_app
from webapp.state import ModelCache

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ROOT = Path(__file__).resolve().parent.parent
SERVER_START_TIMEOUT_S = 120.0
SERVER_FIXTURES = {"app_server", "server_url", "client", "launched"}  # "launched": test_app_models.py's own server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that needs the served app is ``slow`` (it waits for ``python app.py``), however it asks for it."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def server_environment(port: int, upload_folder: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    if upload_folder is not None:
        env["GRADIO_TEMP_DIR"] = str(upload_folder)
    env.update(
        GRADIO_SERVER_NAME="127.0.0.1",
        GRADIO_SERVER_PORT=str(port),
        GRADIO_ANALYTICS_ENABLED="False",
        ATTENTION_LENS_TORCH_THREADS="1",
        PYTHONUNBUFFERED="1",
    )
    return env


class AppServer(NamedTuple):
    url: str
    log: Path
    process: subprocess.Popen[bytes]
    upload_folder: Path  # Gradio's upload folder for this server (its GRADIO_TEMP_DIR)


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """A ``python app.py`` subprocess on a free port, stopped at the end of the session."""
    port = free_port()
    folder = tmp_path_factory.mktemp("server")
    log_path = folder / "app.log"
    upload_folder = folder / "gradio-uploads"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "app.py"],
            cwd=ROOT,
            env=server_environment(port, upload_folder),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        try:
            wait_for_app(url, process, log_path, SERVER_START_TIMEOUT_S)
        except RuntimeError as error:
            pytest.fail(str(error))
        yield AppServer(url, log_path, process, upload_folder)
    finally:
        stop(process)


@pytest.fixture(scope="session")
def server_url(app_server: AppServer) -> str:
    return app_server.url


@pytest.fixture(scope="session")
def client(server_url: str):  # noqa: ANN201 - gradio_client is imported lazily
    from gradio_client import Client

    return Client(server_url, verbose=False)


@pytest.fixture(scope="session")
def shape_images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Eight different images from the shapes generator, at upload-like sizes and formats."""
    from models.datasets import ShapesDataset

    folder = tmp_path_factory.mktemp("shapes")
    dataset = ShapesDataset("test", length=8)
    paths = []
    for index in range(8):
        array, _mask, _label = dataset.sample(index)
        image = Image.fromarray(array).resize((96 + 16 * index, 96 + 8 * index), Image.Resampling.BILINEAR)
        path = folder / (f"shape{index}.png" if index % 2 == 0 else f"shape{index}.jpg")
        image.save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def example_image(shape_images: list[Path]) -> Path:
    """An image of the shipped example gallery (a shapes one if any), or a generated one while it is empty."""
    from webapp.inputs import example_images

    examples = [Path(path) for path in example_images(ROOT / "assets" / "examples")]
    preferred = [path for path in examples if path.name.startswith("shapes")]
    return (preferred or examples or shape_images)[0]


@pytest.fixture(scope="module")
def cache() -> Iterator[ModelCache]:
    """A model cache private to the test module, with torch set up as the server sets it (restored afterwards)."""
    import torch

    from webapp import runtime

    previous = torch.get_num_threads()
    runtime.configure_torch(1)
    yield ModelCache()
    torch.set_num_threads(previous)
