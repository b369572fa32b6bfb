"""Exceptions the separator raises; faces (CLI, servers) turn them into messages."""


class SeparatorError(Exception):
    """Base class of every error the separator raises on purpose."""


class AudioLoadError(SeparatorError):
    """An input file is missing, unreadable, not audio or unusable."""


class AudioWriteError(SeparatorError):
    """An output file could not be written."""


class ModelLoadError(SeparatorError):
    """A checkpoint is missing, corrupt or not a separator model."""


class SeparationError(SeparatorError, ValueError):
    """Bad separation arguments: unknown stem, bad cluster count, bad device."""
