"""``python -m attention explain IMAGE --layer NAME --out DIR | --slides DIR``: one layer worked out step by step.

``--out`` writes one sheet of every step per layer; ``--slides`` writes one
1920x1080 slide per step (``step-01.png`` ...) and ``slides.pdf`` with them all.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from attention.errors import InputError
from attention.files import safe_stem
from models.options import add_model_options, load_model_from

from .options import check_layer, check_out_folder


def add_parser(commands: Any) -> None:
    explain = commands.add_parser("explain", help="show how one attention layer computes its weights, step by step")
    add_model_options(explain)
    explain.add_argument("image", metavar="IMAGE", help="an image file in any format Pillow reads")
    explain.add_argument("--layer", help="the layer's name (default: the first); 'all' for every layer")
    explain.add_argument("--out", type=Path, help="write one PNG of every step per layer into this folder")
    explain.add_argument(
        "--slides",
        type=Path,
        metavar="DIR",
        help="write 1920x1080 slides, one per step (DIR/step-01.png ...), and DIR/slides.pdf "
        "(with --layer all, one subfolder per layer)",
    )
    explain.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from attention.analysis import Analyzer
    from attention.discovery import require_attention
    from attention.explain import EXPLAINED_KINDS, check_explained, explain_layer
    from attention.images import load_image
    from attention.render_explain import slide_figure, write_slides

    if args.out is None and args.slides is None:
        raise InputError("say where to write: --out DIR (one sheet per layer) or --slides DIR (1920x1080 slides)")
    for folder in (args.out, args.slides):
        if folder is not None:
            check_out_folder(folder)
    loaded = load_model_from(args)
    image = load_image(args.image)
    with Analyzer(loaded.model, loaded.classes, loaded.preprocessing, loaded.name) as analyzer:
        names = analyzer.layer_names
        require_attention(names, loaded.name, loaded.model)
        kinds = {name: adapter.kind for name, _, adapter in analyzer.layers}
        if args.layer == "all":
            for name in names:
                if kinds[name] not in EXPLAINED_KINDS:
                    sys.stderr.write(f"skipped {name}: not a kind the step-by-step view works through\n")
            wanted = [name for name in names if kinds[name] in EXPLAINED_KINDS]
            if not wanted:
                check_explained(names[0], kinds[names[0]])
        else:
            wanted = [args.layer or next((name for name in names if kinds[name] in EXPLAINED_KINDS), names[0])]
        for name in wanted:
            check_layer(loaded.name, names, name)
            check_explained(name, kinds[name])
        (analysis,) = analyzer.analyze([image], names=[args.image], feature_layer=wanted)
    modules = dict(loaded.model.named_modules())
    stem = safe_stem(Path(args.image).stem)
    for name in wanted:
        layer = analysis.layer(name)
        explanation = explain_layer(
            name, modules[name], layer.kind, analysis.feature_maps[name], layer.gate, getattr(layer, "layout", None)
        )
        missing = ", ".join(step.key for step in explanation.missing)
        note = f" (not shown for this module: {missing})" if missing else ""
        if args.out is not None:
            path = args.out / f"{stem}_{safe_stem(name)}_explain.png"
            slide_figure(explanation).savefig(path)
            sys.stdout.write(f"{path}{note}\n")
        if args.slides is not None:
            folder = args.slides if len(wanted) == 1 else args.slides / safe_stem(name)
            written = write_slides(explanation, folder)
            sys.stdout.write(f"{len(written) - 1} slides and {written[-1]}{note}\n")
    return 0
