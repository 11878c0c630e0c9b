"""Which library architectures hold a gate the recorder knows, found by laying each one out on the meta device.

The page offers every timm, torchvision and ECA-Net classification network in
which a known gate type is found, not a list of name patterns. Laying out all
of timm takes minutes, so the answer for the installed library versions is
kept in ``models/architectures.json``, written by
``python -m models.architectures``; with other versions installed, or for a
name the file does not hold, one architecture is laid out when it is asked
for, and the answer kept for the process.

Usage: ``python -m models.architectures [--out FILE]``.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
from collections.abc import Iterable
from pathlib import Path

import torch
from tqdm import tqdm

from attention.errors import InputError
from attention.foreign import register_foreign_types
from attention.registry import find_adapter

from .ecanet import eca_layer
from .families import FAMILIES, family

LOGGER = logging.getLogger(__name__)

FILE = Path(__file__).with_name("architectures.json")
SCANNED = ("ecanet", "timm", "torchvision")
# What a teacher sees first in the picker, after the shipped models: well-known attention networks.
FEATURED = (
    "timm:ecaresnet50d",
    "timm:seresnext26d_32x4d",
    "timm:mobilenetv3_large_100",
    "timm:efficientnet_b0",
    "timm:regnety_002",
    "torchvision:mobilenet_v3_large",
    "torchvision:efficientnet_b0",
    "ecanet:eca_resnet50",
    "timm:vit_tiny_patch16_224",
    "timm:deit_tiny_patch16_224",
    "torchvision:vit_b_16",
)
# torchvision's RegNets work out their widths with real tensors, so they cannot be laid out on the meta
# device; those up to this size are built for real during a scan (a few seconds each).
REAL_BUILD_LIMIT = 100_000_000


def library_versions() -> dict[str, str]:
    """The versions a scan depends on: another timm may add, drop or change architectures."""
    import timm
    import torchvision

    return {"timm": timm.__version__, "torchvision": torchvision.__version__}


def _layout(spec: str) -> torch.nn.Module | None:
    key, _, name = spec.partition(":")
    record = family(key)
    try:
        with torch.device("meta"):
            return record.build(name, None, False)
    except Exception as error:  # noqa: BLE001 - any library error means "cannot be laid out"
        if record.parameters is None:
            LOGGER.info("%s cannot be laid out on the meta device: %s", spec, error)
            return None
        try:
            if record.parameters(name) > REAL_BUILD_LIMIT:
                return None
            return record.build(name, None, False)
        except Exception as again:  # noqa: BLE001
            LOGGER.info("%s cannot be built: %s", spec, again)
            return None


@functools.lru_cache(maxsize=4096)
def gated_parameters(spec: str) -> int | None:
    """The parameter count of a library architecture whose layout holds a known gate type; None otherwise.

    Raises InputError, in one line, for a name its library does not have.
    """
    key, sep, name = spec.partition(":")
    if not sep or key not in SCANNED:
        raise InputError(f"{spec} is not a timm:, torchvision: or ecanet: architecture")
    family(key).check_name(name)
    model = _layout(spec)
    if model is None:
        return None
    register_foreign_types()
    # The official ECA-Net's eca_layer is found by the probe, not by type: this project defines it, so it is known.
    if not any(find_adapter(module) is not None or isinstance(module, eca_layer) for module in model.modules()):
        return None
    return sum(parameter.numel() for parameter in model.parameters())


def names(keys: Iterable[str] = SCANNED) -> list[str]:
    """Every classification architecture of these families, as specs."""
    return [f"{key}:{name}" for key in keys for name in FAMILIES[key].names()]


def scan(specs: Iterable[str], progress: bool = True) -> dict[str, int]:
    """{spec: parameters} of each architecture in ``specs`` that holds a known gate."""
    found = {}
    for spec in tqdm(list(specs), desc="laying out architectures", unit="net", disable=not progress):
        parameters = gated_parameters(spec)
        if parameters is not None:
            found[spec] = parameters
    return found


@functools.cache
def known_architectures(path: Path = FILE) -> dict[str, int]:
    """{spec: parameters} from the scan file when it was made with the installed versions; empty otherwise."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        LOGGER.warning("no architecture list at %s (%s); architectures are checked one by one", path, error)
        return {}
    if not isinstance(data, dict) or data.get("versions") != library_versions():
        LOGGER.warning("%s was made for other library versions; architectures are checked one by one", path)
        return {}
    found = data.get("architectures")
    if not isinstance(found, dict):
        return {}
    return {str(spec): int(count) for spec, count in found.items() if isinstance(count, int)}


def attention_architectures(limit: int | None = None) -> list[str]:
    """The architectures the page offers: the featured ones first, then the rest of the scan, sorted.

    ``limit`` leaves out networks with more parameters than that.
    """
    known = known_architectures()
    featured = [spec for spec in FEATURED if spec in known or not known]
    rest = sorted(spec for spec in known if spec not in FEATURED)
    return [spec for spec in featured + rest if limit is None or known.get(spec, 0) <= limit]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.architectures", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=FILE, help=f"where to write the list (default {FILE})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    found = scan(names())
    document = {"versions": library_versions(), "architectures": dict(sorted(found.items()))}
    args.out.write_text(json.dumps(document, indent=1) + "\n")
    sys.stderr.write(f"{len(found)} architectures with known gates written to {args.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
