"""Self-attention worked out step by step, for one head and the class token's row, from one recorded pass.

The steps a class goes through: the image cut into patches that became
tokens; one head's query, key and value for every token; the class token's
query against every key, scaled by 1/√d; the softmax; the weighted sum of
the values; and every head's output joined and projected. The numbers come
from the tokens the layer really received (kept by the recorder) and the
module's own weights; the softmax is checked against the recorded attention,
so a module that computes its attention some other way gets its steps marked
as not shown instead of a plausible but wrong story.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .explain import MATCH_TOLERANCE, Explanation, Step
from .tokens import TokenLayout

TOKEN_KIND = "token"
# The token matrix shows at most this many of its dimensions: enough to see its texture on a slide.
SHOWN_DIMENSIONS = 64
TOP_TOKENS = 5


@dataclass(frozen=True)
class _Projections:
    """A self-attention module's weights as plain matrices, whoever wrote it."""

    heads: int
    q: tuple[torch.Tensor, torch.Tensor | None]
    k: tuple[torch.Tensor, torch.Tensor | None]
    v: tuple[torch.Tensor, torch.Tensor | None]
    out: tuple[torch.Tensor, torch.Tensor | None]
    q_norm: nn.Module | None = None
    k_norm: nn.Module | None = None


def _split(weight: torch.Tensor, bias: torch.Tensor | None, width: int, part: int) -> tuple:
    rows = slice(part * width, (part + 1) * width)
    return weight[rows].float(), None if bias is None else bias[rows].float()


def _projections(module: nn.Module) -> _Projections | None:
    """timm's Attention (one ``qkv`` linear) or MultiheadAttention (packed in-projection); None for anything else."""
    if isinstance(module, nn.MultiheadAttention):
        width, bias = module.embed_dim, module.in_proj_bias
        if module.in_proj_weight is None:
            return None
        parts = [_split(module.in_proj_weight, bias, width, index) for index in range(3)]
        out = (module.out_proj.weight.float(), None if module.out_proj.bias is None else module.out_proj.bias.float())
        return _Projections(module.num_heads, *parts, out)
    qkv, proj = getattr(module, "qkv", None), getattr(module, "proj", None)
    heads = getattr(module, "num_heads", None)
    if not (isinstance(qkv, nn.Linear) and isinstance(proj, nn.Linear) and isinstance(heads, int)):
        return None
    if getattr(module, "gate", None) is not None or not isinstance(getattr(module, "norm", nn.Identity()), nn.Identity):
        return None  # a gated or normalised output: the last step would not be the module's own
    width = qkv.out_features // 3
    parts = [_split(qkv.weight, qkv.bias, width, index) for index in range(3)]
    out = (proj.weight.float(), None if proj.bias is None else proj.bias.float())
    return _Projections(heads, *parts, out, getattr(module, "q_norm", None), getattr(module, "k_norm", None))


def _linear(x: torch.Tensor, weight: tuple[torch.Tensor, torch.Tensor | None]) -> torch.Tensor:
    return F.linear(x, *weight)


def _token_names(layout: TokenLayout, tokens: int) -> list[str]:
    patches = tokens - len(layout.prefix)
    return list(layout.prefix) + [f"patch {index}" for index in range(patches)]


def focused_head(recorded: np.ndarray) -> int:
    """The head whose token-0 attention is most concentrated (lowest entropy): the clearest one to show a class."""
    shares = np.clip(recorded.astype(np.float64), 1e-12, None)
    entropy = -(shares * np.log(shares)).sum(axis=1)
    return int(np.argmin(entropy))


