"""MIDI maps as a preset stores them (``midi: cc:``): CC → parameter bindings, their checks, and the curves that
turn a knob's position into a parameter value. Pure data and functions: part of a preset, used by the preset
checks and by the MIDI control (:mod:`plugin_host.control.midi`).

A preset stores its maps under ``midi: cc:``::

    midi:
      cc:
        - {cc: 74, channel: 1, target: tone.cutoff_frequency_hz, range: [200, 8000], curve: log}
        - {cc: 7, target: comp.threshold_db}           # any channel, the parameter's own range
        - {cc: 1, target: drive.drive_db, bits: 14}    # 14-bit: MSB on CC 1, LSB on CC 33
        - {cc: 11, target: mix.gain_db, takeover: pickup}
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

CURVES = ("linear", "log")
TAKEOVERS = ("jump", "pickup")


@dataclass(frozen=True)
class ControlChange:
    """A CC: ``channel`` 1–16, ``control`` 0–127, ``value`` 0–127."""

    channel: int
    control: int
    value: int


class MidiMapError(ValueError):
    """A CC map entry is malformed or cannot apply to its target."""


# -- maps ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CcMapping:
    """One CC bound to one target.

    Attributes:
        cc: controller number, 0–127 (0–31 with ``bits=14``: MSB on ``cc``, LSB on ``cc + 32``).
        target: ``"<stage>.<param>"`` of the chain, or ``"stem.<name>.gain|mute|solo"``.
        channel: 1–16, or ``None`` for any channel.
        range: ``(low, high)`` in the target's units that CC 0 and CC max map to
            (``high < low`` turns the knob around); ``None``: the target's own range.
        curve: ``"linear"``, ``"log"`` (equal ratios per step: frequencies, times; needs a range above 0),
            or ``None`` for the target's own scale (log for frequencies and times, else linear).
        bits: 7, or 14 for MSB/LSB pairs.
        takeover: ``"jump"`` applies every value; ``"pickup"`` ignores the knob until it reaches the
            parameter's position, so a knob that is out of place does not make the value jump.
    """

    cc: int
    target: str
    channel: int | None = None
    range: tuple[float, float] | None = None
    curve: str | None = None
    bits: int = 7
    takeover: str = "jump"

    def __post_init__(self) -> None:
        _check_mapping(self)

    @property
    def max_value(self) -> int:
        """The largest raw value: 127 or 16383."""
        return (1 << self.bits) - 1

    def listens_to(self, event: ControlChange) -> bool:
        """Whether ``event`` carries this mapping's MSB (or, with 14 bits, its LSB)."""
        if self.channel is not None and event.channel != self.channel:
            return False
        return event.control == self.cc or (self.bits == 14 and event.control == self.cc + 32)

    def to_dict(self) -> dict[str, Any]:
        """The preset form: defaults left out, ``range`` as a list."""
        data = {k: v for k, v in asdict(self).items() if v != getattr(CcMapping, k, None)}
        if self.range is not None:
            data["range"] = list(self.range)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> CcMapping:
        """Build from a preset entry.

        Raises:
            MidiMapError: unknown keys, missing ``cc``/``target``, or values out of range.
        """
        if not isinstance(data, dict):
            raise MidiMapError(f"a midi cc entry must be a mapping such as {{cc: 74, target: eq.gain_db}}, got {data!r}")
        unknown = sorted(set(data) - {"cc", "target", "channel", "range", "curve", "bits", "takeover"})
        if unknown:
            raise MidiMapError(f"midi cc entry: unknown key {unknown[0]!r}; valid keys: cc, target, channel, range, curve, bits, takeover")
        if "cc" not in data or "target" not in data:
            raise MidiMapError(f"midi cc entry needs 'cc' and 'target', got {data!r}")
        span = data.get("range")
        if span is not None and (not isinstance(span, (list, tuple)) or len(span) != 2 or not all(_is_number(v) for v in span)):
            raise MidiMapError(f"midi cc {data['cc']}: range must be two numbers [low, high], got {span!r}")
        return cls(
            cc=data["cc"],
            target=data["target"],
            channel=data.get("channel"),
            range=(float(span[0]), float(span[1])) if span is not None else None,
            curve=data.get("curve"),
            bits=data.get("bits", 7),
            takeover=data.get("takeover", "jump"),
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int_in(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _check_mapping(m: CcMapping) -> None:
    """Raises :class:`MidiMapError` naming the field, the value and what is valid."""
    if m.bits not in (7, 14):
        raise MidiMapError(f"midi cc {m.cc}: bits must be 7 or 14, got {m.bits!r}")
    top = 31 if m.bits == 14 else 127
    if not _is_int_in(m.cc, 0, top):
        raise MidiMapError(f"midi cc must be an integer 0–{top}{' (the MSB of a 14-bit pair)' if m.bits == 14 else ''}, got {m.cc!r}")
    if m.channel is not None and not _is_int_in(m.channel, 1, 16):
        raise MidiMapError(f"midi cc {m.cc}: channel must be 1–16 (or left out for any channel), got {m.channel!r}")
    if not isinstance(m.target, str) or "." not in m.target.strip("."):
        raise MidiMapError(f"midi cc {m.cc}: target must read '<plugin>.<param>' or 'stem.<name>.gain', got {m.target!r}")
    if m.curve is not None and m.curve not in CURVES:
        raise MidiMapError(f"midi cc {m.cc}: curve must be one of {', '.join(CURVES)}, got {m.curve!r}")
    if m.takeover not in TAKEOVERS:
        raise MidiMapError(f"midi cc {m.cc}: takeover must be one of {', '.join(TAKEOVERS)}, got {m.takeover!r}")
    if m.range is not None:
        check_curve(m, m.range, m.curve)


def check_curve(mapping: CcMapping, span: tuple[float, float], curve: str | None) -> None:
    """Raises :class:`MidiMapError` when ``curve`` cannot span ``span`` (log needs both ends above 0)."""
    if curve == "log" and min(span) <= 0:
        raise MidiMapError(
            f"midi cc {mapping.cc} → {mapping.target}: curve 'log' needs a range above 0, got [{span[0]:g}, {span[1]:g}]; use curve: linear"
        )


def mappings_from_preset(preset: dict[str, Any]) -> list[CcMapping]:
    """The CC maps stored in a preset's ``midi: cc:`` list (none when the preset has no ``midi`` section).

    Raises:
        MidiMapError: the section is malformed.
    """
    section = preset.get("midi") or {}
    if not isinstance(section, dict):
        raise MidiMapError(f"'midi' must be a mapping with a 'cc' list, got {section!r}")
    unknown = sorted(set(section) - {"cc"})
    if unknown:
        raise MidiMapError(f"midi: unknown key {unknown[0]!r}; valid keys: cc")
    entries = section.get("cc") or []
    if not isinstance(entries, list):
        raise MidiMapError(f"midi: cc must be a list of entries, got {entries!r}")
    return [CcMapping.from_dict(e) for e in entries]


def mappings_to_preset(mappings: Iterable[CcMapping]) -> dict[str, Any]:
    """The ``midi`` section that stores ``mappings``."""
    return {"cc": [m.to_dict() for m in mappings]}


# -- scaling --------------------------------------------------------------------------------


def position_to_value(x: float, span: tuple[float, float], curve: str = "linear") -> float:
    """A knob position ``x`` (0–1, clipped) as a value over ``span`` ``(low, high)``; ``log`` moves in equal ratios."""
    x = min(max(x, 0.0), 1.0)
    low, high = span
    if curve == "log":
        return float(low * (high / low) ** x)
    return float(low + x * (high - low))


def value_to_position(value: float, span: tuple[float, float], curve: str = "linear") -> float:
    """Where ``value`` sits on a knob over ``span``, 0–1, clipped (the inverse of :func:`position_to_value`)."""
    low, high = span
    if high == low:
        return 0.0
    if curve == "log":
        x = math.log(max(value, 1e-30) / low) / math.log(high / low)
    else:
        x = (value - low) / (high - low)
    return min(max(x, 0.0), 1.0)
