"""Train an attention network and save it as an Attention Lens checkpoint.

    python -m models.train --dataset shapes --arch attention_resnet_shapes --epochs 8 --out assets/shapes.pt

Validation runs every epoch and the best epoch is kept; ``OUT.last.pt`` holds
the latest state so an interrupted run continues with ``--resume``. Test
metrics of the best epoch are written into the checkpoint, so the app can show
what the model is worth.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from attention.errors import CheckpointError, InputError
from attention.spatial import SpatialAttention

from .checkpoint import Preprocessing, checkpoint_dict, save_checkpoint
from .datasets import (
    DATASET_INFO,
    SHAPES_DEFAULT_LENGTHS,
    ShapesMasked,
    SurfacePairs,
    build_dataset,
    canonical_dataset_name,
)
from .evaluation import evaluate_accuracy
from .networks import ARCHITECTURES, build_model, resolved_config
from .transforms import ShapesWithMask, eval_transform, train_transform

LOGGER = logging.getLogger(__name__)

NORMALISATION = {
    "shapes": ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25)),
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "imagefolder": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
DEFAULT_ARCH = {
    "shapes": "attention_resnet_shapes",
    "fashion-mnist": "attention_resnet_fashion",
    "imagefolder": "attention_resnet",
}


def canonical_dataset(name: str) -> str:
    """The dataset's canonical name (``fashion`` -> ``fashion-mnist``); an unknown name ends the command in one line."""
    try:
        return canonical_dataset_name(name)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None


def preprocessing_for(dataset: str, image_size: int | None) -> Preprocessing:
    dataset = canonical_dataset(dataset)
    info = DATASET_INFO.get(dataset, {"channels": 3, "input_size": 64})
    size = image_size or int(info["input_size"])
    mean, std = NORMALISATION[dataset]
    return Preprocessing((size, size), int(info["channels"]), mean, std)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """The training device, refused in one line when this machine lacks it.

    Training on a GPU is optional: the shipped recipes run on a 2-core CPU, and a
    lent GPU only makes the bigger ones fit in minutes instead of hours.
    """
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise SystemExit(f"unknown device {name!r}: {error}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"device {name!r} asked for, but this machine has no CUDA GPU that torch can use")
    if device.type not in ("cpu", "cuda"):
        raise SystemExit(f"device {name!r} is not supported; use cpu or cuda")
    return device


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return "cpu"


def make_optimizer(name: str, model: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    # No weight decay on norms, biases and the tiny attention kernels, whose few
    # weights decide a whole layer's gating.
    decay, no_decay = [], []
    for param_name, param in model.named_parameters():
        small = param.ndim <= 1 or "attention" in param_name
        (no_decay if small else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}")


def make_schedule(name: str, optimizer: torch.optim.Optimizer, lr: float, total_steps: int) -> Any:
    if name == "onecycle":
        # OneCycleLR divides by the length of its warm-up phase, which is zero for a
        # run of a handful of steps; a schedule longer than the run is harmless.
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=lr, total_steps=max(total_steps, 10), pct_start=0.2
        )
    if name == "cosine":
        warmup = max(1, total_steps // 50)

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total_steps - warmup)))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    raise ValueError(f"unknown schedule {name!r}")


def start_spatial_attention_neutral(model: nn.Module) -> int:
    """Zero every spatial attention's convolution, so each mask starts at 0.5 everywhere; returns the count.

    An initialisation ablation: the default (Kaiming-uniform) start gives each
    layer a random mask from the first step, this one lets the loss shape it.
    """
    layers = [module for module in model.modules() if isinstance(module, SpatialAttention)]
    with torch.no_grad():
        for layer in layers:
            layer.conv.weight.zero_()
            if layer.conv.bias is not None:
                layer.conv.bias.zero_()
    return len(layers)


