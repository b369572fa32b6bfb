"""Which files a batch takes: one expansion of files, folders and globs for ``separator split`` and ``plugin-host run``.

Folders are searched recursively for audio files. Left out of folders and globs: hidden files and folders
(``.name``), unfinished or temporary files (``*.part*``, ``*.tmp*``: the writers' own temporary names, a
download in progress) and everything under the output folder, so that a second run never takes the first
run's outputs as inputs.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable, Iterator
from pathlib import Path

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".mp3", ".w64", ".caf")
GLOB_CHARS = set("*?[")


def is_candidate(file: Path, base: Path | None = None) -> bool:
    """An audio file that is neither hidden (nor under a hidden folder below ``base``) nor temporary."""
    parts = file.relative_to(base).parts if base is not None else (file.name,)
    hidden = any(part.startswith(".") for part in parts)
    marks = file.name.lower().split(".")[1:]  # "x.part.wav", "x.wav.tmp12.wav": a writer's or downloader's name
    temporary = any(mark == "part" or mark.startswith("tmp") for mark in marks)
    return file.suffix.lower() in AUDIO_EXTENSIONS and not hidden and not temporary


def expand(inputs: Iterable[str | Path], exclude: str | Path | None = None) -> list[tuple[Path, Path]]:
    """``(file, track)`` pairs in input order without repeats; ``track`` is the output name without extension
    (``album/song`` for a file found in a folder).

    A path or pattern that matches nothing is kept as it is, so that it is reported as a failed input;
    a file named explicitly is always taken (only folders and globs are filtered).
    """
    skip = Path(exclude).resolve() if exclude is not None else None
    found: dict[Path, tuple[Path, Path]] = {}
    for item in inputs:
        for file, track in _expand_one(Path(item).expanduser(), skip):
            found.setdefault(file.resolve(), (file, track))
    return list(found.values())


def expand_inputs(inputs: Iterable[str | Path], exclude: str | Path | None = None) -> list[Path]:
    """The files of :func:`expand`."""
    return [path for path, _ in expand(inputs, exclude)]


def empty_folders(inputs: Iterable[str | Path], exclude: str | Path | None = None) -> list[Path]:
    """The folders among ``inputs`` that hold no file :func:`expand` would take."""
    return [Path(i) for i in inputs if Path(i).is_dir() and not expand([i], exclude)]


def _outside(file: Path, skip: Path | None) -> bool:
    return skip is None or not file.resolve().is_relative_to(skip)


def _expand_one(path: Path, skip: Path | None) -> Iterator[tuple[Path, Path]]:
    if path.is_dir():
        for file in sorted(path.rglob("*")):
            if file.is_file() and is_candidate(file, path) and _outside(file, skip):
                yield file, file.relative_to(path).with_suffix("")
    elif not path.exists() and GLOB_CHARS & set(str(path)):
        matches = [Path(m) for m in sorted(glob.glob(str(path), recursive=True))]
        matches = [m for m in matches if m.is_file() and is_candidate(m) and _outside(m, skip)]
        yield from ((m, Path(m.stem)) for m in matches) if matches else [(path, Path(path.stem))]
    else:
        yield path, Path(path.stem)
