"""The deep-clustering loss in low-rank form equals the naive affinity-matrix loss."""

from __future__ import annotations

import doctest

import pytest
import torch

import separator.training.loss
from separator.training.loss import deep_clustering_loss, mask_inference_loss


def naive_loss(v: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """‖W^½(VVᵀ − YYᵀ)W^½‖²_F / (Σw)², building the (N × N) affinities."""
    losses = []
    for vb, yb, wb in zip(v, y, w, strict=True):
        diff = vb @ vb.T - yb @ yb.T
        weighted = wb.sqrt()[:, None] * diff * wb.sqrt()[None, :]
        losses.append((weighted**2).sum() / wb.sum().clamp(min=1) ** 2)
    return torch.stack(losses).mean()


@pytest.mark.parametrize("n_bins,dim,n_src", [(7, 3, 2), (50, 20, 4), (120, 40, 5)])
def test_low_rank_loss_equals_naive_affinity_loss(n_bins: int, dim: int, n_src: int) -> None:
    gen = torch.Generator().manual_seed(n_bins)
    v = torch.nn.functional.normalize(torch.randn(3, n_bins, dim, generator=gen, dtype=torch.float64), dim=-1)
    y = torch.nn.functional.one_hot(torch.randint(0, n_src, (3, n_bins), generator=gen), n_src).double()
    w = (torch.rand(3, n_bins, generator=gen, dtype=torch.float64) > 0.3).double()  # silent bins out
    assert torch.allclose(deep_clustering_loss(v, y, w), naive_loss(v, y, w), rtol=1e-10)


def test_silent_bins_do_not_change_the_loss() -> None:
    gen = torch.Generator().manual_seed(0)
    v = torch.nn.functional.normalize(torch.randn(1, 30, 5, generator=gen), dim=-1)
    y = torch.nn.functional.one_hot(torch.randint(0, 3, (1, 30), generator=gen), 3).float()
    w = torch.ones(1, 30)
    w[:, 20:] = 0
    scrambled = v.clone()
    scrambled[:, 20:] = torch.nn.functional.normalize(torch.randn(1, 10, 5, generator=gen), dim=-1)
    assert torch.allclose(deep_clustering_loss(v, y, w), deep_clustering_loss(scrambled, y, w))


def test_perfect_embeddings_give_zero_loss_and_collapsed_ones_do_not() -> None:
    labels = torch.tensor([[0, 1, 2, 1, 0, 2]])
    y = torch.nn.functional.one_hot(labels, 3).float()
    w = torch.ones(1, 6)
    assert float(deep_clustering_loss(y, y, w)) == pytest.approx(0.0, abs=1e-7)
    collapsed = torch.nn.functional.one_hot(torch.zeros_like(labels), 3).float()
    assert float(deep_clustering_loss(collapsed, y, w)) > 0.5


def test_mask_loss_is_zero_for_ideal_ratio_masks() -> None:
    sources = torch.rand(2, 10, 8, 3)
    mixture = sources.sum(-1)
    masks = sources / mixture.unsqueeze(-1)
    assert float(mask_inference_loss(masks, mixture, sources, torch.ones(2, 10, 8))) == pytest.approx(0.0, abs=1e-6)
    uniform = torch.full_like(masks, 1 / 3)
    assert float(mask_inference_loss(uniform, mixture, sources, torch.ones(2, 10, 8))) > 0.1


def test_loss_docstring_example_holds() -> None:
    assert doctest.testmod(separator.training.loss).failed == 0
