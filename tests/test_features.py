"""STFT/iSTFT, bands and chunking keep the signal intact."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import sine

from separator.chunking import process_chunked
from separator.features import (
    N_BANDS,
    _reference_band_of_bin,
    band_power,
    bands_to_bins,
    bin_power,
    features,
    frame_blocks,
    istft,
    istft_frames,
    masked_istft,
    pool_bands,
    stft,
    stft_size,
    sum_first,
)


@pytest.mark.parametrize("sample_rate", [8000, 22050, 44100, 48000, 96000])
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_stft_istft_round_trip_is_exact(sample_rate: int, channels: int) -> None:
    audio = torch.randn(channels, sample_rate // 2 + 17, generator=torch.Generator().manual_seed(0))
    back = istft(stft(audio, sample_rate), sample_rate, audio.shape[-1])
    assert back.shape == audio.shape
    assert torch.allclose(back, audio, atol=1e-5)


@pytest.mark.parametrize("sample_rate", [8000, 44100, 96000])
def test_resolution_is_the_same_at_every_sample_rate(sample_rate: int) -> None:
    n_fft, hop = stft_size(sample_rate)
    assert sample_rate / n_fft == pytest.approx(44100 / 2048, rel=0.01)  # 21.5 Hz bins
    assert hop == n_fft // 4


def test_band_features_have_fixed_shape_and_unit_mask_keeps_full_bandwidth() -> None:
    audio = torch.from_numpy(sine(18000, 1.0, 44100, channels=2))  # content near the top of the band
    spec, feats, _ = features(audio, 44100)
    assert feats.shape == (spec.shape[-1], N_BANDS)
    ones = torch.ones(spec.shape[-1], N_BANDS)
    back = istft(bands_to_bins(ones, spec.shape[-2]) * spec, 44100, audio.shape[-1])
    assert torch.allclose(back, audio, atol=1e-5)


def test_per_bin_steps_keep_the_stft_layout_frames_before_bins() -> None:
    """The per-bin steps read and write the spectrum as torch.stft lays it out, so none reorders it."""
    spec = stft(torch.randn(2, 44100, generator=torch.Generator().manual_seed(1)), 44100)  # (channels, bins, t)
    power = bin_power(spec)
    assert spec.transpose(-1, -2).is_contiguous() and power.transpose(-1, -2).is_contiguous()
    torch.testing.assert_close(power, spec.abs() ** 2, rtol=1e-5, atol=1e-6)
    masks = bands_to_bins(torch.rand(5, spec.shape[-1], N_BANDS), spec.shape[-2])
    assert masks.shape == (5, *spec.shape[-2:]) and masks.transpose(-1, -2).is_contiguous()
    total = sum_first(power)
    assert torch.equal(total, power[0] + power[1]) and total.transpose(-1, -2).is_contiguous()


def test_band_power_puts_a_tone_in_one_band() -> None:
    spec = stft(torch.from_numpy(sine(1000, 1.0, 44100)), 44100)
    power = band_power(spec)[0].mean(0)
    band_of_1khz = int(_reference_band_of_bin()[round(1000 / (44100 / 2048))])
    assert int(power.argmax()) == band_of_1khz
    assert float(power.max()) > 100 * float(power.median())


@pytest.mark.parametrize("sample_rate", [8000, 44100, 96000])
def test_pooled_bands_are_the_mean_of_their_bins_and_bands_without_bins_are_zero(sample_rate: int) -> None:
    n_bins = stft_size(sample_rate)[0] // 2 + 1
    power = torch.rand(2, n_bins, 30, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    band = _reference_band_of_bin()[np.minimum(np.arange(n_bins), len(_reference_band_of_bin()) - 1)]
    expected = np.zeros((2, 30, N_BANDS))
    for b in range(N_BANDS):
        if (band == b).any():
            expected[:, :, b] = power.numpy()[:, band == b].mean(1)
    pooled = pool_bands(power)
    assert pooled.shape == (2, 30, N_BANDS)
    np.testing.assert_allclose(pooled.numpy(), expected, rtol=1e-12, atol=0)
    assert (sample_rate < 44100) == bool((pooled[0, 0] == 0).any())  # an 8 kHz file has no bins in the top bands


@pytest.mark.parametrize("block,overlap", [(1000, 100), (4410, 441), (999, 1)])
def test_identity_chunked_processing_returns_the_input_exactly(block: int, overlap: int) -> None:
    audio = np.random.default_rng(0).standard_normal((2, 20000)).astype(np.float32)
    out = process_chunked(lambda seg: seg, audio, block, overlap)
    assert out.shape == audio.shape
    np.testing.assert_allclose(out, audio, atol=1e-6)


@pytest.mark.parametrize("n_frames,size", [(1723, 64), (64, 64), (65, 64), (1, 64), (10, 3)])
def test_frame_blocks_cover_every_frame_once_in_order(n_frames: int, size: int) -> None:
    blocks = frame_blocks(n_frames, size)
    assert [f for b in blocks for f in range(n_frames)[b]] == list(range(n_frames))
    assert all(b.stop - b.start == size for b in blocks[:-1]) and 0 < blocks[-1].stop - blocks[-1].start <= size


def test_bands_to_bins_writes_into_a_block_of_a_larger_tensor() -> None:
    masks = torch.rand(3, 40, N_BANDS, generator=torch.Generator().manual_seed(2))
    whole = bands_to_bins(masks, 1025)
    out = torch.zeros(3, 40, 1025)  # frames first, as the per-bin steps keep their masks
    block = out[:, 8:24].transpose(1, 2)
    assert bands_to_bins(masks[:, 8:24], 1025, out=block) is block
    torch.testing.assert_close(out[:, 8:24].transpose(1, 2), whole[..., 8:24], rtol=0, atol=0)
    assert float(out[:, :8].abs().max()) == 0 and float(out[:, 24:].abs().max()) == 0


@pytest.mark.parametrize("sample_rate", [44100, 48000, 8000])  # 48 kHz: a window of no whole number of hops
@pytest.mark.parametrize("seconds", [0.3, 2.0])  # fewer frames than a block, and several blocks
def test_masked_istft_is_the_istft_of_each_masked_spectrum(sample_rate: int, seconds: float) -> None:
    gen = torch.Generator().manual_seed(4)
    audio = torch.randn(2, int(seconds * sample_rate) + 11, generator=gen)
    spec = stft(audio, sample_rate)  # (channels, bins, t)
    masks = torch.rand(4, *spec.shape[1:], generator=gen)  # (n, bins, t)
    frames_first = masks.transpose(1, 2).contiguous()
    for c in range(2):
        expected = istft_frames((masks * spec[c]).transpose(1, 2), sample_rate, audio.shape[-1])
        got = masked_istft(frames_first, spec[c].T, sample_rate, audio.shape[-1])
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
        picked = masked_istft(frames_first, spec[c].T, sample_rate, audio.shape[-1], rows=[3, 1])
        torch.testing.assert_close(picked, expected[[3, 1]], rtol=1e-4, atol=1e-5)
    ones = torch.ones(1, *spec.shape[1:][::-1])
    torch.testing.assert_close(masked_istft(ones, spec[0].T, sample_rate, audio.shape[-1])[0], audio[0], rtol=0, atol=1e-5)
