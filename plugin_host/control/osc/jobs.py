"""Long work off the network thread: a bounded queue, a fixed pool of worker threads, cancel and progress.

A job is a function ``work(progress) -> list[Path]``; ``progress(fraction)`` raises
:class:`JobCancelled` once the job is cancelled, which is how cancelling reaches a
separation that is running (the separator's writers then remove their temporary
files, so a cancelled job leaves no half-written output).
"""

from __future__ import annotations

import collections
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batch_runner.policy import check_count
from plugin_host.control.osc.messages import Message

log = logging.getLogger("plugin_host.control.osc")

ProgressFn = Callable[[float], None]
Work = Callable[[ProgressFn], list[Path]]
Notify = Callable[["Job", Message], None]

QUEUED, RUNNING, DONE, ERROR, CANCELLED = "queued", "running", "done", "error", "cancelled"
FINISHED = (DONE, ERROR, CANCELLED)


class JobCancelled(Exception):
    """Raised inside a job's progress callback after the job was cancelled."""


class JobError(ValueError):
    """A job request cannot be served: the queue is full, or no such job can be cancelled."""


@dataclass(eq=False)
class Job:
    """One queued, running or finished piece of work; ``reply_to`` is who hears about it."""

    id: int
    kind: str
    summary: str
    work: Work
    reply_to: Any
    state: str = QUEUED
    progress: float = 0.0
    outputs: list[Path] = field(default_factory=list)
    error: str = ""
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    last_report: float = 0.0  # time.monotonic() of the last progress reply, in s
    done_args: tuple[Any, ...] = ()  # what /job/done carries after the paths (a split's range)

    def info(self) -> Message:
        """``/job/info i:id s:kind s:state f:progress s:summary``."""
        return Message("/job/info", (self.id, self.kind, self.state, round(self.progress, 4), self.summary))


