"""The production stage makes mixes that sound produced while the stems still sum to the mix."""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest

from separator.training.data.production import (
    Odds,
    apply_linear,
    band_limit,
    bus_gain,
    limiter_gain,
    pan_gains,
    produce,
    reverberate,
    room_impulse,
    saturate,
    stereo_width,
    tilt_eq,
)

SR = 44100
EVERYTHING = Odds(saturation=1, lofi=1, eq=1, width=1, room=1, room_send=1, bus_eq=1, bus_compression=1)
ONLY_BUS_COMPRESSION = Odds(saturation=0, lofi=0, eq=0, width=0, room=0, room_send=0, bus_eq=0, bus_compression=1)


@functools.lru_cache(maxsize=8)
def _song(seconds: float = 1.0, sample_rate: int = SR) -> tuple[np.ndarray, np.ndarray]:
    """Five stereo stems ``(5, 2, samples)`` (slot 2 absent): tones, noise bursts, a click track."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    stems = np.zeros((5, 2, len(t)), np.float32)
    stems[0] = 0.2 * np.sin(2 * np.pi * 110 * t)
    stems[1] = 0.1 * rng.standard_normal((2, len(t))) * (np.sin(2 * np.pi * 2 * t) > 0)
    stems[3] = 0.15 * np.sin(2 * np.pi * np.array([[440.0], [660.0]]) * t)
    stems[4, :, :: sample_rate // 8] = 0.9
    present = np.array([True, True, False, True, True])
    return stems, present


def _burst(quiet: float = 0.01, loud: float = 0.5, start_s: float = 1.0, stop_s: float = 1.5, seconds: float = 2.5) -> np.ndarray:
    """``(2, samples)`` 1 kHz sine at ``quiet`` amplitude with a ``loud`` stretch from ``start_s`` to ``stop_s``."""
    t = np.arange(int(seconds * SR)) / SR
    amplitude = np.where((t >= start_s) & (t < stop_s), loud, quiet)
    return np.tile(amplitude * np.sin(2 * np.pi * 1000 * t), (2, 1)).astype(np.float32)


@pytest.mark.parametrize("sample_rate", [22050, 44100, 48000])
def test_produce_returns_finite_float32_stems_of_the_input_shape(sample_rate: int) -> None:
    stems, present = _song(sample_rate=sample_rate)
    for seed in range(3):
        out = produce(stems, present, sample_rate, np.random.default_rng(seed), EVERYTHING)
        assert out.shape == stems.shape and out.dtype == np.float32
        assert np.all(np.isfinite(out))
        assert not np.allclose(out, stems)


def test_absent_slots_stay_exactly_zero_through_every_stage() -> None:
    stems, present = _song()
    for seed in range(3):
        out = produce(stems, present, SR, np.random.default_rng(seed), EVERYTHING)
        assert np.all(out[2] == 0)
        assert all(np.any(out[i]) for i in (0, 1, 3, 4))


def test_produce_is_reproducible_from_the_seed_and_differs_for_another() -> None:
    stems, present = _song()
    first = produce(stems, present, SR, np.random.default_rng(5))
    again = produce(stems, present, SR, np.random.default_rng(5))
    other = produce(stems, present, SR, np.random.default_rng(6))
    assert np.array_equal(first, again)
    assert not np.allclose(first, other)


def test_produced_mixes_span_quiet_to_loud_with_peaks_under_full_scale() -> None:
    stems, present = _song()
    levels = []
    for seed in range(12):
        mix = produce(stems, present, SR, np.random.default_rng(seed), EVERYTHING).sum(axis=0)
        assert np.abs(mix).max() <= 1.0 + 1e-5
        levels.append(10 * np.log10(np.mean(mix.astype(np.float64) ** 2)))
    assert -31 <= min(levels) and max(levels) <= -7
    assert max(levels) - min(levels) > 8


def test_bus_compression_multiplies_every_stem_by_one_shared_time_varying_gain() -> None:
    stems, present = _song()
    stems = stems.copy()
    stems[1] *= 8  # loud noise bursts that make the whole bus pump
    out = produce(stems, present, SR, np.random.default_rng(0), ONLY_BUS_COMPRESSION)
    audible = (np.abs(stems[0, 0]) > 1e-2) & (np.abs(stems[3, 0]) > 1e-2)
    ratio_bass, ratio_keys = out[0, 0, audible] / stems[0, 0, audible], out[3, 0, audible] / stems[3, 0, audible]
    np.testing.assert_allclose(ratio_bass, ratio_keys, rtol=1e-4)
    assert ratio_bass.max() / ratio_bass.min() > 1.3  # the gain moves: pumping, not a fixed level
    bursts = (np.arange(stems.shape[-1]) % (SR // 2) < SR // 4)[audible]
    assert ratio_bass[bursts].mean() < ratio_bass[~bursts].mean()  # ducked while the noise plays


def test_bus_gain_leaves_quiet_parts_and_ducks_a_loud_burst_with_attack_and_release() -> None:
    mix = _burst()
    gain = bus_gain(mix, SR, threshold_db=-20, ratio=4, attack_ms=10, release_ms=150, relative=False)
    at = lambda seconds: float(gain[int(seconds * SR)])  # noqa: E731
    assert gain.shape == (mix.shape[1],)
    assert at(0.5) == pytest.approx(1.0)  # quiet, far below threshold
    assert at(1.002) > 0.9  # the attack has not caught the burst yet
    steady = 10 ** ((1 / 4 - 1) * (20 * np.log10(0.5 / np.sqrt(2)) + 20) / 20)
    assert at(1.4) == pytest.approx(steady, rel=0.05)  # the 4:1 static curve
    assert at(1.5 + 0.02) < 0.8  # still held down during the release
    recovering = gain[int(1.5 * SR) : int(1.7 * SR)]
    assert np.all(np.diff(recovering) >= -1e-9)
    assert at(2.3) == pytest.approx(1.0)
    faster = bus_gain(mix, SR, threshold_db=-20, ratio=4, attack_ms=10, release_ms=30, relative=False)
    assert faster[int(1.52 * SR)] > at(1.52)


def test_limiter_keeps_peaks_under_the_ceiling_and_starts_before_the_peak() -> None:
    mix = 0.1 * np.random.default_rng(0).standard_normal((2, SR)).astype(np.float32)
    mix[:, SR // 2] = 3.0
    gain = limiter_gain(mix, SR, ceiling_db=-1, lookahead_ms=5, release_ms=50)
    assert np.abs(mix * gain).max() <= 10 ** (-1 / 20) + 1e-6
    assert gain[SR // 2 - int(0.0025 * SR)] < 1  # the lookahead ramps down before the peak
    assert gain[SR // 2 - int(0.02 * SR)] == 1.0
    assert gain[SR // 2 + int(0.05 * SR)] == 1.0  # 10 dB recovered within one release time


def test_a_room_adds_a_decaying_stereo_tail_after_a_click() -> None:
    click = np.zeros((2, SR), np.float32)
    click[:, 1000] = 1.0
    impulse = room_impulse(SR, np.random.default_rng(0), rt60_s=0.5, predelay_s=0.01)
    wet = reverberate(click, impulse)
    assert wet.shape == click.shape and np.abs(wet[:, :1000]).max() < 1e-6
    window = int(0.1 * SR)
    energy = [float(np.sum(wet[:, 1000 + k * window : 1000 + (k + 1) * window] ** 2)) for k in range(1, 5)]
    assert all(a > b for a, b in itertools.pairwise(energy))
    decay_db = 10 * np.log10(energy[0] / energy[2]) / 0.2  # dB per second
    assert decay_db == pytest.approx(60 / 0.5, rel=0.3)
    assert not np.allclose(wet[0], wet[1])  # left and right tails differ


def test_width_zero_makes_left_equal_right_and_one_leaves_the_image() -> None:
    audio = np.random.default_rng(0).standard_normal((2, 1000)).astype(np.float32)
    assert np.array_equal(stereo_width(audio, 0.0)[0], stereo_width(audio, 0.0)[1])
    np.testing.assert_allclose(stereo_width(audio, 1.0), audio, atol=1e-6)


@pytest.mark.parametrize("law_db", [0.0, -3.0, -4.5, -6.0])
def test_pan_law_sets_the_centre_level_relative_to_hard_pan(law_db: float) -> None:
    np.testing.assert_allclose(pan_gains(0.0, law_db), [1.0, 1.0])
    hard_left = pan_gains(-1.0, law_db)
    assert hard_left[1] == 0
    assert 20 * np.log10(1 / hard_left[0]) == pytest.approx(law_db, abs=0.01)


def test_eq_on_each_stem_sums_to_the_same_eq_on_the_mix() -> None:
    stems, _ = _song()
    board = tilt_eq(np.random.default_rng(3))
    per_stem = apply_linear(board, stems, SR).sum(axis=0)
    on_mix = apply_linear(board, stems.sum(axis=0), SR)
    np.testing.assert_allclose(per_stem, on_mix, atol=1e-4)


def test_saturation_flattens_peaks_and_keeps_silence_silent() -> None:
    tone = _burst(quiet=0.3, loud=0.3, seconds=0.1)
    driven = saturate(tone, drive_db=18)
    assert np.abs(driven).max() == pytest.approx(0.3, rel=1e-3)
    assert np.sqrt(np.mean(driven**2)) > 1.2 * np.sqrt(np.mean(tone**2))  # lower crest factor
    assert np.all(saturate(np.zeros((2, 100), np.float32), drive_db=18) == 0)


def test_band_limit_removes_content_above_the_new_nyquist_and_keeps_the_rest() -> None:
    t = np.arange(SR // 2) / SR
    low, high = (np.tile(np.sin(2 * np.pi * f * t), (2, 1)).astype(np.float32) for f in (1000, 10000))
    assert band_limit(high, SR, factor=4).shape == high.shape
    assert np.sqrt(np.mean(band_limit(high, SR, factor=4)[:, 1000:-1000] ** 2)) < 0.01
    np.testing.assert_allclose(band_limit(low, SR, factor=4)[:, 1000:-1000], low[:, 1000:-1000], atol=0.01)


def test_produce_names_the_parameter_with_a_wrong_shape() -> None:
    with pytest.raises(ValueError, match="'stems' has shape \\(5, 1000\\)"):
        produce(np.zeros((5, 1000), np.float32), np.ones(5, bool), SR, np.random.default_rng(0))
    with pytest.raises(ValueError, match="'present'"):
        produce(np.zeros((5, 2, 1000), np.float32), np.ones(4, bool), SR, np.random.default_rng(0))
