"""The local engine: a pool of threads on this machine, each with its own worker.

pedalboard, libsndfile and torch release the GIL while they work, so N threads
process N files at once. Each thread builds its worker (chain copy, model) once,
on start, then takes the next task from a shared queue: fast workers take more.
With one worker everything runs in the calling thread.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from batch_runner.base import EngineError, Worker, WorkerFactory, attempt, describe
from batch_runner.policy import check_count
from batch_runner.results import FileResult, Progress, ProgressFn, Task


class LocalEngine:
    """Run tasks on ``workers`` threads of this process.

    Raises:
        EngineError: ``workers`` is not a whole number of at least 1.
    """

    name = "local"

    def __init__(self, workers: int = 1) -> None:
        check_count("workers", workers)
        self.workers = workers

    def __repr__(self) -> str:
        return f"LocalEngine(workers={self.workers})"

    def run(self, tasks: Sequence[Task], factory: WorkerFactory, notify: ProgressFn) -> dict[int, FileResult]:
        """One result per task, keyed by index; a worker that cannot be built raises :class:`EngineError`."""
        queue = _TaskQueue(tasks)
        results: dict[int, FileResult] = {}
        threads = min(self.workers, len(tasks))
        if threads <= 1:
            _serve(factory, queue, results, notify, "local-1")
            return results
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="batch-worker") as pool:
            futures = [pool.submit(_serve, factory, queue, results, notify, f"local-{i + 1}") for i in range(threads)]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                queue.close()  # running files finish (their writes are atomic), no new one starts
                raise
        return results


class _TaskQueue:
    """Tasks handed out one at a time to whichever thread asks first; closing it stops the handing out."""

    def __init__(self, tasks: Sequence[Task]) -> None:
        self._tasks = collections.deque(tasks)
        self._lock = threading.Lock()

    def take(self) -> Task | None:
        with self._lock:
            return self._tasks.popleft() if self._tasks else None

    def close(self) -> None:
        with self._lock:
            self._tasks.clear()


def _serve(factory: WorkerFactory, queue: _TaskQueue, results: dict[int, FileResult], notify: ProgressFn, name: str) -> None:
    """One thread's life: build a worker, then process tasks until none is left."""
    worker = _build(factory, queue, name)
    try:
        while (task := queue.take()) is not None:
            results[task.index] = result = attempt(worker, task, _reporter(task, notify), name)
            notify(Progress(task.input, 0.0, result))
    except BaseException:  # an interrupt (or a progress callback) raised: the other workers stop after their file
        queue.close()
        raise


def _reporter(task: Task, notify: ProgressFn) -> Callable[[float], None]:
    """The audio progress of one task, as progress events."""

    def progress(seconds: float) -> None:
        notify(Progress(task.input, seconds))

    return progress


def _build(factory: WorkerFactory, queue: _TaskQueue, name: str) -> Worker:
    try:
        return factory()
    except Exception as exc:
        queue.close()
        raise EngineError(f"worker {name} could not start: {describe(exc)}") from exc
