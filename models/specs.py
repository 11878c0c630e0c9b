"""One model spec for the CLI, the app and the library: which network to build, and from where its weights come.

Specs:

- ``shapes``, ``fashion``, or a path to an Attention Lens checkpoint;
- ``FAMILY:NAME`` for a library family in ``models.families``: ``timm:NAME`` and
  ``torchvision:NAME`` (any classification model of those libraries), ``ecanet:NAME``
  (the official ECA-Net architectures) and ``hf-hub:ORG/MODEL`` (timm's models on the Hub);
- ``path/to/file.py:FUNCTION`` or ``package.module:FUNCTION``: the user's own
  factory returning an ``nn.Module``. It runs the user's code, so only callers
  that speak for the person at the keyboard (the CLI, app.py's launch flags)
  pass ``allow_code=True``; a spec from an upload never does.

Library names are checked against the libraries' own lists before anything is
built, so a spec cannot reach any other code. Weights come from a file
(models.weights) or from the library's pretrained weights through its own cache.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from attention.errors import CheckpointError, InputError
from attention.images import Preprocessing

from .bounds import MAX_CLASSES
from .checkpoint import DEFAULT_CHECKPOINT, FORMAT, SHIPPED, LoadedModel, load_checkpoint
from .describe import (
    apply_overrides,
    imagenet_classes,
    imagenet_preprocessing,
    numbered_classes,
    read_classes,
    timm_classes,
    timm_preprocessing,
)
from .families import FAMILIES, family
from .weights import (
    WeightsFile,
    apply_weights,
    classifier_size,
    fitted_state_dict,
    has_weight_suffix,
    load_fitted,
    read_weights,
    split_keys,
)

LOGGER = logging.getLogger(__name__)

MAX_SPEC_LENGTH = 500

_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_CODE_SPEC = re.compile(rf"^(?P<target>.+\.py|{_IDENTIFIER}(?:\.{_IDENTIFIER})*):(?P<function>{_IDENTIFIER})$")


@dataclass(frozen=True)
class ModelSpec:
    """A parsed spec: ``kind`` is ``checkpoint``, a library family, ``file`` or ``module``."""

    kind: str
    name: str
    text: str
    function: str | None = None

    @property
    def runs_code(self) -> bool:
        return self.kind in ("file", "module")


def parse_spec(text: str | Path | None, allow_code: bool = False) -> ModelSpec:
    """Classify a spec without building anything; a spec that would run code needs ``allow_code``."""
    text = DEFAULT_CHECKPOINT if text is None or str(text).strip() == "" else str(text).strip()
    if len(text) > MAX_SPEC_LENGTH or any(ord(c) < 32 for c in text):
        raise InputError("the model spec is too long or has control characters")
    key, sep, name = text.partition(":")
    if sep and key in FAMILIES:
        if not name:
            raise InputError(f"model spec {text!r} names no model; write {key}:NAME")
        return ModelSpec(key, name, text)
    match = _CODE_SPEC.match(text)
    if match and not Path(text).expanduser().exists():
        kind = "file" if match["target"].endswith(".py") else "module"
        if not allow_code:
            raise InputError(
                f"model spec {text!r} runs Python code, which is accepted only from the command line "
                "or app.py's launch flags"
            )
        return ModelSpec(kind, match["target"], text, match["function"])
    return ModelSpec("checkpoint", text, text)


# ---------------------------------------------------------------- builders


def _download_error(spec: ModelSpec, error: Exception) -> InputError:
    LOGGER.warning("pretrained weights for %s failed: %s", spec.text, error)
    return InputError(f"could not download {spec.text}'s pretrained weights (offline?); pass --weights FILE")


def _on_meta(make: Callable[[], nn.Module]) -> nn.Module | None:
    """``make()`` with shapes only and no memory, or None for a network that computes its layout from tensor values.

    torchvision's RegNets work their widths out with real tensor arithmetic,
    which the meta device cannot do; their callers build them for real.
    """
    try:
        with torch.device("meta"):
            return make()
    except (NotImplementedError, RuntimeError) as error:
        LOGGER.info("cannot lay out %s on the meta device: %s", getattr(make, "__name__", "the model"), error)
        return None


def _parameter_count(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def _file_classes(layout: nn.Module, weights: WeightsFile) -> int | None:
    """The class count the file's classifier sets, bounded like a checkpoint config's before anything is built."""
    num_classes = classifier_size(layout, weights.state_dict)
    if num_classes is not None and num_classes > MAX_CLASSES:
        raise CheckpointError(
            f"{weights.label}: its classifier has {num_classes:,} outputs; the limit is {MAX_CLASSES:,} classes"
        )
    return num_classes


def _build_fitted(
    spec: ModelSpec, make: Callable[[int | None], nn.Module], weights: WeightsFile, max_parameters: int | None
) -> tuple[nn.Module, int | None]:
    """(model with the file's weights, the file's class count), everything the file declares checked before the build.

    The network the file describes (its class count read from its classifier)
    is laid out on the meta device first: its parameters are counted and the
    file's keys and shapes compared there, so a file that would build a huge
    model, or that fits another network, costs no memory to refuse.
    """
    layout = _on_meta(lambda: make(None)) or make(None)
    num_classes = _file_classes(layout, weights)
    if num_classes is not None:
        layout = _on_meta(lambda: make(num_classes)) or make(num_classes)
    parameters = _parameter_count(layout)
    if max_parameters is not None and parameters > max_parameters:
        raise CheckpointError(
            f"{weights.label} makes {spec.text} a network of {parameters / 1e6:.0f} M parameters; "
            f"the limit is {max_parameters / 1e6:.0f} M"
        )
    state_dict = fitted_state_dict(layout, weights, spec.text)
    model = make(num_classes) if any(tensor.is_meta for tensor in layout.state_dict().values()) else layout
    load_fitted(model, state_dict, weights.label, spec.text)
    return model, num_classes


def _require_attention_before_download(spec: ModelSpec, record: Any) -> None:
    """Refuse a network without attention before its pretrained weights are fetched, in require_attention's words.

    Laid out on the meta device, a network whose gates are of types the
    recorder knows (timm's and torchvision's) is accepted at once; any other is
    built at random init, which downloads nothing, and probed for gates.
    """
    from attention.discovery import require_attention
    from attention.foreign import register_foreign_types
    from attention.recorder import find_adapter, find_attention_layers

    register_foreign_types()
    layout = _on_meta(lambda: record.build(spec.name, None, False))
    model = layout if layout is not None else record.build(spec.name, None, False).eval()
    if any(find_adapter(module) is not None for module in model.modules()):
        return
    if model is layout:  # the probe needs real values
        model = record.build(spec.name, None, False).eval()
    require_attention(find_attention_layers(model), spec.text, model)


def _build_library_model(
    spec: ModelSpec, weights: WeightsFile | None, max_parameters: int | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """(model with its weights, config) for a library family, built by its record in ``models.families``."""
    record = family(spec.kind)
    record.check_name(spec.name)
    config: dict[str, Any] = {"family": spec.kind, "name": spec.name}
    if weights is None:
        if record.needs_weights:
            raise InputError(f"{spec.text} needs --weights FILE: {record.needs_weights}")
        _require_attention_before_download(spec, record)
        try:
            # torch.hub announces downloads on stdout, which belongs to the CLI's --json document.
            with contextlib.redirect_stdout(sys.stderr):
                model = record.build(spec.name, None, True)
        except InputError:
            raise
        except Exception as error:  # noqa: BLE001 - network, cache and hub errors all mean "no weights"
            raise _download_error(spec, error) from error
        config["pretrained"] = True
        return model, config
    default = _on_meta(lambda: record.build(spec.name, None, False)) or record.build(spec.name, None, False)
    try:
        options = record.file_options(spec.name, default, weights.state_dict)
    except InputError as error:
        raise CheckpointError(f"{weights.label}: {error}") from error
    model, num_classes = _build_fitted(
        spec, lambda count: record.build(spec.name, count, False, **options), weights, max_parameters
    )
    config.update(pretrained=False, num_classes=num_classes)
    config.update({key: list(value) if isinstance(value, tuple) else value for key, value in options.items()})
    return model, config


def _library_preprocessing(spec: ModelSpec, model: nn.Module) -> Preprocessing:
    """What the model's library states for it; for a network of the user's own, timm's config or ImageNet's."""
    if spec.runs_code:
        return timm_preprocessing(model) if getattr(model, "pretrained_cfg", None) else imagenet_preprocessing()
    return family(spec.kind).preprocessing(spec.name, model)


def _library_classes(spec: ModelSpec, model: nn.Module, count: int) -> list[str] | None:
    """The label names the model's library gives for its output count, if any."""
    if spec.runs_code:
        names = timm_classes(model, count) if getattr(model, "pretrained_cfg", None) else None
        return names or (imagenet_classes() if count == 1000 else None)
    return family(spec.kind).classes(spec.name, model, count)


