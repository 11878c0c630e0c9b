"""``python -m attention analyze``: the command line entry point; attention of a model on images, as JSON or PNGs.

Bad input of any kind exits with code 2 and one line on stderr, because this
command is run by people and by scripts, and neither wants a traceback. That
includes bad options: argparse's usage block is replaced by one ``error:`` line.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any, NoReturn

from attention.errors import InputError
from attention.files import dumps, safe_stem

LOGGER = logging.getLogger("attention")

TOP_K_RANGE = (1, 16)  # channels highlighted per bar chart; more than 16 labels no longer read
BATCH_SIZE_RANGE = (1, 256)


class _OneLineParser(argparse.ArgumentParser):
    """argparse, with its errors as one ``error:`` line (exit 2) instead of a usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {' '.join(message.split())}\n")


def _int_in(low: int, high: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range; give {low} to {high}")
        return value

    return parse


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text} is out of range; give 0 to 1")
    return value


def _build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="python -m attention", description="Show what the attention modules of a CNN do to images."
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)
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
    analyze.add_argument(
        "--batch-size",
        type=_int_in(*BATCH_SIZE_RANGE),
        default=32,
        help=f"images per forward pass, {BATCH_SIZE_RANGE[0]}-{BATCH_SIZE_RANGE[1]} "
        "(fewer for a model whose activations would not fit the memory budget)",
    )
    analyze.add_argument("--colormap", default="jet", help="colormap of the mask overlays")
    analyze.add_argument("--opacity", type=_fraction, default=0.5, help="overlay opacity, 0-1")
    analyze.add_argument("--stretch", action="store_true", help="stretch each mask to its own min-max")
    analyze.add_argument(
        "--top-k",
        type=_int_in(*TOP_K_RANGE),
        default=5,
        help=f"channels highlighted in the bar charts, {TOP_K_RANGE[0]}-{TOP_K_RANGE[1]} (all, in a narrower layer)",
    )
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


def check_out_folder(out: Path) -> None:
    """Fail before any analysis when ``--out`` cannot take files, rather than after the work is done."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as error:
        raise InputError(f"cannot write figures to --out {out}: {error.strerror or error}") from error


def run_analyze(args: argparse.Namespace) -> int:
    from attention.analysis import Analyzer, analysis_to_dict, build_document
    from attention.images import load_image
    from attention.render import COLORMAPS
    from models.checkpoint import images_per_pass
    from models.specs import load_model

    if args.colormap not in COLORMAPS:
        raise InputError(f"unknown colormap {args.colormap!r}; choose one of {', '.join(COLORMAPS)}")
    overrides = {"input_size": args.input_size, "channels": args.channels, "mean": args.mean, "std": args.std}
    if args.out is not None:
        check_out_folder(args.out)
    loaded = load_model(args.model, args.weights, args.classes, overrides, allow_code=True)
    batch_size = min(args.batch_size, images_per_pass(loaded))
    if batch_size < args.batch_size:
        LOGGER.info("%s: %d images per pass keep the activations within the memory budget", loaded.name, batch_size)
    results: list[dict[str, Any]] = []
    stems: set[str] = set()
    with Analyzer(loaded.model, loaded.classes, loaded.preprocessing, loaded.name) as analyzer:
        if not analyzer.layer_names:
            raise InputError(f"{loaded.name} has no attention layers to show")
        # One batch of images in memory at a time, however many paths were given.
        for start in range(0, len(args.images), batch_size):
            paths = args.images[start : start + batch_size]
            analyses = analyzer.analyze([load_image(path) for path in paths], names=paths, batch_size=batch_size)
            for index, (analysis, path) in enumerate(zip(analyses, paths), start=start):
                results.append(analysis_to_dict(analysis, image=path))
                if args.out is not None:
                    stem = safe_stem(Path(path).stem)
                    if stem in stems:
                        stem = f"{stem}_{index}"
                    stems.add(stem)
                    write_figures(analysis, args.out, stem, args)
    if args.json:
        document = build_document(loaded.name, loaded.classes, results)
        sys.stdout.write(dumps(document) + "\n")  # strict JSON: dumps refuses NaN and infinity
    else:
        for result in results:
            top = ", ".join(f"{t['label']} {t['probability']:.1%}" for t in result["top"][:3])
            sys.stdout.write(f"{result['image']}: {top}\n")
        if args.out is not None:
            sys.stdout.write(f"figures written to {args.out}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 done, 2 bad input or options (one ``error:`` line on stderr), 1 a bug (one line too)."""
    try:
        args = _build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, or one error line already written
        return exit_.code if isinstance(exit_.code, int) else 2
    verbose = getattr(args, "verbose", False)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.captureWarnings(True)  # library warnings go through logging, so stderr stays one line
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")  # file names that are not valid UTF-8
    try:
        return run_analyze(args)
    except InputError as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    except OSError as error:
        filename = getattr(error, "filename", None)
        where = f" ({filename})" if filename else ""
        sys.stderr.write(f"error: {' '.join(str(error.strerror or error).split())}{where}\n")
        return 2
    except MemoryError:
        sys.stderr.write("error: out of memory; try fewer images per pass (--batch-size) or a smaller model\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    except Exception as error:  # a bug: still one line for the user, the traceback with -v
        if verbose:
            LOGGER.exception("internal error")
        reason = " ".join(str(error).split())[:200]
        sys.stderr.write(f"error: internal error ({type(error).__name__}: {reason}); -v shows the traceback\n")
        return 1
