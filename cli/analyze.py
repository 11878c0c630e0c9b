"""``python -m attention analyze``: every attention layer of a model on images, as JSON or PNG figures."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import torch

from attention.display import DEFAULT_COLORMAP, DEFAULT_OPACITY, DEFAULT_TOP_K, MAX_TOP_K
from attention.errors import InputError
from attention.files import dumps, safe_stem
from models.options import add_model_options, load_model_from

from .options import BATCH_SIZE_RANGE, DEFAULT_WORKERS, check_layer, check_out_folder, fraction, int_in, unread_line

LOGGER = logging.getLogger("attention")
MAX_IMAGES = 1_000_000  # what one command lists; a larger collection is analysed in parts


def add_parser(commands: Any) -> None:
    analyze = commands.add_parser("analyze", help="record every attention layer for one or more images")
    add_model_options(analyze)
    analyze.add_argument(
        "images",
        nargs="*",
        metavar="IMAGE",
        help="image files in any format Pillow reads, or folders of them (a subfolder named after a class labels "
        "its images)",
    )
    analyze.add_argument(
        "--list-layers",
        action="store_true",
        help="list the attention layers found and the modules that looked like gates but were rejected, "
        "with the reason, and stop (with --json: as JSON)",
    )
    analyze.add_argument("--out", type=Path, help="write PNG figures for every image into this folder")
    analyze.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    analyze.add_argument(
        "--batch-size",
        type=int_in(*BATCH_SIZE_RANGE),
        default=32,
        help=f"images per forward pass, {BATCH_SIZE_RANGE[0]}-{BATCH_SIZE_RANGE[1]} "
        "(fewer for a model whose activations would not fit the memory budget)",
    )
    analyze.add_argument("--colormap", default=DEFAULT_COLORMAP, help="colormap of the mask overlays")
    analyze.add_argument("--opacity", type=fraction, default=DEFAULT_OPACITY, help="overlay opacity, 0-1")
    analyze.add_argument("--stretch", action="store_true", help="stretch each mask to its own min-max")
    analyze.add_argument(
        "--top-k",
        type=int_in(1, MAX_TOP_K),
        default=DEFAULT_TOP_K,
        help=f"channels highlighted in the bar charts, 1-{MAX_TOP_K} (all, in a narrower layer)",
    )
    analyze.add_argument(
        "--ablate",
        choices=("identity", "mean"),
        help="also run each attention layer switched off (identity: the layer passes its input "
        "through, or a self-attention branch adds nothing; mean: its gate replaced by the gate's mean, "
        "or every token gets the branch's mean output) and report the new prediction per layer",
    )
    analyze.add_argument(
        "--ablate-heads",
        action="store_true",
        help="with --ablate: also switch off each head of every self-attention layer alone (one pass per head)",
    )
    analyze.add_argument(
        "--full-attention",
        action="store_true",
        help="keep every head's whole attention matrix of each self-attention layer in the JSON "
        "(by default: the class token's row per head, which the views draw)",
    )
    analyze.add_argument(
        "--target",
        metavar="LABEL",
        help="with --ablate: report delta as the change in this class's probability (default: the prediction)",
    )
    analyze.add_argument(
        "--report",
        type=Path,
        metavar="OUT.html",
        help="write one static HTML page: a sortable table of the images with prediction, confidence and each "
        "layer's statistic, misclassified first in a labelled folder, thumbnails in OUT_files/",
    )
    analyze.add_argument(
        "--layer", help="the layer drawn over the report's thumbnails (default: the deepest one with a map)"
    )
    analyze.add_argument(
        "--workers",
        type=int_in(0, 64),
        default=DEFAULT_WORKERS,
        help=f"processes that decode images while the model runs (default {DEFAULT_WORKERS}; 0: none)",
    )
    analyze.set_defaults(run=run)


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
        overlay = render.overlay(
            analysis.image, layer.mask, args.colormap, args.opacity, args.stretch, view=analysis.view
        )
        overlay.save(path)
        written.append(path)
    for layer in analysis.channel_layers:
        path = out / f"{stem}_{safe_stem(layer.name)}_weights.png"
        render.channel_bar_chart(layer, top_k=args.top_k).savefig(path)
        written.append(path)
    for layer in analysis.branch_layers:
        path = out / f"{stem}_{safe_stem(layer.name)}_branches.png"
        render.branch_weights_chart(layer).savefig(path)
        written.append(path)
    if analysis.token_layers:
        from attention import render_tokens

        for layer in analysis.token_layers:
            if layer.grid is None:
                continue
            path = out / f"{stem}_{safe_stem(layer.name)}_heads.png"
            render_tokens.heads_image(analysis, layer.name, args.colormap, args.opacity, args.stretch).save(path)
            written.append(path)
        if analysis.rollout() is not None:
            path = out / f"{stem}_rollout.png"
            render_tokens.rollout_image(analysis, args.colormap, args.opacity, args.stretch).save(path)
            written.append(path)
    if analysis.ablations:
        from attention import render_debug

        path = out / f"{stem}_ablation.png"
        render_debug.ablation_chart(analysis.ablations, analysis.ablations[0]["target"]).savefig(path)
        written.append(path)
    return written


def list_layers(name: str, discovery: dict[str, Any], as_json: bool) -> int:
    """``--list-layers``: what the recorder found in the model and what it turned down; exit 0 either way."""
    from attention.discovery import discovery_lines

    if as_json:
        sys.stdout.write(dumps({"checkpoint": name, "discovery": discovery}) + "\n")
    else:
        sys.stdout.write(f"{name}\n" + "".join(f"{line}\n" for line in discovery_lines(discovery)))
    return 0


class ImageFiles(torch.utils.data.Dataset):
    """(path, image, why) per file: decoded in a loader's worker, or the one-line reason it could not be."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[str, Any, str | None]:
        from attention.images import load_image

        try:
            return self.paths[index], load_image(self.paths[index]), None
        except InputError as error:
            return self.paths[index], None, str(error)


