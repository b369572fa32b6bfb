"""Make a song's stems sound like a finished production, keeping the stems as targets.

``produce`` runs per-stem colour (saturation, lo-fi damage, EQ, width, pan),
shared rooms, a bus EQ, bus compression, a loudness target and a lookahead
limiter. Whatever a stage does to the mix is done to the stems instead, so the
sum of the returned stems is exactly the produced mix:

* linear stages (EQ, rooms) run per stem, because filtering the sum equals
  summing the filtered stems;
* the bus compressor and the limiter compute one gain curve ``(samples,)`` from
  the mix and multiply every stem by it, so the stems pump together;
* non-linear stages (saturation, codecs) run on single stems only; a stem's
  damaged version is its target.

Audio is ``(channels, samples)`` float32 throughout, stems ``(n_slots, 2, samples)``.
Every random choice comes from the ``rng`` passed in, so a seed gives the same song.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypedDict

import numpy as np
import pedalboard as pb
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import fftconvolve, lfilter, resample_poly

_EPS = 1e-12
Damage = Callable[[np.ndarray, int], np.ndarray]  # a pedalboard plugin or a function like it
# Sample rates that pedalboard's MP3 encoder (LAME) accepts.
_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


@dataclass(frozen=True)
class Odds:
    """Probability of each stage: per stem for saturation, lofi, eq, width and room_send; per song for the rest."""

    saturation: float = 0.25
    lofi: float = 0.1
    eq: float = 0.5
    width: float = 0.6
    room: float = 0.6
    room_send: float = 0.75  # each stem's chance to be sent to a room, once the song has rooms
    bus_eq: float = 0.5
    bus_compression: float = 0.5


def produce(stems: np.ndarray, present: np.ndarray, sample_rate: int, rng: np.random.Generator, odds: Odds | None = None) -> np.ndarray:
    """Produce a song: ``stems (n_slots, 2, samples)`` float32, absent slots zeros -> the same shape.

    ``present (n_slots,)`` bool marks the sources; absent slots stay exactly zero.
    The produced mixture is exactly ``out.sum(axis=0)``: its RMS is drawn from
    -30 to -8 dBFS and its peaks are limited to at most 0 dBFS.

    Raises:
        ValueError: if ``stems`` is not ``(n_slots, 2, samples)`` or ``present`` does not match it.
    """
    _check(stems, present)
    odds = odds or Odds()
    out = stems.astype(np.float32, copy=True)
    live = [int(i) for i in np.flatnonzero(present) if np.any(out[i])]
    if not live:
        return out
    for i in live:
        out[i] = _colour(out[i], sample_rate, rng, odds)
    if rng.random() < odds.room:
        _rooms(out, live, sample_rate, rng, odds.room_send)
    if rng.random() < odds.bus_eq:
        out[live] = apply_linear(tilt_eq(rng), out[live], sample_rate)
    if rng.random() < odds.bus_compression:
        out *= bus_gain(out.sum(axis=0), sample_rate, **_compressor_settings(rng))
    return _master(out, sample_rate, rng)


def _check(stems: np.ndarray, present: np.ndarray) -> None:
    if stems.ndim != 3 or stems.shape[1] != 2:
        raise ValueError(f"Value received for parameter 'stems' has shape {stems.shape}; expected (n_slots, 2, samples)")
    if present.shape != (stems.shape[0],):
        raise ValueError(f"Value received for parameter 'present' has shape {present.shape}; expected ({stems.shape[0]},), one per slot")


def _colour(audio: np.ndarray, sample_rate: int, rng: np.random.Generator, odds: Odds) -> np.ndarray:
    """One stem's own chain: saturation, lo-fi damage, EQ tilt, width and pan. ``(2, samples)`` in and out."""
    if rng.random() < odds.saturation:
        audio = saturate(audio, drive_db=rng.uniform(0, 18), bias=rng.uniform(0, 0.3), mix=rng.uniform(0.3, 1))
    if rng.random() < odds.lofi:
        audio = _at_full_scale(_lofi(sample_rate, rng), audio, sample_rate)
    if rng.random() < odds.eq:
        audio = apply_linear(tilt_eq(rng), audio, sample_rate)
    if rng.random() < odds.width:
        width = 0.0 if rng.random() < 0.2 else rng.uniform(0, 1.5)
        gains = pan_gains(rng.uniform(-0.8, 0.8), law_db=float(rng.choice([0.0, -3.0, -4.5, -6.0])))
        audio = stereo_width(audio, width) * gains[:, None]
    return audio.astype(np.float32)


# ---- per-stem non-linear colour -------------------------------------------------


