"""Text for people: the end-of-batch table, clipping warnings, durations.

The table and the failure lines are the batch runner's (:mod:`batch_runner.report`),
the same for ``separator split`` and for every engine; the clipping warning is the chains' own.
"""

from __future__ import annotations

import math

from batch_runner.report import duration, failures_line, table, wants_summary
from plugin_host.batch import BatchReport

__all__ = ["clipping", "duration", "failures_line", "table", "wants_summary"]


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
