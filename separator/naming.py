"""Names for k-means clusters, from the mask head's class posteriors.

Plain k-means on deep-clustering embeddings partitions a mixture well but names
nothing. Each cluster gets a *profile*: the energy-weighted mean of the class
posteriors of its bins. Named mode assigns clusters to the stems that are present
(Hungarian matching on the profiles); blind mode orders its sources by the same
matching, so ``source1`` is the most drum-like cluster in every file.
"""

from __future__ import annotations

import importlib
import sys
import threading

import numpy as np
import torch

MATCHING_MODULE = "scipy.optimize"  # linear_sum_assignment; its import takes ~0.3 s, a twentieth of a split


def prepare_matching() -> None:
    """Import the matching's library in a background thread, while the network runs, so naming the
    clusters does not wait for it (the split's start-up does not pay for it either)."""
    if MATCHING_MODULE not in sys.modules:
        threading.Thread(target=importlib.import_module, args=(MATCHING_MODULE,), name="separator-import", daemon=True).start()


def _assignment(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, cols)`` of the cheapest one-to-one assignment of ``cost``'s rows to its columns (Hungarian)."""
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(cost)
    return rows, cols


def cluster_profiles(assignments: torch.Tensor, posteriors: torch.Tensor, weights: torch.Tensor) -> np.ndarray:
    """Energy-weighted mean posterior of each cluster.

    Args:
        assignments: ``(n, k)`` soft or hard assignment of each point to the clusters.
        posteriors: ``(n, c)`` class posteriors of each point.
        weights: ``(n,)`` non-negative point weights (e.g. linear power).
    Returns:
        ``(k, c)`` rows summing to 1 (a cluster with no mass gets a uniform row).
    """
    mass = (assignments * weights[:, None]).T @ posteriors  # (k, c)
    total = mass.sum(1, keepdim=True)
    uniform = torch.full_like(mass, 1.0 / mass.shape[1])
    return torch.where(total > 0, mass / total.clamp(min=1e-30), uniform).double().cpu().numpy()


def name_clusters(profiles: np.ndarray, present: list[int]) -> np.ndarray:
    """Route clusters to names: each present name gets one cluster, the best match.

    Args:
        profiles: ``(k, n_names)`` posterior profile of each cluster per name.
        present: indices of the names to give clusters to (the others stay silent).
    Returns:
        ``(k, n_names)`` 0/1 routing matrix: one 1 per row. Clusters left over when
        ``k > len(present)`` go to their most likely present name.
    """
    k, n_names = profiles.shape
    route = np.zeros((k, n_names), np.float32)
    if not present:
        present = [int(profiles.sum(0).argmax())]
    score = np.log(profiles[:, present] + 1e-9)
    rows, cols = _assignment(-score)
    for r, c in zip(rows, cols, strict=True):
        route[r, present[c]] = 1
    for r in set(range(k)) - set(rows.tolist()):
        route[r, present[int(score[r].argmax())]] = 1
    return route


def class_matching(profiles: np.ndarray) -> dict[int, int]:
    """Hungarian matching of clusters to classes on their profiles: ``{class: cluster}``
    (``min(k, c)`` pairs; the likeliest assignment overall, not each cluster's favourite)."""
    rows, cols = _assignment(-np.log(profiles + 1e-9))
    return {int(c): int(r) for r, c in zip(rows, cols, strict=True)}


def stable_order(profiles: np.ndarray) -> list[int]:
    """Cluster order for blind mode: matched to the classes in class order, then the rest.

    Args:
        profiles: ``(k, c)`` posterior profile of each cluster.
    Returns:
        a permutation of ``range(k)``: first the clusters matched to class 0, 1, …
        (:func:`class_matching`), then unmatched clusters by their most likely class.
    """
    k, _ = profiles.shape
    matching = class_matching(profiles)
    matched = [matching[c] for c in sorted(matching)]
    rest = sorted(set(range(k)) - set(matched), key=lambda r: (int(profiles[r].argmax()), -float(profiles[r].max())))
    return matched + rest


def present_names(shares: np.ndarray, threshold: float) -> list[int]:
    """Indices of the names whose share of the mixture's energy reaches ``threshold`` (0..1); at least one."""
    present = [i for i, s in enumerate(shares) if s >= threshold]
    return present or [int(np.argmax(shares))]


def blind_groups(profiles: np.ndarray, order: list[int]) -> np.ndarray:
    """Which blind source each class's mask-head mask joins: ``(c, k)`` 0/1, one 1 per row.

    Output source ``j`` is cluster ``order[j]`` (:func:`stable_order`). A class matched to a
    cluster (:func:`class_matching`) joins that cluster's source; any other class joins the
    source whose cluster is most likely that class. Grouped this way the mask head's masks
    sum to 1 over the sources, like the cluster masks.
    """
    k, c = profiles.shape
    position = {cluster: j for j, cluster in enumerate(order)}
    matching = class_matching(profiles)
    groups = np.zeros((c, k), np.float32)
    for col in range(c):
        groups[col, position[matching[col] if col in matching else int(profiles[:, col].argmax())]] = 1
    return groups
