"""Outputs checked before any work (the folder, and whether each file may be written), and atomic writes of
small non-audio files (pictures, report pages): a temporary name beside the target, then a rename."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from stembase.errors import StemsplitError


class FileWriteError(StemsplitError):
    """A picture or report page could not be written."""


class OutputFolderError(StemsplitError):
    """The output folder cannot be used: it is a file, cannot be created, or is not writable."""


def check_output_dir(path: str | Path, option: str = "-o/--out") -> Path:
    """Check, before any work, that the output folder ``path`` is a folder (or can be made) and is writable.

    Nothing is created: the writers make the folders they need. ``option``: how the command line names the
    folder, for the remedy (``-o/--out``; ``the OUTDIR argument`` for a positional one).

    Raises:
        OutputFolderError: one line naming the path and what to do.
    """
    path = Path(path)
    existing = next((folder for folder in (path, *path.parents) if folder.exists()), Path("."))
    if not existing.is_dir():
        where = "the output folder" if existing == path else f"a folder above the output folder ({path})"
        raise OutputFolderError(f"{existing}: {where} is a file; choose another output folder with {option}")
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "the output folder is" if existing == path else f"the output folder ({path}) cannot be made here:"
        raise OutputFolderError(f"{existing}: {what} not writable; choose another with {option} or change its permissions")
    return path


SKIP_OR_OVERWRITE = "use --skip-existing to keep it or --overwrite to replace it"


def output_conflict(
    targets: Iterable[str | Path], inputs: Iterable[str | Path] = (), *, overwrite: bool = False, remedy: str = SKIP_OR_OVERWRITE
) -> str | None:
    """Why ``targets`` may not be written, in one line naming the first bad one; ``None`` when they may.

    The one output rule of every command: an output never replaces one of ``inputs``; an existing
    output is refused unless ``overwrite``. ``remedy`` says how to get past an existing output
    (by default the command lines' ``--skip-existing`` and ``--overwrite``; the OSC server names its own).
    """
    paths = [Path(t) for t in targets]
    sources = {Path(i).resolve() for i in inputs}
    for t in paths:
        if t.resolve() in sources:
            return f"{t}: output would overwrite an input; choose another output folder"
    existing = [] if overwrite else [t for t in paths if t.exists()]
    return f"{existing[0]}: output exists; {remedy}" if existing else None


def write_error(path: str | Path, exc: OSError) -> str:
    """``<path>: cannot write (<reason>)``, with a hint for a full disk."""
    reason = exc.strerror or str(exc)
    hint = "; free some space or choose another output folder" if exc.errno == errno.ENOSPC else ""
    return f"{path}: cannot write ({reason}){hint}"


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` (text is UTF-8) to ``path`` so a reader sees the old file or the new one, never half of one.

    Raises:
        FileWriteError: the folder or file cannot be written.
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent)
    except OSError as exc:
        raise FileWriteError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a page or picture gets the usual permissions
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        raise FileWriteError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    except BaseException:
        _remove(tmp)
        raise
    return path


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
