"""Training mixtures mixed as records usually are: drums, bass and vocals in the centre (issue 18).

``make-data`` pans every stem at random (±0.6), so the network learned to tell stems apart partly by
where they sit. Records put the kick, the bass and the lead voice in the middle, where their stereo
cues are the same; on the leave-out songs made so (``scripts/centre-data.py``) named vocals lose 3 dB.
Here a share of the training mixtures gets those classes centred, each such source replaced by its
channels' mean on both channels, so the network must hear them apart by their sound.

Centring is linear and per source: the sources still sum exactly to the (new) mixture.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

import numpy as np

from separator.classes import CLASSES
from separator.training.data.lofi import to_mono

if TYPE_CHECKING:
    from separator.training.data.mix import Batch

CENTRED = ("drums", "bass", "vocals")  # where a record usually puts them


def centre(stems: np.ndarray, labels: np.ndarray, classes: Collection[int]) -> np.ndarray:
    """A copy of ``stems (..., slots, 2, samples)`` with the slots whose ``labels (..., slots)`` are in
    ``classes`` (indices into :data:`~separator.classes.CLASSES`) made mono: the channels' mean on both.
    The other slots are unchanged; the dtype is kept (float16 shards stay float16)."""
    out = stems.copy()
    which = np.isin(labels, list(classes))
    out[which] = to_mono(stems[which]).astype(stems.dtype)
    return out


def centre_batch(batch: Batch, rng: np.random.Generator, share: float, sample_rate: int, classes: Sequence[str] = CENTRED) -> list[int]:
    """Centre the sources of ``classes`` in a ``share`` of ``batch``'s examples, in place.

    When the batch carries cached source powers (``StemBank.draw(powers=True)``), the centred sources'
    powers are computed again from their new waveforms (a mono source's mean band power over channels
    differs from the stereo one's), so the targets stay exact. Returns the indices of the changed examples.
    """
    from separator.training.data.mix import source_band_power

    wanted = [CLASSES.index(c) for c in classes]
    changed = []
    for b in range(len(batch.sources)):
        if rng.random() >= share:
            continue
        which = np.isin(batch.labels[b], wanted)
        if not which.any():
            continue
        batch.sources[b] = centre(batch.sources[b], batch.labels[b], wanted)
        if batch.powers is not None:
            batch.powers[b, which] = source_band_power(batch.sources[b, which], sample_rate)
        changed.append(b)
    return changed
