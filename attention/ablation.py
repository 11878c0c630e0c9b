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

A self-attention layer is a branch added to the residual stream, not a gate:
``identity`` makes the branch add nothing (its output becomes zeros), and
``mean`` gives every token the branch's output averaged over the tokens,
which keeps what the layer adds overall and removes where it sends it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import torch
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

    __slots__ = ("layer", "mode", "scale", "_active", "_thread")

    def __init__(self, layer: str, mode: str, scale: torch.Tensor | None, active: dict[int, Ablation]) -> None:
        self.layer = layer
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
    """

    def __init__(self, layers: Sequence[tuple[str, nn.Module]], token_layers: Sequence[str] = ()) -> None:
        self.layer_names = [name for name, _ in layers]
        self._token_layers = frozenset(token_layers)
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
                hook = self._make_token_hook(name, module) if name in self._token_layers else self._make_hook(name)
                self._handles.append(module.register_forward_hook(hook))
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

        def hook(_module: nn.Module, inputs: tuple[Any, ...], output: Any) -> Any:
            ablation = active.get(get_ident())
            if ablation is None or ablation.layer != name:
                return None
            features = inputs[0]
            if ablation.mode == "identity":
                return features
            scale = ablation.scale.to(device=features.device, dtype=features.dtype)  # type: ignore[union-attr]
            return features * scale.reshape(-1, *([1] * (features.dim() - 1)))

        return hook

    def _make_token_hook(self, name: str, module: nn.Module) -> Any:
        active = self._active
        get_ident = threading.get_ident
        # The tokens' dimension of the branch's output: (B, N, D), or (N, B, D) in a MultiheadAttention
        # without batch_first.
        token_dim = 0 if getattr(module, "batch_first", True) is False else 1

        def hook(_module: nn.Module, _inputs: tuple[Any, ...], output: Any) -> Any:
            ablation = active.get(get_ident())
            if ablation is None or ablation.layer != name:
                return None
            branch = output[0] if isinstance(output, tuple) else output
            if ablation.mode == "identity":
                replaced = torch.zeros_like(branch)
            else:
                dim = token_dim if branch.dim() == 3 else 0
                replaced = branch.mean(dim=dim, keepdim=True).expand_as(branch).clone()
            return (replaced, *output[1:]) if isinstance(output, tuple) else replaced

        return hook

    def ablating(self, layer: str, mode: str, scale: torch.Tensor | None = None) -> Ablation:
        """An ablation of ``layer`` for the calling thread, for ``with``."""
        if layer not in self.layer_names:
            from .errors import InputError

            raise InputError(f"{layer!r} is not an attention layer of this model")
        if not self._handles:
            raise RuntimeError("attach() the Ablator before ablating")
        return Ablation(layer, mode, scale, self._active)


def gate_means(record: Any) -> torch.Tensor:
    """Per-image mean (B,) of a layer's recorded gate: channel weights or a spatial mask."""
    return record.gate.flatten(1).float().mean(dim=1)


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
) -> list[list[dict[str, Any]]]:
    """One extra pass per recorded layer with that layer ablated; per image, one entry per layer.

    ``delta`` is the ablated probability of the target class (by default the
    un-ablated prediction's) minus its original probability: negative when the
    layer's attention was helping that class. An unknown ``mode`` is refused
    by ``Ablator.ablating`` before any pass.
    """
    original = probabilities.float()
    predicted = original.argmax(dim=1) if target is None else torch.full((len(original),), target, dtype=torch.long)
    results: list[list[dict[str, Any]]] = [[] for _ in range(batch.shape[0])]
    for record in records:
        with torch.inference_mode(), ablator.ablating(record.name, mode, gate_means(record)):
            logits = model(batch)
        ablated = torch.softmax(logits.float(), dim=1)
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
                }
            )
    return results
