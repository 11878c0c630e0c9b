"""The display defaults every view shares: colormaps, overlay opacity and how many channels a chart highlights.

They live apart from ``render`` because they import nothing: the command line
builds its options from them without loading matplotlib.
"""

from __future__ import annotations

COLORMAPS = ("jet", "viridis", "inferno", "magma", "plasma", "turbo", "gray", "coolwarm")
# Perceptually uniform: equal steps in value look like equal steps in colour, and it reads in greyscale too.
DEFAULT_COLORMAP = "viridis"
DEFAULT_OPACITY = 0.5
DEFAULT_TOP_K = 5
# Channels highlighted and labelled per bar chart: more labels than this do not read.
MAX_TOP_K = 16
