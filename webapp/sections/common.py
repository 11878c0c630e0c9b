"""What every page section shares: the panel component, error handling, event settings, and drawing a new result.

The page is built one section at a time (``webapp.sections.*``); each builder
makes its components and wires the events that touch only that section.
``app.py`` puts the sections together and wires the events that cross them.
A section that draws each new analysis is a ``ResultView``: it names the
controls it reads and the components it writes, and ``follow_results`` makes
the event from them. Events return ``{component: value}``, so adding a panel
is one entry where it is drawn.
"""

from __future__ import annotations

import functools
import html
import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

import gradio as gr

from attention.errors import InputError
from webapp.runtime import CONCURRENCY, refusal_message
from webapp.state import LensResult

LOGGER = logging.getLogger("attention_lens.app")
F = TypeVar("F", bound=Callable[..., Any])
PANEL_BUTTONS = ["download", "fullscreen"]
MODEL_EVENTS = dict(concurrency_id="model", concurrency_limit=CONCURRENCY)
RENDER_EVENTS = dict(concurrency_id="render", concurrency_limit=CONCURRENCY, api_visibility="private")
# Checking an uploaded model loads it, as an analysis does: it shares the analyses' concurrency limit.
MODEL_CHECK_EVENTS = dict(MODEL_EVENTS, api_visibility="private")
# How a view that draws each new analysis shows progress: the first panels with a small spinner, later ones quietly.
PANEL_EVENTS = dict(RENDER_EVENTS, show_progress="minimal")
LATER_EVENTS = dict(RENDER_EVENTS, show_progress="hidden")


def output_panel(
    label: str, elem_id: str, image_format: str = "png", scale: int | None = None, visible: bool = True
) -> gr.Image:
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
        visible=visible,
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
            message = refusal_message(error)
            # gr.Error renders HTML; the message may contain an uploaded file's name.
            raise gr.Error(html.escape(message, quote=False), print_exception=False) from None
        except Exception as error:  # noqa: BLE001 - the server must keep answering
            LOGGER.exception("%s failed", fn.__name__)
            raise gr.Error(
                f"internal error ({type(error).__name__}); the details are in the server log", print_exception=False
            ) from None

    return wrapper  # type: ignore[return-value]


class ResultView(Protocol):
    """A section that draws each new analysis: the controls it reads, the components it writes, and how."""

    events: dict[str, Any]  # the settings of the event that draws it

    @property
    def inputs(self) -> list[Any]:
        """The controls ``follow`` reads after the result, in its argument order."""
        ...

    @property
    def outputs(self) -> list[Any]:
        """Every component ``follow`` may write."""
        ...

    def follow(self, result: LensResult, *values: Any) -> dict[Any, Any]:
        """``{component: value}`` for a new result and the current values of ``inputs``."""
        ...


def follow_results(trigger: Any, result: gr.State, views: Sequence[ResultView]) -> Any:
    """One event after ``trigger`` succeeds in which each view draws the new result; returned to chain the next.

    Views drawn by one event appear together, so they must share its settings.
    """
    events = views[0].events
    if any(view.events != events for view in views):
        raise ValueError("views drawn by one event must share its settings")
    inputs: list[Any] = [result]
    outputs: list[Any] = []
    for view in views:
        inputs += [component for component in view.inputs if component not in inputs]
        outputs += [component for component in view.outputs if component not in outputs]

    def follow(result_: LensResult | None, *values: Any) -> dict[Any, Any]:
        if result_ is None:
            return {}
        given = dict(zip(inputs[1:], values))
        update: dict[Any, Any] = {}
        for view in views:
            update.update(view.follow(result_, *(given[component] for component in view.inputs)))
        return update

    return trigger.success(user_errors(follow), inputs, outputs, **events)
