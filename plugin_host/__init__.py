"""Stem-aware pedalboard effect chains from presets, batch runs, and OSC/MIDI control.

>>> from plugin_host import Chain, run_batch
>>> chain = Chain.from_preset("karaoke")                 # a shipped preset, or a path to a YAML/JSON file
>>> instrumental = chain(audio, 44100)                   # (channels, samples) float32, like pedalboard
>>> report = run_batch("drum-bus", ["songs/"], "out/", jobs=2)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plugin_host.errors import BatchError, ChainError, ParameterError, PluginHostError, PresetError

if TYPE_CHECKING:
    from plugin_host.batch import BatchReport, FileResult, expand_inputs, render_file, run_batch
    from plugin_host.chain import Chain, Rendered, StageInfo
    from plugin_host.params import ParamInfo
    from plugin_host.preset import PresetInfo, find_preset, list_presets, load_preset, save_preset

# The rest loads on first use (numpy, pedalboard: a fifth of a second), so the command line starts at once
# and a Ctrl-C during its start-up is caught by the command line's own handler.
_LAZY = {
    "plugin_host.batch": ("BatchReport", "FileResult", "expand_inputs", "render_file", "run_batch"),
    "plugin_host.chain": ("Chain", "Rendered", "StageInfo"),
    "plugin_host.params": ("ParamInfo",),
    "plugin_host.preset": ("PresetInfo", "find_preset", "list_presets", "load_preset", "save_preset"),
}


def __getattr__(name: str) -> Any:
    import importlib

    for module, names in _LAZY.items():
        if name in names:
            return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module 'plugin_host' has no attribute {name!r}")


__all__ = [
    "BatchError",
    "BatchReport",
    "Chain",
    "ChainError",
    "FileResult",
    "ParamInfo",
    "ParameterError",
    "PluginHostError",
    "PresetError",
    "PresetInfo",
    "Rendered",
    "StageInfo",
    "expand_inputs",
    "find_preset",
    "list_presets",
    "load_preset",
    "render_file",
    "run_batch",
    "save_preset",
]
