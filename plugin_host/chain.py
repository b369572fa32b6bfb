"""The Chain: a preset made live, processing audio like a pedalboard and exposing its parameters.

>>> chain = Chain.from_preset("karaoke")
>>> instrumental = chain(audio, 44100)             # audio: (channels, samples) float32
>>> chain.set_param("glue", "ratio", 4.0)          # OSC and MIDI move parameters by stage name
>>> chain.save("my-karaoke.yaml")                  # what was loaded, plus what was changed

A chain is at most three parts: a lane of effects, an optional split (separate,
then one route per stem), and a lane after the split for the remixed audio.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pedalboard

from plugin_host import catalog, preset
from plugin_host.build import Parts, build, plugin_stages
from plugin_host.errors import ChainError, ParameterError, PresetError
from plugin_host.lane import Lane
from plugin_host.params import ParamInfo, ParamValue, not_found
from plugin_host.render import Tail, fit, render, whole
from plugin_host.schema import FORMAT_VERSION, normalize
from plugin_host.split import SeparatorLike, SplitStage
from plugin_host.stages import ContainerStage, PluginStage, Vst3Stage

MIX = "mix"  # the key of the mixed audio in the result of a preset whose split writes both


@dataclass(frozen=True)
class StageInfo:
    """A plugin stage as listed by :meth:`Chain.stages`: its index and name address it."""

    index: int
    name: str
    plugin: str
    kind: str  # "plugin" (built-in) or "vst3"
    bypass: bool


@dataclass(frozen=True)
class Rendered:
    """What a chain made of one input: the mixed audio and/or the heard stems, ``(channels, samples)`` float32."""

    mix: np.ndarray | None
    stems: dict[str, np.ndarray]


class Chain:
    """Effects, and optionally a stem split, from a preset.

    Build one with :meth:`from_preset`, :meth:`from_dict` or :meth:`from_plugins`.
    A chain is not for two threads at once: give each worker its own :meth:`copy`.
    """

    def __init__(self, data: dict[str, Any], parts: Parts, source: Path | None = None, separator: SeparatorLike | None = None) -> None:
        self._data, self._parts, self.source = data, parts, source
        self._separator = separator
        self._plugins = plugin_stages(parts)
        self._by_name = {s.name: s for s in self._plugins}

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def from_preset(cls, name_or_path: str | Path, separator: SeparatorLike | None = None) -> Chain:
        """The chain of a preset given by name (``karaoke``) or path.

        Args:
            separator: the model for a split stage; by default the shipped one, loaded on first use.
        Raises:
            PresetError: the preset is missing or invalid, or a plugin does not load.
        """
        return cls.from_dict(preset.read(path := preset.find_preset(name_or_path)), source=path, separator=separator)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | Path | None = None, separator: SeparatorLike | None = None) -> Chain:
        """The chain of a preset held in memory.

        Args:
            data: the preset, as its YAML would parse.
            source: the file it came from: named in messages; relative paths start in its folder
                (without one, in the working directory).
        Raises:
            PresetError: the preset is invalid or a plugin does not load.
        """
        path = Path(source).expanduser() if source is not None else None
        base = path.parent.resolve() if path is not None else Path.cwd()
        canonical = normalize(data, file=path, base_dir=base, default_name=path.stem if path else None)
        return cls(canonical, build(canonical, path, base), path, separator)

    @classmethod
    def from_plugins(
        cls, plugins: Sequence[pedalboard.Plugin], name: str = "untitled", description: str = "", tail_seconds: float | str | None = None
    ) -> Chain:
        """A chain of built-in pedalboard plugin objects (nested ``Chain``/``Mix`` too), e.g. to save as a preset.

        Raises:
            PresetError: an object cannot be described in a preset (a VST3 object, a Convolution made from an array).
        """
        data: dict[str, Any] = {"format": FORMAT_VERSION, "name": name, "description": description, "chain": [_entry(p) for p in plugins]}
        if tail_seconds is not None:
            data["tail_seconds"] = tail_seconds
        return cls.from_dict(data)

    def copy(self) -> Chain:
        """An independent chain with the same settings (fresh plugin instances); shares the separator."""
        return Chain.from_dict(self.to_preset(), source=self.source, separator=self._separator)

    # -- description -----------------------------------------------------------------------

    @property
    def name(self) -> str:
        return str(self._data["name"])

    @property
    def description(self) -> str:
        return str(self._data.get("description", ""))

    @property
    def tail_seconds(self) -> float | str:
        """``"auto"`` (run until the tail decays) or a fixed number of seconds after the input."""
        return self._data.get("tail_seconds", "auto")  # type: ignore[no-any-return]

    @property
    def has_split(self) -> bool:
        return self._parts.split is not None

    @property
    def streamable(self) -> bool:
        """Whether files can be processed block by block with output identical to whole-file processing."""
        return not self.has_split and self._parts.pre.streamable

    @property
    def writes_mix(self) -> bool:
        return self._parts.split is None or self._parts.split.output != "stems"

    def output_stems(self) -> list[str]:
        """The stems written as files: the heard stems of a split whose output is ``stems`` or ``both``."""
        split = self._parts.split
        return split.heard() if split is not None and split.output != "mix" else []

    def output_channels(self, channels: int) -> int:
        """Channels of the mixed output for ``channels``-channel input (a stereo-only plugin makes mono stereo)."""
        channels = self._parts.pre.output_channels(channels)
        split = self._parts.split
        if split is not None:
            channels = max(split.routes[n].lane.output_channels(channels) for n in split.names)
        return self._parts.post.output_channels(channels)

    def stages(self) -> list[StageInfo]:
        """Every plugin stage, depth first in processing order; the list index is the stage index."""
        return [
            StageInfo(i, s.name, s.label, "vst3" if isinstance(s, Vst3Stage) else "plugin", s.bypass) for i, s in enumerate(self._plugins)
        ]

    def __repr__(self) -> str:
        return f"<plugin_host.Chain {self.name!r}: {len(self._plugins)} plugin stages{', split' if self.has_split else ''}>"

    # -- presets ---------------------------------------------------------------------------

    def to_preset(self, relative_to: str | Path | None = None) -> dict[str, Any]:
        """The preset of this chain as it is now (loaded settings plus live changes).

        Args:
            relative_to: the folder the preset will be saved in; relative file paths are rewritten to start there.
        """
        parts = self._parts
        entries = [s.to_dict() for s in parts.pre.stages]
        if parts.split is not None:
            entries += [parts.split.to_dict()] + [s.to_dict() for s in parts.post.stages]
        data = {**copy.deepcopy(self._data), "chain": entries}
        if relative_to is not None:
            _rebase(data["chain"], self._base_dir, Path(relative_to).resolve())
        return data

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_preset` to ``path`` (YAML or JSON by suffix), atomically.

        Raises:
            PresetError: unknown suffix or the file cannot be written.
        """
        path = Path(path).expanduser()
        return preset.save_preset(self.to_preset(relative_to=path.parent), path)

    @property
    def _base_dir(self) -> Path:
        return self.source.parent.resolve() if self.source is not None else Path.cwd()

    # -- processing ------------------------------------------------------------------------

    @property
    def separator(self) -> SeparatorLike:
        """The model of the split stage; the shipped one is loaded on first use, once per chain (and its copies)."""
        if self._separator is None:
            from separator import Separator  # imports torch: only when a split stage first runs

            self._separator = Separator.from_pretrained()
        return self._separator

    @separator.setter
    def separator(self, value: SeparatorLike | None) -> None:
        self._separator = value

    @property
    def loaded_separator(self) -> SeparatorLike | None:
        """The separator given or loaded so far, without loading one (``None``: the shipped one loads on first use)."""
        return self._separator

    def process(self, audio: np.ndarray, sample_rate: float) -> np.ndarray | dict[str, np.ndarray]:
        """Process ``audio`` ``(channels, samples)`` (or ``(samples,)``) at ``sample_rate`` Hz.

        Returns:
            the mixed audio ``(channels, samples + tail)`` float32; for a split whose output is ``stems``,
            ``{stem: audio}``; for ``both``, the stems plus the mix under ``"mix"``.
        Raises:
            ChainError: bad audio, or a channel count a plugin cannot take.
            SeparationError: the separator refused the audio.
        """
        result = self.render(audio, sample_rate)
        if result.mix is None:
            return result.stems
        return {**result.stems, MIX: result.mix} if result.stems else result.mix

    __call__ = process

    def render(self, audio: np.ndarray, sample_rate: float) -> Rendered:
        """Like :meth:`process`, with the mix and the stems apart."""
        x, rate = _as_audio(audio, sample_rate)
        if self._parts.split is None:
            return Rendered(whole(self._parts.pre, x, rate, Tail.of(self.tail_seconds, self._parts.pre)), {})
        return self._render_split(x, rate, self._parts.split)

    def stream(self, blocks: Iterable[np.ndarray], sample_rate: float) -> Iterator[np.ndarray]:
        """Process a stream of ``(channels, n)`` blocks (a file read block by block) and yield the output, tail included.

        For a :attr:`streamable` chain the output equals :meth:`process` of the whole signal, sample for sample.

        Raises:
            ChainError: the chain splits (separation needs the whole track).
        """
        if self.has_split:
            raise ChainError(f"preset {self.name!r} splits into stems; separation needs the whole track, use process()")
        lane = self._parts.pre
        yield from render(lane, (_as_audio(b, sample_rate)[0] for b in blocks), float(sample_rate), Tail.of(self.tail_seconds, lane))

    def _render_split(self, x: np.ndarray, rate: float, split: SplitStage) -> Rendered:
        parts = self._parts
        pre = whole(parts.pre, x, rate, Tail.of("auto", parts.pre)) if parts.pre.stages else x
        stems = split.stems(self.separator, pre, int(rate))
        mix = None
        if split.output != "stems":
            summed = np.add.reduce(list(stems.values())) if stems else np.zeros_like(pre)
            mix = whole(parts.post, summed, rate, Tail.of("auto", parts.post)) if parts.post.stages else summed
        if isinstance(self.tail_seconds, (int, float)):  # exactly that long after the input
            n = x.shape[-1] + round(self.tail_seconds * rate)
            stems = {k: fit(v, n) for k, v in stems.items()}
            mix = fit(mix, n) if mix is not None else None
        return Rendered(mix, stems if split.output != "mix" else {})

    # -- parameters (OSC, MIDI) -------------------------------------------------------------

    def parameters(self) -> list[ParamInfo]:
        """Every automatable parameter of every plugin stage, with value, range, unit and scale."""
        return [info for stage in self._plugins for info in stage.infos()]

    def get_param(self, stage: str | int, name: str) -> ParamValue:
        """The value of parameter ``name`` of ``stage`` (a name, or an index as int or digits); a switch reads 0.0/1.0.

        Raises:
            ParameterError: unknown stage or parameter.
        """
        value = self._stage(stage).get(name)
        return float(value) if isinstance(value, (bool, int, float)) else value

    def set_param(self, stage: str | int, name: str, value: object) -> ParamValue:
        """Set parameter ``name`` of ``stage``; returns the value stored.

        Raises:
            ParameterError: unknown stage or parameter, or a value out of range (the message gives the range or options).
        """
        return self._stage(stage).set(name, value)

    def param_range(self, stage: str | int, name: str) -> tuple[float, float]:
        """``(minimum, maximum)`` of a numeric parameter (``(0, 1)`` for a switch).

        Raises:
            ParameterError: unknown stage or parameter, or one without a numeric range (a file, a choice).
        """
        try:
            return self._stage(stage).spec(name).range
        except ParameterError:
            raise
        except ValueError as exc:
            raise ParameterError(str(exc)) from None

    def set_bypass(self, stage: str | int, bypass: bool) -> None:
        """Bypass a plugin stage (or a named nested chain or mix), or bring it back.

        Raises:
            ParameterError: unknown stage.
        """
        self._bypassable(stage).bypass = bool(bypass)
        for lane in self._lanes():
            lane.invalidate()

    def is_bypassed(self, stage: str | int) -> bool:
        return self._bypassable(stage).bypass

    def _bypassable(self, stage: str | int) -> PluginStage | ContainerStage:
        containers = self._containers()
        return containers[stage] if isinstance(stage, str) and stage in containers else self._stage(stage)

    def _stage(self, stage: str | int) -> PluginStage:
        if isinstance(stage, int) or (isinstance(stage, str) and stage.isdigit()):
            index = int(stage)
            if not 0 <= index < len(self._plugins):
                raise ParameterError(f"Stage index {index} is out of range [0, {len(self._plugins) - 1}]")
            return self._plugins[index]
        if stage not in self._by_name:
            raise ParameterError(not_found("Stage", stage, self._by_name))
        return self._by_name[stage]

    def _containers(self) -> dict[str, ContainerStage]:
        found: dict[str, ContainerStage] = {}

        def walk(stages: Iterable[Any]) -> None:
            for s in stages:
                if isinstance(s, ContainerStage):
                    if s.name:
                        found[s.name] = s
                    walk(s.children)

        for lane in self._lanes():
            walk(lane.stages)
        return found

    def _lanes(self) -> list[Any]:
        split = self._parts.split
        routes = [r.lane for r in split.routes.values()] if split is not None else []
        return [self._parts.pre, *routes, self._parts.post]

    # -- stems (split stage) ---------------------------------------------------------------

    def stem_names(self) -> list[str]:
        """The stems the split produces, in order (empty without a split)."""
        return list(self._parts.split.names) if self._parts.split is not None else []

    def set_stem(self, name: str, gain_db: float | None = None, mute: bool | None = None, solo: bool | None = None) -> None:
        """Change a stem's gain (dB), mute or solo; ``None`` leaves that setting alone.

        Raises:
            ParameterError: no split, unknown stem, or a gain out of range.
        """
        self._split_stage().set_stem(name, gain_db, mute, solo)

    def get_stem(self, name: str) -> dict[str, Any]:
        """``{"gain_db": float, "mute": bool, "solo": bool}`` of a stem.

        Raises:
            ParameterError: no split, or unknown stem.
        """
        return self._split_stage().route(name).state()

    def stem_lane(self, name: str) -> Lane:
        """The effects of a stem's route (empty when the preset gives it none), e.g. to run them block by block live.

        Raises:
            ParameterError: no split, or unknown stem.
        """
        return self._split_stage().route(name).lane

    def split_stems(self) -> list[str] | None:
        """The ``stems:`` the split stage asks the separator for (``None``: every class, or blind clusters).

        Raises:
            ParameterError: no split.
        """
        stems = self._split_stage().entry.get("stems")
        return list(stems) if stems is not None else None

    def _split_stage(self) -> SplitStage:
        if self._parts.split is None:
            raise ParameterError(f"preset {self.name!r} has no split stage, so it has no stems")
        return self._parts.split


