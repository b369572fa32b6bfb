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
