"""What the control servers (``plugin-host serve``, ``plugin-host live``) share as long-running commands:
stopping on SIGINT or SIGTERM, and logging to stderr with timestamps."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType


class Stop(threading.Event):
    """Set by the first SIGINT or SIGTERM; ``signal`` is which."""

    signal: int | None = None


def stop_on_signals() -> Stop:
    """An event set by SIGINT or SIGTERM; after the first, SIGINT quits at once (Python's default)."""
    stop = Stop()

    def handler(signum: int, frame: FrameType | None) -> None:
        if not stop.is_set():
            stop.signal = signum
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def configure_logging(verbose: bool, quiet: bool) -> None:
    """The ``plugin_host`` loggers to stderr: debug with ``verbose``, warnings only with ``quiet``, else info."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d %(levelname).1s %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("plugin_host")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    logger.propagate = False
