"""Switch one attention layer off and see what the prediction does.

An engineer asks "does this layer's attention change the answer?". The answer
is another forward pass with that layer's gate replaced: by ``identity`` (the
layer passes its input through unchanged) or by ``mean`` (every gate value
replaced by the gate's own mean over the image, which keeps the overall
scale and removes the selection).

The model object is shared by concurrent requests, so ablation never changes
it: one forward hook per attention layer is attached once, for the owner's
lifetime, and it acts only for the thread that has opened an ablation. Every
other thread, and the same thread outside the ``with`` block, runs the model
as it is. Attention layers scale their input (``output = input * gate``),
which is what lets one hook on the layer serve every kind of attention
module, this project's and foreign ones alike.

Softmax weights over parallel branches (selective kernel, split attention)
are replaced where they are made: ``identity`` weighs every branch equally
(1/P, no selection), and ``mean`` gives every channel the branch weights
averaged over the channels, which keeps how much each branch counts overall
and removes which channels it counts for.

A self-attention layer is a branch added to the residual stream, not a gate:
``identity`` makes the branch add nothing (its output becomes zeros), and
``mean`` gives every token the branch's output averaged over the tokens,
which keeps what the layer adds overall and removes where it sends it. One
head is switched off the same way, inside the layer: its share of the
output (what it feeds the output projection) becomes zeros, or its mean
over the tokens.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.hooks import RemovableHandle

MODES = ("identity", "mean")


def check_mode(mode: str) -> str:
    if mode not in MODES:
        from .errors import InputError

        raise InputError(f"unknown ablation mode {mode!r}; choose one of: {', '.join(MODES)}")
    return mode


class Ablation:
    """One thread's ablation of one layer, open between ``__enter__`` and ``__exit__``.

    ``scale`` is the per-image gate mean (B,) that ``mean`` mode multiplies
    the layer's input by; ``identity`` mode needs none.
    """

    __slots__ = ("head", "layer", "mode", "scale", "_active", "_thread")

    def __init__(
        self,
        layer: str,
        mode: str,
        scale: torch.Tensor | None,
        active: dict[int, Ablation],
        head: int | None = None,
    ) -> None:
        self.layer = layer
        self.head = head  # one head of a self-attention layer, or None for the whole layer
        self.mode = check_mode(mode)
        if mode == "mean" and scale is None:  # a token layer's mean mode reads its own output instead
            raise ValueError("mean ablation needs the gate's mean per image")
        self.scale = scale
        self._active = active
        self._thread: int | None = None

    def __enter__(self) -> Ablation:
        thread = threading.get_ident()
        if thread in self._active:
            raise RuntimeError("this thread already has an ablation open on this model")
        self._active[thread] = self
        self._thread = thread
        return self

    def __exit__(self, *exc_info: object) -> None:
        # Always release the thread, also when the forward pass raised; the exception propagates.
        self._active.pop(self._thread, None)
        self._thread = None


class Ablator:
    """Forward hooks that can replace one attention layer's gate, for one thread at a time.

    Args:
        layers: (qualified name, module) of every attention layer that may be
            switched off; each module must compute ``input * gate``, except
            the self-attention branches named in ``token_layers``.
        token_layers: names of the layers in ``layers`` that are self-attention over tokens.
        gate_layers: names whose module is the gate itself (its output is the factors), not ``input * gate``.
        branch_layers: names among ``gate_layers`` whose gate is softmax weights over branches, laid out
            branch-major: (B, P, ...) or (B, P * C).
    """

    def __init__(
        self,
        layers: Sequence[tuple[str, nn.Module]],
        token_layers: Sequence[str] = (),
        gate_layers: Sequence[str] = (),
        branch_layers: dict[str, int] | None = None,
        outer_gains: dict[str, float] | None = None,
    ) -> None:
        self.layer_names = [name for name, _ in layers]
        self._token_layers = frozenset(token_layers)
        self._gate_layers = frozenset(gate_layers)
        self._branch_layers = dict(branch_layers or {})  # name -> number of branches
        self._outer_gains = dict(outer_gains or {})  # name -> what the network multiplies the module's output by
        self._layers = list(layers)
        self._active: dict[int, Ablation] = {}
        self._handles: list[RemovableHandle] = []

    @property
    def attached(self) -> bool:
        return bool(self._handles) or not self._layers

    def attach(self) -> None:
        if self._handles:
            raise RuntimeError("this Ablator is already attached")
        try:
            for name, module in self._layers:
                if name not in self._token_layers:
                    self._handles.append(module.register_forward_hook(self._make_hook(name)))
                    continue
                self._handles.append(
                    module.register_forward_hook(self._make_token_hook(name, module), with_kwargs=True)
                )
                projection = getattr(module, "proj", None)
                if isinstance(projection, nn.Linear) and not isinstance(module, nn.MultiheadAttention):
                    self._handles.append(projection.register_forward_pre_hook(self._make_head_hook(name, module)))
        except BaseException:
            self.detach()
            raise

    def detach(self) -> None:
        handles, self._handles = self._handles, []
        for handle in handles:
            handle.remove()

    def _make_hook(self, name: str) -> Any:
        active = self._active
        get_ident = threading.get_ident
        gate_layers = self._gate_layers
        branches = self._branch_layers.get(name)
        outer = self._outer_gains.get(name, 1.0)

        def hook(_module: nn.Module, inputs: tuple[Any, ...], output: Any) -> Any:
            ablation = active.get(get_ident())
            if ablation is None or ablation.layer != name:
                return None
            if branches is not None:  # softmax weights over branches: equal shares, or each branch's mean share
                weights = output.reshape(output.shape[0], branches, -1)
                if ablation.mode == "identity":
                    return torch.full_like(output, 1.0 / branches)
                return weights.mean(dim=2, keepdim=True).expand_as(weights).reshape(output.shape).clone()
            if name in gate_layers:  # the gate itself: all ones passes the features through, its mean flattens it
                if ablation.mode == "identity":
                    return torch.ones_like(output)
                scale = ablation.scale.to(device=output.device, dtype=output.dtype)  # type: ignore[union-attr]
                return scale.reshape(-1, *([1] * (output.dim() - 1))).expand_as(output).clone()
            features = inputs[0]
            if ablation.mode == "identity":
                return features if outer == 1.0 else features / outer
            scale = ablation.scale.to(device=features.device, dtype=features.dtype) / outer  # type: ignore[union-attr]
            return features * scale.reshape(-1, *([1] * (features.dim() - 1)))

        return hook

    def _make_token_hook(self, name: str, module: nn.Module) -> Any:
        active = self._active
        get_ident = threading.get_ident
        # The tokens' dimension of the branch's output: (B, N, D), or (N, B, D) in a MultiheadAttention
        # without batch_first.
        token_dim = 0 if getattr(module, "batch_first", True) is False else 1

        def hook(_module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Any:
            ablation = active.get(get_ident())
            if ablation is None or ablation.layer != name:
                return None
            branch = output[0] if isinstance(output, tuple) else output
            if ablation.head is not None:
                if not isinstance(module, nn.MultiheadAttention):
                    return None  # timm's Attention: the pre-hook on its projection did it
                replaced = branch - _multihead_head_change(module, args, kwargs, ablation.head, ablation.mode)
                return (replaced, *output[1:]) if isinstance(output, tuple) else replaced
            if ablation.mode == "identity":
                replaced = torch.zeros_like(branch)
            else:
                dim = token_dim if branch.dim() == 3 else 0
                replaced = branch.mean(dim=dim, keepdim=True).expand_as(branch).clone()
            return (replaced, *output[1:]) if isinstance(output, tuple) else replaced

        return hook

    def _make_head_hook(self, name: str, module: nn.Module) -> Any:
        """timm's Attention: one head's slice of what enters the output projection, replaced."""
        active = self._active
        get_ident = threading.get_ident

        def hook(_projection: nn.Module, inputs: tuple[Any, ...]) -> Any:
            ablation = active.get(get_ident())
            if ablation is None or ablation.layer != name or ablation.head is None:
                return None
            joined = inputs[0].clone()
            size = joined.shape[-1] // module.num_heads
            part = joined[..., ablation.head * size : (ablation.head + 1) * size]
            part.copy_(
                torch.zeros_like(part)
                if ablation.mode == "identity"
                else part.mean(dim=-2, keepdim=True).expand_as(part)
            )
            return (joined, *inputs[1:])

        return hook

    def heads(self, layer: str) -> int:
        """How many heads ``layer`` has that can be switched off one at a time (0 for a gate)."""
        if layer not in self._token_layers:
            return 0
        module = dict(self._layers)[layer]
        if isinstance(module, nn.MultiheadAttention):
            # Only a packed (self-attention) module's heads are worked out; the recorder takes no other.
            return int(module.num_heads) if module.in_proj_weight is not None else 0
        return int(module.num_heads) if isinstance(getattr(module, "proj", None), nn.Linear) else 0

    def ablating(self, layer: str, mode: str, scale: torch.Tensor | None = None, head: int | None = None) -> Ablation:
        """An ablation of ``layer`` (or of one of its heads) for the calling thread, for ``with``."""
        from .errors import InputError

        if layer not in self.layer_names:
            raise InputError(f"{layer!r} is not an attention layer of this model")
        if head is not None and not 0 <= head < self.heads(layer):
            raise InputError(f"{layer!r} has no head {head} to switch off (it has {self.heads(layer)})")
        if not self._handles:
            raise RuntimeError("attach() the Ablator before ablating")
        return Ablation(layer, mode, scale, self._active, head)


def _multihead_head_change(
    module: nn.MultiheadAttention, args: tuple[Any, ...], kwargs: dict[str, Any], head: int, mode: str
) -> torch.Tensor:
    """What one head of a MultiheadAttention adds to its output, less its mean over the tokens in ``mean`` mode.

    The module computes its heads in one call, so the head's share is worked out from its own weights: its
    attention times its values, through its columns of the output projection.
    """
    from .tokens import argument, multihead_probabilities  # the recorder's own reading of the module's attention

    query = argument(args, kwargs, 0, "query")
    value = argument(args, kwargs, 2, "value")
    probabilities = multihead_probabilities(module, args, kwargs)[:, head]  # (B, N, M)
    if value.dim() == 2:
        value = value.unsqueeze(0)
    elif not module.batch_first:
        value = value.transpose(0, 1)
    embed = module.embed_dim
    size = embed // module.num_heads
    rows = slice(2 * embed + head * size, 2 * embed + (head + 1) * size)  # the head's value rows, packed
    weight = module.in_proj_weight[rows]  # the recorder takes only packed (self-attention) modules
    bias = None if module.in_proj_bias is None else module.in_proj_bias[rows]
    share = F.linear(
        probabilities @ F.linear(value, weight, bias), module.out_proj.weight[:, head * size : (head + 1) * size]
    )
    if mode == "mean":
        share = share - share.mean(dim=1, keepdim=True)
    if query.dim() == 2:
        return share[0]
    return share if module.batch_first else share.transpose(0, 1)


def switched_off(entry: dict[str, Any]) -> str:
    """What an ablation entry switched off, in words: its layer, and its head when one head alone was."""
    return entry["layer"] + (f" head {entry['head']}" if "head" in entry else "")


def ablator_for(layers: Sequence[tuple[str, nn.Module, Any]]) -> Ablator:
    """An Ablator for ``find_attention_layers``'s answer, which knows which layers are self-attention."""
    from .records import BRANCH, TOKEN

    return Ablator(
        [(name, module if a.ablate_point is None else a.ablate_point(module)) for name, module, a in layers],
        [name for name, _, a in layers if a.kind == TOKEN],
        [name for name, _, a in layers if a.ablate_point is not None],
        {name: _branch_count(module) for name, module, a in layers if a.kind == BRANCH},
        {name: a.outer_gain for name, _, a in layers if a.outer_gain != 1.0},
    )


