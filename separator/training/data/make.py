"""Make a reproducible multi-stem data set: compose, render, augment, store.

Layout of ``OUT``::

    OUT/recipe.json            the arguments, the sources found and missing, the draw
                               probabilities and how many parts each source played
    OUT/shard-00000.npz        stems (n_songs, n_slots, 2, samples) float16 (stereo),
                               present (n_songs, n_slots) bool,
                               labels (n_songs, n_slots) int8 (index into CLASSES),
                               sources (n_songs, n_slots) str (source id per part, '' if absent;
                               'a+b' for a layered part), sample_rate
    ...

Song ``i`` is made from ``np.random.default_rng([seed, i])`` alone, so the same
seed gives the same data whatever ``jobs`` is, and shards can be added later.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from separator.classes import CLASSES
from separator.training.data.augment import amplify, augment, pan
from separator.training.data.compose import PROGRAMS, Song, compose
from separator.training.data.render import describe, discover_soundfonts, render_track
from separator.training.data.sources import (
    Plan,
    Source,
    SourcePaths,
    check_complete,
    check_only,
    default_sounds_dirs,
    detect_sources,
    plan_sources,
)
from separator.training.data.voice import espeak_available, sing, speak


@dataclass
class Recipe:
    """Everything that decides the data; saved as ``recipe.json``.

    ``only`` and ``exclude`` are case-insensitive substrings of source ids
    (``separator.training.data.sources``); ``sounds`` are the roots searched for one-shot packs.
    """

    seed: int = 0
    seconds: float = 4.0
    sample_rate: int = 44100
    soundfonts: list[str] = field(default_factory=discover_soundfonts)
    use_espeak: bool = field(default_factory=espeak_available)
    augment: bool = True
    heavy_fx: bool = False  # more timbre variety per stem (separator.training.data.augment.heavy_chain)
    rock_guitar: float = 0.0  # chance of a lead line or power-chord riff (separator.training.data.compose.rock_guitar)
    produce: bool = True  # rooms, bus compression, limiting … on the mix (separator.training.data.production)
    only: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    sounds: list[str] = field(default_factory=default_sounds_dirs)


AMP_ODDS = 0.7  # a rock guitar part goes through an amp and cabinet (separator.training.data.augment.amp_chain)

_PLANS: dict[str, tuple[list[Source], Plan]] = {}


def source_plan(recipe: Recipe) -> tuple[list[Source], Plan]:
    """The sources found for ``recipe`` and its draw plan (detected once per process)."""
    key = json.dumps([recipe.soundfonts, recipe.use_espeak, recipe.only, recipe.exclude, recipe.sounds])
    if key not in _PLANS:
        found = detect_sources(SourcePaths(soundfonts=tuple(recipe.soundfonts), sounds_dirs=tuple(recipe.sounds)))
        _PLANS[key] = (found, plan_sources(found, recipe.only, _excluded(recipe)))
    return _PLANS[key]


def _excluded(recipe: Recipe) -> list[str]:
    """The recipe's ``exclude`` patterns, with espeak's voice when the recipe does without it."""
    return [*recipe.exclude, *([] if recipe.use_espeak else ["speech:espeak"])]


def _render_drums(source: Source, song: Song, recipe: Recipe, rng: np.random.Generator) -> np.ndarray:
    from separator.training.data.oneshots import render_groove
    from separator.training.data.timidity import render_timidity

    sr, seconds, track = recipe.sample_rate, recipe.seconds, song.tracks["drums"]
    if source.kind == "synth":
        from separator.training.data.synth import render_drums

        return render_drums(track, song.bpm, seconds, rng, sr)
    if source.kind == "oneshots":
        return render_groove(track, source.files, song.bpm, seconds, rng, sr)
    if source.kind == "timidity":
        return render_timidity(track, song.bpm, seconds, 0, sr, source.location)
    presets = describe(source.location).drum_presets
    kits = [kit for kit in presets if kit[1] < 56] or list(presets)
    kit = kits[int(rng.integers(len(kits)))]
    return render_track(track, source.location, song.bpm, seconds, drum_kit=kit, sample_rate=sr)


def _render_voice(source: Source, song: Song, recipe: Recipe, rng: np.random.Generator) -> np.ndarray:
    from separator.training.data import speech

    sr, seconds = recipe.sample_rate, recipe.seconds
    if source.id == "speech:espeak":
        return speak(seconds, rng, sr)
    if source.id.startswith("speech:flite"):
        return speech.flite(source.location, seconds, rng, sr)
    if source.id == "speech:gcin":
        return speech.syllables(source.files, seconds, rng, sr)
    if source.kind == "speech":
        return speech.utterances(source.files, seconds, rng, sr)
    return sing(song.tracks["vocals"], song.bpm, seconds, rng, sr)


def _render_program(source: Source, song: Song, name: str, program: int, recipe: Recipe, rng: np.random.Generator) -> np.ndarray:
    from separator.training.data.timidity import nearest_program, render_timidity

    track, sr = song.tracks[name], recipe.sample_rate
    if source.kind == "synth":
        from separator.training.data.synth import render_melodic

        return render_melodic(track, name, program, song.bpm, recipe.seconds, rng, sr)
    if source.kind == "timidity":
        program = nearest_program(program, source.location, PROGRAMS[name])
        return render_timidity(track, song.bpm, recipe.seconds, program, sr, source.location)
    return render_track(track, source.location, song.bpm, recipe.seconds, program=program, sample_rate=sr)


def render_part(recipe: Recipe, song: Song, name: str, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Render part ``name`` of ``song`` with a source drawn from the recipe's plan.

    Returns:
        ``(2, samples)`` float32 audio and the source id (``''`` when the class has no source;
        ``'a+b'`` when *other* layers two instruments).
    """
    plan = source_plan(recipe)[1]
    source = plan.draw(name, rng)
    if source is None:
        return np.zeros((2, int(round(recipe.seconds * recipe.sample_rate))), np.float32), ""
    if name == "drums":
        return _render_drums(source, song, recipe, rng), source.id
    if source.kind in ("speech", "sing"):
        return _render_voice(source, song, recipe, rng), source.id
    out = _render_program(source, song, name, song.programs[name], recipe, rng)
    if name == "other" and rng.random() < 0.3:
        second = plan.draw(name, rng)
        if second is not None and second.kind in ("sf", "timidity", "synth"):
            out = out + _render_program(second, song, name, int(rng.choice(PROGRAMS[name])), recipe, rng)
            return np.asarray(out, np.float32), f"{source.id}+{second.id}"
    return out, source.id


