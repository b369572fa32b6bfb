"""OSC messages as plain values, and the conversion to and from datagrams (with python-osc).

Decoding keeps the order of a bundle's elements (python-osc's own ``OscPacket``
sorts them by timetag) and ignores timetags: a message in a bundle dated in
the future is applied at once, never scheduled by sleeping on the server thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pythonosc import osc_bundle, osc_message
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.parsing import osc_types

MAX_DATAGRAM = 65507  # the largest UDP payload over IPv4, in bytes
PARSED_TAGS = frozenset("ihfdsbrmtTFN[]")  # the type tags python-osc decodes; it skips others with a log line
BUNDLE_PREFIX = b"#bundle\x00"
MAX_NESTING = 8


class MalformedPacket(ValueError):
    """A datagram is not a well-formed OSC message or bundle."""


class MessageTooLarge(ValueError):
    """A reply does not fit in one UDP datagram."""


@dataclass(frozen=True)
class Message:
    """One OSC message: an address and its arguments (``int``, ``float``, ``str``, ``bool``, ``bytes``, ``None``)."""

    address: str
    args: tuple[Any, ...] = ()

    def __str__(self) -> str:
        return " ".join([self.address, *(describe(a) for a in self.args)])


@dataclass(frozen=True)
class Feedback(Message):
    """A message that reports a state change; it goes to every client that takes feedback, not only the sender."""


TYPE_TAGS = {bool: "T", int: "i", float: "f", str: "s", bytes: "b", type(None): "N"}


def type_tag(value: Any) -> str:
    """The OSC type tag an argument arrived as (or will be sent as): ``i f s T b N``; ``?`` for anything else."""
    return TYPE_TAGS.get(type(value), "?")


def describe(value: Any) -> str:
    """``i:3``, ``f:0.5``, ``s:'a.wav'`` — how an argument is shown in logs and error messages."""
    shown = repr(value) if isinstance(value, str) else f"{value:g}" if isinstance(value, float) else str(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{type_tag(value)}:{shown}"


def _check_message(data: bytes) -> None:
    """Raise :class:`MalformedPacket` for a type tag python-osc would skip with only a log line (OSC 1.0: discard it)."""
    try:
        address, index = osc_types.get_string(data, 0)
        tags, _ = osc_types.get_string(data, index) if index < len(data) else (",", index)
    except (osc_types.ParseError, ValueError, IndexError) as exc:  # UnicodeDecodeError is a ValueError
        raise MalformedPacket(f"malformed OSC message: {str(exc).splitlines()[0][:100]}") from None
    unknown = sorted(set(tags[1:]) - PARSED_TAGS)
    if not tags.startswith(",") or unknown:
        raise MalformedPacket(f"{address}: unsupported OSC type tag {(unknown or [tags[:1]])[0]!r}")


def _check_bundle(data: bytes, depth: int = 0) -> None:
    """Walk a bundle's elements (int32 size, then a message or a bundle) before python-osc parses it.

    python-osc skips an element it cannot identify with only a log line; here the whole packet is refused.
    """
    if depth > MAX_NESTING:
        raise MalformedPacket(f"bundles nested more than {MAX_NESTING} deep")
    index = len(BUNDLE_PREFIX) + 8  # the prefix, then the timetag
    if len(data) < index:
        raise MalformedPacket("malformed OSC bundle: no timetag")
    while index < len(data):
        size = int.from_bytes(data[index : index + 4], "big", signed=True)
        element = data[index + 4 : index + 4 + size]
        if size <= 0 or size % 4 or len(element) != size:
            raise MalformedPacket(f"malformed OSC bundle: element of {size} bytes at byte {index}")
        _check_datagram(element, depth + 1)
        index += 4 + size


def _check_datagram(data: bytes, depth: int = 0) -> None:
    if data.startswith(BUNDLE_PREFIX):
        _check_bundle(data, depth)
    elif data.startswith(b"/"):
        _check_message(data)
    else:
        raise MalformedPacket("not an OSC packet: it must start with '/' (a message) or '#bundle' (a bundle)")


def _flatten(bundle: osc_bundle.OscBundle) -> list[Message]:
    out: list[Message] = []
    for element in bundle:  # elements in the order they were packed
        if isinstance(element, osc_bundle.OscBundle):
            out.extend(_flatten(element))
        else:
            out.append(Message(element.address, tuple(element.params)))
    return out


def decode(datagram: bytes) -> list[Message]:
    """The messages in a datagram, in order (a bundle's elements depth-first).

    Raises:
        MalformedPacket: not OSC, truncated, a bad bundle element, or a type tag that is not understood.
    """
    _check_datagram(datagram)
    try:
        if datagram.startswith(BUNDLE_PREFIX):
            return _flatten(osc_bundle.OscBundle(datagram))
        message = osc_message.OscMessage(datagram)
        return [Message(message.address, tuple(message.params))]
    except (osc_bundle.ParseError, osc_message.ParseError, osc_types.ParseError) as exc:
        raise MalformedPacket(f"malformed OSC packet: {str(exc).splitlines()[0][:100]}") from exc
    except Exception as exc:  # python-osc raises IndexError, struct.error, UnicodeDecodeError on some garbage
        raise MalformedPacket(f"malformed OSC packet ({type(exc).__name__})") from exc


def encode(message: Message) -> bytes:
    """The datagram of one message.

    Raises:
        MessageTooLarge: the message exceeds :data:`MAX_DATAGRAM` bytes.
    """
    builder = OscMessageBuilder(address=message.address)
    for value in message.args:
        builder.add_arg(value)
    datagram: bytes = builder.build().dgram
    if len(datagram) > MAX_DATAGRAM:
        raise MessageTooLarge(f"{message.address}: reply of {len(datagram)} bytes exceeds the UDP limit of {MAX_DATAGRAM}")
    return datagram
