"""``attention video`` on the shipped shapes model: frames per second, and its cost against plain passes.

    .venv/bin/python benchmarks/bench_video.py [--frames 200] [--size 320x240]

Makes a clip of a star sliding and turning across a green field (H.264), runs the
command on it in this process, and runs the same frames through a plain
pipeline: decoded with PyAV, through plain batched forward passes (16 frames a
pass, as the command batches them, each batch resized and normalised as the
model is fed), and encoded unannotated at the command's output size with the
same encoder. The two runs alternate, so both see the same machine, and the
encoder's threads compete with the passes in both as they do in use.
Issue 28's target: the command's cost is at most 1.5x the plain passes plus
decoding and encoding, that is, analysing and drawing cost at most 1.5x the
plain passes; each part of both runs is printed.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
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
from attention.video import ENCODER_OPTIONS  # noqa: E402
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


def plain_pipeline(source: Path, out: Path, loaded, size: tuple[int, int]) -> dict[str, float]:  # noqa: ANN001
    """Decode, plain batched passes, encode the frames unannotated at ``size``: the seconds of each part."""
    parts = dict.fromkeys(("decode", "forward", "encode"), 0.0)
    with av.open(str(source)) as reader, av.open(str(out), "w") as writer:
        stream = writer.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = dict(ENCODER_OPTIONS)  # as the command encodes
        batch: list[Image.Image] = []
        moment = time.perf_counter()
        frames = reader.decode(video=0)
        while True:
            frame = next(frames, None)
            if frame is not None:
                batch.append(frame.to_image().convert("RGB"))
            parts["decode"] += time.perf_counter() - moment
            if batch and (len(batch) == 16 or frame is None):
                moment = time.perf_counter()
                with torch.inference_mode():
                    loaded.model(loaded.preprocessing.batch(batch))
                parts["forward"] += time.perf_counter() - moment
                moment = time.perf_counter()
                for image in batch:
                    canvas = Image.new("RGB", size, "white")
                    canvas.paste(image, (0, 0))
                    for packet in stream.encode(av.VideoFrame.from_image(canvas)):
                        writer.mux(packet)
                parts["encode"] += time.perf_counter() - moment
                batch.clear()
            if frame is None:
                break
            moment = time.perf_counter()
        moment = time.perf_counter()
        for packet in stream.encode():
            writer.mux(packet)
        parts["encode"] += time.perf_counter() - moment
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each, alternating; the median is printed")
    args = parser.parse_args()
    size = tuple(int(side) for side in args.size.split("x"))
    loaded = load_checkpoint("shapes")
    commands, plains = [], []
    with tempfile.TemporaryDirectory() as folder:
        source, out = Path(folder) / "clip.mp4", Path(folder) / "out.mp4"
        make_clip(source, args.frames, size)  # type: ignore[arg-type]
        with torch.inference_mode():
            loaded.model(loaded.preprocessing.batch([Image.new("RGB", size)] * 16))  # warm-up
        for _round in range(args.rounds):
            assert cli.main(["video", str(source), "--out", str(out)]) == 0
            timings = json.loads(out.with_suffix(".json").read_text())["timings"]
            commands.append(timings)
            with av.open(str(out)) as container:
                written = container.streams.video[0].codec_context
                output_size = (written.width, written.height)
            plains.append(plain_pipeline(source, Path(folder) / "plain.mp4", loaded, output_size))

    def median(runs: list[dict[str, float]], key: str) -> float:
        return statistics.median(run[key] for run in runs)

    frames = args.frames
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {frames} frames of {args.size}, shapes model")
    print(f"medians of {args.rounds} alternating runs of each")
    total = median(commands, "total")
    print(f"video command: {total:.2f} s, {frames / total:.1f} frames/s")
    for part in ("decode", "analyse", "draw", "encode"):
        print(f"  {part:8s} {median(commands, part):7.2f} s")
    plain_total = sum(median(plains, part) for part in ("decode", "forward", "encode"))
    print(f"plain pipeline: {plain_total:.2f} s, {frames / plain_total:.1f} frames/s")
    for part in ("decode", "forward", "encode"):
        print(f"  {part:8s} {median(plains, part):7.2f} s")
    spent = [run["analyse"] + run["draw"] for run in commands]
    ratios = [s / p["forward"] for s, p in zip(spent, plains)]
    verdict = "met" if statistics.median(ratios) <= 1.5 else "MISSED"
    print(
        f"analysing and drawing against the plain passes: {statistics.median(ratios):.2f}x "
        f"(runs {min(ratios):.2f}-{max(ratios):.2f}x); target at most 1.5x: {verdict}"
    )


if __name__ == "__main__":
    main()
