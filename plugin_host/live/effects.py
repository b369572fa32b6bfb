"""A stem's effects (a preset route's lane) as a block-in, same-length-block-out stream for the worker.

A lane may hold back part of a block (its plugins' latency, its chunking); live, every
block must come out whole, so what is held back is made up with silence once, at the
start, and the stem is that much later from then on (reverbs and EQs hold back nothing).
"""

from __future__ import annotations

import numpy as np

from plugin_host.lane import Lane


class LaneStream:
    """Runs ``lane`` over consecutive blocks with ``reset=False``; each call returns exactly as many frames as it got.

    Args:
        lane: the stem's effects.
        sample_rate: in Hz.
        channels: of the blocks (the output keeps this count: a mono lane's output is spread to every channel).
    """

    def __init__(self, lane: Lane, sample_rate: int, channels: int = 2) -> None:
        self.lane, self.sample_rate, self.channels = lane, sample_rate, channels
        lane.prepare(sample_rate)
        lane.reset()
        self._pending = np.zeros((channels, 0), np.float32)
        self.held_back = 0  # frames of silence made up so far

    def __call__(self, block: np.ndarray) -> np.ndarray:
        out = np.asarray(self.lane.process(block, self.sample_rate), np.float32)
        if out.shape[0] != self.channels:
            out = np.broadcast_to(out.mean(axis=0, keepdims=True), (self.channels, out.shape[-1]))
        self._pending = np.concatenate([self._pending, out], axis=-1)
        n = block.shape[-1]
        if self._pending.shape[-1] < n:
            missing = n - self._pending.shape[-1]
            self.held_back += missing
            self._pending = np.concatenate([np.zeros((self.channels, missing), np.float32), self._pending], axis=-1)
        result, self._pending = self._pending[:, :n], self._pending[:, n:]
        return np.ascontiguousarray(result)
