"""Exceptions plugin_host raises on purpose; faces (CLI, OSC server) turn them into one-line messages."""

from __future__ import annotations


class PluginHostError(Exception):
    """Base class of every error plugin_host raises on purpose."""


class PresetError(PluginHostError, ValueError):
    """A preset is missing, malformed or names something that does not exist.

    The message reads ``<file>: <key path>: <problem>``, e.g.
    ``drum-bus.yaml: chain[2].params.ratio: Value received for parameter 'ratio' (0.5) is out of range [1, 100]``.

    Attributes:
        problem: the message without the file and key path.
        file: the preset file, or ``None`` for a preset built in memory.
        key: the key path inside the preset (``chain[2].params.ratio``), or ``None``.
    """

    def __init__(self, problem: str, file: object = None, key: str | None = None) -> None:
        self.problem, self.file, self.key = problem, file, key
        super().__init__(": ".join(str(part) for part in (file, key, problem) if part))


class ParameterError(PluginHostError, ValueError):
    """A live parameter change names an unknown stage, parameter or stem, or a value out of range."""


class ChainError(PluginHostError, ValueError):
    """A chain cannot process the audio it was given (bad shape, a channel layout no plugin accepts)."""


class BatchError(PluginHostError, ValueError):
    """A batch cannot start: no inputs, contradictory options, bad format or bit depth."""
