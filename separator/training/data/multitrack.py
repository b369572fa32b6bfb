"""Turn folders of real multitracks into training shards.

Two layouts are read, besides the shards ``separator make-data`` writes::

    musdb   DIR/[train/|test/]<track>/mixture.wav, drums.wav, bass.wav, vocals.wav, other.wav
    stems   DIR/<song>/<stem>.<ext>        any extension the audio module reads

A stem's label comes from ``--stem-map`` (fnmatch patterns, case-insensitive,
first match wins), else from its name when that is a class name, else −1: a
source with no known class, which trains only the clustering. ``mixture.*``
files are never sources: the mix is the sum of the sources, and a mixture file
is only used to check that sum. When ``DIR`` has a ``train/`` folder only that
is read, so MUSDB18-HQ's ``test/`` stays out of training.

Shards (``OUT/shard-NNNNN.npz``) hold one window per row::

    stems    (n_windows, max_sources, 2, samples) float16, mix at about −20 dBFS RMS
    present  (n_windows, max_sources) bool
    labels   (n_windows, max_sources) int8     class index, or −1
    sources  (n_windows, max_sources) str      e.g. "musdb:<track>/drums", "stems:<song>/gtr L+gtr R"
    sample_rate
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
from scipy import signal

from separator.classes import CLASSES
from separator.errors import SeparatorError
from stembase import audio

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".mp3", ".w64", ".caf")  # as the CLI's
MUSDB_STEMS = ("drums", "bass", "vocals", "other")
MIXTURE = "mixture"
TARGET_DB = -20.0  # mix RMS of every stored window, dBFS
SILENT_DB = -60.0  # windows whose mix RMS (dBFS, as read) is under this are skipped
QUIET_SOURCE_DB = 60.0  # sources this far under the window's loudest source are left out
MIXTURE_TOLERANCE_DB = -30.0  # |mixture − sum of stems| above this (dB re the mixture) is warned about
SHARD_SIZE = 64  # windows per shard: 64 × 6 × 2 × 176400 float16 ≈ 270 MB at most
FORMAT_VERSION = 1

StemMap = list[tuple[str, str]]


class DataLayoutError(SeparatorError, ValueError):
    """A ``--data`` folder is missing, empty or in no layout the trainer reads."""


class StemMapError(SeparatorError, ValueError):
    """A ``--stem-map`` text is malformed or names an unknown class."""


@dataclass(frozen=True)
class Song:
    """One multitrack: ``prefix`` is ``"<layout>:<song folder relative to DIR>"``."""

    prefix: str
    stems: tuple[Path, ...]
    mixture: Path | None


# ---------------------------------------------------------------- layout


def _audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith("."))


def _songs_root(root: Path) -> Path:
    """``root/train`` when there is one (MUSDB18-HQ's ``test/`` is the evaluation set), else ``root``."""
    return root / "train" if (root / "train").is_dir() else root


def _song_folders(root: Path) -> list[Path]:
    """Folders holding audio files: ``root/*`` and one level of grouping folders (``valid/``, ``test/``, …)."""
    root = _songs_root(root)
    found = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if _audio_files(sub):
            found.append(sub)
        else:
            found += [s for s in sorted(sub.iterdir()) if s.is_dir() and _audio_files(s)]
    return found


def _is_musdb(song: Path) -> bool:
    names = {p.stem.lower() for p in _audio_files(song)}
    return MIXTURE in names and set(MUSDB_STEMS) <= names


def detect_layout(folder: str | Path) -> str:
    """``"shards"``, ``"musdb"`` or ``"stems"``: what ``folder`` holds.

    Raises:
        DataLayoutError: the folder is missing or holds none of the three layouts.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataLayoutError(f"{folder}: --data folder not found")
    if any(folder.glob("shard-*[0-9].npz")):
        return "shards"
    songs = _song_folders(folder)
    if not songs:
        raise DataLayoutError(
            f"{folder}: no songs found; expected shard-*.npz files (from `separator make-data`), "
            f"MUSDB18-HQ tracks (DIR/[train/]<track>/mixture.wav, drums.wav, bass.wav, vocals.wav, other.wav) "
            f"or one folder of stems per song (DIR/<song>/<stem>.wav)"
        )
    return "musdb" if all(_is_musdb(s) for s in songs) else "stems"


def find_songs(folder: str | Path) -> list[Song]:
    """The songs of a ``musdb`` or ``stems`` folder, sorted by path.

    Raises:
        DataLayoutError: as :func:`detect_layout`, or the folder holds shards.
    """
    folder = Path(folder)
    layout = detect_layout(folder)
    if layout == "shards":
        raise DataLayoutError(f"{folder}: holds shard-*.npz files already; pass it to `separator train --data` as it is")
    songs = []
    for sub in _song_folders(folder):
        files = _audio_files(sub)
        mixture = next((p for p in files if p.stem.lower() == MIXTURE), None)
        stems = tuple(p for p in files if p.stem.lower() != MIXTURE)
        if stems:
            songs.append(Song(f"{layout}:{sub.relative_to(_songs_root(folder)).as_posix()}", stems, mixture))
    return songs


# ---------------------------------------------------------------- stem map

STEM_MAP_EXAMPLE = '"gtr*=guitar,vox*=vocals,kick*=drums"'


def parse_stem_map(text: str | None) -> StemMap:
    """``"gtr*=guitar,vox*=vocals"`` → ``[("gtr*", "guitar"), ("vox*", "vocals")]`` (lower case, in order).

    Raises:
        StemMapError: an entry is not ``PATTERN=CLASS``, or the class is unknown.
    """
    pairs: StemMap = []
    for entry in (text or "").split(","):
        if not entry.strip():
            continue
        pattern, sep, name = (part.strip().lower() for part in entry.partition("="))
        if not sep or not pattern or not name:
            raise StemMapError(f"--stem-map entry {entry.strip()!r} is not PATTERN=CLASS (e.g. {STEM_MAP_EXAMPLE})")
        if name not in CLASSES:
            raise StemMapError(f"--stem-map entry {entry.strip()!r}: unknown class {name!r}; valid options: {', '.join(CLASSES)}")
        pairs.append((pattern, name))
    return pairs


def label_for(stem: str, stem_map: Sequence[tuple[str, str]]) -> int:
    """Class index of a stem named ``stem`` (file name without extension), or −1 for no known class."""
    name = stem.lower()
    for pattern, cls in stem_map:
        if fnmatch.fnmatchcase(name, pattern.lower()):
            return CLASSES.index(cls)
    return CLASSES.index(name) if name in CLASSES else -1


# ---------------------------------------------------------------- reading


def _read(path: Path, sample_rate: int) -> np.ndarray:
    """``(2, samples)`` float32 at ``sample_rate``: mono duplicated, more channels downmixed."""
    data, rate = audio.load(path)
    if data.shape[0] == 1:
        data = np.repeat(data, 2, axis=0)
    elif data.shape[0] > 2:
        log.warning("%s: %d channels downmixed to stereo (as their mean on both sides)", path, data.shape[0])
        data = np.repeat(data.mean(axis=0, keepdims=True), 2, axis=0)
    if rate != sample_rate:
        g = gcd(rate, sample_rate)
        data = signal.resample_poly(data, sample_rate // g, rate // g, axis=-1).astype(np.float32)
    return data


def _stack(parts: list[np.ndarray]) -> np.ndarray:
    """``(n, 2, longest)``: shorter parts padded with silence at the end."""
    out = np.zeros((len(parts), 2, max(p.shape[-1] for p in parts)), np.float32)
    for i, p in enumerate(parts):
        out[i, :, : p.shape[-1]] = p
    return out


def _db(x: np.ndarray | float) -> np.ndarray:
    return 10 * np.log10(np.maximum(np.asarray(x, np.float64), 1e-20))


def check_mixture(song: Song, sources: np.ndarray, sample_rate: int) -> float | None:
    """Level (dB re the mixture) of ``mixture − sum of sources``; warns above −30 dB. ``None``: no mixture file."""
    if song.mixture is None:
        return None
    mixture = _read(song.mixture, sample_rate)
    n = min(mixture.shape[-1], sources.shape[-1])
    residual = float(_db(np.mean((mixture[:, :n] - sources[:, :, :n].sum(0)) ** 2)) - _db(np.mean(mixture[:, :n] ** 2)))
    if residual > MIXTURE_TOLERANCE_DB:
        warnings.warn(
            f"{song.mixture}: differs from the sum of its {len(sources)} stems by {residual:+.1f} dB "
            f"(re the mixture); a stem may be missing or the master processed. Training uses the sum of the stems",
            stacklevel=2,
        )
    return residual


# ---------------------------------------------------------------- windows


def pack_sources(rms: np.ndarray, labels: Sequence[int], max_sources: int) -> list[list[int]]:
    """Group a window's sources into at most ``max_sources`` slots, loudest first.

    Sources ``QUIET_SOURCE_DB`` under the loudest are left out. Over the limit, each
    source beyond the loudest few joins a kept source of its class; those with no
    kept class-mate are summed into one last slot labelled −1.

    Returns:
        source indices per slot; a slot's label is its first member's, or −1 for the last, mixed slot.
    """
    order = [int(i) for i in np.argsort(-rms, kind="stable") if _db(rms[i] ** 2) > _db(rms.max() ** 2) - QUIET_SOURCE_DB]
    if len(order) <= max_sources:
        return [[i] for i in order]
    for n_kept in (max_sources, max_sources - 1):
        groups = [[i] for i in order[:n_kept]]
        leftover: list[int] = []
        for i in order[n_kept:]:
            mate = next((g for g in groups if labels[i] >= 0 and labels[g[0]] == labels[i]), None)
            (mate if mate is not None else leftover).append(i)
        if not leftover:
            return groups
    return [*groups, leftover]


def _window(
    audio_: np.ndarray, prefix: str, names: list[str], labels: list[int], max_sources: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """One row of a shard from ``audio_ (n_src, 2, samples)``; ``None`` for a near-silent window."""
    mix_db = _db(np.mean(audio_.sum(0) ** 2))
    if mix_db < SILENT_DB:
        return None
    gain = 10 ** ((TARGET_DB - mix_db) / 20)
    groups = pack_sources(np.sqrt(np.mean(audio_**2, axis=(1, 2))), labels, max_sources)
    stems = np.zeros((max_sources, *audio_.shape[1:]), np.float16)
    present = np.zeros(max_sources, bool)
    slot_labels = np.full(max_sources, -1, np.int8)
    sources = np.full(max_sources, "", dtype=object)
    for k, group in enumerate(groups):
        stems[k] = audio_[group].sum(0) * gain
        present[k] = True
        mixed = len(group) > 1 and len({labels[i] for i in group}) > 1
        slot_labels[k] = -1 if mixed else labels[group[0]]
        sources[k] = f"{prefix}/{'+'.join(names[i] for i in group)}"
    return stems, present, slot_labels, sources


def read_song(song: Song, stem_map: Sequence[tuple[str, str]], sample_rate: int) -> tuple[np.ndarray, list[int]]:
    """``(sources (n, 2, samples) float32 at sample_rate, labels)`` of a song's stems (the mixture file left out).

    Raises:
        AudioLoadError: an unreadable stem.
    """
    return _stack([_read(p, sample_rate) for p in song.stems]), [label_for(p.stem, stem_map) for p in song.stems]


def song_windows(
    song: Song, stem_map: Sequence[tuple[str, str]], sample_rate: int, seconds: float, max_sources: int
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Shard rows of one song: non-overlapping windows of ``seconds`` (a song shorter than one is padded)."""
    audio_, labels = read_song(song, stem_map, sample_rate)
    check_mixture(song, audio_, sample_rate)
    names = [p.stem for p in song.stems]
    size = round(seconds * sample_rate)
    if audio_.shape[-1] < size:
        audio_ = np.pad(audio_, ((0, 0), (0, 0), (0, size - audio_.shape[-1])))
    for start in range(0, audio_.shape[-1] - size + 1, size):
        row = _window(audio_[:, :, start : start + size], song.prefix, names, labels, max_sources)
        if row is not None:
            yield row


# ---------------------------------------------------------------- shards


def _save_shard(path: Path, rows: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]], sample_rate: int) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        np.savez(
            f,
            stems=np.stack([r[0] for r in rows]),
            present=np.stack([r[1] for r in rows]),
            labels=np.stack([r[2] for r in rows]),
            sources=np.stack([r[3] for r in rows]).astype(str),
            sample_rate=sample_rate,
        )
    os.replace(tmp, path)
    return path


