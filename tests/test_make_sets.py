"""scripts/make-sets.py: the model card's data sets made again with its commands, on a new machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from conftest import REPO, load_module, require_held_out_sources

from separator.training.data.sources import HELD_OUT
from separator.training.data.tracker import RESERVED_PACKAGES

SCRIPT = REPO / "scripts" / "make-sets.py"


def make_sets(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], check=False, capture_output=True, text=True)


def test_a_dry_run_prints_the_cards_commands_sources_first_and_makes_nothing(tmp_path: Path) -> None:
    run = make_sets("val-out-lp3800", "tracker", "synth-db", "--data", str(tmp_path / "d"), "--jobs", "3", "--dry-run")
    assert run.returncode == 0, run.stderr
    d = tmp_path / "d"
    assert run.stdout.splitlines() == [
        f"separator make-data {d}/val-out --songs 48 --seed 21 --jobs 3 --shard-size 48 --only sf_GMbank,exadrums,fillets-nl",
        f"python scripts/band-limit-data.py {d}/val-out {d}/val-out-lp3800 --lowpass 3800",
        f"# fetch-tracker-songs {d}/tracker-src",
        f"separator tracker-data {d}/tracker --modules {d}/tracker-src --val {d}/tracker-val --jobs 3",
        f"separator make-data {d}/synth-train --songs 800 --seed 71 --jobs 3 --shard-size 100 --only synth "
        "--exclude sf_GMbank,exadrums,fillets-nl",
        f"python scripts/keep-classes.py {d}/synth-train {d}/synth-db --classes drums,bass",
    ]
    assert not d.exists()


def test_groups_name_each_set_once_and_training_sets_never_draw_held_out_sources(tmp_path: Path) -> None:
    run = make_sets("all", "measure", "--data", str(tmp_path), "--dry-run")
    lines = run.stdout.splitlines()
    outputs = [line.split()[2 if line.startswith("separator") else 3] for line in lines if not line.startswith("#")]
    assert len(outputs) == len(set(outputs)) == 24  # every set of the card once, however often it is asked for
    for line in lines:
        if any(f"/{name} " in line for name in ("lb-train", "lb-heavy", "lb-long", "lb-rock")):
            assert "--exclude sf_GMbank,exadrums,fillets-nl,synth" in line  # the sources they held when first made
        if "/tune-rock-out " in line:
            assert "--rock-guitar 0.6 --only sf_GMbank,exadrums,fillets-nl" in line  # held-out sources only
    long = make_sets("long", "--data", str(tmp_path), "--jobs", "2", "--dry-run").stdout.splitlines()
    assert long == [
        f"separator make-data {tmp_path}/lb-long --songs 240 --seed 81 --jobs 2 --shard-size 40 --seconds 12 "
        "--exclude sf_GMbank,exadrums,fillets-nl,synth",
        f"# fetch-tracker-songs {tmp_path}/tracker-src",
        f"separator tracker-data {tmp_path}/tracker-long --seconds 12 --modules {tmp_path}/tracker-src --jobs 2",
        f"separator make-data {tmp_path}/tune-long --songs 16 --seed 51 --jobs 2 --shard-size 16 --seconds 30 "
        "--only sf_GMbank,exadrums,fillets-nl",
    ], "no --val: the held-out songs are tracker-val's, and are skipped"


def test_the_new_real_songs_come_from_packages_no_training_set_reads(tmp_path: Path) -> None:
    script = load_module(SCRIPT, "make_sets")
    assert not set(script.TRACKER_NEW_PACKAGES) & set(script.TRACKER_PACKAGES)
    assert not set(script.TRACKER_NEW_PACKAGES) & set(RESERVED_PACKAGES)  # nor the hidden measurement's
    assert "tracker-new" in script.GROUPS["report"] and not any("tracker-new" in script.GROUPS[g] for g in ("choose", "train", "long"))
    run = make_sets("tracker-new", "--data", str(tmp_path), "--jobs", "2", "--dry-run")
    assert run.stdout.splitlines() == [
        f"# fetch-tracker-songs {tmp_path}/tracker-new-src",
        f"separator tracker-data {tmp_path}/tracker-new --holdout-percent 0 --max-windows-per-song 8 "
        f"--modules {tmp_path}/tracker-new-src --jobs 2",
    ]
    every = make_sets("all", "--data", str(tmp_path), "--dry-run").stdout
    assert f"--modules {tmp_path}/tracker-new-src " in every and f"--modules {tmp_path}/tracker-src" in every


def test_the_fresh_real_songs_choose_and_come_from_packages_no_other_set_reads(tmp_path: Path) -> None:
    script = load_module(SCRIPT, "make_sets")
    fresh = set(script.TRACKER_FRESH_PACKAGES)
    others = set(script.TRACKER_PACKAGES) | set(script.TRACKER_NEW_PACKAGES) | set(script.FOF_PACKAGES)
    assert len(fresh) == 7 and not fresh & others and not fresh & set(RESERVED_PACKAGES)
    assert "tracker-fresh" in script.GROUPS["choose"]
    assert not any("tracker-fresh" in script.GROUPS[g] for g in ("report", "train", "long"))
    run = make_sets("tracker-fresh", "--data", str(tmp_path), "--jobs", "2", "--dry-run")
    assert run.stdout.splitlines() == [
        f"# fetch-tracker-songs {tmp_path}/tracker-fresh-src",
        f"separator tracker-data {tmp_path}/tracker-fresh --holdout-percent 0 --max-windows-per-song 8 "
        f"--modules {tmp_path}/tracker-fresh-src --jobs 2",
    ]


def test_one_new_package_is_split_into_songs_to_train_on_and_songs_to_choose_with(tmp_path: Path) -> None:
    script = load_module(SCRIPT, "make_sets")
    iron = script.SETS["tracker-iron"]
    assert iron.package in script.TRACKER_NEW_PACKAGES and iron.songs == "tracker-new-src"
    assert "tracker-iron" in script.GROUPS["train"] and "tracker-iron" in script.GROUPS["choose"]
    assert "tracker-iron" not in script.GROUPS["report"]
    run = make_sets("tracker-iron", "--data", str(tmp_path), "--jobs", "2", "--dry-run")
    assert run.stdout.splitlines() == [
        f"# fetch-tracker-songs {tmp_path}/tracker-new-src",
        f"separator tracker-data {tmp_path}/tracker-iron --holdout-percent 50 --max-windows-per-song 25 "
        f"--modules {tmp_path}/tracker-new-src/ironseed-data --val {tmp_path}/tracker-iron-val --jobs 2",
    ], "only that package's songs; the held-out half goes to tracker-iron-val"


def test_an_unknown_set_is_one_line_that_lists_the_sets() -> None:
    run = make_sets("val-outt")
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr.count("\n") == 1
    assert run.stderr.startswith("make-sets: unknown set val-outt; sets: tune-out, tune3-out, val-out,")
    assert "groups: choose, report, train, long, measure, all" in run.stderr


def test_a_copy_is_made_with_its_source_and_a_second_run_keeps_both(tmp_path: Path) -> None:
    require_held_out_sources()
    first = make_sets("tune-out-centred", "--data", str(tmp_path))
    assert first.returncode == 0, first.stderr
    recipe = json.loads((tmp_path / "tune-out" / "recipe.json").read_text())
    assert (recipe["seed"], recipe["only"]) == (22, list(HELD_OUT))
    with np.load(tmp_path / "tune-out" / "shard-00000.npz") as made, np.load(tmp_path / "tune-out-centred" / "shard-00000.npz") as copy:
        assert made["stems"].shape[0] == 32
        guitar = made["labels"] == 2
        np.testing.assert_array_equal(copy["stems"][guitar], made["stems"][guitar])  # guitar where make-data panned it
        drums = copy["stems"][copy["labels"] == 0]  # (songs, 2, samples)
        np.testing.assert_array_equal(drums[:, 0], drums[:, 1])  # the drums centred
        assert np.abs(made["stems"][made["labels"] == 0][:, 0] - made["stems"][made["labels"] == 0][:, 1]).max() > 0.01
    stamp = (tmp_path / "tune-out-centred" / "shard-00000.npz").stat().st_mtime_ns
    again = make_sets("tune-out-centred", "--data", str(tmp_path))
    assert again.returncode == 0
    assert again.stdout.splitlines() == [
        f"# tune-out: already made under {tmp_path}/tune-out",
        f"# tune-out-centred: already made under {tmp_path}/tune-out-centred",
    ]
    assert (tmp_path / "tune-out-centred" / "shard-00000.npz").stat().st_mtime_ns == stamp


def test_the_recorded_songs_come_from_the_frets_on_fire_packages_and_only_report(tmp_path: Path) -> None:
    script = load_module(SCRIPT, "make_sets")
    assert script.SONG_FOLDERS["fof-src"] == script.FOF_PACKAGES
    assert not set(script.FOF_PACKAGES) & set(RESERVED_PACKAGES)
    assert "fof" in script.GROUPS["report"] and not any("fof" in script.GROUPS[g] for g in ("choose", "train", "long"))
    run = make_sets("fof", "--data", str(tmp_path), "--dry-run")
    assert run.stdout.splitlines() == [
        f"# fetch-songs {tmp_path}/fof-src",
        f"python scripts/fof-set.py {tmp_path}/fof-src {tmp_path}/fof",
    ]


def test_a_failed_fetch_is_one_line_naming_the_set_and_where_to_fetch_by_hand(tmp_path: Path) -> None:
    """An offline machine, as apt-get meets one: a stand-in ``apt-get`` first on PATH that fails as apt does."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "apt-get").write_text("#!/bin/sh\necho 'E: Unable to locate package' >&2\nexit 100\n")
    (bin_dir / "apt-get").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "fof", "--data", str(tmp_path / "d")], check=False, capture_output=True, text=True, env=env
    )
    assert run.returncode == 1
    assert run.stderr.splitlines()[-1] == (
        "make-sets: fof: apt-get download fretsonfire-songs-muldjord failed (exit 100); "
        "run apt-get update first, or fetch them as docs/training.md says"
    )
    assert not (tmp_path / "d" / "fof").exists()
