"""Running ``python -m attention`` the way a user does, from the repository root, for the CLI tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def one_thread_env() -> dict[str, str]:
    """This environment with torch on one thread, as the app's server computes: results compare bit for bit."""
    return dict(os.environ, OMP_NUM_THREADS="1")


def run_attention(
    *args: str | Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python -m attention ARGS`` in the repository root, its output captured as text; never raises on failure."""
    return subprocess.run(
        [sys.executable, "-m", "attention", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
