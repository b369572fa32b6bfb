"""Render a stream of blocks through a lane, tail included.

pedalboard cuts reverb and delay tails at the input's length; a renderer keeps
feeding silence after the input until the output stays under
:data:`TAIL_THRESHOLD_DB` for a while (``tail="auto"``), or for a fixed number
of seconds. Feeding silence also flushes the samples plugins hold back for
their latency, so the output is never shorter than the input.

Whole-file processing is the same generator fed one block, so block-wise and
whole-file output match sample for sample for every streamable lane.
Memory stays bounded: a block in flight, plus at most ``hold`` seconds of quiet
tail held back until it is known whether something louder follows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from plugin_host.lane import CHUNK, Lane

BLOCK = 65536  # samples per block: a multiple of pedalboard's 8192-sample buffer, ~1.5 s at 44.1 kHz
TAIL_THRESHOLD_DB = -80.0  # a tail under this (dBFS, sample peak) counts as decayed
MIN_HOLD_SECONDS = 0.5  # a tail must stay quiet this long to end (longer for long delays)
MAX_TAIL_SECONDS = 30.0  # an auto tail never runs longer (a frozen reverb never decays)


@dataclass(frozen=True)
class Tail:
    """How long the output runs after the input ends.

    Attributes:
        seconds: ``None`` for auto (until the tail decays), else exactly this many seconds (0: cut at the input's end).
        hold_seconds: auto only: how long the output must stay quiet before it ends.
    """

    seconds: float | None = None
    hold_seconds: float = MIN_HOLD_SECONDS

    @classmethod
    def of(cls, tail: float | str | None, lane: Lane) -> Tail:
        """The tail a preset's ``tail_seconds`` asks for (``"auto"`` or ``None``: auto, held past the lane's longest delay)."""
        if tail is None or tail == "auto":
            return cls(None, max(MIN_HOLD_SECONDS, lane.delay_seconds + 0.1))
        return cls(float(tail))


def render(lane: Lane, blocks: Iterable[np.ndarray], sample_rate: float, tail: Tail) -> Iterator[np.ndarray]:
    """Stream ``(channels, n)`` float32 blocks through ``lane``, then its tail.

    Yields:
        ``(out_channels, m)`` float32 blocks; together ``input length + tail`` samples.
    """
    lane.prepare(sample_rate)
    lane.reset()
    n_in = n_out = 0
    channels = 0
    for block in blocks:
        channels = block.shape[0]
        n_in += block.shape[-1]
        out = lane.process(np.ascontiguousarray(block, np.float32), sample_rate)
        n_out += out.shape[-1]
        if out.shape[-1]:
            yield out
    if n_in == 0:
        return
    silence = _silence(lane, sample_rate, channels)
    if tail.seconds is not None:
        yield from _fixed_tail(silence, n_in + round(tail.seconds * sample_rate) - n_out)
        return
    hold, limit = int(tail.hold_seconds * sample_rate), n_in + int(MAX_TAIL_SECONDS * sample_rate)
    yield from _auto_tail(silence, n_in, n_out, hold, limit)


def _silence(lane: Lane, sample_rate: float, channels: int) -> Iterator[np.ndarray]:
    """The lane's output for endless silence: its latency flushed, then its tail."""
    zeros = np.zeros((channels, CHUNK), np.float32)  # one plugin call at a time: no more silence processed than needed
    while True:
        yield lane.process(zeros, sample_rate)


def _fixed_tail(silence: Iterator[np.ndarray], wanted: int) -> Iterator[np.ndarray]:
    """Exactly ``wanted`` more samples (none when negative)."""
    for out in silence:
        if wanted <= 0:
            return
        piece = out[:, :wanted]
        wanted -= piece.shape[-1]
        if piece.shape[-1]:
            yield piece


def _auto_tail(silence: Iterator[np.ndarray], n_in: int, n_out: int, hold: int, limit: int) -> Iterator[np.ndarray]:
    """The rest of the input's length, then the tail up to its last sample over the threshold.

    Stops once ``hold`` samples in a row were quiet, or at ``limit`` samples.
    """
    threshold = 10 ** (TAIL_THRESHOLD_DB / 20)
    pending: list[np.ndarray] = []  # quiet samples after the input's end, released if something louder follows
    quiet = 0
    for out in silence:
        body = max(0, min(out.shape[-1], n_in - n_out))  # samples still inside the input's length
        n_out += out.shape[-1]
        if body:
            yield out[:, :body]
        rest = out[:, body:]
        loud = np.flatnonzero(np.abs(rest).max(axis=0) > threshold) if rest.size else np.zeros(0, int)
        if loud.size:
            yield from pending
            yield rest[:, : loud[-1] + 1]
            pending, quiet = [rest[:, loud[-1] + 1 :]], rest.shape[-1] - loud[-1] - 1
        else:
            pending.append(rest)
            quiet += rest.shape[-1]
        if (n_out >= n_in and quiet >= hold) or n_out >= limit:
            return


def whole(lane: Lane, audio: np.ndarray, sample_rate: float, tail: Tail) -> np.ndarray:
    """:func:`render` of one whole signal ``(channels, n)`` → ``(out_channels, n + tail)``."""
    pieces = list(render(lane, [audio], sample_rate, tail))
    if not pieces:
        return np.zeros((lane.output_channels(audio.shape[0]), 0), np.float32)
    return np.concatenate(pieces, axis=-1)


def fit(audio: np.ndarray, length: int) -> np.ndarray:
    """``audio`` cut or padded with silence to ``length`` samples."""
    if audio.shape[-1] >= length:
        return audio[..., :length]
    return np.pad(audio, ((0, 0), (0, length - audio.shape[-1])))
