"""The web app's logic, kept apart from the Gradio wiring in ``app.py``.

``webapp.handlers`` holds plain functions (data in, data and images out) that
tests and benchmarks call without a browser or a server; ``webapp.state``
holds what one analysis leaves behind for re-rendering and the read-only
model cache shared between requests.
"""

from __future__ import annotations
