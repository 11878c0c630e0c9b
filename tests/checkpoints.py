"""Changed copies of the shipped checkpoints, for tests that must see an upload's effect."""

from __future__ import annotations

from pathlib import Path

import torch

from models.checkpoint import SHIPPED


def changed_checkpoint(
    path: Path,
    name: str = "shapes",
    reverse_classes: bool = False,
    reverse_outputs: bool = False,
    perturb: float = 0.0,
    seed: int = 0,
    saturate: tuple[str, ...] = (),
) -> Path:
    """A shipped checkpoint with its class list and/or its output layer's rows reversed, or its weights perturbed.

    Reversing both keeps every prediction's label and moves its index; reversing
    only the class list renames every prediction. ``saturate`` names spatial layers
    whose norm's scale is cut to 5% and its bias raised by 12, so their masks sit at 1 almost everywhere:
    the weak masks the page must point out.
    """
    payload = torch.load(SHIPPED[name], map_location="cpu", weights_only=True)
    state = payload["state_dict"]
    if reverse_classes:
        payload["classes"] = list(reversed(payload["classes"]))
    if reverse_outputs:
        state["fc.weight"] = state["fc.weight"].flip(0).clone()
        state["fc.bias"] = state["fc.bias"].flip(0).clone()
    if perturb:
        generator = torch.Generator().manual_seed(seed)
        for key, tensor in state.items():
            if tensor.is_floating_point() and "running" not in key:
                state[key] = tensor + perturb * torch.randn(tensor.shape, generator=generator)
    for layer in saturate:  # logits near 12 everywhere: the gate is about 1 at every pixel
        state[f"{layer}.norm.weight"] = state[f"{layer}.norm.weight"] * 0.05
        state[f"{layer}.norm.bias"] = state[f"{layer}.norm.bias"] + 12.0
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)
    return path
