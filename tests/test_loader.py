"""Training batches belong to their step: worker processes draw the same batches as the loop, in order."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from separator.training.data.make import Recipe, make_dataset
from separator.training.data.mix import Batch, StemBank
from separator.training.data.render import bundled_soundfont
from separator.training.loader import Drawing, batches, draw_batch
from separator.training.train import TrainConfig, train

RATE = 44100


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    make_dataset(folder, 6, Recipe(seed=1, seconds=1.5, soundfonts=[bundled_soundfont() or ""], use_espeak=False), shard_size=6)
    return folder


def _first(bank: StemBank, drawing: Drawing, start: int, workers: int, n: int) -> list[tuple[int, Batch]]:
    drawn = batches(bank, drawing, start, workers)
    try:
        return list(itertools.islice(drawn, n))
    finally:
        drawn.close()


def _assert_same(a: Batch, b: Batch) -> None:
    np.testing.assert_array_equal(a.sources, b.sources)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.powers is not None and b.powers is not None
    np.testing.assert_array_equal(a.powers, b.powers)


@pytest.mark.parametrize("lofi", [0.0, 0.5])
def test_workers_draw_the_batches_the_loop_draws_in_step_order(tiny_data: Path, lofi: float) -> None:
    bank = StemBank(tiny_data)
    drawing = Drawing(seed=3, batch=2, samples=RATE, lofi=lofi)
    inline = _first(bank, drawing, start=7, workers=0, n=5)
    ahead = _first(bank, drawing, start=7, workers=2, n=5)
    assert [step for step, _ in inline] == [step for step, _ in ahead] == [7, 8, 9, 10, 11]
    for (_, a), (_, b) in zip(inline, ahead, strict=True):
        _assert_same(a, b)
        assert a.sources.shape == (2, 6, 2, RATE) and a.sources.dtype == np.float32


def test_a_batch_depends_on_its_step_and_seed_only(tiny_data: Path) -> None:
    bank = StemBank(tiny_data)
    drawing = Drawing(seed=3, batch=2, samples=RATE)
    _assert_same(draw_batch(bank, drawing, 9), _first(bank, drawing, start=9, workers=0, n=1)[0][1])
    assert not np.array_equal(draw_batch(bank, drawing, 9).sources, draw_batch(bank, drawing, 10).sources)
    other_seed = Drawing(seed=4, batch=2, samples=RATE)
    assert not np.array_equal(draw_batch(bank, drawing, 9).sources, draw_batch(bank, other_seed, 9).sources)


def test_a_run_with_workers_trains_exactly_as_one_without(tiny_data: Path, tmp_path: Path) -> None:
    def losses(workers: int) -> list[float]:
        out = tmp_path / f"workers-{workers}"
        cfg = TrainConfig(
            data=str(tiny_data), out=str(out), steps=4, batch=2, seconds=1.0, hidden=16, layers=1, log_every=1,
            save_every=2, threads=1, workers=workers,
        )  # fmt: skip
        train(cfg)
        return [json.loads(line)["loss"] for line in (out / "log.jsonl").read_text().splitlines()]

    without, with_workers = losses(0), losses(2)
    assert len(without) == 4
    assert with_workers == without


def test_centred_batches_are_drawn_alike_by_workers_and_the_loop(tiny_data: Path) -> None:
    bank = StemBank(tiny_data)
    drawing = Drawing(seed=3, batch=4, samples=RATE, centre=1.0)
    inline = _first(bank, drawing, start=2, workers=0, n=3)
    ahead = _first(bank, drawing, start=2, workers=2, n=3)
    for (_, a), (_, b) in zip(inline, ahead, strict=True):
        np.testing.assert_array_equal(a.sources, b.sources)
        assert a.powers is not None and b.powers is not None
        # the centred sources' powers come from an STFT, whose last bit depends on the process's thread count
        np.testing.assert_allclose(a.powers, b.powers, rtol=1e-6, atol=1e-12)
    plain = draw_batch(bank, Drawing(seed=3, batch=4, samples=RATE), 2)
    centred = inline[0][1]
    np.testing.assert_array_equal(centred.labels, plain.labels)  # the same draw, then centred
    for b, i in zip(*np.nonzero(np.isin(plain.labels, [0, 1, 3])), strict=True):
        np.testing.assert_array_equal(centred.sources[b, i, 0], centred.sources[b, i, 1])
        np.testing.assert_allclose(centred.sources[b, i, 0], plain.sources[b, i].mean(0), atol=1e-6)
