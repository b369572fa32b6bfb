"""Training objectives: the deep-clustering loss and the mask-inference loss."""

from __future__ import annotations

import torch


def deep_clustering_loss(embeddings: torch.Tensor, assignments: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Deep-clustering loss of Hershey et al. (ICASSP 2016), in low-rank form.

    ``‖V Vᵀ − Y Yᵀ‖²_F = ‖VᵀV‖² − 2‖VᵀY‖² + ‖YᵀY‖²`` with each bin's row of V
    and Y scaled by ``sqrt(weight)``, so the ``(N × N)`` affinity matrices are
    never built. Divided by ``(Σ weights)²`` so the value lies in [0, 1]-ish
    whatever the number of active bins.

    Args:
        embeddings: V, ``(batch, n_bins, embed_dim)``, rows unit-norm; ``n_bins``
            is every time–frequency bin flattened (frames × bands).
        assignments: Y, ``(batch, n_bins, n_sources)`` one-hot of the dominant source.
        weights: ``(batch, n_bins)`` ≥ 0; 0 leaves a (silent) bin out.

    Returns:
        the mean loss over the batch, a scalar.

    >>> v = torch.nn.functional.one_hot(torch.tensor([[0, 1, 1]])).float()
    >>> float(deep_clustering_loss(v, v, torch.ones(1, 3)))
    0.0
    """
    w = weights.unsqueeze(-1).sqrt()
    v, y = embeddings * w, assignments.to(embeddings.dtype) * w
    vv = torch.linalg.matrix_norm(v.transpose(1, 2) @ v) ** 2
    vy = torch.linalg.matrix_norm(v.transpose(1, 2) @ y) ** 2
    yy = torch.linalg.matrix_norm(y.transpose(1, 2) @ y) ** 2
    norm = weights.sum(dim=1).clamp(min=1.0) ** 2
    return ((vv - 2 * vy + yy) / norm).mean()


def magnitude_weights(active: torch.Tensor, energy: torch.Tensor, power: float) -> torch.Tensor:
    """Deep-clustering bin weights that follow the mixture's magnitude (Wang, Le Roux & Hershey, "Alternative
    objective functions for deep clustering", ICASSP 2018: magnitude-ratio weights beat 0/1 activity weights).

    With 0/1 weights every active bin counts alike, so the few low bands, where most of a song's energy and
    most of a split's error sit (a kick's body, a bass line, a voice's fundamental), weigh little against the
    many high ones. Each active bin is weighted by its band's magnitude ``energy ** (power / 2)``, scaled so
    the weights' mean over an example's active bins stays 1.

    Args:
        active: ``(batch, n_frames, n_bands)`` 0/1 activity (:func:`~separator.training.train.targets`' ``weights``).
        energy: ``(batch, n_frames, n_bands)`` the mixture's power summed over each band's bins.
        power: exponent of the magnitude; 0 returns ``active``, 1 gives magnitude-ratio weights.
    Returns:
        ``(batch, n_frames, n_bands)`` ≥ 0, zero where ``active`` is zero.
    """
    if power <= 0:
        return active
    weights = active * energy.clamp(min=0).pow(power / 2)
    mean = weights.sum(dim=(1, 2), keepdim=True) / active.sum(dim=(1, 2), keepdim=True).clamp(min=1)
    return weights / mean.clamp(min=1e-30)


def mask_inference_loss(masks: torch.Tensor, mixture: torch.Tensor, sources: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Magnitude-approximation loss of the chimera network's mask head.

    ``Σ w · |m_c ⊙ |X| − |S_c||`` over bins and classes, divided by ``Σ w · |X|``,
    so loud and quiet songs count alike.

    Args:
        masks: ``(batch, n_frames, n_bands, n_classes)`` in [0, 1].
        mixture: ``(batch, n_frames, n_bands)`` mixture band magnitude.
        sources: ``(batch, n_frames, n_bands, n_classes)`` source band magnitudes.
        weights: ``(batch, n_frames, n_bands)``; weights silent bins down.
    """
    error = (masks * mixture.unsqueeze(-1) - sources).abs().sum(-1) * weights
    norm = (mixture * weights).sum(dim=(1, 2)).clamp(min=1e-8)
    return (error.sum(dim=(1, 2)) / norm).mean()


SNR_CEILING_DB = 30.0  # the phase-sensitive loss stops rewarding a class past this SNR (soft threshold)


def phase_sensitive_loss(
    masks: torch.Tensor, mix_power: torch.Tensor, cross: torch.Tensor, source_power: torch.Tensor, present: torch.Tensor
) -> torch.Tensor:
    """Phase-sensitive loss of the mask head: the negative SNR of each class's masked mixture spectrum.

    A band mask ``m`` applied to the mixture ``X`` leaves the complex error ``Σ |S − m·X|²`` over the
    band's bins, which is ``m²·Σ|X|² − 2m·Σ Re(S·X*) + Σ|S|²``: three band sums make it exact without
    touching a bin, and the ``Re(S·X*)`` term makes it see phase, as the split's resynthesised
    waveform does (Erdogan et al., ICASSP 2015; chimera++'s phase-sensitive objective). With the
    STFT's Hann window at a quarter-window hop, spectral energies are the waveform's times a constant,
    so ``SNR = 10·log10(Σ|S|² / (error + τ·Σ|S|²))`` is the resynthesised class's SNR up to the
    iSTFT's projection; ``τ = 10^(−SNR_CEILING_DB / 10)`` lets a nearly perfect class stop pulling.

    Args:
        masks: ``(batch, n_frames, n_bands, n_classes)`` in [0, 1].
        mix_power: ``(batch, n_frames, n_bands)`` ``Σ|X|²`` over each band's bins and the channels.
        cross: ``(batch, n_frames, n_bands, n_classes)`` ``Σ Re(S_c·X*)`` likewise, per class.
        source_power: ``(batch, n_frames, n_bands, n_classes)`` ``Σ|S_c|²`` likewise.
        present: ``(batch, n_classes)`` bool: only these (example, class) pairs are scored.
    Returns:
        the mean negative SNR in dB over the scored pairs (0 with none), a scalar.

    >>> x = torch.ones(1, 2, 3)
    >>> s = torch.stack([x, torch.zeros_like(x)], -1)  # the mixture is all class 0
    >>> round(float(phase_sensitive_loss(s, x, s, s, torch.tensor([[True, False]]))), 3)
    -30.0
    """
    masks = masks.float()
    error = (masks.square() * mix_power.unsqueeze(-1) - 2 * masks * cross + source_power).sum(dim=(1, 2)).clamp(min=0)
    energy = source_power.sum(dim=(1, 2))
    tau = 10 ** (-SNR_CEILING_DB / 10)
    snr = 10 * torch.log10((energy + 1e-8) / (error + tau * energy + 1e-8))  # (batch, n_classes)
    return -snr[present].mean() if bool(present.any()) else masks.sum() * 0.0


def naming_loss(masks: torch.Tensor, members: torch.Tensor, power: torch.Tensor, min_bins: int = 20) -> torch.Tensor:
    """How badly a perfect cluster of each class would be named: the mean ``−log`` of its own class in the
    power-weighted mean posterior of its bins, as named mode names clusters (:mod:`separator.naming`).

    A per-bin mask loss can be low while the posteriors of one class's bins still lean, on average, towards
    another class; named mode reads exactly that average, so this scores it directly.

    Args:
        masks: ``(batch, n_frames, n_bands, n_classes)`` class posteriors (sum to 1 over classes).
        members: ``(batch, n_frames, n_bands, n_classes)`` 0/1, the bins each class dominates (active bins only).
        power: ``(batch, n_frames, n_bands)`` mixture power, the bins' weights.
        min_bins: a class dominating fewer bins of an example is not scored there.
    Returns:
        the mean over the scored (example, class) pairs (0 with none), a scalar.

    >>> right = torch.tensor([[[[0.9, 0.1], [0.2, 0.8]]]])  # (1, 1, 2, 2): bin 0 is class 0, bin 1 class 1
    >>> round(float(naming_loss(right, torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]]), torch.ones(1, 1, 2), 1)), 3)
    0.164
    """
    weights = members * power.unsqueeze(-1)  # (b, t, f, c)
    total = weights.sum(dim=(1, 2))  # (b, c)
    own = (weights * masks).sum(dim=(1, 2)) / total.clamp(min=1e-12)  # (b, c): each class's mean posterior of itself
    scored = members.sum(dim=(1, 2)) >= min_bins
    if not bool(scored.any()):
        return masks.sum() * 0.0
    return -torch.log(own[scored].clamp(min=1e-6)).mean()
