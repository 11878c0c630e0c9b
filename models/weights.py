"""Read a weights file of any common layout into a state dict, and fit it to a model, with one-line errors.

Users bring what their training code saved: a bare ``state_dict``, one inside
a training checkpoint (``state_dict``, ``model``, ``model_state_dict``), with
DataParallel's ``module.`` prefix, as ``.pth.tar``, ``.ckpt``, ``.bin`` or
``.safetensors``. Everything is read with ``torch.load(weights_only=True)`` or
safetensors, so a file cannot run code; when a file cannot be used, the error
says what the file is (a TorchScript archive, a full pickled model, a state
dict for another network) rather than calling it corrupt.
"""

from __future__ import annotations

import argparse
import logging
import pickle
import re
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from attention.errors import CheckpointError

from .archive import UNREADABLE_FILE_ERRORS, ArchiveLimits, check_dense, check_entries, zip_entries
from .checkpoint import check_finite, state_dict_mismatch

LOGGER = logging.getLogger(__name__)

# Every extension a weights file may have, in the CLI, the library and the app's file picker.
WEIGHT_SUFFIXES: tuple[str, ...] = (".pt", ".pth", ".pth.tar", ".tar", ".ckpt", ".bin", ".safetensors")
# Where a training checkpoint keeps the model's weights, in the order they are looked for.
STATE_DICT_KEYS: tuple[str, ...] = ("state_dict", "model", "model_state_dict")
MAX_WEIGHTS_BYTES = 2 << 30  # file size, and the summed uncompressed size of a zip archive's entries
MAX_ARCHIVE_ENTRIES = 200_000
# Weights files may be as large as a real ImageNet network's; the pickle and compression limits are the checkpoints'.
WEIGHTS_LIMITS = ArchiveLimits(unpacked_bytes=MAX_WEIGHTS_BYTES, entries=MAX_ARCHIVE_ENTRIES)
MAX_TENSORS = 100_000
# A safetensors header names each tensor in about 100 bytes; this allows MAX_TENSORS with long names.
MAX_SAFETENSORS_HEADER_BYTES = 32 << 20
# Harmless classes that training scripts put next to the weights (timm's train.py saves its argparse args).
SAFE_GLOBALS: list[Any] = [argparse.Namespace]


@dataclass
class WeightsFile:
    """A state dict read from a file, and what else the file held (``arch``, ``epoch``...), for messages."""

    state_dict: dict[str, torch.Tensor]
    path: Path
    extras: dict[str, Any] = field(default_factory=dict)
    entry: str | None = None  # the file's entry the state dict came from ("state_dict", "model", ...), if any
    ema: tuple[str, ...] = ()  # entries holding EMA weights that were not used

    @property
    def label(self) -> str:
        return self.path.name

    @property
    def arch(self) -> str | None:
        """The architecture name a training checkpoint records (the authors' ECA-Net ``main.py`` does)."""
        arch = self.extras.get("arch")
        return arch if isinstance(arch, str) else None


def has_weight_suffix(name: str) -> bool:
    return str(name).lower().endswith(WEIGHT_SUFFIXES)


def _check_archive(path: Path, label: str) -> bool:
    """True for a zip archive, after checking its directory against the weights files' limits.

    ``torch.load`` unpacks every entry it is pointed to, so a small file whose
    entries claim gigabytes would exhaust memory; the zip directory says how
    much each entry expands to before anything is read. A TorchScript archive
    is recognised here too, because ``weights_only`` can only say that it failed.
    """
    entries = zip_entries(path, label)
    if entries is None:
        return False
    names = [entry.filename for entry in entries]
    if any(name.endswith("constants.pkl") or "/code/" in name for name in names):
        raise CheckpointError(
            f"{label} is a TorchScript archive, which holds a compiled program rather than a state dict; "
            "save torch.jit.load(file).state_dict() with torch.save instead"
        )
    check_entries(entries, label, WEIGHTS_LIMITS, path.stat().st_size)
    return True


def _looks_like_safetensors(path: Path) -> bool:
    """A safetensors file starts with an 8-byte little-endian header length and a JSON header."""
    with open(path, "rb") as handle:
        head = handle.read(9)
    if len(head) < 9:
        return False
    (length,) = struct.unpack("<Q", head[:8])
    return head[8:9] == b"{" and 0 < length < path.stat().st_size


