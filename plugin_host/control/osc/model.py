"""The separation model for the server: loaded once, in the background, so the socket answers at once."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from separator import Separator

log = logging.getLogger("plugin_host.control.osc")


class ModelUnavailable(RuntimeError):
    """The model failed to load; the message says why."""


class ModelProvider:
    """Hands out one :class:`separator.Separator` per server.

    Args:
        load: makes the separator (called once, on a background thread by :meth:`start`).
        separator: an already loaded separator (tests inject one; nothing is loaded then).
    """

    def __init__(self, load: Callable[[], Separator] | None = None, separator: Separator | None = None) -> None:
        if load is None and separator is None:
            raise ValueError("give a loader or a loaded separator")
        self._load, self._separator = load, separator
        self._error: str | None = None
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        if separator is not None:
            self._done.set()

    @classmethod
    def pretrained(cls, path: str | None = None, device: str = "auto") -> ModelProvider:
        """Loads ``separator.Separator.from_pretrained(path, device)`` (the shipped model by default)."""

        def load() -> Separator:
            from separator import Separator  # imports torch: kept off the start-up path

            return Separator.from_pretrained(path, device=device)

        return cls(load)

    def start(self) -> ModelProvider:
        """Begin loading on a background thread (no-op when a separator was given)."""
        if not self._done.is_set() and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="model-loader", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        started = time.monotonic()
        try:
            assert self._load is not None
            self._separator = self._load()
            log.info("model loaded in %.1f s (%s)", time.monotonic() - started, self._separator.device)
        except Exception as exc:  # reported to every job that needs the model
            self._error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.error("model failed to load: %s", self._error)
        finally:
            self._done.set()

    @property
    def state(self) -> str:
        """``loading``, ``ready`` or ``error: <why>``."""
        if not self._done.is_set():
            return "loading"
        return "ready" if self._separator is not None else f"error: {self._error}"

    def settle(self, timeout: float = 60.0) -> None:
        """Wait for a load in progress to end (exiting while torch loads on another thread aborts the process)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def ready(self) -> Separator | None:
        """The separator if it is loaded, without waiting."""
        return self._separator if self._done.is_set() else None

    def get(self, timeout: float | None = None) -> Separator:
        """The separator, waiting for the load to finish.

        Raises:
            ModelUnavailable: the load failed or did not finish within ``timeout`` seconds.
        """
        if not self._done.wait(timeout):
            raise ModelUnavailable(f"the separation model is still loading after {timeout:g} s")
        if self._separator is None:
            raise ModelUnavailable(f"the separation model could not be loaded: {self._error}")
        return self._separator
