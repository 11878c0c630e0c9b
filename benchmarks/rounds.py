"""Timing variants fairly on a machine whose speed drifts: every round runs each variant once, in a shuffled order."""

from __future__ import annotations

import random
import time
from collections.abc import Callable


def alternate(variants: dict[str, Callable[[], None]], rounds: int) -> dict[str, list[float]]:
    """Seconds per round of each variant, after one untimed warm-up run of each (lazy set-up, caches)."""
    for run in variants.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    for _ in range(rounds):
        random.shuffle(order)
        for name in order:
            start = time.perf_counter()
            variants[name]()
            times[name].append(time.perf_counter() - start)
    return times
