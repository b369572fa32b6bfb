"""The batch runner without a cluster: planning, the local engine, reports, engine options, the missing Ray extra.

The Ray engine itself is tested against a real local cluster in ``test_ray.py``.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import pytest
from plugin_host_fixtures import noise, write

from batch_runner import (
    DONE,
    FAILED,
    SKIPPED,
    BatchReport,
    EngineError,
    FileResult,
    LocalEngine,
    Outcome,
    Progress,
    Task,
    execute,
    make_engine,
    plan,
    read_report,
    table,
    write_report,
)
from batch_runner.progress import ProgressBar
from separator import AudioLoadError, Separator
from stemsplit.plugin_host_cli import main as plugin_host_main
from stemsplit.separator_cli import main as separator_main
from stemsplit.split_batch import split_files


class Copier:
    """A worker that copies the input's bytes to every target; files named ``bad*`` fail as unreadable."""

    expected_errors: ClassVar[tuple[type[Exception], ...]] = (AudioLoadError,)

    def __init__(self, delay: float = 0.0, log: list[str] | None = None) -> None:
        self.delay, self.log = delay, log

    def process(self, task: Task, progress: Callable[[float], None]) -> Outcome:
        if task.input.name.startswith("bad"):
            raise AudioLoadError(f"{task.input}: not a readable audio file")
        time.sleep(self.delay)
        for target in task.targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(task.input.read_bytes())
        progress(0.5)
        if self.log is not None:
            self.log.append(threading.current_thread().name)
        return Outcome(list(task.targets))


def entries(folder: Path, names: list[str], out: Path) -> list[tuple[Path, list[Path]]]:
    return [(folder / n, [out / f"{Path(n).stem}.wav"]) for n in names]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    for i in range(6):
        write(folder / f"f{i}.wav", noise(0.5, 2, seed=i))
    return folder


# -- planning ------------------------------------------------------------------------------------


def test_planning_skips_finished_tracks_and_refuses_clashes(files: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "f1.wav").write_bytes(b"finished earlier")
    pairs = entries(files, ["f0.wav", "f1.wav"], out) + [(files / "f2.wav", [out / "f0.wav"]), (files / "f3.wav", [files / "f4.wav"])]
    pairs.append((files / "f4.wav", [out / "f4.wav"]))
    tasks, settled = plan(pairs, skip_existing=True)
    assert [t.input.name for t in tasks] == ["f0.wav", "f4.wav"]
    assert settled[1].status == SKIPPED and settled[1].outputs == [out / "f1.wav"] and settled[1].audio_seconds == pytest.approx(0.5)
    remedy = "give one of them its own run with another -o/--out folder"
    assert settled[2].error == f"{out / 'f0.wav'}: {files / 'f0.wav'} writes the same output; {remedy}"
    assert settled[3].error == f"{files / 'f4.wav'}: output would overwrite an input; choose another output folder"


def test_planning_without_skip_or_overwrite_fails_tracks_whose_outputs_exist(files: Path, tmp_path: Path) -> None:
    (tmp_path / "f0.wav").write_bytes(b"x")
    tasks, settled = plan(entries(files, ["f0.wav"], tmp_path))
    assert not tasks and settled[0].status == FAILED and "output exists; use --skip-existing" in str(settled[0].error)
    tasks, settled = plan(entries(files, ["f0.wav"], tmp_path), overwrite=True)
    assert [t.index for t in tasks] == [0] and not settled


def test_a_check_fails_an_input_before_any_other_rule(files: Path, tmp_path: Path) -> None:
    tasks, settled = plan(entries(files, ["f0.wav", "f1.wav"], tmp_path), check=lambda f, t: "no" if f.name == "f1.wav" else None)
    assert [t.input.name for t in tasks] == ["f0.wav"] and settled[1].error == "no"


# -- the local engine and the runner -------------------------------------------------------------


def test_the_runner_reports_every_input_in_order_whatever_settled_it(files: Path, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "f2.wav").write_bytes(b"done before")
    (files / "bad.wav").write_text("not audio")
    tasks, settled = plan(entries(files, ["f0.wav", "bad.wav", "f2.wav", "f3.wav"], tmp_path / "out"), skip_existing=True)
    events: list[Progress] = []
    report = execute(tasks, settled, Copier, LocalEngine(2), events.append)
    expected = [("f0.wav", DONE), ("bad.wav", FAILED), ("f2.wav", SKIPPED), ("f3.wav", DONE)]
    assert [(r.input.name, r.status) for r in report.results] == expected
    assert report.results[1].error == f"{files / 'bad.wav'}: not a readable audio file" and report.results[1].attempts == 1
    assert report.engine == "local" and report.jobs == 2
    assert {r.worker for r in report.done} <= {"local-1", "local-2"} and report.results[2].worker is None
    finished = [e.result.input.name for e in events if e.result is not None]
    assert finished[0] == "f2.wav" and sorted(finished) == ["bad.wav", "f0.wav", "f2.wav", "f3.wav"]  # skipped ones first, each once


