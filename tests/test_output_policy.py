"""One output policy and one input expansion for ``separator split`` and ``plugin-host run``: existing outputs
are refused unless ``--overwrite`` or ``--skip-existing``; hidden and temporary files and the output folder
are never inputs; ``separator split --jobs N``. Each shared check (:func:`stembase.outputs.output_conflict`,
:func:`batch_runner.policy.check_count`) gives one message on every face, the OSC server's included."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from osc_support import OscClient
from plugin_host_fixtures import noise, write

from batch_runner.inputs import expand, expand_inputs
from plugin_host.control.osc.service import ServeOptions, Service
from separator import Separator
from stembase.outputs import output_conflict
from stemsplit.plugin_host_cli import main as plugin_host_main
from stemsplit.separator_cli import main as separator_main

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
    assert {p.parts[0] for p in first} == ({"a", "live", "x.party"} if cli == "separator split" else {"a.wav", "live", "x.party.wav"})
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
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a", "live", "x.party"]


# -- one rule, one message, on every face --------------------------------------------------------------


def test_the_output_rule_refuses_inputs_always_and_existing_files_unless_allowed(tmp_path: Path) -> None:
    song, stem, new = write(tmp_path / "song.wav", noise(0.1)), write(tmp_path / "vocals.wav", noise(0.1)), tmp_path / "other.wav"
    assert output_conflict([new, song], [song], overwrite=True) == f"{song}: output would overwrite an input; choose another output folder"
    assert output_conflict([new, stem]) == f"{stem}: {REFUSAL}"
    assert (
        output_conflict([stem], remedy="start the server with --overwrite") == f"{stem}: output exists; start the server with --overwrite"
    )
    assert output_conflict([new, stem], [song], overwrite=True) is None


JOBS_REFUSAL = "jobs must be a whole number of at least 1, got 0"
ERROR_PREFIX = {"separator split": "error", "plugin-host run": "plugin-host: error", "plugin-host serve": "plugin-host serve: error"}


@pytest.mark.parametrize("face", sorted(ERROR_PREFIX))
def test_a_bad_job_count_is_the_same_one_line_and_exit_code_2_on_every_face(
    face: str, songs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if face == "plugin-host serve":  # a process of its own: serving installs signal handlers
        serve = "from stemsplit.plugin_host_cli import run; run()"
        argv = [sys.executable, "-c", serve, "serve", "--port", "0", "--root", str(tmp_path), "--jobs", "0"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        code, err = done.returncode, done.stderr
    else:
        code, err = CLIS[face](songs / "a.wav", "-o", tmp_path / "out", "--jobs", "0"), capsys.readouterr().err
    assert (code, err.strip().splitlines()) == (2, [f"{ERROR_PREFIX[face]}: {JOBS_REFUSAL}"])
    assert not (tmp_path / "out").exists()


@pytest.fixture
def server(songs: Path, separator: Separator) -> Iterator[OscClient]:
    service = Service(ServeOptions(port=0, roots=[str(songs)]), separator=separator).start()
    client = OscClient(service.address)
    yield client
    client.close()
    service.stop()


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("out", "out/a/vocals.wav: output exists; choose another output or start the server with --overwrite"),
        ("live", "live/vocals.wav: output would overwrite an input; choose another output folder"),
    ],
)
def test_the_osc_server_refuses_outputs_by_the_same_rule(server: OscClient, songs: Path, output: str, message: str) -> None:
    write(songs / "out" / "a" / "vocals.wav", noise(0.2))  # an earlier split's stem
    write(songs / "live" / "vocals.wav", noise(0.2))  # a song whose name is a stem's
    source = "a.wav" if output == "out" else "live/vocals.wav"
    folder = "out/a" if output == "out" else "live"
    replies = server.request("/split", source, folder, "vocals")
    assert [m.address for m in replies] == ["/error"], replies
    assert replies[0].args == ("/split", f"{songs.resolve()}/{message}")
