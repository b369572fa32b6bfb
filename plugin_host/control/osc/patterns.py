"""OSC 1.0 address patterns (``? * [abc] [a-z] [!abc] {foo,bar}``) compiled to regular expressions."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

PATTERN_CHARS = frozenset("?*[]{}")


class PatternError(ValueError):
    """An address pattern is malformed (an unclosed ``[`` or ``{``, an empty ``[]``)."""


def is_pattern(address: str) -> bool:
    """Whether ``address`` holds any OSC pattern character."""
    return not PATTERN_CHARS.isdisjoint(address)


def _bracket(pattern: str, i: int) -> tuple[str, int]:
    """Translate ``[...]`` starting at ``pattern[i] == "["``; returns the regex class and the index after ``]``."""
    end = pattern.find("]", i + 1)
    if end < 0:
        raise PatternError(f"unclosed '[' in address pattern {pattern!r}")
    body = pattern[i + 1 : end]
    negate = body.startswith("!")
    body = body[1:] if negate else body
    if not body:
        raise PatternError(f"empty '[]' in address pattern {pattern!r}")
    # A '-' between two characters is a range; anywhere else it is literal (OSC 1.0).
    parts = [re.escape(c) if c != "-" or k in (0, len(body) - 1) else "-" for k, c in enumerate(body)]
    return ("[^/" if negate else "[") + "".join(parts) + "]", end + 1


def _braces(pattern: str, i: int) -> tuple[str, int]:
    """Translate ``{a,b}`` starting at ``pattern[i] == "{"``."""
    end = pattern.find("}", i + 1)
    if end < 0:
        raise PatternError(f"unclosed '{{' in address pattern {pattern!r}")
    choices = pattern[i + 1 : end].split(",")
    return "(?:" + "|".join(re.escape(c) for c in choices) + ")", end + 1


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A regex that matches exactly the addresses ``pattern`` selects; ``*`` and ``?`` never cross a ``/``.

    Raises:
        PatternError: the pattern is malformed.
    """
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            piece, i = _bracket(pattern, i)
            out.append(piece)
            continue
        elif c == "{":
            piece, i = _braces(pattern, i)
            out.append(piece)
            continue
        elif c in "]}":
            raise PatternError(f"unmatched {c!r} in address pattern {pattern!r}")
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def matching(pattern: str, addresses: Iterable[str]) -> list[str]:
    """The addresses ``pattern`` selects, in the order given.

    Raises:
        PatternError: the pattern is malformed.
    """
    regex = compile_pattern(pattern)
    return [a for a in addresses if regex.match(a)]
