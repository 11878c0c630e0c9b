"""The web app's logic, kept apart from the Gradio wiring so tests and benchmarks call it without a browser.

Plain functions (data in, data and images out), one module per job:

* ``inputs``: what arrives from outside (upload paths and names, drawings);
* ``analysis``: the two events that run a model, and what they return;
* ``panels``: every picture and table, redrawn from a stored result alone;
* ``explain``: the Explain view's steps, pictures and captions;
* ``debug``: the Debug view: ablation, Grad-CAM beside each mask, comparisons;
* ``downloads``: the files the server writes, their caps, the two downloads;
* ``state``: the stored result and the model cache shared between requests;
* ``notes``: the notes on weak masks and on photos shown to models trained on drawings;
* ``runtime``: how the server process runs (torch threads, warm-up, SIGTERM);
* ``sections``: the Gradio components of each page section and the events they wire.
"""

from __future__ import annotations
