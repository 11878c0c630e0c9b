"""Image transforms shared by training and evaluation.

Both end in the very preprocessing the app applies (``attention.images.Preprocessor``),
so the accuracy measured here is the accuracy users get; evaluation needs only
``eval_transform`` and so never imports training.
"""

from __future__ import annotations

from typing import Any

from torchvision import transforms

from attention.images import Preprocessing, Preprocessor


def train_transform(dataset: str, prep: Preprocessing, random_erasing: float = 0.0) -> Any:
    """Augmentation suited to each dataset, ending in the same preprocessing as inference.

    ``random_erasing`` is the probability of blanking a random rectangle of the
    normalised tensor (to the dataset mean): it makes a classifier use more than
    one telltale patch, which is worth most on small, centred datasets such as
    Fashion-MNIST.
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
    after = [transforms.RandomErasing(p=random_erasing, value=0.0)] if random_erasing > 0 else []
    return transforms.Compose([*steps, final, *after])


def eval_transform(prep: Preprocessing) -> Preprocessor:
    """The checkpoint's own preprocessing as a transform: no augmentation, exactly what the app feeds the model."""
    return Preprocessor(prep)
