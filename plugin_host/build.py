"""Build live stages from a canonical preset: load plugins, check VST3 parameters, name every stage.

Stages without a ``name`` get one from their plugin (``compressor``,
``highpass_filter``, ``zam_comp_x2``), prefixed by the stem inside a route
(``drums_compressor``), with ``_2``, ``_3`` … when the name is taken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plugin_host import catalog, vst3
from plugin_host.errors import PresetError
from plugin_host.lane import Lane
from plugin_host.params import not_found
from plugin_host.split import Route, SplitStage
from plugin_host.stages import BuiltinStage, ContainerStage, PluginStage, Stage, Vst3Stage
from separator import AudioLoadError


@dataclass
class Parts:
    """A chain's pieces: the lane before the split, the split (if any), the lane after it."""

    pre: Lane
    split: SplitStage | None
    post: Lane


def build(preset: dict[str, Any], file: object = None, base_dir: Path | None = None) -> Parts:
    """Live stages for a canonical preset (see :func:`plugin_host.schema.normalize`).

    Raises:
        PresetError: a plugin does not load, or a VST3 parameter is unknown or out of range.
    """
    builder = _Builder(file, base_dir, _given_names(preset["chain"]))
    entries = preset["chain"]
    at = next((i for i, e in enumerate(entries) if "split" in e), len(entries))
    pre = Lane(builder.stages(entries[:at], "chain", start=0))
    if at == len(entries):
        return Parts(pre, None, Lane())
    split = builder.split(entries[at], f"chain[{at}]")
    return Parts(pre, split, Lane(builder.stages(entries[at + 1 :], "chain", start=at + 1)))


def _given_names(entries: list[dict[str, Any]]) -> set[str]:
    """Every ``name`` written anywhere in the preset (default names must not take them)."""
    names = set()
    for entry in entries:
        names |= {entry["name"]} if "name" in entry else set()
        for kind in ("chain", "mix"):
            names |= _given_names(entry.get(kind, []))
        for route in entry.get("split", {}).get("routes", {}).values():
            names |= _given_names(route.get("chain", []))
    return names


def snake(label: str) -> str:
    """``HighpassFilter`` → ``highpass_filter``, ``ZamCompX2`` → ``zam_comp_x2``."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", label)
    text = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()
    return text if text[:1].isalpha() else f"stage_{text}"


class _Builder:
    def __init__(self, file: object, base_dir: Path | None, given: set[str]) -> None:
        self.file, self.base_dir, self.taken = file, base_dir, set(given)

    def fail(self, key: str, problem: str) -> PresetError:
        return PresetError(problem, self.file, key)

    def stages(self, entries: list[dict[str, Any]], key: str, start: int = 0, prefix: str = "") -> list[Stage]:
        return [self.stage(e, f"{key}[{start + i}]", prefix) for i, e in enumerate(entries)]

    def stage(self, entry: dict[str, Any], key: str, prefix: str) -> Stage:
        if "plugin" in entry:
            return self.builtin(entry, key, prefix)
        if "vst3" in entry:
            return self.vst3(entry, key, prefix)
        kind = "chain" if "chain" in entry else "mix"
        return ContainerStage(kind, self.stages(entry[kind], f"{key}.{kind}", prefix=prefix), entry)

    def name(self, entry: dict[str, Any], label: str, prefix: str) -> str:
        if "name" in entry:
            return str(entry["name"])
        base = f"{prefix}{snake(label)}"
        name, n = base, 1
        while name in self.taken:
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name)
        return name

    def builtin(self, entry: dict[str, Any], key: str, prefix: str) -> BuiltinStage:
        spec = catalog.BUILTINS[entry["plugin"]]
        try:
            plugin = spec.build(entry.get("params", {}), self.base_dir)
        except AudioLoadError as exc:
            raise self.fail(f"{key}.params.impulse_response_filename", str(exc)) from None
        except ValueError as exc:  # pedalboard's own checks, should the ranges here be wider
            raise self.fail(f"{key}.params", str(exc)) from None
        return BuiltinStage(self.name(entry, spec.name, prefix), entry, spec, plugin)

    def vst3(self, entry: dict[str, Any], key: str, prefix: str) -> Vst3Stage:
        state = entry.get("state")
        source = vst3.Vst3Source(
            catalog.resolve(entry["vst3"], self.base_dir).resolve(),
            entry.get("plugin_name"),
            catalog.resolve(state, self.base_dir).resolve() if state else None,
        )
        try:
            plugin = source.load()
        except vst3.Vst3LoadError as exc:
            raise self.fail(f"{key}.{exc.field}", str(exc)) from None
        stage = Vst3Stage(self.name(entry, source.path.stem, prefix), {**entry, "params": {}}, source, plugin)
        if not stage.channels:
            raise self.fail(f"{key}.vst3", f"{stage.label} accepts neither mono nor stereo audio; plugin_host cannot host it")
        self.vst3_params(stage, entry.get("params", {}), f"{key}.params")
        stage.entry = entry
        return stage

    def vst3_params(self, stage: Vst3Stage, params: dict[str, Any], key: str) -> None:
        for name, value in params.items():
            if name not in stage.specs:
                raise self.fail(f"{key}.{name}", not_found("Parameter", name, stage.specs))
            try:
                stage.set(name, value)
            except ValueError as exc:
                raise self.fail(f"{key}.{name}", str(exc)) from None

    def split(self, entry: dict[str, Any], key: str) -> SplitStage:
        section = entry["split"]
        routes = {}
        for stem, route in section.get("routes", {}).items():
            lane = Lane(self.stages(route.get("chain", []), f"{key}.split.routes.{stem}.chain", prefix=f"{stem}_"))
            explicit = {k for k in ("gain_db", "mute", "solo") if k in route}
            settings = {k: route[k] for k in explicit}
            routes[stem] = Route(lane, explicit=explicit, listed=True, chain_given="chain" in route, **settings)
        head = {k: v for k, v in section.items() if k != "routes"}
        return SplitStage(head, routes, entry.get("name"))


def plugin_stages(parts: Parts) -> list[PluginStage]:
    """Every plugin stage, depth first, in processing order: the order of stage indices."""
    out = list(parts.pre.plugin_stages())
    if parts.split is not None:
        out += list(parts.split.plugin_stages())
    return out + list(parts.post.plugin_stages())
