"""``python -m attention profile``: does each attention layer help, is it active, which channels each class uses."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from attention.errors import InputError
from attention.files import dumps
from models.options import add_model_options, load_model_from

from .options import BATCH_SIZE_RANGE, check_out_folder, int_in

DEFAULT_LIMIT = 500


def add_parser(commands: Any) -> None:
    profile = commands.add_parser("profile", help="profile every attention layer over a labelled dataset")
    add_model_options(profile)
    profile.add_argument(
        "--data", required=True, help="shapes, fashion, or a folder with one subfolder of images per class"
    )
    profile.add_argument(
        "--limit", type=int_in(1, 100_000), default=DEFAULT_LIMIT, help=f"images to use (default {DEFAULT_LIMIT})"
    )
    profile.add_argument("--batch-size", type=int_in(*BATCH_SIZE_RANGE), default=64, help="images per forward pass")
    profile.add_argument("--out", type=Path, help="write profile.md and its figures into this folder")
    profile.add_argument("--json", action="store_true", help="print the profile as one JSON document")
    profile.add_argument(
        "--heads",
        action="store_true",
        help="also switch off each head of every self-attention layer alone, in each mode (one pass per head)",
    )
    profile.set_defaults(run=run)


def _folder_items(folder: Path, classes: Sequence[str], limit: int) -> list[tuple[Path, int]]:
    from attention.images import IMAGE_SUFFIXES

    subfolders = sorted(path for path in folder.iterdir() if path.is_dir() and not path.name.startswith("."))
    if not subfolders:
        raise InputError(f"{folder} has no class subfolders")
    foreign = [path.name for path in subfolders if path.name not in classes]
    if foreign:
        raise InputError(f"{folder}/{foreign[0]} is not one of the model's classes ({', '.join(classes[:8])}, ...)")
    per_class = [
        [
            (path, classes.index(subfolder.name))
            for path in sorted(subfolder.iterdir())
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
        ]
        for subfolder in subfolders
    ]
    if not any(per_class):
        raise InputError(f"{folder} holds no images")
    return stratified(per_class, limit)


def stratified(per_class: Sequence[Sequence[Any]], limit: int) -> list[Any]:
    """Up to ``limit`` items taken from each class in turn, so a class with few images is not drowned by a large one."""
    taken: list[Any] = []
    for rank in range(max(len(items) for items in per_class)):
        for items in per_class:
            if rank < len(items):
                taken.append(items[rank])
                if len(taken) == limit:
                    return taken
    return taken


def _batches(args: argparse.Namespace, loaded: Any) -> tuple[Iterator[tuple[torch.Tensor, torch.Tensor]], int, str]:
    from attention.images import load_image
    from models.datasets import build_dataset
    from models.transforms import eval_transform

    prep = loaded.preprocessing
    folder = Path(args.data).expanduser()
    if args.data in ("shapes", "fashion", "fashion-mnist"):
        dataset = build_dataset(args.data, "test", transform=eval_transform(prep), length=args.limit)
        dataset_classes = list(getattr(dataset, "classes", loaded.classes))
        if dataset_classes != list(loaded.classes):
            raise InputError(f"{loaded.name} predicts other classes than the {args.data} data has")
        count = min(len(dataset), args.limit)
        loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, range(count)), batch_size=args.batch_size)
        return ((inputs, labels) for inputs, labels, *_ in loader), count, args.data
    if not folder.is_dir():
        raise InputError(f"--data {args.data}: not shapes, fashion or a folder")
    items = _folder_items(folder, list(loaded.classes), args.limit)

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, len(items), args.batch_size):
            chunk = items[start : start + args.batch_size]
            images = [load_image(path) for path, _ in chunk]
            yield (
                prep.batch(images),
                torch.tensor([label for _, label in chunk]),
            )

    return batches(), len(items), str(folder)


def run(args: argparse.Namespace) -> int:
    from attention.ablation import ablator_for
    from attention.discovery import require_attention
    from attention.profile import profile_model, write_report
    from attention.recorder import AttentionRecorder, find_attention_layers

    if args.out is not None:
        check_out_folder(args.out)
    loaded = load_model_from(args)
    layers = find_attention_layers(loaded.model)
    require_attention(layers, loaded.name, loaded.model)
    batches, count, data_name = _batches(args, loaded)
    recorder = AttentionRecorder(loaded.model, layers=layers)
    ablator = ablator_for(layers)
    recorder.attach()
    ablator.attach()
    try:
        result = profile_model(
            loaded.model,
            batches,
            loaded.classes,
            recorder,
            ablator,
            model_name=loaded.name,
            data_name=data_name,
            total=count,
            heads=args.heads,
        )
    finally:
        recorder.detach()
        ablator.detach()
    if args.out is not None:
        write_report(result, args.out)
    if args.json:
        sys.stdout.write(dumps(result.to_dict()) + "\n")
    else:
        sys.stdout.write(f"{result.model} on {result.data}: {result.images} images, accuracy {result.accuracy:.2%}\n")
        for layer in result.layers:
            ablated = ", ".join(f"{mode} {value:.2%}" for mode, value in layer.ablated_accuracy.items())
            sys.stdout.write(f"  {layer.name} ({layer.type}): activity {layer.activity:.3f}; ablated: {ablated}\n")
        if args.out is not None:
            sys.stdout.write(f"report written to {args.out / 'profile.md'}\n")
    return 0
