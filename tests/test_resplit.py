"""separator.resplit: the bass stem heard a second time, alone; what it hears as guitar, vocals or other leaves it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import generated_song

from separator import SeparationError, Separator
from separator.classes import CLASSES
from separator.resplit import MOVED, SOURCE, move_shares, moves
from separator.settings import SplitSettings
from separator.training.metrics import si_sdr_improvement

RATE = 44100
BASS = CLASSES.index("bass")


def random_masks(n: int, bins: int = 40, frames: int = 30, seed: int = 0) -> torch.Tensor:
    raw = torch.rand(n, bins, frames, generator=torch.Generator().manual_seed(seed)) + 0.01
    return raw / raw.sum(0, keepdim=True)


def test_only_guitar_vocals_and_other_move_each_into_its_own_stem() -> None:
    into = moves(CLASSES, torch.eye(len(CLASSES)))
    assert into.shape == (5, 5)
    for c, name in enumerate(CLASSES):
        expected = torch.eye(5)[c] if name in MOVED else torch.zeros(5)
        assert torch.equal(into[c], expected), name
    assert SOURCE == "bass" and "drums" not in MOVED and "bass" not in MOVED


def test_moved_shares_leave_the_source_for_their_stems_and_the_masks_still_sum_to_one() -> None:
    masks, second = random_masks(5), random_masks(5, seed=1)
    into = moves(CLASSES, torch.eye(5))
    out = move_shares(masks.clone(), second, BASS, into, 1.0)
    torch.testing.assert_close(out.sum(0), torch.ones_like(out[0]))
    for c, name in enumerate(CLASSES):
        if name in MOVED:
            torch.testing.assert_close(out[c], masks[c] + masks[BASS] * second[c])
    drums = CLASSES.index("drums")
    torch.testing.assert_close(out[drums], masks[drums])  # the drums never change
    kept = second[BASS] + second[drums]
    torch.testing.assert_close(out[BASS], masks[BASS] * kept)  # what the second hearing calls bass or drums stays


def test_the_weight_moves_that_share_of_it_and_zero_moves_nothing() -> None:
    masks, second = random_masks(5), random_masks(5, seed=1)
    into = moves(CLASSES, torch.eye(5))
    full = move_shares(masks.clone(), second, BASS, into, 1.0)
    half = move_shares(masks.clone(), second, BASS, into, 0.5)
    torch.testing.assert_close(half, (full + masks) / 2)
    torch.testing.assert_close(move_shares(masks.clone(), second, BASS, into, 0.0), masks)


def test_each_moved_class_goes_to_the_unit_it_joins() -> None:
    """Three units: the bass joined unit 0, vocals unit 1, guitar and other unit 2."""
    groups = torch.tensor([[0, 0, 1], [1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 0, 1]], dtype=torch.float32)  # class → unit
    masks, second = random_masks(3), random_masks(5, seed=1)
    out = move_shares(masks.clone(), second, 0, moves(CLASSES, groups), 1.0)
    guitar, vocals, other = (CLASSES.index(c) for c in ("guitar", "vocals", "other"))
    torch.testing.assert_close(out[1], masks[1] + masks[0] * second[vocals])
    torch.testing.assert_close(out[2], masks[2] + masks[0] * (second[guitar] + second[other]))
    torch.testing.assert_close(out.sum(0), torch.ones_like(out[0]))


@pytest.fixture(scope="module")
def pair() -> tuple[Separator, Separator]:
    """The shipped model with its second hearing (the default) and without it."""
    return Separator.from_pretrained(device="cpu"), Separator.from_pretrained(device="cpu", resplit=0.0)


def test_it_is_on_by_default_and_its_range_is_checked() -> None:
    assert SplitSettings().resplit == 0.75
    with pytest.raises(SeparationError, match=r"resplit must be a number from 0 to 1, got 1.5"):
        SplitSettings(resplit=1.5)


def test_a_voice_heard_in_the_bass_moves_to_the_vocals_and_the_drums_stay_as_they_were(pair: tuple[Separator, Separator]) -> None:
    """Song 2 (drums, bass, guitar, vocals, other): the first hearing gives part of the singer to the bass."""
    with_it, without = pair
    stems, present = generated_song(2)
    assert present.all()
    mix = stems.sum(0)
    new, old = with_it.separate(mix, RATE), without.separate(mix, RATE)
    vocals = CLASSES.index("vocals")
    gain = si_sdr_improvement(new["vocals"], stems[vocals], mix) - si_sdr_improvement(old["vocals"], stems[vocals], mix)
    assert gain > 2.0, f"vocals gained {gain:.2f} dB"  # measured 3.09 (7.42 → 10.51)
    np.testing.assert_allclose(new["drums"], old["drums"], atol=1e-5)  # the same masks (rounding may follow the thread count)
    assert float(np.sum(new["bass"] ** 2)) < float(np.sum(old["bass"] ** 2))
    np.testing.assert_allclose(sum(new.values()), mix, atol=1e-5)


def test_a_stem_of_a_subset_still_equals_that_stem_of_a_full_split(pair: tuple[Separator, Separator]) -> None:
    """The second hearing works on classes, before they are collected into the stems asked for: the
    karaoke preset's vocals are the full split's."""
    with_it, _ = pair
    mix = generated_song(2)[0].sum(0)
    full = with_it.separate(mix, RATE)
    vocals = with_it.separate(mix, RATE, stems="vocals")
    np.testing.assert_allclose(vocals["vocals"], full["vocals"], atol=1e-5)


def test_blind_mode_is_not_touched(pair: tuple[Separator, Separator]) -> None:
    with_it, without = pair
    mix = generated_song(2)[0].sum(0)
    a, b = with_it.separate(mix, RATE, clusters=3), without.separate(mix, RATE, clusters=3)
    for name in a:
        np.testing.assert_allclose(a[name], b[name], atol=1e-5)
