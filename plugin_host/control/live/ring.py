"""Ring buffers on an absolute frame timeline: one writer and one reader, no locks, nothing allocated after construction.

A :class:`FrameRing` holds the last ``capacity`` frames of a stream whose frames are
numbered from 0 (the first frame the JACK client processed). Writers and readers name
frames by that number, so the process callback, the splitting worker and the meters agree
on *when* a sample is without sharing a counter. Who may read what is said by the owner's
published counters (:class:`Span`), which are replaced whole: under the GIL a reference
swap is atomic, so a reader never sees half an update.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Span:
    """Frames ``[start, end)`` that hold valid data, published by a writer as one object."""

    start: int = 0
    end: int = 0

    def holds(self, first: int, last: int) -> bool:
        """Whether frames ``[first, last)`` are all valid (frames before 0 count as valid silence)."""
        return (last <= self.end and max(first, 0) >= self.start) or last <= 0


class FrameRing:
    """The last ``capacity`` frames of a ``(*shape, frames)`` float32 stream, addressed by absolute frame number.

    Args:
        shape: the leading dimensions, e.g. ``(2,)`` for stereo or ``(5, 2)`` for five stereo stems.
        capacity: frames kept; a write overwrites what is ``capacity`` frames older.
    """

    def __init__(self, shape: tuple[int, ...], capacity: int) -> None:
        if capacity <= 0:
            raise ValueError(f"ring capacity must be a positive number of frames, got {capacity}")
        self.capacity = int(capacity)
        self.data = np.zeros((*shape, self.capacity), np.float32)

    def write(self, frame: int, block: np.ndarray) -> None:
        """Store ``block`` (``(*shape, n)``, ``n <= capacity``) as frames ``[frame, frame + n)``."""
        n = block.shape[-1]
        i = frame % self.capacity
        first = min(n, self.capacity - i)
        self.data[..., i : i + first] = block[..., :first]
        if first < n:
            self.data[..., : n - first] = block[..., first:]

    def read(self, frame: int, out: np.ndarray) -> np.ndarray:
        """Copy frames ``[frame, frame + n)`` into ``out`` (``(*shape, n)``); frames before 0 read as silence."""
        n = out.shape[-1]
        if frame < 0:
            silent = min(-frame, n)
            out[..., :silent] = 0.0
            if silent < n:
                self.read(0, out[..., silent:])
            return out
        i = frame % self.capacity
        first = min(n, self.capacity - i)
        out[..., :first] = self.data[..., i : i + first]
        if first < n:
            out[..., first:] = self.data[..., : n - first]
        return out

    def add(self, frame: int, block: np.ndarray) -> None:
        """Add ``block`` onto frames ``[frame, frame + n)`` (overlap-add of crossfaded windows)."""
        n = block.shape[-1]
        i = frame % self.capacity
        first = min(n, self.capacity - i)
        self.data[..., i : i + first] += block[..., :first]
        if first < n:
            self.data[..., : n - first] += block[..., first:]

    def clear(self, frame: int, n: int) -> None:
        """Set frames ``[frame, frame + n)`` to silence."""
        i = frame % self.capacity
        first = min(n, self.capacity - i)
        self.data[..., i : i + first] = 0.0
        if first < n:
            self.data[..., : n - first] = 0.0
