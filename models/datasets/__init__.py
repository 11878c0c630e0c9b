"""Datasets for Attention Lens: procedural shapes, Fashion-MNIST from IDX files, and image folders.

One module per dataset (``shapes`` with its scene generator in ``shapes_scene``
and ``shapes_backgrounds``, ``shapes_heldout`` with independent drawing code for
evaluation, ``fashion``, ``imagefolder``) and ``factory``,
which builds any of them by name. Everything public is re-exported here, so
``from models.datasets import ShapesDataset`` is the way to import it.
"""

from .factory import DATASET_INFO, DATASET_NAMES, build_dataset, canonical_dataset_name
from .fashion import DEFAULT_FASHION_ROOT, FASHION_CLASSES, FashionMNISTIdx, find_fashion_files, read_idx
from .imagefolder import ImageFolderDataset, load_folder_image
from .shapes import SHAPES_DEFAULT_LENGTHS, ShapesDataset, ShapesMasked, SurfacePairs
from .shapes_heldout import (
    HELDOUT_BACKGROUNDS,
    HELDOUT_DEFAULT_LENGTH,
    HELDOUT_STYLES,
    HeldoutScene,
    ShapesHeldoutDataset,
    render_heldout_scene,
)
from .shapes_scene import BACKGROUND_KINDS, SHAPE_CLASSES, ShapeScene, generate_scene, render_shape_scene
from .splits import SPLITS, Transform, check_split

__all__ = [
    "BACKGROUND_KINDS",
    "DATASET_INFO",
    "DATASET_NAMES",
    "DEFAULT_FASHION_ROOT",
    "FASHION_CLASSES",
    "HELDOUT_BACKGROUNDS",
    "HELDOUT_DEFAULT_LENGTH",
    "HELDOUT_STYLES",
    "HeldoutScene",
    "SHAPES_DEFAULT_LENGTHS",
    "SHAPE_CLASSES",
    "SPLITS",
    "FashionMNISTIdx",
    "ImageFolderDataset",
    "ShapeScene",
    "ShapesDataset",
    "ShapesMasked",
    "SurfacePairs",
    "ShapesHeldoutDataset",
    "Transform",
    "build_dataset",
    "canonical_dataset_name",
    "check_split",
    "find_fashion_files",
    "generate_scene",
    "load_folder_image",
    "read_idx",
    "render_heldout_scene",
    "render_shape_scene",
]
