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
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch

N_BANDS = 128
REFERENCE_BINS = 1025  # bins of the 2048-point STFT at 44.1 kHz
FLOOR_DB = -100.0
SPATIAL = 3  # stereo cues per band: level difference, coherence (real, imaginary)
ILD_SCALE_DB = 10.0
BLOCK_FRAMES = 64  # frames per block of the per-bin steps (:func:`frame_blocks`): 5 stems × 64 frames × 1025 bins = 1.3 MB


def stft_size(sample_rate: int) -> tuple[int, int]:
    """``(n_fft, hop)`` in samples for ``sample_rate`` in Hz."""
    n_fft = max(16, 2 * int(round(1024 * sample_rate / 44100)))
    return n_fft, n_fft // 4


def frame_blocks(n_frames: int, size: int = BLOCK_FRAMES) -> list[slice]:
    """``n_frames`` cut into consecutive blocks of ``size`` frames (the last one shorter), for per-bin steps
    that run a block at a time: a block's operands stay in the CPU's cache between one operation and the
    next, where a whole segment's go out to main memory and back at every operation."""
    return [slice(start, min(start + size, n_frames)) for start in range(0, n_frames, size)]


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
    return istft_frames(spec.transpose(-1, -2), sample_rate, length)


def istft_frames(frames_spec: torch.Tensor, sample_rate: int, length: int) -> torch.Tensor:
    """:func:`istft` of a spectrum laid out frames first, ``(..., n_frames, n_bins)``, as the inverse FFT
    reads it (a contiguous one needs no reordering) → ``(..., length)``.

    When the window is a whole number of hops (most rates), a block of frames at a time
    (:func:`frame_blocks`): each block's inverse FFT is windowed and overlap-added as a few strided additions
    of hop-long pieces, then the sum is divided by the window's own overlap-add: ``torch.istft``'s result to
    float rounding, in about half its time.
    """
    n_fft, hop = stft_size(sample_rate)
    shape = frames_spec.shape
    flat = frames_spec.reshape(-1, *shape[-2:])
    if n_fft % hop:
        window = _window(n_fft, str(frames_spec.device))
        audio = torch.istft(flat.transpose(1, 2), n_fft, hop, window=window, center=True, length=length)
        return audio.reshape(*shape[:-2], length)
    blocks = ((frames, flat[:, frames]) for frames in frame_blocks(shape[-2]))
    return _overlap_add(blocks, flat.shape[0], shape[-2], sample_rate, length, flat).reshape(*shape[:-2], length)


def masked_istft(
    masks: torch.Tensor, frames_spec: torch.Tensor, sample_rate: int, length: int, rows: list[int] | None = None
) -> torch.Tensor:
    """The signals of a spectrum through several real masks: :func:`istft_frames` of ``masks · frames_spec``
    per mask, without the whole masked spectra ever being in memory at once.

    Args:
        masks: ``(n, n_frames, n_bins)`` real, frames first.
        frames_spec: ``(n_frames, n_bins)`` complex, frames first (``stft(x)[c].T`` of a channel: no copy).
        length: samples of the result.
        rows: the masks to use (default: all), without copying the others.
    Returns:
        ``(n, length)``, one signal per mask used.
    """
    n_fft, hop = stft_size(sample_rate)
    rows = list(range(len(masks))) if rows is None else rows
    if n_fft % hop:
        return istft_frames(masks[rows] * frames_spec, sample_rate, length)
    n, (_, n_frames, n_bins) = len(rows), masks.shape
    size = min(BLOCK_FRAMES, n_frames)
    product = frames_spec.new_empty(n, size, n_bins)  # one block's masked spectra; reused

    def blocks() -> Iterator[tuple[slice, torch.Tensor]]:
        for frames in frame_blocks(n_frames, size):
            out, part = product[:, : frames.stop - frames.start], frames_spec[frames]
            for j, row in enumerate(rows):  # complex times real, in one pass: 2.7× faster than two strided real products
                torch.mul(part, masks[row, frames], out=out[j])
            yield frames, out

    return _overlap_add(blocks(), n, n_frames, sample_rate, length, masks)


