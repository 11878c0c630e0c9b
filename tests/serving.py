"""Starting ``app.py`` as a separate process: shared by the test fixtures and the app benchmark."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any


def stop(process: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    """Terminate a server process, killing it if it does not stop in time."""
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout_s)


def wait_for_app(url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    """``wait_for_http``, failing with the end of the server's log, which says why it did not start."""
    try:
        wait_for_http(url, process, timeout_s)
    except (RuntimeError, TimeoutError) as error:
        tail = log.read_text(errors="replace")[-4000:]
        raise RuntimeError(f"{error}\n--- app.py log ---\n{tail}") from None


def free_port() -> int:
    """A localhost port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, process: subprocess.Popen[bytes], timeout_s: float, poll_s: float = 0.25) -> None:
    """Poll until ``url`` answers 200; fail early if the server process died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"app.py exited with code {process.returncode} before serving")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(poll_s)
    raise TimeoutError(f"{url} did not answer within {timeout_s:.0f} s")


def post_json(url: str, payload: object, timeout_s: float = 30.0) -> tuple[int, bytes]:
    """(HTTP status, body) of a JSON POST; an HTTP error status is returned, not raised."""
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def call_events(base_url: str, api_name: str, event_id: str, timeout_s: float = 120.0) -> list[tuple[str, Any]]:
    """The server-sent events of one ``/gradio_api/call`` event, up to and including its last one.

    Gradio's call protocol: POST /gradio_api/call/<api_name> returns ``{"event_id"}``;
    GET /gradio_api/call/<api_name>/<event_id> then streams ``event: <kind>`` /
    ``data: <json>`` pairs and ends after ``complete`` or ``error``.
    """
    url = f"{base_url.rstrip('/')}/gradio_api/call/{api_name}/{event_id}"
    events: list[tuple[str, Any]] = []
    kind = None
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        for raw in response:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and kind is not None:
                text = line.split(":", 1)[1].strip()
                try:
                    data = json.loads(text)
                except json.JSONDecodeError:
                    data = text
                events.append((kind, data))
                if kind in ("complete", "error"):
                    break
    return events


def raw_call(base_url: str, api_name: str, data: list[Any], timeout_s: float = 120.0) -> list[tuple[str, Any]]:
    """One raw ``/gradio_api/call`` request, exactly as any HTTP client can send it; its events."""
    status, body = post_json(f"{base_url.rstrip('/')}/gradio_api/call/{api_name}", {"data": data}, timeout_s)
    if status != 200:
        raise RuntimeError(f"POST /gradio_api/call/{api_name} answered {status}: {body[:200]!r}")
    return call_events(base_url, api_name, json.loads(body)["event_id"], timeout_s)


def upload_file(base_url: str, path: str | Path, timeout_s: float = 30.0) -> str:
    """Upload one file the way the page does (multipart POST /gradio_api/upload); its path on the server."""
    boundary = uuid.uuid4().hex
    path = Path(path)
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{path.name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + path.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"{base_url.rstrip('/')}/gradio_api/upload",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return str(json.loads(response.read())[0])


def concurrent_mismatches(
    workers: int, requests: int, ask: Callable[[int, int], tuple[str, Any, Any]], timeout_s: float = 300.0
) -> list[str]:
    """Call ``ask(worker, request)`` from ``workers`` threads at once, ``requests`` times each.

    ``ask`` returns (what was asked, the answer, the answer expected); the result
    has one line per error or differing answer, so a test asserts it is empty.
    """
    failures: list[str] = []

    def work(worker: int) -> None:
        for request in range(requests):
            try:
                label, answer, expected = ask(worker, request)
            except Exception as error:  # noqa: BLE001 - collected and reported by the caller
                failures.append(f"worker {worker} request {request}: {error!r}")
                continue
            if answer != expected:
                failures.append(f"worker {worker} request {request}: the answer for {label} differs")

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout_s)
    if any(thread.is_alive() for thread in threads):
        failures.append(f"threads still running after {timeout_s:.0f} s")
    return failures
