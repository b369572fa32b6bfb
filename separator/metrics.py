"""Separation quality: scale-invariant SDR and its improvement over the mixture."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

EPS = 1e-10


def si_sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Scale-invariant SDR in dB (Le Roux et al., 2019) of a whole (multi-channel) signal.

    Both arrays are flattened, so a stereo stem is scored as one signal.
    """
    est = np.asarray(estimate, np.float64).ravel()
    ref = np.asarray(reference, np.float64).ravel()
    est, ref = est - est.mean(), ref - ref.mean()
    scale = (est @ ref) / max(ref @ ref, EPS)
    target = scale * ref
    noise = est - target
    return float(10 * np.log10(max(target @ target, EPS) / max(noise @ noise, EPS)))


def si_sdr_improvement(estimate: np.ndarray, reference: np.ndarray, mixture: np.ndarray) -> float:
    """SI-SDR of ``estimate`` minus that of the unprocessed ``mixture``, in dB."""
    return si_sdr(estimate, reference) - si_sdr(mixture, reference)


def best_permutation(estimates: list[np.ndarray], references: list[np.ndarray]) -> list[int]:
    """For blind outputs: ``perm[i]`` is the estimate matched to reference ``i`` (max total SI-SDR)."""
    scores = np.array([[si_sdr(e, r) for e in estimates] for r in references])
    rows, cols = linear_sum_assignment(-scores)
    perm = [0] * len(references)
    for r, c in zip(rows, cols, strict=True):
        perm[r] = int(c)
    return perm
