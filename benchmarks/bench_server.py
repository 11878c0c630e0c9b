"""The served app under load: memory per session, memory and temp files over many analyses, and queueing.

Run from the repository root::

    .venv/bin/python benchmarks/bench_server.py                      # 40 sessions, 1000 analyses, 60 queued
    .venv/bin/python benchmarks/bench_server.py --analyses 300 --sessions 20

It starts ``python app.py`` as a user does (its own temp folder under a
throw-away TMPDIR), drives it with gradio_client and raw HTTP, and prints:

* the server's RSS after ``--sessions`` sessions each analysing one 6000x6000
  upload (and the same for a 512x512 upload), with the per-session cost;
* the RSS after ``--analyses`` analyses of 512x512 uploads, and the size of
  the server's temp folders then;
* the wait of a normal request sent while ``--queued`` others were just
  submitted (the queue refuses what is over its size at once).
"""

from __future__ import annotations

import argparse
import io
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from PIL import Image  # noqa: E402

from tests.serving import free_port, post_json, upload_file, wait_for_http  # noqa: E402
from webapp.downloads import folder_bytes  # noqa: E402

MB = 1 << 20


def scene_png(path: Path, side: int) -> Path:
    """A shapes scene enlarged to ``side`` pixels: a realistic upload that compresses like a photo of a drawing."""
    from models.datasets import ShapesDataset

    array, _mask, _label = ShapesDataset("test", length=1).sample(0)
    Image.fromarray(array).resize((side, side), Image.Resampling.BICUBIC).save(path, compress_level=1)
    return path


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def state_bytes(side: int) -> int:
    """Bytes of one session's stored result for a ``side``x``side`` upload, measured in this process (pickled)."""
    from webapp.analysis import analyze
    from webapp.inputs import UploadRoots
    from webapp.state import ModelCache

    with tempfile.TemporaryDirectory() as folder:
        path = scene_png(Path(folder) / "upload.png", side)
        result = analyze(str(path), cache=ModelCache(), roots=UploadRoots.of([folder]))
    buffer = io.BytesIO()
    pickle.dump(result, buffer)
    return buffer.tell()


def sessions(url: str, path: Path, count: int) -> None:
    """``count`` separate sessions (one client each), each analysing ``path`` once; the clients stay open."""
    from gradio_client import Client, handle_file

    clients = []
    for _ in range(count):
        client = Client(url, verbose=False)
        client.predict(handle_file(str(path)), api_name="/analyze")
        clients.append(client)


def analyses(url: str, path: Path, count: int, workers: int = 4) -> float:
    """``count`` analyses of ``path`` from ``workers`` clients at once; seconds taken."""
    from gradio_client import Client, handle_file

    per_worker = [count // workers + (1 if index < count % workers else 0) for index in range(workers)]
    clients = [Client(url, verbose=False) for _ in range(workers)]
    failures: list[str] = []

    def work(index: int) -> None:
        for _ in range(per_worker[index]):
            try:
                clients[index].predict(handle_file(str(path)), api_name="/analyze")
            except Exception as error:  # noqa: BLE001 - counted and printed
                failures.append(repr(error))

    start = time.perf_counter()
    threads = [threading.Thread(target=work, args=(index,)) for index in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        print(f"  {len(failures)} analyses failed, first: {failures[0]}")
    return time.perf_counter() - start


def queued_wait(url: str, path: Path, queued: int) -> None:
    """Submit ``queued`` events at once, then time one normal request (retrying while the app says busy)."""
    from gradio_client import Client, handle_file

    server_path = upload_file(url, path)
    payload = {"data": [{"path": server_path, "meta": {"_type": "gradio.FileData"}}, "shapes", None]}
    statuses: list[int] = []

    def submit() -> None:
        statuses.append(post_json(f"{url}gradio_api/call/analyze", payload)[0])

    threads = [threading.Thread(target=submit) for _ in range(queued)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client = Client(url, verbose=False)
    start = time.perf_counter()
    refusals = 0
    first_answer = None
    while True:
        try:
            client.predict(handle_file(str(path)), api_name="/analyze")
            break
        except Exception as error:  # noqa: BLE001 - a busy answer is expected while the queue is full
            if "Queue is full" not in str(error):
                raise
            refusals += 1
            first_answer = first_answer or time.perf_counter() - start
            time.sleep(0.1)
    waited = time.perf_counter() - start
    accepted = statuses.count(200)
    print(f"{queued} events submitted at once: {accepted} accepted, {statuses.count(503)} refused as busy (HTTP 503)")
    if refusals:
        print(f"  normal request: refused as busy in {1000 * first_answer:.0f} ms, {refusals} time(s);")
        print(f"  with a retry every 0.1 s it was answered {waited:.2f} s after it was first sent")
    else:
        print(f"  normal request answered in {waited:.2f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=40, help="sessions with one large upload each")
    parser.add_argument("--analyses", type=int, default=1000, help="analyses of a 512x512 upload")
    parser.add_argument("--queued", type=int, default=60, help="events submitted at once before a normal request")
    parser.add_argument("--large-side", type=int, default=6000, help="side of the large upload")
    args = parser.parse_args(argv)

    print(f"one session's stored result (pickled), 512x512 upload: {state_bytes(512) / MB:.2f} MB")
    print(f"one session's stored result (pickled), {args.large_side}x{args.large_side} upload: ", end="", flush=True)
    print(f"{state_bytes(args.large_side) / MB:.2f} MB")
    with tempfile.TemporaryDirectory(prefix="bench-server-") as folder:
        folder = Path(folder)
        temp = folder / "tmp"
        temp.mkdir()
        large = scene_png(folder / "large.png", args.large_side)
        small = scene_png(folder / "small.png", 512)
        port = free_port()
        env = dict(
            os.environ,
            GRADIO_SERVER_NAME="127.0.0.1",
            GRADIO_SERVER_PORT=str(port),
            GRADIO_ANALYTICS_ENABLED="False",
            TMPDIR=str(temp),
        )
        env.pop("GRADIO_TEMP_DIR", None)
        url = f"http://127.0.0.1:{port}/"
        log = open(folder / "app.log", "wb")  # noqa: SIM115 - closed below
        process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_http(url, process, 180)
            time.sleep(3)  # let the warm-up finish
            sessions(url, small, 1)
            base = rss_mb(process.pid)
            print(f"server RSS after start-up and one analysis: {base:.0f} MB")
            sessions(url, small, args.sessions)
            small_rss = rss_mb(process.pid)
            print(
                f"after {args.sessions} sessions of a 512x512 upload: {small_rss:.0f} MB "
                f"(+{(small_rss - base) / args.sessions:.2f} MB per session)"
            )
            start = time.perf_counter()
            sessions(url, large, args.sessions)
            large_rss = rss_mb(process.pid)
            print(
                f"after {args.sessions} sessions of a {args.large_side}x{args.large_side} upload "
                f"({large.stat().st_size / MB:.1f} MB PNG, {time.perf_counter() - start:.0f} s): {large_rss:.0f} MB "
                f"(+{(large_rss - small_rss) / args.sessions:.2f} MB per session)"
            )
            seconds = analyses(url, small, args.analyses)
            print(
                f"after {args.analyses} more analyses of a 512x512 upload ({seconds:.0f} s): "
                f"{rss_mb(process.pid):.0f} MB; temp folders {folder_bytes(temp) / MB:.1f} MB"
            )
            queued_wait(url, small, args.queued)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
            log.close()
        left = list(temp.iterdir())
        print(f"after SIGTERM: exit code {process.returncode}, {len(left)} entries left in the server's TMPDIR")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
