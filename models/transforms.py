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
from torchvision import transforms, tv_tensors
from torchvision.transforms import v2

from attention.images import Preprocessing, Preprocessor


class StrayLines:
    """With probability ``p``, thin lines right across the picture and small dots, in random colours.

    The shapes generator keeps its clutter off the object; lines that cross it
    teach a classifier to read an outline through a stroke that breaks it, as
    the held-out renderer's clutter asks. Hard lines are 2-10 one-pixel PIL
    strokes with 0-8 dots; ``soft`` draws 2-12 lines 0.7-1.4 px wide and 0-14
    dots at four times the size and box-filters them down, so they blend into
    the picture as a resize or a lens blends them. Random numbers come from
    torch, so DataLoader workers and ``--seed`` control them like torchvision's own transforms.
    """

    SUPERSAMPLE = 4

    def __init__(self, p: float, soft: bool = False) -> None:
        if not 0.0 <= p <= 1.0:  # also refuses nan
            raise ValueError(f"stray-lines probability must be from 0 to 1, got {p}")
        self.p = p
        self.soft = soft

    def __call__(self, image: Image.Image) -> Image.Image:
        if self.p == 0.0 or torch.rand(()).item() >= self.p:
            return image
        image = image.convert("RGB")  # a copy: the dataset's cached picture stays clean
        width, height = image.size
        scale = self.SUPERSAMPLE if self.soft else 1
        canvas = image.resize((width * scale, height * scale), Image.Resampling.NEAREST) if self.soft else image
        draw = ImageDraw.Draw(canvas)
        reach = (width + height) * scale  # long enough to leave the picture from any point
        lines = int(torch.randint(2, 13 if self.soft else 11, ()).item())
        strokes = (0.7 + torch.rand(lines) * 0.7) * scale if self.soft else torch.ones(lines)
        for x, y, angle, stroke, colour in zip(
            (torch.rand(lines) * width * scale).tolist(),
            (torch.rand(lines) * height * scale).tolist(),
            (torch.rand(lines) * math.pi).tolist(),
            strokes.round().int().tolist(),
            torch.randint(0, 256, (lines, 3)).tolist(),
        ):
            dx, dy = math.cos(angle) * reach, math.sin(angle) * reach
            draw.line([(x - dx, y - dy), (x + dx, y + dy)], fill=tuple(colour), width=stroke)
        dots = int(torch.randint(0, 15 if self.soft else 9, ()).item())
        for x, y, radius, colour in zip(
            (torch.rand(dots) * width * scale).tolist(),
            (torch.rand(dots) * height * scale).tolist(),
            ((0.6 + torch.rand(dots) * 1.4) * scale).tolist(),
            torch.randint(0, 256, (dots, 3)).tolist(),
        ):
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=tuple(colour))
        # NEAREST up then BOX down gives untouched pixels back exactly.
        return canvas.resize((width, height), Image.Resampling.BOX) if self.soft else canvas

    def __repr__(self) -> str:
        return f"StrayLines(p={self.p}, soft={self.soft})" if self.soft else f"StrayLines(p={self.p})"


def train_transform(
    dataset: str,
    prep: Preprocessing,
    random_erasing: float = 0.0,
    stray_lines: float = 0.0,
    soft_lines: bool = False,
) -> Any:
    """Augmentation suited to each dataset, ending in the same preprocessing as inference.

    ``random_erasing`` is the probability of blanking a random rectangle of the
    normalised tensor (to the dataset mean): it makes a classifier use more than
    one telltale patch, which is worth most on small, centred datasets such as
    Fashion-MNIST. ``stray_lines`` is the probability of drawing :class:`StrayLines`
    over the picture first, soft ones with ``soft_lines``.
    """
    final = Preprocessor(prep)
    height, width = prep.input_size
    if dataset == "shapes":
        steps = [shapes_geometry(height, width), *shapes_colour()]
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
        steps.insert(0, StrayLines(stray_lines, soft=soft_lines))
    after = [transforms.RandomErasing(p=random_erasing, value=0.0)] if random_erasing > 0 else []
    return transforms.Compose([*steps, final, *after])


def shapes_geometry(height: int, width: int) -> v2.Compose:
    """Flips and small rescales, views a paint program or a camera adds to the generator's; a mask moves with them."""
    return v2.Compose(
        [
            v2.RandomHorizontalFlip(),
            v2.RandomVerticalFlip(),
            v2.RandomApply([v2.RandomResizedCrop((height, width), scale=(0.8, 1.0), ratio=(0.85, 1.18))], p=0.3),
        ]
    )


def shapes_colour() -> list[Any]:
    """Colour changes on top of the generator's palettes; they leave where the object is alone."""
    return [
        transforms.RandomApply([transforms.ColorJitter(0.3, 0.3, 0.3, 0.05)], p=0.5),
        transforms.RandomGrayscale(p=0.1),
    ]


class ShapesWithMask:
    """Shapes augmentation that moves the object mask with the picture, so a loss can compare attention with it.

    Called with a picture and its bool H x W mask, it returns the picture as
    :func:`train_transform` makes it and the mask as a float 1 x H x W tensor.
    """

    def __init__(self, prep: Preprocessing) -> None:
        height, width = prep.input_size
        self.geometry = shapes_geometry(height, width)
        self.rest = transforms.Compose([*shapes_colour(), Preprocessor(prep)])

    def __call__(self, image: Image.Image, mask: Any) -> tuple[torch.Tensor, torch.Tensor]:
        object_mask = tv_tensors.Mask(torch.as_tensor(mask, dtype=torch.uint8).unsqueeze(0))
        picture, moved = self.geometry(image, object_mask)
        return self.rest(picture), moved.as_subclass(torch.Tensor).float()


def eval_transform(prep: Preprocessing) -> Preprocessor:
    """The checkpoint's own preprocessing as a transform: no augmentation, exactly what the app feeds the model."""
    return Preprocessor(prep)
