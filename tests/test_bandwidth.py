"""Band-limited input: the network hears its dead top bands filled, and a low-passed drum kit keeps its drums."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.signal import butter, sosfilt

from separator import Separator
from separator.bandwidth import LIVE_DB, MAX_EDGE_HZ, extend_bands, last_live_band
from separator.features import FLOOR_DB, band_edges_hz
from separator.training.metrics import si_sdr_improvement

RATE = 44100


def test_the_last_live_band_is_the_highest_within_reach_of_the_loudest() -> None:
    peak = torch.full((128,), -20.0)
    assert last_live_band(peak) is None  # full band: nothing to fill
    peak[71:] = -20.0 - LIVE_DB - 1  # dead from band 71 (4.0 kHz) up, as after a 3.8 kHz low-pass
    assert last_live_band(peak) == 70
    peak[71:] = FLOOR_DB  # nothing at all: an 8-kHz file's top half
    assert last_live_band(peak) == 70


def test_tracks_that_stop_above_eight_khz_are_heard_as_they_are() -> None:
    upper_edges = band_edges_hz(44100)[1:]
    last_filled = int((upper_edges <= MAX_EDGE_HZ).sum()) - 1
    peak = torch.full((128,), FLOOR_DB)
    peak[: last_filled + 1] = -20.0
    assert last_live_band(peak) == last_filled
    peak[last_filled + 1] = -30.0  # one more live band: it reaches past 8 kHz (samples recorded at 16-22 kHz)
    assert last_live_band(peak) is None


def test_dead_bands_hear_the_last_live_band_a_little_quieter_per_band_and_its_cues() -> None:
    feats = torch.full((2, 10), FLOOR_DB)
    feats[:, :6] = torch.tensor([[-30.0, -31, -32, -33, -34, -35], [-40, -41, -42, -43, -44, -99.5]])
    cues = torch.zeros(2, 10, 3)
    cues[:, 5] = torch.tensor([0.5, 0.9, 0.1])
    new_feats, new_cues = extend_bands(feats, cues, top=5, slope_db=0.25)
    assert new_feats[0, 6:].tolist() == [-35.25, -35.5, -35.75, -36.0]
    assert new_feats[1, 6:].tolist() == [-99.75, -100.0, -100.0, -100.0]  # never under the floor
    assert torch.equal(new_feats[:, :6], feats[:, :6]) and torch.equal(new_cues[:, 6:], cues[:, 5:6].expand(2, 4, 3))
    assert float(feats[0, 6]) == FLOOR_DB  # the caller's features are left as they were
    assert extend_bands(feats, None, top=5, slope_db=1.0)[1] is None


def _kit_and_bass(seconds: float = 8.0) -> tuple[np.ndarray, np.ndarray]:
    """A synthesised kick / noise snare / hat groove and a low-passed sawtooth bass at 120 BPM, mono ``(n,)`` each."""
    rng = np.random.default_rng(0)
    n, beat = int(seconds * RATE), RATE // 2
    drums, bass = np.zeros(n), np.zeros(n)
    t = np.arange(int(0.35 * RATE)) / RATE
    kick = np.sin(2 * np.pi * np.cumsum(50 + 100 * np.exp(-t / 0.03)) / RATE) * np.exp(-t / 0.12)
    hp = butter(4, 7000, "hp", fs=RATE, output="sos")
    for b in range(n // beat):
        hit = kick if b % 2 == 0 else 0.5 * rng.standard_normal(int(0.2 * RATE)) * np.exp(-np.arange(int(0.2 * RATE)) / RATE / 0.05)
        drums[b * beat : b * beat + len(hit)] += hit[: n - b * beat]
        hat = 0.3 * sosfilt(hp, rng.standard_normal(2646) * np.exp(-np.arange(2646) / RATE / 0.015))
        drums[b * beat : b * beat + len(hat)] += hat[: n - b * beat]
    for i, f0 in enumerate((41.2, 49.0, 55.0, 36.7) * 4):
        start = i * 2 * beat
        if start >= n:
            break
        tt = np.arange(min(2 * beat, n - start)) / RATE
        bass[start : start + len(tt)] = 0.35 * (2 * ((tt * f0) % 1) - 1)
    bass = sosfilt(butter(2, 1200, "lp", fs=RATE, output="sos"), bass)
    return 0.36 * drums, 0.6 * bass


def _low_passed(x: np.ndarray) -> np.ndarray:
    sos = butter(4, 3800, "lp", fs=RATE, output="sos")
    return sosfilt(sos, sosfilt(sos, x))


@pytest.fixture(scope="module")
def separators() -> dict[float, Separator]:
    """The shipped model without the band fill and with its default (0.25 dB per band).

    Both on the same fixed thread count: left to fit the cores other programs leave free, two splits of
    one input may run on different thread counts and differ in the last bit of a float.
    """
    default = Separator.from_pretrained(threads=2)
    assert default.settings.band_fill == 0.25
    plain = Separator(default.model, settings=default.settings.replace(band_fill=0.0), threads=2)
    return {0.0: plain, 0.25: default}


def _drums_gain(separator: Separator, drums: np.ndarray, bass: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    mix = (drums + bass).astype(np.float32)
    stems = separator.separate(np.stack([mix, mix]), RATE)
    return si_sdr_improvement(stems["drums"].mean(0), drums, mix), stems


def test_a_low_passed_drum_kit_keeps_its_drums(separators: dict[float, Separator]) -> None:
    drums, bass = (_low_passed(x) for x in _kit_and_bass())
    without, _ = _drums_gain(separators[0.0], drums, bass)
    filled, stems = _drums_gain(separators[0.25], drums, bass)
    print(f"low-passed drums: {without:.2f} dB without the band fill, {filled:.2f} dB with it")
    mix = drums + bass
    assert filled > max(0.0, without + 3.0), (filled, without)
    # what the network hears changes, not what the masks apply to: the stems still add up to the input
    assert np.abs(sum(stems.values()) - mix).max() < 1e-3


def test_full_band_input_is_split_as_before(separators: dict[float, Separator]) -> None:
    drums, bass = _kit_and_bass(4.0)
    noise = 1e-3 * np.random.default_rng(1).standard_normal(len(drums))  # energy in every band
    _, plain = _drums_gain(separators[0.0], drums + noise, bass)
    _, filled = _drums_gain(separators[0.25], drums + noise, bass)
    for name in plain:
        assert np.array_equal(plain[name], filled[name])