def explain_tokens(
    name: str,
    module: nn.Module,
    tokens: np.ndarray,
    recorded: np.ndarray,
    layout: TokenLayout,
    head: int | None = None,
) -> Explanation:
    """The six steps of one self-attention layer for one image: ``tokens`` (N, D) is the layer's input.

    ``recorded`` is the layer's recorded attention from token 0, (heads, N);
    ``head`` defaults to the most focused one.
    """
    x = torch.as_tensor(np.asarray(tokens, dtype=np.float32))
    count, width = x.shape
    names = _token_names(layout, count)
    head = focused_head(recorded) if head is None else head
    parts = _projections(module)
    first = names[0]
    where = (
        f"{layout.grid[0]}x{layout.grid[1]} patches"
        if layout.grid is not None
        else f"{count - len(layout.prefix)} tokens"
    )
    prefix = ", ".join(layout.prefix) if layout.prefix else "none"
    steps = [
        Step(
            "tokens",
            f"1. The image became {count} tokens of {width} numbers",
            f"The image was cut into {where}; each patch became a list of {width} numbers (a token), and the "
            f"tokens ahead of the patches ({prefix}) were added. This is what the layer received: one row per "
            f"token, the first {min(width, SHOWN_DIMENSIONS)} of its numbers shown.",
            {
                "tokens": x[:, :SHOWN_DIMENSIONS].numpy(),
                "names": names,
                "grid": layout.grid,
                "prefix": len(layout.prefix),
            },
        )
    ]
    missing = None
    if parts is None:
        missing = f"{type(module).__name__} does not expose its query, key and value projections"
    elif not 0 <= head < parts.heads:
        missing = f"this layer has {parts.heads} heads, not a head {head}"
    if missing is not None:
        titles = ("qkv", "scores", "softmax", "mix", "heads")
        return Explanation(name, TOKEN_KIND, steps + [Step(key, key, "", missing=missing) for key in titles])
    assert parts is not None
    size = parts.q[0].shape[0] // parts.heads
    with torch.no_grad():
        q_all, k_all, v_all = (_linear(x, weight) for weight in (parts.q, parts.k, parts.v))
        split = [tensor.reshape(count, parts.heads, size).transpose(0, 1) for tensor in (q_all, k_all, v_all)]
        q, k, v = split
        if parts.q_norm is not None:
            q = parts.q_norm(q)
        if parts.k_norm is not None:
            k = parts.k_norm(k)
        scale = 1.0 / math.sqrt(size)
        scores = (q * scale) @ k.transpose(-2, -1)  # (heads, N, N)
        probabilities = scores.softmax(dim=-1)
        mixed = probabilities @ v  # (heads, N, d)
        joined = mixed.transpose(0, 1).reshape(count, parts.heads * size)
        output = _linear(joined, parts.out)
    row = probabilities[head, 0].numpy()
    if float(np.abs(probabilities[:, 0].numpy() - recorded).max()) > MATCH_TOLERANCE:
        reason = "recomputing this module's attention from its weights does not give the recorded attention"
        titles = ("qkv", "scores", "softmax", "mix", "heads")
        return Explanation(name, TOKEN_KIND, steps + [Step(key, key, "", missing=reason) for key in titles])
    order = np.argsort(-row, kind="stable")[:TOP_TOKENS]
    top = ", ".join(f"{names[index]} {row[index]:.3f}" for index in order)
    uniform = 1.0 / count
    steps += [
        Step(
            "qkv",
            f"2. Head {head} of {parts.heads}: every token makes a query, a key and a value of {size} numbers",
            f"Three weight matrices turn each token into a query (what it looks for), a key (what it offers) and a "
            f"value (what it passes on). Head {head} is shown: of this layer's {parts.heads} heads, its {first} "
            f"token attends most narrowly. Each head works on its own {size} of the {parts.heads * size} numbers.",
            {
                "q": q[head].numpy(),
                "k": k[head].numpy(),
                "v": v[head].numpy(),
                "names": names,
                "prefix": len(layout.prefix),
            },
        ),
        Step(
            "scores",
            f"3. The {first} token's query meets every key: q·k / √{size}",
            f"The {first} token's query is multiplied with the key of every token, and each product is divided by "
            f"√{size} = {math.sqrt(size):.2f} so the scores do not grow with the head's size. A high score means "
            "the two match.",
            {"scores": (scores[head, 0]).numpy(), "names": names, "grid": layout.grid, "prefix": len(layout.prefix)},
        ),
        Step(
            "softmax",
            "4. Softmax turns the scores into attention that sums to 1",
            f"Each score is exponentiated and divided by their sum, so the {count} weights are positive and add up "
            f"to 1. Attending to every token alike would give each {uniform:.4f}; the largest here: {top}.",
            {
                "attention": row,
                "names": names,
                "grid": layout.grid,
                "prefix": len(layout.prefix),
                "uniform": uniform,
            },
        ),
        Step(
            "mix",
            f"5. The {first} token's new value: the attention-weighted sum of every value",
            f"Each token's value is multiplied by the attention the {first} token gives it, and the {count} "
            f"results are added: {size} numbers, mostly made of the values of the tokens it attends to most.",
            {
                "weights": row,
                "values": v[head].numpy(),
                "mixed": mixed[head, 0].numpy(),
                "top": order,
                "names": names,
            },
        ),
        Step(
            "heads",
            f"6. The {parts.heads} heads' results are joined and projected back to {width} numbers",
            f"Every head does the same with its own weights. Their {parts.heads} results of {size} numbers are put "
            f"side by side and one more matrix mixes them into the {width} numbers the layer adds to the "
            f"{first} token.",
            {
                "joined": mixed[:, 0].numpy(),
                "output": output[0, :SHOWN_DIMENSIONS].numpy(),
                "head": head,
                "width": width,
            },
        ),
    ]
    return Explanation(name, TOKEN_KIND, steps)
