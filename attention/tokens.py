"""Self-attention over tokens: recording its probabilities, the token layout, and attention rollout.

A vision transformer's attention layer computes ``softmax(q·kᵀ/√d)`` per head
and mixes the values with it. Fused kernels (``F.scaled_dot_product_attention``)
never materialise those probabilities, and switching a model to another code
path would change what is being explained, so the recorder computes them from
the pass's own q and k:

* timm's ``Attention`` passes q and k through its ``q_norm`` and ``k_norm``
  children (identities unless the model normalises them), so forward hooks on
  those children see the exact q and k of the pass, after any normalisation;
* ``nn.MultiheadAttention`` (torchvision's ViT) computes q and k inside one
  function call, so its hook projects the inputs it saw with the module's own
  in-projection weights, the same packed linear the module runs.

The probabilities are then the same operations timm's unfused path runs,
``(q * scale) @ kᵀ`` and a softmax, in the pass's dtype. The model's output is
untouched: the hooks only read.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.hooks import RemovableHandle

from .records import ATTENTION_FULL, ATTENTION_ROWS, TOKEN, Adapter, OpenRecording, TokenRecord, cpu_copy

LOGGER = logging.getLogger(__name__)

# Abnar & Zuidema (2020): each layer's residual connection is modelled as 0.5·A + 0.5·I.
ROLLOUT_RESIDUAL = 0.5
ROLLOUT_NOTE = (
    "rollout: each layer's head-mean attention A becomes 0.5·A + 0.5·I for the residual connection, "
    "rows renormalised, multiplied from the first layer to the last"
)


def _probabilities(
    q: torch.Tensor, k: torch.Tensor, scale: float, mask: torch.Tensor | None, mask_allows: bool, causal: bool
) -> torch.Tensor:
    """(B, heads, N, N) attention probabilities from q and k (B, heads, N, d), as an unfused path computes them.

    ``mask`` follows the caller's convention: a boolean mask allows where True
    when ``mask_allows`` (scaled_dot_product_attention's) and forbids where
    True otherwise (MultiheadAttention's); a float mask is added.
    """
    scores = (q * scale) @ k.transpose(-2, -1)
    if causal:
        n, m = scores.shape[-2:]
        scores = scores.masked_fill(torch.ones(n, m, dtype=torch.bool, device=scores.device).triu(1), float("-inf"))
    if mask is not None:
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask if mask_allows else mask, float("-inf"))
        else:
            scores = scores + mask.to(scores.dtype)
    return scores.softmax(dim=-1)


def _token_record(
    name: str,
    type_name: str,
    q: torch.Tensor,
    k: torch.Tensor,
    scale: float,
    mask: torch.Tensor | None,
    mask_allows: bool,
    causal: bool,
    level: str,
) -> TokenRecord:
    """The record of one pass at the recording's level; the ``rows`` level works out token 0's row alone."""
    with torch.no_grad():
        if level == ATTENTION_ROWS:
            row_mask = None if mask is None else mask[..., :1, :] if mask.dim() >= 2 and mask.shape[-2] > 1 else mask
            first = _probabilities(q[:, :, :1], k, scale, row_mask, mask_allows, causal)[:, :, 0]
            return TokenRecord(name=name, type=type_name, first=cpu_copy(first))
        probabilities = _probabilities(q, k, scale, mask, mask_allows, causal)
        return TokenRecord(
            name=name,
            type=type_name,
            first=cpu_copy(probabilities[:, :, 0, :]),
            received=cpu_copy(probabilities.mean(dim=2)),
            mean=cpu_copy(probabilities.mean(dim=1)),
            full=cpu_copy(probabilities) if level == ATTENTION_FULL else None,
        )


def _keep_tokens(recording: OpenRecording, name: str, tokens: torch.Tensor) -> None:
    """The layer's input tokens (B, N, D), when the recording keeps this layer's input: the Explain view's start."""
    if name in recording.feature_layers:
        recording.features[name] = cpu_copy(tokens if tokens.dim() == 3 else tokens.unsqueeze(0))


def input_tokens(inputs: tuple[Any, ...], _output: Any) -> torch.Tensor | None:
    """A self-attention layer's input tokens; the recorder asks for it only to know the layer can keep them."""
    return inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None


def argument(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: Any = None) -> Any:
    """A forward call's argument ``name``, given by keyword or at position ``index``."""
    if name in kwargs:
        return kwargs[name]
    return args[index] if len(args) > index else default


# timm's Attention ------------------------------------------------------------------------------


def _install_timm_attention(
    name: str, module: nn.Module, open_recording: Callable[[], OpenRecording | None]
) -> list[RemovableHandle]:
    """Hooks on ``q_norm`` and ``k_norm`` keep the pass's q and k; the module's own hook turns them into a record."""
    stash = threading.local()

    def keep(slot: str) -> Callable[..., None]:
        def hook(_child: nn.Module, _inputs: tuple[Any, ...], output: torch.Tensor) -> None:
            if open_recording() is not None:
                setattr(stash, slot, output)

        return hook

    def record(_module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], _output: Any) -> None:
        recording = open_recording()
        q, k = getattr(stash, "q", None), getattr(stash, "k", None)
        stash.q = stash.k = None
        if recording is None:
            return
        if q is None or k is None:
            raise RuntimeError(f"{name}: q and k were not seen by q_norm and k_norm; this Attention is not timm's")
        mask = argument(args, kwargs, 1, "attn_mask")
        causal = bool(argument(args, kwargs, 2, "is_causal", False))
        entry = _token_record(name, "timm_attention", q, k, module.scale, mask, True, causal, recording.attention)
        recording.records.append(entry)
        _keep_tokens(recording, name, argument(args, kwargs, 0, "x"))

    handles = [
        module.q_norm.register_forward_hook(keep("q")),
        module.k_norm.register_forward_hook(keep("k")),
    ]
    try:
        handles.append(module.register_forward_hook(record, with_kwargs=True))
    except BaseException:
        for handle in handles:
            handle.remove()
        raise
    return handles


def timm_attention_adapter() -> Adapter:
    return Adapter(TOKEN, None, feature_map=input_tokens, install=_install_timm_attention)


# torch's MultiheadAttention ----------------------------------------------------------------------


def _install_multihead(
    name: str, module: nn.Module, open_recording: Callable[[], OpenRecording | None]
) -> list[RemovableHandle]:
    """One hook on the module: q and k are the module's own in-projection of the query and key it was given."""
    if module.bias_k is not None or module.add_zero_attn or module.in_proj_weight is None:
        # Extra key tokens, or keys and values of another size (cross-attention): not self-attention over the
        # patches. The rest of the model is still recorded.
        LOGGER.warning("%s: a MultiheadAttention with add_bias_kv, add_zero_attn or kdim/vdim is not recorded", name)
        return []

    def record(_module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], _output: Any) -> None:
        recording = open_recording()
        if recording is None:
            return
        with torch.no_grad():
            q, k, mask, causal = _multihead_inputs(module, args, kwargs)
        scale = 1.0 / math.sqrt(q.shape[-1])
        record = _token_record(name, "multihead_attention", q, k, scale, mask, False, causal, recording.attention)
        recording.records.append(record)
        query = argument(args, kwargs, 0, "query")
        _keep_tokens(recording, name, query if module.batch_first or query.dim() == 2 else query.transpose(0, 1))

    return [module.register_forward_hook(record, with_kwargs=True)]


