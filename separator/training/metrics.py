"""Separation quality: scale-invariant SDR and its improvement over the mixture."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

EPS = 1e-10
# SI-SDR of a silent estimate of an audible source. The formula gives 0/0 there, and the usual
# epsilons turn that into 0 dB, which scores silence *above* the mixture for any source quieter
# than the rest (a named stem left silent would "improve" by 10 dB). Silence carries none of the
# source, so it gets the score of an estimate holding a thousandth of the source's energy.
SILENT_DB = -30.0
SILENT_ENERGY = 1e-10  # an estimate with at most this share of the reference's energy is silent


def is_silent(estimate: np.ndarray, reference: np.ndarray) -> bool:
    """Whether ``estimate`` holds at most :data:`SILENT_ENERGY` of ``reference``'s energy."""
    est = np.asarray(estimate, np.float64)
    ref = np.asarray(reference, np.float64)
    return float(np.sum(est**2)) <= SILENT_ENERGY * float(np.sum(ref**2))


def si_sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Scale-invariant SDR in dB (Le Roux et al., 2019) of a whole (multi-channel) signal.

    Both arrays are flattened, so a stereo stem is scored as one signal. A silent estimate
    of an audible reference scores :data:`SILENT_DB`.
    """
    est = np.asarray(estimate, np.float64).ravel()
    ref = np.asarray(reference, np.float64).ravel()
    est, ref = est - est.mean(), ref - ref.mean()
    if ref @ ref > EPS and is_silent(est, ref):
        return SILENT_DB
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
