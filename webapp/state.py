"""What the app keeps between events: one recorded result per session, and a model cache.

A ``LensResult`` is everything a display control needs to redraw a panel, so
moving a slider never runs the model again. It lives in the session's
``gr.State`` and is never modified after it is built, so Gradio may hand the
same object to several events of that session at once.

``ModelCache`` is the only object shared between requests. It holds loaded
models, which are in eval mode and only read (the Analyzer and its recorder
are safe to use from several threads), so sharing them is safe; the cache's
own dictionaries are guarded by a lock.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from attention.analysis import Analyzer, ImageAnalysis
from attention.errors import CheckpointError, InputError
from models.checkpoint import DEFAULT_CHECKPOINT, LoadedModel, load_checkpoint, shipped_models

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelInput:
    """The exact model input (1, C, H, W) of an analysis, and the analyzer that ran it.

    The analyzer is held weakly: a session must not keep an uploaded model
    alive for 30 minutes after the cache has let it go.
    """

    tensor: torch.Tensor
    analyzer: weakref.ref[Analyzer]


@dataclass(frozen=True)
class LensResult:
    """One analysed image: the recorded attention, feature maps and the JSON document.

    ``analysis.feature_maps`` holds the feature map entering every layer
    (C, H, W), recorded during the single forward pass, so that choosing
    another layer in the page only redraws.
    """

    analysis: ImageAnalysis
    document: dict[str, Any]
    checkpoint: str
    image_name: str
    timings: Mapping[str, float] = field(default_factory=dict)
    # What the analysis ran: Grad-CAM beside the masks explains exactly this input with this model.
    model_input: ModelInput | None = None

    @property
    def channel_layer_names(self) -> list[str]:
        return [layer.name for layer in self.analysis.channel_layers]

    @property
    def spatial_layer_names(self) -> list[str]:
        return [layer.name for layer in self.analysis.spatial_layers]


class LoadedAnalyzer(Analyzer):
    """An Analyzer that remembers the checkpoint it came from, for the page's model line."""

    def __init__(self, loaded: LoadedModel) -> None:
        super().__init__(loaded.model, loaded.classes, loaded.preprocessing, loaded.name)
        self.loaded = loaded


def analyzer_for(loaded: LoadedModel) -> LoadedAnalyzer:
    return LoadedAnalyzer(loaded)


def file_digest(path: str | Path) -> str:
    """Content hash, so the same checkpoint uploaded twice is loaded once."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ModelCache:
    """Analyzers for shipped checkpoints (kept) and uploaded ones (the last few kept).

    Loading happens outside the lock so that a slow upload never blocks
    requests for models that are already loaded; two requests loading the
    same file at once both succeed and one copy is kept.
    """

    def __init__(self, max_uploads: int = 2) -> None:
        self.max_uploads = max_uploads
        self._lock = threading.Lock()
        self._shipped: dict[str, Analyzer] = {}
        self._uploads: OrderedDict[str, LoadedAnalyzer] = OrderedDict()

    @staticmethod
    def names() -> list[str]:
        """Shipped checkpoints that exist on disk now (new ones appear without a restart)."""
        return shipped_models()

    def shipped(self, name: str | None = None) -> Analyzer:
        """Analyzer for a shipped model; only shipped names are accepted.

        A name is never treated as a path: the API is public, and a path would
        let any client make the server read files of its choosing.
        """
        name = name or DEFAULT_CHECKPOINT
        with self._lock:
            cached = self._shipped.get(name)
        if cached is not None:
            return cached
        available = self.names()
        if name not in available:
            choices = ", ".join(available) or "none"
            raise InputError(f"unknown model {name!r}; choose one of: {choices}")
        analyzer = analyzer_for(load_checkpoint(name))
        with self._lock:
            return self._shipped.setdefault(name, analyzer)

    def uploaded(self, path: str | Path, name: str | None = None) -> LoadedAnalyzer:
        """Analyzer for a checkpoint file a user uploaded; CheckpointError if it is not one.

        Cached by content, so the same bytes under a second name load once; the
        caller shows ``name`` (this upload's name), not the first upload's.
        """
        path = Path(path)
        name = name or path.name
        if not path.is_file():
            raise CheckpointError(f"uploaded checkpoint {name} is missing on the server; upload it again")
        key = file_digest(path)
        with self._lock:
            cached = self._uploads.get(key)
            if cached is not None:
                self._uploads.move_to_end(key)
                return cached
        analyzer = analyzer_for(load_checkpoint(str(path)))
        if not analyzer.layer_names:
            raise CheckpointError(f"{name} has no attention layers to show")
        with self._lock:
            self._uploads[key] = analyzer
            self._uploads.move_to_end(key)
            while len(self._uploads) > self.max_uploads:
                self._uploads.popitem(last=False)
        LOGGER.info("loaded uploaded checkpoint %s (%s)", name, key[:12])
        return analyzer
