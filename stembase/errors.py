"""The error types every room of the toolkit shares; faces (command lines, servers) turn them into one line."""


class StemsplitError(Exception):
    """Base class of every error the toolkit raises on purpose (splitting, chains, batch runs, reports)."""


class AudioLoadError(StemsplitError):
    """An input file is missing, unreadable, not audio or unusable."""


class AudioWriteError(StemsplitError):
    """An output file could not be written."""


class ArgumentError(StemsplitError, ValueError):
    """Bad arguments: a range outside the file, audio of the wrong shape, an unknown stem, a bad count."""
