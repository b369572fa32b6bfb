"""One output policy and one input expansion for ``separator split`` and ``plugin-host run``: existing outputs
are refused unless ``--overwrite`` or ``--skip-existing``; hidden and temporary files and the output folder
are never inputs; ``separator split --jobs N``."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin_host_fixtures import noise, write

from plugin_host.cli import main as plugin_host_main
from separator.cli import main as separator_main
from separator.engines.inputs import expand, expand_inputs

REFUSAL = "output exists; use --skip-existing to keep it or --overwrite to replace it"


def split(*args: str | Path) -> int:
    return separator_main(["split", "-q", "--stems", "vocals", *map(str, args)])


def run(*args: str | Path) -> int:
    return plugin_host_main(["run", "master-bus", "-q", *map(str, args)])


CLIS = {"separator split": split, "plugin-host run": run}


@pytest.fixture
def songs(tmp_path: Path) -> Path:
    folder = tmp_path / "songs"
    write(folder / "a.wav", noise(0.5, seed=1))
    write(folder / "live" / "b.wav", noise(0.5, seed=2))
    write(folder / ".hidden.wav", noise(0.2))
    write(folder / ".cache" / "c.wav", noise(0.2))
    write(folder / "d.part.wav", noise(0.2))
    write(folder / "e.tmp.wav", noise(0.2))
    write(folder / "f.wav.tmp123.wav", noise(0.2))
    write(folder / "x.party.wav", noise(0.2, seed=3))  # an ordinary name that merely contains "part"
    (folder / "notes.txt").write_text("not audio")
    return folder


def test_folders_and_globs_leave_out_hidden_and_temporary_files_and_the_output_folder(songs: Path) -> None:
    write(songs / "out" / "a" / "vocals.wav", noise(0.2))  # an earlier run's output inside the input folder
    taken = [songs / "a.wav", songs / "live" / "b.wav", songs / "x.party.wav"]
    assert expand_inputs([songs], exclude=songs / "out") == taken
    assert expand_inputs([str(songs / "**" / "*.wav")], exclude=songs / "out") == taken
    assert [track for _, track in expand([songs], exclude=songs / "out")] == [Path("a"), Path("live/b"), Path("x.party")]
    assert expand_inputs([songs / "d.part.wav"]) == [songs / "d.part.wav"]  # a file named on purpose is taken


@pytest.mark.parametrize("cli", sorted(CLIS))
def test_both_commands_take_the_same_inputs_and_never_their_own_outputs(cli: str, songs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = songs / "out"
    assert CLIS[cli](songs, "-o", out) == 0
    first = sorted(p.relative_to(out) for p in out.rglob("*.wav"))
    assert CLIS[cli](songs, "-o", out, "--skip-existing") == 0  # the outputs inside the input folder are not inputs
    assert sorted(p.relative_to(out) for p in out.rglob("*.wav")) == first
    assert {p.parts[0] for p in first} == ({"a", "b", "x.party"} if cli == "separator split" else {"a.wav", "live", "x.party.wav"})
    assert "error" not in capsys.readouterr().err


@pytest.mark.parametrize("cli", sorted(CLIS))
def test_existing_outputs_are_refused_in_one_line_naming_both_flags(
    cli: str, songs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    song, out = songs / "a.wav", tmp_path / "out"
    assert CLIS[cli](song, "-o", out) == 0
    written = {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")}
    capsys.readouterr()
    assert CLIS[cli](song, "-o", out) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and REFUSAL in lines[0] and str(out) in lines[0], lines
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")} == written  # nothing was replaced
    assert CLIS[cli](song, "-o", out, "--skip-existing") == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")} == written
    assert CLIS[cli](song, "-o", out, "--overwrite") == 0
    assert all(p.stat().st_mtime_ns != t for p, t in written.items())


@pytest.mark.parametrize("cli", sorted(CLIS))
def test_overwrite_and_skip_existing_cannot_be_given_together(cli: str, songs: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as info:
        CLIS[cli](songs / "a.wav", "-o", tmp_path / "out", "--overwrite", "--skip-existing")
    assert info.value.code == 2


def test_separator_split_takes_jobs(songs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert separator_main(["split", "--stems", "vocals", str(songs), "-o", str(tmp_path / "out"), "--jobs", "2"]) == 0
    assert "3 files, jobs 2, engine local" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a", "b", "x.party"]
