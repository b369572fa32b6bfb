"""The end-of-batch summary and every output-path problem, as both command lines show them:
times that read right, totals that add up, and one line naming the path instead of a traceback."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import soundfile as sf
from plugin_host_fixtures import noise, write

from batch_runner import DONE, FAILED, SKIPPED, BatchReport, FileResult, Progress, table
from batch_runner.progress import ProgressBar
from batch_runner.report import duration
from stembase import outputs as files
from stemsplit.plugin_host_cli import main as plugin_host_main
from stemsplit.separator_cli import main as separator_main


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0:00.0"),
        (59.94, "0:59.9"),
        (59.96, "1:00.0"),
        (75.25, "1:15.2"),
        (119.99, "2:00.0"),
        (3599.97, "1:00:00.0"),
        (3725, "1:02:05.0"),
    ],
)
def test_durations_round_before_they_are_split_into_minutes(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_no_duration_shows_sixty_seconds() -> None:
    for hundredths in range(0, 2 * 3600 * 100, 7):
        text = duration(hundredths / 100)
        assert float(text.rsplit(":", 1)[1]) < 60.0, (hundredths, text)
        assert all(int(part) < 60 for part in text.split(":")[1:-1]), (hundredths, text)


def test_the_done_row_is_never_larger_than_the_total_with_several_jobs() -> None:
    results = [FileResult(Path(f"{i}.wav"), DONE, 30.0, 60.0) for i in range(4)]
    results += [FileResult(Path("s.wav"), SKIPPED, 0.0, 60.0), FileResult(Path("f.wav"), FAILED, 2.0, 0.0, error="f.wav: bad")]
    lines = table(BatchReport(results, 35.0, jobs=4, engine="local"), "separator split").splitlines()
    rows = {line.split()[0]: line.split() for line in lines[2:6]}
    assert rows["done"][3] == "2:00.0" and rows["failed"][3] == "0:02.0" and rows["total"][3] == "2:02.0"
    assert "  wall-clock 0:35.0 with 4 job(s)" in lines


def test_the_progress_bar_never_counts_past_a_files_length() -> None:
    path = Path("a.wav").resolve()
    with ProgressBar({path: 10.0}, quiet=True) as bar:
        for _ in range(5):
            bar.update(Progress(path, 4.0))  # a worker's estimate that overshoots
        assert bar.counted[path] <= 10.0
        bar.update(Progress(path, 0.0, FileResult(path, DONE, 1.0, 10.0)))
        assert bar.counted[path] == pytest.approx(10.0)


# -- output-path problems, through both command lines ---------------------------------------------


@pytest.fixture
def song(tmp_path: Path) -> Path:
    return write(tmp_path / "in" / "song.wav", noise(1.0))


def run_cli(name: str, song: Path, out: Path) -> list[str]:
    if name == "separator split":
        return ["split", "-q", str(song), "-o", str(out)]
    return ["run", "master-bus", "-q", str(song), "-o", str(out)]


CLIS = {"separator split": separator_main, "plugin-host run": plugin_host_main}


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("cli", sorted(CLIS))
def test_an_output_folder_that_is_a_file_is_one_line_naming_it(
    cli: str, song: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.write_text("not a folder")
    assert CLIS[cli](run_cli(cli, song, out)) != 0
    line = one_line(capsys.readouterr().err)
    assert f"{out}: the output folder is a file" in line and "--out" in line


@pytest.mark.parametrize("cli", sorted(CLIS))
def test_an_output_folder_under_a_file_is_one_line_naming_the_file(
    cli: str, song: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "blocker").write_text("")
    assert CLIS[cli](run_cli(cli, song, tmp_path / "blocker" / "out")) != 0
    assert f"{tmp_path / 'blocker'}: a folder above the output folder" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("cli", sorted(CLIS))
def test_an_output_folder_that_is_not_writable_is_one_line_naming_it(
    cli: str, song: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    real_access = os.access
    # root may write anywhere, so the permission is refused by the check's own probe
    monkeypatch.setattr(files.os, "access", lambda path, mode: False if Path(path) == out else real_access(path, mode))
    assert CLIS[cli](run_cli(cli, song, out)) != 0
    assert f"{out}: the output folder is not writable" in one_line(capsys.readouterr().err)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("cli", sorted(CLIS))
def test_a_full_disk_is_one_line_naming_the_output_and_leaves_no_partial_file(
    cli: str, song: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(self: sf.SoundFile, data: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(sf.SoundFile, "write", full)
    out = tmp_path / "out"
    assert CLIS[cli](run_cli(cli, song, out)) == 1
    line = one_line(capsys.readouterr().err)
    assert f"{out}" in line and "No space left on device" in line and "free some space" in line
    assert [p for p in out.rglob("*") if p.is_file() and p.name != "batch-report.json"] == []


# -- one output rule: sub-folders mirrored, no two inputs on one track ------------------------------


@pytest.mark.parametrize("cli", sorted(CLIS))
def test_both_commands_mirror_sub_folders_and_keep_files_of_the_same_name_apart(cli: str, tmp_path: Path) -> None:
    coll = tmp_path / "coll"
    for name in ("cd1/01.wav", "cd2/01.wav", "x.wav", "x.flac"):
        write(coll / name, noise(0.5, seed=len(name)))
    out = tmp_path / "out"
    args = ["split", "-q", "--stems", "drums", str(coll), "-o", str(out)] if cli == "separator split" else run_cli(cli, coll, out)
    assert CLIS[cli](args) == 0
    tracks = ["cd1/01", "cd2/01", "x.flac", "x.wav"]
    if cli == "separator split":
        assert sorted(str(p.parent.relative_to(out)) for p in out.rglob("drums.wav")) == tracks
    else:
        assert sorted(str(p.relative_to(out)) for p in out.rglob("*.wav")) == [f"{t}.wav" for t in tracks]


# -- what a run prints: no summary after a lone failure, no bar when stderr is not a terminal -------


def cli_args(cli: str, song: Path, out: Path) -> list[str]:
    """``run_cli`` without ``-q``."""
    return [a for a in run_cli(cli, song, out) if a != "-q"]


@pytest.mark.parametrize("cli", sorted(CLIS))
def test_a_single_file_that_fails_gets_its_error_line_and_no_summary(cli: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    assert CLIS[cli](cli_args(cli, bad, tmp_path / "out")) == 1
    captured = capsys.readouterr()
    assert captured.out == "", "no summary table"
    assert f"{bad}: not a readable audio file" in one_line(captured.err)


@pytest.mark.parametrize("cli", sorted(CLIS))
def test_no_progress_bar_when_stderr_is_not_a_terminal(cli: str, song: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert CLIS[cli](cli_args(cli, song, tmp_path / "out")) == 0
    captured = capsys.readouterr()
    assert "%|" not in captured.err and "\r" not in captured.err, captured.err
    assert "real-time factor" in captured.out, "two files or a success: the summary stays"