def make_song_sources(recipe: Recipe, index: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Stems ``(n_classes, 2, samples)`` float32, presence ``(n_classes,)`` and the source id per class.

    About a third of the songs lack one or two classes, so the network learns
    near-silent masks for absent stems. With ``recipe.augment`` the stems go through
    per-stem effects, then a mix-bus production stage (``separator.training.data.production``).
    """
    rng = np.random.default_rng([recipe.seed, index])
    n = int(round(recipe.seconds * recipe.sample_rate))
    bars = int(np.ceil(recipe.seconds / 1.4)) + 1  # 4/4 bars at >= 170 bpm cover the clip
    song = compose(rng, bars=bars, rock=recipe.rock_guitar)
    present = np.ones(len(CLASSES), bool)
    if rng.random() < 0.35:
        present[rng.choice(len(CLASSES), size=int(rng.integers(1, 3)), replace=False)] = False
    stems = np.zeros((len(CLASSES), 2, n), np.float32)
    sources = [""] * len(CLASSES)
    for c, name in enumerate(CLASSES):
        if not present[c]:
            continue
        audio, source_id = render_part(recipe, song, name, rng)
        peak = float(np.abs(audio).max())
        if peak < 1e-5:
            present[c] = False
            continue
        sources[c] = source_id
        audio = audio / peak * 0.5
        if name == "guitar" and song.guitar_style and rng.random() < AMP_ODDS:
            audio = amplify(audio, recipe.sample_rate, rng)
        if recipe.augment:
            audio = augment(audio, name, recipe.sample_rate, rng, recipe.heavy_fx)
        audio = pan(audio, float(rng.uniform(-0.6, 0.6)))
        level = 10 ** (rng.uniform(-12, 0) / 20) / max(1e-6, float(np.sqrt(np.mean(audio**2))))
        stems[c] = audio * level * 0.1
    if recipe.augment and recipe.produce:
        stems = _produce(stems, present, recipe.sample_rate, rng)
    return stems, present, sources


def _produce(stems: np.ndarray, present: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Mix-bus production when ``separator.training.data.production`` is there; the stems unchanged otherwise."""
    try:
        from separator.training.data.production import produce
    except ImportError:
        return stems
    return np.asarray(produce(stems, present, sample_rate, rng), np.float32)


def make_song(recipe: Recipe, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Stems of song ``index``: ``(n_classes, 2, samples)`` float32 stereo and a presence mask."""
    stems, present, _ = make_song_sources(recipe, index)
    return stems, present


def _song_job(args: tuple[Recipe, int]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    return make_song_sources(*args)


def _write_shard(path: Path, results: list[tuple[np.ndarray, np.ndarray, list[str]]], recipe: Recipe, stereo: bool) -> None:
    stems = np.stack([r[0] if stereo else r[0].mean(axis=1) for r in results]).astype(np.float16)
    present = np.stack([r[1] for r in results])
    labels = np.tile(np.arange(len(CLASSES), dtype=np.int8), (len(results), 1))
    sources = np.array([r[2] for r in results], dtype=str).reshape(len(results), len(CLASSES))
    save_shard(path, stems=stems, present=present, labels=labels, sources=sources, sample_rate=np.array(recipe.sample_rate))


def save_shard(path: Path, **arrays: np.ndarray) -> None:
    """``np.savez`` under a temporary name, then renamed: a reader (a running ``train``, which picks up new
    shards) never sees half a shard, and the temporary name does not match ``shard-*[0-9].npz``."""
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    tmp.rename(path)


def make_dataset(
    out: str | Path,
    n_songs: int,
    recipe: Recipe,
    shard_size: int = 200,
    jobs: int = 1,
    start: int = 0,
    stereo: bool = True,
    allow_missing: bool = False,
) -> list[Path]:
    """Write ``n_songs`` songs (indices ``start`` …) as shards under ``out``.

    Stems are stored stereo ``(n_songs, n_slots, 2, samples)``; ``stereo=False`` stores
    mono downmixes ``(n_songs, n_slots, samples)`` (the old layout).

    Existing shards are kept, so an interrupted run resumes where it stopped.
    ``recipe.json`` gets the sources found and missing, the draw plan and how many
    parts each source played (over all shards).

    Returns:
        the shard paths, old and new.
    Raises:
        MissingSourcesError: no source plays some classes, or an ``only`` pattern matches no source found
            (before any work), unless ``allow_missing``.
    """
    found, plan = source_plan(recipe)
    if not allow_missing:
        check_only(recipe.only, found, _excluded(recipe))
        check_complete(plan, found)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
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
            _write_shard(path, results, recipe, stereo)
    finally:
        if pool:
            pool.close()
    (out / "recipe.json").write_text(json.dumps(describe_dataset(recipe, shards), indent=2))
    return shards


def copy_changed(
    src: str | Path, out: str | Path, change: Callable[[dict[str, np.ndarray]], np.ndarray | dict[str, np.ndarray]]
) -> list[Path]:
    """A copy of the data folder ``src`` (``shard-*.npz`` and its ``*.json``) in ``out``, each shard's
    ``stems`` replaced by ``change(shard's arrays)`` (the other arrays as they were), or the arrays of the dict
    it returns: the band-limited, real-mix and fewer-class copies of ``scripts/band-limit-data.py``,
    ``scripts/centre-data.py`` and ``scripts/keep-classes.py``. Returns the shards written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for shard in sorted(Path(src).glob("shard-*[0-9].npz")):
        with np.load(shard) as file:
            data = {k: file[k] for k in file.files}
        changed = change(data)
        data.update(changed if isinstance(changed, dict) else {"stems": changed})
        save_shard(out / shard.name, **data)
        written.append(out / shard.name)
    for extra in Path(src).glob("*.json"):
        shutil.copy(extra, out / extra.name)
    return written


def drawn_counts(shards: list[Path]) -> dict[str, dict[str, int]]:
    """How many parts of each class each source played, from the shards' ``sources`` arrays."""
    counts: dict[str, Counter[str]] = {name: Counter() for name in CLASSES}
    for path in shards:
        with np.load(path) as data:
            if "sources" not in data:
                continue
            for row in data["sources"]:
                for name, source_id in zip(CLASSES, row, strict=True):
                    if source_id:
                        counts[name][str(source_id)] += 1
    return {name: dict(sorted(c.items())) for name, c in counts.items()}


def describe_dataset(recipe: Recipe, shards: list[Path]) -> dict:  # type: ignore[type-arg]
    """``recipe.json``: the recipe, the sources found and missing, the plan and the counts drawn."""
    from separator.training.data.sources import missing_sources

    found, plan = source_plan(recipe)
    return {
        **asdict(recipe),
        "classes": list(CLASSES),
        "sources_found": [s.id for s in found],
        "sources_missing": missing_sources(found),
        "plan": plan.weights,
        "plan_notes": list(plan.notes),
        "drawn": drawn_counts(shards),
    }


def format_sources(recipe: Recipe) -> str:
    """Lines for the terminal: sources found, missing (with what to install) and plan notes."""
    from separator.training.data.sources import missing_sources

    found, plan = source_plan(recipe)
    lines = [f"sources found ({len(found)}): {', '.join(s.id for s in found)}"]
    lines += [f"  missing {sid}: {how}" for sid, how in missing_sources(found).items()]
    lines += [f"  note: {note}" for note in plan.notes]
    for name in CLASSES:
        shares = ", ".join(f"{sid} {p:.0%}" for sid, p in plan.weights[name].items())
        lines.append(f"  {name}: {shares or 'nothing'}")
    return "\n".join(lines)


def format_counts(counts: dict[str, dict[str, int]]) -> str:
    """Lines for the terminal: parts drawn per class and source."""
    lines = ["parts drawn per class and source:"]
    for name, per_source in counts.items():
        total = sum(per_source.values())
        lines.append(f"  {name} ({total}): " + ", ".join(f"{sid} {n}" for sid, n in per_source.items()))
    return "\n".join(lines)
