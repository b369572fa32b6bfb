"""One batch runner, pluggable engines: plan the files, run them locally or on a Ray cluster, report.

>>> from separator.engines import make_engine, plan, execute
>>> tasks, settled = plan([(song, [out / "song" / "vocals.wav"])], skip_existing=True)
>>> report = execute(tasks, settled, factory, make_engine("ray", address="auto"))

``plugin_host.run_batch`` (chains) and ``separator split`` (:mod:`separator.batch`)
build on this; only the worker factory differs. Ray is optional
(``pip install 'stemsplit[cluster]'``) and imported only when the Ray engine runs.
"""

from __future__ import annotations

from separator.engines.base import Engine, EngineError, Outcome, Worker, WorkerFactory, attempt
from separator.engines.local import LocalEngine
from separator.engines.plan import plan
from separator.engines.ray import RayEngine
from separator.engines.report import REPORT_NAME, ReportError, read_report, table, write_report
from separator.engines.results import DONE, FAILED, SKIPPED, BatchReport, FileResult, Progress, ProgressFn, Task
from separator.engines.runner import execute

ENGINES = ("local", "ray")


def make_engine(
    name: str = "local",
    *,
    workers: int | None = None,
    address: str | None = None,
    gpus_per_worker: float | None = None,
    workers_label: str = "workers",
) -> Engine:
    """The engine called ``name`` with the command lines' options.

    Args:
        workers: threads (local, default 1) or Ray actors (default: what the cluster allows).
        address: the Ray cluster to join (Ray only; default: start a local one).
        gpus_per_worker: GPUs per Ray actor (Ray only; default 0).
        workers_label: what messages call ``workers`` (the command line's own name for it).
    Raises:
        EngineError: unknown engine, Ray not installed, or an option the engine does not take or accept.
    """
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise EngineError(f"{workers_label} must be a whole number of at least 1, got {workers!r}")
    if name == "local":
        unused = [flag for flag, value in (("--address", address), ("--gpus-per-worker", gpus_per_worker)) if value is not None]
        if unused:
            raise EngineError(f"{' and '.join(unused)} apply to --engine ray only")
        return LocalEngine(1 if workers is None else workers)
    if name == "ray":
        return RayEngine(address=address, workers=workers, gpus_per_worker=gpus_per_worker or 0.0)
    raise EngineError(f"unknown engine {name!r}. Valid options: {', '.join(ENGINES)}")


__all__ = [
    "DONE",
    "ENGINES",
    "FAILED",
    "REPORT_NAME",
    "SKIPPED",
    "BatchReport",
    "Engine",
    "EngineError",
    "FileResult",
    "LocalEngine",
    "Outcome",
    "Progress",
    "ProgressFn",
    "RayEngine",
    "ReportError",
    "Task",
    "Worker",
    "WorkerFactory",
    "attempt",
    "execute",
    "make_engine",
    "plan",
    "read_report",
    "table",
    "write_report",
]
