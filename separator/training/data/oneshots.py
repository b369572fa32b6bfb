"""Drum grooves played with real recorded one-shots (kick.wav, snare.wav, …).

A composed drum track's General MIDI notes are mapped to categories (kick, snare,
hats, toms, cymbals, percussion); each category gets one recording of that category
from the pack, chosen by file name. Hits are humanised (timing jitter, velocity as
gain) and an open hi-hat is choked by the next closed one, as on a real kit.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path

import mido
import numpy as np
import soundfile
from scipy import signal

from separator.training.data.compose import note_onsets

CATEGORIES = ("kick", "snare", "clap", "rim", "closed_hat", "open_hat", "tom", "crash", "ride", "perc")
_KEYWORDS = (
    ("crash", ("crash",)),
    ("ride", ("ride",)),
    ("kick", ("kick", "bassdrum", "deepdrum")),
    ("snare", ("snare", "snr")),
    ("clap", ("clap",)),
    ("rim", ("rimshot", "rim")),
    ("tom", ("tom",)),
    ("perc", ("shaker", "tambo", "cowbell", "conga", "wood", "tabla", "perc", "triangle", "bongo")),
)
# General MIDI drum notes → category; other notes play "perc".
NOTE_CATEGORY = {
    35: "kick", 36: "kick", 37: "rim", 38: "snare", 39: "clap", 40: "snare",
    42: "closed_hat", 44: "closed_hat", 46: "open_hat",
    41: "tom", 43: "tom", 45: "tom", 47: "tom", 48: "tom", 50: "tom",
    49: "crash", 52: "crash", 55: "crash", 57: "crash", 51: "ride", 53: "ride", 59: "ride",
}  # fmt: skip
# When a pack lacks a category, the nearest one that it has plays instead (or nothing).
FALLBACK = {
    "rim": ("snare",),
    "clap": ("snare",),
    "open_hat": ("closed_hat",),
    "ride": ("crash", "closed_hat"),
    "crash": ("ride",),
    "closed_hat": ("ride",),
    "perc": ("closed_hat",),
}
# Level of each category on the kit, dB (low, high).
_LEVEL_DB = {"kick": (-2, 0), "snare": (-3, 0), "clap": (-6, -1), "rim": (-8, -2), "closed_hat": (-12, -5), "open_hat": (-12, -5)}


def classify(name: str) -> str | None:
    """The drum category a file name says (``"BD_Acou_01.wav"`` → ``"kick"``), or ``None``."""
    text = Path(name).stem.lower()
    flat = re.sub(r"[^a-z]", "", text)
    tokens = set(re.split(r"[^a-z]+", text))
    if "hat" in flat or "hh" in tokens:
        return "open_hat" if "open" in flat else "closed_hat"
    for category, keys in _KEYWORDS:
        if any(k in flat for k in keys):
            return category
    if "bd" in tokens:
        return "kick"
    if "sd" in tokens:
        return "snare"
    return None


def drum_files(files: Sequence[str]) -> tuple[str, ...]:
    """The files that name a drum category; a pack needs at least a kick or a snare to count."""
    kept = tuple(f for f in files if classify(f))
    return kept if any(classify(f) in ("kick", "snare") for f in kept) else ()


@functools.lru_cache(maxsize=1024)
def load_oneshot(path: str, sample_rate: int) -> np.ndarray:
    """A one-shot as ``(2, samples)`` float32 at ``sample_rate``, peak 1, leading silence trimmed."""
    audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    audio = audio.T[:2]
    if len(audio) == 1:
        audio = np.concatenate([audio, audio])
    if rate != sample_rate:
        audio = signal.resample_poly(audio, sample_rate, rate, axis=1).astype(np.float32)
    loud = np.flatnonzero(np.abs(audio).max(axis=0) > 0.01 * max(1e-9, float(np.abs(audio).max())))
    audio = audio[:, loud[0] :] if len(loud) else audio
    return np.ascontiguousarray(audio / max(1e-9, float(np.abs(audio).max())), dtype=np.float32)


def choose_kit(files: Sequence[str], rng: np.random.Generator) -> dict[str, str]:
    """One recording per category (falling back to a near category when the pack lacks one)."""
    by_category: dict[str, list[str]] = {}
    for f in files:
        category = classify(f)
        if category:
            by_category.setdefault(category, []).append(f)
    kit = {c: str(rng.choice(sorted(fs))) for c, fs in sorted(by_category.items())}
    for category in CATEGORIES:
        if category not in kit:
            stand_in = next((kit[c] for c in FALLBACK.get(category, ()) if c in kit), None)
            if stand_in:
                kit[category] = stand_in
    return kit


def render_groove(
    track: mido.MidiTrack, files: Sequence[str], bpm: float, seconds: float, rng: np.random.Generator, sample_rate: int = 44100
) -> np.ndarray:
    """Play ``track``'s drum notes with one-shots from ``files``.

    Timing jitters by up to 5–10 ms (drawn per song), velocity scales the gain, toms
    are tuned by note, and an open hat stops (5 ms fade) at the next closed hat.

    Returns:
        ``(2, round(seconds * sample_rate))`` float32.
    """
    total = int(round(seconds * sample_rate))
    kit = choose_kit(files, rng)
    levels = {c: 10 ** (rng.uniform(*_LEVEL_DB.get(c, (-10, -3))) / 20) for c in CATEGORIES}
    jitter = float(rng.uniform(0.005, 0.010)) * sample_rate
    hits = []
    for start, note, velocity in note_onsets(track, bpm, sample_rate):
        category = NOTE_CATEGORY.get(note, "perc")
        if category in kit:
            hits.append((max(0, start + int(rng.uniform(-jitter, jitter))), note, category, velocity))
    closed = sorted(start for start, _, category, _ in hits if category == "closed_hat")
    fade = int(0.005 * sample_rate)
    out = np.zeros((2, total), np.float32)
    for start, note, category, velocity in hits:
        if start >= total:
            continue
        sound = load_oneshot(kit[category], sample_rate)
        if category == "tom":  # one recording, tuned per drum: higher notes are smaller toms
            sound = _retune(sound, 2 ** ((note - 45) / 24))
        if category == "open_hat":
            choke = next((c for c in closed if c > start), None)
            if choke is not None and choke - start < sound.shape[1]:
                sound = sound[:, : max(fade, choke - start)].copy()
                sound[:, -fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
        gain = (velocity / 127) ** 1.5 * levels[category] * float(rng.uniform(0.9, 1.1))
        n = min(sound.shape[1], total - start)
        out[:, start : start + n] += sound[:, :n] * gain
    return out


def _retune(sound: np.ndarray, ratio: float) -> np.ndarray:
    """Play ``sound`` ``ratio`` times faster (higher and shorter), by linear interpolation."""
    positions = np.arange(0, sound.shape[1] - 1, ratio)
    return np.stack([np.interp(positions, np.arange(sound.shape[1]), ch) for ch in sound]).astype(np.float32)
