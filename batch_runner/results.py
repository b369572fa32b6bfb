"""What a batch is made of: the tasks handed to workers, what happened to each file, progress events.

A :class:`Task` is one input and the files it must produce; a worker turns it into
a :class:`FileResult`. Both are plain, picklable data, so a Ray actor on another
node receives and returns them unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

DONE, SKIPPED, FAILED = "done", "skipped", "failed"
STATUSES = (DONE, SKIPPED, FAILED)


@dataclass(frozen=True)
class Task:
    """One input to process.

    Attributes:
        index: its position among the batch's inputs (results are reported in this order).
        input: the input file.
        targets: the files it must produce, all written atomically.
        attempts: how many times a worker died while processing it (it is retried up to a bound).
    """

    index: int
    input: Path
    targets: tuple[Path, ...]
    attempts: int = 0


@dataclass
class FileResult:
    """What happened to one input.

    Attributes:
        input: the input file.
        status: ``done``, ``skipped`` (outputs already there) or ``failed``.
        seconds: wall-clock time spent on it (by the worker that finished it).
        audio_seconds: its duration.
        outputs: the files written (or found, when skipped).
        error: why it failed (one line), else ``None``.
        peak_db: the loudest output sample in dBFS (above 0 clips at 16/24 bits), when measured.
        worker: the worker that settled it (``local-2``, ``ray:10.0.0.7:4242``); ``None`` when no worker ran it.
        attempts: workers that started it (more than 1 when a worker died while processing it).
    """

    input: Path
    status: str
    seconds: float = 0.0
    audio_seconds: float = 0.0
    outputs: list[Path] = field(default_factory=list)
    error: str | None = None
    peak_db: float | None = None
    worker: str | None = None
    attempts: int = 0


@dataclass
class BatchReport:
    """Every input's :class:`FileResult`, in input order, and how the batch ran.

    Attributes:
        results: one per input.
        seconds: the batch's wall-clock time.
        jobs: the workers that processed files at once.
        engine: ``local`` or ``ray``.
    """

    results: list[FileResult]
    seconds: float
    jobs: int = 1
    engine: str = "local"

    def with_status(self, status: str) -> list[FileResult]:
        return [r for r in self.results if r.status == status]

    @property
    def done(self) -> list[FileResult]:
        return self.with_status(DONE)

    @property
    def skipped(self) -> list[FileResult]:
        return self.with_status(SKIPPED)

    @property
    def failed(self) -> list[FileResult]:
        return self.with_status(FAILED)

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def audio_seconds(self) -> float:
        """Seconds of audio processed (done files)."""
        return sum(r.audio_seconds for r in self.done)

    @property
    def realtime_factor(self) -> float:
        """Audio seconds processed per wall-clock second (``10`` = ten times faster than real time)."""
        return self.audio_seconds / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Progress:
    """A progress event: ``audio_seconds`` more of ``input`` processed; ``result`` set once the file is finished."""

    input: Path
    audio_seconds: float
    result: FileResult | None = None


ProgressFn = Callable[[Progress], None]