def test_an_unexpected_error_names_its_type_and_does_not_stop_the_batch(files: Path, tmp_path: Path) -> None:
    class Broken(Copier):
        def process(self, task: Task, progress: Callable[[float], None]) -> Outcome:
            if task.input.name == "f1.wav":
                raise ZeroDivisionError("division by zero")
            return super().process(task, progress)

    tasks, settled = plan(entries(files, ["f0.wav", "f1.wav", "f2.wav"], tmp_path))
    report = execute(tasks, settled, Broken, LocalEngine(1))
    assert [r.status for r in report.results] == [DONE, FAILED, DONE]
    assert report.results[1].error == "ZeroDivisionError: division by zero"


def test_local_workers_are_built_once_each_and_a_fast_worker_takes_more(files: Path, tmp_path: Path) -> None:
    built: list[str] = []
    done: list[str] = []

    def factory() -> Copier:
        built.append(threading.current_thread().name)
        slow = len(built) == 1  # the first worker takes 0.4 s a file, the second 0.01 s
        return Copier(0.4 if slow else 0.01, done)

    tasks, settled = plan(entries(files, [f"f{i}.wav" for i in range(6)], tmp_path / "out"))
    report = execute(tasks, settled, factory, LocalEngine(2))
    assert report.ok and len(built) == 2 and len(set(built)) == 2  # once per worker, in the worker's own thread
    counts = sorted(done.count(name) for name in set(done))
    assert counts[0] < counts[1]  # no fixed partition: the fast worker took more than half


def test_a_worker_that_cannot_start_stops_the_run_with_the_reason(files: Path, tmp_path: Path) -> None:
    def factory() -> Copier:
        raise AudioLoadError("/models/x.pt: file not found")

    tasks, settled = plan(entries(files, ["f0.wav", "f1.wav"], tmp_path))
    with pytest.raises(EngineError, match=r"worker local-1 could not start: /models/x.pt: file not found"):
        execute(tasks, settled, factory, LocalEngine(1))


