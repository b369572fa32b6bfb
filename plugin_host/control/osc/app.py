"""The application the transport serves: one lock around every datagram, the clients that take feedback, the request log."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict

from plugin_host.control.osc.dispatcher import Dispatcher
from plugin_host.control.osc.messages import Message

log = logging.getLogger("plugin_host.control.osc")

Address = tuple[str, int]


class Clients:
    """The reply addresses that have spoken recently and take feedback (like Ardour's surfaces list).

    Args:
        limit: at most this many are kept; the one heard from longest ago goes first.
        ttl: a client not heard from for this long, in seconds, gets no more feedback.
    """

    def __init__(self, limit: int = 16, ttl: float = 600.0) -> None:
        self.limit, self.ttl = limit, ttl
        self._seen: OrderedDict[Address, float] = OrderedDict()
        self._muted: set[Address] = set()
        self._lock = threading.Lock()

    def heard(self, address: Address, now: float | None = None) -> None:
        with self._lock:
            self._seen.pop(address, None)
            self._seen[address] = time.monotonic() if now is None else now
            while len(self._seen) > self.limit:
                self._muted.discard(self._seen.popitem(last=False)[0])

    def set_feedback(self, address: Address, on: bool) -> None:
        """Turn feedback on or off for one client (``/feedback i:0|1``)."""
        with self._lock:
            (self._muted.discard if on else self._muted.add)(address)

    def targets(self, now: float | None = None) -> list[Address]:
        """The clients that take feedback now, most recently heard last."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return [a for a, t in self._seen.items() if now - t <= self.ttl and a not in self._muted]


class OscApp:
    """Serves the messages of one datagram under one lock, so a bundle is applied in order and as a whole.

    Args:
        dispatcher: the address table.
        lock: the lock that guards the state the handlers change (shared with MIDI and jobs).
        clients: who takes feedback.
    """

    def __init__(self, dispatcher: Dispatcher, lock: threading.RLock, clients: Clients | None = None) -> None:
        self.dispatcher, self.lock = dispatcher, lock
        self.clients = clients or Clients()

    def handle(self, messages: list[Message], sender: Address, reply_to: Address) -> list[Message]:
        """The replies to one datagram's messages; logs one line per message."""
        self.clients.heard(reply_to)
        replies: list[Message] = []
        with self.lock:
            for message in messages:
                started = time.perf_counter()
                answer = self.dispatcher.dispatch(message, sender, reply_to)
                _log_request(sender, message, answer, time.perf_counter() - started)
                replies.extend(answer)
        return replies

    def feedback_targets(self) -> list[Address]:
        return self.clients.targets()


def _log_request(sender: Address, message: Message, replies: list[Message], seconds: float) -> None:
    """``127.0.0.1:53211 /chain/eq/gain_db f:-3 -> /chain/eq/gain_db f:-3 (0.2 ms)``; the full replies with -v."""
    first = str(replies[0]) if replies else "(no reply)"
    more = f" (+{len(replies) - 1} more)" if len(replies) > 1 else ""
    level = logging.WARNING if replies and replies[0].address == "/error" else logging.INFO
    log.log(level, "%s:%s %s -> %s%s (%.1f ms)", sender[0], sender[1], message, first, more, seconds * 1e3)
    for reply in replies[1:]:
        log.debug("    %s", reply)
