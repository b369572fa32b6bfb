"""Which files a batch takes: one expansion of files, folders and globs for ``separator split`` and ``plugin-host run``.

Folders are searched recursively for audio files. Left out of folders and globs: hidden files and folders
(``.name``), unfinished or temporary files (``*.part*``, ``*.tmp*``: the writers' own temporary names, a
download in progress) and everything under the output folder, so that a second run never takes the first
run's outputs as inputs.

Each file gets one *track*, the name of its outputs (``OUT/<track>/<stem>.wav``, ``OUT/<track>.wav``): its path
under the folder it was found in, without extension, so sub-folders are mirrored (``cd1/01``); a file named
directly or matched by a glob is its own name (``01``). Tracks never collide: files that would share one
keep their extension when they lie side by side (``x.wav`` and ``x.flac`` → ``x.wav``, ``x.flac``), and are
led by as many of their folders' names as tell them apart when they do not (``cd1/01.wav``, ``cd2/01.wav``
→ ``cd1/01``, ``cd2/01``). Nobody has to rename a file.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterable, Iterator
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
    (``album/song`` for a file found in a folder), distinct for distinct files (see the module's rule).

    A path or pattern that matches nothing is kept as it is, so that it is reported as a failed input;
    a file named explicitly is always taken (only folders and globs are filtered).
    """
    skip = Path(exclude).resolve() if exclude is not None else None
    found: dict[Path, tuple[Path, Path]] = {}
    for item in inputs:
        for file, track in _expand_one(Path(item).expanduser(), skip):
            found.setdefault(file.resolve(), (file, track))
    return distinct_tracks(list(found.values()))


def distinct_tracks(pairs: list[tuple[Path, Path]]) -> list[tuple[Path, Path]]:
    """``(file, track)`` pairs with every collision of tracks resolved (compared without case, as some disks
    do): side by side, the colliding files keep their extension; otherwise their folders' names lead."""
    pairs = _resolve(pairs, lambda file, track: track.with_name(file.name), same_folder=True)
    for _ in range(max((len(f.resolve().parts) for f, _ in pairs), default=0)):  # one folder more each time
        pairs = _resolve(pairs, lambda file, track: Path(_base(file, track).name) / track, same_folder=False)
    return pairs


def _resolve(pairs: list[tuple[Path, Path]], rename: Callable[[Path, Path], Path], same_folder: bool) -> list[tuple[Path, Path]]:
    """``rename`` the tracks that collide with another file's track: those in the same folder when
    ``same_folder``, in different folders otherwise; the other tracks stay."""
    groups: dict[str, list[int]] = {}
    for i, (_, track) in enumerate(pairs):
        groups.setdefault(str(track).casefold(), []).append(i)
    out = list(pairs)
    for members in groups.values():
        folders = [_base(*pairs[i]) for i in members]
        for i, folder in zip(members, folders, strict=True):
            shared = folders.count(folder) > 1
            if len(members) > 1 and shared == same_folder:
                out[i] = (pairs[i][0], rename(*pairs[i]))
    return out


def _base(file: Path, track: Path) -> Path:
    """The folder a track's path is relative to (the input folder, or the file's own folder)."""
    return file.resolve().parents[len(track.parts) - 1]


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
