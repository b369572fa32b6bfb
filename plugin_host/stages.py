"""The live stages of a chain: plugins (built-in or VST3), nested chains and parallel mixes.

Each stage keeps its canonical preset entry, so ``to_dict()`` writes back what
was loaded, plus what was changed live (parameters set, bypass switched).
Stages hand pedalboard objects to :mod:`plugin_host.lane`, which runs them.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

import pedalboard

from plugin_host import catalog, vst3
from plugin_host.errors import ChainError, ParameterError
from plugin_host.params import ParamInfo, ParamSpec, ParamValue, not_found

NYQUIST_FRACTION = 0.45  # frequency parameters are kept under this fraction of the sample rate


class PluginStage(ABC):
    """One plugin with a name, parameter specs and live values.

    Attributes:
        name: unique in its chain; OSC and MIDI address the stage by it.
        specs: ``{parameter name: ParamSpec}``.
        plugin: the pedalboard plugin (the first instance, for VST3 run per channel).
        bypass: a bypassed stage passes audio through unchanged.
    """

    def __init__(self, name: str, entry: dict[str, Any], plugin: pedalboard.Plugin, specs: dict[str, ParamSpec]) -> None:
        self.name, self.entry, self.plugin, self.specs = name, entry, plugin, specs
        self.bypass = bool(entry.get("bypass", False))
        self.explicit: dict[str, ParamValue] = dict(entry.get("params", {}))

    @property
    @abstractmethod
    def label(self) -> str:
        """What the stage is: the built-in class name or the VST3 plugin's name."""

    @property
    def streamable(self) -> bool:
        return True

    @property
    def latency(self) -> bool:
        return False

    @property
    def delay_seconds(self) -> float:
        """The longest delay line of the stage (silence gaps between echoes last this long)."""
        return 0.0

    def plugin_stages(self) -> Iterator[PluginStage]:
        yield self

    def spec(self, name: str) -> ParamSpec:
        if name not in self.specs:
            raise ParameterError(not_found("Parameter", name, self.specs) + f" (stage '{self.name}', {self.label})")
        return self.specs[name]

    def get(self, name: str) -> ParamValue:
        """The value of parameter ``name`` (as set, before any clamping to the sample rate)."""
        return self._value(self.spec(name).name)

    def set(self, name: str, value: object) -> ParamValue:
        """Set parameter ``name``; returns the value stored.

        Raises:
            ParameterError: unknown parameter, or a value of the wrong type or out of range.
        """
        spec = self.spec(name)
        try:
            checked = spec.check(value)
            self._apply(name, checked)
        except ValueError as exc:
            raise ParameterError(f"{exc} (stage '{self.name}', {self.label})") from None
        self.explicit[name] = checked
        return checked

    def infos(self) -> list[ParamInfo]:
        """The automatable parameters, with their current values and ranges."""
        out = []
        for spec in self.specs.values():
            if spec.automatable:
                lo, hi = spec.range
                out.append(ParamInfo(self.name, spec.name, float(self._value(spec.name)), lo, hi, spec.unit, spec.scale))
        return out

    def to_dict(self) -> dict[str, Any]:
        entry = {k: copy.deepcopy(v) for k, v in self.entry.items() if k not in ("params", "bypass")}
        if self.explicit:
            entry["params"] = dict(self.explicit)
        if self.bypass:
            entry["bypass"] = True
        return entry

    def native(self, channels: int) -> pedalboard.Plugin | None:
        """The pedalboard plugin for ``channels``-channel audio inside a container; ``None`` when bypassed."""
        return None if self.bypass else self.plugin

    @abstractmethod
    def prepare(self, sample_rate: float) -> None:
        """Adjust to the sample rate about to be processed."""

    def reset(self) -> None:
        """Forget the audio processed so far (reverb tails, compressor envelopes)."""
        self.plugin.reset()

    @abstractmethod
    def _value(self, name: str) -> ParamValue:
        """The current value of a known parameter."""

    @abstractmethod
    def _apply(self, name: str, value: ParamValue) -> None:
        """Give a checked value to the plugin; raises ValueError when the plugin refuses it."""


