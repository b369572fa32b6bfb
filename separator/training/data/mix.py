"""Draw training mixtures from stored sources, with dynamic remixing.

A bank holds one or more data sets (folders of ``shard-*.npz``): generated songs
(one source per class), tracker songs or your own multitracks (several sources,
some without a trusted class name). Each shard has

- ``stems`` ``(n_songs, n_slots, [channels,] samples)`` float16, mono or stereo;
- ``present`` ``(n_songs, n_slots)`` bool;
- ``labels`` ``(n_songs, n_slots)`` int (optional): the class index of each slot in
  :data:`separator.classes.CLASSES`, or ``UNKNOWN`` for a source whose class is not
  known (it trains the clustering only); without it, slot ``i`` is class ``i``.

Half the mixtures are a song's own sources (aligned onsets, shared key: the
hard, realistic case); the other half take each class from a different song,
which multiplies the combinations of timbres the network sees.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from separator.classes import CLASSES

UNKNOWN = -1  # label of a source with no trusted class name
MAX_SOURCES = 6


@dataclass
class Batch:
    """``sources (batch, MAX_SOURCES, 2, samples)`` float32 (absent: zeros) and ``labels (batch, MAX_SOURCES)`` int.

    ``powers (batch, MAX_SOURCES, frames, N_BANDS)`` float32, when drawn with ``powers=True``: each
    source's band power (mean over channels) at the gain it has in ``sources``, frame for frame as
    ``separator.features`` computes it for the clip, read from a per-stem cache instead of an STFT.
    """

    sources: np.ndarray
    labels: np.ndarray
    powers: np.ndarray | None = None


class _DataSet:
    """The shards of one folder, kept as loaded (float16), indexed by ``(shard, song, slot)``."""

    def __init__(self, folder: Path, max_songs: int | None = None) -> None:
        self.folder, self.max_songs = folder, max_songs
        self.shards: list[Path] = []
        self.stems: list[np.ndarray] = []
        self.songs: list[tuple[int, int, np.ndarray, np.ndarray]] = []  # (shard, song, slots, labels)
        self.by_label: dict[int, list[tuple[int, int, int]]] = {c: [] for c in range(len(CLASSES))}
        self.sample_rate = 44100
        self._band_db: dict[tuple[int, int, int], np.ndarray] = {}  # stem → (frames, N_BANDS) float16 dB

    def refresh(self) -> int:
        for path in sorted(self.folder.glob("shard-*[0-9].npz")):
            if self.max_songs is not None and len(self.songs) >= self.max_songs:
                break
            if path not in self.shards:
                try:
                    self._add(path)
                except (OSError, ValueError, zipfile.BadZipFile):  # still being written or replaced: next time
                    continue
        return len(self.songs)

    def _add(self, path: Path) -> None:
        data = np.load(path)
        self.sample_rate = int(data["sample_rate"])
        stems, present = data["stems"], data["present"]
        n_songs, n_slots = present.shape
        default = np.broadcast_to(np.arange(n_slots) if n_slots <= len(CLASSES) else UNKNOWN, (n_songs, n_slots))
        labels = data["labels"] if "labels" in data.files else default
        index = len(self.stems)
        self.stems.append(stems)
        self.shards.append(path)
        for song in range(n_songs):
            slots = np.flatnonzero(present[song])
            self.songs.append((index, song, slots, labels[song, slots].astype(int)))
            for slot, label in zip(slots, labels[song, slots], strict=True):
                if label >= 0:
                    self.by_label[int(label)].append((index, song, int(slot)))

    def clip(self, where: tuple[int, int, int], offset: int, samples: int) -> np.ndarray:
        """``(2, samples)`` float32 from ``offset`` (zero-padded when the clip is shorter)."""
        shard, song, slot = where
        audio = self.stems[shard][song, slot]
        audio = audio[None] if audio.ndim == 1 else audio[:2]
        part = audio[:, offset : offset + samples].astype(np.float32)
        if part.shape[0] == 1:
            part = np.repeat(part, 2, axis=0)
        if part.shape[-1] < samples:
            part = np.pad(part, ((0, 0), (0, samples - part.shape[-1])))
        return part

    def length(self, where: tuple[int, int, int]) -> int:
        return int(self.stems[where[0]].shape[-1])

    def band_power(self, where: tuple[int, int, int], offset: int, frames: int) -> np.ndarray:
        """``(frames, N_BANDS)`` float32 band power of the stem from sample ``offset`` (a multiple of
        the STFT hop), mean over channels; zeros past the stem's end.

        The whole stem's band power is computed once (one STFT) and kept as float16 dB: a stem is
        drawn many times, and the sources' STFTs were most of a training step's cost.
        """
        from separator.features import stft_size

        cached = self._band_db.get(where)
        if cached is None:
            cached = self._band_db[where] = _stem_band_db(self.clip(where, 0, self.length(where)), self.sample_rate)
        _, hop = stft_size(self.sample_rate)
        first = offset // hop
        part = cached[first : first + frames].astype(np.float32)
        power = np.where(part <= _SILENT_DB, 0.0, 10 ** (part / 10)).astype(np.float32)
        if len(power) < frames:
            power = np.pad(power, ((0, frames - len(power)), (0, 0)))
        return power


_SILENT_DB = -300.0


def source_band_power(sources: np.ndarray, sample_rate: int) -> np.ndarray:
    """``(n, 2, samples)`` → ``(n, frames, N_BANDS)`` float32 band power, mean over channels, as
    :attr:`Batch.powers` holds it (for sources changed after drawing, e.g. ``separator.training.data.lofi``)."""
    import torch

    from separator.features import pool_bands, stft

    spec = stft(torch.from_numpy(np.ascontiguousarray(sources, np.float32)), sample_rate)  # (n, 2, bins, frames)
    return pool_bands((spec.real**2 + spec.imag**2).mean(1)).numpy().astype(np.float32)


def _stem_band_db(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """``(2, samples)`` → ``(frames, N_BANDS)`` float16 dB of the mean band power over channels."""
    import torch  # the data generator (make-data) does not need torch; only training draws powers

    from separator.features import pool_bands, stft

    spec = stft(torch.from_numpy(audio), sample_rate)  # (2, bins, frames)
    power = pool_bands((spec.real**2 + spec.imag**2).mean(0)).numpy()  # (frames, N_BANDS)
    db = np.where(power > 0, 10 * np.log10(np.maximum(power, 1e-30)), _SILENT_DB)
    return np.maximum(db, _SILENT_DB).astype(np.float16)


class StemBank:
    """Every source of one or more data sets, in memory; draws random training mixtures.

    Args:
        folders: data set folders (a path, or a comma-separated list of them).
        weights: how often each folder is drawn from (default: equally).
        max_songs: per folder, load shards only until it holds this many songs (bounds memory; None: all).
    """

    def __init__(
        self, folders: str | Path | Sequence[str | Path], weights: list[float] | None = None, max_songs: Sequence[int | None] | None = None
    ) -> None:
        if isinstance(folders, (str, Path)):
            folders = [f for f in str(folders).split(",") if f]
        caps = list(max_songs) if max_songs else [None] * len(folders)
        if len(caps) != len(folders):
            raise ValueError(f"need one song limit per data folder ({len(folders)}), got {max_songs}")
        self.sets = [_DataSet(Path(f), cap) for f, cap in zip(folders, caps, strict=True)]
        w = np.asarray(weights if weights else [1.0] * len(self.sets), float)
        if len(w) != len(self.sets) or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"need one non-negative weight per data folder ({len(self.sets)}), got {weights}")
        self.weights = w / w.sum()
        self.refresh()

    @property
    def sample_rate(self) -> int:
        return self.sets[0].sample_rate

    def refresh(self) -> int:
        """Load shards written since the last call (a generator may still be running). Returns the song count."""
        return sum(s.refresh() for s in self.sets)

    def __len__(self) -> int:
        return sum(len(s.songs) for s in self.sets)

    def draw(self, rng: np.random.Generator, batch: int, samples: int, remix: float = 0.5, powers: bool = False) -> Batch:
        """A batch of source sets; every example has at least two sources; gains are random per source.

        Clips start on the STFT's hop grid, so that with ``powers`` each source's band power is
        read from the stem's cached one (see :class:`Batch`).
        """
        from separator.features import N_BANDS, stft_size  # torch: training only, never make-data

        _, hop = stft_size(self.sample_rate)
        frames = samples // hop + 1
        sources = np.zeros((batch, MAX_SOURCES, 2, samples), np.float32)
        labels = np.full((batch, MAX_SOURCES), UNKNOWN, int)
        power = np.zeros((batch, MAX_SOURCES, frames, N_BANDS), np.float32) if powers else None
        for b in range(batch):
            data = self._pick_set(rng)
            picks = self._remix(data, rng) if rng.random() < remix else self._own_song(data, rng)
            shared = None
            for i, (where, label) in enumerate(picks[:MAX_SOURCES]):
                longest = max(1, data.length(where) - samples + 1)
                if shared is None or rng.random() < remix:
                    shared = int(rng.integers(0, longest))
                offset = min(shared, longest - 1) // hop * hop
                gain = 10 ** (rng.uniform(-9, 3) / 20)
                clip = data.clip(where, offset, samples) * gain
                sources[b, i] = clip[::-1] if rng.random() < 0.5 else clip  # swap left and right half the time
                labels[b, i] = label
                if power is not None:
                    power[b, i] = data.band_power(where, offset, frames) * gain**2
        level = 10 ** (rng.uniform(-20, 6, size=(batch, 1, 1, 1)) / 20)
        if power is not None:
            power *= level**2
        return Batch((sources * level).astype(np.float32), labels, power)

    def _pick_set(self, rng: np.random.Generator) -> _DataSet:
        usable = [i for i, s in enumerate(self.sets) if s.songs]
        if not usable:
            raise ValueError(f"no shard-*.npz files under {', '.join(str(s.folder) for s in self.sets)}")
        p = self.weights[usable] / self.weights[usable].sum()
        return self.sets[usable[int(rng.choice(len(usable), p=p))]]

    @staticmethod
    def _own_song(data: _DataSet, rng: np.random.Generator) -> list[tuple[tuple[int, int, int], int]]:
        for _ in range(50):
            shard, song, slots, labels = data.songs[int(rng.integers(len(data.songs)))]
            if len(slots) >= 2:
                return [((shard, song, int(s)), int(c)) for s, c in zip(slots, labels, strict=True)]
        return StemBank._remix(data, rng)

    @staticmethod
    def _remix(data: _DataSet, rng: np.random.Generator) -> list[tuple[tuple[int, int, int], int]]:
        classes = [c for c, clips in data.by_label.items() if clips]
        if len(classes) < 2:  # nothing named to remix: take a song as it is
            return StemBank._own_song(data, rng) if any(len(s[2]) >= 2 for s in data.songs) else []
        while True:
            chosen = [c for c in classes if rng.random() < 0.75]
            if len(chosen) >= 2:
                break
        return [(data.by_label[c][int(rng.integers(len(data.by_label[c])))], c) for c in chosen]
