"""K-means in torch, so clustering runs on the GPU when the embeddings are there.

k-means++ seeding, Lloyd iterations with batched distances, several restarts
and a seeded generator: the same input and seed give the same partition.
scikit-learn's ``KMeans`` is the reference it is tested against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from separator.devices import map_in_order, one_thread_each


@dataclass
class KMeansResult:
    """``centroids (k, dim)``, ``labels (n,)`` and ``inertia`` (weighted sum of squared distances)."""

    centroids: torch.Tensor
    labels: torch.Tensor
    inertia: float


def squared_distances(x: torch.Tensor, centroids: torch.Tensor, x_norms: torch.Tensor | None = None) -> torch.Tensor:
    """``(n, dim), (k, dim) → (n, k)`` squared Euclidean distances, clamped at 0. ``x_norms``: the points'
    squared norms ``(n, 1)``, when the caller has them (they do not change from one iteration to the next)."""
    norms = (x * x).sum(1, keepdim=True) if x_norms is None else x_norms
    d = norms - 2 * x @ centroids.T + (centroids * centroids).sum(1)
    return d.clamp(min=0)


def _plus_plus(x: torch.Tensor, k: int, weights: torch.Tensor, generator: torch.Generator, x_norms: torch.Tensor) -> torch.Tensor:
    """k-means++ seeding: each next centroid drawn with probability ∝ weight · D²."""
    first = torch.multinomial(weights, 1, generator=generator)
    centroids = x[first]
    closest = squared_distances(x, centroids, x_norms).squeeze(1)
    for _ in range(1, k):
        p = weights * closest
        if float(p.sum()) <= 0:  # fewer distinct points than clusters
            p = weights
        pick = torch.multinomial(p, 1, generator=generator)
        centroids = torch.cat([centroids, x[pick]])
        closest = torch.minimum(closest, squared_distances(x, x[pick], x_norms).squeeze(1))
    return centroids


def _lloyd(
    x: torch.Tensor, centroids: torch.Tensor, weights: torch.Tensor | None, max_iter: int, tol: float, x_norms: torch.Tensor
) -> KMeansResult:
    """Lloyd iterations from ``centroids (k, dim)`` until they move less than ``tol`` (summed squared shift);
    ``weights (n,)``: the points' weights, ``None`` for all 1."""
    k = centroids.shape[0]
    for _ in range(max_iter):
        labels = squared_distances(x, centroids, x_norms).argmin(1)
        onehot = x.new_zeros(len(x), k).scatter_(1, labels[:, None], 1.0)  # (n, k): twice as fast as one_hot's
        if weights is not None:
            onehot *= weights[:, None]
        mass = onehot.sum(0)
        updated = (onehot.T @ x) / mass.clamp(min=1e-12)[:, None]
        updated = torch.where(mass[:, None] > 0, updated, centroids)  # keep empty clusters where they were
        shift = float(((updated - centroids) ** 2).sum())
        centroids = updated
        if shift <= tol:
            break
    d = squared_distances(x, centroids, x_norms)
    labels = d.argmin(1)
    closest = d.gather(1, labels[:, None]).squeeze(1)
    inertia = float((closest if weights is None else closest * weights).sum())
    return KMeansResult(centroids, labels, inertia)


def kmeans(
    x: torch.Tensor,
    k: int,
    n_init: int = 4,
    max_iter: int = 100,
    tol: float = 1e-6,
    seed: int = 0,
    weights: torch.Tensor | None = None,
) -> KMeansResult:
    """Cluster the rows of ``x`` into ``k`` groups; best of ``n_init`` k-means++ restarts.

    Args:
        x: ``(n, dim)`` float points, on any device.
        k: number of clusters, ``1 <= k <= n``.
        weights: ``(n,)`` non-negative point weights (default: all 1).

    Raises:
        ValueError: ``k`` outside ``[1, n]``.
    """
    n = x.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k-means needs 1 <= k <= number of points ({n}), got k={k}")
    w = torch.ones(n, device=x.device, dtype=x.dtype) if weights is None else weights.to(x.dtype)
    generator = torch.Generator(device=x.device).manual_seed(seed)
    x_norms = (x * x).sum(1, keepdim=True)  # once for every restart and iteration
    starts = [_plus_plus(x, k, w, generator, x_norms) for _ in range(n_init)]  # the generator's draws in order
    best: KMeansResult | None = None
    given = None if weights is None else w  # None: all 1, the products by them skipped (the same values)
    for result in _restarts(lambda centroids: _lloyd(x, centroids, given, max_iter, tol, x_norms), starts, x.device):
        if best is None or result.inertia < best.inertia:
            best = result
    assert best is not None  # n_init >= 1
    return best


def _restarts(lloyd: Callable[[torch.Tensor], KMeansResult], starts: list[torch.Tensor], device: torch.device) -> Iterator[KMeansResult]:
    """``lloyd`` of each seeding, in order. On a CPU with several torch threads, the restarts run side by
    side, one thread each, rather than each on every thread: as fast (20,000 points of a 3-minute split:
    0.17 s against 0.18 on two threads, 0.23 on one), and each restart computes what it computes on one
    thread, whatever the thread count (two intra-op threads round the centroids' sums differently)."""
    workers = min(torch.get_num_threads(), len(starts)) if device.type == "cpu" else 1
    if workers <= 1:
        yield from map(lloyd, starts)
        return
    with one_thread_each():
        yield from map_in_order(lloyd, starts, workers)


def soft_assign(x: torch.Tensor, centroids: torch.Tensor, hardness: float) -> torch.Tensor:
    """Soft k-means responsibilities ``softmax(−hardness · ‖x − μ‖²)``: ``(n, dim) → (n, k)``.

    ``hardness = inf`` gives the hard (one-hot) assignment. A view of :func:`responsibilities`.
    """
    return responsibilities(x, centroids, hardness).T


def responsibilities(x: torch.Tensor, centroids: torch.Tensor, hardness: float) -> torch.Tensor:
    """:func:`soft_assign` cluster-major: ``(n, dim) → (k, n)``, one plane per cluster.

    The softmax runs over the leading axis, in a few vectorised passes over whole planes: four times
    faster on a CPU than torch's softmax over a last axis of a few clusters, which loops per point.
    """
    d = ((x * x).sum(1)[None, :] - 2 * (centroids @ x.T) + (centroids * centroids).sum(1)[:, None]).clamp_(min=0)
    if hardness == float("inf"):
        return torch.nn.functional.one_hot(d.argmin(0), centroids.shape[0]).to(x.dtype).T.contiguous()
    return torch.softmax(d.mul_(-hardness), dim=0)
