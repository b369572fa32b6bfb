"""The built-in pedalboard plugins a preset may name, with the ranges of their parameters.

pedalboard checks only some of its arguments (``Compressor(ratio=0.5)`` raises,
``Phaser(feedback=2)`` silently produces NaN), so every parameter gets a range
here: presets are checked against it, OSC and MIDI scale knobs to it.

A preset stage's ``params`` are the plugin's constructor arguments, exactly as
in pedalboard (``Compressor: {threshold_db: -18, ratio: 4}``).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pedalboard

from plugin_host.params import ParamSpec, ParamValue, not_found
from stembase import audio as audio_io

Q_DEFAULT = 0.7071067690849304  # pedalboard's default filter Q (1/sqrt 2, as float32)


def hz(name: str, default: float, minimum: float = 10.0, maximum: float = 24000.0) -> ParamSpec:
    """A frequency in Hz, moved on a log scale and kept under Nyquist at run time."""
    return ParamSpec(name, default, minimum, maximum, "Hz", scale="log", nyquist=True)


def db(name: str, default: float, minimum: float, maximum: float) -> ParamSpec:
    return ParamSpec(name, default, minimum, maximum, "dB")


def ms(name: str, default: float, minimum: float, maximum: float) -> ParamSpec:
    return ParamSpec(name, default, minimum, maximum, "ms", scale="log")


def unit(name: str, default: float) -> ParamSpec:
    """A 0–1 amount (mix, depth, room size)."""
    return ParamSpec(name, default, 0.0, 1.0)


def choice(name: str, members: type[enum.Enum], default: str) -> ParamSpec:
    """One of the members of a pedalboard enum, written by name (``LPF12``)."""
    return ParamSpec(name, default, kind="choice", choices=tuple(members.__members__))


@dataclass(frozen=True)
class PluginSpec:
    """A built-in plugin: its class name as written in presets, and its parameters.

    Attributes:
        name: the pedalboard class name (``Compressor``).
        params: every constructor argument, in the constructor's order.
        streamable: block-wise processing with ``reset=False`` gives the same output as one call
            (``PitchShift`` and the codecs depend on where blocks start, so they are processed whole).
        latency: the plugin delays its output internally (lookahead, resampling, codecs); inside a
            ``mix`` such a plugin makes block-wise output differ, so such chains are processed whole.
        enums: the enum type of each ``choice`` parameter.
        factory: builds the plugin from checked keyword arguments (default: the class itself).
    """

    name: str
    params: tuple[ParamSpec, ...] = ()
    streamable: bool = True
    latency: bool = False
    enums: Mapping[str, type[enum.Enum]] = field(default_factory=dict, compare=False)
    factory: Callable[..., pedalboard.Plugin] | None = field(default=None, compare=False)

    @property
    def param_specs(self) -> dict[str, ParamSpec]:
        return {p.name: p for p in self.params}

    @property
    def cls(self) -> type[pedalboard.Plugin]:
        return getattr(pedalboard, self.name)  # type: ignore[no-any-return]

    def build(self, values: Mapping[str, ParamValue], base_dir: Path | None) -> pedalboard.Plugin:
        """The plugin with ``values`` (already checked) applied; other parameters keep pedalboard's defaults.

        Raises:
            AudioLoadError: a file parameter (an impulse response) cannot be read.
        """
        if self.factory is not None:
            return self.factory(values, base_dir)
        return self.cls(**{name: self.native(name, v) for name, v in values.items()})

    def read(self, plugin: pedalboard.Plugin, name: str) -> ParamValue:
        """The live value of parameter ``name`` of ``plugin`` (an enum reads as its member name)."""
        value = getattr(plugin, name)
        return value.name if isinstance(value, enum.Enum) else value  # type: ignore[no-any-return]

    def write(self, plugin: pedalboard.Plugin, name: str, value: ParamValue) -> None:
        setattr(plugin, name, self.native(name, value))

    def native(self, name: str, value: ParamValue) -> object:
        """What pedalboard wants for a checked value: the enum member for a choice."""
        return self.enums[name].__members__[str(value)] if name in self.enums else value


def resolve(path: str, base_dir: Path | None) -> Path:
    """``path`` with ``~`` expanded, relative paths taken from the preset's folder (or the working directory)."""
    p = Path(path).expanduser()
    return p if p.is_absolute() or base_dir is None else Path(os.path.normpath(base_dir / p))


def _convolution(values: Mapping[str, ParamValue], base_dir: Path | None) -> pedalboard.Plugin:
    """Convolution with the impulse response read through :mod:`stembase.audio` (the one module that reads audio).

    Passing the file's rate lets pedalboard resample the response to whatever rate the audio has.
    """
    impulse, rate = audio_io.load(resolve(str(values["impulse_response_filename"]), base_dir))
    return pedalboard.Convolution(impulse, mix=float(values.get("mix", 1.0)), sample_rate=float(rate))


def _reverb_params() -> tuple[ParamSpec, ...]:
    return (
        unit("room_size", 0.5),
        unit("damping", 0.5),
        unit("wet_level", 0.33),
        unit("dry_level", 0.4),
        unit("width", 1.0),
        unit("freeze_mode", 0.0),
    )


def _filter_params(default_hz: float) -> tuple[ParamSpec, ...]:
    return (hz("cutoff_frequency_hz", default_hz), db("gain_db", 0.0, -48.0, 48.0), ParamSpec("q", Q_DEFAULT, 0.05, 20.0, scale="log"))


