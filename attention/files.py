"""What the library writes: file names derived from user text, and strict JSON."""

from __future__ import annotations

import json
import math
import re
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_stem(text: str, limit: int = 60) -> str:
    """A file-name stem from user-chosen text (an upload's name, a layer name): no path parts, no odd characters."""
    stem = _UNSAFE.sub("_", str(text)).strip("._")
    return stem[:limit] or "image"


def finite_or_none(value: float) -> float | None:
    """A float JSON can hold: NaN and infinities become null."""
    return value if math.isfinite(value) else None


def dumps(document: Any) -> str:
    """Strict JSON (no bare NaN or Infinity, which strict parsers reject); raises ValueError if one slipped in."""
    return json.dumps(document, allow_nan=False)
