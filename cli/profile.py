"""``python -m attention profile``: does each attention layer help, is it active, which channels each class uses."""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from attention.distributed import World
from attention.errors import InputError
from attention.files import dumps
from attention.profile import ProfileCounts, load_counts
from models.options import add_model_options, load_model_from

from .options import BATCH_SIZE_RANGE, DEFAULT_WORKERS, check_out_folder, int_in, unread_line

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
        "--workers",
        type=int_in(0, 64),
        default=DEFAULT_WORKERS,
        help=f"processes that read and decode images while the model runs (default {DEFAULT_WORKERS}; 0: none)",
    )
    profile.add_argument(
        "--checkpoint-every",
        type=int_in(1, 1_000_000),
        metavar="N",
        help="save the counts into --out every N batches; the same command run again continues from them",
    )
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


class FolderImages(torch.utils.data.Dataset):
    """(input, label, unread) per file of a labelled folder; an unreadable file gives its "name: why" line instead."""

    def __init__(self, items: Sequence[tuple[Path, int]], preprocessing: Any) -> None:
        self.items = list(items)
        self.preprocessing = preprocessing

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor | None, int, str | None]:
        from attention.images import load_image

        path, label = self.items[index]
        try:
            return self.preprocessing.batch([load_image(path)])[0], label, None
        except InputError as error:
            return None, label, unread_line(path, str(error))


class DatasetImages(torch.utils.data.Dataset):
    """A built-in dataset's (input, label, ...) items as (input, label, None)."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, None]:
        inputs, label, *_ = self.dataset[index]
        return inputs, int(label), None


def collate(
    items: Sequence[tuple[torch.Tensor | None, int, str | None]],
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """One batch of the readable images, with the lines of the unreadable ones, which the profile lists."""
    read = [(inputs, label) for inputs, label, unread in items if unread is None]
    unread = [line for _, _, line in items if line is not None]
    inputs = torch.stack([inputs for inputs, _ in read]) if read else torch.empty(0)
    return inputs, torch.tensor([label for _, label in read], dtype=torch.long), unread


def _data(args: argparse.Namespace, loaded: Any) -> tuple[torch.utils.data.Dataset, str, str]:
    """The dataset, its name in the report, and a digest of exactly which images (and labels) it holds."""
    from models.datasets import build_dataset
    from models.transforms import eval_transform

    if args.data in ("shapes", "fashion", "fashion-mnist"):
        dataset = build_dataset(  # shapes scenes are drawn at the size the model reads, as in its training
            args.data,
            "test",
            transform=eval_transform(loaded.preprocessing),
            length=args.limit,
            size=loaded.preprocessing.input_size[0],
        )
        dataset_classes = list(getattr(dataset, "classes", loaded.classes))
        if dataset_classes != list(loaded.classes):
            raise InputError(f"{loaded.name} predicts other classes than the {args.data} data has")
        count = min(len(dataset), args.limit)
        subset = torch.utils.data.Subset(dataset, range(count))
        return DatasetImages(subset), args.data, f"{args.data}:{count}"
    folder = Path(args.data).expanduser()
    if not folder.is_dir():
        raise InputError(f"--data {args.data}: not shapes, fashion or a folder")
    items = _folder_items(folder, list(loaded.classes), args.limit)
    listing = "\n".join(f"{path.relative_to(folder)}\t{label}" for path, label in items)
    return FolderImages(items, loaded.preprocessing), str(folder), hashlib.sha256(listing.encode()).hexdigest()


def weights_digest(model: torch.nn.Module) -> str:
    """A digest of every tensor of the model, so a resumed profile is refused when the weights changed."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def fingerprint(args: argparse.Namespace, loaded: Any, images: str, processes: int) -> dict[str, Any]:
    """What decides a profile's counts: a resumed run must agree on every entry (batch size and device may change)."""
    return {
        "model": loaded.name,
        "weights": weights_digest(loaded.model),
        "classes": list(loaded.classes),
        "preprocessing": loaded.preprocessing.to_dict(),
        "data": images,
        "heads": bool(args.heads),
        "processes": processes,
    }