class BuiltinStage(PluginStage):
    """A built-in pedalboard plugin."""

    def __init__(self, name: str, entry: dict[str, Any], spec: catalog.PluginSpec, plugin: pedalboard.Plugin) -> None:
        super().__init__(name, entry, plugin, spec.param_specs)
        self.builtin = spec
        self.values: dict[str, ParamValue] = {p.name: self._read_live(p) for p in spec.params}
        self.values.update(self.explicit)
        self.sample_rate: float | None = None

    @property
    def label(self) -> str:
        return self.builtin.name

    @property
    def streamable(self) -> bool:
        return self.builtin.streamable

    @property
    def latency(self) -> bool:
        return self.builtin.latency

    @property
    def delay_seconds(self) -> float:
        return float(self.values.get("delay_seconds", 0.0)) if self.builtin.name == "Delay" and not self.bypass else 0.0

    def prepare(self, sample_rate: float) -> None:
        """Keep frequencies under Nyquist: a 20 kHz shelf from a 48 kHz preset would silence a 16 kHz file."""
        self.sample_rate = sample_rate
        for spec in self.specs.values():
            if spec.nyquist:
                self._apply(spec.name, self.values[spec.name])

    def _read_live(self, spec: ParamSpec) -> ParamValue:
        if spec.kind == "file":
            return str(self.explicit.get(spec.name, ""))
        return self.builtin.read(self.plugin, spec.name)

    def _value(self, name: str) -> ParamValue:
        return self.values[name]

    def _apply(self, name: str, value: ParamValue) -> None:
        spec = self.specs[name]
        if spec.kind == "file":
            raise ValueError(f"Parameter '{name}' is a file, fixed when the chain is built; edit the preset and load it again")
        live = value
        if spec.nyquist and self.sample_rate and isinstance(value, float):
            live = min(value, NYQUIST_FRACTION * self.sample_rate)
        self.builtin.write(self.plugin, name, live)
        self.values[name] = value


class Vst3Stage(PluginStage):
    """An external VST3 plugin; run once per channel when it is mono-only and the audio is not."""

    def __init__(self, name: str, entry: dict[str, Any], source: vst3.Vst3Source, plugin: pedalboard.VST3Plugin) -> None:
        super().__init__(name, entry, plugin, vst3.param_specs(plugin))
        self.source, self.plugin_name = source, str(plugin.name)
        self.channels = vst3.supported_channels(plugin)
        self.instances: list[pedalboard.Plugin] = [plugin]

    @property
    def label(self) -> str:
        return self.plugin_name

    @property
    def latency(self) -> bool:
        return int(getattr(self.plugin, "reported_latency_samples", 0) or 0) > 0

    def per_channel(self, channels: int) -> list[pedalboard.Plugin]:
        """``channels`` identical instances (loaded on first need), for dual-mono processing."""
        while len(self.instances) < channels:
            twin = self.source.load()
            for name, value in self.explicit.items():
                vst3.write(twin, name, value)
            self.instances.append(twin)
        return self.instances[:channels]

    def native(self, channels: int) -> pedalboard.Plugin | None:
        if not self.bypass and channels not in self.channels:
            raise ChainError(
                f"stage '{self.name}' ({self.label}) accepts {describe_channels(self.channels)} audio only, and inside a chain or mix "
                f"it cannot be adapted to {channels}-channel audio; put it at the top level of its chain, where plugin_host adapts channels"
            )
        return super().native(channels)

    def prepare(self, sample_rate: float) -> None:
        """Nothing to do: a VST3 plugin is told the rate by pedalboard and adapts itself."""

    def reset(self) -> None:
        for instance in self.instances:
            instance.reset()

    def _value(self, name: str) -> ParamValue:
        return vst3.read(self.plugin, name)

    def _apply(self, name: str, value: ParamValue) -> None:
        for instance in self.instances:
            vst3.write(instance, name, value)


def describe_channels(channels: frozenset[int]) -> str:
    return " or ".join({1: "mono", 2: "stereo"}[c] for c in sorted(channels)) or "no mono or stereo"


class ContainerStage:
    """A nested serial ``chain`` or a parallel ``mix`` of stages."""

    def __init__(self, kind: str, children: list[Stage], entry: dict[str, Any]) -> None:
        self.kind, self.children, self.entry = kind, children, entry
        self.name: str | None = entry.get("name")
        self.bypass = bool(entry.get("bypass", False))

    @property
    def streamable(self) -> bool:
        inner_latency = self.kind == "mix" and any(s.latency for s in self.plugin_stages() if not s.bypass)
        return all(c.streamable for c in self.children) and not inner_latency

    @property
    def latency(self) -> bool:
        return any(c.latency for c in self.children)

    @property
    def delay_seconds(self) -> float:
        return 0.0 if self.bypass else max((c.delay_seconds for c in self.children), default=0.0)

    def plugin_stages(self) -> Iterator[PluginStage]:
        for child in self.children:
            yield from child.plugin_stages()

    def native(self, channels: int) -> pedalboard.Plugin | None:
        if self.bypass:
            return None
        inner = [c.native(channels) for c in self.children]
        if self.kind == "chain":
            return pedalboard.Chain([p for p in inner if p is not None])
        return pedalboard.Mix([p if p is not None else pedalboard.Chain([]) for p in inner])  # a bypassed branch is dry

    def prepare(self, sample_rate: float) -> None:
        for child in self.children:
            child.prepare(sample_rate)

    def reset(self) -> None:
        for child in self.children:
            child.reset()

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name} if self.name else {}
        entry[self.kind] = [c.to_dict() for c in self.children]
        if self.bypass:
            entry["bypass"] = True
        return entry


Stage = PluginStage | ContainerStage
