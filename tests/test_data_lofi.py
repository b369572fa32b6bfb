"""Band-limited and lo-fi training mixtures (separator.training.data.lofi): the sources still sum to the mixture,
the band limit is real, and the targets are computed from the changed sources."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from separator.features import stft_size
from separator.training.data.lofi import LofiSettings, band_limit, draw_settings, lofi_batch, lowpass, resample_through, to_mono
from separator.training.data.mix import Batch, source_band_power

SR = 44100


def _power_above(audio: np.ndarray, hz: float) -> float:
    spec = np.abs(np.fft.rfft(audio, axis=-1)) ** 2
    freqs = np.fft.rfftfreq(audio.shape[-1], 1 / SR)
    return float(spec[..., freqs > hz].sum() / spec.sum())


def _sources(n: int = 4, samples: int = SR, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = rng.standard_normal((n, 2, samples)).astype(np.float32) * 0.1
    out[:, 1] *= 0.5  # not already mono
    return out


@pytest.mark.parametrize(
    "settings",
    [
        LofiSettings(lowpass_hz=3800.0, order=4, ops=["lowpass"]),
        LofiSettings(rate_hz=8000, ops=["resample"]),
        LofiSettings(mono=True, ops=["mono"]),
        LofiSettings(lowpass_hz=5000.0, order=8, rate_hz=11000, mono=True, ops=["lowpass", "resample", "mono"]),
    ],
)
def test_every_operation_is_the_same_linear_map_on_every_source(settings: LofiSettings) -> None:
    sources = _sources()
    out = band_limit(sources, SR, settings)
    assert out.shape == sources.shape and out.dtype == np.float32
    mixture = band_limit(sources.sum(0, keepdims=True), SR, settings)[0]
    np.testing.assert_allclose(out.sum(0), mixture, atol=1e-4)  # the sources still sum to the mixture


def test_lowpass_and_resampling_remove_the_top_octaves() -> None:
    noise = _sources(1)[0]
    assert _power_above(noise, 5000) > 0.5
    assert _power_above(lowpass(noise, 3800, SR, order=8), 5000) < 1e-3
    low = resample_through(noise, 8000, SR)
    assert low.shape == noise.shape
    assert _power_above(low, 4500) < 1e-3
    mono = to_mono(noise)
    np.testing.assert_array_equal(mono[0], mono[1])


def test_drawn_settings_stay_in_range_and_always_change_something() -> None:
    rng = np.random.default_rng(0)
    draws = [draw_settings(rng, SR) for _ in range(300)]
    assert all(d.ops for d in draws)
    cut = [d.lowpass_hz for d in draws if d.lowpass_hz]
    rates = [d.rate_hz for d in draws if d.rate_hz]
    assert 3000 <= min(cut) and max(cut) <= 8000 and 8000 <= min(rates) and max(rates) <= 22050
    assert {"lowpass", "resample", "mono"} <= {op for d in draws for op in d.ops}


def _batch(n: int = 6, samples: int = SR // 2) -> Batch:
    rng = np.random.default_rng(1)
    sources = np.zeros((n, 6, 2, samples), np.float32)
    sources[:, :3] = rng.standard_normal((n, 3, 2, samples)) * 0.1  # three live sources, three absent
    labels = np.tile(np.array([0, 1, 2, -1, -1, -1]), (n, 1))
    _, hop = stft_size(SR)
    powers = np.stack([source_band_power(s, SR) for s in sources])
    assert powers.shape[2] == samples // hop + 1
    return Batch(sources, labels, powers)


def test_lofi_batch_changes_a_share_of_examples_and_recomputes_their_powers() -> None:
    batch = _batch()
    before = batch.sources.copy(), batch.powers.copy()
    changed = lofi_batch(batch, np.random.default_rng(3), 0.5, SR)
    assert 0 < len(changed) < len(batch.sources)
    for b in range(len(batch.sources)):
        if b in changed:
            assert not np.allclose(batch.sources[b, :3], before[0][b, :3])
        else:
            np.testing.assert_array_equal(batch.sources[b], before[0][b])
            np.testing.assert_array_equal(batch.powers[b], before[1][b])
        assert not batch.sources[b, 3:].any() and not batch.powers[b, 3:].any()  # absent stays absent
        np.testing.assert_allclose(batch.powers[b, :3], source_band_power(batch.sources[b, :3], SR), rtol=1e-4, atol=1e-10)
    assert lofi_batch(batch, np.random.default_rng(3), 0.0, SR) == []


def test_drums_of_a_low_passed_mixture_are_still_the_drums_target() -> None:
    """A kick under a bright pad, low-passed at 3.8 kHz: the kick's bins still belong to the drums group,
    so the network is taught to find drums in band-limited input, not to give them up."""
    from separator.training.train import targets

    samples = SR
    t = np.arange(samples) / SR
    kick = np.zeros(samples, np.float32)
    for start in range(0, samples, SR // 4):
        n = np.arange(min(4000, samples - start))
        kick[start : start + len(n)] = np.sin(2 * np.pi * 60 * n / SR) * np.exp(-n / 800)
    rng = np.random.default_rng(0)
    pad = (0.05 * np.sin(2 * np.pi * 440 * t) + 0.02 * rng.standard_normal(samples)).astype(np.float32)
    sources = np.zeros((1, 6, 2, samples), np.float32)
    sources[0, 0] = kick
    sources[0, 4] = pad
    labels = np.array([[0, -1, -1, -1, 4, -1]])
    batch = Batch(sources, labels, np.stack([source_band_power(s, SR) for s in sources]))
    full = batch.powers.copy()
    assert lofi_batch(batch, rng, 1.0, SR) == [0]
    low = slice(0, 10)  # the lowest mel bands (under ~150 Hz)
    kick_low = batch.powers[0, 0, :, low].sum()
    assert abs(10 * np.log10(kick_low / full[0, 0, :, low].sum())) < 1.0  # the kick survives the band limit
    out = targets(torch.from_numpy(batch.sources), torch.from_numpy(batch.labels), SR, powers=torch.from_numpy(batch.powers))
    kick_bins = torch.from_numpy(batch.powers[0, 0] > batch.powers[0, 4])  # (frames, bands) the kick dominates
    assert kick_bins[:, low].float().mean() > 0.3
    assert out["onehot"][0][kick_bins][:, 0].min() == 1  # those bins are the drums group's ...
    assert out["labelled"][0][kick_bins].min() == 1  # ... and train the mask head as drums
