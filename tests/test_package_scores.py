"""scripts/package-scores.py: evaluate runs over a tracker set, per Debian package, and without one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, load_module

SCRIPT = REPO / "scripts" / "package-scores.py"


def tracker_set(folder: Path, songs: list[list[str]]) -> Path:
    """Two shards whose windows' first sources name their songs, as ``separator tracker-data`` writes them."""
    folder.mkdir()
    for i, part in enumerate(songs):
        sources = np.array([[f"tracker:{song}#1:Bass", ""] for song in part])
        np.savez(folder / f"shard-{i:05d}.npz", sources=sources)
    return folder


def run_file(path: Path, per_song: list[dict[str, object]]) -> Path:
    path.write_text(json.dumps({"songs": len(per_song), "per_song": per_song}))
    return path


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tracker_set(tmp_path / "set", [["iron/A.MOD", "iron/A.MOD"], ["pekka/b.xm", "iron/C.MOD"]])


def test_each_window_is_given_its_package_in_the_order_evaluate_reads_them(data: Path) -> None:
    assert load_module(SCRIPT, "package_scores").song_packages(data) == ["iron", "iron", "pekka", "iron"]


def test_packages_are_scored_by_their_own_windows_every_source_counting_once(data: Path, tmp_path: Path) -> None:
    script = load_module(SCRIPT, "package_scores")
    run = {"per_song": [
        {"song": 0, "named": [1.0, 3.0], "blind": [4.0]},
        {"song": 1, "blind": [2.0]},
        {"song": 2, "named": [-5.0], "blind": [6.0, 8.0]},
        {"song": 3, "named": [2.0]},
    ]}  # fmt: skip
    scores = script.per_package(run, script.song_packages(data))
    assert scores == {"iron": {"named": (2.0, 2), "blind": (3.0, 2)}, "pekka": {"named": (-5.0, 1), "blind": (7.0, 1)}}


def test_a_run_without_one_package_keeps_the_other_windows_for_compare_scores(data: Path, tmp_path: Path) -> None:
    songs = [{"song": i, "named": [float(i)]} for i in range(4)]
    out = tmp_path / "rest.json"
    assert (
        load_module(SCRIPT, "package_scores").main(
            [str(data), str(run_file(tmp_path / "a.json", songs)), "--without", "iron", "--out", str(out)]
        )
        == 0
    )
    rest = json.loads(out.read_text())
    assert rest["per_song"] == [{"song": 2, "named": [2.0]}] and rest["songs"] == 4


def test_a_folder_that_is_not_a_tracker_set_is_one_line_naming_it(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match=r"empty: no shard-\*\.npz; make it with separator tracker-data"):
        load_module(SCRIPT, "package_scores").song_packages(tmp_path / "empty")


def test_a_run_of_another_set_is_one_line_saying_so(data: Path) -> None:
    script = load_module(SCRIPT, "package_scores")
    with pytest.raises(SystemExit, match="scored window 9, the set has 4; use the set it scored"):
        script.without({"per_song": [{"song": 9, "named": [1.0]}]}, script.song_packages(data), "iron")
