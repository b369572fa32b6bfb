"""Argument signatures such as ``s:input_path s:output_dir [s:stems|i:clusters]``: parse, check, convert.

Type letters follow OSC and REAPER's pattern files:

- ``s`` string;
- ``i`` integer (an integral float such as TouchOSC's ``1.0`` and ``T``/``F`` are accepted);
- ``f`` number in the parameter's own units (``i`` or ``f``);
- ``t`` toggle: any number or ``T``/``F``; non-zero is on;
- ``v`` a parameter value: a number, a string (an option such as ``LPF24``) or ``T``/``F``;
- ``*`` any number of arguments of any type (must come last).

An item in ``[...]`` is optional; ``a|b`` offers alternatives, taken by the type that arrived.
Several items in one bracket (``[f:start f:length]``) go together: all of them, or none.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from plugin_host.control.osc.messages import describe

TYPE_NAMES = {"s": "string", "i": "integer", "f": "number", "t": "toggle", "v": "number, string or T/F", "*": "any"}


class ArgumentError(ValueError):
    """Arguments do not fit a signature; the message says what was expected and what arrived."""


def _coerce(kind: str, value: Any) -> tuple[bool, Any]:
    """``(accepted, converted)`` for one argument against one type letter."""
    if kind == "s":
        return isinstance(value, str), value
    if kind == "*":
        return True, value
    if kind == "v":
        return isinstance(value, (str, bool)) or (isinstance(value, (int, float)) and math.isfinite(value)), value
    if isinstance(value, bool):
        return kind in "it", int(value) if kind == "i" else value
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return False, value
    if kind == "i":
        return float(value).is_integer(), int(value)
    if kind == "f":
        return True, float(value)
    return True, value != 0  # "t"


@dataclass(frozen=True)
class Item:
    """One argument position: its alternatives ``((type letter, name), ...)``, whether it may be left out,
    and its group: the items of one bracket share a number above 0 and are given all together or not at all."""

    choices: tuple[tuple[str, str], ...]
    optional: bool
    group: int = 0

    @property
    def body(self) -> str:
        return "|".join(f"{kind}:{name}" for kind, name in self.choices)

    def __str__(self) -> str:
        return f"[{self.body}]" if self.optional and not self.group else self.body


def _parse_items(token: str, group: int) -> list[Item]:
    """The items of one token: ``s:a``, ``[s:a|i:b]``, or a group ``[f:a f:b]`` (numbered ``group``)."""
    optional = token.startswith("[") and token.endswith("]")
    parts = (token[1:-1] if optional else token).split()
    if len(parts) > 1 and not optional:
        raise ValueError(f"bad signature item {token!r}: only a bracket holds several items")
    return [_parse_item(part, token, optional, group if len(parts) > 1 else 0) for part in parts]


def _parse_item(body: str, token: str, optional: bool, group: int) -> Item:
    choices = []
    for part in body.split("|"):
        kind, _, name = part.partition(":")
        if kind not in TYPE_NAMES or not name:
            raise ValueError(f"bad signature item {token!r}: use type:name with type one of {', '.join(TYPE_NAMES)}")
        choices.append((kind, name))
    return Item(tuple(choices), optional, group)


@dataclass(frozen=True)
class Signature:
    """The arguments an address takes; :meth:`bind` checks a message's arguments against it."""

    items: tuple[Item, ...]

    @classmethod
    def parse(cls, text: str) -> Signature:
        """Build from the notation above; ``""`` means no arguments."""
        tokens = re.findall(r"\[[^\]]*\]|\S+", text)
        return cls(tuple(item for group, token in enumerate(tokens, 1) for item in _parse_items(token, group)))

    def __str__(self) -> str:
        words: list[str] = []
        for i, item in enumerate(self.items):
            if not item.group:
                words.append(str(item))
            elif i == 0 or self.items[i - 1].group != item.group:
                words.append("[" + " ".join(x.body for x in self.items if x.group == item.group) + "]")
        return " ".join(words) or "no arguments"

    def bind(self, args: tuple[Any, ...]) -> dict[str, Any]:
        """Map arguments to names, converted to Python types; left-out optional items are absent.

        Raises:
            ArgumentError: too many or too few arguments, or a type that fits no alternative.
        """
        bound: dict[str, Any] = {}
        for position, item in enumerate(self.items):
            if item.choices[0][0] == "*":
                bound[item.choices[0][1]] = tuple(args[position:])
                return bound
            if position >= len(args):
                given = [x for x in self.items[: len(args)] if item.group and x.group == item.group]
                if item.optional and not given:
                    continue
                together = " and ".join(x.body for x in [*given, item])
                raise self._error(args, f"missing {item}" + (f" ({together} go together)" if given else ""))
            bound.update(self._bind_one(item, args[position], args))
        if len(args) > len(self.items):
            raise self._error(args, f"{len(args) - len(self.items)} argument(s) too many")
        return bound

    def _bind_one(self, item: Item, value: Any, args: tuple[Any, ...]) -> dict[str, Any]:
        for kind, name in item.choices:
            accepted, converted = _coerce(kind, value)
            if accepted:
                return {name: converted}
        wanted = " or ".join(TYPE_NAMES[kind] for kind, _ in item.choices)
        raise self._error(args, f"{item} must be {'an' if wanted[0] in 'ai' else 'a'} {wanted}, got {describe(value)}")

    def _error(self, args: tuple[Any, ...], problem: str) -> ArgumentError:
        got = " ".join(describe(a) for a in args) or "no arguments"
        return ArgumentError(f"{problem}; expects {self}; got {got}")
