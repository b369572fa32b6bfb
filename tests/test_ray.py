"""The Ray engine on a real local cluster (2 CPUs, 1 declared GPU, no dashboard), started once per session.

Outputs equal a local run's sample for sample; a worker killed mid-file loses nothing;
a corrupt file is reported once; an interrupted run resumes on either engine.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile
from plugin_host_fixtures import mixture, noise, write

from batch_runner import DONE, FAILED, SKIPPED, EngineError, Outcome, Progress, RayEngine, Task, Worker, WorkerFactory, execute, plan
from plugin_host import Chain, run_batch
from plugin_host.batch import ChainWorkerFactory, expand_inputs, output_paths
from separator import Separator
from stembase import audio as audio_io
from stemsplit.plugin_host_cli import main as plugin_host_main
from stemsplit.separator_cli import main as separator_main

ray = pytest.importorskip("ray")
TESTS = Path(__file__).resolve().parent
SECONDS = 2.5


@pytest.fixture(scope="session")
def cluster() -> Iterator[None]:
    """One local Ray cluster for the session; its files stay in a temporary folder, its sockets on loopback."""
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths must fit in 107 characters
    mode = os.environ.get("RAY_AUTH_MODE")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_AUTH_TOKEN", secrets.token_hex(32))  # token auth, with the token in the environment, not in ~/.ray
        # a single-node cluster on loopback (Ray otherwise binds to the host's address); the constant is read at import
        env.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        env.setattr(ray._private.ray_constants, "ENABLE_RAY_CLUSTER", False, raising=False)
        env.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))  # actors unpickle test workers
        ray.init(
            num_cpus=2,
            num_gpus=1,  # a GPU in name only: Ray places GPU actors on it; torch, finding no CUDA, runs them on the CPU
            include_dashboard=False,
            _temp_dir=temp,
            object_store_memory=100 * 1024**2,
            logging_level="ERROR",
            log_to_driver=False,
        )
        try:
            yield
        finally:
            ray.shutdown()
            shutil.rmtree(temp, ignore_errors=True)
            if mode is None:
                os.environ.pop("RAY_AUTH_MODE", None)  # ray.init turned token mode on for this process


@pytest.fixture(scope="module")
def songs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three short generated songs and a noise burst: a small mixed catalog."""
    folder = tmp_path_factory.mktemp("catalog")
    for i in range(3):
        write(folder / f"song{i}.wav", mixture(i, SECONDS))
    write(folder / "noise.wav", noise(SECONDS, 2, seed=9))
    return folder


def same_files(a: Path, b: Path) -> None:
    """The same audio files under ``a`` as under ``b``: names, format and every sample (to float rounding).

    (Not their bytes: libsndfile stamps the time of writing into a float WAV's PEAK chunk. Not bit
    for bit: k-means runs in another process with another thread count, so its sums round differently,
    and the pan step fits its stems on the masks to the 4th and 16th power, which multiplies that
    rounding: differences of a few millionths, 1e-4 of the signal.)
    """
    listing = [sorted(p.relative_to(root) for p in root.rglob("[!.]*.wav") if p.is_file()) for root in (a, b)]
    assert listing[0] == listing[1] and listing[0]
    for rel in listing[0]:
        (x, rate_x), (y, rate_y) = audio_io.load(a / rel), audio_io.load(b / rel)
        assert rate_x == rate_y and soundfile.info(str(a / rel)).subtype == soundfile.info(str(b / rel)).subtype, rel
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-5, err_msg=str(rel))


@pytest.mark.usefixtures("cluster")
@pytest.mark.parametrize("preset", ["master-bus", "karaoke", "stems"])
def test_ray_writes_the_same_files_as_a_local_run(songs: Path, tmp_path: Path, preset: str) -> None:
    # the same device and thread count on both sides, GPU or not: a split left to adapt its threads to the load
    # of the moment computes the network with other kernels when another process runs (1e-4 differences in bass)
    cpu_model = functools.partial(Separator.from_pretrained, device="cpu", threads=1)
    on_ray = run_batch(preset, [songs], tmp_path / "ray", engine=RayEngine(workers=2), load_separator=cpu_model)
    local = run_batch(preset, [songs], tmp_path / "local", jobs=2, load_separator=cpu_model)
    assert [r.status for r in on_ray.results] == [DONE] * 4 and on_ray.engine == "ray" and on_ray.jobs == 2
    assert all(str(r.worker).startswith("ray:") and r.attempts == 1 for r in on_ray.results)
    mirrored = [[tmp_path / "ray" / p.relative_to(tmp_path / "local") for p in r.outputs] for r in local.results]
    assert [r.outputs for r in on_ray.results] == mirrored
    same_files(tmp_path / "ray", tmp_path / "local")


