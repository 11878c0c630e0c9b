"""Image transforms shared by training and evaluation.

Both end in the very preprocessing the app applies (``attention.images.Preprocessor``),
so the accuracy measured here is the accuracy users get; evaluation needs only
``eval_transform`` and so never imports training.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from PIL import Image, ImageDraw
from torchvision import transforms

from attention.images import Preprocessing, Preprocessor


class StrayLines:
    """With probability ``p``, 2-10 thin lines right across the picture and 0-8 small dots, in random colours.

    The shapes generator keeps its clutter off the object; lines that cross it
    teach a classifier to read an outline through a stroke that breaks it, as
    the held-out renderer's clutter asks. Random numbers come from torch, so
    DataLoader workers and ``--seed`` control them like torchvision's own transforms.
    """

    def __init__(self, p: float) -> None:
        if not 0.0 <= p <= 1.0:  # also refuses nan
            raise ValueError(f"stray-lines probability must be from 0 to 1, got {p}")
        self.p = p

    def __call__(self, image: Image.Image) -> Image.Image:
        if self.p == 0.0 or torch.rand(()).item() >= self.p:
            return image
        image = image.convert("RGB")  # a copy: the dataset's cached picture stays clean
        width, height = image.size
        draw = ImageDraw.Draw(image)
        reach = width + height  # long enough to leave the picture from any point
        lines = int(torch.randint(2, 11, ()).item())
        for x, y, angle, colour in zip(
            (torch.rand(lines) * width).tolist(),
            (torch.rand(lines) * height).tolist(),
            (torch.rand(lines) * math.pi).tolist(),
            torch.randint(0, 256, (lines, 3)).tolist(),
        ):
            dx, dy = math.cos(angle) * reach, math.sin(angle) * reach
            draw.line([(x - dx, y - dy), (x + dx, y + dy)], fill=tuple(colour), width=1)
        dots = int(torch.randint(0, 9, ()).item())
        for x, y, radius, colour in zip(
            (torch.rand(dots) * width).tolist(),
            (torch.rand(dots) * height).tolist(),
            (0.6 + torch.rand(dots) * 1.4).tolist(),
            torch.randint(0, 256, (dots, 3)).tolist(),
        ):
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=tuple(colour))
        return image

    def __repr__(self) -> str:
        return f"StrayLines(p={self.p})"


def train_transform(dataset: str, prep: Preprocessing, random_erasing: float = 0.0, stray_lines: float = 0.0) -> Any:
    """Augmentation suited to each dataset, ending in the same preprocessing as inference.

    ``random_erasing`` is the probability of blanking a random rectangle of the
    normalised tensor (to the dataset mean): it makes a classifier use more than
    one telltale patch, which is worth most on small, centred datasets such as
    Fashion-MNIST. ``stray_lines`` is the probability of drawing :class:`StrayLines`
    over the picture first.
    """
    final = Preprocessor(prep)
    height, width = prep.input_size
    if dataset == "shapes":
        # The generator already randomises position, scale, colour and background;
        # flips and small rescales add views a paint program or a camera would give.
        steps = [
            transforms.RandomHorizontalFlip(),
            transforms.RandomVerticalFlip(),
            transforms.RandomApply(
                [transforms.RandomResizedCrop((height, width), scale=(0.8, 1.0), ratio=(0.85, 1.18))], p=0.3
            ),
            transforms.RandomApply([transforms.ColorJitter(0.3, 0.3, 0.3, 0.05)], p=0.5),
            transforms.RandomGrayscale(p=0.1),
        ]
    elif dataset == "fashion-mnist":
        steps = [
            transforms.RandomCrop((height, width), padding=2, padding_mode="edge"),
            transforms.RandomHorizontalFlip(),
        ]
    else:
        steps = [
            transforms.RandomResizedCrop((height, width), scale=(0.6, 1.0)),
            transforms.RandomHorizontalFlip(),
            transforms.ColorJitter(0.2, 0.2, 0.2),
        ]
    if stray_lines > 0:
        steps.insert(0, StrayLines(stray_lines))
    after = [transforms.RandomErasing(p=random_erasing, value=0.0)] if random_erasing > 0 else []
    return transforms.Compose([*steps, final, *after])


def eval_transform(prep: Preprocessing) -> Preprocessor:
    """The checkpoint's own preprocessing as a transform: no augmentation, exactly what the app feeds the model."""
    return Preprocessor(prep)