def _fingerprint(songs: list[Song]) -> list[list[object]]:
    """Path, size and mtime of every input file, so edited inputs invalidate the cache."""
    files = [p for s in songs for p in (*s.stems, *([s.mixture] if s.mixture else []))]
    return [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in files]


def multitrack_to_shards(
    folder: str | Path,
    out: str | Path,
    stem_map: str | Sequence[tuple[str, str]] | None = None,
    sample_rate: int = 44100,
    seconds: float = 4.0,
    max_sources: int = 6,
) -> list[Path]:
    """Cut every song of a ``musdb`` or ``stems`` folder into windows and write them as shards under ``out``.

    Cached: when ``out/recipe.json`` records the same arguments and input files, the
    existing shards are returned; otherwise old shards in ``out`` are replaced.

    Raises:
        DataLayoutError: ``folder`` is not a multitrack folder, or no window has sound.
        StemMapError: a bad ``stem_map`` text.
        AudioLoadError: an unreadable stem.
    """
    folder, out = Path(folder).resolve(), Path(out)
    pairs = parse_stem_map(stem_map) if isinstance(stem_map, str | None) else [(p.lower(), c) for p, c in stem_map]
    if max_sources < 2:
        raise DataLayoutError(f"max_sources ({max_sources}) must be at least 2")
    songs = find_songs(folder)
    recipe = {
        "format": FORMAT_VERSION,
        "data": str(folder),
        "stem_map": pairs,
        "sample_rate": sample_rate,
        "seconds": seconds,
        "max_sources": max_sources,
        "inputs": _fingerprint(songs),
    }
    recipe_file = out / "recipe.json"
    if recipe_file.exists() and json.loads(recipe_file.read_text()) == json.loads(json.dumps(recipe)):
        return sorted(out.glob("shard-*[0-9].npz"))
    out.mkdir(parents=True, exist_ok=True)
    for old in [recipe_file, *out.glob("shard-*[0-9].npz")]:
        old.unlink(missing_ok=True)
    shards: list[Path] = []
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for i, song in enumerate(songs):
        log.info("%d/%d %s", i + 1, len(songs), song.prefix)
        for row in song_windows(song, pairs, sample_rate, seconds, max_sources):
            rows.append(row)
            if len(rows) == SHARD_SIZE:
                shards.append(_save_shard(out / f"shard-{len(shards):05d}.npz", rows, sample_rate))
                rows = []
    if rows:
        shards.append(_save_shard(out / f"shard-{len(shards):05d}.npz", rows, sample_rate))
    if not shards:
        raise DataLayoutError(f"{folder}: every window of its {len(songs)} songs is silent (under {SILENT_DB:.0f} dBFS)")
    tmp = recipe_file.with_name(".recipe.json.tmp")
    tmp.write_text(json.dumps(recipe, indent=2))
    os.replace(tmp, recipe_file)  # written last: its presence means the shards are complete
    return shards


def prepare_training_data(
    data: str, stem_map: str | None, cache_root: Path, *, sample_rate: int = 44100, seconds: float = 4.0, max_sources: int = 6
) -> Path:
    """A folder of shards for ``separator train --data DATA``: ``DATA`` itself when it holds
    shards, else a cache under ``cache_root`` named after ``DATA`` and keyed by it and the arguments.

    Raises:
        DataLayoutError: as :func:`detect_layout`, or ``stem_map`` given for a folder of shards.
        StemMapError: a bad ``stem_map``.
    """
    pairs = parse_stem_map(stem_map)  # fail on a bad map before any audio is read
    if detect_layout(data) == "shards":
        if pairs:
            raise DataLayoutError(f"{data}: --stem-map applies to folders of multitracks; this one holds shards with fixed classes")
        return Path(data)
    key_text = json.dumps([str(Path(data).resolve()), pairs, sample_rate, seconds, max_sources])
    key = hashlib.sha1(key_text.encode()).hexdigest()[:12]
    out = Path(cache_root) / f"{Path(data).resolve().name}-{key}"
    multitrack_to_shards(data, out, pairs, sample_rate=sample_rate, seconds=seconds, max_sources=max_sources)
    return out