@pytest.mark.usefixtures("cluster")
@pytest.mark.parametrize(("gpus", "actors"), [(0.5, 2), (1.0, 1)])
def test_ray_schedules_gpu_workers_onto_the_clusters_declared_gpus_without_using_cuda(
    songs: Path, tmp_path: Path, gpus: float, actors: int
) -> None:
    # The cluster declares a GPU it does not have (num_gpus=1 on a CPU machine): this checks Ray's scheduling
    # (how many actors fit, which GPU id each is given), not that any work runs on CUDA.
    report = run_batch("master-bus", [songs / "song0.wav", songs / "noise.wav"], tmp_path, engine=RayEngine(gpus_per_worker=gpus))
    assert report.ok and report.jobs == actors  # as many as the GPUs fit
    assert all(str(r.worker).endswith(":gpu0") for r in report.results)


@pytest.mark.usefixtures("cluster")
def test_a_cluster_without_room_for_one_worker_is_refused_before_any_work(songs: Path, tmp_path: Path) -> None:
    with pytest.raises(EngineError, match=r"the Ray cluster has 2 CPUs and 1 GPUs, not enough for one worker \(1 CPUs, 2 GPUs each\)"):
        run_batch("master-bus", [songs / "song0.wav"], tmp_path / "out", engine=RayEngine(gpus_per_worker=2))
    assert not (tmp_path / "out").exists()


# -- a worker that dies ----------------------------------------------------------------------


@dataclass
class DiesOn:
    """Wraps a worker factory: the worker SIGKILLs its own process (as the OOM killer would) partway into ``victim``.

    It dies ``times`` times in all, counted in files under ``marks`` (shared by every actor), then works normally.
    """

    inner: WorkerFactory
    victim: str
    marks: Path
    times: int = 1

    def __call__(self) -> Worker:
        return _Dying(self.inner(), self)


class _Dying:
    def __init__(self, worker: Worker, plan: DiesOn) -> None:
        self.worker, self.plan = worker, plan
        self.expected_errors = worker.expected_errors

    def process(self, task: Task, progress: Callable[[float], None]) -> Outcome:
        deaths = len(list(self.plan.marks.glob("*")))
        if task.input.name != self.plan.victim or deaths >= self.plan.times:
            return self.worker.process(task, progress)

        def die_after_a_block(seconds: float) -> None:  # output is half written under its temporary name
            (self.plan.marks / str(os.getpid())).touch()
            os.kill(os.getpid(), signal.SIGKILL)

        return self.worker.process(task, die_after_a_block)


def chain_tasks(preset: str, inputs: list[Path], out: Path, **options: bool) -> tuple[list[Task], dict[int, object], WorkerFactory]:
    chain = Chain.from_preset(preset)
    entries = [(f, output_paths(chain, f.stem, out)) for f in inputs]
    tasks, settled = plan(entries, **options)
    return tasks, settled, ChainWorkerFactory.of(chain, "32f", None, None)  # type: ignore[return-value]


@pytest.mark.usefixtures("cluster")
def test_a_worker_killed_mid_file_loses_nothing(songs: Path, tmp_path: Path) -> None:
    marks = tmp_path / "deaths"
    marks.mkdir()
    inputs = expand_inputs([songs])
    decoys = [".song10.abcd1234.part.wav", ".song1.abcd1234.part.flac", ".song1.notes.part.wav", ".song1.abcd1234.wav"]
    for name in decoys:  # other outputs' temporary files, and files of other names: never swept
        write(tmp_path / "ray" / name, noise(0.1, 2))
    tasks, settled, factory = chain_tasks("master-bus", inputs, tmp_path / "ray")
    events: list[Progress] = []
    report = execute(tasks, settled, DiesOn(factory, "song1.wav", marks), RayEngine(workers=2), events.append)  # type: ignore[arg-type]
    killed = [int(p.name) for p in marks.iterdir()]
    assert len(killed) == 1  # a worker really died, mid-file
    assert [r.status for r in report.results] == [DONE] * 4
    victim = next(r for r in report.results if r.input.name == "song1.wav")
    assert victim.attempts == 2 and not str(victim.worker).endswith(f":{killed[0]}")  # finished by another worker
    assert sorted(e.result.input.name for e in events if e.result is not None) == sorted(p.name for p in inputs)  # each reported once
    run_batch("master-bus", inputs, tmp_path / "local")
    same_files(tmp_path / "ray", tmp_path / "local")
    visible = [p.name for p in (tmp_path / "ray").iterdir() if not p.name.startswith(".")]
    assert sorted(visible) == sorted(f"{p.stem}.wav" for p in inputs)  # the dead worker's partial file is hidden, never an output
    hidden = sorted(p.name for p in (tmp_path / "ray").iterdir() if p.name.startswith("."))
    assert hidden == sorted(decoys), "the retry swept the dead attempt's temporary file, and nothing else"


