"""What refusing each hostile weights file costs: peak memory growth and time of one CLI run per file.

Run from the repository root::

    .venv/bin/python benchmarks/bench_hostile.py                 # this checkout
    .venv/bin/python benchmarks/bench_hostile.py --cap-gb 4      # each run's address space capped at 4 GB

It writes the files of ``tests/hostile_files.py`` into a temporary folder,
runs ``python -m attention analyze IMAGE --model ... --json`` on each in a
fresh process (after its heavy imports, so only the file's cost is counted),
and prints the peak RSS growth, the time and the first line of the outcome.
``--repo`` runs another checkout's CLI (an older commit, for a before/after)
on the same files; ``--cap-gb`` keeps a checkout that does not bound the files
from taking the machine down.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.hostile_files import write_hostile_files  # noqa: E402

IMAGE = ROOT / "assets" / "examples" / "shapes_star_11.png"

MEASURE = """
import json, resource, sys, time
cap = int(sys.argv[1])
if cap:
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
import timm, torchvision
from cli import main

def status(field):
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024

with open("/proc/self/clear_refs", "w") as handle:
    handle.write("5")
before = status("VmRSS")
start = time.perf_counter()
try:
    code = main(sys.argv[2:])
except MemoryError:
    code = "MemoryError"
print(json.dumps({"code": code, "seconds": time.perf_counter() - start, "growth": status("VmHWM") - before}))
"""


def measure(repo: Path, arguments: list[str], cap_bytes: int) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(cap_bytes), *arguments],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = result.stdout.strip().splitlines()
    measured = json.loads(lines[-1]) if lines else {"code": f"died ({result.returncode})", "seconds": 0, "growth": 0}
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    measured["message"] = errors[-1][:110] if errors else (result.stdout[:110] if measured["code"] == 0 else "")
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=ROOT, help="the checkout whose CLI is measured")
    parser.add_argument("--cap-gb", type=float, default=0.0, help="cap each run's address space (0: no cap)")
    args = parser.parse_args()
    cap = int(args.cap_gb * (1 << 30))
    with tempfile.TemporaryDirectory() as folder:
        files = write_hostile_files(Path(folder))
        print(f"{'file':26} {'exit':>12} {'peak growth':>12} {'time':>8}  outcome")
        for name, (path, case) in files.items():
            model = ["--model", case.spec, "--weights", str(path)] if case.spec else ["--model", str(path)]
            measured = measure(args.repo, ["analyze", str(IMAGE), *model, "--json"], cap)
            growth = f"{measured['growth'] / (1 << 20):,.0f} MB"
            code = str(measured["code"])
            print(f"{name:26} {code:>12} {growth:>12} {measured['seconds']:7.2f}s  {measured['message']}")


if __name__ == "__main__":
    main()