def _check_safetensors_header(path: Path, label: str) -> None:
    """Refuse a header that declares more tensors than MAX_TENSORS before the parser builds every one of them.

    ``load_file`` makes a tensor object per entry however small, so a header
    of a million empty tensors costs gigabytes; the header's own bytes say
    how many there are at the cost of reading them.
    """
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{label} is not a readable safetensors file (corrupt or truncated)")
        (length,) = struct.unpack("<Q", head)
        if length > MAX_SAFETENSORS_HEADER_BYTES:
            raise CheckpointError(
                f"{label}: its safetensors header is {length:,} bytes; the limit is {MAX_SAFETENSORS_HEADER_BYTES:,}"
            )
        header = handle.read(length)  # a header longer than the file reads short, and the parser refuses it
    # Every entry carries a "data_offsets" key, so counting the key bounds the entries without parsing them.
    if header.count(b'"data_offsets"') > MAX_TENSORS:
        raise CheckpointError(f"{label} declares more than {MAX_TENSORS:,} tensors; refused above {MAX_TENSORS:,}")


def _read_safetensors(path: Path, label: str) -> dict[str, Any]:
    _check_safetensors_header(path, label)
    try:
        from safetensors.torch import load_file
    except ImportError as error:
        raise CheckpointError(f"reading {label} needs the safetensors package: pip install safetensors") from error
    try:
        return load_file(str(path), device="cpu")
    except Exception as error:  # noqa: BLE001 - the parser is foreign code; any failure means an unusable file
        LOGGER.warning("unreadable safetensors file %s: %s", path, error)
        raise CheckpointError(f"{label} is not a readable safetensors file (corrupt or truncated)") from error


def _pickles_modules(path: Path) -> bool:
    """Whether the archive's pickle names torch.nn module classes: a ``torch.save(model)`` file."""
    try:
        with zipfile.ZipFile(path) as archive:
            for entry in archive.infolist():
                if entry.filename.endswith("data.pkl") and entry.file_size <= MAX_WEIGHTS_BYTES:
                    return b"torch.nn.modules." in archive.read(entry)
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    return False


def _read_torch(path: Path, label: str, is_zip: bool) -> Any:
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        text = str(error)
        LOGGER.warning("refused weights %s: %s", path, text)
        if "global" not in text.lower():
            raise CheckpointError(f"{label} is not a readable PyTorch file (corrupt or truncated)") from error
        if is_zip and _pickles_modules(path):
            raise CheckpointError(
                f"{label} is a full pickled model, which cannot be loaded safely; "
                "save its state_dict (torch.save(model.state_dict(), file)) instead"
            ) from error
        names = re.findall(r"GLOBAL ([\w.]+)", text)
        what = f" ({names[0]})" if names else ""
        raise CheckpointError(
            f"{label} contains Python objects{what} that a weights file must not hold; "
            "refused (files are loaded with weights_only=True)"
        ) from error
    except (*UNREADABLE_FILE_ERRORS, struct.error) as error:
        LOGGER.warning("unreadable weights %s: %s", path, error)
        raise CheckpointError(f"{label} is not a readable PyTorch file (corrupt or truncated)") from error


