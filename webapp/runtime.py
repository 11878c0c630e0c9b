"""How the server process runs: PyTorch threads, a warm-up, and stopping on SIGTERM; set once at start-up."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
import signal
import threading
import warnings
from typing import Any

import torch

from attention.errors import forget_frames

LOGGER = logging.getLogger(__name__)
# Requests that run a model at once: two, a 2-core machine's worth of work. The queue lets this many analyses
# run, and live frames take the same slots (FORWARD_SLOTS), so a camera stream never adds a third pass to two.
CONCURRENCY = 2
FORWARD_SLOTS = threading.BoundedSemaphore(CONCURRENCY)


def configure_torch(threads: int | None = None) -> int:
    """Set PyTorch's intra-op threads for serving; returns the number used.

    The shipped models are small and see one image per request, so splitting a
    convolution across cores gains little, while several requests (or a
    training job) competing for the same cores with multi-threaded kernels
    slows every one of them down many times over. One thread per request, and
    the queue's concurrency limit for parallelism, is the fast setting; the
    ATTENTION_LENS_TORCH_THREADS variable overrides it.
    """
    if threads is None:
        threads = int(os.environ.get("ATTENTION_LENS_TORCH_THREADS", "1"))
    threads = max(1, int(threads))
    torch.set_num_threads(threads)
    return threads


def limit_pillow(max_pixels: int) -> None:
    """Make Pillow refuse, before decoding, any image over ``max_pixels``, in every decode of this process.

    Gradio decodes some inputs (the sketchpad's layers) before a handler can
    check them; Pillow raises its DecompressionBombError above twice its
    limit and only warns below, so its limit is half the app's, and the
    warning is silenced because the app's own check already covers that range.
    """
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = max_pixels // 2
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def stop_on_sigterm() -> None:
    """SIGTERM stops the server the way Ctrl-C does, so Gradio closes and atexit handlers run."""

    def stop(signum: int, _frame: Any) -> None:
        LOGGER.info("signal %d: stopping", signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


@functools.cache
def _malloc_trim() -> ctypes._CFuncPtr | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc: nothing to trim
        return None


def release_freed_memory() -> None:
    """Give memory freed after a large decode back to the system.

    glibc keeps freed blocks in each thread's arena, so without this a few
    36-megapixel uploads leave the server hundreds of MB larger for good,
    though nothing holds the pixels any more.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def refusal_message(error: BaseException) -> str:
    """The refused request's one-line message, after freeing what its traceback holds and handing the heap back.

    A refused file's tensors live in the local variables of the frames its
    error passed through, so they stay in memory as long as the error does.
    """
    message = str(error)
    forget_frames(error)
    release_freed_memory()
    return message
