"""What the app keeps between events: one recorded result per session, and a model cache.

A ``LensResult`` is everything a display control needs to redraw a panel, so
moving a slider never runs the model again. It lives in the session's
``gr.State`` and is never modified after it is built, so Gradio may hand the
same object to several events of that session at once.

``ModelCache`` is the only object shared between requests. It holds loaded
models, which are in eval mode and only read (the Analyzer and its recorder
are safe to use from several threads), so sharing them is safe; the cache's
own dictionaries are guarded by a lock.

What a request may make the server build is bounded: a shipped model, the
model given at launch, an Attention Lens checkpoint, or one of the library
architectures whose layout holds a known gate (``models.architectures``) by
name, with uploaded weights and at most ``MAX_ARCHITECTURE_PARAMETERS``
parameters. A request never runs code and never downloads anything.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from attention.analysis import Analyzer, ImageAnalysis
from attention.discovery import require_attention
from attention.errors import CheckpointError, InputError
from attention.explain import Explanation
from models.architectures import attention_architectures, gated_parameters
from models.checkpoint import DEFAULT_CHECKPOINT, LoadedModel, load_checkpoint, shipped_models
from models.families import FAMILIES
from models.specs import load_model
from models.weights import WEIGHT_SUFFIXES

LOGGER = logging.getLogger(__name__)

# The largest library architecture a request may have the server build. Uploads are capped at
# 256 MB, so a float32 file holds at most about 67 M parameters (a half-precision one twice that);
# 100 M keeps every ResNet-101-class network and refuses senet154, seresnet269d, efficientnet_v2_l
# and the large RegNets, whose builds and passes would tie up a CPU server for long.
MAX_ARCHITECTURE_PARAMETERS = 100_000_000


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
    another layer in the page only redraws. ``explanations`` holds every
    layer's step-by-step view (worked out from those feature maps and the
    module's parameters at analysis time, since the result keeps no model);
    ``note`` is a line the status adds, such as a photo shown to a drawings model.
    """

    analysis: ImageAnalysis
    document: dict[str, Any]
    model_name: str  # the model as the page and the document name it (an upload under this upload's name)
    image_name: str
    timings: Mapping[str, float] = field(default_factory=dict)
    explanations: Mapping[str, Explanation] = field(default_factory=dict)
    note: str = ""
    # What the analysis ran: Grad-CAM beside the masks explains exactly this input with this model.
    model_input: ModelInput | None = None

    @property
    def channel_layer_names(self) -> list[str]:
        """The layers the channel section charts: channel gates, and weights over branches per channel."""
        return [layer.name for layer in self.analysis.layers if layer.kind in ("channel", "branch")]

    @property
    def spatial_layer_names(self) -> list[str]:
        return [layer.name for layer in self.analysis.spatial_layers]

    @property
    def token_layer_names(self) -> list[str]:
        """The self-attention layers whose tokens form a patch grid, which the page can draw."""
        return [layer.name for layer in self.analysis.token_layers if layer.grid is not None]


class LoadedAnalyzer(Analyzer):
    """An Analyzer that remembers the checkpoint it came from, for the page's model line; on ``device`` when given."""

    def __init__(self, loaded: LoadedModel, device: torch.device | None = None) -> None:
        if device is not None:
            loaded.model.to(device)
        super().__init__(loaded.model, loaded.classes, loaded.preprocessing, loaded.name)
        self.loaded = loaded


def analyzer_with_attention(loaded: LoadedModel, device: torch.device | None = None) -> LoadedAnalyzer:
    """An analyzer for ``loaded``; InputError (one line) when no attention layer is found in it."""
    analyzer = LoadedAnalyzer(loaded, device)
    try:
        require_attention(analyzer.layer_names, loaded.name, loaded.model)
    except InputError:
        analyzer.close()
        raise
    return analyzer


@functools.cache
def page_architectures() -> tuple[str, ...]:
    """Architecture specs the picker lists (library names only, never code): featured first, within the size bound."""
    return tuple(attention_architectures(limit=MAX_ARCHITECTURE_PARAMETERS))