def partial_path(out: Path, world: World) -> Path:
    return out / f".profile-partial-{world.rank}-of-{world.size}.npz"


def resumed_counts(path: Path, expected: dict[str, Any], world: World) -> ProfileCounts | None:
    """The counts a stopped run saved at ``path``, if any; InputError when they came from other arguments."""
    if not path.is_file():
        return None
    try:
        counts, saved = load_counts(path)
    except ValueError as error:
        raise InputError(f"{path}: {error}; delete it to start the profile over") from None
    changed = [key for key in expected if saved.get(key) != expected[key]]
    if changed:
        raise InputError(
            f"{path} holds a profile with another {changed[0]}; rerun with the arguments it was started with, "
            "or delete it to start over"
        )
    if world.leader:
        sys.stderr.write(f"resuming: {counts.done} images already profiled in this process (from {path})\n")
    return counts


def run(args: argparse.Namespace) -> int:
    from attention.ablation import MODES, ablator_for
    from attention.devices import resolve_device
    from attention.discovery import require_attention
    from attention.distributed import Shard, gather, join, leave, rank_device, shard_length, world_from_env
    from attention.profile import count_batches, save_counts, write_report
    from attention.recorder import AttentionRecorder, find_attention_layers

    if args.checkpoint_every is not None and args.out is None:
        raise InputError("--checkpoint-every saves partial counts into the --out folder; give --out too")
    if args.out is not None:
        check_out_folder(args.out)
    world = world_from_env()
    device = rank_device(resolve_device(args.device), world)
    loaded = load_model_from(args, device=torch.device("cpu"))  # digested on the CPU, then moved
    layers = find_attention_layers(loaded.model)
    require_attention(layers, loaded.name, loaded.model)
    dataset, data_name, images = _data(args, loaded)
    expected = fingerprint(args, loaded, images, world.size)
    loaded.model.to(device)
    partial = partial_path(args.out, world) if args.checkpoint_every is not None else None
    counts = resumed_counts(partial, expected, world) if partial is not None else None
    counts = counts or ProfileCounts([name for name, *_ in layers], loaded.classes, MODES)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=args.batch_size,
        sampler=Shard(len(dataset), world, skip=counts.done),
        num_workers=args.workers,
        pin_memory=device.type == "cuda",
        collate_fn=collate,
    )
    batches_done = [0]

    def save(counts: ProfileCounts) -> None:
        batches_done[0] += 1
        if partial is not None and batches_done[0] % args.checkpoint_every == 0:
            save_counts(partial, counts, expected)

    joined = join(world, device)
    recorder = AttentionRecorder(loaded.model, layers=layers)
    ablator = ablator_for(layers)
    recorder.attach()
    ablator.attach()
    try:
        count_batches(
            loaded.model,
            loader,
            counts,
            recorder,
            ablator,
            total=shard_length(len(dataset), world),
            heads=args.heads,
            after_batch=save,
            progress=world.leader,
        )
        shards = gather(counts, world)
    except KeyboardInterrupt:
        if partial is not None and world.leader:
            sys.stderr.write(f"interrupted: rerun the same command to continue from the counts saved in {partial}\n")
        raise
    finally:
        recorder.detach()
        ablator.detach()
        leave(joined)
    total = ProfileCounts(counts.names, counts.classes, counts.modes)
    for shard in shards:
        total.merge(shard)  # type: ignore[arg-type]
    result = total.result(loaded.name, data_name)
    if partial is not None:
        partial.unlink(missing_ok=True)
    if not world.leader:
        return 0
    if args.out is not None:
        write_report(result, args.out)
    for line in result.skipped:
        sys.stderr.write(f"skipped {line}\n")
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
