"""A pass-through module that exposes intermediate tensors to forward hooks.

Attention modules route their weights through taps, so a recorder can read the
exact tensors used in the forward pass with an ordinary forward hook, instead
of recomputing them (which would cost time and could drift from the real
values). A module may also hand the tap the tensor the weights were computed
from: the hook then sees it among its inputs, so one hook per layer serves
both the weights and the feature map. Without hooks a tap costs one Python
call.
"""

from __future__ import annotations

from typing import Any, TypeVar

import torch
from torch import nn
from torch.nn.modules import module as _module

T = TypeVar("T")


class Tap(nn.Module):
    """Identity on ``value``; ``source`` is only there for forward hooks to see.

    A tap runs its plain forward hooks itself, exactly as ``nn.Module.__call__``
    would (each gets ``(module, args, output)``, and a hook that returns a value
    replaces the output), but without the general dispatch: inside a forward
    pass that dispatch costs about 10 us per hooked call on a small CPU, which
    at batch size 1 was about a fifth of the recorder's whole overhead. Any other
    kind of hook (pre-hooks, backward hooks, global hooks, hooks with kwargs
    or ``always_call``), or tracing and compiling, takes the ordinary path.
    """

    def forward(self, value: T, source: Any = None) -> T:  # noqa: D401 - identity
        return value

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        hooks = self._forward_hooks
        # The checks are inline because each Python call here is paid once per layer and pass.
        if (
            not hooks
            or kwargs
            or self._forward_pre_hooks
            or self._backward_hooks
            or self._backward_pre_hooks
            or self._forward_hooks_with_kwargs
            or self._forward_hooks_always_called
            or _module._global_forward_hooks
            or _module._global_forward_pre_hooks
            or _module._global_backward_hooks
            or _module._global_backward_pre_hooks
            or torch._C._get_tracing_state()
            or torch.compiler.is_compiling()
        ):
            return super().__call__(*args, **kwargs)
        result = args[0]
        for hook in tuple(hooks.values()):
            replaced = hook(self, args, result)
            if replaced is not None:
                result = replaced
        return result