def _as_audio(audio: np.ndarray, sample_rate: float) -> tuple[np.ndarray, float]:
    """``(channels, samples)`` float32 and the rate as a float.

    Raises:
        ChainError: not 1-D/2-D, transposed-looking, empty, NaN/inf, or an implausible sample rate.
    """
    x = np.asarray(audio, dtype=np.float32)
    x = x[None] if x.ndim == 1 else x
    if x.ndim != 2:
        raise ChainError(f"audio must be shaped (channels, samples), got {x.ndim} dimensions {x.shape}")
    if x.shape[0] > x.shape[1] and x.shape[0] > 64:
        raise ChainError(f"audio looks transposed: {x.shape[0]} channels and {x.shape[1]} samples; pass (channels, samples)")
    if not np.isfinite(x).all():
        raise ChainError("audio contains NaN or infinite samples")
    if (
        isinstance(sample_rate, bool)
        or not isinstance(sample_rate, (int, float, np.integer, np.floating))
        or not 1000 <= sample_rate <= 768000
    ):
        hint = " (did you pass the duration instead?)" if isinstance(sample_rate, (int, float)) and 0 < sample_rate < 1000 else ""
        raise ChainError(f"sample_rate must be a number of Hz between 1000 and 768000, got {sample_rate!r}{hint}")
    return np.ascontiguousarray(x), float(sample_rate)


