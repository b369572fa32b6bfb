"""Overlapping segments and their crossfaded reassembly, for bounded memory.

A long signal is cut into segments that start ``block`` samples apart and are
``block + overlap`` long. Neighbouring outputs are crossfaded over the
``overlap`` samples with complementary linear ramps, whose weights sum to one,
so stems that add up to their segment's mixture still add up to the mixture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np


def segment_starts(n_samples: int, block: int, overlap: int) -> range:
    """The first sample of each segment of a signal ``n_samples`` long (:func:`segments`)."""
    return range(0, max(n_samples - overlap, 1), block)


def segments(audio: np.ndarray, block: int, overlap: int) -> Iterator[np.ndarray]:
    """Views ``(channels, <= block + overlap)`` of ``audio`` starting every ``block`` samples."""
    for start in segment_starts(audio.shape[-1], block, overlap):
        yield audio[..., start : start + block + overlap]


def crossfade(outputs: Iterable[np.ndarray], overlap: int) -> Iterator[np.ndarray]:
    """Reassemble processed segments into consecutive, non-overlapping pieces.

    Args:
        outputs: per segment ``(..., length)`` arrays, aligned like :func:`segments`.
        overlap: samples shared by neighbouring segments.
    Yields:
        ``(..., n)`` pieces that, concatenated, cover the whole signal once.
    """
    pending: np.ndarray | None = None
    for out in outputs:
        head = out[..., :overlap] if pending is not None else out[..., :0]
        if pending is not None:
            ramp = (np.arange(1, overlap + 1, dtype=np.float32) / (overlap + 1))[: head.shape[-1]]
            yield pending[..., : head.shape[-1]] * (1 - ramp) + head * ramp
        body_end = max(head.shape[-1], out.shape[-1] - overlap)
        yield out[..., head.shape[-1] : body_end]
        pending = out[..., body_end:]
    if pending is not None and pending.shape[-1]:
        yield pending


def process_chunked(fn: Callable[[np.ndarray], np.ndarray], audio: np.ndarray, block: int, overlap: int) -> np.ndarray:
    """``fn`` applied segment by segment to ``(channels, samples)`` audio, crossfaded.

    ``fn`` maps ``(channels, n) → (..., n)``; the result is ``(..., samples)``.
    With an identity ``fn`` the result equals ``audio`` exactly.
    """
    pieces = list(crossfade((fn(seg) for seg in segments(audio, block, overlap)), overlap))
    return np.concatenate(pieces, axis=-1)
