"""Grad-CAM (Selvaraju et al.): where a classifier's gradients say the evidence for a class lies.

The evaluation uses it as a reference next to the attention masks, and the app can
show it beside them; this is the project's one implementation, built on public
forward hooks and ``torch.autograd.grad`` only.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from attention.devices import device_of


class GradCAMOutput(NamedTuple):
    maps: torch.Tensor  # (B, h, w) at the target layer's resolution, >= 0
    logits: torch.Tensor  # (B, K), detached
    targets: torch.Tensor  # (B,) class index each map explains


def default_gradcam_layer(model: nn.Module) -> tuple[str, nn.Module]:
    """(name, module) of the last convolutional stage: the deepest layer that still has a spatial layout.

    ``stages[-1]`` for this project's AttentionResNet, ``layer4`` for torchvision ResNets.
    """
    stages = getattr(model, "stages", None)
    if isinstance(stages, nn.Sequential) and len(stages) > 0:
        return f"stages.{len(stages) - 1}", stages[-1]
    layer4 = getattr(model, "layer4", None)
    if isinstance(layer4, nn.Module):
        return "layer4", layer4
    raise ValueError("no default Grad-CAM layer for this model (no .stages or .layer4); pass target_layer")


class GradCAM:
    """Grad-CAM (Selvaraju et al.) on one layer, as a context manager that owns its hook.

    ``maps = ReLU(sum_k mean_xy(d logit_c / d A_k) * A_k)`` for the activation
    ``A`` of ``target_layer`` and the predicted (or given) class ``c``.

    Usage::

        with GradCAM(model) as cam:
            out = cam(images)        # out.maps (B, h, w), out.logits, out.targets

    The forward hook exists only between ``__enter__`` and ``__exit__`` and is
    removed even when the body raises; ``__exit__`` never swallows the error.
    A call leaves the model as it found it: its train/eval mode is restored,
    parameters' ``requires_grad`` is never touched and no ``.grad`` is written,
    because the gradient is taken with ``torch.autograd.grad`` with respect to
    the activation only, flowing from a requires-grad copy of the input (which
    also makes it work for a model with frozen parameters). The model runs in
    eval mode during the call because batch-norm statistics of a training-mode
    batch would mix the images' gradients. Not for concurrent use from several
    threads on one instance.
    """

    def __init__(self, model: nn.Module, target_layer: nn.Module | str | None = None) -> None:
        self.model = model
        if target_layer is None:
            self.layer_name, self.layer = default_gradcam_layer(model)
        elif isinstance(target_layer, str):
            modules = dict(model.named_modules())
            if target_layer not in modules:
                raise ValueError(f"model has no layer named {target_layer!r}")
            self.layer_name, self.layer = target_layer, modules[target_layer]
        else:
            names = [name for name, module in model.named_modules() if module is target_layer]
            if not names:
                raise ValueError("target_layer is not a submodule of model")
            self.layer_name, self.layer = names[0], target_layer
        self._handle: RemovableHandle | None = None
        self._activation: torch.Tensor | None = None

    @property
    def active(self) -> bool:
        return self._handle is not None

    def _keep_activation(self, _module: nn.Module, _inputs: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor):
            self._activation = output

    def __enter__(self) -> GradCAM:
        if self._handle is not None:
            raise RuntimeError("this GradCAM is already active")
        self._handle = self.layer.register_forward_hook(self._keep_activation)
        return self

    def __exit__(self, *exc_info: object) -> None:
        # Returning None (not True) lets any exception from the body propagate.
        handle, self._handle = self._handle, None
        self._activation = None
        if handle is not None:
            handle.remove()

    def __call__(self, images: torch.Tensor, target: torch.Tensor | int | None = None) -> GradCAMOutput:
        """Grad-CAM maps for a batch (B, C, H, W), explaining ``target`` (default: the predicted class)."""
        if self._handle is None:
            raise RuntimeError("use GradCAM inside a `with` block, which installs its hook")
        was_training = self.model.training
        self._activation = None
        try:
            self.model.eval()
            # inference_mode(False) + enable_grad: works even when called from a no-grad caller.
            with torch.inference_mode(False), torch.enable_grad():
                inputs = images.detach().to(device_of(self.model)).clone().requires_grad_(True)
                logits = self.model(inputs)
                activation = self._activation
                if activation is None:
                    raise RuntimeError(f"layer {self.layer_name} did not run in the forward pass")
                if target is None:
                    chosen = logits.argmax(dim=1)
                else:
                    chosen = torch.as_tensor(target, dtype=torch.long).expand(logits.shape[0])
                # Samples are independent in eval mode, so one backward pass of the summed
                # class logits gives every image's own gradient.
                score = logits.gather(1, chosen[:, None].to(logits.device)).sum()
                (gradient,) = torch.autograd.grad(score, activation)
            weights = gradient.mean(dim=(2, 3), keepdim=True)
            maps = torch.relu((weights * activation.detach()).sum(dim=1))
            return GradCAMOutput(maps.detach(), logits.detach(), chosen.detach())
        finally:
            self._activation = None
            self.model.train(was_training)


def grad_cam(
    model: nn.Module,
    batch: torch.Tensor,
    layer: nn.Module | str | None = None,
    class_index: int | torch.Tensor | None = None,
) -> np.ndarray:
    """Grad-CAM maps (B, h, w) of ``batch`` at ``layer``'s resolution, as float32 numpy, each >= 0.

    ``layer`` is a submodule or its name (default: the last convolutional
    stage); ``class_index`` is the class explained, one for all images or one
    per image (default: each image's predicted class). The model's mode,
    parameters and hooks are left as they were. A one-call form of
    :class:`GradCAM` for code that needs only the maps, such as a page showing
    them beside the attention masks.
    """
    with GradCAM(model, layer) as cam:
        return cam(batch, class_index).maps.cpu().numpy().astype(np.float32, copy=False)
