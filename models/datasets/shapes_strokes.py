"""How thick a hand-drawn loop may be for its class, shared by every renderer that draws circles and rings by hand.

A circle drawn as one loop and a ring drawn as one thick marker loop differ
only in the stroke's width. The rule here keeps a circle's line thin and a
ring's band at least twice as wide, so a person reads the label from the
picture at any size.
"""

from __future__ import annotations

CIRCLE_LINE_SHARE = 0.10
"""A drawn circle's line is at most this share of its radius (or the floor below, for small circles)."""


def thickest_circle_line(radius: float, sheet: int) -> float:
    """The widest line a drawn circle of this radius may have, in sheet pixels: at least 2 px of a 192-px sheet."""
    return max(sheet / 96, CIRCLE_LINE_SHARE * radius)


def thinnest_ring_band(radius: float, sheet: int) -> float:
    """The narrowest band of a ring drawn as one loop: twice the widest circle line, so the two never look alike."""
    return 2.0 * thickest_circle_line(radius, sheet)
