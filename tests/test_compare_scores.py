"""scripts/compare-scores.py: two `separator evaluate --json` runs paired song by song."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, load_module


@functools.lru_cache(maxsize=1)
def load_script():  # type: ignore[no-untyped-def]
    return load_module(REPO / "scripts" / "compare-scores.py", "compare_scores")


def write(path: Path, songs: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"songs": len(songs), "per_song": songs}))
    return path


def run(tmp_path: Path, a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[dict[str, Any]]:
    script = load_script()
    return script.compare(script.load_songs(write(tmp_path / "a.json", a)), script.load_songs(write(tmp_path / "b.json", b)), 2000)  # type: ignore[no-any-return]


def test_a_gain_on_every_song_is_measured_with_an_interval_that_excludes_zero(tmp_path: Path) -> None:
    a = [{"song": i, "named": [5.0 + i, 7.0 - i], "blind": [6.0, 6.0 + i]} for i in range(10)]
    b = [{"song": i, "named": [6.0 + i, 8.0 - i], "blind": [6.0, 6.0 + i]} for i in range(10)]
    named, blind = run(tmp_path, a, b)
    assert named["mode"] == "named" and named["songs"] == 10
    assert named["b"] - named["a"] == pytest.approx(1.0)
    assert named["low"] == pytest.approx(1.0) and named["high"] == pytest.approx(1.0)
    assert (named["raised"], named["lowered"]) == (10, 0)
    assert blind["b"] == blind["a"] and (blind["raised"], blind["lowered"]) == (0, 0)


def test_one_song_s_big_change_gives_an_interval_that_spans_zero(tmp_path: Path) -> None:
    a = [{"song": i, "blind": [6.0, 8.0]} for i in range(32)]
    b = [{"song": i, "blind": [6.0, 8.0 + (8.0 if i == 3 else -0.1)]} for i in range(32)]
    (blind,) = run(tmp_path, a, b)
    assert blind["b"] - blind["a"] > 0  # the mean rose …
    assert blind["low"] < 0 < blind["high"]  # … by one song: chance, as far as these songs can tell
    assert (blind["raised"], blind["lowered"]) == (1, 31)


def test_the_pooled_mean_counts_every_scored_source_once_as_the_tables_do(tmp_path: Path) -> None:
    a = [{"song": 0, "named": [1.0, 1.0, 1.0, 1.0]}, {"song": 1, "named": [9.0]}]
    (named,) = run(tmp_path, a, a)
    assert named["a"] == pytest.approx(13.0 / 5)  # not the mean of the song means (5.0)


def test_runs_of_different_songs_or_without_per_song_scores_are_refused(tmp_path: Path) -> None:
    script = load_script()
    with pytest.raises(script.ScoresError, match=r"different songs \(only in the first: 0; only in the second: 1\)"):
        run(tmp_path, [{"song": 0, "named": [1.0]}], [{"song": 1, "named": [1.0]}])
    with pytest.raises(script.ScoresError, match="different sources"):
        run(tmp_path, [{"song": 0, "named": [1.0]}], [{"song": 0, "named": [1.0, 2.0]}])
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"songs": 3, "named": {"mean": 7.0}}))
    with pytest.raises(script.ScoresError, match=r"old\.json: no per-song scores"):
        script.load_songs(old)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(script.ScoresError, match=r"broken\.json: cannot read it as JSON"):
        script.load_songs(broken)
