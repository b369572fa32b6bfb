"""The batch runner: planned tasks → an engine → one report, whichever engine ran them.

Planning (:mod:`batch_runner.plan`) and the report (:mod:`batch_runner.report`)
are the same for every engine; only "execute these tasks" differs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from batch_runner.base import Engine, WorkerFactory
from batch_runner.results import BatchReport, FileResult, Progress, ProgressFn, Task


def execute(
    tasks: Sequence[Task],
    settled: dict[int, FileResult],
    factory: WorkerFactory,
    engine: Engine,
    progress: ProgressFn | None = None,
    started: float | None = None,
) -> BatchReport:
    """Run ``tasks`` on ``engine`` and report every input in order.

    Args:
        tasks: the work, from :func:`batch_runner.plan.plan`.
        settled: the inputs planning already settled (skipped, failed); announced first.
        factory: builds one worker per engine worker (picklable for Ray).
        progress: called one call at a time, with audio progress and once per finished file.
        started: ``time.perf_counter()`` when the batch began (default: now), so planning counts in the wall time.
    Raises:
        EngineError: the engine or a worker cannot start.
    """
    start = time.perf_counter() if started is None else started
    notify = serialized(progress)
    for result in settled.values():
        notify(Progress(result.input, result.audio_seconds, result))
    results = {**settled, **(engine.run(tasks, factory, notify) if tasks else {})}
    return BatchReport([results[i] for i in sorted(results)], time.perf_counter() - start, max(engine.workers, 1), engine.name)


def serialized(progress: ProgressFn | None) -> ProgressFn:
    """``progress`` behind a lock: engines call it from several threads."""
    lock = threading.Lock()

    def notify(event: Progress) -> None:
        if progress is not None:
            with lock:
                progress(event)

    return notify
