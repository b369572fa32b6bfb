"""Naming k-means clusters with the mask head: named stems from clusters, a stable blind order."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import generated_song
from scipy.optimize import linear_sum_assignment

from separator import Separator
from separator.classes import CLASSES
from separator.naming import blind_groups, cluster_profiles, name_clusters, present_names, stable_order
from separator.training.metrics import best_permutation


def test_profiles_are_energy_weighted_mean_posteriors() -> None:
    assign = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    post = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.2, 0.8]])
    profiles = cluster_profiles(assign, post, torch.tensor([3.0, 1.0, 1.0]))
    np.testing.assert_allclose(profiles, [[0.75, 0.25], [0.2, 0.8]])


def test_each_present_name_gets_its_best_cluster_even_when_another_cluster_likes_it_more() -> None:
    profiles = np.array([[0.9, 0.1, 0.0], [0.6, 0.4, 0.0], [0.1, 0.1, 0.8]])
    route = name_clusters(profiles, present=[0, 1, 2])
    assert route.argmax(1).tolist() == [0, 1, 2]  # cluster 1 leans to 0, but 0 is taken: Hungarian matching
    assert route.sum(1).tolist() == [1, 1, 1]


def test_absent_names_get_no_cluster_and_extra_clusters_join_their_likeliest_present_name() -> None:
    profiles = np.array([[0.7, 0.1, 0.2], [0.1, 0.2, 0.7], [0.5, 0.3, 0.2]])
    route = name_clusters(profiles, present=[0, 2])
    assert route[:, 1].sum() == 0
    assert route.argmax(1).tolist() == [0, 2, 0]


def test_blind_order_puts_the_most_drum_like_cluster_first() -> None:
    profiles = np.array([[0.1, 0.1, 0.1, 0.6, 0.1], [0.7, 0.1, 0.1, 0.05, 0.05], [0.1, 0.7, 0.1, 0.05, 0.05]])
    assert stable_order(profiles) == [1, 2, 0]
    six = np.vstack([profiles, [[0.1, 0.1, 0.6, 0.1, 0.1], [0.1, 0.1, 0.1, 0.1, 0.6], [0.5, 0.2, 0.1, 0.1, 0.1]]])
    assert stable_order(six)[:5] == [1, 2, 3, 0, 4] and stable_order(six)[5] == 5


def test_blind_mode_gives_each_class_mask_to_its_matched_source_and_the_rest_to_the_likeliest() -> None:
    """Three clusters, five classes: drums, bass and vocals are matched; guitar and other join the
    source whose cluster is most guitar-like / other-like. Every class joins exactly one source."""
    profiles = np.array([[0.1, 0.1, 0.1, 0.6, 0.1], [0.7, 0.1, 0.1, 0.05, 0.05], [0.1, 0.5, 0.3, 0.05, 0.05]])
    order = stable_order(profiles)  # [1, 2, 0]: drums-like, bass-like, vocals-like
    groups = blind_groups(profiles, order)
    assert groups.shape == (5, 3)
    assert groups.sum(1).tolist() == [1, 1, 1, 1, 1]
    assert groups.argmax(1).tolist() == [0, 1, 1, 2, 2]  # guitar → bass-like source, other → vocals-like


def test_blind_sources_mixing_in_the_mask_head_still_add_back_and_differ_from_clusters_alone(song) -> None:  # type: ignore[no-untyped-def]
    stems, _ = song
    mix = stems[0] + stems[1]
    alone = Separator.from_pretrained(device="cpu", blind_blend=1.0).separate(mix, 44100, clusters=3)
    mixed = Separator.from_pretrained(device="cpu", blind_blend=0.5).separate(mix, 44100, clusters=3)
    assert list(mixed) == ["source1", "source2", "source3"]
    np.testing.assert_allclose(sum(mixed.values()), mix, atol=1e-5)
    assert not np.allclose(mixed["source1"], alone["source1"], atol=1e-4)
    assert best_permutation(list(mixed.values())[:2], [stems[0], stems[1]]) == [0, 1]  # still drums first


def test_presence_threshold_keeps_at_least_one_name() -> None:
    assert present_names(np.array([0.5, 0.02, 0.48]), 0.05) == [0, 2]
    assert present_names(np.array([0.01, 0.03]), 0.05) == [1]


@pytest.fixture(scope="module")
def song() -> tuple[np.ndarray, np.ndarray]:
    stems, present = generated_song(2)
    return stems, present


def test_named_stems_from_clusters_add_back_and_absent_stems_are_silent(separator: Separator, song) -> None:  # type: ignore[no-untyped-def]
    stems, _ = song
    drums_and_bass = stems[0] + stems[1]
    out = separator.separate(drums_and_bass, 44100)
    assert list(out) == list(CLASSES)
    np.testing.assert_allclose(sum(out.values()), drums_and_bass, atol=1e-5)
    level = {name: float(np.mean(audio**2)) / float(np.mean(drums_and_bass**2)) for name, audio in out.items()}
    assert level["drums"] + level["bass"] > 0.7, level
    assert max(level["guitar"], level["vocals"]) < 0.1, level


def test_mask_naming_is_still_available(song) -> None:  # type: ignore[no-untyped-def]
    stems, _ = song
    sep = Separator.from_pretrained(device="cpu", naming="masks")
    out = sep.separate(stems.sum(0), 44100)
    assert all(float(np.mean(a**2)) > 0 for a in out.values())  # soft masks: every stem gets something


def test_blind_sources_come_in_the_same_order_from_file_to_file(separator: Separator) -> None:
    """source1 is the drums in every song (the most drum-like cluster comes first)."""
    for index in (3, 4, 5):
        stems, present = generated_song(index)
        if not (present[0] and present[1]):
            continue
        mix = stems[0] + stems[1]
        out = list(separator.separate(mix, 44100, clusters=2).values())
        assert best_permutation(out, [stems[0], stems[1]]) == [0, 1], f"song {index}: source1 is not the drums"


def test_extra_clusters_still_give_named_stems_that_add_back_with_absent_stems_silent(song) -> None:  # type: ignore[no-untyped-def]
    """Fitting a cluster more than there are stems present (it joins its likeliest stem) keeps every
    promise of named mode: the same stems, adding back to the mix, absent ones near-silent."""
    stems, _ = song
    drums_and_bass = stems[0] + stems[1]
    plain = Separator.from_pretrained(device="cpu", extra_clusters=0).separate(drums_and_bass, 44100)
    extra = Separator.from_pretrained(device="cpu", extra_clusters=2).separate(drums_and_bass, 44100)
    assert list(extra) == list(CLASSES)
    np.testing.assert_allclose(sum(extra.values()), drums_and_bass, atol=1e-5)
    level = {name: float(np.mean(audio**2)) / float(np.mean(drums_and_bass**2)) for name, audio in extra.items()}
    assert level["drums"] + level["bass"] > 0.7 and max(level["guitar"], level["vocals"]) < 0.1, level
    assert not np.allclose(extra["drums"], plain["drums"], atol=1e-4)  # three clusters were fitted, not two


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_extra_clusters_must_be_a_whole_number(bad) -> None:  # type: ignore[no-untyped-def]
    from separator.errors import SeparationError

    with pytest.raises(SeparationError, match=r"extra_clusters must be a whole number ≥ 0, got"):
        Separator.from_pretrained(device="cpu", extra_clusters=bad)


def test_hungarian_matching_is_scipys_without_importing_scipy_optimize() -> None:
    probe = (
        "import sys, numpy as np; from separator.naming import _assignment; "
        "cost = np.random.default_rng(0).random((6, 5)); print(*map(list, _assignment(cost)), 'scipy.optimize' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    rows, cols = linear_sum_assignment(np.random.default_rng(0).random((6, 5)))
    assert out.strip() == f"{list(rows)} {list(cols)} False"  # the same matching; the package's 0.3-s import skipped