def load_teacher(name: str, prep: Preprocessing, classes: list[str], device: torch.device) -> nn.Module:
    """The teacher network in eval mode, refused in one line unless it reads the same images as the same classes."""
    from .checkpoint import load_checkpoint

    try:
        loaded = load_checkpoint(name)
    except CheckpointError as error:
        raise SystemExit(f"error: --teacher: {error}") from None
    if loaded.classes != classes:
        raise SystemExit(f"error: --teacher {name} names the classes {loaded.classes}, not {classes}")
    if loaded.preprocessing != prep:
        raise SystemExit(f"error: --teacher {name} reads images as {loaded.preprocessing}, not as {prep}")
    for parameter in loaded.model.parameters():
        parameter.requires_grad_(False)
    return loaded.model.to(device).eval()


def distillation_loss(logits: torch.Tensor, teacher: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against the teacher's softmax on the same augmented batch, so a small student learns faster."""
    with torch.no_grad():
        target = teacher(images).softmax(dim=1)
    return nn.functional.cross_entropy(logits, target)


def surface_consistency_loss(logits: torch.Tensor, views: int) -> torch.Tensor:
    """The Jensen-Shannon divergence among the views of each item, zero only when the surface changes no prediction.

    ``logits`` holds ``views`` consecutive rows per item, as a flattened :class:`SurfacePairs` batch has them.
    """
    probs = logits.float().softmax(dim=1).view(-1, views, logits.shape[1])
    log_mean = probs.mean(dim=1, keepdim=True).clamp_min(1e-7).log().expand_as(probs)
    # kl_div(log m, p) sums p (log p - log m); averaged over every view of every item it is the JS divergence.
    return nn.functional.kl_div(
        log_mean.reshape(-1, logits.shape[1]), probs.reshape(-1, logits.shape[1]), reduction="batchmean"
    )


class SpatialLogits:
    """Every spatial attention's logits of one forward pass, with gradients, from hooks that live while it is open."""

    def __init__(self, model: nn.Module) -> None:
        self.layers = [module for module in model.modules() if isinstance(module, SpatialAttention)]
        self.logits: list[torch.Tensor] = []
        self._handles: list[Any] = []

    def own_parameters(self) -> list[nn.Parameter]:
        """The spatial attentions' own weights, the only ones a mask loss kept to attention may change."""
        return [parameter for layer in self.layers for parameter in layer.parameters()]

    def _keep(self, _module: nn.Module, _args: Any, output: Any) -> None:
        self.logits.append(output.logits)

    def __enter__(self) -> SpatialLogits:
        self._handles = [layer.mask_tap.register_forward_hook(self._keep) for layer in self.layers]
        return self

    def __exit__(self, *_exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []


def attention_on_object_loss(logits: list[torch.Tensor], masks: torch.Tensor) -> torch.Tensor:
    """Minus the log of the softmax mass each spatial mask puts on the object, averaged over layers and pictures.

    It is near zero only when the logits peak on the object, and it asks for nothing about their scale, so the
    gates keep their 0-1 range. A cell of a coarse layer counts as the object when any of its pixels does; a
    picture without an object adds nothing.
    """
    total = torch.zeros((), device=masks.device)
    for layer in logits:
        inside = nn.functional.adaptive_max_pool2d(masks, layer.shape[-2:]).flatten(1) > 0.5
        log_share = layer.float().flatten(1).log_softmax(dim=1)
        on_object = torch.logsumexp(log_share.masked_fill(~inside, float("-inf")), dim=1)
        total = total - torch.where(inside.any(dim=1), on_object, torch.zeros_like(on_object)).mean()
    return total / max(len(logits), 1)


def reaching_only(term: torch.Tensor, parameters: list[nn.Parameter]) -> torch.Tensor:
    """The term's value with its gradient kept to these parameters, so a loss can train attention without rewriting
    the features the classifier reads: a surrogate linear in them, zero gradient to everything else."""
    wanted = [parameter for parameter in parameters if parameter.requires_grad]
    grads = torch.autograd.grad(term, wanted, retain_graph=True, allow_unused=True)
    linear = sum(
        ((parameter * grad).sum() for parameter, grad in zip(wanted, grads) if grad is not None),
        torch.zeros((), device=term.device),
    )
    return term.detach() + linear - linear.detach()


def flatten_views(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Items x views pictures as consecutive pictures with their labels, the order the consistency loss reads."""
    views = images.shape[1]
    return images.flatten(0, 1), labels.repeat_interleave(views)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m models.train", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True, help="shapes, fashion-mnist (or fashion), imagefolder")
    parser.add_argument("--data-root", help="dataset folder (fashion-mnist IDX files, or an image folder)")
    parser.add_argument("--arch", help=f"architecture, one of {sorted(ARCHITECTURES)}")
    parser.add_argument("--attention", help="attention kind for every block (default: the architecture's, eca_sa)")
    parser.add_argument(
        "--spatial-norm",
        action="store_true",
        help="BatchNorm between the spatial attention's convolution and its gate (as in CBAM and timm)",
    )
    parser.add_argument(
        "--spatial-first",
        action="store_true",
        help="spatial attention before channel attention in each block (CBAM's order is channel first; an ablation)",
    )
    parser.add_argument(
        "--spatial-init",
        choices=("default", "neutral"),
        default="default",
        help="neutral: zero the spatial attention's convolutions, so every mask starts at 0.5 (an ablation)",
    )
    parser.add_argument("--widths", type=int, nargs="+", help="channels per stage (default: the architecture's)")
    parser.add_argument("--depths", type=int, nargs="+", help="blocks per stage (default: the architecture's)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (default 0.1 SGD, 3e-3 AdamW)")
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--optimizer", choices=("sgd", "adamw"), default="sgd")
    parser.add_argument("--schedule", choices=("onecycle", "cosine"), default="onecycle")
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument(
        "--random-erasing", type=float, default=0.0, help="probability of erasing a random rectangle (augmentation)"
    )
    parser.add_argument(
        "--stray-lines",
        type=float,
        default=0.0,
        help="probability of drawing thin lines across the whole picture, over the object too (augmentation)",
    )
    parser.add_argument(
        "--soft-lines",
        action="store_true",
        help="draw the stray lines anti-aliased, 0.7-1.4 px wide and up to 12 of them (default: hard 1 px, up to 10)",
    )
    parser.add_argument(
        "--surface-pairs",
        type=float,
        default=0.0,
        metavar="WEIGHT",
        help="shapes only: draw each shape on two surfaces in the same batch and add WEIGHT times the Jensen-Shannon "
        "divergence between the two predictions to the loss (0, the default, trains on single pictures)",
    )
    parser.add_argument(
        "--mask-loss",
        type=float,
        default=0.0,
        metavar="WEIGHT",
        help="shapes only: add WEIGHT times minus the log of the softmax mass each spatial mask puts on the drawn "
        "object (its mask moves with the augmentation) to the loss, so attention learns where the object is",
    )
    parser.add_argument(
        "--mask-loss-reach",
        choices=("network", "attention"),
        default="network",
        help="what the mask loss may change: every weight (network, the default), or only the spatial attentions' "
        "own weights (attention), so the features the classifier reads move only for the class loss",
    )
    parser.add_argument(
        "--channels-last", action="store_true", help="NHWC memory layout: about 15%% faster convolutions on CPU"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-size", type=int, help="input side in pixels (default: the dataset's)")
    parser.add_argument(
        "--train-size", type=int, help="number of training images (shapes: generated; others: a subset)"
    )
    parser.add_argument("--val-size", type=int, help="number of validation images (a subset)")
    parser.add_argument("--test-size", type=int, help="number of test images (a subset)")
    parser.add_argument("--max-steps", type=int, help="stop after this many optimisation steps (smoke tests)")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda: where the network trains")
    parser.add_argument("--out", required=True, help="where to write the best checkpoint")
    parser.add_argument("--resume", action="store_true", help="continue from OUT.last.pt if it exists")
    parser.add_argument(
        "--init",
        help="start from the weights of this Attention Lens checkpoint, a path or a shipped name (fine-tuning)",
    )
    parser.add_argument(
        "--teacher",
        help="distil from this Attention Lens checkpoint (a path or a shipped name): its softmax is a second target",
    )
    parser.add_argument(
        "--distill", type=float, default=0.5, help="weight of the teacher's target in the loss (with --teacher)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide tqdm bars")
    return parser.parse_args(argv)


def _subset(dataset: Dataset, size: int | None, seed: int) -> Dataset:
    if size is None or size >= len(dataset):  # type: ignore[arg-type]
        return dataset
    indices = np.random.default_rng(seed).permutation(len(dataset))[:size]  # type: ignore[arg-type]
    return torch.utils.data.Subset(dataset, sorted(int(i) for i in indices))


def build_splits(args: argparse.Namespace, prep: Preprocessing) -> tuple[Dataset, Dataset, Dataset, list[str]]:
    dataset = canonical_dataset(args.dataset)
    common: dict[str, Any] = {"root": args.data_root, "seed": args.seed}
    if dataset == "shapes":
        common["size"] = prep.input_size[0]
    augment = train_transform(dataset, prep, args.random_erasing, args.stray_lines, args.soft_lines)
    if args.mask_loss > 0:
        train: Dataset = ShapesMasked("train", args.train_size, common["size"], args.seed, ShapesWithMask(prep))
    elif args.surface_pairs > 0:
        # --train-size counts pictures, so a step sees as many pictures with pairs as without.
        pictures = args.train_size if args.train_size is not None else SHAPES_DEFAULT_LENGTHS["train"]
        train = SurfacePairs("train", pictures // 2, common["size"], args.seed, augment)
    else:
        train = build_dataset(
            dataset, "train", transform=augment, length=args.train_size if dataset == "shapes" else None, **common
        )
    val = build_dataset(
        dataset, "val", transform=eval_transform(prep), length=args.val_size if dataset == "shapes" else None, **common
    )
    test = build_dataset(
        dataset,
        "test",
        transform=eval_transform(prep),
        length=args.test_size if dataset == "shapes" else None,
        **common,
    )
    classes = list(train.classes)  # type: ignore[attr-defined]
    if dataset != "shapes":
        train = _subset(train, args.train_size, args.seed)
        val = _subset(val, args.val_size, args.seed)
        test = _subset(test, args.test_size, args.seed)
    return train, val, test, classes


def train(args: argparse.Namespace) -> dict[str, Any]:
    """Run training; returns the saved checkpoint dict."""
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    seed_everything(args.seed)
    if not 0.0 <= args.distill <= 1.0:  # also refuses nan
        raise SystemExit(f"error: --distill must be a weight from 0 to 1, got {args.distill}")
    if not 0.0 <= args.stray_lines <= 1.0:
        raise SystemExit(f"error: --stray-lines must be a probability from 0 to 1, got {args.stray_lines}")
    dataset = canonical_dataset(args.dataset)
    if not 0.0 <= args.surface_pairs <= 100.0:  # also refuses nan
        raise SystemExit(f"error: --surface-pairs must be a weight from 0 to 100, got {args.surface_pairs}")
    if args.surface_pairs > 0 and (dataset != "shapes" or args.batch_size % 2):
        raise SystemExit("error: --surface-pairs needs --dataset shapes and an even --batch-size (pictures per step)")
    if not 0.0 <= args.mask_loss <= 100.0:  # also refuses nan
        raise SystemExit(f"error: --mask-loss must be a weight from 0 to 100, got {args.mask_loss}")
    if args.mask_loss > 0 and (dataset != "shapes" or args.surface_pairs > 0):
        raise SystemExit(
            "error: --mask-loss needs --dataset shapes (its scenes carry object masks), without --surface-pairs"
        )
    arch = args.arch or DEFAULT_ARCH[dataset]
    prep = preprocessing_for(dataset, args.image_size)
    train_set, val_set, test_set, classes = build_splits(args, prep)
    config: dict[str, Any] = {"num_classes": len(classes), "in_channels": prep.channels}
    if args.attention:
        config["attention"] = args.attention
    if args.widths:
        config["widths"] = list(args.widths)
    if args.depths:
        config["depths"] = list(args.depths)
    if args.spatial_norm or args.spatial_first:
        config["attention_kwargs"] = {}
        if args.spatial_norm:
            config["attention_kwargs"]["spatial"] = {"norm": True}
        if args.spatial_first:
            config["attention_kwargs"]["spatial_first"] = True
    if getattr(ARCHITECTURES.get(arch), "vit", False):
        config["image_size"] = prep.input_size[0]  # a ViT's position embeddings are made for one input size
    config = resolved_config(arch, config)
    model = build_model(arch, **config)
    if args.mask_loss > 0 and not SpatialLogits(model).layers:
        raise SystemExit(f"error: --mask-loss needs spatial attention, and this {arch} has none")
    if args.spatial_init == "neutral":
        if args.init:
            raise SystemExit("error: --spatial-init neutral starts the masks afresh; it cannot follow --init")
        LOGGER.info("spatial attention starts neutral in %d layers", start_spatial_attention_neutral(model))
    if args.init:
        from .checkpoint import check_finite, read_checkpoint, resolve_checkpoint, state_dict_mismatch

        initial = read_checkpoint(resolve_checkpoint(args.init)[1])
        if initial["arch"] != arch:
            raise SystemExit(f"error: --init checkpoint is a {initial['arch']}, not a {arch}")
        state = dict(initial["state_dict"])
        if args.spatial_norm:
            # A checkpoint from before the option fine-tunes into it: its spatial norms start fresh.
            fresh = {key: value for key, value in model.state_dict().items() if ".spatial.norm." in key}
            state = {**fresh, **state}
        mismatch = state_dict_mismatch(model, state)
        if mismatch:
            raise SystemExit(f"error: --init checkpoint does not fit this {arch}: {mismatch}")
        check_finite(state, Path(args.init).name)
        model.load_state_dict(state)
        LOGGER.info("initialised from %s", args.init)

    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(device=device, memory_format=memory_format)
    teacher = load_teacher(args.teacher, prep, classes, device) if args.teacher else None

    generator = torch.Generator().manual_seed(args.seed)
    views = 2 if args.surface_pairs > 0 else 1
    train_loader = DataLoader(
        train_set,
        batch_size=args.batch_size // views,
        shuffle=True,
        drop_last=True,
        num_workers=args.workers,
        generator=generator,
        persistent_workers=args.workers > 0,
        pin_memory=device.type == "cuda",
    )
    val_loader = DataLoader(val_set, batch_size=256, num_workers=args.workers)
    test_loader = DataLoader(test_set, batch_size=256, num_workers=args.workers)

    lr = args.lr if args.lr is not None else (0.1 if args.optimizer == "sgd" else 3e-3)
    steps_per_epoch = len(train_loader)
    total_steps = args.epochs * steps_per_epoch
    if args.max_steps:
        total_steps = min(total_steps, args.max_steps)
    optimizer = make_optimizer(args.optimizer, model, lr, args.weight_decay)
    schedule = make_schedule(args.schedule, optimizer, lr, max(total_steps, 1))
    criterion = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    last_path = out.with_name(out.name + ".last.pt")
    state: dict[str, Any] = {"epoch": 0, "step": 0, "best_val": -1.0, "best_state": None, "history": [], "elapsed": 0.0}
    if args.resume and last_path.exists():
        saved = torch.load(last_path, map_location="cpu", weights_only=True)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        if hasattr(schedule, "total_steps"):
            # Resuming with more epochs stretches the one-cycle schedule instead of failing.
            schedule.total_steps = max(total_steps, saved["state"]["step"] + 1)
        state = saved["state"]
        torch.set_rng_state(saved["torch_rng"])
        generator.set_state(saved["loader_rng"])
        LOGGER.info("resumed from %s at epoch %d", last_path, state["epoch"])

    progress = not args.no_progress
    started = time.perf_counter() - state["elapsed"]
    while state["epoch"] < args.epochs and state["step"] < total_steps:
        model.train()
        bar = tqdm(train_loader, desc=f"epoch {state['epoch'] + 1}/{args.epochs}", disable=not progress)
        # The loss is summed on the device and read back every few steps only: reading
        # it every step would make a GPU wait for each step to finish.
        running_sum, seen = torch.zeros((), device=device), 0
        for batch in bar:
            images, labels = batch[0], batch[1]
            if views > 1:
                images, labels = flatten_views(images, labels)
            images = images.to(device, non_blocking=True, memory_format=memory_format)
            labels = labels.to(device, non_blocking=True)
            with SpatialLogits(model) if args.mask_loss > 0 else contextlib.nullcontext() as taps:
                logits = model(images)
            loss = criterion(logits, labels)
            if taps is not None:
                term = args.mask_loss * attention_on_object_loss(taps.logits, batch[2].to(device))
                if args.mask_loss_reach == "attention":
                    term = reaching_only(term, taps.own_parameters())
                loss = loss + term
            if views > 1:
                loss = loss + args.surface_pairs * surface_consistency_loss(logits, views)
            if teacher is not None:
                loss = (1 - args.distill) * loss + args.distill * distillation_loss(logits, teacher, images)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            state["step"] += 1
            running_sum += loss.detach() * len(labels)
            seen += len(labels)
            if progress and state["step"] % 20 == 0:
                bar.set_postfix(loss=f"{float(running_sum) / seen:.4f}")
            if state["step"] >= total_steps:
                break
        running = float(running_sum)
        val_acc, val_loss, _ = evaluate_accuracy(model, val_loader, len(classes), progress, "val", device)
        state["epoch"] += 1
        state["history"].append(
            {
                "epoch": state["epoch"],
                "train_loss": running / max(seen, 1),
                "val_accuracy": val_acc,
                "val_loss": val_loss,
            }
        )
        LOGGER.info("epoch %d: train loss %.4f, val accuracy %.4f", state["epoch"], running / max(seen, 1), val_acc)
        if val_acc > state["best_val"]:
            state["best_val"] = val_acc
            state["best_state"] = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        state["elapsed"] = time.perf_counter() - started
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(),
                "state": state,
                "torch_rng": torch.get_rng_state(),
                "loader_rng": generator.get_state(),
            },
            last_path,
        )

    if state["best_state"] is not None:
        model.load_state_dict(state["best_state"])
    test_acc, test_loss, confusion = evaluate_accuracy(model, test_loader, len(classes), progress, "test", device)
    elapsed = time.perf_counter() - started
    metrics = {
        "test_accuracy": test_acc,
        "test_loss": test_loss,
        "test_size": len(test_set),  # type: ignore[arg-type]
        "val_accuracy": state["best_val"],
        "confusion_matrix": confusion.tolist(),
        "history": state["history"],
    }
    training = {
        "dataset": dataset,
        # Absolute, so `python -m models.evaluate` finds the data from any working directory.
        "data_root": None if args.data_root is None else str(Path(args.data_root).resolve()),
        "epochs": state["epoch"],
        "steps": state["step"],
        "train_size": len(train_set) * views,  # type: ignore[arg-type]  # pictures, also with --surface-pairs
        "batch_size": args.batch_size,
        "optimizer": args.optimizer,
        "schedule": args.schedule,
        "lr": lr,
        "weight_decay": args.weight_decay,
        "label_smoothing": args.label_smoothing,
        "random_erasing": args.random_erasing,
        "stray_lines": args.stray_lines,
        "soft_lines": args.soft_lines,
        "surface_pairs": args.surface_pairs,
        "mask_loss": args.mask_loss,
        "mask_loss_reach": args.mask_loss_reach if args.mask_loss > 0 else None,
        "channels_last": args.channels_last,
        "seed": args.seed,
        "init": args.init,
        "spatial_init": args.spatial_init,
        "teacher": args.teacher,
        "distill": args.distill if args.teacher else None,
        "train_time_s": round(elapsed, 1),
        "threads": torch.get_num_threads(),
        "device": device_description(device),
        "torch": str(torch.__version__),
    }
    # Checkpoints hold plain NCHW weights on the CPU, whatever trained them.
    model = model.to(device="cpu", memory_format=torch.contiguous_format)
    payload = checkpoint_dict(model, arch, config, classes, prep, metrics, training)
    save_checkpoint(out, payload)
    LOGGER.info("saved %s: test accuracy %.4f after %.0f s", out, test_acc, elapsed)
    return payload


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        payload = train(args)
    except (FileNotFoundError, InputError) as error:
        # Missing data or a bad --init checkpoint: one line, not a traceback.
        raise SystemExit(f"error: {error}") from None
    m = payload["metrics"]
    LOGGER.info("test accuracy %.2f%% on %d images", 100 * m["test_accuracy"], m["test_size"])


if __name__ == "__main__":
    main()
