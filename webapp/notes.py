"""What the page tells about weak masks and about images shown to a model made for other pictures.

A spatial-attention mask spanning less than ``render.WEAK_MASK_RANGE`` is one
flat colour on the true 0-1 scale: the spatial panels' titles give its range
and point to the stretched (min-max) scale, which shows where it differs.

No shipped model reads photos (``shapes`` and ``shapes-vit`` were trained on drawn shapes,
``fashion`` on 28x28 grey Fashion-MNIST pictures), so a photo shows such a
model out of its depth. The gallery offers the shipped ``photo_*`` examples
only with a model that reads photos, and a photo analysed with a drawings
model gets a note saying so.

"Looks like a photo" is a deliberately simple heuristic: the image is larger
than 256 px on its long side and has more than 4096 distinct colours. The
shipped shapes examples (256 px), the page's 256 px sketchpad and Fashion-MNIST
(28 px) never pass it; the shipped photos (400 px, 27,000-55,000 colours) do.
A large drawing with smooth gradients or noise can pass it too: the note is a
hint, and the analysis runs either way.

The two shipped models also miss each other's pictures: a "Fashion-MNIST
picture" is one at most ``CLOTHING_MAX_SIDE`` px on its long side in shades of
grey (the shipped fashion examples are 28 px, the shapes examples and the
sketchpad 256 px). ``shapes`` and ``shapes-vit`` get a note for such a picture, and ``fashion``
for any image that is not one. The examples are offered in one group per
model, and picking one picks its model.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from attention import render
from attention.analysis import ElementLayer, SpatialLayer

from .panels import pick_layer, stretch_of
from .state import LensResult

OVERLAY_LABEL = "Selected layer over the image"
MASK_LABEL = "Raw mask"
NO_SPATIAL = "This model has no spatial gate: its attention weights channels only (see channel attention)"
PHOTO_EXAMPLE_PREFIX = "photo_"
PHOTO_MIN_SIDE = 256  # a photo is larger than this on its long side...
PHOTO_MIN_COLOURS = 4096  # ...and has more distinct colours than this
# What each shipped model was trained on; a model named here does not read photos.
TRAINED_ON = {
    "shapes": "drawn shapes",
    "shapes-vit": "drawn shapes",
    "fashion": "small grey Fashion-MNIST pictures of clothing",
}
CLOTHING_MAX_SIDE = 64  # a Fashion-MNIST picture is at most this large (28 px)...
# ...and grey; the caption of each model's group of examples, by file-name prefix.
EXAMPLE_CAPTIONS = {
    "shapes": "For model shapes: drawn shapes on busy backgrounds",
    "shapes-vit": "For model shapes-vit: the same kind of drawings, read by a small vision transformer",
    "fashion": "For model fashion: 28×28 grey Fashion-MNIST clothing",
}


@dataclass(frozen=True)
class ExampleGroup:
    model: str
    caption: str
    paths: list[str]


def reads_photos(model: str | None) -> bool:
    """Whether a model is meant for photos: the shipped ones are not; an uploaded checkpoint may be."""
    return model not in TRAINED_ON


def is_photo_example(path: str | Path) -> bool:
    return Path(path).name.startswith(PHOTO_EXAMPLE_PREFIX)


def gallery_examples(paths: Iterable[str], model: str | None) -> list[str]:
    """The examples worth offering with ``model``: no photos for a model trained on drawings."""
    return [path for path in paths if reads_photos(model) or not is_photo_example(path)]


def example_groups(paths: Iterable[str], default: str, launched: Sequence[str] = ()) -> list[ExampleGroup]:
    """The examples grouped by the model each was made for (its file-name prefix); photos go with photo models.

    Photos are offered with ``default`` and each other ``launched`` model that
    reads photos (models given at launch may), one group each; a file with
    another prefix goes with ``default`` too.
    """
    readers = [model for model in dict.fromkeys([default, *launched]) if reads_photos(model)]
    grouped: dict[str, list[str]] = {}
    for path in paths:
        prefix = Path(path).name.split("_", 1)[0]
        if prefix in EXAMPLE_CAPTIONS:
            grouped.setdefault(prefix, []).append(str(path))
        elif not is_photo_example(path):
            grouped.setdefault(default, []).append(str(path))
        else:
            for model in readers:
                grouped.setdefault(model, []).append(str(path))
    order = list(dict.fromkeys([default, *readers, *EXAMPLE_CAPTIONS]))
    return [
        ExampleGroup(model, EXAMPLE_CAPTIONS.get(model, f"For model {model}"), grouped[model])
        for model in order
        if model in grouped
    ]


def looks_like_clothing_picture(image: Image.Image) -> bool:
    """At most CLOTHING_MAX_SIDE px on its long side and grey, like a Fashion-MNIST picture."""
    if max(image.size) > CLOTHING_MAX_SIDE:
        return False
    if image.mode in ("L", "LA", "I", "I;16", "F", "1"):
        return True
    rgb = np.asarray(image.convert("RGB"), dtype=np.int16)
    return bool(np.abs(rgb - rgb[..., :1]).max() <= 8)


def looks_like_photo(image: Image.Image) -> bool:
    """Larger than PHOTO_MIN_SIDE px and more than PHOTO_MIN_COLOURS distinct colours (see the module's note)."""
    if max(image.size) <= PHOTO_MIN_SIDE:
        return False
    # getcolors answers None as soon as there are more colours than asked for.
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return rgb.getcolors(PHOTO_MIN_COLOURS) is None


def fit_note(model: str | None, image: Image.Image) -> str:
    """A note for the status line when an image does not fit what a shipped model was trained on; empty otherwise.

    A photo under any shipped model, a Fashion-MNIST picture under a model
    trained on shapes, and anything but one under ``fashion``.
    """
    if reads_photos(model):
        return ""
    if looks_like_photo(image):
        seen = "this looks like a photo"
    elif TRAINED_ON[model] == TRAINED_ON["shapes"] and looks_like_clothing_picture(image):
        seen = "this looks like a small grey Fashion-MNIST picture"
    elif model == "fashion" and not looks_like_clothing_picture(image):
        seen = f"this is a {image.width}×{image.height} picture, not a small grey Fashion-MNIST one"
    else:
        return ""
    return (
        f"Note: {seen}, and model {model} was trained on {TRAINED_ON[model]}: its prediction "
        "and attention show what such a model does with an image it was not made for."
    )


def element_labels(layer: ElementLayer, scale: str | None) -> tuple[str, str]:
    """Titles for a gate over channels and pixels: what is drawn is its mean over channels, and what it multiplied."""
    numbers = f"{float(layer.mask.min()):.2f}–{float(layer.mask.max()):.2f}"
    stretched = f", stretched from {numbers}" if stretch_of(scale) else f", {numbers}"
    factor = "" if layer.offset == 0.0 else f"; the features were multiplied by {layer.factor}"
    channels = 0 if layer.per_channel is None else len(layer.per_channel)
    overlay = f"Gate's mean over its {channels} channels{stretched}{factor}"
    if layer.rows is not None:
        return overlay, f"Rows (left) × columns (top): their product{stretched}"
    return overlay, f"Gate's mean over channels{stretched}"


def spatial_labels(result: LensResult | None, layer: str | None, scale: str | None) -> tuple[str, str]:
    """Titles of the selected layer's overlay and raw-mask panels; a weak mask's range is named in both.

    The overlay's title gives ``render.mask_range_note``; the raw mask's says
    what the chosen colour scale shows. Both stay short enough for one line.
    """
    if result is None:
        return OVERLAY_LABEL, MASK_LABEL
    name = pick_layer(result.spatial_layer_names, layer)
    if name is None:
        return NO_SPATIAL, NO_SPATIAL
    spatial = result.analysis.layer(name)
    assert isinstance(spatial, SpatialLayer)
    if isinstance(spatial, ElementLayer):
        return element_labels(spatial, scale)
    note = render.mask_range_note(spatial.mask)
    numbers = f"{float(spatial.mask.min()):.2f}–{float(spatial.mask.max()):.2f}"
    if note is None:
        if stretch_of(scale):
            return f"{OVERLAY_LABEL}, stretched from {numbers}", f"{MASK_LABEL}, stretched from {numbers}"
        return OVERLAY_LABEL, MASK_LABEL
    if stretch_of(scale):
        return f"{note} (stretched from {numbers})", f"Raw mask {numbers}, stretched to show where it differs"
    return note, f"Raw mask {numbers}: the min–max colour scale shows where it differs"