def _overlap_add(
    blocks: Iterable[tuple[slice, torch.Tensor]], n: int, n_frames: int, sample_rate: int, length: int, like: torch.Tensor
) -> torch.Tensor:
    """The inverse STFT of ``n`` spectra given as consecutive ``(frames, (n, frames' length, n_bins) complex)``
    blocks: each block's inverse FFT windowed and added in place, hop-long piece by piece → ``(n, length)``, of
    ``like``'s real dtype and device."""
    n_fft, hop = stft_size(sample_rate)
    frames_per_window = n_fft // hop
    summed = torch.zeros(n, n_frames + frames_per_window - 1, hop, dtype=like.real.dtype, device=like.device)
    window_pieces = _window(n_fft, str(like.device)).view(frames_per_window, hop)
    for frames, block in blocks:
        count = frames.stop - frames.start
        pieces = torch.fft.irfft(block, n=n_fft, dim=-1).view(n, count, frames_per_window, hop)  # not yet windowed
        for j in range(frames_per_window):
            summed[:, frames.start + j : frames.stop + j].addcmul_(pieces[:, :, j], window_pieces[j])
    start = n_fft // 2  # the centre padding of stft
    norm = _window_sum(n_fft, hop, n_frames, str(like.device))
    audio = summed.view(n, -1)[:, start : start + length] / norm[start : start + length]
    if audio.shape[-1] < length:
        audio = torch.nn.functional.pad(audio, (0, length - audio.shape[-1]))
    return audio


