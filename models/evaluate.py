"""Evaluate a checkpoint: accuracy, confusion matrix, and whether its spatial attention finds the object.

The command behind ``python -m models.evaluate``; the work is done in
``models.evaluation`` (the run, the localization scores, Grad-CAM, the report).

Usage::

    python -m models.evaluate CHECKPOINT [--dataset NAME] [--split test] [--limit N]
        [--batch-size 128] [--curves] [--curve-steps 16] [--json OUT.json] [--data-root DIR] [--no-progress]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from attention.errors import InputError

from .checkpoint import load_checkpoint
from .evaluation import evaluate_checkpoint, format_report, json_ready


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m models.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", help="checkpoint path or shipped name (shapes, fashion)")
    parser.add_argument(
        "--dataset",
        help="dataset to evaluate on (default: the one the checkpoint was trained on); shapes-heldout: 300 "
        "pictures (or --limit) from an independent renderer, scored per background kind; shapes-camera: 300 "
        "drawings as a webcam sees them, by size band, hand and class; shapes-sealed to shapes-sealed-19: 400 "
        "pictures each of nineteen more renderers (matplotlib paths, OpenCV, matplotlib's Agg patches, torch implicit "
        "functions, scipy-filled traced outlines, even-odd fills and stamped brushes, exact area coverage through a "
        "Bayer sensor, triangle meshes rasterised by edge functions through a phone's camera, "
        "polar radius rules on surfaces with cells of a shape's size, outlines walked and filled as holes, SVG paths "
        "filled by scanlines and held up to a webcam, hand-traced outlines coloured in by hatching and seen by a "
        "phone, stickers, felt, toy blocks, biscuits and patches cut to exact signed distances and seen by a webcam "
        "through a barrel lens, card, halftone, foam and inkjet outlines filled by their winding number and seen by "
        "a flatbed scanner, plasticine, acrylic, laminated card and fuse beads made of discs and half-planes, "
        "settled cell by cell by interval bounds and seen by a classroom document camera, sand, sequins, sweets and "
        "bead necklaces heaped of small discs at random and ray-cast through a shop's CCTV fisheye, playground paint, "
        "tarpaulins, flower beds and painted lines on open ground drawn from their Fourier transform and seen by a "
        "drone, glazed ceramic, brushed metal, velvet and rope contoured by marching squares on their signed "
        "distance and shot on 35 mm film and scanned, gold leaf, sponge paint, knitting and bent wire fanned into "
        "triangles clipped to each pixel by Sutherland-Hodgman and photographed through a shop window), by background, "
        "size band and class, each to be run once per trained model; all test split only",
    )
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--limit", type=int, help="evaluate only the first N images")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--curves", action="store_true", help="also deletion and insertion curves of every map (34 passes per map)"
    )
    parser.add_argument("--curve-steps", type=int, default=16, help="steps of the curves (default 16)")
    parser.add_argument("--json", dest="json_path", help="also write every number to this JSON file")
    parser.add_argument("--data-root", help="dataset folder (Fashion-MNIST IDX files, or an image folder)")
    parser.add_argument("--no-progress", action="store_true", help="hide tqdm bars")
    parser.add_argument("--verbose", action="store_true", help="log progress details to stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if not args.verbose:
        # Its warnings repeat what the CheckpointError says; a failed load must be one line.
        logging.getLogger("models.checkpoint").setLevel(logging.ERROR)
    json_path = Path(args.json_path) if args.json_path else None
    try:
        if json_path is not None:
            # Fail before a long evaluation, not after it, when the report cannot be written.
            try:
                json_path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise InputError(f"cannot write {json_path}: {error.strerror or error}") from error
        loaded = load_checkpoint(args.checkpoint)
        result = evaluate_checkpoint(
            loaded,
            args.dataset,
            args.split,
            args.limit,
            args.batch_size,
            not args.no_progress,
            data_root=args.data_root,
            curves=args.curves,
            curve_steps=args.curve_steps,
        )
        if json_path is not None:
            try:
                json_path.write_text(json.dumps(json_ready(result), indent=2) + "\n")
            except OSError as error:
                raise InputError(f"cannot write {json_path}: {error.strerror or error}") from error
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_report(result))
    if json_path is not None:
        print(f"\nwrote {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
