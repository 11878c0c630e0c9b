"""One record per library a network can come from: how to check a name, build, feed, name and count its networks.

``models.specs`` parses ``FAMILY:NAME`` and looks the family up here; the
page's architecture list and its parameter bound read the same records. A new
library is one ``Family`` in ``FAMILIES`` (CONTRIBUTING.md says how).
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from attention.errors import InputError
from attention.images import Preprocessing

from . import ecanet
from .describe import imagenet_classes, imagenet_preprocessing, timm_classes, timm_preprocessing
from .describe import torchvision_preprocessing as _torchvision_preprocessing

LOGGER = logging.getLogger(__name__)

Builder = Callable[..., nn.Module]  # (name, num_classes or None for the default head, pretrained, **file_options)


@dataclass(frozen=True)
class Family:
    """What Attention Lens needs from one model library, each part a plain function of the model's name.

    ``file_options`` reads builder arguments a weights file fixes besides its
    class count (ECA-Net's per-stage kernel widths); ``names`` lists every
    classification network of the library (``models.architectures`` finds
    those with gates); ``parameters`` counts a network at its default head
    without allocating it.
    """

    key: str
    check_name: Callable[[str], None]
    build: Builder
    preprocessing: Callable[[str, nn.Module], Preprocessing]
    classes: Callable[[str, nn.Module, int], list[str] | None]
    names: Callable[[], list[str]] = field(default=lambda: [])
    parameters: Callable[[str], int] | None = None
    file_options: Callable[[str, nn.Module, dict[str, torch.Tensor]], dict[str, Any]] = field(
        default=lambda _name, _layout, _state: {}
    )
    needs_weights: str | None = None  # why the family cannot download weights, if it cannot


def suggest(name: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    return f"; close matches: {', '.join(close)}" if close else ""


def count_on_meta(build: Callable[[], nn.Module]) -> int:
    """Parameters of a network laid out on the meta device: shapes only, no memory."""
    with torch.device("meta"):
        model = build()
    return sum(parameter.numel() for parameter in model.parameters())


# ---------------------------------------------------------------- timm


def _timm_names() -> list[str]:
    import timm

    return timm.list_models()


def _timm_check(name: str) -> None:
    import timm

    if not (timm.is_model(name) or name in timm.list_pretrained()):
        raise InputError(f"unknown timm model {name!r}{suggest(name, timm.list_models())}")


def _timm_build(name: str, num_classes: int | None, pretrained: bool) -> nn.Module:
    import timm

    if pretrained and not (name in timm.list_pretrained() or timm.list_pretrained(f"{name}.*")):
        raise InputError(f"timm has no pretrained weights for timm:{name}; pass --weights FILE")
    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    return timm.create_model(name, pretrained=pretrained, **kwargs)


def _timm_classes(_name: str, model: nn.Module, count: int) -> list[str] | None:
    return timm_classes(model, count) or (imagenet_classes() if count == 1000 else None)


TIMM = Family(
    key="timm",
    check_name=_timm_check,
    build=_timm_build,
    preprocessing=lambda _name, model: timm_preprocessing(model),
    classes=_timm_classes,
    names=_timm_names,
    parameters=lambda name: count_on_meta(lambda: _timm_build(name, None, False)),
)


# ---------------------------------------------------------------- torchvision


def _torchvision_names() -> list[str]:
    import torchvision
    from torchvision.models import list_models

    return list_models(module=torchvision.models)  # classification models only


def _torchvision_check(name: str) -> None:
    names = _torchvision_names()
    if name not in names:
        raise InputError(f"unknown torchvision classification model {name!r}{suggest(name, names)}")


def _torchvision_build(name: str, num_classes: int | None, pretrained: bool) -> nn.Module:
    from torchvision.models import get_model

    if pretrained:
        return get_model(name, weights="DEFAULT")
    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    return get_model(name, weights=None, **kwargs)


def _torchvision_classes(name: str, _model: nn.Module, count: int) -> list[str] | None:
    from torchvision.models import get_model_weights

    categories = get_model_weights(name).DEFAULT.meta.get("categories")
    return list(categories) if categories and len(categories) == count else None


def _torchvision_parameters(name: str) -> int:
    """The count torchvision's weight metadata states: its RegNets work out their widths with real tensors."""
    from torchvision.models import get_model_weights

    return int(get_model_weights(name).DEFAULT.meta["num_params"])


TORCHVISION = Family(
    key="torchvision",
    check_name=_torchvision_check,
    build=_torchvision_build,
    preprocessing=lambda name, _model: _torchvision_preprocessing(name),
    classes=_torchvision_classes,
    names=_torchvision_names,
    parameters=_torchvision_parameters,
)


# ---------------------------------------------------------------- the official ECA-Net


def _ecanet_check(name: str) -> None:
    if name not in ecanet.ARCHITECTURES:
        choices = ", ".join(ecanet.ARCHITECTURES)
        raise InputError(f"unknown ECA-Net architecture {name!r}; choose one of {choices}")


def _ecanet_build(
    name: str, num_classes: int | None, pretrained: bool, k_size: Sequence[int] | None = None
) -> nn.Module:
    if pretrained:
        raise InputError(
            f"ecanet:{name} needs --weights FILE: the authors' released weights cannot be downloaded automatically"
        )
    return ecanet.ARCHITECTURES[name](num_classes=num_classes or 1000, k_size=k_size)


def _ecanet_file_options(name: str, layout: nn.Module, state_dict: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The per-stage kernel widths the file was trained with (the release's where it does not say)."""
    from .bounds import MAX_ECA_KERNEL
    from .weights import align_keys

    k_size = ecanet.kernel_sizes_in(name, align_keys(state_dict, layout.state_dict().keys()))
    for stage, kernel in enumerate(k_size or ()):
        if kernel > MAX_ECA_KERNEL:
            raise InputError(f"its ECA kernel in stage {stage + 1} is {kernel:,} wide; the limit is {MAX_ECA_KERNEL}")
    used = k_size or ecanet.RELEASED_KERNEL_SIZES.get(name)
    return {"k_size": tuple(used) if used else None}


ECANET = Family(
    key="ecanet",
    check_name=_ecanet_check,
    build=_ecanet_build,
    preprocessing=lambda _name, _model: imagenet_preprocessing(centre_crop=True),  # the authors' main.py's validation
    classes=lambda _name, _model, count: imagenet_classes() if count == 1000 else None,
    names=lambda: list(ecanet.ARCHITECTURES),
    parameters=lambda name: count_on_meta(lambda: _ecanet_build(name, None, False)),
    file_options=_ecanet_file_options,
    needs_weights="the authors' released weights cannot be downloaded automatically",
)


# ---------------------------------------------------------------- timm models on the Hugging Face Hub

_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


def _hub_check(name: str) -> None:
    if not _HUB_NAME.match(name):
        raise InputError(f"hf-hub:{name} is not a Hub repository name; write hf-hub:ORGANISATION/MODEL")


def _hub_build(name: str, num_classes: int | None, pretrained: bool) -> nn.Module:
    """timm's model from the Hub repository, its config (and weights when pretrained) from the local Hub cache.

    Online, the Hub client downloads what the cache lacks; with
    HF_HUB_OFFLINE=1 only the cache is read.
    """
    import timm

    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    try:
        return timm.create_model(f"hf-hub:{name}", pretrained=pretrained, **kwargs)
    except (OSError, ValueError, RuntimeError) as error:  # the Hub client's missing-file and offline errors
        LOGGER.warning("hf-hub:%s could not be built: %s", name, error)
        raise InputError(
            f"hf-hub:{name} is not in the local Hugging Face cache and could not be downloaded (offline?)"
        ) from error


HUB = Family(
    key="hf-hub",
    check_name=_hub_check,
    build=_hub_build,
    preprocessing=lambda _name, model: timm_preprocessing(model),
    classes=lambda _name, model, count: (
        _label_names(model, count) or timm_classes(model, count) or (imagenet_classes() if count == 1000 else None)
    ),
)


def _label_names(model: nn.Module, count: int) -> list[str] | None:
    """The class names a Hub config states (timm writes ``label_names`` into it), if they fit the output count."""
    names = (getattr(model, "pretrained_cfg", None) or {}).get("label_names")
    return [str(name) for name in names] if isinstance(names, list) and len(names) == count else None


FAMILIES: dict[str, Family] = {family.key: family for family in (ECANET, TIMM, TORCHVISION, HUB)}


def family(key: str) -> Family:
    """The record for a family key; an unknown key is an error, never a fall-through to another library."""
    try:
        return FAMILIES[key]
    except KeyError:
        raise InputError(f"unknown model family {key!r}; choose one of {', '.join(FAMILIES)}") from None