_SPECS: tuple[PluginSpec, ...] = (
    PluginSpec("Bitcrush", (ParamSpec("bit_depth", 8.0, 1.0, 32.0, "bits"),)),
    PluginSpec(
        "BrickwallLimiter",
        (
            db("ceiling_db", -1.0, -60.0, 0.0),
            ms("release_ms", 100.0, 1.0, 5000.0),
            ms("lookahead_ms", 5.0, 0.1, 100.0),
            ParamSpec("true_peak", False, kind="bool"),
        ),
        latency=True,
    ),
    PluginSpec(
        "Chorus",
        (
            ParamSpec("rate_hz", 1.0, 0.01, 99.0, "Hz", scale="log"),
            unit("depth", 0.25),
            ms("centre_delay_ms", 7.0, 0.1, 100.0),
            ParamSpec("feedback", 0.0, -0.95, 0.95),
            unit("mix", 0.5),
        ),
    ),
    PluginSpec("Clipping", (db("threshold_db", -6.0, -60.0, 0.0),)),
    PluginSpec(
        "Compressor",
        (
            db("threshold_db", 0.0, -60.0, 0.0),
            ParamSpec("ratio", 1.0, 1.0, 100.0, scale="log"),
            ms("attack_ms", 1.0, 0.01, 1000.0),
            ms("release_ms", 100.0, 1.0, 5000.0),
        ),
    ),
    PluginSpec("Convolution", (ParamSpec("impulse_response_filename", kind="file"), unit("mix", 1.0)), factory=_convolution),
    PluginSpec("Delay", (ParamSpec("delay_seconds", 0.5, 0.0, 30.0, "s"), ParamSpec("feedback", 0.0, 0.0, 1.0), unit("mix", 0.5))),
    PluginSpec("Distortion", (db("drive_db", 25.0, 0.0, 100.0),)),
    PluginSpec("Gain", (db("gain_db", 1.0, -96.0, 48.0),)),
    PluginSpec(
        "GSMFullRateCompressor",
        (choice("quality", pedalboard.Resample.Quality, "WindowedSinc8"),),
        streamable=False,
        latency=True,
        enums={"quality": pedalboard.Resample.Quality},
    ),
    PluginSpec("HighShelfFilter", _filter_params(440.0)),
    PluginSpec("HighpassFilter", (hz("cutoff_frequency_hz", 50.0),)),
    PluginSpec("Invert"),
    PluginSpec(
        "LadderFilter",
        (
            choice("mode", pedalboard.LadderFilter.Mode, "LPF12"),
            hz("cutoff_hz", 200.0),
            unit("resonance", 0.0),
            ParamSpec("drive", 1.0, 1.0, 100.0, scale="log"),
        ),
        enums={"mode": pedalboard.LadderFilter.Mode},
    ),
    PluginSpec("Limiter", (db("threshold_db", -10.0, -60.0, 0.0), ms("release_ms", 100.0, 1.0, 5000.0))),
    PluginSpec("LowShelfFilter", _filter_params(440.0)),
    PluginSpec("LowpassFilter", (hz("cutoff_frequency_hz", 50.0),)),
    PluginSpec("MP3Compressor", (ParamSpec("vbr_quality", 2.0, 0.0, 9.99),), streamable=False, latency=True),
    PluginSpec(
        "NoiseGate",
        (
            db("threshold_db", -100.0, -100.0, 0.0),
            ParamSpec("ratio", 10.0, 1.0, 100.0, scale="log"),
            ms("attack_ms", 1.0, 0.01, 1000.0),
            ms("release_ms", 100.0, 1.0, 5000.0),
        ),
    ),
    PluginSpec("PeakFilter", _filter_params(440.0)),
    PluginSpec(
        "Phaser",
        (
            ParamSpec("rate_hz", 1.0, 0.01, 99.0, "Hz", scale="log"),
            unit("depth", 0.5),
            hz("centre_frequency_hz", 1300.0),
            ParamSpec("feedback", 0.0, -0.99, 0.99),
            unit("mix", 0.5),
        ),
    ),
    PluginSpec("PitchShift", (ParamSpec("semitones", 0.0, -72.0, 72.0, "st"),), streamable=False, latency=True),
    PluginSpec(
        "Resample",
        (
            ParamSpec("target_sample_rate", 8000.0, 100.0, 384000.0, "Hz", scale="log"),
            choice("quality", pedalboard.Resample.Quality, "WindowedSinc32"),
        ),
        latency=True,
        enums={"quality": pedalboard.Resample.Quality},
    ),
    PluginSpec("Reverb", _reverb_params()),
)

# Only what this pedalboard provides (BrickwallLimiter is recent).
BUILTINS: dict[str, PluginSpec] = {spec.name: spec for spec in _SPECS if hasattr(pedalboard, spec.name)}


def lookup(name: object) -> PluginSpec:
    """The spec of built-in plugin ``name``.

    Raises:
        ValueError: unknown name; the message lists the valid ones.
    """
    if not isinstance(name, str) or name not in BUILTINS:
        raise ValueError(not_found("Plugin", name, BUILTINS))
    return BUILTINS[name]


def spec_for(plugin: pedalboard.Plugin) -> PluginSpec | None:
    """The spec of a built-in plugin object, or ``None`` for anything else (containers, VST3)."""
    return BUILTINS.get(type(plugin).__name__)
