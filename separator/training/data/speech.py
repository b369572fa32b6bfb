"""Real and synthetic speech for the vocals stem.

Recorded speech: acted lines of the game Fish Fillets NG (Debian ``fillets-ng-data-nl``
and ``-cs``, GPL-2) and spoken Mandarin syllables of ``gcin-voice`` (GPL-3/LGPL-3 and
CC-BY-3.0). flite's voices (BSD-style) speak random words. Each song's clip holds
utterances at random places with pauses between them, resampled to the song rate.
"""

from __future__ import annotations

import functools
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile
from scipy import signal

_WORDS = (
    "love night heart fire baby dream light away feel tonight know never forever time home "
    "rain sky alone world gonna stay dance shine tell call river road golden blue morning "
    "hold me now come back where are you going down the city lights open door"
).split()


def _read(path: str, sample_rate: int) -> np.ndarray:
    """A mono recording at ``sample_rate``, peak 1."""
    audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    if rate != sample_rate:
        mono = signal.resample_poly(mono, sample_rate, rate).astype(np.float32)
    return mono / max(1e-9, float(np.abs(mono).max()))


_load = functools.lru_cache(maxsize=2048)(_read)  # package recordings are read many times


def _speed(audio: np.ndarray, ratio: float) -> np.ndarray:
    """Play ``ratio`` times faster: pitch and tempo both move, like a tape."""
    if abs(ratio - 1) < 1e-3:
        return audio
    positions = np.arange(0, len(audio) - 1, ratio)
    return np.interp(positions, np.arange(len(audio)), audio).astype(np.float32)


def _place(pieces: Sequence[np.ndarray], total: int, rng: np.random.Generator, gap: tuple[float, float], sample_rate: int) -> np.ndarray:
    """Lay ``pieces`` one after another from a random start, ``gap`` seconds apart; cut at ``total``."""
    out = np.zeros(total, np.float32)
    cursor = int(rng.uniform(0, 0.6) * sample_rate)
    for piece in pieces:
        if cursor >= total:
            break
        n = min(len(piece), total - cursor)
        out[cursor : cursor + n] += piece[:n] * float(rng.uniform(0.6, 1.0))
        cursor += len(piece) + int(rng.uniform(*gap) * sample_rate)
    return out


def _speaker(files: Sequence[str], rng: np.random.Generator) -> list[str]:
    """One speaker's files: fillets names carry ``-m-``/``-v-`` (small/big fish), gcin ``3``/``5``."""
    groups: dict[str, list[str]] = {}
    for f in files:
        name = Path(f).name
        key = name if name in ("3.ogg", "5.ogg") else next((k for k in ("-m-", "-v-") if k in name), "")
        groups.setdefault(key, []).append(f)
    key = sorted(groups)[int(rng.integers(len(groups)))]
    return groups[key]


def utterances(files: Sequence[str], seconds: float, rng: np.random.Generator, sample_rate: int = 44100) -> np.ndarray:
    """Recorded lines of one speaker at random places with 0.2–1.2 s pauses.

    Returns:
        ``(2, round(seconds * sample_rate))`` float32.
    """
    total = int(round(seconds * sample_rate))
    voice = _speaker(files, rng)
    ratio = float(rng.uniform(0.94, 1.06))
    pieces, length = [], 0
    while length < total:
        piece = _speed(_load(voice[int(rng.integers(len(voice)))], sample_rate), ratio)
        pieces.append(piece)
        length += len(piece) + sample_rate // 2
    out = _place(pieces, total, rng, (0.2, 1.2), sample_rate)
    return np.stack([out, out])


def syllables(files: Sequence[str], seconds: float, rng: np.random.Generator, sample_rate: int = 44100) -> np.ndarray:
    """Spoken syllables of one speaker strung into phrases of 2–7 with short gaps, phrases apart.

    Each syllable's pitch moves a little (±4 %, by playback speed) around the
    speaker's, drawn per song (±8 %), so phrases do not sound stitched.

    Returns:
        ``(2, round(seconds * sample_rate))`` float32.
    """
    total = int(round(seconds * sample_rate))
    voice = _speaker(files, rng)
    base = float(rng.uniform(0.92, 1.08))
    phrases, length = [], 0
    while length < total:
        parts = []
        for _ in range(int(rng.integers(2, 8))):
            sound = _speed(_load(voice[int(rng.integers(len(voice)))], sample_rate), base * float(rng.uniform(0.96, 1.04)))
            parts += [sound, np.zeros(int(rng.uniform(0.0, 0.06) * sample_rate), np.float32)]
        phrase = np.concatenate(parts)
        phrases.append(phrase)
        length += len(phrase) + sample_rate // 3
    out = _place(phrases, total, rng, (0.2, 0.8), sample_rate)
    return np.stack([out, out])


def flite(voice: str, seconds: float, rng: np.random.Generator, sample_rate: int = 44100) -> np.ndarray:
    """Random words spoken by flite's ``voice`` in 2–4 phrases, with random pace and pitch.

    Returns:
        ``(2, round(seconds * sample_rate))`` float32.

    Raises:
        FileNotFoundError: when flite is not installed.
    """
    total = int(round(seconds * sample_rate))
    stretch, pitch = float(rng.uniform(0.8, 1.3)), int(rng.integers(80, 220))
    pieces = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(int(rng.integers(2, 5))):
            wav = Path(tmp) / f"{k}.wav"
            text = " ".join(rng.choice(_WORDS, size=int(rng.integers(2, 7))))
            cmd = ["flite", "-voice", voice, "--setf", f"duration_stretch={stretch:.3f}"]
            cmd += ["--setf", f"int_f0_target_mean={pitch}", "-t", text, "-o", str(wav)]
            subprocess.run(cmd, check=True, capture_output=True, timeout=60)
            pieces.append(_read(str(wav), sample_rate))
    out = _place(pieces, total, rng, (0.15, 0.8), sample_rate)
    return np.stack([out, out])
