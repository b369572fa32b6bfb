"""Band-limited and lo-fi versions of training mixtures (issue 18, item 5).

Old records, phone recordings, samples and low-rate files reach the network without their top
octaves, often in mono. Trained only on full-band stereo, the drums class learns to hang on cymbals
and snare noise above 4 kHz: a low-passed song then gets a near-silent drums stem. Here a share of the
training mixtures goes through one or more of

- a low-pass at a random 3–8 kHz (Butterworth, order 2, 4 or 8, like ``sox lowpass``),
- a trip through a lower sample rate (8–22 kHz, polyphase resampling down and back up),
- mono (both channels replaced by their mean).

Each is a linear operation, and the *same* one is applied to every source of the example, so the
sources still sum exactly to the (band-limited) mixture and the training targets stay true: the drums
of a low-passed song are the low-passed drums, and the network is asked to find them there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import gcd
from typing import TYPE_CHECKING

import numpy as np
from scipy import signal

if TYPE_CHECKING:
    from separator.training.data.mix import Batch

LOWPASS_HZ = (3000.0, 8000.0)
RESAMPLE_HZ = (8000, 22050)


@dataclass
class LofiSettings:
    """What :func:`band_limit` drew for one example (for tests and logs)."""

    lowpass_hz: float | None = None
    order: int = 0
    rate_hz: int | None = None
    mono: bool = False
    ops: list[str] = field(default_factory=list)


def draw_settings(rng: np.random.Generator, sample_rate: int) -> LofiSettings:
    """At least one of low-pass (p 0.6), resampling (p 0.4) and mono (p 0.4)."""
    s = LofiSettings()
    while not s.ops:
        if rng.random() < 0.6:
            s.lowpass_hz = float(rng.uniform(*LOWPASS_HZ))
            s.order = int(rng.choice([2, 4, 8]))
            s.ops.append("lowpass")
        if rng.random() < 0.4:
            rate = int(round(rng.uniform(*RESAMPLE_HZ) / 100) * 100)
            if rate < sample_rate:
                s.rate_hz = rate
                s.ops.append("resample")
        if rng.random() < 0.4:
            s.mono = True
            s.ops.append("mono")
    return s


def lowpass(audio: np.ndarray, cutoff_hz: float, sample_rate: int, order: int = 4) -> np.ndarray:
    """Butterworth low-pass along the last axis (every channel and source alike)."""
    sos = signal.butter(order, min(cutoff_hz, 0.45 * sample_rate), btype="low", fs=sample_rate, output="sos")
    return signal.sosfilt(sos, audio, axis=-1).astype(np.float32)


def resample_through(audio: np.ndarray, rate_hz: int, sample_rate: int) -> np.ndarray:
    """Down to ``rate_hz`` and back up (polyphase, Kaiser window), same length out."""
    g = gcd(int(rate_hz), int(sample_rate))
    up, down = int(rate_hz) // g, int(sample_rate) // g
    low = signal.resample_poly(audio, up, down, axis=-1)
    back = signal.resample_poly(low, down, up, axis=-1)
    n = audio.shape[-1]
    if back.shape[-1] < n:
        back = np.pad(back, [(0, 0)] * (back.ndim - 1) + [(0, n - back.shape[-1])])
    return back[..., :n].astype(np.float32)


def to_mono(audio: np.ndarray) -> np.ndarray:
    """``(..., 2, samples)``: both channels become their mean."""
    mean = audio.mean(axis=-2, keepdims=True)
    return np.broadcast_to(mean, audio.shape).astype(np.float32)


def band_limit(sources: np.ndarray, sample_rate: int, settings: LofiSettings) -> np.ndarray:
    """Apply ``settings`` to ``sources (n_sources, 2, samples)``; the same operation for every source."""
    out = np.asarray(sources, np.float32)
    if settings.rate_hz:
        out = resample_through(out, settings.rate_hz, sample_rate)
    if settings.lowpass_hz:
        out = lowpass(out, settings.lowpass_hz, sample_rate, settings.order)
    if settings.mono:
        out = to_mono(out)
    return np.ascontiguousarray(out, dtype=np.float32)


def lofi_batch(batch: Batch, rng: np.random.Generator, share: float, sample_rate: int) -> list[int]:
    """Make a ``share`` of ``batch``'s examples band-limited / lo-fi, in place.

    Absent sources (zeros) stay zeros. When the batch carries cached source powers
    (``StemBank.draw(powers=True)``), the changed examples' powers are computed again from their new
    waveforms, so the targets are exact. Returns the indices of the changed examples.
    """
    from separator.training.data.mix import source_band_power

    changed = [b for b in range(len(batch.sources)) if rng.random() < share]
    for b in changed:
        settings = draw_settings(rng, sample_rate)
        live = np.abs(batch.sources[b]).reshape(len(batch.sources[b]), -1).max(-1) > 0
        batch.sources[b, live] = band_limit(batch.sources[b, live], sample_rate, settings)
        if batch.powers is not None:
            batch.powers[b] = 0.0
            if live.any():
                batch.powers[b, live] = source_band_power(batch.sources[b, live], sample_rate)
    return changed
