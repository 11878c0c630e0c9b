"""``python -m attention analyze``: the command line entry point; attention of a model on images, as JSON or PNGs.

Bad input of any kind exits with code 2 and one line on stderr, because this
command is run by people and by scripts, and neither wants a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from attention.errors import InputError
from attention.files import dumps, safe_stem

LOGGER = logging.getLogger("attention")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m attention", description="Show what the attention modules of a CNN do to images."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    analyze = commands.add_parser("analyze", help="record every attention layer for one or more images")
    analyze.add_argument("images", nargs="+", metavar="IMAGE", help="image files in any format Pillow reads")
    analyze.add_argument(
        "--model",
        "--checkpoint",
        dest="model",
        default=None,
        metavar="SPEC",
        help="shapes, fashion, a checkpoint path, timm:NAME, torchvision:NAME, ecanet:NAME, "
        "or your own factory as path/to/file.py:FUNCTION or package.module:FUNCTION",
    )
    analyze.add_argument(
        "--weights", type=Path, help="weights file for --model (.pt, .pth, .pth.tar, .ckpt, .safetensors...)"
    )
    analyze.add_argument("--classes", type=Path, help="class names: one a line, or a JSON list")
    analyze.add_argument("--input-size", type=int, nargs="+", metavar="PX", help="model input side, or height width")
    analyze.add_argument("--channels", type=int, help="model input channels, 1 or 3")
    analyze.add_argument("--mean", type=float, nargs="+", help="normalisation mean, one value or one per channel")
    analyze.add_argument("--std", type=float, nargs="+", help="normalisation std, one value or one per channel")
    analyze.add_argument("--out", type=Path, help="write PNG figures for every image into this folder")
    analyze.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    analyze.add_argument("--batch-size", type=int, default=32, help="images per forward pass")
    analyze.add_argument("--colormap", default="jet", help="colormap of the mask overlays")
    analyze.add_argument("--opacity", type=float, default=0.5, help="overlay opacity, 0-1")
    analyze.add_argument("--stretch", action="store_true", help="stretch each mask to its own min-max")
    analyze.add_argument("--top-k", type=int, default=5, help="channels highlighted in the bar charts")
    analyze.add_argument("-v", "--verbose", action="store_true", help="log progress on stderr")
    return parser


def write_figures(analysis: Any, out: Path, stem: str, args: argparse.Namespace) -> list[Path]:
    from attention import render

    out.mkdir(parents=True, exist_ok=True)
    written = []
    path = out / f"{stem}_summary.png"
    render.save_report(
        analysis, str(path), colormap=args.colormap, opacity=args.opacity, stretch=args.stretch, top_k=args.top_k
    )
    written.append(path)
    for layer in analysis.spatial_layers:
        path = out / f"{stem}_{safe_stem(layer.name)}_overlay.png"
        render.overlay(analysis.image, layer.mask, args.colormap, args.opacity, args.stretch).save(path)
        written.append(path)
    for layer in analysis.channel_layers:
        path = out / f"{stem}_{safe_stem(layer.name)}_weights.png"
        render.channel_bar_chart(layer, top_k=args.top_k).savefig(path)
        written.append(path)
    return written


def run_analyze(args: argparse.Namespace) -> int:
    from attention.analysis import Analyzer, analysis_to_dict, build_document
    from attention.images import load_image
    from models.specs import load_model

    if not 0.0 <= args.opacity <= 1.0:
        raise InputError("--opacity must be between 0 and 1")
    if args.batch_size < 1:
        raise InputError("--batch-size must be at least 1")
    from attention.render import COLORMAPS

    if args.colormap not in COLORMAPS:
        raise InputError(f"unknown colormap {args.colormap!r}; choose one of {', '.join(COLORMAPS)}")
    overrides = {"input_size": args.input_size, "channels": args.channels, "mean": args.mean, "std": args.std}
    loaded = load_model(args.model, args.weights, args.classes, overrides, allow_code=True)
    images = [load_image(path) for path in args.images]
    with Analyzer(loaded.model, loaded.classes, loaded.preprocessing, loaded.name) as analyzer:
        analyses = analyzer.analyze(images, names=list(args.images), batch_size=args.batch_size)
    results = [analysis_to_dict(a, image=path) for a, path in zip(analyses, args.images)]
    if args.out is not None:
        stems: set[str] = set()
        for index, analysis in enumerate(analyses):
            stem = safe_stem(Path(analysis.name).stem)
            if stem in stems:
                stem = f"{stem}_{index}"
            stems.add(stem)
            write_figures(analysis, args.out, stem, args)
    if args.json:
        document = build_document(loaded.name, loaded.classes, results)
        sys.stdout.write(dumps(document) + "\n")
    else:
        for result in results:
            top = ", ".join(f"{t['label']} {t['probability']:.1%}" for t in result["top"][:3])
            sys.stdout.write(f"{result['image']}: {top}\n")
        if args.out is not None:
            sys.stdout.write(f"figures written to {args.out}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        if args.command == "analyze":
            return run_analyze(args)
    except InputError as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    except OSError as error:
        sys.stderr.write(f"error: {error.strerror or error} ({getattr(error, 'filename', '') or ''})\n")
        return 2
    return 1
