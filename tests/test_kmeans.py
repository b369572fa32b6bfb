"""Torch k-means agrees with scikit-learn and runs on every available device."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from separator.kmeans import kmeans, responsibilities, soft_assign

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here"))]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("k,dim", [(2, 2), (4, 20), (7, 40)])
def test_same_partition_as_scikit_learn_on_separated_blobs(device: str, k: int, dim: int) -> None:
    points, _ = make_blobs(n_samples=3000, centers=k, n_features=dim, cluster_std=0.5, center_box=(-10, 10), random_state=k)
    ours = kmeans(torch.tensor(points, dtype=torch.float32, device=device), k, seed=0)
    reference = KMeans(k, n_init=4, random_state=0).fit(points)
    assert adjusted_rand_score(reference.labels_, ours.labels.cpu().numpy()) == pytest.approx(1.0)
    assert ours.inertia == pytest.approx(reference.inertia_, rel=1e-3)


def test_same_seed_same_result_and_restarts_never_hurt() -> None:
    points = torch.randn(2000, 8, generator=torch.Generator().manual_seed(1))
    a, b = kmeans(points, 5, seed=3), kmeans(points, 5, seed=3)
    assert torch.equal(a.labels, b.labels)
    assert kmeans(points, 5, n_init=8, seed=3).inertia <= kmeans(points, 5, n_init=1, seed=3).inertia + 1e-6


@pytest.mark.parametrize("k", [3, 6])
def test_the_same_centroids_bit_for_bit_whatever_the_thread_count(k: int) -> None:
    """Restarts run side by side on several threads, each on one: the result is one thread's, exactly."""
    points = torch.randn(20000, 20, generator=torch.Generator().manual_seed(k))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        alone = kmeans(points, k, seed=0)
        torch.set_num_threads(2)
        side_by_side = kmeans(points, k, seed=0)
        assert torch.get_num_threads() == 2  # given back after the restarts
    finally:
        torch.set_num_threads(before)
    assert torch.equal(alone.centroids, side_by_side.centroids)
    assert torch.equal(alone.labels, side_by_side.labels)
    assert alone.inertia == side_by_side.inertia


def test_weights_of_one_are_no_weights() -> None:
    points = torch.randn(3000, 8, generator=torch.Generator().manual_seed(2))
    plain, ones = kmeans(points, 4, seed=1), kmeans(points, 4, seed=1, weights=torch.ones(3000))
    assert torch.equal(plain.centroids, ones.centroids)
    assert plain.inertia == ones.inertia


def test_weights_pull_centroids() -> None:
    points = torch.tensor([[0.0], [1.0], [10.0]])
    result = kmeans(points, 2, weights=torch.tensor([1.0, 3.0, 1.0]), seed=0)
    assert sorted(result.centroids.squeeze(1).tolist()) == pytest.approx([0.75, 10.0])


def test_fewer_distinct_points_than_clusters_still_returns_k_centroids() -> None:
    points = torch.zeros(10, 3)
    assert kmeans(points, 3).centroids.shape == (3, 3)


def test_bad_k_is_rejected_with_the_valid_range() -> None:
    with pytest.raises(ValueError, match=r"1 <= k <= number of points \(4\), got k=5"):
        kmeans(torch.zeros(4, 2), 5)


def test_soft_assignment_rows_sum_to_one_and_hard_limit_is_one_hot() -> None:
    x = torch.randn(50, 4)
    centroids = torch.randn(3, 4)
    soft = soft_assign(x, centroids, 5.0)
    assert torch.allclose(soft.sum(1), torch.ones(50))
    hard = soft_assign(x, centroids, float("inf"))
    assert set(hard.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(hard.argmax(1), soft.argmax(1))
    assert np.allclose(hard.sum(1).numpy(), 1)


@pytest.mark.parametrize("hardness", [3.0, float("inf")])
def test_cluster_major_responsibilities_are_the_soft_assignment_one_plane_per_cluster(hardness: float) -> None:
    x = torch.nn.functional.normalize(torch.randn(500, 20, generator=torch.Generator().manual_seed(3)), dim=1)
    centroids = x[:6] + 0.05
    planes = responsibilities(x, centroids, hardness)
    assert planes.shape == (6, 500) and planes.is_contiguous()
    torch.testing.assert_close(planes.sum(0), torch.ones(500))
    reference = torch.softmax(-hardness * torch.cdist(x, centroids) ** 2, dim=1) if hardness < float("inf") else None
    if reference is not None:
        torch.testing.assert_close(planes.T, reference, atol=1e-5, rtol=0)
    assert torch.equal(planes.argmax(0), torch.cdist(x, centroids).argmin(1))
