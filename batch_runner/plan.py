"""Planning a batch: which inputs need work, which are already done, which cannot be written as asked.

Planning runs on the driver before any engine starts, so a resumed run skips the
same tracks whichever engine ran the first part: a track counts as done when
every one of its outputs exists (outputs are renamed into place only when
complete, so an existing file is a finished file). A skipped track's stale temporary files (a worker
killed while writing it in an earlier run) are swept here; a track that is written sweeps its own when
its writer opens (:func:`stembase.audio.sweep_parts`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from batch_runner.base import audio_seconds
from batch_runner.policy import check_existing_policy, conflict
from batch_runner.results import FAILED, SKIPPED, FileResult, Task
from stembase.audio import sweep_parts

Check = Callable[[Path, Sequence[Path]], "str | None"]


def plan(
    entries: Sequence[tuple[Path, Sequence[Path]]], *, skip_existing: bool = False, overwrite: bool = False, check: Check | None = None
) -> tuple[list[Task], dict[int, FileResult]]:
    """Split ``(input, targets)`` pairs into tasks to run and inputs settled without work.

    Args:
        entries: each input with the files it would produce, in input order.
        skip_existing: a track whose outputs all exist is ``skipped`` (resume).
        overwrite: existing outputs are replaced. Without either, an existing output fails its track.
        check: called first with each input and its targets; a message it returns fails that input.
    Returns:
        ``(tasks, settled)``: the tasks, and ``{input index: skipped or failed result}`` for the rest.
    Raises:
        EngineError: ``skip_existing`` and ``overwrite`` both asked for.
    """
    check_existing_policy(skip_existing, overwrite)
    tasks: list[Task] = []
    settled: dict[int, FileResult] = {}
    claimed: dict[Path, Path] = {}
    inputs = {file.resolve() for file, _ in entries}
    for index, (file, targets) in enumerate(entries):
        problem = (check and check(file, targets)) or conflict(targets, claimed, inputs, skip_existing, overwrite)
        if problem == SKIPPED:
            for target in targets:  # done, but a killed worker of an earlier run may have left its temporary files
                sweep_parts(target)
            settled[index] = FileResult(file, SKIPPED, audio_seconds=audio_seconds(file), outputs=list(targets))
        elif problem:
            settled[index] = FileResult(file, FAILED, audio_seconds=audio_seconds(file), error=problem)
        else:
            tasks.append(Task(index, file, tuple(targets)))
        claimed.update({t.resolve(): file for t in targets})
    return tasks, settled
