"""Percussive evidence per STFT bin, to give the drums stem detail finer than the network's bands.

The network's masks hold one value per mel band, so inside a wide high band a cymbal and a
held guitar note get the same split. Harmonic–percussive separation (FitzGerald, DAFx 2010)
tells them apart per bin: a drum hit is smooth along frequency, a held note along time.
Here each is measured by the geometric mean of the power over a window along frequency
(percussive) or along time (harmonic); box filters on log power cost a few milliseconds per
segment, where median filters would cost most of the split's time budget.

The network's masks are the prior and the percussive share the evidence: the drums mask is
weighted by ``share ** power`` and every other stem's by ``(1 - share) ** power``, then all
are renormalised, so the stems still add up to the mixture.
"""

from __future__ import annotations

import numpy as np
import torch

from separator.features import bin_power, frame_blocks, sum_first

KERNEL = 31  # bins (21.5 Hz each) and frames (11.6 ms hops): 670 Hz and 360 ms at every sample rate


def _running_sums(values: torch.Tensor, kernel: int, dim: int) -> torch.Tensor:
    """The float64 running sums of ``values`` along ``dim`` for means over ``kernel`` neighbours (edges
    repeated, :func:`_means`): a zero, the first value repeated ``kernel // 2`` times, the values, the last
    repeated, summed up (``kernel`` longer along ``dim``). In float64, so the long sums lose nothing; the cost
    does not grow with the kernel."""
    half, n = kernel // 2, values.shape[dim]
    shape = list(values.shape)
    shape[dim] = 1 + half + n + (kernel - 1 - half)  # a zero, the first value repeated, the values, the last repeated
    sums = values.new_empty(shape, dtype=torch.float64)
    sums.narrow(dim, 0, 1).zero_()
    sums.narrow(dim, 1, half).copy_(values.narrow(dim, 0, 1))
    sums.narrow(dim, 1 + half, n).copy_(values)
    sums.narrow(dim, 1 + half + n, kernel - 1 - half).copy_(values.narrow(dim, n - 1, 1))
    _cumsum_(sums.narrow(dim, 1, shape[dim] - 1), dim)
    return sums


def _means(sums: torch.Tensor, kernel: int, dim: int, start: int, count: int, dtype: torch.dtype) -> torch.Tensor:
    """Means over ``kernel`` neighbours along ``dim`` at ``count`` positions from ``start``, as ``dtype``, from
    their :func:`_running_sums`."""
    return ((sums.narrow(dim, start + kernel, count) - sums.narrow(dim, start, count)) / kernel).to(dtype)


def _cumsum_(values: torch.Tensor, dim: int) -> torch.Tensor:
    """``values.cumsum_(dim)``, the same sums bit for bit. Along an axis that is not the innermost in memory,
    on a CPU, as one vector addition per slice in numpy: torch's cumsum there is about twice as slow."""
    if values.device.type != "cpu" or values.stride(dim) == 1 or values.shape[dim] < 2:
        return values.cumsum_(dim)
    slices = values.movedim(dim, 0).numpy()
    for i in range(1, len(slices)):
        np.add(slices[i], slices[i - 1], out=slices[i])
    return values


def percussive_share(spec: torch.Tensor, kernel: int = KERNEL, power: torch.Tensor | None = None) -> torch.Tensor:
    """How percussive each bin is, 0..1.

    Args:
        spec: ``(channels, bins, frames)`` complex STFT (:func:`separator.features.stft`).
        kernel: smoothing length in bins and in frames.
        power: ``|spec|²`` (:func:`separator.features.bin_power`), when the caller has it already.
    Returns:
        ``(bins, frames)`` float: ``p / (p + h)`` for the geometric-mean power ``p`` along
        frequency and ``h`` along time; laid out in memory as ``spec`` (frames first for :func:`stft`'s).
    """
    power = bin_power(spec) if power is None else power
    log_power = sum_first(power).div_(power.shape[0]).clamp_(min=1e-12).log_().T  # (frames, bins)
    along_time, along_frequency = _running_sums(log_power, kernel, 0), _running_sums(log_power, kernel, 1)
    share = torch.empty_like(log_power)
    for frames in frame_blocks(len(log_power)):  # the means and their difference a block at a time, in the cache
        count = frames.stop - frames.start
        harmonic = _means(along_time, kernel, 0, frames.start, count, log_power.dtype)
        percussive = _means(along_frequency.narrow(0, frames.start, count), kernel, 1, 0, log_power.shape[1], log_power.dtype)
        torch.sigmoid(percussive.sub_(harmonic), out=share[frames])
    return share.T


def favour_percussive(masks: torch.Tensor, share: torch.Tensor, drums: int, power: float) -> torch.Tensor:
    """Move each bin's mask towards the drums stem where it is percussive, away where it is not.

    Args:
        masks: ``(n_stems, bins, frames)``, summing to 1 over stems.
        share: ``(bins, frames)`` from :func:`percussive_share`.
        drums: index of the stem that holds the drums (and nothing else).
        power: weight of the evidence; 0 leaves the masks as they are.
    Returns:
        ``(n_stems, bins, frames)``, summing to 1 over stems; ``masks`` itself is left as it was.
    """
    if power == 0:
        return masks
    return favour_percussive_(masks.clone(), share, drums, power)


def favour_percussive_(masks: torch.Tensor, share: torch.Tensor, drums: int, power: float) -> torch.Tensor:
    """:func:`favour_percussive` **in place**, for ``masks (n_stems, ...)`` and ``share`` of any one layout
    (e.g. a block of frames, frames first, as :func:`separator.masks.bin_masks` runs it). Returns ``masks``."""
    if power == 0:
        return masks
    towards = share.clamp(min=1e-3).pow_(power)  # the drums' evidence
    away = (1 - share).clamp_(min=1e-3).pow_(power)  # every other stem's
    drum_mask = masks[drums]
    total = (towards - away).mul_(drum_mask).add_(away).clamp_(min=1e-12)  # sum over stems of mask × evidence
    drum_mask = drum_mask * towards.div_(total)  # the drums' new mask, before the drums are scaled with the rest
    masks.mul_(away.div_(total))
    masks[drums] = drum_mask
    return masks
