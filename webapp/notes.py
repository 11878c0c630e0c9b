"""What the page tells about weak masks and about photos shown to models that never saw one.

A spatial-attention mask spanning less than ``render.WEAK_MASK_RANGE`` is one
flat colour on the true 0-1 scale: the spatial panels' titles give its range
and point to the stretched (min-max) scale, which shows where it differs.

Neither shipped model reads photos (``shapes`` was trained on drawn shapes,
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
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from PIL import Image

from attention import render
from attention.analysis import SpatialLayer

from .panels import pick_layer, stretch_of
from .state import LensResult

OVERLAY_LABEL = "Selected layer over the image, at the image's resolution"
MASK_LABEL = "Raw mask"
PHOTO_EXAMPLE_PREFIX = "photo_"
PHOTO_MIN_SIDE = 256  # a photo is larger than this on its long side...
PHOTO_MIN_COLOURS = 4096  # ...and has more distinct colours than this
# What each shipped model was trained on; a model named here does not read photos.
TRAINED_ON = {"shapes": "drawn shapes", "fashion": "small grey Fashion-MNIST pictures of clothing"}


def reads_photos(model: str | None) -> bool:
    """Whether a model is meant for photos: the shipped ones are not; an uploaded checkpoint may be."""
    return model not in TRAINED_ON


def is_photo_example(path: str | Path) -> bool:
    return Path(path).name.startswith(PHOTO_EXAMPLE_PREFIX)


def gallery_examples(paths: Iterable[str], model: str | None) -> list[str]:
    """The examples worth offering with ``model``: no photos for a model trained on drawings."""
    return [path for path in paths if reads_photos(model) or not is_photo_example(path)]


def looks_like_photo(image: Image.Image) -> bool:
    """Larger than PHOTO_MIN_SIDE px and more than PHOTO_MIN_COLOURS distinct colours (see the module's note)."""
    if max(image.size) <= PHOTO_MIN_SIDE:
        return False
    # getcolors answers None as soon as there are more colours than asked for.
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return rgb.getcolors(PHOTO_MIN_COLOURS) is None


def photo_note(model: str | None, image: Image.Image) -> str:
    """A note for the status line when a photo meets a model trained on something else; empty otherwise."""
    if reads_photos(model) or not looks_like_photo(image):
        return ""
    return (
        f"Note: this looks like a photo, and model {model} was trained on {TRAINED_ON[model]}: its prediction "
        "and attention show what such a model does with an image it was not made for."
    )


def spatial_labels(result: LensResult | None, layer: str | None, scale: str | None) -> tuple[str, str]:
    """Titles of the selected layer's overlay and raw-mask panels; a weak mask's range is named in both.

    The overlay's title gives ``render.mask_range_note``; the raw mask's says
    what the chosen colour scale shows. Both stay short enough for one line.
    """
    if result is None:
        return OVERLAY_LABEL, MASK_LABEL
    name = pick_layer(result.spatial_layer_names, layer)
    if name is None:
        return OVERLAY_LABEL, MASK_LABEL
    spatial = result.analysis.layer(name)
    assert isinstance(spatial, SpatialLayer)
    note = render.mask_range_note(spatial.mask)
    if note is None:
        return OVERLAY_LABEL, MASK_LABEL
    numbers = f"{float(spatial.mask.min()):.2f}–{float(spatial.mask.max()):.2f}"
    if stretch_of(scale):
        return f"{note} (stretched)", f"Raw mask {numbers}, stretched to show where it differs"
    return note, f"Raw mask {numbers}: the min–max colour scale shows where it differs"
