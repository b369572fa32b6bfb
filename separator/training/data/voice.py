"""Voices for the vocals stem: a formant singer that follows the melody, and
speech from espeak-ng (when installed) with varied voice, pitch and speed.

SoundFont "choir" presets alone teach the network little about real voices;
these two sources add glottal pulses, formants, vibrato, consonant noise and
the irregular rhythm of words.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import mido
import numpy as np
from scipy import signal

from separator.training.data.compose import note_spans
from stembase.audio import load

# First three formants (Hz) of sung vowels, male-ish; scaled for other voices.
_VOWELS = np.array([[800, 1150, 2900], [400, 1600, 2700], [350, 1700, 2700], [450, 800, 2830], [325, 700, 2530], [600, 1040, 2250]])
_WORDS = (
    "love night heart fire baby dream light away feel tonight know never forever time home "
    "rain sky alone world gonna stay dance shine tell call river road golden blue morning"
).split()


def resonate(x: np.ndarray, freq: float, bandwidth: float, sample_rate: int) -> np.ndarray:
    """``x`` through a two-pole resonator at ``freq`` Hz, ``bandwidth`` Hz wide (unit gain at the peak)."""
    r = np.exp(-np.pi * bandwidth / sample_rate)
    theta = 2 * np.pi * min(freq, 0.45 * sample_rate) / sample_rate
    return signal.lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], x)


def sing(track: mido.MidiTrack, bpm: float, seconds: float, rng: np.random.Generator, sample_rate: int = 44100) -> np.ndarray:
    """Sing ``track``'s melody with a source-filter voice.

    Returns:
        ``(2, round(seconds * sample_rate))`` float32, centred.
    """
    total = int(round(seconds * sample_rate))
    out = np.zeros(total, np.float32)
    shift = float(rng.uniform(0.85, 1.35))  # formant scale: male .. female
    octave = int(rng.choice([0, 0, 12])) if shift > 1.1 else 0
    breath = float(rng.uniform(0.01, 0.15))
    vibrato_rate, vibrato_depth = float(rng.uniform(4.5, 6.5)), float(rng.uniform(0.002, 0.02))
    for start, note_stop, note, velocity in note_spans(track, bpm, sample_rate):
        stop = min(note_stop, total)
        n = stop - start
        if n < 64:
            continue
        t = np.arange(n) / sample_rate
        f0 = 440.0 * 2 ** ((note + octave - 69) / 12)
        glide = 1 + 0.03 * np.exp(-t * 25) * rng.choice([-1, 1])
        f = f0 * glide * (1 + vibrato_depth * np.sin(2 * np.pi * vibrato_rate * t) * np.clip(t * 3, 0, 1))
        phase = np.cumsum(f) / sample_rate
        pulse = (2 * (phase % 1.0) - 1) ** 3 + breath * rng.standard_normal(n)  # buzzy glottal source
        vowel = _VOWELS[rng.integers(len(_VOWELS))] * shift
        voiced = sum(resonate(pulse, fr, 60 + 40 * k, sample_rate) * (0.5**k) for k, fr in enumerate(vowel))
        consonant = np.zeros(n)
        c = min(n, int(rng.uniform(0.02, 0.07) * sample_rate))
        if rng.random() < 0.6:
            consonant[:c] = resonate(rng.standard_normal(c), float(rng.uniform(2500, 7000)), 2000, sample_rate) * 3
        envelope = np.minimum(1, np.minimum(t / 0.03, (n - np.arange(n)) / (0.05 * sample_rate)))
        out[start:stop] += ((voiced * envelope + consonant) * velocity / 127).astype(np.float32)
    out /= max(1e-6, float(np.abs(out).max())) / 0.5
    return np.stack([out, out])


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(seconds: float, rng: np.random.Generator, sample_rate: int = 44100) -> np.ndarray:
    """Random words spoken (or chanted) by espeak-ng with a random voice.

    Returns:
        ``(2, round(seconds * sample_rate))`` float32; zeros where speech ended.

    Raises:
        FileNotFoundError: when espeak-ng is not installed.
    """
    total = int(round(seconds * sample_rate))
    variant = str(rng.choice(["m1", "m2", "m3", "m4", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt3", "croak"]))
    voice = f"{rng.choice(['en', 'en-us', 'en-gb-x-rp', 'en-029', 'en-gb-scotland'])}+{variant}"
    words = " ".join(rng.choice(_WORDS, size=int(seconds * 3)))
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        cmd = ["espeak-ng", "-v", voice, "-p", str(int(rng.integers(20, 80))), "-s", str(int(rng.integers(110, 200)))]
        cmd += ["-a", "150", "-w", str(wav), words]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)
        speech, rate = load(wav)
    audio = signal.resample_poly(speech.mean(axis=0), sample_rate, rate).astype(np.float32)
    out = np.zeros(total, np.float32)
    offset = int(rng.integers(0, max(1, total // 4)))
    piece = audio[: total - offset]
    out[offset : offset + len(piece)] = piece
    return np.stack([out, out])