def saturate(audio: np.ndarray, drive_db: float, bias: float = 0.0, mix: float = 1.0) -> np.ndarray:
    """Tanh saturation of ``(channels, samples)`` audio, level-independent.

    The audio is scaled to peak 1, driven by ``drive_db`` (dB) into ``tanh``,
    ``bias`` adds even harmonics (0 = symmetric), ``mix`` (0…1) blends with the dry
    signal; the peak level is restored. Silence stays silence.
    """
    peak = float(np.abs(audio).max())
    if peak == 0:
        return audio
    drive = 10 ** (drive_db / 20)
    x = audio / peak
    wet = (np.tanh(drive * x + bias) - np.tanh(bias)) / np.tanh(drive)
    return ((mix * wet + (1 - mix) * x) * peak).astype(np.float32)


def _lofi(sample_rate: int, rng: np.random.Generator) -> Damage:
    """One random codec-like damage: MP3, GSM, bit crushing or band limiting by resampling."""
    kinds = ["gsm", "bits", "band"] + (["mp3"] if sample_rate in _MP3_RATES else [])
    kind = kinds[int(rng.integers(len(kinds)))]
    if kind == "mp3":
        return pb.MP3Compressor(vbr_quality=float(rng.uniform(3, 9.5)))
    if kind == "gsm":
        return pb.GSMFullRateCompressor()
    if kind == "bits":
        return pb.Bitcrush(bit_depth=float(rng.uniform(5, 12)))
    return functools.partial(band_limit, factor=int(rng.integers(2, 9)))


def band_limit(audio: np.ndarray, sample_rate: int, factor: int = 4) -> np.ndarray:
    """Resample ``(channels, samples)`` audio down by an integer ``factor`` and back up: nothing above ``sample_rate / 2 / factor`` Hz.

    ``sample_rate`` is unused; it keeps the plugin call signature.
    """
    down = resample_poly(audio, 1, factor, axis=-1)
    return resample_poly(down, factor, 1, axis=-1)[:, : audio.shape[-1]].astype(np.float32)


