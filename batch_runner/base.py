"""The contract between the batch runner, its engines and the workers that process files.

A *worker factory* is a picklable, zero-argument callable that builds a
:class:`Worker` (loads the model, builds the chain) once per worker: once per
thread of the local engine, once per Ray actor. A worker then processes many
:class:`~batch_runner.results.Task` objects. An *engine* runs tasks on
workers and hands back one :class:`~batch_runner.results.FileResult` per task.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol

from batch_runner.results import DONE, FAILED, FileResult, ProgressFn, Task
from stembase import audio as audio_io
from stembase.errors import StemsplitError


class EngineError(StemsplitError, ValueError):
    """A batch cannot run on the engine asked for: Ray missing, bad engine options, a worker that cannot start."""


@dataclass
class Outcome:
    """What a worker made of a task: the files written, when measured their peak level in dBFS, and the
    seconds of audio it processed when that is not the whole input (a range of it)."""

    outputs: list[Path] = field(default_factory=list)
    peak_db: float | None = None
    audio_seconds: float | None = None


class Worker(Protocol):
    """Processes one task at a time; built once per worker by a :data:`WorkerFactory`.

    ``expected_errors`` are the exception types that mean "this file cannot be processed"
    (reported with their message alone); anything else is reported with its type name too.
    """

    expected_errors: ClassVar[tuple[type[Exception], ...]]

    def process(self, task: Task, progress: Callable[[float], None]) -> Outcome:
        """Write ``task.targets`` from ``task.input``; ``progress`` gets the seconds of input audio done since its last call."""
        ...


WorkerFactory = Callable[[], Worker]


class Engine(Protocol):
    """Runs tasks on workers built by a factory.

    Attributes:
        name: ``local`` or ``ray``.
        workers: the workers of the last run (known once it started; for Ray, what the cluster allowed).
    """

    name: str
    workers: int

    def run(self, tasks: Sequence[Task], factory: WorkerFactory, notify: ProgressFn) -> dict[int, FileResult]:
        """One result per task, keyed by ``task.index``; ``notify`` gets audio progress and each finished file once.

        Raises:
            EngineError: the engine or a worker cannot start.
        """
        ...


def attempt(worker: Worker, task: Task, progress: Callable[[float], None], name: str) -> FileResult:
    """Process one task on ``worker``, every error caught and reported: one bad file never stops a batch.

    ``name`` identifies the worker in the result; ``attempts`` counts this try.
    """
    start = time.perf_counter()
    seconds = audio_seconds(task.input)
    tries = task.attempts + 1
    try:
        outcome = worker.process(task, progress)
    except worker.expected_errors as exc:
        return FileResult(task.input, FAILED, time.perf_counter() - start, seconds, error=str(exc), worker=name, attempts=tries)
    except Exception as exc:  # a plugin or library failing on one file must not end the batch
        error = f"{type(exc).__name__}: {exc}"
        return FileResult(task.input, FAILED, time.perf_counter() - start, seconds, error=error, worker=name, attempts=tries)
    elapsed = time.perf_counter() - start
    if outcome.audio_seconds is not None:
        seconds = outcome.audio_seconds
    return FileResult(task.input, DONE, elapsed, seconds, outcome.outputs, peak_db=outcome.peak_db, worker=name, attempts=tries)


def audio_seconds(path: Path) -> float:
    """A file's duration from its header; 0 when it cannot be read (the worker then reports why)."""
    try:
        return audio_io.info(path).seconds
    except StemsplitError:
        return 0.0


def describe(exc: BaseException) -> str:
    """One line for an error: a domain error's message (it names its file), else the type and the message."""
    return str(exc) if isinstance(exc, StemsplitError) else f"{type(exc).__name__}: {exc}"
