"""Exceptions the separator raises; faces (CLI, servers) turn them into messages.

The shared types live in :mod:`stembase.errors`; the separator's names for them stay importable from here.
"""

from stembase.errors import ArgumentError, AudioLoadError, AudioWriteError, StemsplitError

SeparatorError = StemsplitError
"""Base class of every error the toolkit raises on purpose (the separator's name for :class:`StemsplitError`)."""

SeparationError = ArgumentError
"""Bad separation arguments: unknown stem, bad cluster count, bad device, a range outside the file."""


class ModelLoadError(SeparatorError):
    """A checkpoint is missing, corrupt or not a separator model."""


__all__ = ["AudioLoadError", "AudioWriteError", "ModelLoadError", "SeparationError", "SeparatorError"]