class JobManager:
    """Runs jobs on ``workers`` threads; at most ``max_queued`` wait; the last ``history`` finished are remembered.

    Args:
        notify: called (from a worker thread) with each reply a job produces:
            ``/job/progress``, ``/job/done``, ``/job/error``, ``/job/cancelled``.
        progress_interval: least time between two progress replies of one job, in seconds.
        expected_errors: exceptions that are the request's fault (bad file, bad argument):
            reported in one line; anything else is logged with its traceback too.
    Raises:
        EngineError: ``workers`` or ``max_queued`` is not a whole number of at least 1.
    """

    def __init__(
        self,
        notify: Notify,
        workers: int = 1,
        max_queued: int = 16,
        history: int = 64,
        progress_interval: float = 0.1,
        expected_errors: tuple[type[Exception], ...] = (ValueError, OSError),
    ) -> None:
        check_count("jobs", workers)  # the --jobs rule of every command
        check_count("queue", max_queued)
        self.notify, self.max_queued, self.progress_interval = notify, max_queued, progress_interval
        self.expected_errors = expected_errors
        self._ids = itertools.count(1)
        self._queue: collections.deque[Job] = collections.deque()
        self._jobs: dict[int, Job] = {}
        self._finished: collections.deque[int] = collections.deque()
        self._history = history
        self._wake = threading.Condition()
        self._closing = False
        self._threads = [threading.Thread(target=self._worker, name=f"osc-job-{i + 1}", daemon=True) for i in range(workers)]
        for t in self._threads:
            t.start()

    # -- requests ----------------------------------------------------------------------------

    def submit(self, kind: str, summary: str, work: Work, reply_to: Any, done_args: tuple[Any, ...] = ()) -> Job:
        """Queue a job; ``done_args`` follow the output paths in its ``/job/done``.

        Raises:
            JobError: the queue is full, or the server is stopping.
        """
        with self._wake:
            if self._closing:
                raise JobError("the server is stopping; no new jobs are taken")
            if len(self._queue) >= self.max_queued:
                raise JobError(f"queue full: {len(self._queue)} jobs are waiting (limit {self.max_queued}); try again when one is done")
            job = Job(next(self._ids), kind, summary, work, reply_to, done_args=done_args)
            self._jobs[job.id] = job
            self._queue.append(job)
            self._wake.notify()
        return job

    def cancel(self, job_id: int) -> Job:
        """Cancel a queued job at once, or ask a running one to stop at its next progress report.

        Raises:
            JobError: no such job, or it has finished already.
        """
        with self._wake:
            job = self._jobs.get(job_id)
            if job is None:
                active = ", ".join(str(j.id) for j in self._jobs.values() if j.state not in FINISHED) or "none"
                raise JobError(f"no job {job_id}; queued or running jobs: {active}")
            if job.state in FINISHED:
                raise JobError(f"job {job_id} has already finished ({job.state})")
            job.cancel_requested.set()
            queued = job.state == QUEUED
            if queued:
                self._queue.remove(job)
                self._finish(job, CANCELLED)
        if queued:
            self.notify(job, Message("/job/cancelled", (job.id,)))
        return job

    def get(self, job_id: int) -> Job | None:
        with self._wake:
            return self._jobs.get(job_id)

    def jobs(self) -> list[Job]:
        """Every job still remembered, oldest first."""
        with self._wake:
            return sorted(self._jobs.values(), key=lambda j: j.id)

    def counts(self) -> tuple[int, int]:
        """``(queued, running)``."""
        with self._wake:
            return len(self._queue), sum(j.state == RUNNING for j in self._jobs.values())

    def shutdown(self, timeout: float = 60.0) -> int:
        """Refuse new jobs, cancel queued and running ones, wait for the workers; returns how many were cancelled."""
        with self._wake:
            self._closing = True
            active = [j for j in self._jobs.values() if j.state not in FINISHED]
        for job in active:
            try:
                self.cancel(job.id)
            except JobError:  # finished in the meantime
                pass
        with self._wake:
            self._wake.notify_all()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return len(active)

    # -- workers -----------------------------------------------------------------------------

    def _next(self) -> Job | None:
        with self._wake:
            while not self._queue and not self._closing:
                self._wake.wait()
            if not self._queue:
                return None
            job = self._queue.popleft()
            job.state = RUNNING
            return job

    def _worker(self) -> None:
        while (job := self._next()) is not None:
            self.notify(job, Message("/job/progress", (job.id, 0.0)))
            self.notify(job, self._run(job))

    def _run(self, job: Job) -> Message:
        """Run one job; the final reply it earns."""
        started = time.monotonic()
        try:
            outputs = job.work(lambda fraction: self._progress(job, fraction))
        except JobCancelled:
            self._finish(job, CANCELLED)
            log.info("job %d cancelled after %.1f s", job.id, time.monotonic() - started)
            return Message("/job/cancelled", (job.id,))
        except Exception as exc:  # a job must never take its worker down; the client hears why
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if not isinstance(exc, self.expected_errors):
                log.exception("job %d failed unexpectedly", job.id)
            self._finish(job, ERROR, error=message)
            log.info("job %d failed: %s", job.id, message)
            return Message("/job/error", (job.id, message))
        self._finish(job, DONE, outputs=outputs)
        log.info("job %d done in %.1f s: %d file(s)", job.id, time.monotonic() - started, len(outputs))
        return Message("/job/done", (job.id, *(str(p) for p in outputs), *job.done_args))

    def _progress(self, job: Job, fraction: float) -> None:
        if job.cancel_requested.is_set():
            raise JobCancelled(f"job {job.id} cancelled")
        job.progress = min(1.0, max(0.0, float(fraction)))
        now = time.monotonic()
        if now - job.last_report >= self.progress_interval:
            job.last_report = now
            self.notify(job, Message("/job/progress", (job.id, job.progress)))

    def _finish(self, job: Job, state: str, outputs: list[Path] | None = None, error: str = "") -> None:
        with self._wake:
            job.state, job.outputs, job.error = state, outputs or [], error
            if state == DONE:
                job.progress = 1.0
            self._finished.append(job.id)
            while len(self._finished) > self._history:
                self._jobs.pop(self._finished.popleft(), None)
