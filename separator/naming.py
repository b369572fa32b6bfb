"""Names for k-means clusters, from the mask head's class posteriors.

Plain k-means on deep-clustering embeddings partitions a mixture well but names
nothing. Each cluster gets a *profile*: the energy-weighted mean of the class
posteriors of its bins. Named mode assigns clusters to the stems that are present
(Hungarian matching on the profiles); blind mode orders its sources by the same
matching, so ``source1`` is the most drum-like cluster in every file.
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch


@functools.lru_cache(maxsize=1)
def _linear_sum_assignment() -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """scipy's ``linear_sum_assignment`` (Hungarian matching), loaded from its own extension module.

    ``from scipy.optimize import ...`` runs all of ``scipy.optimize``'s package imports first: 0.33 s of
    Python holding the GIL in the middle of a split's first pass, for one C function that loads in
    0.2 ms. Where scipy's files are laid out otherwise, the public import is used.
    """
    try:
        function = _lsap_extension()
    except (ImportError, AttributeError, OSError):
        function = None
    if function is None:
        from scipy.optimize import linear_sum_assignment

        function = linear_sum_assignment
    return function  # type: ignore[no-any-return]


def _lsap_extension() -> Any:
    """``linear_sum_assignment`` of the compiled ``scipy/optimize/_lsap`` module alone, or ``None``."""
    spec = importlib.util.find_spec("scipy")  # finds the package without importing it
    if spec is None or spec.origin is None:
        return None
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = Path(spec.origin).parent / "optimize" / f"_lsap{suffix}"
        if path.is_file():
            loader = importlib.machinery.ExtensionFileLoader("scipy.optimize._lsap", str(path))
            module_spec = importlib.util.spec_from_loader(loader.name, loader)
            if module_spec is None:
                return None
            module = importlib.util.module_from_spec(module_spec)
            loader.exec_module(module)
            return module.linear_sum_assignment
    return None


def _assignment(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, cols)`` of the cheapest one-to-one assignment of ``cost``'s rows to its columns (Hungarian)."""
    rows, cols = _linear_sum_assignment()(cost)
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
