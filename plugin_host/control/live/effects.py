"""A stem's effects (a preset route's lane) as a block-in, same-length-block-out stream for the worker.

Live, every block must come out whole and on time. The lane's stages are run as one
pedalboard ``Pedalboard`` on each block with ``reset=False`` (pedalboard takes blocks of
any length; built-in effects hold nothing back). Where a stage cannot be built that way
(a VST3 plugin whose channels need adapting), the lane itself runs, which holds back up to
a chunk; that chunk of silence is made up once at the start, so the stem is that much
later than the others (:attr:`LaneStream.lag`, in frames), never drifting.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from plugin_host.errors import ChainError
from plugin_host.lane import CHUNK, Lane


class LaneStream:
    """Runs ``lane`` over consecutive blocks; each call returns exactly as many frames as it got.

    Args:
        lane: the stem's effects.
        sample_rate: in Hz.
        channels: of the blocks (a lane whose output has another channel count is mixed down and spread).
    """

    def __init__(self, lane: Lane, sample_rate: int, channels: int = 2) -> None:
        self.lane, self.sample_rate, self.channels = lane, sample_rate, channels
        lane.prepare(sample_rate)
        lane.reset()
        self.board = _board(lane, channels)
        self.lag = 0 if self.board is not None else CHUNK
        self._pending = np.zeros((channels, self.lag), np.float32)

    def __call__(self, block: np.ndarray) -> np.ndarray:
        if self.board is not None:
            return self._fit(np.asarray(self.board.process(block, self.sample_rate, reset=False), np.float32))
        self._pending = np.concatenate(
            [self._pending, self._fit(np.asarray(self.lane.process(block, self.sample_rate), np.float32))], axis=-1
        )
        n = block.shape[-1]
        result, self._pending = self._pending[:, :n], self._pending[:, n:]
        return np.ascontiguousarray(result)

    def _fit(self, out: np.ndarray) -> np.ndarray:
        if out.ndim == 2 and out.shape[0] != self.channels and out.shape[-1]:
            out = np.repeat(out.mean(axis=0, keepdims=True), self.channels, axis=0)
        return out.reshape(self.channels, -1) if out.size == 0 else out


def _board(lane: Lane, channels: int) -> Any:
    """One pedalboard for the lane's stages, or ``None`` when a stage has no native form for ``channels``."""
    import pedalboard

    try:
        plugins = [stage.native(channels) for stage in lane.stages]
    except ChainError:
        return None
    return pedalboard.Pedalboard([p for p in plugins if p is not None])
