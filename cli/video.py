"""``python -m attention video IN --out OUT.mp4|OUT.gif``: a video with each frame's attention drawn on it.

Next to the video it writes ``OUT.json``: each analysed frame's prediction
and per-layer statistics, and the seconds spent decoding, analysing, drawing
and encoding.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

from attention.display import DEFAULT_COLORMAP, DEFAULT_OPACITY
from attention.errors import InputError
from attention.files import dumps
from models.options import add_model_options, load_model_from

from .options import fraction, int_in

LOGGER = logging.getLogger("attention")
BATCH = 16  # frames per forward pass: faster than one by one, and a few frames' memory at most


def add_parser(commands: Any) -> None:
    video = commands.add_parser("video", help="draw a layer's attention on every frame of a video")
    add_model_options(video)
    video.add_argument("input", metavar="IN", help="a video file in any format FFmpeg reads")
    video.add_argument("--out", type=Path, required=True, help="the annotated video, .mp4 or .gif")
    video.add_argument(
        "--layer", help="the spatial or self-attention layer drawn (default: the deepest spatial, else self-attention)"
    )
    video.add_argument("--every", type=int_in(1, 1000), default=1, help="analyse and write every N-th frame")
    video.add_argument("--max-frames", type=int_in(1, 3000), default=3000, help="stop after this many frames")
    video.add_argument("--colormap", default=DEFAULT_COLORMAP, help="colormap of the overlay")
    video.add_argument("--opacity", type=fraction, default=DEFAULT_OPACITY, help="overlay opacity, 0-1")
    video.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from attention.analysis import Analyzer
    from attention.discovery import require_attention
    from attention.render import check_colormap
    from attention.render_frames import default_layer
    from attention.video import VideoWriter, annotate, check_output, frame_entry, probe, read_frames

    check_colormap(args.colormap)
    check_output(args.out)
    if not args.out.parent.is_dir():
        raise InputError(f"no folder {str(args.out.parent)!r} to write {args.out.name} into")
    info = probe(args.input)
    loaded = load_model_from(args)
    duration = info.seconds or ((info.frames or 0) / info.fps if info.fps else 0.0)
    timings = dict.fromkeys(("decode", "analyse", "draw", "encode"), 0.0)
    frames_out: list[dict[str, Any]] = []
    history: list[tuple[float, float]] = []
    writer = VideoWriter(args.out, info.fps / args.every)
    layer = args.layer
    total = min(args.max_frames, -(-info.frames // args.every)) if info.frames else None
    with Analyzer(loaded.model, loaded.classes, loaded.preprocessing, loaded.name) as analyzer:
        require_attention(analyzer.layer_names, loaded.name, loaded.model)
        if layer is not None and layer not in analyzer.spatial_layer_names + analyzer.token_layer_names:
            raise InputError(f"{layer!r} is not a spatial or self-attention layer of {loaded.name}")
        progress = tqdm(total=total, desc="video", unit="frame", disable=None)
        batch: list[Any] = []
        started = time.perf_counter()

        def flush() -> None:
            nonlocal layer
            moment = time.perf_counter()
            analyses = analyzer.analyze([frame.image for frame in batch], names=[str(f.index) for f in batch])
            timings["analyse"] += time.perf_counter() - moment
            for frame, analysis in zip(batch, analyses):
                if layer is None:
                    layer = default_layer(analysis)
                best, probability = analysis.top(1)[0]
                history.append((frame.seconds, probability))
                moment = time.perf_counter()
                picture = annotate(analysis, layer, history, duration or frame.seconds, args.colormap, args.opacity)
                timings["draw"] += time.perf_counter() - moment
                moment = time.perf_counter()
                writer.write(picture)
                timings["encode"] += time.perf_counter() - moment
                frames_out.append(frame_entry(frame, analysis))
            progress.update(len(batch))
            batch.clear()

        try:
            moment = time.perf_counter()
            for frame in read_frames(args.input, args.every, args.max_frames):
                timings["decode"] += time.perf_counter() - moment
                batch.append(frame)
                if len(batch) == BATCH:
                    flush()
                moment = time.perf_counter()
            if batch:
                flush()
            moment = time.perf_counter()
            writer.close()
            timings["encode"] += time.perf_counter() - moment
        finally:
            progress.close()
    total_s = time.perf_counter() - started
    document = {
        "checkpoint": loaded.name,
        "video": str(args.input),
        "layer": layer,
        "every": args.every,
        "fps": {"input": round(info.fps, 6), "output": round(info.fps / args.every, 6)},
        "timings": {**{key: round(value, 4) for key, value in timings.items()}, "total": round(total_s, 4)},
        "frames": frames_out,
    }
    args.out.with_suffix(".json").write_text(dumps(document) + "\n", encoding="utf-8")
    sys.stdout.write(
        f"{args.out} and {args.out.with_suffix('.json').name}: {len(frames_out)} frames, "
        f"{len(frames_out) / max(total_s, 1e-9):.1f} frames/s (decode {timings['decode']:.2f} s, "
        f"analyse {timings['analyse']:.2f} s, draw {timings['draw']:.2f} s, encode {timings['encode']:.2f} s)\n"
    )
    return 0
