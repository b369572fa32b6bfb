"""The training batches, step after step: drawn in the training loop, or ahead of it by worker processes.

A batch belongs to its step: step ``s`` of a run with seed ``seed`` draws from
``np.random.default_rng([seed, s])`` (its lo-fi changes from ``[seed, s, 1]``, its centred stems from
``[seed, s, 2]``), wherever it is drawn, so a run resumed at step ``s`` goes on with the batches it would
have drawn, and ``workers`` changes the speed of a run, never its batches (the band powers of changed
sources, computed again by an STFT, may differ in their last bit with the process's thread count).

Drawing a batch (cutting clips, gains, cached band powers, lo-fi filters) is numpy work on one core:
about 0.1 s for 8 mixtures of 3 s on this project's CPUs (BENCHMARKS.md, "Training step"). On a GPU,
whose step for the shipped network takes a fraction of that, the draw is the step time, so
``workers`` processes (a :class:`torch.utils.data.DataLoader` over an iterable of steps) draw the
next batches while the network trains on this one. Workers are forked: they share the loaded
shards with the training process instead of copying them.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from separator.training.data.lofi import lofi_batch
from separator.training.data.mix import Batch, StemBank
from separator.training.data.pans import centre_batch


@dataclass(frozen=True)
class Drawing:
    """How a run draws its batches: ``batch`` mixtures of ``samples`` samples; ``lofi`` of them band-limited
    (a share, see :func:`~separator.training.data.lofi.lofi_batch`) and ``centre`` of them with drums, bass
    and vocals centred (:func:`~separator.training.data.pans.centre_batch`); workers pick up shards written
    by a running ``make-data`` every ``refresh_every`` steps."""

    seed: int
    batch: int
    samples: int
    lofi: float = 0.0
    refresh_every: int = 250
    centre: float = 0.0


def draw_batch(bank: StemBank, drawing: Drawing, step: int) -> Batch:
    """The batch of ``step`` (sources, labels and cached source band powers; see :class:`Batch`)."""
    drawn = bank.draw(np.random.default_rng([drawing.seed, step]), drawing.batch, drawing.samples, powers=True)
    if drawing.lofi > 0:
        lofi_batch(drawn, np.random.default_rng([drawing.seed, step, 1]), drawing.lofi, bank.sample_rate)
    if drawing.centre > 0:
        centre_batch(drawn, np.random.default_rng([drawing.seed, step, 2]), drawing.centre, bank.sample_rate)
    return drawn


def batches(bank: StemBank, drawing: Drawing, start: int, workers: int = 0) -> Generator[tuple[int, Batch], None, None]:
    """``(step, batch)`` for steps ``start``, ``start + 1``, … without end, in order.

    Args:
        workers: processes drawing ahead of the caller (0: each batch is drawn when asked for, in this process,
            from ``bank`` as the caller keeps it: refreshing it is the caller's). Each worker draws from its own
            copy of ``bank`` and refreshes it every ``drawing.refresh_every`` steps.
    """
    if workers <= 0:
        step = start
        while True:
            yield step, draw_batch(bank, drawing, step)
            step += 1
    loader = torch.utils.data.DataLoader(
        _Steps(bank, drawing, start),
        batch_size=None,
        num_workers=workers,
        prefetch_factor=2,
        multiprocessing_context="fork",
    )
    for step, parts in loader:
        yield int(step), Batch(parts["sources"].numpy(), parts["labels"].numpy(), parts["powers"].numpy())


class _Steps(torch.utils.data.IterableDataset):  # type: ignore[type-arg]
    """Worker ``i`` of ``n`` draws steps ``start + i``, ``start + i + n``, …; the loader hands them out in turn,
    so they arrive in step order. Arrays travel as tensors (shared memory), not pickled."""

    def __init__(self, bank: StemBank, drawing: Drawing, start: int) -> None:
        self.bank, self.drawing, self.start = bank, drawing, start

    def __iter__(self) -> Iterator[tuple[int, dict[str, torch.Tensor]]]:
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        step = self.start + worker
        refreshed = step // self.drawing.refresh_every
        while True:
            if step // self.drawing.refresh_every > refreshed:  # this worker's copy of the bank
                self.bank.refresh()
                refreshed = step // self.drawing.refresh_every
            drawn = draw_batch(self.bank, self.drawing, step)
            assert drawn.powers is not None
            yield (
                step,
                {
                    "sources": torch.from_numpy(drawn.sources),
                    "labels": torch.from_numpy(np.ascontiguousarray(drawn.labels)),
                    "powers": torch.from_numpy(drawn.powers),
                },
            )
            step += workers
