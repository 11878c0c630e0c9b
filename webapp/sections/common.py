"""What every page section shares: the panel component, error handling for events, and event settings.

The page is built one section at a time (``webapp.sections.*``); each builder
makes its components and wires the events that touch only that section.
``app.py`` puts the sections together and wires the events that cross them.
Events return ``{component: value}``, so adding a panel is one entry where it is drawn.
"""

from __future__ import annotations

import functools
import html
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import gradio as gr

from attention.errors import InputError, forget_frames
from webapp.runtime import release_freed_memory

LOGGER = logging.getLogger("attention_lens.app")
CONCURRENCY = 2  # two analyses at a time: this is a 2-core machine's worth of work
F = TypeVar("F", bound=Callable[..., Any])
PANEL_BUTTONS = ["download", "fullscreen"]
MODEL_EVENTS = dict(concurrency_id="model", concurrency_limit=CONCURRENCY)
RENDER_EVENTS = dict(concurrency_id="render", concurrency_limit=CONCURRENCY, api_visibility="private")
# Checking an uploaded model loads it, as an analysis does: it shares the analyses' concurrency limit.
MODEL_CHECK_EVENTS = dict(MODEL_EVENTS, api_visibility="private")


def output_panel(label: str, elem_id: str, image_format: str = "png", scale: int | None = None) -> gr.Image:
    """A read-only image panel; JPEG for photographic overlays (about 1 ms to encode where PNG takes 20-30 ms)."""
    return gr.Image(
        label=label,
        type="pil",
        format=image_format,
        interactive=False,
        elem_id=elem_id,
        elem_classes="lens-panel",
        buttons=PANEL_BUTTONS,
        scale=scale,
    )


def user_errors(fn: F) -> F:
    """Turn a one-line InputError into gr.Error, which the page shows and API clients receive.

    Anything else is logged with its traceback and reported as an internal
    error, so a bug never leaves a request without an answer.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InputError as error:
            LOGGER.info("refused: %s", error)
            message = str(error)
            # The refused file's tensors live in the frames of the traceback: free them and hand the heap back.
            forget_frames(error)
            del error
            release_freed_memory()
            # gr.Error renders HTML; the message may contain an uploaded file's name.
            raise gr.Error(html.escape(message, quote=False), print_exception=False) from None
        except Exception as error:  # noqa: BLE001 - the server must keep answering
            LOGGER.exception("%s failed", fn.__name__)
            raise gr.Error(
                f"internal error ({type(error).__name__}); the details are in the server log", print_exception=False
            ) from None

    return wrapper  # type: ignore[return-value]