@functools.lru_cache(maxsize=8)
def _window_sum(n_fft: int, hop: int, n_frames: int, device: str) -> torch.Tensor:
    """The squared window overlap-added over ``n_frames`` frames: what :func:`istft` divides by."""
    pieces = (_window(n_fft, device) ** 2).view(n_fft // hop, hop)
    summed = torch.zeros(n_frames + n_fft // hop - 1, hop, device=device)
    for j in range(n_fft // hop):
        summed[j : j + n_frames] += pieces[j]
    return summed.view(-1).clamp(min=1e-11)


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
def _bins_in_band(n_bins: int, device: str) -> torch.Tensor:
    """``(N_BANDS,)`` float: how many of ``n_bins`` bins each band owns (:func:`_band_of_bin`), at least 1."""
    return torch.bincount(_band_of_bin(n_bins, "cpu"), minlength=N_BANDS).clamp(min=1).float().to(device)


def band_power(spec: torch.Tensor) -> torch.Tensor:
    """Mean power per band.

    Args:
        spec: ``(..., n_bins, n_frames)`` complex.
    Returns:
        ``(..., n_frames, N_BANDS)`` float; bands with no bins are 0.
    """
    return pooled_blocks(spec, bin_power)


def pooled_blocks(spec: torch.Tensor, per_bin: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """:func:`pool_bands` of ``per_bin(spec)``, a block of frames at a time (:func:`frame_blocks`): the
    per-bin values of a block are pooled while they are in the cache, and never whole in memory.

    Args:
        spec: ``(..., n_bins, n_frames)``.
        per_bin: ``(..., n_bins, n)`` → ``(..., n_bins, n)`` real, elementwise along the frames.
    Returns:
        ``(..., n_frames, N_BANDS)``.
    """
    out: torch.Tensor | None = None
    for frames in frame_blocks(spec.shape[-1]):
        pooled = pool_bands(per_bin(spec[..., frames]))
        if out is None:
            out = pooled.new_empty(*pooled.shape[:-2], spec.shape[-1], N_BANDS)
        out[..., frames, :] = pooled
    assert out is not None, "pooled_blocks: no frames"
    return out


def bin_power(spec: torch.Tensor) -> torch.Tensor:
    """``|spec|²`` per bin: ``(...)`` complex → ``(...)`` float, as ``re·re + im·im`` of the real and imaginary parts.

    Two elementwise products over strided views: three to four times faster than ``spec.abs()`` or a sum
    over the (re, im) axis, whose inner length of 2 reduces slowly. The result is laid out in memory as
    ``spec`` is (frames before bins for :func:`stft`'s output), so nothing is copied or reordered."""
    parts = torch.view_as_real(spec)
    re, im = parts[..., 0], parts[..., 1]
    return torch.addcmul(re * re, im, im)


def sum_first(values: torch.Tensor) -> torch.Tensor:
    """``(n, ...)`` → ``(...)``: the slices along the first axis (channels, stems) added in order, laid out
    in memory as each slice is (``values.sum(0)`` reorders a frames-first spectrum, three times slower)."""
    total = values[0].clone()
    for part in values[1:]:
        total += part
    return total


def pool_bands(power: torch.Tensor) -> torch.Tensor:
    """Mean of each band's bins: ``(..., n_bins, n_frames)`` → ``(..., n_frames, N_BANDS)``, over the
    frames-first layout of :func:`stft`'s outputs; bands with no bins are 0.

    Each bin added into its band (``index_add_``): a third of the time of a product with a ``(n_bins,
    N_BANDS)`` pooling matrix, whose zeros are nearly all of it."""
    n_bins = power.shape[-2]
    frames_first = power.transpose(-1, -2)
    total = frames_first.new_zeros(*frames_first.shape[:-1], N_BANDS)
    total.index_add_(-1, _band_of_bin(n_bins, str(power.device)), frames_first)
    return total.div_(_bins_in_band(n_bins, str(power.device)))


def bands_to_bins(mask: torch.Tensor, n_bins: int, out: torch.Tensor | None = None) -> torch.Tensor:
    """Copy band values to their bins: ``(..., n_frames, N_BANDS)`` → ``(..., n_bins, n_frames)``.

    An index copy, frames before bins in memory, as :func:`stft` lays out its output: the per-bin steps
    that follow (:mod:`separator.masks`) run over both without reordering either. ``out``: a
    ``(..., n_bins, n_frames)`` tensor to write into (e.g. a block of a larger one), returned."""
    index = _band_of_bin(n_bins, str(mask.device)).expand(*mask.shape[:-1], n_bins)
    if out is not None:
        torch.gather(mask, -1, index, out=out.transpose(-1, -2))
        return out
    return torch.gather(mask, -1, index).transpose(-1, -2)  # gather: 6× faster than index_select on the last axis


@functools.lru_cache(maxsize=16)
def _band_of_bin(n_bins: int, device: str) -> torch.Tensor:
    """``(n_bins,)`` the band (mel-spaced, :func:`_reference_band_of_bin`) of each bin, as a long tensor."""
    ref = _reference_band_of_bin()
    return torch.from_numpy(ref[np.minimum(np.arange(n_bins), REFERENCE_BINS - 1)].astype(np.int64)).to(device)


def log_power(power: torch.Tensor) -> torch.Tensor:
    """Power → dB, floored at ``FLOOR_DB`` so silence stays finite."""
    return (10 * torch.log10(power + 1e-12)).clamp(min=FLOOR_DB)


def spatial(spec: torch.Tensor, band_powers: torch.Tensor | None = None) -> torch.Tensor:
    """Stereo cues per band (multi-channel deep clustering, Wang, Le Roux & Hershey 2018).

    For the first two channels L, R: the inter-channel level difference
    ``10·log10(P_L / P_R)`` in units of ``ILD_SCALE_DB`` (clamped to ±3), and the
    band's normalised cross-spectrum ``Σ L·R* / sqrt(P_L·P_R)``, whose angle is the
    inter-channel phase difference and whose length the coherence (cos/sin IPD
    weighted by coherence). Mono (one channel, or L = R) gives ``(0, 1, 0)``.

    Args:
        spec: ``(..., channels, n_bins, n_frames)`` complex.
        band_powers: :func:`band_power` of ``spec`` per channel, ``(..., channels, n_frames, N_BANDS)``,
            when the caller has it already.
    Returns:
        ``(..., n_frames, N_BANDS, SPATIAL)`` float: ILD, Re and Im of the coherence.
    """
    if spec.shape[-3] < 2:
        spec = torch.cat([spec, spec], dim=-3)
        band_powers = None if band_powers is None else torch.cat([band_powers, band_powers], dim=-3)
    if band_powers is None:
        band_powers = band_power(spec)
    p_left, p_right = band_powers[..., 0, :, :], band_powers[..., 1, :, :]
    re, im = pooled_blocks(spec, _cross_spectrum).unbind(-3)  # Σ L·R* per band: (..., n_frames, N_BANDS) each
    norm = (p_left * p_right).sqrt()
    quiet = norm < 1e-12
    re = torch.where(quiet, torch.ones_like(re), re / norm.clamp(min=1e-12))
    im = torch.where(quiet, torch.zeros_like(im), im / norm.clamp(min=1e-12))
    ild = (10 * torch.log10((p_left + 1e-10) / (p_right + 1e-10)) / ILD_SCALE_DB).clamp(-3.0, 3.0)
    ild = torch.where(quiet, torch.zeros_like(ild), ild)
    return torch.stack([ild, re, im], dim=-1)


def _cross_spectrum(spec: torch.Tensor) -> torch.Tensor:
    """``(..., channels, bins, frames)`` complex → ``(..., 2, bins, frames)``: the real and imaginary parts of
    ``L·R*`` per bin, by real arithmetic in stft's layout."""
    parts = torch.view_as_real(spec)  # (..., channels, bins, frames, 2)
    lr, li, rr, ri = parts[..., 0, :, :, 0], parts[..., 0, :, :, 1], parts[..., 1, :, :, 0], parts[..., 1, :, :, 1]
    # each part computed in its place, frames before bins in memory as the spectrum: no stacking copy
    out = lr.new_empty(*lr.shape[:-2], 2, lr.shape[-1], lr.shape[-2]).transpose(-1, -2)
    torch.mul(lr, rr, out=out.select(-3, 0)).addcmul_(li, ri)
    torch.mul(li, rr, out=out.select(-3, 1)).addcmul_(lr, ri, value=-1)
    return out


def features(audio: torch.Tensor, sample_rate: int, stereo: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Network input for a (multi-channel) signal.

    Args:
        audio: ``(channels, samples)`` float.
        stereo: also compute the stereo cues of :func:`spatial`.
    Returns:
        ``(spec (channels, n_bins, n_frames) complex, feats (n_frames, N_BANDS) dB,
        cues (n_frames, N_BANDS, SPATIAL) or None)``; the dB features use the channels'
        mean power, so panning does not cancel.
    """
    spec = stft(audio, sample_rate)
    powers = band_power(spec)  # (channels, n_frames, N_BANDS): the features' and the stereo cues'
    return spec, log_power(powers.mean(0)), spatial(spec, powers) if stereo else None


def band_edges_hz(sample_rate: int) -> np.ndarray:
    """``(N_BANDS + 1,)`` edges in Hz of the mel bands at ``sample_rate`` (for pictures); band ``b`` spans ``[e[b], e[b+1])``.

    Edges sit half a bin outside a band's first and last bin; a band with no bin below
    Nyquist repeats its neighbour's edge.
    """
    n_fft, _ = stft_size(sample_rate)
    n_bins = n_fft // 2 + 1
    band = _reference_band_of_bin()[np.minimum(np.arange(n_bins), REFERENCE_BINS - 1)]
    first = np.searchsorted(band, np.arange(N_BANDS + 1), side="left").astype(float)
    return (np.minimum(first, n_bins) - 0.5).clip(min=0.0) * sample_rate / n_fft


def bins_per_band(sample_rate: int) -> np.ndarray:
    """``(N_BANDS,)`` STFT bins each band owns at ``sample_rate`` (0 above Nyquist)."""
    n_fft, _ = stft_size(sample_rate)
    return np.bincount(_band_of_bin(n_fft // 2 + 1, "cpu").numpy(), minlength=N_BANDS)


def full_scale_db(sample_rate: int) -> float:
    """dB to subtract from a sum of one-sided Hann-STFT bin powers to get the mean square in dBFS.

    Parseval with a Hann window: ``mean(x²) ≈ 16 Σ|X_k|² / (3 n_fft²)`` over the one-sided bins.
    """
    n_fft, _ = stft_size(sample_rate)
    return float(10 * np.log10(3 * n_fft**2 / 16))
