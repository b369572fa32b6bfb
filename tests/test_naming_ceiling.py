"""scripts/naming-ceiling.py: named mode with its clusters named by an oracle that sees the sources."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from conftest import REPO, generated_song, load_module

from separator import Separator
from separator.classes import CLASSES

RATE = 44100


@functools.lru_cache(maxsize=1)
def load_script():  # type: ignore[no-untyped-def]
    return load_module(REPO / "scripts" / "naming-ceiling.py", "naming_ceiling")


@pytest.fixture(scope="module")
def oracle():  # type: ignore[no-untyped-def]
    return load_script().OracleNaming.from_pretrained(device="cpu")


def song(index: int) -> tuple[np.ndarray, np.ndarray]:
    """``(sources (n, 2, samples), labels (n,))`` of a generated song's audible stems."""
    stems, present = generated_song(index)
    labels = np.flatnonzero(present)
    return stems[labels], labels


def test_each_cluster_goes_to_the_class_whose_source_has_most_power_in_its_bins() -> None:
    script = load_script()
    labels = torch.tensor([[0, 0, 1], [1, 2, 2]])  # (frames, bands): the cluster of each bin
    drums = torch.tensor([[5.0, 5.0, 0.0], [1.0, 0.0, 0.0]])
    vocals = torch.tensor([[1.0, 0.0, 3.0], [0.0, 2.0, 2.0]])
    route = script.oracle_route(labels, [(0, drums), (3, vocals)], 3, len(CLASSES))
    assert route.shape == (3, len(CLASSES)) and torch.equal(route.sum(1), torch.ones(3))
    assert route.argmax(1).tolist() == [0, 3, 3]  # cluster 1: vocals 3 against drums 1


def test_without_the_sources_it_splits_as_the_product_does(oracle, separator: Separator) -> None:  # type: ignore[no-untyped-def]
    sources, _ = song(7)
    mix = sources.sum(0)
    ours, theirs = oracle.separate(mix, RATE), separator.separate(mix, RATE)
    assert all(np.array_equal(ours[name], theirs[name]) for name in CLASSES)


def test_a_misnamed_cluster_named_by_the_oracle_gains_and_blind_is_beside_it(oracle) -> None:  # type: ignore[no-untyped-def]
    script = load_script()
    sources, labels = song(8)  # drums, vocals, other: the product names part of the other stem wrongly
    before = len(oracle.agreement)
    scores = script.score_song(oracle, sources, labels, RATE)
    assert set(scores) == set(script.ROWS)
    assert all(set(per) == {"drums", "vocals", "other"} for per in scores.values())
    named, named_oracle = (float(np.mean(list(scores[row].values()))) for row in ("named", "named, oracle names"))
    assert named_oracle > named + 2.0  # measured 5.08 -> 9.62 dB
    assert scores["named, oracle names"]["other"] > scores["named"]["other"] + 3.0  # measured -0.2 -> 7.2 dB
    assert len(oracle.agreement) == before + 1 and oracle.agreement[-1] < 1.0
    assert oracle.truth is None  # the sources are let go after the split


def test_where_the_product_names_every_cluster_as_the_oracle_does_the_scores_are_the_same(oracle) -> None:  # type: ignore[no-untyped-def]
    script = load_script()
    sources, labels = song(2)  # all five stems
    scores = script.score_song(oracle, sources, labels, RATE)
    assert oracle.agreement[-1] == 1.0
    assert scores["named, oracle names"] == scores["named"]


def test_a_track_longer_than_one_segment_is_refused() -> None:
    script = load_script()
    short = script.OracleNaming.from_pretrained(device="cpu", segment_seconds=2.0, overlap_seconds=0.5)
    sources, labels = song(7)
    with pytest.raises(ValueError, match="one segment"):
        script.score_song(short, sources, labels, RATE)
    assert short.truth is None


def test_the_confusion_counts_every_cluster_by_the_oracles_name_and_the_products(oracle) -> None:  # type: ignore[no-untyped-def]
    script = load_script()
    before = oracle.confusion.copy()
    script.score_song(oracle, *song(2), RATE)  # every cluster named as the oracle names it
    agreed = oracle.confusion - before
    assert agreed.sum() >= 5 and np.array_equal(agreed, np.diag(np.diag(agreed)))
    before = oracle.confusion.copy()
    script.score_song(oracle, *song(8), RATE)  # part of the other stem named wrongly
    counted = oracle.confusion - before
    assert counted.sum() >= 3 and np.trace(counted) / counted.sum() == pytest.approx(oracle.agreement[-1])
    assert counted[CLASSES.index("other")].sum() > counted[CLASSES.index("other"), CLASSES.index("other")]
    table = script.confusion_table(counted)
    assert table.splitlines()[1].split() == list(CLASSES)
    assert [int(v) for v in table.splitlines()[2 + CLASSES.index("other")].split()[1:]] == counted[CLASSES.index("other")].tolist()
