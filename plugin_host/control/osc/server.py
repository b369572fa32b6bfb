"""UDP transport: receive datagrams, gate them (allow-list, rate limit, size, parse), hand them on, send replies.

What to do with a message is not decided here: :class:`OscServer` calls an
:class:`Application` with the decoded messages of one datagram and sends back
what it returns. python-osc's own servers drop unparsable packets without a
trace, cut datagrams at 8 KiB and sleep on future timetags, so this transport
is a small socket loop that uses python-osc for parsing and building only.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass, fields
from typing import Protocol

from plugin_host.control.osc.messages import MAX_DATAGRAM, Feedback, MalformedPacket, Message, MessageTooLarge, decode, encode
from plugin_host.control.osc.security import RateLimiter, SenderPolicy

log = logging.getLogger("plugin_host.control.osc")

Address = tuple[str, int]  # (host, port)
DEFAULT_MAX_PACKET = 8192  # bytes; larger datagrams are refused (a preset or a path list fits easily)


class Application(Protocol):
    """What the transport serves: the routing of messages and who takes feedback.

    ``lock`` is held while one datagram is handled and its replies are sent; whoever else sends to a
    client (a job's worker) takes it too, so that nothing overtakes a reply such as ``/job/accepted``.
    """

    lock: threading.RLock

    def handle(self, messages: list[Message], sender: Address, reply_to: Address) -> list[Message]:
        """Replies to the messages of one datagram (a bundle's messages are handled together, in order)."""
        ...

    def feedback_targets(self) -> list[Address]:
        """Where :class:`Feedback` messages go."""
        ...


@dataclass
class Stats:
    """Counts since the server started; read by ``/stats`` and by tests."""

    packets: int = 0
    messages: int = 0
    refused: int = 0  # sender not in --allow
    rate_limited: int = 0
    oversized: int = 0
    malformed: int = 0
    send_errors: int = 0

    def as_tuple(self) -> tuple[int, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))


class Throttle:
    """Lets an event through once per ``interval`` seconds per key, counting what it held back."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: dict[object, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def ready(self, key: object) -> int | None:
        """``None`` while held back; else how many were held back since the last one let through."""
        now = time.monotonic()
        with self._lock:
            last, held = self._last.get(key, (-self.interval, 0))
            if now - last < self.interval:
                self._last[key] = (last, held + 1)
                return None
            if len(self._last) > 4096:
                self._last.clear()
            self._last[key] = (now, 0)
            return held


class OscServer:
    """Listens on ``host:port`` (UDP) and serves ``app`` on a thread of its own.

    Args:
        app: routes the messages and names the feedback targets.
        host, port: where to listen; port 0 picks a free one (see :attr:`address`).
        reply_port: send replies to this port on the sender's host (fixed-port surfaces such
            as TouchOSC); ``None`` replies to the port the request came from (Ardour's "auto").
        allow: sender addresses or networks served; empty serves everyone.
        rate: messages per second one sender host may send on average (bursts of twice that).
        max_packet: the largest datagram accepted, in bytes.
    """

    def __init__(
        self,
        app: Application,
        host: str = "127.0.0.1",
        port: int = 9000,
        reply_port: int | None = None,
        allow: tuple[str, ...] | list[str] = (),
        rate: float = 1000.0,
        max_packet: int = DEFAULT_MAX_PACKET,
    ) -> None:
        if not 64 <= max_packet <= MAX_DATAGRAM:
            raise ValueError(f"--max-packet must be between 64 and {MAX_DATAGRAM} bytes, got {max_packet}")
        self.app, self.reply_port, self.max_packet = app, reply_port, max_packet
        self.senders = SenderPolicy(allow)
        self.limiter = RateLimiter(rate)
        self.stats = Stats()
        self._log_throttle, self._error_throttle = Throttle(5.0), Throttle(1.0)
        self._sock = _bind(host, port)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> Address:
        """The ``(host, port)`` actually bound."""
        host, port = self._sock.getsockname()[:2]
        return host, port

    def start(self) -> OscServer:
        """Serve on a background thread; returns ``self``."""
        self._thread = threading.Thread(target=self._serve, name="osc-server", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop receiving and close the socket (jobs are the application's business)."""
        self._stopping.set()
        if self._thread is not None:
            self._wake()
            self._thread.join(timeout)
        self._sock.close()

    def _wake(self) -> None:
        """Send an empty datagram to the socket so a blocked receive returns now, not at its timeout."""
        host, port = self.address[:2]
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        try:
            with socket.socket(self._sock.family, socket.SOCK_DGRAM) as s:
                s.sendto(b"", (host, port))
        except OSError:  # the receive timeout ends the loop anyway
            pass

    # -- sending -----------------------------------------------------------------------------

    def reply_target(self, sender: Address) -> Address:
        return (sender[0], self.reply_port) if self.reply_port else sender

    def send(self, target: Address, message: Message) -> None:
        """Send one message; a message too large for UDP becomes an ``/error``; network errors are counted."""
        try:
            datagram = encode(message)
        except MessageTooLarge as exc:
            datagram = encode(Message("/error", (message.address, str(exc))))
        try:
            self._sock.sendto(datagram, target)
        except OSError as exc:
            self.stats.send_errors += 1
            log.debug("cannot send %s to %s:%s: %s", message.address, *target, exc)

    def deliver(self, messages: list[Message], reply_to: Address | None) -> None:
        """Replies to ``reply_to``; :class:`Feedback` to every feedback target the application names."""
        targets: list[Address] | None = None
        for message in messages:
            if isinstance(message, Feedback):
                targets = targets if targets is not None else self.app.feedback_targets()
                for target in targets:
                    self.send(target, message)
            elif reply_to is not None:
                self.send(reply_to, message)

    # -- receiving ---------------------------------------------------------------------------

    def _serve(self) -> None:
        log.debug("listening on %s:%s", *self.address)
        while not self._stopping.is_set():
            try:
                datagram, sender = self._sock.recvfrom(self.max_packet + 1)
            except TimeoutError:
                continue
            except OSError as exc:  # e.g. ICMP port unreachable reported on some systems
                if self._stopping.is_set():
                    break
                log.debug("receive error: %s", exc)
                continue
            if self._stopping.is_set():  # the wake-up datagram of stop(), or a late request
                break
            try:
                self._handle(datagram, (sender[0], sender[1]))
            except Exception:  # the transport must outlive any bug in a handler
                log.exception("unexpected error while serving %s:%s", *sender[:2])

    def _handle(self, datagram: bytes, sender: Address) -> None:
        self.stats.packets += 1
        host = sender[0]
        if not self.senders.allows(host):
            self.stats.refused += 1
            self._note("refused", host, "not in --allow; ignored")
            return
        if not self.limiter.allow(host):
            self.stats.rate_limited += 1
            self._packet_error(sender, "rate_limited", f"rate limit: more than {self.limiter.rate:g} messages per second; slow down")
            return
        if len(datagram) > self.max_packet:
            self.stats.oversized += 1
            self._packet_error(sender, "oversized", f"packet of more than {self.max_packet} bytes refused")
            return
        try:
            messages = decode(datagram)
        except MalformedPacket as exc:
            self.stats.malformed += 1
            self._packet_error(sender, "malformed", str(exc))
            return
        if len(messages) > 1 and not self.limiter.allow(host, cost=len(messages) - 1):
            self.stats.rate_limited += 1
            self._packet_error(
                sender, "rate_limited", f"rate limit: a bundle of {len(messages)} messages is more than this sender may send now"
            )
            return
        self.stats.messages += len(messages)
        reply_to = self.reply_target(sender)
        with self.app.lock:  # see Application: a job's first message waits for its /job/accepted
            self.deliver(self.app.handle(messages, sender, reply_to), reply_to)

    def _packet_error(self, sender: Address, kind: str, text: str) -> None:
        """Log (throttled) and answer (at most once a second per sender) a packet that was not served."""
        self._note(kind, sender[0], text)
        if self._error_throttle.ready((kind, sender[0])) is not None:
            self.send(self.reply_target(sender), Message("/error", ("", text)))

    def _note(self, kind: str, host: str, text: str) -> None:
        held = self._log_throttle.ready((kind, host))
        if held is not None:
            more = f" (and {held} more since the last report)" if held else ""
            log.warning("%s packet from %s: %s%s", kind, host, text, more)


def _bind(host: str, port: int) -> socket.socket:
    """A UDP socket bound to ``host:port`` with a short timeout, so the loop notices a stop request.

    Raises:
        OSError: the address is in use or cannot be bound; the message says which.
    """
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    except socket.gaierror as exc:
        raise OSError(f"cannot listen on {host}:{port}: unknown host ({exc.strerror})") from None
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)  # absorbs bursts while a handler runs
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.settimeout(0.2)
    return sock