def listed_images(given: list[str], classes: list[str]) -> list[tuple[str, str | None, bool]]:
    """(path, label, found in a folder) for each image named or found under a named folder, in a stable order.

    A folder's images are labelled by the subfolder they sit in when that
    subfolder is named after one of the model's classes.
    """
    from attention.images import IMAGE_SUFFIXES

    items: list[tuple[str, str | None, bool]] = []
    for name in given:
        folder = Path(name)
        if not folder.is_dir():
            items.append((name, None, False))
            continue
        found = sorted(
            path
            for path in folder.rglob("*")
            if path.suffix.lower() in IMAGE_SUFFIXES
            and not any(part.startswith(".") for part in path.relative_to(folder).parts)
            and path.is_file()
        )
        if not found:
            raise InputError(f"{folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES)[:5])}, ...)")
        for path in found:
            parts = path.relative_to(folder).parts
            label = parts[0] if len(parts) > 1 and parts[0] in classes else None
            items.append((str(path), label, True))
        if len(items) > MAX_IMAGES:
            raise InputError(f"more than {MAX_IMAGES:,} images; analyse them in parts")
    return items


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from attention.analysis import Analyzer, analysis_to_dict, build_document, class_index
    from attention.discovery import require_attention
    from attention.errors import ImageInputError
    from attention.render import check_colormap
    from models.checkpoint import images_per_pass

    check_colormap(args.colormap)
    if not args.images and not args.list_layers:
        raise InputError("give at least one image or folder, or --list-layers")
    if args.ablate_heads and args.ablate is None:
        raise InputError("--ablate-heads switches off heads in the way --ablate says; give --ablate identity or mean")
    if args.target is not None and args.ablate is None:
        raise InputError("--target LABEL picks the class whose probability --ablate reports; give --ablate too")
    if args.out is not None:
        check_out_folder(args.out)
    if args.report is not None:
        if args.report.is_dir():
            raise InputError(
                f"--report {args.report} is a folder; name the page, such as {args.report / 'report.html'}"
            )
        check_out_folder(args.report.parent)
    loaded = load_model_from(args)
    if args.target is not None:
        class_index(loaded.classes, args.target)  # an unknown label is refused before any image is read
    items = listed_images(args.images, list(loaded.classes))
    batch_size = min(args.batch_size, images_per_pass(loaded))
    if batch_size < args.batch_size:
        LOGGER.info("%s: %d images per pass keep the activations within the memory budget", loaded.name, batch_size)
    results: list[dict[str, Any]] = []
    stems: set[str] = set()
    labels = {path: label for path, label, _ in items}
    in_folder = {path for path, _, found in items if found}
    with Analyzer(loaded.model, loaded.classes, loaded.preprocessing, loaded.name) as analyzer:
        if args.list_layers:
            return list_layers(loaded.name, analyzer.discovery, args.json)
        require_attention(analyzer.layer_names, loaded.name, loaded.model)
        if args.layer is not None:
            check_layer(loaded.name, analyzer.layer_names, args.layer)
        report = None
        if args.report is not None:
            from attention.report import BatchReport

            report = BatchReport(args.report, args.layer, args.colormap, args.opacity)
        paths = [path for path, _, _ in items]
        # Files are decoded by the loader's workers while the model runs; one batch in memory at a time.
        loader = torch.utils.data.DataLoader(
            ImageFiles(paths),
            batch_size=batch_size,
            num_workers=args.workers if len(paths) > batch_size else 0,
            collate_fn=list,
        )
        progress = tqdm(total=len(paths), desc="analyze", unit="img", leave=False, disable=None)
        index = 0
        for batch in loader:
            unread = [(path, why) for path, image, why in batch if image is None]
            for path, why in unread:
                if path not in in_folder:
                    raise ImageInputError(why)  # a file named on the command line must be read
                line = unread_line(path, str(why))
                sys.stderr.write(f"skipped {line}\n")
                if report is not None:
                    report.skipped.append(line)
            read = [(path, image) for path, image, why in batch if image is not None]
            analyses = analyzer.analyze(
                [image for _, image in read],
                names=[path for path, _ in read],
                batch_size=batch_size,
                ablate=args.ablate,
                target=args.target,
                attention="full" if args.full_attention else "means",
                ablate_heads=args.ablate_heads,
            )
            for analysis, (path, _) in zip(analyses, read):
                if args.json:
                    results.append(analysis_to_dict(analysis, image=path))
                else:
                    write_summary(analysis_to_dict(analysis, image=path))
                if report is not None:
                    report.add(analysis, path, labels[path])
                if args.out is not None:
                    stem = safe_stem(Path(path).stem)
                    if stem in stems:
                        stem = f"{stem}_{index}"
                    stems.add(stem)
                    write_figures(analysis, args.out, stem, args)
                index += 1
            progress.update(len(batch))
        progress.close()
    if report is not None:
        report.write(loaded.name)
    if args.json:
        document = build_document(loaded.name, loaded.classes, results, loaded.preprocessing, analyzer.discovery)
        if "weights" in loaded.config:
            document["weights"] = loaded.config["weights"]  # which entry of the file was read, and what was left out
        sys.stdout.write(dumps(document) + "\n")  # strict JSON: dumps refuses NaN and infinity
    else:
        if args.out is not None:
            sys.stdout.write(f"figures written to {args.out}\n")
        if report is not None:
            sys.stdout.write(f"report written to {args.report}\n")
    return 0


def write_summary(result: dict[str, Any]) -> None:
    """One image's lines of the plain-text output, written as soon as the image is done."""
    from attention.ablation import switched_off

    top = ", ".join(f"{t['label']} {t['probability']:.1%}" for t in result["top"][:3])
    sys.stdout.write(f"{result['image']}: {top}\n")
    for entry in result.get("ablations", []):
        best = entry["prediction"]
        sys.stdout.write(
            f"  without {switched_off(entry)} ({entry['mode']}): {best['label']} {best['probability']:.1%}, "
            f"change in p({entry['target']}) {entry['delta']:+.4f}\n"
        )
