"""The preset format: check a preset's structure and bring it to its one canonical form.

A preset (format 1)::

    format: 1
    name: drum-bus
    description: Compress and saturate the drums, leave the rest alone.
    tail_seconds: auto          # or seconds added after the input (0: cut at the input's length)
    sample_rate: 48000          # optional: the rate it was tuned at; any rate is processed
    chain:                      # stages, in order
      - plugin: HighpassFilter  # a built-in pedalboard plugin; params are its constructor arguments
        name: low_cut           # optional; unique; used by OSC/MIDI addresses
        params: {cutoff_frequency_hz: 30}
      - vst3: plugins/ZamCompX2.vst3   # an external plugin; relative to the preset's folder
        plugin_name: ZamCompX2          # for files that hold several plugins
        state: glue.vstpreset           # optional preset file, applied before params
        params: {threshold_db: -20}
      - chain: [ ...stages... ]         # a nested serial chain
      - mix: [ ...stages... ]           # parallel branches, summed (``chain: []`` is a dry branch)
      - split:                          # once, at the top level: separate, then one chain per stem
          stems: [drums]                # named stems (the rest become "other"), or clusters: K
          output: mix                   # mix | stems | both
          routes:
            drums: {gain_db: -1, mute: false, solo: false, chain: [ ...stages... ]}
    midi: {cc: [...]}           # MIDI maps (see plugin_host.control.midi), kept as written

Every stage may also say ``bypass: true``. The canonical form keeps what the
file says (no defaults added), with numbers as floats and stem lists as lists,
so ``load → save → load`` is stable and a chain's ``to_preset()`` equals it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from plugin_host import catalog
from plugin_host.errors import PresetError
from plugin_host.params import ParamSpec, not_found
from separator import CLASSES

FORMAT_VERSION = 1
TOP_KEYS = ("format", "name", "description", "tail_seconds", "sample_rate", "chain", "midi")
STAGE_KINDS = ("plugin", "vst3", "chain", "mix", "split")
KIND_KEYS = {"plugin": ("params",), "vst3": ("plugin_name", "state", "params"), "chain": (), "mix": (), "split": ()}
SPLIT_KEYS = ("stems", "clusters", "output", "routes")
ROUTE_KEYS = ("gain_db", "mute", "solo", "chain")
OUTPUTS = ("mix", "stems", "both")
MAX_CLUSTERS = 16
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
RESERVED_NAMES = ("stem",)  # MIDI targets read "stem.<name>.gain"
TAIL_SPEC = ParamSpec("tail_seconds", None, 0.0, 60.0, "s")
SAMPLE_RATE_SPEC = ParamSpec("sample_rate", None, 8000.0, 384000.0, "Hz")
ROUTE_GAIN_SPEC = ParamSpec("gain_db", 0.0, -96.0, 24.0, "dB")


def switch(name: str) -> ParamSpec:
    """An on/off setting (``bypass``, ``mute``, ``solo``)."""
    return ParamSpec(name, False, kind="bool")


class _Checker:
    """Walks one preset; knows its file (for messages) and folder (for relative paths)."""

    def __init__(self, file: object, base_dir: Path | None) -> None:
        self.file, self.base_dir = file, base_dir
        self.names: dict[str, str] = {}  # stage name -> key path where it was given

    def fail(self, key: str | None, problem: str) -> PresetError:
        return PresetError(problem, self.file, key)

    def mapping(self, value: object, key: str, what: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(key, f"{what} must be a mapping (key: value), got {type(value).__name__} {value!r}")
        return value

    def sequence(self, value: object, key: str, what: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(key, f"{what} must be a list, got {type(value).__name__} {value!r}")
        return value

    def known_keys(self, data: Mapping[str, Any], valid: tuple[str, ...], key: str) -> None:
        for k in data:
            if k not in valid:
                raise self.fail(f"{key}.{k}" if key else str(k), not_found("Key", k, valid))

    def value(self, spec: ParamSpec, value: object, key: str) -> Any:
        try:
            return spec.check(value)
        except ValueError as exc:
            raise self.fail(key, str(exc)) from None

    def text(self, value: object, key: str) -> str:
        if not isinstance(value, str):
            raise self.fail(key, f"must be text, got {type(value).__name__} {value!r}")
        return value

    def path(self, value: object, key: str, what: str) -> str:
        """A file path as written; raises when the file it names does not exist."""
        text = self.text(value, key)
        resolved = catalog.resolve(text, self.base_dir)
        if not resolved.exists():
            raise self.fail(key, f"{what} not found: {resolved}")
        return text


def normalize(data: object, file: object = None, base_dir: Path | None = None, default_name: str | None = None) -> dict[str, Any]:
    """Check a preset and return its canonical form (a new dict; ``data`` is not changed).

    Args:
        data: the parsed YAML/JSON.
        file: the preset file, named in messages.
        base_dir: where relative paths in the preset start (the preset's folder).
        default_name: the name when the preset gives none (the file's stem).
    Raises:
        PresetError: naming ``file``, the key path, the bad value and what is valid.
    """
    c = _Checker(file, base_dir)
    top = c.mapping(data, "", "a preset")
    c.known_keys(top, TOP_KEYS, "")
    out: dict[str, Any] = {"format": _format(c, top.get("format"))}
    out["name"] = c.text(top["name"], "name") if "name" in top else (default_name or "untitled")
    out["description"] = c.text(top.get("description", ""), "description")
    if "tail_seconds" in top:
        out["tail_seconds"] = "auto" if top["tail_seconds"] == "auto" else c.value(TAIL_SPEC, top["tail_seconds"], "tail_seconds")
    if "sample_rate" in top:
        out["sample_rate"] = int(c.value(SAMPLE_RATE_SPEC, top["sample_rate"], "sample_rate"))
    if "chain" not in top:
        raise c.fail("chain", "missing: a preset needs a chain (a list of stages; [] passes audio through)")
    out["chain"] = _top_chain(c, c.sequence(top["chain"], "chain", "chain"))
    if "midi" in top:
        out["midi"] = _midi(c, top)
    return out


def _format(c: _Checker, value: object) -> int:
    if value is None:
        raise c.fail("format", f"missing: write 'format: {FORMAT_VERSION}' at the top of the preset")
    if value != FORMAT_VERSION or isinstance(value, bool):
        raise c.fail("format", f"unsupported preset format {value!r}; this version of plugin_host reads format {FORMAT_VERSION}")
    return FORMAT_VERSION


def _midi(c: _Checker, top: Mapping[str, Any]) -> Any:
    from plugin_host.midi_map import MidiMapError, mappings_from_preset  # the MIDI maps' own checks

    try:
        mappings_from_preset(dict(top))
    except MidiMapError as exc:
        raise c.fail("midi", str(exc)) from None
    return top["midi"]


def _top_chain(c: _Checker, stages: list[Any]) -> list[dict[str, Any]]:
    out = [_stage(c, s, f"chain[{i}]", top_level=True) for i, s in enumerate(stages)]
    splits = [i for i, s in enumerate(out) if "split" in s]
    if len(splits) > 1:
        raise c.fail(f"chain[{splits[1]}]", f"a preset may split only once (first split at chain[{splits[0]}])")
    if splits and out[splits[0]]["split"]["output"] == "stems" and splits[0] < len(out) - 1:
        raise c.fail(
            f"chain[{splits[0] + 1}]",
            "stages after a split whose output is 'stems' would never run; use output: both, or move them into the routes",
        )
    return out


def _stages(c: _Checker, value: object, key: str) -> list[dict[str, Any]]:
    return [_stage(c, s, f"{key}[{i}]") for i, s in enumerate(c.sequence(value, key, "a chain"))]


def _stage(c: _Checker, value: object, key: str, top_level: bool = False) -> dict[str, Any]:
    stage = c.mapping(value, key, "a stage")
    kinds = [k for k in STAGE_KINDS if k in stage]
    if len(kinds) != 1:
        found = f"found {', '.join(kinds)}" if kinds else f"found keys {', '.join(map(str, stage)) or '(none)'}"
        raise c.fail(key, f"a stage needs exactly one of {', '.join(STAGE_KINDS)}; {found}")
    kind = kinds[0]
    c.known_keys(stage, ("name", kind, *KIND_KEYS[kind], "bypass"), key)
    out: dict[str, Any] = {}
    if "name" in stage:
        out["name"] = _name(c, stage["name"], f"{key}.name")
    out.update(_BODY[kind](c, stage, key, top_level))
    if stage.get("bypass") is not None and c.value(switch("bypass"), stage["bypass"], f"{key}.bypass"):
        out["bypass"] = True
    return out


def _name(c: _Checker, value: object, key: str) -> str:
    name = c.text(value, key)
    if not NAME_PATTERN.match(name):
        raise c.fail(
            key, f"stage name {name!r} must start with a letter and hold only letters, digits, '_' and '-' (it becomes an OSC address)"
        )
    if name in RESERVED_NAMES:
        raise c.fail(key, f"stage name {name!r} is reserved; choose another")
    if name in c.names:
        raise c.fail(key, f"duplicate stage name {name!r} (also given at {c.names[name]})")
    c.names[name] = key
    return name


def _plugin_body(c: _Checker, stage: Mapping[str, Any], key: str, top_level: bool) -> dict[str, Any]:
    try:
        spec = catalog.lookup(stage["plugin"])
    except ValueError as exc:
        raise c.fail(f"{key}.plugin", str(exc)) from None
    out: dict[str, Any] = {"plugin": spec.name}
    if "params" in stage:
        out["params"] = _builtin_params(c, spec, stage["params"], f"{key}.params")
    missing = [p.name for p in spec.params if p.kind == "file" and p.name not in out.get("params", {})]
    if missing:
        raise c.fail(f"{key}.params", f"{spec.name} needs parameter '{missing[0]}' (a file path)")
    return out


def _builtin_params(c: _Checker, spec: catalog.PluginSpec, value: object, key: str) -> dict[str, Any]:
    params = c.mapping(value, key, "params")
    specs = spec.param_specs
    out = {}
    for name, v in params.items():
        if name not in specs:
            raise c.fail(f"{key}.{name}", not_found("Parameter", name, specs))
        out[name] = c.value(specs[name], v, f"{key}.{name}")
        if specs[name].kind == "file":
            c.path(out[name], f"{key}.{name}", "file")
    return out


def _vst3_body(c: _Checker, stage: Mapping[str, Any], key: str, top_level: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"vst3": c.path(stage["vst3"], f"{key}.vst3", "VST3 plugin file")}
    if stage.get("plugin_name") is not None:
        out["plugin_name"] = c.text(stage["plugin_name"], f"{key}.plugin_name")
    if stage.get("state") is not None:
        out["state"] = c.path(stage["state"], f"{key}.state", "state file")
        if not out["state"].lower().endswith(".vstpreset"):
            raise c.fail(f"{key}.state", f"state must be a .vstpreset file, got {out['state']!r}")
    if "params" in stage:
        params = c.mapping(stage["params"], f"{key}.params", "params")
        for name, v in params.items():  # names and ranges are checked against the plugin when it loads
            if isinstance(v, (list, dict)) or v is None:
                raise c.fail(f"{key}.params.{name}", f"Value received for parameter '{name}' ({v!r}) is not a number, switch or text")
        out["params"] = {str(k): float(v) if isinstance(v, int) and not isinstance(v, bool) else v for k, v in params.items()}
    return out


def _chain_body(c: _Checker, stage: Mapping[str, Any], key: str, top_level: bool) -> dict[str, Any]:
    return {"chain": _stages(c, stage["chain"], f"{key}.chain")}


def _mix_body(c: _Checker, stage: Mapping[str, Any], key: str, top_level: bool) -> dict[str, Any]:
    branches = _stages(c, stage["mix"], f"{key}.mix")
    if not branches:
        raise c.fail(f"{key}.mix", "a mix needs at least one branch (a stage, or chain: [] for the dry signal)")
    return {"mix": branches}


def _split_body(c: _Checker, stage: Mapping[str, Any], key: str, top_level: bool) -> dict[str, Any]:
    if not top_level:
        raise c.fail(f"{key}.split", "a split may only be a stage of the preset's top-level chain")
    key = f"{key}.split"
    split = c.mapping(stage["split"], key, "split")
    c.known_keys(split, SPLIT_KEYS, key)
    out: dict[str, Any] = {}
    if split.get("stems") is not None and split.get("clusters") is not None:
        raise c.fail(key, "give stems (named separation) or clusters (blind separation), not both")
    if split.get("stems") is not None:
        out["stems"] = _stem_list(c, split["stems"], f"{key}.stems")
    if split.get("clusters") is not None:
        k = split["clusters"]
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_CLUSTERS:
            raise c.fail(
                f"{key}.clusters", f"Value received for parameter 'clusters' ({k!r}) is out of range [1, {MAX_CLUSTERS}] (an integer)"
            )
        out["clusters"] = k
    output = split.get("output", "mix")
    if output not in OUTPUTS:
        raise c.fail(
            f"{key}.output", f"Value received for parameter 'output' ({output!r}) is not valid. Valid options: {', '.join(OUTPUTS)}"
        )
    out["output"] = output
    if split.get("routes") is not None:
        out["routes"] = _routes(c, split["routes"], f"{key}.routes", stem_names(out))
    return {"split": out}


def _stem_list(c: _Checker, value: object, key: str) -> list[str]:
    names = [s.strip() for s in value.split(",")] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise c.fail(key, f"stems must be a non-empty list of stem names from {', '.join(CLASSES)}, got {value!r}")
    for i, name in enumerate(names):
        if name not in CLASSES:
            raise c.fail(f"{key}[{i}]", not_found("Stem", name, CLASSES))
    if len(set(names)) != len(names):
        raise c.fail(key, f"stems lists a stem twice: {names}")
    return list(names)


def stem_names(split: Mapping[str, Any]) -> list[str]:
    """The stems a (canonical) split section produces, in order, as :meth:`Separator.stem_names` names them."""
    if "clusters" in split:
        return [f"source{i + 1}" for i in range(split["clusters"])]
    wanted = list(split.get("stems", CLASSES))
    return wanted + (["other"] if "other" not in wanted and set(CLASSES) - set(wanted) else [])


def _routes(c: _Checker, value: object, key: str, names: list[str]) -> dict[str, dict[str, Any]]:
    routes = c.mapping(value, key, "routes")
    out = {}
    for stem, route in routes.items():
        if stem not in names:
            raise c.fail(f"{key}.{stem}", f"{not_found('Stem', stem, names)} (the stems this split produces)")
        out[stem] = _route(c, c.mapping(route if route is not None else {}, f"{key}.{stem}", "a route"), f"{key}.{stem}")
    return out


def _route(c: _Checker, route: Mapping[str, Any], key: str) -> dict[str, Any]:
    c.known_keys(route, ROUTE_KEYS, key)
    out: dict[str, Any] = {}
    if "gain_db" in route:
        out["gain_db"] = c.value(ROUTE_GAIN_SPEC, route["gain_db"], f"{key}.gain_db")
    for name in ("mute", "solo"):
        if name in route:
            out[name] = c.value(switch(name), route[name], f"{key}.{name}")
    if "chain" in route:
        out["chain"] = _stages(c, route["chain"], f"{key}.chain")
    return out


_BODY: dict[str, Callable[[_Checker, Mapping[str, Any], str, bool], dict[str, Any]]] = {
    "plugin": _plugin_body,
    "vst3": _vst3_body,
    "chain": _chain_body,
    "mix": _mix_body,
    "split": _split_body,
}