def multihead_probabilities(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    """(B, heads, N, M) attention of a MultiheadAttention call, from the arguments its forward hook saw."""
    q, k, mask, causal = _multihead_inputs(module, args, kwargs)
    return _probabilities(q, k, 1.0 / math.sqrt(q.shape[-1]), mask, mask_allows=False, causal=causal)


def _multihead_inputs(
    module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, bool]:
    """q and k (B, heads, N, d) as the module projects them, the mask it applies, and whether it is causal."""
    query, key = argument(args, kwargs, 0, "query"), argument(args, kwargs, 1, "key")
    key_padding_mask, attn_mask = argument(args, kwargs, 3, "key_padding_mask"), argument(args, kwargs, 5, "attn_mask")
    causal = bool(argument(args, kwargs, 7, "is_causal", False))
    if not module.batch_first:
        query, key = query.transpose(0, 1), key.transpose(0, 1)
    if query.dim() == 2:  # one unbatched sequence
        query, key = query.unsqueeze(0), key.unsqueeze(0)
    embed, heads = module.embed_dim, module.num_heads
    weight, bias = module.in_proj_weight, module.in_proj_bias
    if query is key:
        # The module's own packed projection, then the q and k thirds of it.
        packed = F.linear(query, weight, bias)
        q, k = packed[..., :embed], packed[..., embed : 2 * embed]
    else:
        q = F.linear(query, weight[:embed], None if bias is None else bias[:embed])
        k = F.linear(key, weight[embed : 2 * embed], None if bias is None else bias[embed : 2 * embed])
    batch, n, m = q.shape[0], q.shape[1], k.shape[1]
    q = q.reshape(batch, n, heads, -1).transpose(1, 2)
    k = k.reshape(batch, m, heads, -1).transpose(1, 2)
    mask = None
    if attn_mask is not None:
        mask = attn_mask.reshape(-1, heads, n, m) if attn_mask.dim() == 3 else attn_mask
        if mask.dtype != torch.bool:
            mask = mask.to(q.dtype)
    if key_padding_mask is not None:
        padding = key_padding_mask.reshape(batch, 1, 1, m)
        padding = padding if padding.dtype == torch.bool else padding.to(q.dtype)
        if mask is None:
            mask = padding
        elif mask.dtype == torch.bool and padding.dtype == torch.bool:
            mask = mask | padding
        else:
            as_float = [
                torch.zeros_like(p, dtype=q.dtype).masked_fill(p, float("-inf")) if p.dtype == torch.bool else p
                for p in (mask, padding)
            ]
            mask = as_float[0] + as_float[1]
    return q, k, mask, causal


def multihead_adapter() -> Adapter:
    return Adapter(TOKEN, None, feature_map=input_tokens, install=_install_multihead)


# Where the patches are among the tokens -----------------------------------------------------------


@dataclass(frozen=True)
class TokenLayout:
    """Which tokens come before the patches, by name, and the patches' grid (rows, columns), if there is one."""

    prefix: tuple[str, ...]
    grid: tuple[int, int] | None

    @property
    def has_class_token(self) -> bool:
        return bool(self.prefix) and self.prefix[0] == "cls"


def _prefix_names(model: nn.Module) -> tuple[str, ...]:
    """The tokens ahead of the patches, as timm and torchvision build them: cls, then distillation, then registers."""
    names: list[str] = []
    if getattr(model, "cls_token", None) is not None or getattr(model, "class_token", None) is not None:
        names.append("cls")
    if getattr(model, "dist_token", None) is not None:
        names.append("dist")
    registers = getattr(model, "reg_token", None)
    if isinstance(registers, torch.Tensor):
        names.extend(f"reg{index}" for index in range(int(registers.shape[1])))
    declared = getattr(model, "num_prefix_tokens", None)
    if isinstance(declared, int) and declared != len(names):
        # A model that declares its count but names its tokens otherwise: keep the count, name them by place.
        names = names[:declared] + [f"prefix{index}" for index in range(len(names), declared)]
    return tuple(names)


def _declared_grid(model: nn.Module) -> tuple[int, int] | None:
    grid = getattr(getattr(model, "patch_embed", None), "grid_size", None)
    if isinstance(grid, Sequence) and len(grid) == 2:
        return int(grid[0]), int(grid[1])
    image_size, patch_size = getattr(model, "image_size", None), getattr(model, "patch_size", None)
    if isinstance(image_size, int) and isinstance(patch_size, int) and patch_size > 0:
        return image_size // patch_size, image_size // patch_size
    return None


def token_layout(model: nn.Module, tokens: int) -> TokenLayout:
    """The layout of a sequence of ``tokens`` in ``model``: from the model's own attributes, else a square grid."""
    prefix = _prefix_names(model)
    patches = tokens - len(prefix)
    grid = _declared_grid(model)
    if grid is None or grid[0] * grid[1] != patches:
        side = math.isqrt(max(patches, 0))
        grid = (side, side) if side > 0 and side * side == patches else None
    return TokenLayout(prefix, grid)


# Reading the views off one image's matrices -------------------------------------------------------


def rollout(matrices: Sequence[np.ndarray], residual: float = ROLLOUT_RESIDUAL) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema 2020) of head-mean matrices (N, N), first layer first.

    Each layer's attention is mixed with the identity for its residual
    connection, its rows renormalised, and the layers multiplied in order, so
    row i says how much each input token flows into token i at the top.
    """
    if not matrices:
        raise ValueError("rollout needs at least one layer")
    tokens = matrices[0].shape[0]
    flow = np.eye(tokens, dtype=np.float64)
    for matrix in matrices:
        if matrix.shape != (tokens, tokens):
            raise ValueError("rollout needs every layer to attend over the same tokens")
        mixed = (1.0 - residual) * matrix.astype(np.float64) + residual * np.eye(tokens)
        mixed /= mixed.sum(axis=1, keepdims=True)
        flow = mixed @ flow
    return flow
