"""``attention video`` on the shipped shapes model: frames per second, and its cost against plain passes.

    .venv/bin/python benchmarks/bench_video.py [--frames 200] [--size 320x240]

Makes a clip of a star sliding and turning across a green field (H.264), runs the
command on it in this process, and times the same decoded frames through
plain batched forward passes (16 frames a pass, as the command batches them),
each batch resized and normalised as the model is fed.
Issue 28's target: the command's cost is at most 1.5x the plain passes plus
decoding and encoding; the figures of each part are printed.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import av  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

import cli  # noqa: E402
from models.checkpoint import load_checkpoint  # noqa: E402


def star(centre: tuple[float, float], radius: float, turn: float = 0.0) -> list[tuple[float, float]]:
    """A five-pointed star's ten corners, turned by ``turn`` degrees."""
    corners = []
    for index in range(10):
        angle = math.radians(turn - 90 + 36 * index)
        reach = radius if index % 2 == 0 else radius * 0.45
        corners.append((centre[0] + reach * math.cos(angle), centre[1] + reach * math.sin(angle)))
    return corners


def make_clip(path: Path, frames: int, size: tuple[int, int]) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for index in range(frames):
            image = Image.new("RGB", size, (30, 120, 40))
            x = size[0] * (0.15 + 0.7 * index / max(frames - 1, 1))
            ImageDraw.Draw(image).polygon(star((x, size[1] / 2), size[1] / 4, turn=index * 3), fill=(240, 220, 20))
            for packet in stream.encode(av.VideoFrame.from_image(image)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--size", default="320x240")
    args = parser.parse_args()
    size = tuple(int(side) for side in args.size.split("x"))
    with tempfile.TemporaryDirectory() as folder:
        source, out = Path(folder) / "clip.mp4", Path(folder) / "out.mp4"
        make_clip(source, args.frames, size)  # type: ignore[arg-type]
        start = time.perf_counter()
        with av.open(str(source)) as container:
            images = [frame.to_image().convert("RGB") for frame in container.decode(video=0)]
        decode = time.perf_counter() - start
        loaded = load_checkpoint("shapes")
        with torch.inference_mode():
            loaded.model(loaded.preprocessing.batch(images[:16]))  # warm-up
            start = time.perf_counter()
            for index in range(0, len(images), 16):  # resized and normalised as the model is fed, then the pass
                loaded.model(loaded.preprocessing.batch(images[index : index + 16]))
        plain = time.perf_counter() - start
        assert cli.main(["video", str(source), "--out", str(out)]) == 0
        timings = json.loads(out.with_suffix(".json").read_text())["timings"]
    frames = args.frames
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {frames} frames of {args.size}, shapes model")
    print(f"video command: {timings['total']:.2f} s, {frames / timings['total']:.1f} frames/s")
    for part in ("decode", "analyse", "draw", "encode"):
        print(f"  {part:8s} {timings[part]:7.2f} s")
    print(f"plain batched forward passes of the same frames: {plain:.2f} s (decoding alone {decode:.2f} s)")
    budget = 1.5 * plain + timings["decode"] + timings["encode"]
    spent = timings["analyse"] + timings["draw"] + timings["decode"] + timings["encode"]
    verdict = "met" if spent <= budget else "MISSED"
    print(f"cost {spent:.2f} s against 1.5 x plain + decode + encode = {budget:.2f} s: {verdict}")


if __name__ == "__main__":
    main()
