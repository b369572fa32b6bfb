"""Draw training mixtures from stored stems, with dynamic remixing.

Half the mixtures are a song's own stems (aligned onsets, shared key: the
hard, realistic case); the other half take each class from a different song,
which multiplies the combinations of timbres the network sees.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from separator.classes import CLASSES


class StemBank:
    """All stems of a data set in memory: ``stems (n_songs, n_classes, samples)`` float16."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.shards: list[Path] = []
        self.stems = np.zeros((0, len(CLASSES), 0), np.float16)
        self.present = np.zeros((0, len(CLASSES)), bool)
        self.sample_rate = 44100
        self.refresh()

    def refresh(self) -> int:
        """Load shards written since the last call (a generator may still be running). Returns the song count."""
        new = [p for p in sorted(self.folder.glob("shard-*[0-9].npz")) if p not in self.shards]
        if not new:
            return len(self.stems)
        loaded = [np.load(p) for p in new]
        self.sample_rate = int(loaded[0]["sample_rate"])
        parts = [self.stems] if len(self.stems) else []
        self.stems = np.concatenate(parts + [d["stems"] for d in loaded])
        self.present = np.concatenate([self.present] + [d["present"] for d in loaded])
        self.shards += new
        return len(self.stems)

    def __len__(self) -> int:
        return len(self.stems)

    def draw(self, rng: np.random.Generator, batch: int, samples: int, remix: float = 0.5) -> np.ndarray:
        """A batch of source sets: ``(batch, n_classes, samples)`` float32; absent classes are zeros.

        Every example has at least two sources; gains are random per source.
        """
        out = np.zeros((batch, len(CLASSES), samples), np.float32)
        length = self.stems.shape[-1]
        for b in range(batch):
            while True:
                if rng.random() < remix:
                    picks = [self._random_song_with(c, rng) if rng.random() < 0.75 else None for c in range(len(CLASSES))]
                else:
                    song = int(rng.integers(len(self)))
                    picks = [song if self.present[song, c] else None for c in range(len(CLASSES))]
                if sum(p is not None for p in picks) >= 2:
                    break
            offset = int(rng.integers(0, length - samples + 1))
            for c, pick in enumerate(picks):
                if pick is None:
                    continue
                if rng.random() < remix:
                    offset = int(rng.integers(0, length - samples + 1))
                gain = 10 ** (rng.uniform(-9, 3) / 20)
                out[b, c] = self.stems[pick, c, offset : offset + samples].astype(np.float32) * gain
        level = 10 ** (rng.uniform(-20, 6, size=(batch, 1, 1)) / 20)
        return (out * level).astype(np.float32)

    def _random_song_with(self, c: int, rng: np.random.Generator) -> int | None:
        for _ in range(20):
            song = int(rng.integers(len(self)))
            if self.present[song, c]:
                return song
        return None
