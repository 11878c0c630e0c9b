"""``python -m attention video IN --out OUT.mp4|OUT.gif``: a video with each frame's attention drawn on it.

Next to the video it writes ``OUT.json``: each analysed frame's prediction
and per-layer statistics, and the seconds spent decoding, analysing, drawing
and encoding.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from attention.display import DEFAULT_COLORMAP, DEFAULT_OPACITY
from attention.errors import InputError
from attention.files import dumps
from models.options import add_model_options, load_model_from

from .options import fraction, int_in

LOGGER = logging.getLogger("attention")


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
    from attention.video import annotate_video, check_output, probe

    check_colormap(args.colormap)
    check_output(args.out)
    if not args.out.parent.is_dir():
        raise InputError(f"no folder {str(args.out.parent)!r} to write {args.out.name} into")
    info = probe(args.input)
    loaded = load_model_from(args)
    total = min(args.max_frames, -(-info.frames // args.every)) if info.frames else None
    with Analyzer(loaded.model, loaded.classes, loaded.preprocessing, loaded.name) as analyzer:
        require_attention(analyzer.layer_names, loaded.name, loaded.model)
        with tqdm(total=total, desc="video", unit="frame", disable=None) as progress:
            document = annotate_video(
                analyzer,
                args.input,
                args.out,
                args.layer,
                args.every,
                args.max_frames,
                args.colormap,
                args.opacity,
                progress=progress.update,
            )
    document["video"] = str(args.input)
    args.out.with_suffix(".json").write_text(dumps(document) + "\n", encoding="utf-8")
    timings, count = document["timings"], len(document["frames"])
    sys.stdout.write(
        f"{args.out} and {args.out.with_suffix('.json').name}: {count} frames, "
        f"{count / max(timings['total'], 1e-9):.1f} frames/s (decode {timings['decode']:.2f} s, "
        f"analyse {timings['analyse']:.2f} s, draw {timings['draw']:.2f} s, encode {timings['encode']:.2f} s)\n"
    )
    return 0