@pytest.mark.usefixtures("cluster")
def test_a_file_whose_worker_keeps_dying_fails_after_the_retries_and_the_rest_finish(songs: Path, tmp_path: Path) -> None:
    marks = tmp_path / "deaths"
    marks.mkdir()
    tasks, settled, factory = chain_tasks("master-bus", expand_inputs([songs]), tmp_path / "out")
    dies = DiesOn(factory, "noise.wav", marks, times=10)
    report = execute(tasks, settled, dies, RayEngine(workers=2, max_retries=1))  # type: ignore[arg-type]
    by_name = {r.input.name: r for r in report.results}
    assert [by_name[f"song{i}.wav"].status for i in range(3)] == [DONE] * 3
    failed = by_name["noise.wav"]
    assert failed.status == FAILED and failed.attempts == 2 and len(list(marks.iterdir())) == 2
    assert str(failed.error).startswith(f"{songs / 'noise.wav'}: its worker died 2 times while processing it; last: ")


# -- content errors, work distribution, start failures --------------------------------------


@pytest.mark.usefixtures("cluster")
def test_a_corrupt_file_is_reported_once_with_its_reason_and_the_rest_succeed(
    songs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    shutil.copytree(songs, folder)
    data = (folder / "song0.wav").read_bytes()
    (folder / "cut.wav").write_bytes(data[: len(data) // 3])
    (folder / "notes.wav").write_text("not audio")
    argv = ["run", "karaoke", str(folder), "-o", str(tmp_path / "out"), "--engine", "ray", "--workers", "2"]
    assert plugin_host_main(argv) == 1
    out, err = capsys.readouterr()
    assert err.count("failed: ") == 2 and err.count("cut.wav: truncated: header promises") == 1
    assert err.count(f"failed: {folder / 'notes.wav'}: not a readable audio file") == 1
    assert "plugin-host run karaoke: 6 files, jobs 2, engine ray" in out and "real-time factor" in out
    report = json.loads((tmp_path / "out" / "batch-report.json").read_text())
    assert report["counts"] == {"done": 4, "skipped": 0, "failed": 2} and report["engine"] == "ray"
    failed = [f for f in report["files"] if f["status"] == "failed"]
    assert [(Path(f["input"]).name, f["attempts"]) for f in failed] == [("cut.wav", 1), ("notes.wav", 1)]  # never retried
    assert all(f["worker"].startswith("ray:") and f["error"] for f in failed)
    assert sorted(p.name for p in (tmp_path / "out").glob("*.wav")) == ["noise.wav", "song0.wav", "song1.wav", "song2.wav"]


@pytest.mark.usefixtures("cluster")
def test_relative_paths_mean_the_drivers_folder_on_every_worker(
    songs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(songs / "noise.wav", tmp_path / "take.wav")
    monkeypatch.chdir(tmp_path)  # the actors were started elsewhere: they must get absolute paths
    assert plugin_host_main(["run", "master-bus", "take.wav", "-o", "relative-out", "--engine", "ray", "--workers", "1", "-q"]) == 0
    assert (tmp_path / "relative-out" / "take.wav").exists()
    report = json.loads((tmp_path / "relative-out" / "batch-report.json").read_text())
    assert report["files"][0]["outputs"] == [str(tmp_path / "relative-out" / "take.wav")]


@dataclass
class WaitsForOthers:
    """File ``slow.wav`` blocks its worker until ``count`` other outputs exist: only the other worker can make them."""

    inner: WorkerFactory
    out: Path
    count: int

    def __call__(self) -> Worker:
        return _Waiting(self.inner(), self)


class _Waiting:
    def __init__(self, worker: Worker, plan: WaitsForOthers) -> None:
        self.worker, self.plan = worker, plan
        self.expected_errors = worker.expected_errors

    def process(self, task: Task, progress: Callable[[float], None]) -> Outcome:
        deadline = time.monotonic() + 60
        while task.input.name == "slow.wav" and len(list(self.plan.out.glob("f*.wav"))) < self.plan.count:
            if time.monotonic() > deadline:
                raise TimeoutError("the other worker never took the remaining files")
            time.sleep(0.05)
        return self.worker.process(task, progress)


@pytest.mark.usefixtures("cluster")
def test_work_is_handed_out_as_workers_free_up_not_partitioned_up_front(tmp_path: Path) -> None:
    inputs = [write(tmp_path / "in" / "slow.wav", noise(0.3, 2))]
    inputs += [write(tmp_path / "in" / f"f{i}.wav", noise(0.3, 2, seed=i)) for i in range(7)]
    tasks, settled, factory = chain_tasks("master-bus", inputs, tmp_path / "out")
    report = execute(tasks, settled, WaitsForOthers(factory, tmp_path / "out", 6), RayEngine(workers=2))  # type: ignore[arg-type]
    assert report.ok
    slow_worker = report.results[0].worker
    others = [r.worker for r in report.results[1:]]
    assert others.count(slow_worker) <= 1  # at most the one file queued behind the slow one: the free worker took the rest


@pytest.mark.usefixtures("cluster")
def test_a_worker_that_cannot_start_stops_the_run_with_its_reason(songs: Path, tmp_path: Path) -> None:
    with pytest.raises(EngineError, match=r"worker ray:.* could not start: /nonexistent/broken\.pt: cannot read the model checkpoint"):
        run_batch("karaoke", [songs / "song0.wav"], tmp_path / "out", engine=RayEngine(workers=1), load_separator=_broken_model)
    assert not (tmp_path / "out").exists()


def _broken_model() -> object:
    from separator import Separator

    return Separator.from_pretrained("/nonexistent/broken.pt", device="cpu")


# -- resume ---------------------------------------------------------------------------------


class StopAfter:
    """A progress callback that presses Ctrl-C once ``files`` files are finished."""

    def __init__(self, files: int) -> None:
        self.files, self.seen = files, 0

    def __call__(self, event: Progress) -> None:
        if event.result is not None:
            self.seen += 1
            if self.seen == self.files:
                raise KeyboardInterrupt


def _settled_outputs(out: Path) -> list[str]:
    """Complete outputs once no more appear: an actor that was mid-file when Ctrl-C came may still finish it."""
    seen, stable_since = sorted(p.name for p in out.glob("[!.]*.wav")), time.monotonic()
    while time.monotonic() - stable_since < 1.0:
        time.sleep(0.1)
        now = sorted(p.name for p in out.glob("[!.]*.wav"))
        if now != seen:
            seen, stable_since = now, time.monotonic()
    return seen


@pytest.mark.usefixtures("cluster")
@pytest.mark.parametrize(("first", "then"), [("ray", "local"), ("local", "ray")])
def test_an_interrupted_run_resumes_with_skip_existing_on_either_engine(songs: Path, tmp_path: Path, first: str, then: str) -> None:
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_batch("master-bus", [songs], out, jobs=2, engine=first, progress=StopAfter(2))
    finished = _settled_outputs(out)  # a worker stopped mid-file leaves only a hidden temporary file
    assert 2 <= len(finished) <= 4
    resumed = run_batch("master-bus", [songs], out, jobs=2, engine=then, skip_existing=True)
    assert sorted(r.input.name.replace(".wav", "") for r in resumed.skipped) == [n.replace(".wav", "") for n in finished]
    assert {r.status for r in resumed.results} <= {DONE, SKIPPED} and len(resumed.done) == 4 - len(finished)
    run_batch("master-bus", [songs], tmp_path / "clean")
    same_files(out, tmp_path / "clean")


# -- separator split ------------------------------------------------------------------------


@pytest.mark.usefixtures("cluster")
def test_separator_split_on_ray_matches_local_and_writes_its_report(
    songs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = [str(songs / "song0.wav"), str(songs / "song1.wav")]
    # one thread on both sides, as above: left to follow the load, two actors beside each other pick other thread
    # counts than the run alone, hence other kernels (4e-4 differences in drums, seen once in CI)
    common = ["--stems", "vocals,drums", "--device", "cpu", "--threads", "1", "-q"]
    assert separator_main(["split", *inputs, "-o", str(tmp_path / "ray"), "--engine", "ray", "--workers", "2", *common]) == 0
    assert separator_main(["split", *inputs, "-o", str(tmp_path / "local"), *common]) == 0
    same_files(tmp_path / "ray", tmp_path / "local")
    report = json.loads((tmp_path / "ray" / "batch-report.json").read_text())
    assert report["command"] == "separator split" and [f["status"] for f in report["files"]] == ["done", "done"]
    assert [len(f["outputs"]) for f in report["files"]] == [3, 3]
    assert capsys.readouterr().err == ""
