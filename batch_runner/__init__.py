"""The batch runner: plan the outputs, run the files on local threads or a Ray cluster, show progress, report.

>>> from batch_runner import make_engine, plan, execute
>>> tasks, settled = plan([(song, [out / "song" / "vocals.wav"])], skip_existing=True)
>>> report = execute(tasks, settled, factory, make_engine("ray", address="auto"))

It serves both command lines and belongs to neither package: the faces (``separator split``
through :mod:`stemsplit.split_batch`, ``plugin-host run`` through :mod:`plugin_host.batch`) hand it
a *worker factory*, and it runs the separator or a chain only through that. Its checks
(:mod:`batch_runner.policy`) are the OSC server's too. It imports only the base (:mod:`stembase`:
audio, output rules, errors), never the separator, a chain, a report or a face, and never torch at
import time.
Ray is optional (``pip install 'stemsplit[cluster]'``) and imported only when the Ray engine runs.
"""

from __future__ import annotations

from batch_runner.base import Engine, EngineError, Outcome, Worker, WorkerFactory, attempt
from batch_runner.local import LocalEngine
from batch_runner.plan import plan
from batch_runner.policy import check_count, check_existing_policy
from batch_runner.ray import RayEngine
from batch_runner.report import REPORT_NAME, ReportError, read_report, table, write_report
from batch_runner.results import DONE, FAILED, SKIPPED, BatchReport, FileResult, Progress, ProgressFn, Task
from batch_runner.runner import execute

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
    check_count(workers_label, workers, optional=True)
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
    "check_count",
    "check_existing_policy",
    "execute",
    "make_engine",
    "plan",
    "read_report",
    "table",
    "write_report",
]