def page_accepts(spec: str) -> bool:
    """Whether ``spec`` is a library architecture, listed or not, whose layout holds a known gate (of any size).

    A name the list does not hold (a library version the list was not made
    for, say) is laid out on the meta device once, never built or downloaded.
    """
    if spec in page_architectures():
        return True
    try:
        return gated_parameters(spec) is not None
    except InputError:
        return False


def architecture_parameters(spec: str) -> int:
    """Parameters of a library architecture at its default head, counted on its layout without allocating weights."""
    return gated_parameters(spec) or 0


def file_digest(path: str | Path) -> str:
    """Content hash, so the same checkpoint uploaded twice is loaded once."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ModelCache:
    """Analyzers for shipped checkpoints (kept), the launch model (kept) and uploads (the last few kept).

    Loading happens outside the lock so that a slow upload never blocks
    requests for models that are already loaded; two requests loading the
    same file at once both succeed and one copy is kept.

    ``launches`` are the analyzers for ``python app.py --model ...`` (the flag
    may be given several times, or ``ATTENTION_LENS_MODELS`` name them): they
    join the picker under their names, and the first becomes the default.
    Every model it loads runs on ``device`` (``app.py --device``).
    """

    def __init__(
        self,
        max_uploads: int = 2,
        launch: LoadedAnalyzer | None = None,
        launches: Sequence[LoadedAnalyzer] = (),
        device: torch.device | None = None,
    ) -> None:
        self.max_uploads = max_uploads
        self.device = device if device is not None else torch.device("cpu")
        self.launches: list[LoadedAnalyzer] = [launch] if launch is not None else []
        self.launches += [analyzer for analyzer in launches if analyzer not in self.launches]
        self._lock = threading.Lock()
        self._shipped: dict[str, Analyzer] = {}
        self._uploads: OrderedDict[str, LoadedAnalyzer] = OrderedDict()

    @property
    def launch(self) -> LoadedAnalyzer | None:
        """The first launch model, the page's default; None when the app was started without one."""
        return self.launches[0] if self.launches else None

    def launched(self, name: str | None) -> LoadedAnalyzer | None:
        """The launch model of that name, if there is one."""
        return next((analyzer for analyzer in self.launches if analyzer.name == name), None)

    @property
    def default_name(self) -> str:
        return self.launches[0].name if self.launches else DEFAULT_CHECKPOINT

    def names(self) -> list[str]:
        """Models that need no upload: the launch models first, then the shipped ones on disk now."""
        launched = [analyzer.name for analyzer in self.launches]
        return launched + [name for name in shipped_models() if name not in launched]  # new ones without a restart

    def architectures(self) -> list[str]:
        """Architectures to upload weights for; one a launch model already stands for is listed once, as it."""
        return [spec for spec in page_architectures() if self.launched(spec) is None]

    def choices(self) -> list[tuple[str, str]]:
        """(label, value) pairs for the model picker; the values are what the API's ``model`` accepts."""
        launch = [(f"{analyzer.name} (launch model)", analyzer.name) for analyzer in self.launches]
        shipped = [(name, name) for name in self.names() if self.launched(name) is None]
        # An architecture's label is its name alone, so a picked one fits the box; the status line asks for weights.
        return launch + shipped + [(spec, spec) for spec in self.architectures()]

    def is_architecture(self, name: str | None) -> bool:
        return isinstance(name, str) and page_accepts(name)

    def analyzer(self, name: str | None = None) -> Analyzer:
        """The analyzer a picked name stands for when no file is uploaded; None means the default."""
        name = self.default_name if name is None or name == "" else name
        launched = self.launched(name)
        if launched is not None:
            return launched
        if self.is_architecture(name):
            raise InputError(
                f"{name} is an architecture without weights: upload a weights file for it "
                f"({', '.join(WEIGHT_SUFFIXES)})"
            )
        self.check_name(name)
        return self.shipped(name)

    def check_name(self, name: str | None) -> None:
        """Refuse a model name the page does not offer, in one line, before any file is read."""
        if name is None or name == "" or name in self.names() or self.is_architecture(name):
            return
        text = str(name)
        key, sep, _rest = text.partition(":")
        if sep and key in FAMILIES:
            if key == "hf-hub":
                raise InputError(f"{text} is a Hub download, which the page never makes; pick one from the model list")
            gated_parameters(text)  # an unknown name: one line with the library's close matches
            raise InputError(
                f"{text} holds no gate the recorder knows (SE, ECA, CBAM and their kin), so the page does not "
                "offer it; pick one from the model list"
            )
        if sep:
            raise InputError(
                f"model {text!r} names Python code, which the page never runs; "
                "a factory is accepted only from app.py's --model launch flag"
            )
        available = ", ".join(self.names()) or "none"
        raise InputError(
            f"unknown model {text!r}; choose one of: {available}, or a listed architecture with uploaded weights"
        )

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
        available = shipped_models()
        if name not in available:
            choices = ", ".join(available) or "none"
            raise InputError(f"unknown model {name!r}; choose one of: {choices}")
        analyzer = LoadedAnalyzer(load_checkpoint(name), self.device)
        with self._lock:
            return self._shipped.setdefault(name, analyzer)

    def _cached_upload(self, key: str) -> LoadedAnalyzer | None:
        with self._lock:
            cached = self._uploads.get(key)
            if cached is not None:
                self._uploads.move_to_end(key)
            return cached

    def _keep_upload(self, key: str, analyzer: LoadedAnalyzer) -> LoadedAnalyzer:
        with self._lock:
            analyzer = self._uploads.setdefault(key, analyzer)
            self._uploads.move_to_end(key)
            while len(self._uploads) > self.max_uploads:
                self._uploads.popitem(last=False)
        return analyzer

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
        cached = self._cached_upload(key)
        if cached is not None:
            return cached
        analyzer = LoadedAnalyzer(load_checkpoint(str(path)), self.device)
        require_attention(analyzer.layer_names, name, analyzer.model)
        LOGGER.info("loaded uploaded checkpoint %s (%s)", name, key[:12])
        return self._keep_upload(key, analyzer)

    def check_architecture(self, spec: str) -> int:
        """The parameter count of an architecture a request may have built; InputError for any other name."""
        if not self.is_architecture(spec):
            self.check_name(spec)
            raise InputError(f"{spec} is not an architecture the page builds; pick one from the model list")
        parameters = architecture_parameters(spec)
        if parameters > MAX_ARCHITECTURE_PARAMETERS:
            raise InputError(
                f"{spec} has {parameters / 1e6:.0f} M parameters; the page builds architectures of up to "
                f"{MAX_ARCHITECTURE_PARAMETERS / 1e6:.0f} M (serve it with python app.py --model {spec} --weights FILE)"
            )
        return parameters

    def architecture(self, spec: str, path: str | Path, name: str | None = None) -> LoadedAnalyzer:
        """Analyzer for a listed architecture built with uploaded weights; one-line errors for anything else.

        The name is checked against the list and the size bound before the
        file is read; the weights are read with ``weights_only`` (or
        safetensors) and must fit the architecture exactly. Nothing runs code
        and nothing is downloaded. Cached by architecture and file content.
        """
        self.check_architecture(spec)
        path = Path(path)
        name = name or path.name
        if not path.is_file():
            raise CheckpointError(f"uploaded weights {name} are missing on the server; upload them again")
        key = f"{spec}\0{file_digest(path)}"
        cached = self._cached_upload(key)
        if cached is not None:
            return cached
        loaded = load_model(spec, path, allow_code=False, max_parameters=MAX_ARCHITECTURE_PARAMETERS)
        analyzer = analyzer_with_attention(loaded, self.device)
        LOGGER.info("built %s with uploaded weights %s", spec, name)
        return self._keep_upload(key, analyzer)