def _at_full_scale(plugin: Damage, audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Run ``plugin`` on ``audio`` scaled to peak 1 (codecs and crushers depend on level); same shape out."""
    peak = float(np.abs(audio).max())
    out = plugin((audio / peak).astype(np.float32), sample_rate)[:, : audio.shape[1]]
    out = np.pad(out, ((0, 0), (0, audio.shape[1] - out.shape[1])))
    return np.nan_to_num(out * peak).astype(np.float32)


# ---- linear colour: EQ, width, pan ----------------------------------------------


def tilt_eq(rng: np.random.Generator) -> pb.Pedalboard:
    """A random spectral tilt of -6…6 dB around a 200…4000 Hz pivot, sometimes with a rumble filter."""
    tilt = float(rng.uniform(-6, 6))
    pivot = float(np.exp(rng.uniform(np.log(200), np.log(4000))))
    plugins: list[pb.Plugin] = [
        pb.LowShelfFilter(cutoff_frequency_hz=pivot, gain_db=-tilt / 2, q=0.5),
        pb.HighShelfFilter(cutoff_frequency_hz=pivot, gain_db=tilt / 2, q=0.5),
    ]
    if rng.random() < 0.3:
        plugins.append(pb.HighpassFilter(cutoff_frequency_hz=float(rng.uniform(20, 120))))
    return pb.Pedalboard(plugins)


def apply_linear(board: pb.Pedalboard, audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Run a linear ``board`` on ``(..., 2, samples)`` audio, all channels at once (same filter on each)."""
    flat = np.ascontiguousarray(audio.reshape(-1, audio.shape[-1]), dtype=np.float32)
    return board(flat, sample_rate).reshape(audio.shape)


def stereo_width(audio: np.ndarray, width: float) -> np.ndarray:
    """Scale the side signal of ``(2, samples)`` audio by ``width`` (0 = mono, 1 = unchanged, up to 1.5 = wider)."""
    mid, side = (audio[0] + audio[1]) / 2, (audio[0] - audio[1]) / 2 * width
    return np.stack([mid + side, mid - side])


def pan_gains(position: float, law_db: float = -3.0) -> np.ndarray:
    """Left/right gains ``(2,)`` of a balance pan; ``position`` -1 (left) … 1 (right).

    ``law_db`` is the centre level relative to hard pan: 0 (balance: the near side
    stays at 1), -3 (constant power), -4.5 or -6 (constant amplitude). Gains are
    normalised so the centre is unity.
    """
    sides = np.array([1 - position, 1 + position])
    if law_db == 0:
        return np.minimum(1.0, sides)
    return sides ** (law_db / (20 * np.log10(0.5)))


# ---- rooms ------------------------------------------------------------------------


def room_impulse(
    sample_rate: int, rng: np.random.Generator, rt60_s: float, predelay_s: float = 0.0, damping_hz: float = 6000
) -> np.ndarray:
    """A synthetic stereo room response ``(2, samples)`` float32, unit energy per channel.

    Exponentially decaying noise (-60 dB after ``rt60_s`` seconds), low-passed at
    ``damping_hz`` (Hz), after ``predelay_s`` seconds of silence and a handful of
    early reflections; left and right use independent noise, so the tails differ.
    """
    n_tail = max(1, int(rt60_s * sample_rate))
    t = np.arange(n_tail) / sample_rate
    noise = rng.standard_normal((2, n_tail)) * np.exp(-6.91 * t / rt60_s)
    pole = np.exp(-2 * np.pi * damping_hz / sample_rate)
    tail = lfilter([1 - pole], [1, -pole], noise, axis=-1)
    for channel in tail:  # early reflections: sparse taps within the first 40 ms
        taps = rng.integers(0, min(n_tail, int(0.04 * sample_rate)), size=int(rng.integers(4, 12)))
        channel[taps] += rng.uniform(-1, 1, size=len(taps)) * np.sqrt(np.sum(channel**2) / 40)
    tail /= np.sqrt(np.sum(tail**2, axis=-1, keepdims=True)) + _EPS
    return np.pad(tail, ((0, 0), (int(predelay_s * sample_rate), 0))).astype(np.float32)


def reverberate(audio: np.ndarray, impulse: np.ndarray) -> np.ndarray:
    """The wet signal of ``audio (..., 2, samples)`` through ``impulse (2, ir_samples)``: same shape, tail cut.

    Each stem's mid signal feeds both channels' responses, as in most stereo reverbs.
    """
    mid = audio.mean(axis=-2, keepdims=True)
    impulse = impulse.reshape((1,) * (audio.ndim - 2) + impulse.shape)
    return fftconvolve(mid, impulse, axes=-1)[..., : audio.shape[-1]].astype(np.float32)


def _rooms(out: np.ndarray, live: list[int], sample_rate: int, rng: np.random.Generator, send_odds: float) -> None:
    """Add one or two shared rooms to the ``live`` stems of ``out (n_slots, 2, samples)``, in place."""
    n_rooms = int(rng.integers(1, 3))
    choice = [int(rng.integers(n_rooms)) if rng.random() < send_odds else -1 for _ in live]
    for room in range(n_rooms):
        rt60 = float(np.exp(rng.uniform(np.log(0.2), np.log(2.5))))
        impulse = room_impulse(sample_rate, rng, rt60, predelay_s=rng.uniform(0, 0.06), damping_hz=rng.uniform(2000, 12000))
        wet_level = 10 ** (rng.uniform(-12, -3) / 20)  # the room's return fader
        members = [i for i, c in zip(live, choice, strict=True) if c == room]
        if not members:
            continue
        sends = 10 ** (rng.uniform(-15, 0, size=len(members)) / 20)
        out[members] += reverberate(out[members], impulse) * (wet_level * sends)[:, None, None].astype(np.float32)


# ---- bus dynamics -------------------------------------------------------------


class CompressorSettings(TypedDict):
    """Keyword arguments of ``bus_gain``: dB, ratio, milliseconds."""

    threshold_db: float
    ratio: float
    attack_ms: float
    release_ms: float
    knee_db: float


def _compressor_settings(rng: np.random.Generator) -> CompressorSettings:
    return {
        "threshold_db": float(rng.uniform(-10, 4)),
        "ratio": float(np.exp(rng.uniform(np.log(1.5), np.log(10)))),
        "attack_ms": float(np.exp(rng.uniform(np.log(0.5), np.log(40)))),
        "release_ms": float(np.exp(rng.uniform(np.log(40), np.log(600)))),
        "knee_db": float(rng.uniform(0, 8)),
    }


def bus_gain(
    mix: np.ndarray,
    sample_rate: int,
    threshold_db: float = 0.0,
    ratio: float = 4.0,
    attack_ms: float = 10.0,
    release_ms: float = 150.0,
    knee_db: float = 0.0,
    relative: bool = True,
) -> np.ndarray:
    """A feed-forward RMS compressor's gain ``(samples,)`` (linear, <= 1) for ``mix (channels, samples)``.

    The level (mean square over channels, in 0.5 ms blocks, dB) is smoothed with
    one-pole ``attack_ms`` / ``release_ms`` ballistics; above ``threshold_db`` it is
    reduced by ``ratio`` with a soft knee ``knee_db`` wide. With ``relative`` the
    threshold is relative to the RMS of the whole mix (dB), else dBFS.
    """
    block = max(1, sample_rate // 2000)
    n_blocks = -(-mix.shape[-1] // block)
    power = np.pad(np.mean(mix.astype(np.float64) ** 2, axis=0), (0, n_blocks * block - mix.shape[-1]))
    level = 10 * np.log10(power.reshape(n_blocks, block).mean(axis=1) + _EPS)
    if relative:
        threshold_db += 10 * np.log10(np.mean(mix.astype(np.float64) ** 2) + _EPS)
    smooth = _ballistics(level, attack_ms * sample_rate / 1000 / block, release_ms * sample_rate / 1000 / block)
    reduction = _gain_computer(smooth - threshold_db, ratio, knee_db)
    centres = (np.arange(n_blocks) + 0.5) * block
    return 10 ** (np.interp(np.arange(mix.shape[-1]), centres, reduction) / 20)


def _ballistics(level: np.ndarray, attack: float, release: float) -> np.ndarray:
    """One-pole smoothing of ``level (n,)``, rising with time constant ``attack`` and falling with ``release`` (in steps)."""
    rise, fall = np.exp(-1 / max(attack, _EPS)), np.exp(-1 / max(release, _EPS))
    out = np.empty_like(level)
    state = float(level[0]) if len(level) else 0.0
    for k, x in enumerate(level.tolist()):
        coef = rise if x > state else fall
        state = coef * state + (1 - coef) * x
        out[k] = state
    return out


def _gain_computer(over_db: np.ndarray, ratio: float, knee_db: float) -> np.ndarray:
    """Gain change (dB, <= 0) for a level ``over_db`` above threshold, with a quadratic soft knee."""
    slope = 1 / ratio - 1
    if knee_db <= 0:
        return slope * np.maximum(over_db, 0)
    inside = slope * (over_db + knee_db / 2) ** 2 / (2 * knee_db)
    return np.where(over_db <= -knee_db / 2, 0.0, np.where(over_db >= knee_db / 2, slope * over_db, inside))


def limiter_gain(
    mix: np.ndarray, sample_rate: int, ceiling_db: float = -0.3, lookahead_ms: float = 5.0, release_ms: float = 80.0
) -> np.ndarray:
    """A lookahead brickwall limiter's gain ``(samples,)`` for ``mix (channels, samples)``.

    ``mix * gain`` never exceeds ``ceiling_db`` (dBFS). The gain ramps down over
    ``lookahead_ms`` before a peak and recovers by 20 dB per ``release_ms``.
    """
    ceiling = 10 ** (ceiling_db / 20)
    peak = np.abs(mix).max(axis=0).astype(np.float64)
    target = np.minimum(1.0, ceiling / np.maximum(peak, _EPS))
    size = int(lookahead_ms * sample_rate / 1000) + 1
    ahead = minimum_filter1d(target, size, origin=-(size // 2), mode="nearest")  # min over [n, n + size)
    ramp = uniform_filter1d(ahead, size, origin=(size - 1) // 2, mode="nearest")  # mean over (n - size, n]
    gain_db = _release(20 * np.log10(ramp), 20 / max(release_ms * sample_rate / 1000, _EPS))
    return np.minimum(10 ** (gain_db / 20), target)


def _release(gain_db: np.ndarray, rate: float) -> np.ndarray:
    """Let ``gain_db (n,)`` fall at once but rise by at most ``rate`` dB per sample: min over j <= n of g[j] + rate (n - j)."""
    ramp = rate * np.arange(len(gain_db))
    return np.minimum.accumulate(gain_db - ramp) + ramp


# ---- mastering -------------------------------------------------------------------


def _rms_db(audio: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(audio.astype(np.float64) ** 2) + _EPS))


def _master(out: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Bring the mix of ``out (n_slots, 2, samples)`` to a random loudness, then limit it; gains shared by all stems."""
    mix = out.sum(axis=0)
    if not np.any(mix):
        return out
    target_db = rng.uniform(-30, -8)
    settings = {"ceiling_db": rng.uniform(-1, 0), "lookahead_ms": rng.uniform(1, 8), "release_ms": rng.uniform(20, 300)}
    boost = 10 ** ((target_db - _rms_db(mix)) / 20)
    for _ in range(2):  # a second pass makes up for the loudness the limiter took
        gain = boost * limiter_gain(mix * boost, sample_rate, **settings)
        shortfall_db = target_db - _rms_db(mix * gain)
        if shortfall_db < 0.5:
            break
        boost *= 10 ** (min(6.0, shortfall_db) / 20)
    return (out * gain.astype(np.float32)).astype(np.float32)