def _is_state_dict(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(isinstance(v, torch.Tensor) for v in value.values())


def _ema_entries(entries: dict[Any, Any]) -> tuple[str, ...]:
    """Entries that hold EMA weights (timm's ``state_dict_ema``, ``model_ema``...)."""
    return tuple(k for k, v in entries.items() if isinstance(k, str) and "ema" in k.lower() and isinstance(v, dict))


def _unwrap(
    payload: Any, label: str, entry: str | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, Any], str | None]:
    """The state dict inside what the file held, the file's other top-level entries, and the entry it came from.

    ``entry`` names the top-level entry to read (``state_dict_ema``, say);
    without it the first of STATE_DICT_KEYS is read, as timm's validate does
    without ``--use-ema``.
    """
    if not isinstance(payload, dict):
        raise CheckpointError(f"{label} holds a {type(payload).__name__}, not a state dict")
    extras: dict[str, Any] = {}
    value: Any = payload
    used: str | None = None
    if entry is not None:
        if _is_state_dict(payload) or entry not in payload:
            names = ", ".join(sorted(map(str, payload))[:8]) if not _is_state_dict(payload) else "tensors only"
            raise CheckpointError(f"{label} has no entry {entry!r} (its entries: {names})")
        extras.update({k: v for k, v in payload.items() if k != entry and not isinstance(v, dict | list)})
        value, used = payload[entry], entry
    for _ in range(3):  # a training checkpoint, possibly nested once more
        if _is_state_dict(value):
            break
        if not isinstance(value, dict):
            raise CheckpointError(f"{label} keeps a {type(value).__name__} where its state dict should be")
        key = next((k for k in STATE_DICT_KEYS if k in value), None)
        if key is None:
            keys = ", ".join(sorted(map(str, value))[:8])
            raise CheckpointError(
                f"{label} is a dict without a state dict (its keys: {keys}); "
                f"expected tensors, or one of {', '.join(STATE_DICT_KEYS)}"
            )
        extras.update({k: v for k, v in value.items() if k != key and not isinstance(v, dict | list)})
        used = used or key
        value = value[key]
    else:
        raise CheckpointError(f"{label} has no state dict of tensors")
    if len(value) > MAX_TENSORS:
        raise CheckpointError(f"{label} holds {len(value)} tensors; refused above {MAX_TENSORS}")
    bad = next((k for k in value if not isinstance(k, str)), None)
    if bad is not None:
        raise CheckpointError(f"{label} has a state dict key that is not a string: {bad!r}")
    return dict(value), extras, used


def read_weights(path: str | Path, entry: str | None = None) -> WeightsFile:
    """The state dict in a weights file, read without unpickling arbitrary objects.

    ``entry`` picks a top-level entry of a training checkpoint (``--weights-key``).
    Every failure is a CheckpointError with one line saying what the file is
    and what is wrong with it.
    """
    path = Path(path)
    label = path.name
    if not path.exists():
        raise CheckpointError(f"weights file not found: {path}")
    if not path.is_file():
        raise CheckpointError(f"weights file {label} is not a file")
    if not has_weight_suffix(label):
        raise CheckpointError(f"{label} is not a weights file: the name must end in {', '.join(WEIGHT_SUFFIXES)}")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"{label} is empty")
    if size > MAX_WEIGHTS_BYTES:
        raise CheckpointError(f"{label} is larger than {MAX_WEIGHTS_BYTES >> 20} MB")
    if label.lower().endswith(".safetensors") or (not zipfile.is_zipfile(path) and _looks_like_safetensors(path)):
        payload: Any = _read_safetensors(path, label)
    else:
        payload = _read_torch(path, label, _check_archive(path, label))
    state_dict, extras, used = _unwrap(payload, label, entry)
    check_dense(state_dict, label)
    ema = tuple(k for k in _ema_entries(payload) if k != used) if isinstance(payload, dict) else ()
    LOGGER.info("read %d tensors from %s%s", len(state_dict), path, f" (entry {used!r})" if used else "")
    if ema:
        LOGGER.warning(
            "%s: using the weights in %r; EMA weights are also in %s (--weights-key %s uses them)",
            label,
            used,
            ", ".join(map(repr, ema)),
            ema[0],
        )
    return WeightsFile(state_dict, path, extras, used, ema)


def _model_suffixes(key: str, expected: set[str], longest: int) -> Iterator[str]:
    """Each prefix of ``key`` (ending in a dot) after which the rest is one of the model's names.

    Only the last ``longest`` characters are searched, so a hostile file's
    long names cost no more than the model's own.
    """
    end = key.rfind(".")
    while end >= 0 and len(key) - end - 1 <= longest:
        if key[end + 1 :] in expected:
            yield key[: end + 1]
        end = key.rfind(".", 0, end)


def _prefix(keys: list[str], expected: set[str]) -> str:
    """The one prefix that, taken off the file's names, matches the most of the model's (the shortest on a tie)."""
    longest = max(map(len, expected), default=0)
    counts: dict[str, int] = {}
    for key in keys:
        if key in expected:
            counts[""] = counts.get("", 0) + 1
        for prefix in _model_suffixes(key, expected, longest):
            counts[prefix] = counts.get(prefix, 0) + 1
    if not counts:
        return ""
    return min(counts, key=lambda prefix: (-counts[prefix], len(prefix)))


def _names_a_model_tensor(key: str, expected: set[str], roots: set[str], longest: int) -> bool:
    """Whether ``key`` looks like one of the model's tensors: under a top-level name of the model, or ending in
    one of its names after some prefix."""
    return key.split(".", 1)[0] in roots or next(_model_suffixes(key, expected, longest), None) is not None