def _import_factory(spec: ModelSpec) -> Callable[[], Any]:
    """The user's factory function, imported from a file or a module."""
    function = spec.function or ""
    if spec.kind == "file":
        path = Path(spec.name).expanduser().resolve()
        if not path.is_file():
            raise InputError(f"factory file not found: {spec.name}")
        module_name = "attention_lens_user_" + re.sub(r"\W", "_", path.stem)
        loader_spec = importlib.util.spec_from_file_location(module_name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise InputError(f"cannot import {spec.name} as Python")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[module_name] = module  # dataclasses and pickling look modules up here
        sys.path.insert(0, str(path.parent))  # so the file can import its neighbours
        try:
            loader_spec.loader.exec_module(module)
        except Exception as error:  # noqa: BLE001 - the user's code may raise anything; report it in one line
            sys.modules.pop(module_name, None)
            raise InputError(f"running {path.name} failed: {type(error).__name__}: {error}") from error
        finally:
            sys.path.remove(str(path.parent))
        where = path.name
    else:
        try:
            module = importlib.import_module(spec.name)
        except Exception as error:  # noqa: BLE001 - as above
            raise InputError(f"cannot import module {spec.name}: {type(error).__name__}: {error}") from error
        where = f"module {spec.name}"
    factory = getattr(module, function, None)
    if not callable(factory):
        raise InputError(f"{where} has no function {function}")
    return factory


def _build_factory_model(spec: ModelSpec, weights: WeightsFile | None) -> tuple[nn.Module, dict[str, Any]]:
    factory = _import_factory(spec)
    try:
        model = factory()
    except Exception as error:  # noqa: BLE001 - the user's code may raise anything; report it in one line
        raise InputError(f"{spec.text} raised {type(error).__name__}: {error}") from error
    if not isinstance(model, nn.Module):
        raise InputError(f"{spec.text} returned a {type(model).__name__}, not a torch.nn.Module")
    if weights is not None:
        apply_weights(model, weights, spec.text)
    return model, {"family": "factory", "name": spec.text}


def _output_count(model: nn.Module, preprocessing: Preprocessing, target: str) -> int:
    """Number of classes the model outputs, from one pass on a blank input of the size it will be fed.

    The pass also proves that the model accepts that size, so a wrong
    ``--input-size`` is reported at load time rather than on the first image.
    """
    height, width = preprocessing.input_size
    probe = torch.zeros(1, preprocessing.channels, height, width)
    try:
        with torch.inference_mode():
            output = model(probe)
    except Exception as error:  # noqa: BLE001 - any network may fail on an input it does not accept
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(
            f"{target} fails on a {preprocessing.channels}x{height}x{width} input ({first}); "
            "set --input-size, --channels, --mean and --std to what it expects"
        ) from error
    if not isinstance(output, torch.Tensor) or output.ndim != 2 or output.shape[0] != 1:
        shape = list(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise InputError(f"{target} returns {shape}, not one row of class scores per image")
    return int(output.shape[1])


# ---------------------------------------------------------------- entry point


def load_model(
    spec: str | Path | None,
    weights: str | Path | None = None,
    classes: str | Path | Sequence[str] | None = None,
    preprocessing_overrides: dict[str, Any] | None = None,
    allow_code: bool = False,
    max_parameters: int | None = None,
    weights_key: str | None = None,
) -> LoadedModel:
    """A model in eval mode with its class names and preprocessing, from any spec.

    Args:
        spec: see the module docstring; None means the default shipped model.
        weights: a weights file (models.weights.WEIGHT_SUFFIXES); without one,
            timm and torchvision models download their pretrained weights.
        classes: a classes file, or the names themselves; one per model output.
        preprocessing_overrides: ``input_size``, ``channels``, ``mean``, ``std``.
        allow_code: accept a factory spec, which runs the user's Python code.
        max_parameters: refuse a library network with weights whose file makes it larger,
            counted before it is built (a server's bound; the command line sets none).
        weights_key: the entry of a training checkpoint to read (``state_dict_ema``, say);
            by default its first state dict (``state_dict``, ``model``), as timm's validate reads it.

    Every failure is an InputError (CheckpointError for files) with one line.
    """
    parsed = parse_spec(spec, allow_code=allow_code)
    if parsed.kind == "checkpoint":
        if weights is not None:
            raise InputError(
                f"--weights goes with timm:, torchvision:, ecanet: or a factory spec; "
                f"{parsed.text} is an Attention Lens checkpoint, which carries its own weights"
            )
        try:
            loaded = load_checkpoint(parsed.text)
        except CheckpointError as error:
            inferred, weights_file = _training_file_spec(parsed.text, error, weights_key)
            return _load_built(parse_spec(inferred), weights_file, classes, preprocessing_overrides, max_parameters)
        if weights_key is not None:
            raise InputError(
                f"--weights-key picks an entry of a weights file; {parsed.text} is an Attention Lens "
                "checkpoint, which carries one model"
            )
        class_names = _class_override(classes, len(loaded.classes), parsed.text)
        if class_names is not None:
            loaded.classes = class_names
        loaded.preprocessing = apply_overrides(loaded.preprocessing, preprocessing_overrides)
        return loaded

    if weights_key is not None and weights is None:
        raise InputError("--weights-key NAME picks an entry of a weights file; give --weights FILE too")
    weights_file = read_weights(weights, weights_key) if weights is not None else None
    return _load_built(parsed, weights_file, classes, preprocessing_overrides, max_parameters)


def _load_built(
    parsed: ModelSpec,
    weights_file: WeightsFile | None,
    classes: str | Path | Sequence[str] | None,
    preprocessing_overrides: dict[str, Any] | None,
    max_parameters: int | None = None,
) -> LoadedModel:
    if parsed.runs_code:
        model, config = _build_factory_model(parsed, weights_file)
    else:
        model, config = _build_library_model(parsed, weights_file, max_parameters)
    model.eval()
    preprocessing = apply_overrides(_library_preprocessing(parsed, model), preprocessing_overrides)
    count = _output_count(model, preprocessing, parsed.text)
    class_names = (
        _class_override(classes, count, parsed.text)
        or _library_classes(parsed, model, count)
        or numbered_classes(count)
    )
    config["num_classes"] = count
    if weights_file is not None:
        source = str(weights_file.path)
        config["weights"] = {
            "file": weights_file.label,
            "entry": weights_file.entry,
            "ema": list(weights_file.ema),
            "ignored": split_keys(weights_file.state_dict, model.state_dict().keys())[1],
        }
    else:
        source = "pretrained" if config.get("pretrained") else parsed.text
    LOGGER.info("loaded %s (%d classes) from %s", parsed.text, count, source)
    return LoadedModel(
        model=model,
        name=parsed.text,
        arch=parsed.text,
        config=config,
        classes=class_names,
        preprocessing=preprocessing,
        source=source,
    )


def _training_file_spec(text: str, error: CheckpointError, entry: str | None = None) -> tuple[str, WeightsFile]:
    """The spec a training script's checkpoint names, for a file given where an Attention Lens checkpoint goes.

    The authors' ECA-Net ``main.py`` and timm's ``train.py`` store the model's
    name as ``arch``; torchvision's reference script stores it in ``args.model``.
    Such a file then opens with ``--model FILE`` alone. Anything else re-raises
    ``error``, or says what to pass instead when the file is a plain state dict.
    """
    path = Path(text).expanduser()
    if text in SHIPPED or not path.is_file() or not has_weight_suffix(path.name):
        raise error
    try:
        weights = read_weights(path, entry)
    except CheckpointError:
        if entry is not None:
            raise
        raise error from None  # not a weights file either: the checkpoint's own message says more
    if weights.extras.get("format") == FORMAT:
        raise error  # an Attention Lens checkpoint with a problem of its own
    arch = weights.arch
    model_arg = getattr(weights.extras.get("args"), "model", None)
    # ECA-Net's and timm's scripts record ``arch``; torchvision's records ``args.model``.
    candidates = [("ecanet", arch), ("timm", arch)] if arch is not None else [("torchvision", model_arg)]
    for key, name in candidates:
        if not isinstance(name, str):
            continue
        try:
            family(key).check_name(name)
        except InputError:
            continue
        return f"{key}:{name}", weights
    raise CheckpointError(
        f"{path.name} is a weights file, not an Attention Lens checkpoint; name its network with "
        f"--model timm:NAME, torchvision:NAME, ecanet:NAME or file.py:FUNCTION, and pass --weights {path.name}"
    ) from error


def _class_override(classes: str | Path | Sequence[str] | None, count: int, target: str) -> list[str] | None:
    if classes is None:
        return None
    if isinstance(classes, str | Path):
        names, where = read_classes(classes), Path(classes).name
    else:
        names, where = [str(name) for name in classes], "the class list"
    if len(names) != count:
        raise InputError(f"{where} names {len(names)} classes but {target} has {count} outputs")
    return names
