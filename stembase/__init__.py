"""The base every other room stands on: audio files read and written (the one place that does),
atomic writes and the output rules (where stems go, what may be overwritten), and the shared error types.
It imports none of ``separator``, ``plugin_host``, ``batch_runner`` or the faces."""

from stembase.errors import ArgumentError, AudioLoadError, AudioWriteError, StemsplitError

__all__ = ["ArgumentError", "AudioLoadError", "AudioWriteError", "StemsplitError"]
