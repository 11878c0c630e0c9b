"""The web app's logic, kept apart from the Gradio wiring in ``app.py``.

Plain functions (data in, data and images out) that tests and benchmarks call
without a browser or a server, one module per job:

* ``inputs``: what arrives from outside (upload paths and names, drawings);
* ``analysis``: the two events that run a model, and what they return;
* ``panels``: every picture and table, redrawn from a stored result alone;
* ``downloads``: the files the server writes, their caps, the two downloads;
* ``state``: the stored result and the model cache shared between requests;
* ``runtime``: how the server process runs (torch threads, warm-up, SIGTERM).
"""

from __future__ import annotations