def _branch_count(module: nn.Module) -> int:
    """How many branches a branch-weights layer mixes: a selective kernel's paths, or split attention's radix."""
    paths = getattr(module, "paths", None)
    return len(paths) if paths is not None else int(getattr(module, "radix", 1))


def gate_means(record: Any) -> torch.Tensor:
    """Per-image mean (B,) of the factors that scaled a layer's input: offset + gain * gate (usually just the gate)."""
    mean = record.gate.flatten(1).float().mean(dim=1)
    return getattr(record, "offset", 0.0) + getattr(record, "gain", 1.0) * mean


def run_ablations(
    model: nn.Module,
    batch: torch.Tensor,
    ablator: Ablator,
    records: Sequence[Any],
    probabilities: torch.Tensor,
    classes: Sequence[str],
    mode: str,
    top_k: int = 5,
    target: int | None = None,
    heads: bool = False,
) -> list[list[dict[str, Any]]]:
    """One extra pass per recorded layer with that layer ablated; per image, one entry per layer.

    ``delta`` is the ablated probability of the target class (by default the
    un-ablated prediction's) minus its original probability: negative when the
    layer's attention was helping that class. An unknown ``mode`` is refused
    by ``Ablator.ablating`` before any pass. With ``heads``, each head of a
    self-attention layer is also switched off alone, one pass each; its entry
    carries ``"head"``.
    """
    original = probabilities.float()
    predicted = original.argmax(dim=1) if target is None else torch.full((len(original),), target, dtype=torch.long)
    results: list[list[dict[str, Any]]] = [[] for _ in range(batch.shape[0])]
    runs: list[tuple[Any, int | None]] = []
    for record in records:
        runs.append((record, None))
        runs += [(record, head) for head in range(ablator.heads(record.name) if heads else 0)]
    for record, head in runs:
        with torch.inference_mode(), ablator.ablating(record.name, mode, gate_means(record), head):
            logits = model(batch)
        ablated = torch.softmax(logits.float(), dim=1).cpu()
        for index, entry in enumerate(results):
            row = ablated[index]
            order = torch.argsort(row, descending=True, stable=True)[:top_k].tolist()
            best = order[0]
            base = int(predicted[index])
            entry.append(
                {
                    "layer": record.name,
                    "type": record.type,
                    "mode": mode,
                    "prediction": {"label": classes[best], "index": best, "probability": round(float(row[best]), 6)},
                    "top": [{"label": classes[i], "probability": round(float(row[i]), 6)} for i in order],
                    "target": classes[base],
                    "delta": round(float(row[base] - original[index, base]), 6),
                    **({"head": head} if head is not None else {}),
                }
            )
    return results
