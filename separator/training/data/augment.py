"""Random pedalboard effect chains per stem class, so that the network hears
each instrument through many EQs, compressors, rooms and amps, not one SoundFont.
"""

from __future__ import annotations

import numpy as np
import pedalboard as pb


def _eq(rng: np.random.Generator) -> list[pb.Plugin]:
    plugins: list[pb.Plugin] = [
        pb.PeakFilter(
            cutoff_frequency_hz=float(np.exp(rng.uniform(np.log(100), np.log(8000)))),
            gain_db=float(rng.uniform(-9, 9)),
            q=float(rng.uniform(0.5, 3)),
        )
        for _ in range(int(rng.integers(0, 3)))
    ]
    if rng.random() < 0.3:
        plugins.append(pb.HighShelfFilter(cutoff_frequency_hz=float(rng.uniform(3000, 10000)), gain_db=float(rng.uniform(-8, 6))))
    if rng.random() < 0.3:
        plugins.append(pb.LowShelfFilter(cutoff_frequency_hz=float(rng.uniform(80, 400)), gain_db=float(rng.uniform(-6, 6))))
    return plugins


def _dynamics(rng: np.random.Generator) -> list[pb.Plugin]:
    if rng.random() < 0.5:
        return [
            pb.Compressor(
                threshold_db=float(rng.uniform(-30, -5)),
                ratio=float(rng.uniform(1.5, 8)),
                attack_ms=float(rng.uniform(1, 30)),
                release_ms=float(rng.uniform(50, 300)),
            )
        ]
    return []


def _space(rng: np.random.Generator) -> list[pb.Plugin]:
    plugins: list[pb.Plugin] = []
    if rng.random() < 0.2:
        plugins.append(
            pb.Delay(delay_seconds=float(rng.uniform(0.08, 0.5)), feedback=float(rng.uniform(0, 0.4)), mix=float(rng.uniform(0.05, 0.3)))
        )
    if rng.random() < 0.5:
        plugins.append(
            pb.Reverb(
                room_size=float(rng.uniform(0.1, 0.9)),
                wet_level=float(rng.uniform(0.05, 0.35)),
                dry_level=float(rng.uniform(0.6, 1.0)),
                width=float(rng.uniform(0.3, 1.0)),
            )
        )
    return plugins


def _colour(stem: str, rng: np.random.Generator) -> list[pb.Plugin]:
    """Class-specific character: amps on guitars, modulation, pitch variation."""
    plugins: list[pb.Plugin] = []
    if stem == "guitar" and rng.random() < 0.5:
        plugins.append(pb.Distortion(drive_db=float(rng.uniform(5, 30))))
        plugins.append(pb.LowpassFilter(cutoff_frequency_hz=float(rng.uniform(3000, 8000))))
    if stem in ("guitar", "other", "vocals") and rng.random() < 0.2:
        plugins.append(pb.Chorus(rate_hz=float(rng.uniform(0.3, 2)), depth=float(rng.uniform(0.1, 0.4)), mix=float(rng.uniform(0.2, 0.5))))
    if stem == "bass" and rng.random() < 0.2:
        plugins.append(pb.Distortion(drive_db=float(rng.uniform(3, 15))))
    if stem == "drums" and rng.random() < 0.2:
        plugins.append(pb.Bitcrush(bit_depth=float(rng.uniform(6, 12))))
    if rng.random() < 0.15:
        plugins.append(pb.PitchShift(semitones=float(rng.uniform(-2, 2))))
    return plugins


def _tilt(rng: np.random.Generator) -> list[pb.Plugin]:
    """A spectral tilt: opposite shelves around a pivot (a dark or bright recording of the same part)."""
    pivot = float(np.exp(rng.uniform(np.log(300), np.log(3000))))
    gain = float(rng.uniform(-8, 8))
    return [
        pb.LowShelfFilter(cutoff_frequency_hz=pivot, gain_db=-gain / 2),
        pb.HighShelfFilter(cutoff_frequency_hz=pivot, gain_db=gain / 2),
    ]


def _saturation(rng: np.random.Generator) -> list[pb.Plugin]:
    """Tape- or amp-like saturation (drive, then back to about the same level)."""
    drive = float(rng.uniform(2, 18))
    return [pb.Gain(gain_db=drive), pb.Distortion(drive_db=0.0), pb.Gain(gain_db=-drive * 0.8)]


def _room_or_plate(rng: np.random.Generator) -> pb.Plugin:
    if rng.random() < 0.5:  # plate-like: dense, bright, wide, short pre-delay
        return pb.Reverb(
            room_size=float(rng.uniform(0.5, 0.8)),
            damping=float(rng.uniform(0.0, 0.3)),
            wet_level=float(rng.uniform(0.1, 0.35)),
            dry_level=float(rng.uniform(0.7, 1.0)),
            width=1.0,
        )
    return pb.Reverb(
        room_size=float(rng.uniform(0.05, 0.5)),
        damping=float(rng.uniform(0.3, 0.9)),
        wet_level=float(rng.uniform(0.05, 0.3)),
        dry_level=float(rng.uniform(0.7, 1.0)),
        width=float(rng.uniform(0.2, 1.0)),
    )