def _entry(plugin: pedalboard.Plugin) -> dict[str, Any]:
    """The preset stage of a pedalboard plugin object."""
    if isinstance(plugin, pedalboard.Mix):
        return {"mix": [_entry(p) for p in plugin]}
    if isinstance(plugin, pedalboard.Chain):
        return {"chain": [_entry(p) for p in plugin]}
    spec = catalog.spec_for(plugin)
    if spec is None:
        raise PresetError(
            f"{type(plugin).__name__} objects cannot be written to a preset (pedalboard does not expose a VST3's file); "
            "add VST3 plugins with Chain.from_dict and a {'vst3': PATH, 'params': {...}} stage"
        )
    params = {p.name: spec.read(plugin, p.name) for p in spec.params if p.kind != "file"}
    if spec.name == "Convolution":
        file = getattr(plugin, "impulse_response_filename", None)
        if not file:
            raise PresetError("a Convolution made from an array cannot be written to a preset; make it from an impulse-response file")
        params["impulse_response_filename"] = str(Path(file).resolve())
    return {"plugin": spec.name, "params": {k: _tidy(v) for k, v in params.items()}}


def _tidy(value: object) -> object:
    """A number read back from pedalboard (float32 inside) as the float it was set to: 0.15, not 0.15000000596046448."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(f"{float(value):.7g}")
    return value


def _rebase(entries: list[dict[str, Any]], old: Path, new: Path) -> None:
    """Rewrite relative file paths in ``entries`` (in place) from folder ``old`` to folder ``new``."""
    if old == new:
        return

    def move(path: str) -> str:
        if Path(path).expanduser().is_absolute():
            return path
        target = (old / path).resolve()
        try:
            return os.path.relpath(target, new)
        except ValueError:  # another drive (Windows): keep it absolute
            return str(target)

    for entry in entries:
        for key in ("vst3", "state"):
            if key in entry:
                entry[key] = move(entry[key])
        params = entry.get("params", {})
        if entry.get("plugin") == "Convolution" and "impulse_response_filename" in params:
            params["impulse_response_filename"] = move(params["impulse_response_filename"])
        for kind in ("chain", "mix"):
            _rebase(entry.get(kind, []), old, new)
        for route in entry.get("split", {}).get("routes", {}).values():
            _rebase(route.get("chain", []), old, new)
