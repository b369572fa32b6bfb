"""Text for people: the end-of-batch table, clipping warnings, durations."""

from __future__ import annotations

import math

from plugin_host.batch import DONE, FAILED, SKIPPED, BatchReport, FileResult


def duration(seconds: float) -> str:
    """``75.25`` → ``1:15.3``; ``3725`` → ``1:02:05.0``."""
    minutes, secs = divmod(max(0.0, seconds), 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{secs:04.1f}" if hours else f"{minutes}:{secs:04.1f}"


def table(report: BatchReport, title: str) -> str:
    """Files, audio duration and processing time per status, then the totals and the real-time factor."""
    rows = [f"{title}: {len(report.results)} files, jobs {report.jobs}", f"  {'status':<8}{'files':>7}{'audio':>12}{'time':>12}"]
    for status in (DONE, SKIPPED, FAILED):
        results = report.with_status(status)
        spent = duration(sum(r.seconds for r in results)) if status != SKIPPED else "-"
        rows.append(f"  {status:<8}{len(results):>7}{duration(sum(r.audio_seconds for r in results)):>12}{spent:>12}")
    total_audio = sum(r.audio_seconds for r in report.results)
    rows.append(f"  {'total':<8}{len(report.results):>7}{duration(total_audio):>12}{duration(report.seconds):>12}")
    rows.append(f"  real-time factor {report.realtime_factor:.1f}x (audio processed per second of wall-clock time)")
    return "\n".join(rows)


def failures_line(result: FileResult) -> str:
    """The input, then why it failed (the input named once, when the reason already starts with it)."""
    reason = result.error or "unknown error"
    return reason if reason.startswith(str(result.input)) else f"{result.input}: {reason}"


def clipping(report: BatchReport, bit_depth: str) -> str | None:
    """A warning naming the outputs that exceed 0 dBFS, when the bit depth is an integer one (they clip)."""
    if bit_depth == "32f":
        return None
    loud = [r for r in report.done if r.peak_db is not None and math.isfinite(r.peak_db) and r.peak_db > 0.0]
    if not loud:
        return None
    names = ", ".join(f"{r.input.name} ({r.peak_db:+.1f} dBFS)" for r in loud[:5]) + (" …" if len(loud) > 5 else "")
    return (
        f"{len(loud)} output(s) peak above 0 dBFS and clip at {bit_depth}-bit: {names}; use --bit-depth 32f or end the chain with a limiter"
    )
