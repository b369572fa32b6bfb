"""Parameter specs: the name, range, unit and kind of one plugin parameter, and the checks on values.

Messages follow pedalboard's wording so a user who knows one knows the other:
``Value received for parameter 'ratio' (0.5) is out of range [1, 100]`` and
``Parameter named "thresh" not found. Valid options: threshold_db, ratio, …``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

ParamKind = Literal["float", "bool", "choice", "file"]
ParamValue = float | bool | str


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a plugin.

    Attributes:
        name: the keyword argument / attribute name (``threshold_db``).
        default: the plugin's own default.
        minimum, maximum: the valid range of a ``float`` parameter, in ``unit``.
        unit: ``dB``, ``Hz``, ``ms``, ``s``, ``%`` or ``""``.
        kind: ``float`` (automatable), ``bool`` (automatable as 0/1), ``choice`` (one of ``choices``)
            or ``file`` (a path, resolved relative to the preset).
        scale: ``log`` for frequencies and times, where a knob should move in ratios.
        nyquist: a frequency that must stay under half the sample rate.
    """

    name: str
    default: ParamValue | None = None
    minimum: float | None = None
    maximum: float | None = None
    unit: str = ""
    kind: ParamKind = "float"
    choices: tuple[str, ...] = ()
    scale: Literal["linear", "log"] = "linear"
    nyquist: bool = False

    @property
    def automatable(self) -> bool:
        """Whether the parameter can be moved by a number (OSC, MIDI)."""
        return self.kind in ("float", "bool")

    @property
    def range(self) -> tuple[float, float]:
        """``(minimum, maximum)``; ``(0, 1)`` for a switch."""
        if self.kind == "bool":
            return 0.0, 1.0
        if self.minimum is None or self.maximum is None:
            raise ValueError(f"parameter '{self.name}' has no numeric range ({self.describe_kind()})")
        return self.minimum, self.maximum

    def describe_kind(self) -> str:
        if self.kind == "choice":
            return f"a choice of {', '.join(self.choices)}"
        return {"file": "a file path", "bool": "a switch", "float": "a number"}[self.kind]

    def check(self, value: object) -> ParamValue:
        """``value`` converted to this parameter's type (float, bool or str).

        Raises:
            ValueError: wrong type, out of range, or not one of the choices; the message names the value and what is valid.
        """
        checkers: dict[str, Callable[[object], ParamValue]] = {
            "float": self._check_float,
            "bool": self._check_bool,
            "choice": self._check_choice,
            "file": self._check_file,
        }
        return checkers[self.kind](value)

    def _check_float(self, value: object) -> float:
        if isinstance(value, bool) and self.range == (0.0, 1.0):
            value = float(value)  # a switch written as true/false
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"Value received for parameter '{self.name}' ({value!r}) is not a number{self._range_hint()}")
        lo, hi = self.range
        if not lo <= value <= hi:
            raise ValueError(f"Value received for parameter '{self.name}' ({value:g}) is out of range [{lo:g}, {hi:g}]")
        return float(value)

    def _check_bool(self, value: object) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and 0 <= value <= 1:
            return bool(value >= 0.5)  # OSC and MIDI send switches as numbers
        raise ValueError(f"Value received for parameter '{self.name}' ({value!r}) is not a switch. Valid options: true, false (or 0, 1)")

    def _check_choice(self, value: object) -> str:
        if value not in self.choices:
            raise ValueError(
                f"Value received for parameter '{self.name}' ({value!r}) is not valid. Valid options: {', '.join(self.choices)}"
            )
        return str(value)

    def _check_file(self, value: object) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"Value received for parameter '{self.name}' ({value!r}) is not a file path")
        return value

    def _range_hint(self) -> str:
        return f" in [{self.minimum:g}, {self.maximum:g}]" if self.minimum is not None and self.maximum is not None else ""


@dataclass(frozen=True)
class ParamInfo:
    """One automatable parameter of a chain, as OSC and MIDI see it.

    Attributes:
        stage: the stage's name in the chain.
        name: the parameter's name.
        value: its current value (a switch reads 0.0 or 1.0).
        minimum, maximum: its range, in ``unit``.
        unit: ``dB``, ``Hz``, ``ms``, … or ``""``.
        scale: ``linear`` or ``log`` (a knob should move in ratios).
    """

    stage: str
    name: str
    value: float
    minimum: float
    maximum: float
    unit: str = ""
    scale: str = "linear"


def not_found(kind: str, name: object, options: Iterable[str]) -> str:
    """``Parameter named "thresh" not found. Valid options: threshold_db, ratio. Did you mean "threshold_db"?``"""
    options = list(options)
    text = f'{kind} named "{name}" not found. Valid options: {", ".join(options) if options else "(none)"}'
    close = difflib.get_close_matches(str(name), options, n=1, cutoff=0.6)
    return text + (f'. Did you mean "{close[0]}"?' if close else "")
