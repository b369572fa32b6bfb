"""Make a reproducible multi-stem data set: compose, render, augment, store.

Layout of ``OUT``::

    OUT/recipe.json            the arguments, SoundFonts and classes used
    OUT/shard-00000.npz        stems (n_songs, n_classes, [2,] samples) float16,
                               present (n_songs, n_classes) bool, sample_rate
    ...

Song ``i`` is made from ``np.random.default_rng([seed, i])`` alone, so the same
seed gives the same data whatever ``jobs`` is, and shards can be added later.
"""

from __future__ import annotations

import json
import multiprocessing
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from separator.classes import CLASSES
from separator.data.augment import augment, pan
from separator.data.compose import PROGRAMS, compose
from separator.data.render import describe, discover_soundfonts, render_track
from separator.data.voice import espeak_available, sing, speak


@dataclass
class Recipe:
    """Everything that decides the data; saved as ``recipe.json``."""

    seed: int = 0
    seconds: float = 4.0
    sample_rate: int = 44100
    soundfonts: list[str] = field(default_factory=discover_soundfonts)
    use_espeak: bool = field(default_factory=espeak_available)
    augment: bool = True


def _render_part(recipe: Recipe, song, name: str, rng: np.random.Generator) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Render one part of ``song`` with a random SoundFont (or voice)."""
    sr, seconds = recipe.sample_rate, recipe.seconds
    if name == "vocals":
        choice = rng.random()
        if recipe.use_espeak and choice < 0.4:
            return speak(seconds, rng, sr)
        if choice < 0.7:
            return sing(song.tracks[name], song.bpm, seconds, rng, sr)
    infos = [describe(p) for p in recipe.soundfonts]
    if name == "drums":
        # Pick the SoundFont first, so single-kit files (real acoustic kits) are not outvoted.
        with_kits = [i for i in infos if i.drum_presets]
        info = with_kits[int(rng.integers(len(with_kits)))]
        kits = [kit for kit in info.drum_presets if kit[1] < 56] or list(info.drum_presets)
        path, kit = info.path, kits[int(rng.integers(len(kits)))]
        return render_track(song.tracks[name], path, song.bpm, seconds, drum_kit=kit, sample_rate=sr)
    melodic = [i.path for i in infos if i.melodic]
    layers = 2 if name == "other" and rng.random() < 0.3 else 1
    out = np.zeros((2, int(round(seconds * sr))), np.float32)
    for layer in range(layers):
        program = song.programs[name] if layer == 0 else int(rng.choice(PROGRAMS[name]))
        path = melodic[int(rng.integers(len(melodic)))]
        out = out + render_track(song.tracks[name], path, song.bpm, seconds, program=program, sample_rate=sr)
    return np.asarray(out, np.float32)


def make_song(recipe: Recipe, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Stems of song ``index``: ``(n_classes, 2, samples)`` float32 stereo and a presence mask.

    About a third of the songs lack one or two classes, so the network learns
    near-silent masks for absent stems.
    """
    rng = np.random.default_rng([recipe.seed, index])
    n = int(round(recipe.seconds * recipe.sample_rate))
    bars = int(np.ceil(recipe.seconds / 1.4)) + 1  # 4/4 bars at >= 170 bpm cover the clip
    song = compose(rng, bars=bars)
    present = np.ones(len(CLASSES), bool)
    if rng.random() < 0.35:
        present[rng.choice(len(CLASSES), size=int(rng.integers(1, 3)), replace=False)] = False
    stems = np.zeros((len(CLASSES), 2, n), np.float32)
    for c, name in enumerate(CLASSES):
        if not present[c]:
            continue
        audio = _render_part(recipe, song, name, rng)
        peak = float(np.abs(audio).max())
        if peak < 1e-5:
            present[c] = False
            continue
        audio = audio / peak * 0.5
        if recipe.augment:
            audio = augment(audio, name, recipe.sample_rate, rng)
        audio = pan(audio, float(rng.uniform(-0.6, 0.6)))
        level = 10 ** (rng.uniform(-12, 0) / 20) / max(1e-6, float(np.sqrt(np.mean(audio**2))))
        stems[c] = audio * level * 0.1
    return stems, present


def _song_job(args: tuple[Recipe, int]) -> tuple[np.ndarray, np.ndarray]:
    return make_song(*args)


def make_dataset(
    out: str | Path, n_songs: int, recipe: Recipe, shard_size: int = 200, jobs: int = 1, start: int = 0, stereo: bool = False
) -> list[Path]:
    """Write ``n_songs`` songs (indices ``start`` …) as shards under ``out``.

    Training sets are stored as mono downmixes (the network hears the channels'
    mean power); ``stereo=True`` keeps both channels, for evaluation sets.

    Existing shards are kept, so an interrupted run resumes where it stopped.

    Returns:
        the shard paths, old and new.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "recipe.json").write_text(json.dumps({**asdict(recipe), "classes": list(CLASSES)}, indent=2))
    shards = []
    pool = multiprocessing.get_context("spawn").Pool(jobs) if jobs > 1 else None
    try:
        for first in range(start, start + n_songs, shard_size):
            path = out / f"shard-{first // shard_size:05d}.npz"
            shards.append(path)
            if path.exists():
                continue
            count = min(shard_size, start + n_songs - first)
            tasks = [(recipe, i) for i in range(first, first + count)]
            results = pool.map(_song_job, tasks) if pool else [_song_job(t) for t in tasks]
            stems = np.stack([r[0] if stereo else r[0].mean(axis=1) for r in results]).astype(np.float16)
            present = np.stack([r[1] for r in results])
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, stems=stems, present=present, sample_rate=recipe.sample_rate)
            tmp.rename(path)
    finally:
        if pool:
            pool.close()
    return shards