def test_an_interrupt_stops_handing_out_files_and_finished_ones_stay(files: Path, tmp_path: Path) -> None:
    def stop_after_two(event: Progress) -> None:
        if event.result is not None and len(list((tmp_path / "out").glob("*.wav"))) >= 2:
            raise KeyboardInterrupt

    tasks, settled = plan(entries(files, [f"f{i}.wav" for i in range(6)], tmp_path / "out"))
    with pytest.raises(KeyboardInterrupt):
        execute(tasks, settled, lambda: Copier(0.05), LocalEngine(2), stop_after_two)
    written = len(list((tmp_path / "out").glob("*.wav")))
    assert 2 <= written < 6
    tasks, settled = plan(entries(files, [f"f{i}.wav" for i in range(6)], tmp_path / "out"), skip_existing=True)
    assert len(tasks) == 6 - written


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "local", "address": "auto"}, "--address apply to --engine ray only"),
        ({"name": "local", "gpus_per_worker": 1.0}, "--gpus-per-worker apply to --engine ray only"),
        ({"name": "local", "workers": 0}, "workers must be a whole number of at least 1, got 0"),
        ({"name": "spark"}, "unknown engine 'spark'. Valid options: local, ray"),
        ({"name": "ray", "workers": 2, "gpus_per_worker": -1.0}, "gpus_per_worker must be a number of at least 0, got -1.0"),
    ],
)
def test_bad_engine_options_are_refused_with_the_valid_ones(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(EngineError, match=message.replace(".", r"\.").replace("(", r"\(")):
        make_engine(**kwargs)  # type: ignore[arg-type]


# -- reports -------------------------------------------------------------------------------------


def _report() -> BatchReport:
    results = [
        FileResult(Path("a.wav"), DONE, 2.0, 60.0, [Path("out/a.wav")], worker="ray:10.0.0.1:11", attempts=2),
        FileResult(Path("b.wav"), SKIPPED, 0.0, 30.0, [Path("out/b.wav")]),
        FileResult(Path("c.wav"), FAILED, 0.1, 0.0, error="c.wav: not a readable audio file", worker="ray:10.0.0.2:12", attempts=1),
    ]
    return BatchReport(results, 4.0, jobs=2, engine="ray")


def test_the_json_report_holds_the_run_and_every_file(tmp_path: Path) -> None:
    path = write_report(_report(), tmp_path / "out" / "batch-report.json", {"command": "plugin-host run", "preset": "karaoke"})
    data = read_report(path)
    assert (data["engine"], data["jobs"], data["preset"], data["counts"]) == ("ray", 2, "karaoke", {"done": 1, "skipped": 1, "failed": 1})
    assert data["realtime_factor"] == pytest.approx(15.0) and data["wall_seconds"] == 4.0
    assert data["files"][0] == {
        "input": "a.wav",
        "status": "done",
        "seconds": 2.0,
        "audio_seconds": 60.0,
        "worker": "ray:10.0.0.1:11",
        "attempts": 2,
        "error": None,
        "outputs": ["out/a.wav"],
    }
    assert data["files"][2]["error"] == "c.wav: not a readable audio file"
    assert sorted(p.name for p in path.parent.iterdir()) == ["batch-report.json"]  # no temporary file left
    json.loads(path.read_text())


def test_the_summary_table_names_the_engine_and_its_throughput() -> None:
    text = table(_report(), "plugin-host run karaoke")
    lines = text.splitlines()
    assert lines[0] == "plugin-host run karaoke: 3 files, jobs 2, engine ray"
    assert [line.split()[:2] for line in lines[2:6]] == [["done", "1"], ["skipped", "1"], ["failed", "1"], ["total", "3"]]
    assert "real-time factor 15.0x" in text and "ray engine" in text
    assert lines[-1] == "  1 file(s) retried after their worker died"


def test_the_progress_bar_prints_each_failure_once(capsys: pytest.CaptureFixture[str]) -> None:
    bad = FileResult(Path("bad.wav"), FAILED, error="bad.wav: not a readable audio file")
    with ProgressBar({Path("bad.wav").resolve(): 0.0, Path("a.wav").resolve(): 2.0}, quiet=True, failed_prefix="error") as bar:
        bar.update(Progress(Path("a.wav"), 1.0))
        bar.update(Progress(Path("a.wav"), 0.0, FileResult(Path("a.wav"), DONE, audio_seconds=2.0)))
        bar.update(Progress(Path("bad.wav"), 0.0, bad))
    assert capsys.readouterr().err == "error: bad.wav: not a readable audio file\n"
    assert (bar.finished, bar.failed, bar.counted[Path("a.wav").resolve()]) == (2, 1, 2.0)


# -- separator split through the runner ----------------------------------------------------------


def test_split_files_resumes_with_skip_existing(separator: Separator, tmp_path: Path) -> None:
    for name in ("a", "b"):
        write(tmp_path / "in" / f"{name}.wav", noise(0.5, 2))
    first = split_files([tmp_path / "in" / "a.wav"], tmp_path / "out", separator, stems="vocals")
    assert first.results[0].outputs == [tmp_path / "out" / "a" / "vocals.wav", tmp_path / "out" / "a" / "other.wav"]
    again = split_files(sorted((tmp_path / "in").iterdir()), tmp_path / "out", separator, stems="vocals", skip_existing=True)
    assert [(r.input.name, r.status) for r in again.results] == [("a.wav", SKIPPED), ("b.wav", DONE)]
    assert again.results[1].worker == "local-1" and again.results[1].attempts == 1


def test_separator_split_skip_existing_and_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "a.wav", noise(0.5, 2))
    argv = ["split", str(tmp_path / "a.wav"), "-o", str(tmp_path / "out"), "--stems", "bass", "--device", "cpu"]
    assert separator_main(argv) == 0
    out, err = capsys.readouterr()
    assert "separator split: 1 files, jobs 1, engine local" in out and f"{tmp_path / 'a.wav'} -> " in err
    assert separator_main([*argv, "--skip-existing", "--workers", "2"]) == 0
    assert [line.split()[:2] for line in capsys.readouterr().out.splitlines()[2:4]] == [["done", "0"], ["skipped", "1"]]
    assert not (tmp_path / "out" / "batch-report.json").exists()  # local runs leave the folder as it was


# -- without the cluster extra -------------------------------------------------------------------

MISSING = "--engine ray needs Ray, which is not installed; install the cluster extra: pip install 'stemsplit[cluster]'"


@pytest.fixture
def without_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import ray`` fails as it does where the extra is not installed."""
    monkeypatch.setitem(sys.modules, "ray", None)


@pytest.mark.usefixtures("without_ray")
def test_without_ray_the_ray_engine_names_the_extra_to_install() -> None:
    with pytest.raises(EngineError) as info:
        make_engine("ray")
    assert str(info.value) == MISSING
    assert isinstance(make_engine("local"), LocalEngine)  # the local engine needs nothing extra


@pytest.mark.usefixtures("without_ray")
@pytest.mark.parametrize(
    ("main", "argv", "prefix"),
    [(plugin_host_main, ["run", "master-bus"], "plugin-host: error: "), (separator_main, ["split"], "error: ")],
)
def test_without_ray_both_commands_fail_in_one_line_before_any_work(
    main: Callable[[list[str]], int], argv: list[str], prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "a.wav", noise(0.2, 2))
    assert main([*argv, str(tmp_path / "a.wav"), "-o", str(tmp_path / "out"), "--engine", "ray"]) == 2
    assert capsys.readouterr().err == f"{prefix}{MISSING}\n"
    assert not (tmp_path / "out").exists()