def heavy_chain(stem: str, rng: np.random.Generator) -> list[pb.Plugin]:
    """Extra timbre variety per class (issue 18, item 1): the class and mask heads should name a part
    by what it plays, not by the one SoundFont's colour it was rendered with.

    EQ tilt and saturation on every class; voices pitch-shifted (±5 semitones: another register, and
    pedalboard's shift moves the formants with it, so another apparent vocal tract); chorus and
    phaser on guitars (and sometimes keys); room or plate reverbs; band limits on drums and bass.
    """
    plugins: list[pb.Plugin] = []
    if rng.random() < 0.7:
        plugins += _tilt(rng)
    if rng.random() < (0.5 if stem in ("guitar", "bass") else 0.3):
        plugins += _saturation(rng)
    if stem == "vocals" and rng.random() < 0.5:
        plugins.append(pb.PitchShift(semitones=float(rng.uniform(-5, 5))))
    if stem == "guitar" and rng.random() < 0.5:
        plugins.append(pb.Chorus(rate_hz=float(rng.uniform(0.2, 3)), depth=float(rng.uniform(0.1, 0.6)), mix=float(rng.uniform(0.2, 0.6))))
    if stem in ("guitar", "other") and rng.random() < 0.2:
        plugins.append(pb.Phaser(rate_hz=float(rng.uniform(0.1, 2)), depth=float(rng.uniform(0.2, 0.8)), mix=float(rng.uniform(0.2, 0.5))))
    if stem in ("drums", "bass") and rng.random() < 0.3:
        plugins.append(pb.HighpassFilter(cutoff_frequency_hz=float(rng.uniform(20, 90))))
    if stem == "bass" and rng.random() < 0.3:
        plugins.append(pb.LowpassFilter(cutoff_frequency_hz=float(rng.uniform(500, 4000))))
    if rng.random() < 0.6:
        plugins.append(_room_or_plate(rng))
    return plugins


def amp_chain(rng: np.random.Generator) -> list[pb.Plugin]:
    """A guitar amplifier and its cabinet, as a rock record hears them.

    High-pass before the gain (a tight low end), one or two drive stages with a tone stack between them
    (bass, a mid scoop or push, presence), then the speaker: a 24 dB/octave low-pass at 3–6.5 kHz with its
    low resonance. Recorded distorted guitars sound like this; pedalboard's ``Distortion`` alone does not.
    """
    drive = float(rng.uniform(12, 38))
    plugins: list[pb.Plugin] = [
        pb.HighpassFilter(cutoff_frequency_hz=float(rng.uniform(70, 200))),
        pb.Gain(gain_db=drive),
        pb.Distortion(drive_db=0.0),
        pb.LowShelfFilter(cutoff_frequency_hz=float(rng.uniform(100, 250)), gain_db=float(rng.uniform(-3, 6))),
        pb.PeakFilter(cutoff_frequency_hz=float(rng.uniform(350, 900)), gain_db=float(rng.uniform(-9, 4)), q=float(rng.uniform(0.5, 1.5))),
        pb.PeakFilter(cutoff_frequency_hz=float(rng.uniform(1500, 3500)), gain_db=float(rng.uniform(0, 8)), q=float(rng.uniform(0.7, 2))),
    ]
    if rng.random() < 0.6:
        second = float(rng.uniform(6, 20))
        plugins += [pb.Gain(gain_db=second), pb.Distortion(drive_db=0.0), pb.Gain(gain_db=-second)]
    plugins += [
        pb.LadderFilter(mode=pb.LadderFilter.Mode.LPF24, cutoff_hz=float(rng.uniform(3000, 6500)), resonance=float(rng.uniform(0, 0.3))),
        pb.PeakFilter(cutoff_frequency_hz=float(rng.uniform(90, 160)), gain_db=float(rng.uniform(0, 5)), q=float(rng.uniform(1, 2.5))),
        pb.Gain(gain_db=-drive),
    ]
    return plugins


def _fit(out: np.ndarray, samples: int) -> np.ndarray:
    """A chain's ``(channels, n)`` output padded or cut to ``samples`` (latency-compensating plugins may shorten)."""
    if out.shape[1] == samples:
        return out
    return np.pad(out, ((0, 0), (0, max(0, samples - out.shape[1]))))[:, :samples]


def amplify(audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """``audio`` ``(channels, samples)`` through a random :func:`amp_chain`; same shape out, peak 0.5."""
    out = np.nan_to_num(_fit(pb.Pedalboard(amp_chain(rng))(audio, sample_rate), audio.shape[1]))
    peak = float(np.abs(out).max())
    return (out / peak * 0.5 if peak > 0 else out).astype(np.float32)


def random_chain(stem: str, rng: np.random.Generator, heavy: bool = False) -> pb.Pedalboard:
    """A random, plausible mixing chain for one stem class; ``heavy`` adds :func:`heavy_chain` first.

    Without ``heavy`` the draws are those of earlier releases, so a seed makes the same songs.
    """
    base = [*_colour(stem, rng), *_eq(rng), *_dynamics(rng), *_space(rng)]
    return pb.Pedalboard([*heavy_chain(stem, rng), *base] if heavy else base)


def augment(audio: np.ndarray, stem: str, sample_rate: int, rng: np.random.Generator, heavy: bool = False) -> np.ndarray:
    """Run ``audio`` ``(channels, samples)`` through a random chain; same shape out."""
    out = _fit(random_chain(stem, rng, heavy)(audio, sample_rate), audio.shape[1])
    return np.nan_to_num(out).astype(np.float32)


def pan(audio: np.ndarray, position: float) -> np.ndarray:
    """Constant-power pan of ``(2, samples)`` audio; ``position`` in [-1 (left), 1 (right)]."""
    angle = (position + 1) * np.pi / 4
    mono = audio.mean(axis=0)
    return np.stack([mono * np.cos(angle), mono * np.sin(angle)]).astype(np.float32) * np.sqrt(2)
