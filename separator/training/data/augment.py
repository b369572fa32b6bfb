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


def random_chain(stem: str, rng: np.random.Generator) -> pb.Pedalboard:
    """A random, plausible mixing chain for one stem class."""
    return pb.Pedalboard([*_colour(stem, rng), *_eq(rng), *_dynamics(rng), *_space(rng)])


def augment(audio: np.ndarray, stem: str, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Run ``audio`` ``(channels, samples)`` through a random chain; same shape out."""
    out = random_chain(stem, rng)(audio, sample_rate)
    if out.shape[1] != audio.shape[1]:  # latency-compensating plugins may shorten
        out = np.pad(out, ((0, 0), (0, max(0, audio.shape[1] - out.shape[1]))))[:, : audio.shape[1]]
    return np.nan_to_num(out).astype(np.float32)


def pan(audio: np.ndarray, position: float) -> np.ndarray:
    """Constant-power pan of ``(2, samples)`` audio; ``position`` in [-1 (left), 1 (right)]."""
    angle = (position + 1) * np.pi / 4
    mono = audio.mean(axis=0)
    return np.stack([mono * np.cos(angle), mono * np.sin(angle)]).astype(np.float32) * np.sqrt(2)
