"""scripts/fof-set.py: Frets on Fire songs laid out as a folder of stems per song, which `separator evaluate` reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from conftest import REPO

from separator.classes import CLASSES
from separator.training.evaluate import iter_songs

SCRIPT = REPO / "scripts" / "fof-set.py"
RATE = 44100


def game_song(folder: Path, stems: dict[str, float], seconds: float = 1.0) -> None:
    """A song folder as the game packages lay it out: one stereo Ogg Vorbis file per part (a sine each)."""
    folder.mkdir(parents=True)
    t = np.arange(int(seconds * RATE)) / RATE
    for name, hz in stems.items():
        tone = 0.2 * np.sin(2 * np.pi * hz * t)
        sf.write(folder / name, np.stack([tone, tone], 1), RATE, format="OGG", subtype="VORBIS")
    (folder / "song.ini").write_text("[song]\nname = x\n")
    (folder / "notes.mid").write_bytes(b"MThd")


def fof_set(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], check=False, capture_output=True, text=True)


def test_each_song_becomes_a_folder_of_its_stems_named_by_band_and_song(tmp_path: Path) -> None:
    songs = tmp_path / "src" / "fretsonfire-songs-x" / "usr" / "share" / "games" / "fretsonfire" / "data" / "songs"
    game_song(songs / "muldjord" / "chaos_god", {"song.ogg": 220.0, "guitar.ogg": 660.0})
    game_song(songs / "sectoid" / "Metal madness", {"song.ogg": 110.0, "guitar.ogg": 880.0, "rhythm.ogg": 330.0})
    game_song(songs / "sectoid" / "no guitar", {"song.ogg": 110.0})  # not a song of the set
    run = fof_set(str(tmp_path / "src"), str(tmp_path / "fof"))
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"fof-set: 2 songs in {tmp_path / 'fof'}"
    out = tmp_path / "fof"
    assert sorted(p.name for p in out.iterdir()) == ["muldjord-chaos_god", "recipe.json", "sectoid-Metal_madness"]
    assert sorted(p.name for p in (out / "muldjord-chaos_god").iterdir()) == ["backing.ogg", "guitar.ogg"]
    assert sorted(p.name for p in (out / "sectoid-Metal_madness").iterdir()) == ["backing.ogg", "guitar.ogg", "rhythm.ogg"]
    assert (out / "sectoid-Metal_madness" / "guitar.ogg").read_bytes() == (songs / "sectoid" / "Metal madness" / "guitar.ogg").read_bytes()
    assert json.loads((out / "recipe.json").read_text())["songs"] == ["muldjord-chaos_god", "sectoid-Metal_madness"]

    read = list(iter_songs(out))  # as `separator evaluate --data` reads it: the guitar named, the rest unknown
    assert len(read) == 2
    for refs, labels, rate in read:
        assert rate == RATE and refs.shape[1:] == (2, RATE)
        assert sorted(labels.tolist()) == sorted([CLASSES.index("guitar")] + [-1] * (len(labels) - 1))
    assert [len(labels) for _, labels, _ in read] == [2, 3]


def test_without_the_packages_it_says_how_to_fetch_them(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    run = fof_set(str(tmp_path / "empty"), str(tmp_path / "fof"))
    assert run.returncode == 1
    assert (
        run.stderr.strip()
        == f"fof-set: {tmp_path / 'empty'}: no Frets on Fire song (a folder with song.ogg and guitar.ogg); run scripts/make-sets.py fof"
    )
    assert not (tmp_path / "fof").exists()
