"""Training mixtures with drums, bass and vocals centred (separator.training.data.pans): only those
sources become mono, the others keep their pans, the mixture is still their sum, and the targets are
computed from the centred sources."""

from __future__ import annotations

import numpy as np

from separator.classes import CLASSES
from separator.training.data.mix import Batch, source_band_power
from separator.training.data.pans import centre_batch

SR = 44100
LABELS = [CLASSES.index(c) for c in ("drums", "bass", "guitar", "vocals", "other")] + [-1]


def _batch(n: int = 8, samples: int = SR // 2) -> Batch:
    rng = np.random.default_rng(1)
    sources = rng.standard_normal((n, 6, 2, samples)).astype(np.float32) * 0.1
    sources[:, :, 1] *= 0.3  # every source panned left
    sources[:, 5] = 0  # one absent slot
    labels = np.tile(np.array(LABELS), (n, 1))
    labels[1] = [-1, 2, 4, -1, -1, -1]  # no drums, bass or vocals: nothing to centre
    return Batch(sources, labels, np.stack([source_band_power(s, SR) for s in sources]))


def test_a_share_of_examples_gets_drums_bass_and_vocals_centred_and_nothing_else() -> None:
    batch = _batch()
    sources, powers = batch.sources.copy(), batch.powers.copy()
    changed = centre_batch(batch, np.random.default_rng(5), 0.5, SR)
    assert 0 < len(changed) < len(batch.sources) and 1 not in changed
    for b in range(len(batch.sources)):
        centred = [i for i, c in enumerate(batch.labels[b]) if b in changed and c in LABELS[:2] + LABELS[3:4]]
        for i in range(6):
            if i in centred:
                np.testing.assert_array_equal(batch.sources[b, i, 0], batch.sources[b, i, 1])
                np.testing.assert_allclose(batch.sources[b, i, 0], sources[b, i].mean(0), atol=1e-7)
                np.testing.assert_allclose(batch.powers[b, i], source_band_power(batch.sources[b, i][None], SR)[0], rtol=1e-4, atol=1e-10)
                assert not np.allclose(batch.powers[b, i], powers[b, i])  # a centred source's mean power changes
            else:
                np.testing.assert_array_equal(batch.sources[b, i], sources[b, i])
                np.testing.assert_array_equal(batch.powers[b, i], powers[b, i])
    assert not batch.sources[:, 5].any() and not batch.powers[:, 5].any()  # absent stays absent


def test_no_share_changes_nothing_and_a_full_share_changes_every_example_that_has_them() -> None:
    batch = _batch()
    before = batch.sources.copy()
    assert centre_batch(batch, np.random.default_rng(0), 0.0, SR) == []
    np.testing.assert_array_equal(batch.sources, before)
    assert centre_batch(batch, np.random.default_rng(0), 1.0, SR) == [0, 2, 3, 4, 5, 6, 7]
