"""Reports of a batch for people and for audits: the summary table and the JSON report written next to the outputs.

The JSON report (``batch-report.json``) holds the run (engine, workers, wall time,
throughput) and one entry per input: status, seconds, audio seconds, worker,
attempts, error and outputs, so a catalog run can be checked file by file.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

from batch_runner.results import DONE, FAILED, SKIPPED, STATUSES, BatchReport, FileResult
from stembase.errors import StemsplitError
from stembase.outputs import FileWriteError, write_atomic

REPORT_NAME = "batch-report.json"
REPORT_FORMAT = 1


class ReportError(StemsplitError):
    """The JSON report of a batch could not be written."""


def duration(seconds: float) -> str:
    """``75.3`` → ``1:15.3``; ``3725`` → ``1:02:05.0``; ``59.96`` → ``1:00.0`` (rounded before it is split)."""
    tenths = round(max(0.0, seconds) * 10)
    minutes, tenths = divmod(tenths, 600)
    hours, minutes = divmod(minutes, 60)
    secs = f"{tenths // 10:02d}.{tenths % 10}"
    return f"{hours}:{minutes:02d}:{secs}" if hours else f"{minutes}:{secs}"


def table(report: BatchReport, title: str) -> str:
    """Files, audio duration and work time per status, then the totals, the wall-clock time and the throughput.

    Work time is the time the workers spent on the files; with several jobs it exceeds the wall-clock
    time, so the total row sums the rows and the wall-clock time has a line of its own.
    """
    rows = [
        f"{title}: {len(report.results)} files, jobs {report.jobs}, engine {report.engine}",
        f"  {'status':<8}{'files':>7}{'audio':>12}{'work':>12}",
    ]
    work = 0.0
    for status in (DONE, SKIPPED, FAILED):
        results = report.with_status(status)
        spent = sum(r.seconds for r in results) if status != SKIPPED else 0.0
        work += spent
        shown = duration(spent) if status != SKIPPED else "-"
        rows.append(f"  {status:<8}{len(results):>7}{duration(sum(r.audio_seconds for r in results)):>12}{shown:>12}")
    total_audio = sum(r.audio_seconds for r in report.results)
    rows.append(f"  {'total':<8}{len(report.results):>7}{duration(total_audio):>12}{duration(work):>12}")
    rows.append(f"  wall-clock {duration(report.seconds)} with {report.jobs} job(s)")
    rows.append(f"  real-time factor {report.realtime_factor:.1f}x (audio processed per second of wall-clock time, {report.engine} engine)")
    retried = [r for r in report.results if r.attempts > 1]
    if retried:
        rows.append(f"  {len(retried)} file(s) retried after their worker died")
    return "\n".join(rows)


def wants_summary(report: BatchReport) -> bool:
    """Whether the end-of-batch table tells more than the lines printed as files finished: not for an
    empty run, nor for a run of one file that failed (its error line says it all)."""
    return bool(report.results) and not (len(report.results) == 1 and report.results[0].status == FAILED)


def failures_line(result: FileResult) -> str:
    """The input, then why it failed (the input named once, when the reason already starts with it)."""
    reason = result.error or "unknown error"
    named = reason.startswith((str(result.input), str(result.input.absolute())))  # a Ray worker names it absolutely
    return reason if named else f"{result.input}: {reason}"


def to_json(report: BatchReport, about: dict[str, Any] | None = None) -> dict[str, Any]:
    """The report as JSON-ready data; ``about`` describes the run (command, preset, model) and is stored as given."""
    counts = {status: len(report.with_status(status)) for status in STATUSES}
    return {
        "format": REPORT_FORMAT,
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **(about or {}),
        "engine": report.engine,
        "jobs": report.jobs,
        "wall_seconds": round(report.seconds, 3),
        "audio_seconds": round(report.audio_seconds, 3),
        "realtime_factor": round(report.realtime_factor, 3),
        "counts": counts,
        "files": [_file_entry(r) for r in report.results],
    }


def _file_entry(r: FileResult) -> dict[str, Any]:
    return {
        "input": str(r.input),
        "status": r.status,
        "seconds": round(r.seconds, 3),
        "audio_seconds": round(r.audio_seconds, 3),
        "worker": r.worker,
        "attempts": r.attempts,
        "error": r.error,
        "outputs": [str(p) for p in r.outputs],
    }


def write_report(report: BatchReport, path: str | Path, about: dict[str, Any] | None = None) -> Path:
    """Write :func:`to_json` to ``path`` atomically (a reader never sees half a report); returns the path.

    Raises:
        ReportError: the file cannot be written.
    """
    try:
        return write_atomic(path, json.dumps(to_json(report, about), indent=2) + "\n")
    except FileWriteError as exc:
        raise ReportError(str(exc).replace(": cannot write", ": cannot write the batch report", 1)) from exc


def read_report(path: str | Path) -> dict[str, Any]:
    """A report written by :func:`write_report`, as data."""
    return json.loads(Path(path).read_text(encoding="utf-8"))  # type: ignore[no-any-return]
