"""STFT, iSTFT and the network's input features.

The STFT keeps the same time and frequency resolution at every sample rate:
``n_fft = 2 * round(1024 * sample_rate / 44100)`` (46 ms windows, 21.5 Hz
bins) and ``hop = n_fft // 4``. The network does not see the 1025 bins; it
sees ``N_BANDS`` mel-spaced bands that each own a contiguous run of bins, so
the same bands mean the same frequencies at 8 kHz, 44.1 kHz or 96 kHz (bands
above Nyquist are empty; bins above 22 kHz belong to the top band). A band
mask is copied to every bin of its band, so stems keep the full bandwidth.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

N_BANDS = 128
REFERENCE_BINS = 1025  # bins of the 2048-point STFT at 44.1 kHz
FLOOR_DB = -100.0


def stft_size(sample_rate: int) -> tuple[int, int]:
    """``(n_fft, hop)`` in samples for ``sample_rate`` in Hz."""
    n_fft = max(16, 2 * int(round(1024 * sample_rate / 44100)))
    return n_fft, n_fft // 4


@functools.lru_cache(maxsize=8)
def _window(n_fft: int, device: str) -> torch.Tensor:
    return torch.hann_window(n_fft, device=device)


def stft(audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Complex STFT.

    Args:
        audio: ``(..., samples)`` float.
    Returns:
        ``(..., n_bins, n_frames)`` complex64, ``n_frames = samples // hop + 1``.
    """
    n_fft, hop = stft_size(sample_rate)
    shape = audio.shape
    flat = audio.reshape(-1, shape[-1])
    pad_mode = "reflect" if shape[-1] > n_fft // 2 else "constant"
    spec = torch.stft(flat, n_fft, hop, window=_window(n_fft, str(audio.device)), center=True, pad_mode=pad_mode, return_complex=True)
    return spec.reshape(*shape[:-1], *spec.shape[-2:])


def istft(spec: torch.Tensor, sample_rate: int, length: int) -> torch.Tensor:
    """Inverse of :func:`stft`: ``(..., n_bins, n_frames)`` → ``(..., length)``."""
    n_fft, hop = stft_size(sample_rate)
    shape = spec.shape
    flat = spec.reshape(-1, *shape[-2:])
    audio = torch.istft(flat, n_fft, hop, window=_window(n_fft, str(spec.device)), center=True, length=length)
    return audio.reshape(*shape[:-2], length)


@functools.lru_cache(maxsize=1)
def _reference_band_of_bin() -> np.ndarray:
    """Band index ``(REFERENCE_BINS,)`` of each 44.1 kHz bin: mel-spaced, each band >= 1 bin."""
    mel_max = 2595 * np.log10(1 + 22050 / 700)
    hz = 700 * (10 ** (np.linspace(0, mel_max, N_BANDS + 1) / 2595) - 1)
    edges = np.round(hz / 22050 * (REFERENCE_BINS - 1)).astype(int)
    edges[0] = 0
    for i in range(1, N_BANDS + 1):  # narrow low bands: at least one bin each
        edges[i] = max(edges[i], edges[i - 1] + 1)
    band = np.zeros(REFERENCE_BINS, int)
    for b in range(N_BANDS):
        band[edges[b] : edges[b + 1]] = b
    band[edges[-1] :] = N_BANDS - 1
    return band


@functools.lru_cache(maxsize=16)
def _band_matrix(n_bins: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(pool (n_bins, N_BANDS), spread (N_BANDS, n_bins))``: mean over a band's bins, and copy back."""
    ref = _reference_band_of_bin()
    band = ref[np.minimum(np.arange(n_bins), REFERENCE_BINS - 1)]
    onehot = np.zeros((n_bins, N_BANDS), np.float32)
    onehot[np.arange(n_bins), band] = 1
    counts = np.maximum(onehot.sum(0, keepdims=True), 1)
    pool = torch.from_numpy(onehot / counts).to(device)
    spread = torch.from_numpy(onehot.T.copy()).to(device)
    return pool, spread


def band_power(spec: torch.Tensor) -> torch.Tensor:
    """Mean power per band.

    Args:
        spec: ``(..., n_bins, n_frames)`` complex.
    Returns:
        ``(..., n_frames, N_BANDS)`` float; bands with no bins are 0.
    """
    pool, _ = _band_matrix(spec.shape[-2], str(spec.device))
    power = spec.real**2 + spec.imag**2
    return power.transpose(-1, -2) @ pool


def bands_to_bins(mask: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Copy band values to their bins: ``(..., n_frames, N_BANDS)`` → ``(..., n_bins, n_frames)``."""
    _, spread = _band_matrix(n_bins, str(mask.device))
    return (mask @ spread).transpose(-1, -2)


def log_power(power: torch.Tensor) -> torch.Tensor:
    """Power → dB, floored at ``FLOOR_DB`` so silence stays finite."""
    return (10 * torch.log10(power + 1e-12)).clamp(min=FLOOR_DB)


def features(audio: torch.Tensor, sample_rate: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Network input for a (multi-channel) signal.

    Args:
        audio: ``(channels, samples)`` float.
    Returns:
        ``(spec (channels, n_bins, n_frames) complex, feats (n_frames, N_BANDS) dB)``;
        the features use the channels' mean power, so panning does not cancel.
    """
    spec = stft(audio, sample_rate)
    return spec, log_power(band_power(spec).mean(0))
