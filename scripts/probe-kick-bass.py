"""Where a kick goes, full-band and band-limited: the self-made song of issue 18, split and scored.

A song as a new user makes one: an espeak-ng voice, a low-passed sawtooth bass, and a synthesised
kit (a kick sweeping 150 → 50 Hz with a 120-ms decay, a noise snare, high-passed hats) at 120 BPM,
mono in the centre. It is split as it is and low-passed at 3.8 kHz (a 4th-order Butterworth, twice:
an old record or a phone recording), with the shipped model or ``--model``; for each stem it prints
the SI-SDR improvement and the level below 200 Hz of the stem against the true one. A kick that goes
into the bass shows as a drums stem too quiet below 200 Hz; a band-limited song whose drums vanish
shows as a drums stem far under its true level.

    python scripts/probe-kick-bass.py                 # the shipped model
    python scripts/probe-kick-bass.py --model runs/exp/candidate.pt

Needs espeak-ng (``apt-get install espeak-ng``), as ``separator make-data`` does.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import butter, resample_poly, sosfilt

RATE = 44100
BPM, BARS = 120, 8
LYRICS = (
    "the night is young and the city lights are calling me home tonight, "
    "we sing along until the morning comes and the sun is rising over the hill"
)
BASS_NOTES = (41.2, 41.2, 49.0, 55.0, 36.7, 36.7, 49.0, 43.65)  # Hz, two beats each


def _decay(n: int, seconds: float) -> np.ndarray:
    return np.exp(-np.arange(n) / RATE / seconds)


def _place(track: np.ndarray, sound: np.ndarray, at: float) -> None:
    i = int(at * RATE)
    n = min(len(sound), len(track) - i)
    if n > 0:
        track[i : i + n] += sound[:n]


def _kick() -> np.ndarray:
    n = int(0.35 * RATE)
    t = np.arange(n) / RATE
    frequency = 50 + 100 * np.exp(-t / 0.03)
    return np.sin(2 * np.pi * np.cumsum(frequency) / RATE) * _decay(n, 0.12)


def _snare(rng: np.random.Generator) -> np.ndarray:
    n = int(0.2 * RATE)
    body = 0.5 * np.sin(2 * np.pi * 190 * np.arange(n) / RATE) * _decay(n, 0.04)
    return 0.5 * (rng.standard_normal(n) * _decay(n, 0.05) + body)


def _hat(rng: np.random.Generator) -> np.ndarray:
    n = int(0.06 * RATE)
    return 0.3 * sosfilt(butter(4, 7000, "hp", fs=RATE, output="sos"), rng.standard_normal(n) * _decay(n, 0.015))


def make_song(workdir: Path) -> dict[str, np.ndarray]:
    """The three stems, mono, ``(n,)`` each at 44.1 kHz."""
    rng = np.random.default_rng(0)
    beat = 60 / BPM
    n = int(BARS * 4 * beat * RATE)
    drums, bass, vocals = np.zeros(n), np.zeros(n), np.zeros(n)
    for b in range(BARS * 4):
        _place(drums, _kick() if b % 2 == 0 else _snare(rng), b * beat)
        _place(drums, _hat(rng), b * beat)
        _place(drums, _hat(rng), (b + 0.5) * beat)
    lowpass = butter(2, 1200, "lp", fs=RATE, output="sos")
    for i in range(BARS * 2):
        length = int(2 * beat * RATE * 0.95)
        t = np.arange(length) / RATE
        saw = 2 * ((t * BASS_NOTES[i % len(BASS_NOTES)]) % 1) - 1
        _place(bass, sosfilt(lowpass, saw) * 0.35 * np.minimum(1, t / 0.01) * _decay(length, 1.5), i * 2 * beat)
    voice = workdir / "voice.wav"
    subprocess.run(["espeak-ng", "-w", str(voice), "-s", "140", LYRICS], check=True, capture_output=True)
    speech, rate = sf.read(voice)
    _place(vocals, resample_poly(speech, RATE, rate) * 0.5, 1.0)
    return {"drums": drums * 0.36, "bass": bass * 0.6, "vocals": vocals * 0.6}


def band_limit(x: np.ndarray, cutoff: float = 3800.0) -> np.ndarray:
    sos = butter(4, cutoff, "lp", fs=RATE, output="sos")
    return sosfilt(sos, sosfilt(sos, x))


def _low_db(x: np.ndarray) -> float:
    low = sosfilt(butter(4, 200, "lp", fs=RATE, output="sos"), x)
    return float(10 * np.log10(np.mean(low**2) + 1e-20))


def report(separator: object, stems: dict[str, np.ndarray], label: str) -> None:
    from separator.training.metrics import si_sdr_improvement

    mix = sum(stems.values())
    assert isinstance(mix, np.ndarray)
    split = separator.separate(np.stack([mix, mix]).astype(np.float32), RATE)  # type: ignore[attr-defined]
    print(f"{label}: stem, SI-SDRi dB, level below 200 Hz (split / true) dB, level (split / true) dB")
    for name, reference in stems.items():
        estimate = split[name].mean(0).astype(np.float64)
        gain = si_sdr_improvement(estimate, reference, mix)
        level, true_level = 10 * np.log10(np.mean(estimate**2) + 1e-20), 10 * np.log10(np.mean(reference**2))
        print(f"  {name:7s} {gain:6.2f}   {_low_db(estimate):6.1f} / {_low_db(reference):6.1f}   {level:6.1f} / {true_level:6.1f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="a separator model file (default: the shipped model)")
    args = p.parse_args(argv)
    if shutil.which("espeak-ng") is None:
        print("probe-kick-bass: espeak-ng is not installed: apt-get install espeak-ng", file=sys.stderr)
        return 2
    from separator import Separator

    separator = Separator.from_pretrained(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        stems = make_song(Path(tmp))
    report(separator, stems, "full band")
    report(separator, {k: band_limit(v) for k, v in stems.items()}, "low-passed at 3.8 kHz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
