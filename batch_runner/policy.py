"""The checks every face makes the same way, each written once: worker counts and what existing outputs mean.

``separator split``, ``plugin-host run`` and ``plugin-host serve`` (its ``--jobs``) call these, so one rule
gives one message whichever command met it. Whether a single output may be written (never over an input,
over an existing file only when allowed) is :func:`stembase.outputs.output_conflict`, which the separator
and the chains use too; :func:`conflict` adds the batch's own rules on top of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from batch_runner.base import EngineError
from batch_runner.results import SKIPPED
from stembase.outputs import output_conflict


def check_count(label: str, value: object, minimum: int = 1, optional: bool = False) -> None:
    """Refuse a count that is not a whole number of at least ``minimum`` (``None`` too, unless ``optional``).

    ``label`` is what the message calls it: ``jobs`` on the command lines, ``workers`` in the API.

    Raises:
        EngineError: ``jobs must be a whole number of at least 1, got 0``.
    """
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise EngineError(f"{label} must be a whole number of at least {minimum}, got {value!r}")


def check_existing_policy(skip_existing: bool, overwrite: bool) -> None:
    """Refuse asking to keep existing outputs and to replace them at once.

    Raises:
        EngineError: both asked for.
    """
    if skip_existing and overwrite:
        raise EngineError("skip_existing and overwrite contradict each other; choose one")


def conflict(targets: Sequence[Path], claimed: dict[Path, Path], inputs: set[Path], skip_existing: bool, overwrite: bool) -> str | None:
    """Why a track of a batch cannot be written as planned (``"skipped"`` when it is already done), or ``None``.

    Args:
        targets: the track's outputs.
        claimed: ``{resolved output: input}`` of the tracks planned before it (two tracks never write one file).
        inputs: every input of the batch, resolved (no output replaces one).
        skip_existing: a track whose outputs all exist is skipped.
        overwrite: existing outputs are replaced. Without either, an existing output is refused.
    """
    problem = output_conflict(targets, inputs, overwrite=True)
    if problem:
        return problem
    for t in targets:
        if t.resolve() in claimed:
            return f"{t}: {claimed[t.resolve()]} writes the same output; give one of them its own run with another -o/--out folder"
    if skip_existing and targets and all(t.exists() for t in targets):
        return SKIPPED
    return output_conflict(targets, overwrite=overwrite or skip_existing)
