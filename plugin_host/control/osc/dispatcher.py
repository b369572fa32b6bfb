"""Routing: OSC address → handler, with argument checking and error replies; no sockets here.

A route's address is a template: ``/ping`` or ``/chain/{stage}/{param}``. The
fields of a template become the handler's ``request.path``. Routes with fields
list their concrete addresses (from the loaded preset) through ``expand``, and
only those can be reached with an address pattern (``/stem/*/mute``): commands
that start jobs or touch files must be named exactly.

A handler is ``handler(request, **arguments) -> list[Message]``; the arguments
are the message's, checked and converted by the route's :class:`Signature`.
Every failure becomes ``/error s:address s:message``; nothing is dropped.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from plugin_host.control.osc.messages import Message
from plugin_host.control.osc.patterns import PatternError, is_pattern, matching
from plugin_host.control.osc.signature import ArgumentError, Signature
from plugin_host.errors import ParameterError

log = logging.getLogger("plugin_host.control.osc")

Address = tuple[str, int]
Handler = Callable[..., list[Message]]
Expand = Callable[[], list[dict[str, str]]]


@dataclass(frozen=True)
class Request:
    """Who asked for what: the concrete address served, the sender, where replies go, the template's fields."""

    address: str
    sender: Address = ("127.0.0.1", 0)
    reply_to: Address = ("127.0.0.1", 0)
    path: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    """One address (or a family of them) and what it does.

    Attributes:
        template: ``/split`` or ``/chain/{stage}/{param}/n``.
        signature: the arguments, e.g. ``"s:input_path s:output_dir [s:stems|i:clusters]"``.
        handler: ``handler(request, **arguments) -> list[Message]``.
        summary: one line for the address table.
        replies: what comes back, e.g. ``"/pong [*:args]"``.
        expand: the field values that exist now (only for templates with fields).
    """

    template: str
    signature: Signature
    handler: Handler
    summary: str
    replies: str = ""
    expand: Expand | None = None

    @property
    def regex(self) -> re.Pattern[str]:
        return _template_regex(self.template)

    def addresses(self) -> list[str]:
        """The concrete addresses this route serves now."""
        if self.expand is None:
            return [self.template]
        return [self.template.format(**fields) for fields in self.expand()]


@functools.lru_cache(maxsize=128)
def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    body = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts))
    return re.compile(body + r"\Z")


class RequestError(ValueError):
    """A request cannot be served; ``str()`` is the message of its ``/error`` reply."""


class Dispatcher:
    """Routes messages to handlers and turns every failure into an ``/error`` reply.

    Args:
        expected_errors: exceptions that are the request's fault; their text is the error
            reply. Anything else is logged with its traceback and reported as an internal error.
    """

    def __init__(self, expected_errors: tuple[type[Exception], ...] = (ValueError,)) -> None:
        self.routes: list[Route] = []
        self._static: dict[str, Route] = {}
        self.expected_errors: tuple[type[Exception], ...] = (*expected_errors, ArgumentError, PatternError, RequestError)

    def add(self, template: str, signature: str, handler: Handler, summary: str, replies: str = "", expand: Expand | None = None) -> Route:
        """Add a route; templates with ``{fields}`` need ``expand`` to be reachable by patterns."""
        route = Route(template, Signature.parse(signature), handler, summary, replies, expand)
        accepted = inspect.signature(handler).parameters
        missing = [name for item in route.signature.items for _, name in item.choices if name not in accepted]
        if missing:  # a table that cannot work fails when it is built, not when a message arrives
            raise TypeError(f"{template}: handler {handler.__name__} takes no argument {missing[0]!r}")
        self.routes.append(route)
        if "{" not in template:
            self._static[template] = route
        return route

    def find(self, address: str) -> tuple[Route, dict[str, str]] | None:
        """The route that serves a concrete ``address`` and the template's fields, or ``None``."""
        route = self._static.get(address)
        if route is not None:
            return route, {}
        for route in self.routes:
            if route.expand is not None and (m := route.regex.match(address)):
                return route, m.groupdict()
        return None

    def help(self, address: str = "") -> list[Message]:
        """``/help`` for every route whose template starts with ``address``, then ``/help/end i:count``."""
        routes = [r for r in self.routes if not address or r.template.startswith(address)]
        if not routes:
            raise ParameterError(f"no address starts with {address!r}; send /help for the whole list")
        out = [Message("/help", (r.template, str(r.signature), r.replies, r.summary)) for r in routes]
        return [*out, Message("/help/end", (len(out),))]

    def controls(self) -> list[str]:
        """Every concrete address an address pattern may select (the routes with fields)."""
        return [a for r in self.routes if r.expand is not None for a in r.addresses()]

    def dispatch(self, message: Message, sender: Address = ("127.0.0.1", 0), reply_to: Address | None = None) -> list[Message]:
        """The replies to one message; a pattern is served once per address it selects, in address order."""
        reply_to = reply_to or sender
        try:
            targets = self._targets(message.address)
        except (PatternError, RequestError) as exc:
            return [error(message.address, str(exc))]
        replies: list[Message] = []
        for address in targets:
            replies.extend(self._call(Request(address, sender, reply_to), message.args))
        return replies

    def _targets(self, address: str) -> list[str]:
        if not is_pattern(address):
            return [address]
        targets = sorted(matching(address, self.controls()))
        if not targets:
            raise RequestError(f"the pattern matches no address; patterns select parameter and stem addresses only ({self._hint(address)})")
        return targets

    def _call(self, request: Request, args: tuple[Any, ...]) -> list[Message]:
        found = self.find(request.address)
        if found is None:
            return [error(request.address, f"unknown address; {self._hint(request.address)}")]
        route, fields = found
        request = Request(request.address, request.sender, request.reply_to, fields)
        try:
            return route.handler(request, **route.signature.bind(args))
        except self.expected_errors as exc:
            return [error(request.address, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)]
        except Exception as exc:  # a bug must cost one reply, not the server
            log.exception("internal error serving %s", request.address)
            return [error(request.address, f"internal error ({type(exc).__name__}: {exc}); the server log has the details")]

    def _hint(self, address: str) -> str:
        known = [r.template for r in self.routes if r.expand is None] + self.controls()
        close = difflib.get_close_matches(address, known, n=3, cutoff=0.6)
        return f"did you mean {', '.join(close)}?" if close else "send /help for the address list"


def error(address: str, text: str) -> Message:
    """``/error s:address s:message``."""
    return Message("/error", (address, text))
