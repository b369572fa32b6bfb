"""External VST3 plugins: load one from a file, describe its parameters, learn which channel counts it accepts.

pedalboard guesses each parameter's range from the plugin; those ranges become
:class:`ParamSpec` objects, so presets, OSC and MIDI check VST3 values the same
way as built-in ones. A plugin's state comes only from a ``.vstpreset`` file the
preset names (never from bytes received over a network: bad state can crash
the host).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pedalboard

from plugin_host.params import ParamSpec, ParamValue, not_found

PROBE_RATE = 44100.0
PROBE_SAMPLES = 64


class Vst3LoadError(ValueError):
    """A VST3 plugin does not load; ``field`` says which preset key is at fault (``vst3``, ``plugin_name``, ``state``)."""

    def __init__(self, message: str, field: str = "vst3") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Vst3Source:
    """Where a VST3 plugin comes from: enough to load another identical instance.

    Attributes:
        path: the ``.vst3`` bundle or file (absolute).
        plugin_name: which plugin of a file that holds several.
        state: a ``.vstpreset`` applied after loading.
    """

    path: Path
    plugin_name: str | None = None
    state: Path | None = None

    def load(self) -> pedalboard.VST3Plugin:
        """A fresh instance with the state file applied.

        Raises:
            Vst3LoadError: the file is missing, not a VST3 plugin, an instrument, or the state does not load.
        """
        if not self.path.exists():
            raise Vst3LoadError(f"VST3 plugin file not found: {self.path}")
        if self.path.suffix.lower() != ".vst3":
            raise Vst3LoadError(f"{self.path} is not a VST3 plugin (expected a .vst3 bundle or file)")
        self._check_name()
        try:
            plugin = pedalboard.VST3Plugin(str(self.path), plugin_name=self.plugin_name)
        except (ImportError, RuntimeError, ValueError) as exc:
            raise Vst3LoadError(f"{self.path} is not a loadable VST3 plugin ({_last_line(exc)})") from None
        if plugin.is_instrument and not plugin.is_effect:
            raise Vst3LoadError(f"{self.path} is an instrument; plugin_host hosts effects only")
        if self.state is not None:
            _load_state(plugin, self.state)
        return plugin

    def _check_name(self) -> None:
        if self.plugin_name is None:
            return
        try:
            names = pedalboard.VST3Plugin.get_plugin_names_for_file(str(self.path))
        except (ImportError, RuntimeError, ValueError) as exc:
            raise Vst3LoadError(f"{self.path} is not a loadable VST3 plugin ({_last_line(exc)})") from None
        if self.plugin_name not in names:
            raise Vst3LoadError(not_found("Plugin", self.plugin_name, names) + f" (in {self.path.name})", "plugin_name")


def _load_state(plugin: pedalboard.VST3Plugin, state: Path) -> None:
    if not state.exists():
        raise Vst3LoadError(f"state file not found: {state}", "state")
    try:
        plugin.load_preset(str(state))
    except (RuntimeError, ValueError) as exc:
        raise Vst3LoadError(f"{state} does not load into {plugin.name} ({_last_line(exc)})", "state") from None


def _last_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def param_specs(plugin: pedalboard.VST3Plugin) -> dict[str, ParamSpec]:
    """A :class:`ParamSpec` per parameter pedalboard exposes, ranges as the plugin reports them."""
    specs = {}
    for name, p in plugin.parameters.items():  # type: ignore[attr-defined]
        current = read(plugin, name)
        if p.type is str:
            specs[name] = ParamSpec(name, current, kind="choice", choices=tuple(str(v) for v in p.valid_values))
        elif p.type is bool:
            specs[name] = ParamSpec(name, current, kind="bool")
        else:
            lo, hi = float(p.min_value), float(p.max_value)
            unit = (p.units or "").strip()
            specs[name] = ParamSpec(name, current, lo, hi, unit, scale="log" if unit in ("Hz", "ms") and lo > 0 else "linear")
    return specs


def read(plugin: pedalboard.Plugin, name: str) -> ParamValue:
    """The plugin's current value of ``name``, as a plain float, bool or str."""
    value = getattr(plugin, name)
    if isinstance(value, (bool, str)):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def write(plugin: pedalboard.Plugin, name: str, value: ParamValue) -> None:
    """Set ``name`` (already checked against its spec).

    Raises:
        ValueError: the plugin refused the value (pedalboard's message).
    """
    setattr(plugin, name, value)


def supported_channels(plugin: pedalboard.Plugin) -> frozenset[int]:
    """The channel counts among mono and stereo that ``plugin`` processes (pedalboard raises on the others)."""
    ok = set()
    for channels in (1, 2):
        try:
            plugin.process(np.zeros((channels, PROBE_SAMPLES), np.float32), PROBE_RATE, reset=True)
        except (ValueError, RuntimeError):
            continue
        ok.add(channels)
    plugin.reset()
    return frozenset(ok)
