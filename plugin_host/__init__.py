"""Stem-aware pedalboard effect chains from presets, batch runs, and OSC/MIDI control.

>>> from plugin_host import Chain, run_batch
>>> chain = Chain.from_preset("karaoke")                 # a shipped preset, or a path to a YAML/JSON file
>>> instrumental = chain(audio, 44100)                   # (channels, samples) float32, like pedalboard
>>> report = run_batch("drum-bus", ["songs/"], "out/", jobs=2)
"""

from plugin_host.batch import BatchReport, FileResult, expand_inputs, render_file, run_batch
from plugin_host.chain import Chain, Rendered, StageInfo
from plugin_host.errors import BatchError, ChainError, ParameterError, PluginHostError, PresetError
from plugin_host.params import ParamInfo
from plugin_host.preset import PresetInfo, find_preset, list_presets, load_preset, save_preset

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
