"""The driver's progress bar, for the command lines: one bar over the whole run, in seconds of audio.

Its postfix counts finished and failed files; failures (and, if asked, finished
files) are printed above it as they happen. The Ray engine reports a file when it
is finished; the local engine also reports audio as it is processed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from batch_runner.base import audio_seconds
from batch_runner.report import failures_line
from batch_runner.results import DONE, FAILED, FileResult, Progress


def durations(files: Iterable[Path]) -> dict[Path, float]:
    """``{resolved path: seconds}`` from the files' headers (0 for a file that cannot be read)."""
    return {f.resolve(): audio_seconds(f) for f in files}


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


class ProgressBar:
    """A tqdm bar over seconds of audio; pass :meth:`update` as a batch's ``progress``.

    The bar appears with the first event, so an error before any work is a clean one-line message.

    Args:
        durations: the seconds of every input, from :func:`durations`.
        quiet: no bar (failures are still printed); there is none either when stderr is not a terminal.
        failed_prefix: what starts a failure's line (``failed: <file>: <reason>``).
        show_done: also print ``<input> -> <outputs>`` for every finished file.
    """

    def __init__(self, durations: dict[Path, float], quiet: bool = False, failed_prefix: str = "failed", show_done: bool = False) -> None:
        self.durations, self.quiet = durations, quiet
        self.failed_prefix, self.show_done = failed_prefix, show_done
        self.counted: dict[Path, float] = {}
        self.finished = self.failed = 0
        self.bar: Any = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()

    def _open(self) -> Any:
        from tqdm import tqdm

        return tqdm(
            total=sum(self.durations.values()),
            desc="audio",
            file=sys.stderr,
            disable=self.quiet or not _is_terminal(sys.stderr),  # piped to a log, a bar's redraws only garble it
            dynamic_ncols=True,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s [{elapsed}<{remaining}{postfix}]",
        )

    def update(self, event: Progress) -> None:
        if self.bar is None:
            self.bar = self._open()
        key = event.input.resolve()
        step = event.audio_seconds
        if key in self.durations:  # a worker's estimate may overshoot: never count past the file's length
            step = min(step, max(0.0, self.durations[key] - self.counted.get(key, 0.0)))
        if event.result is not None:  # top up to the file's full length, whatever was reported before
            step = max(0.0, self.durations.get(key, event.result.audio_seconds) - self.counted.get(key, 0.0))
            self.finished += 1
            self._announce(event.result)
        if self.bar.total:  # float sums in another order than the total's: never past 100 %
            step = max(0.0, min(step, self.bar.total - self.bar.n))
        self.counted[key] = self.counted.get(key, 0.0) + step
        self.bar.update(step)
        self.bar.set_postfix_str(f"files {self.finished}/{len(self.durations)}" + (f", {self.failed} failed" if self.failed else ""))

    def _announce(self, result: FileResult) -> None:
        if result.status == FAILED:
            self.failed += 1
            self.bar.write(f"{self.failed_prefix}: {failures_line(result)}", file=sys.stderr)
        elif result.status == DONE and self.show_done and not self.quiet:
            self.bar.write(f"{result.input} -> {', '.join(str(p) for p in result.outputs)}", file=sys.stderr)