def split_keys(
    state_dict: dict[str, torch.Tensor], expected: set[str] | list[str]
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """``state_dict`` keyed as the model names its tensors, and the file's entries that are not the model's.

    Names lose the one common prefix (``module.``, ``model.``, ``_orig_mod.``,
    or any other) that matches the model best, from the front only. An entry
    outside that prefix that names nothing in the model (a loss's
    ``criterion.weight``, optimizer leftovers) is set aside, for the caller to
    list; one that looks like a model tensor stays, so a mismatch is reported.
    """
    expected = set(expected)
    roots = {name.split(".", 1)[0] for name in expected}
    longest = max(map(len, expected), default=0)
    prefix = _prefix(list(state_dict), expected)
    aligned: dict[str, torch.Tensor] = {}
    ignored: list[str] = []
    for key, value in state_dict.items():
        if prefix and key.startswith(prefix):
            aligned[key[len(prefix) :]] = value
        elif _names_a_model_tensor(key, expected, roots, longest):
            aligned[key] = value
        else:
            ignored.append(key)
    return aligned, ignored


def align_keys(state_dict: dict[str, torch.Tensor], expected: set[str] | list[str]) -> dict[str, torch.Tensor]:
    """``state_dict`` keyed as the model names its tensors (``split_keys`` without the entries set aside)."""
    return split_keys(state_dict, expected)[0]


def classifier_size(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> int | None:
    """Outputs of the file's classifier where it differs from the model's last linear layer, else None.

    A network fine-tuned on its own classes differs from the library's
    default only in that layer; reading its size lets the loader build the
    network with the right number of outputs instead of refusing the file.
    """
    head = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            head = (name, module)
    if head is None:
        return None
    name, module = head
    weight = align_keys(state_dict, model.state_dict().keys()).get(f"{name}.weight")
    if not isinstance(weight, torch.Tensor) or weight.ndim != 2 or weight.shape[1] != module.in_features:
        return None
    return int(weight.shape[0]) if weight.shape[0] != module.out_features else None


def fitted_state_dict(model: nn.Module, weights: WeightsFile, target: str) -> dict[str, torch.Tensor]:
    """The file's state dict keyed as ``model`` expects, or a CheckpointError naming the first tensor that differs.

    Keys and shapes are compared first, so ``model`` may live on the meta
    device and a file for another network is refused before any of its values
    are read; only then is every value checked for NaN and infinity.
    """
    label = weights.label
    expected = model.state_dict()
    state_dict, ignored = split_keys(weights.state_dict, expected.keys())
    if ignored:
        shown = ", ".join(ignored[:5]) + (f" and {len(ignored) - 5} more" if len(ignored) > 5 else "")
        LOGGER.warning("%s: ignored %d entries outside %s: %s", label, len(ignored), target, shown)
    # Files from before PyTorch 0.4.1 have no batch-norm step counters; they do not change the output.
    for key, value in expected.items():
        if key.endswith("num_batches_tracked") and key not in state_dict:
            state_dict[key] = torch.zeros_like(value, device="cpu")
    mismatch = state_dict_mismatch(model, state_dict)
    if mismatch:
        saved_as = f" (the file says it was saved from {weights.arch})" if weights.arch else ""
        if any(key not in state_dict for key in expected) or any(key not in expected for key in state_dict):
            raise CheckpointError(
                f"{label} is a state dict for another architecture than {target}: {mismatch}{saved_as}"
            )
        raise CheckpointError(f"{label} does not fit {target}: {mismatch}{saved_as}")
    check_finite(state_dict, label)
    return state_dict


def load_fitted(model: nn.Module, state_dict: dict[str, torch.Tensor], label: str, target: str) -> None:
    """Load a state dict ``fitted_state_dict`` accepted, strictly, with a one-line error for what PyTorch refuses."""
    try:
        model.load_state_dict(state_dict, strict=True)
    except (RuntimeError, TypeError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{label} does not fit {target}: {first_line}") from error


def apply_weights(model: nn.Module, weights: WeightsFile, target: str) -> None:
    """Load ``weights`` into ``model`` strictly, or raise a CheckpointError naming the first tensor that differs."""
    load_fitted(model, fitted_state_dict(model, weights, target), weights.label, target)
