"""Make ``docs/live.gif``, the README's picture of live attention: ``attention video`` on a drawn clip.

    .venv/bin/python scripts/make_live_gif.py

The clip is a star that drifts and turns into a cross (``tests/clips.py``),
40 frames at 10 per second; every second frame is drawn with the shipped
shapes model's first spatial layer, its label and the time bar.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cli  # noqa: E402
from tests.clips import star_then_cross  # noqa: E402

OUT = ROOT / "docs" / "live.gif"


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        frames = [image for _, image in star_then_cross(40)]
        clip = Path(folder) / "star_then_cross.gif"
        frames[0].save(clip, save_all=True, append_images=frames[1:], duration=100, loop=0)
        out = Path(folder) / "live.gif"
        code = cli.main(
            ["video", str(clip), "--out", str(out), "--every", "2", "--layer", "stages.0.0.attention.spatial"]
        )
        if code == 0:
            OUT.write_bytes(out.read_bytes())
            print(f"{OUT.relative_to(ROOT)}: {OUT.stat().st_size / 1024:.0f} KB")
    return code


if __name__ == "__main__":
    sys.exit(main())
