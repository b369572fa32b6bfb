"""The splitting worker: overlapping windows of the input ring → separated, crossfaded stems in the stem ring.

It runs on a thread of its own (torch and numpy release the GIL inside their kernels,
so the JACK callback keeps its turn). Window ``k`` (see :class:`~plugin_host.control.live.plan.LivePlan`)
is split as soon as the input reaches its end; its stems cover the hop region
``[k·hop, (k+1)·hop)`` fully, fade in over the first ``crossfade`` frames (where the
previous window fades out) and fade out over the ``crossfade`` frames after the region,
kept as a tail for the next window. The weights of overlapping windows add up to one,
and each window's stems add up to its input, so the stems add up to the input everywhere.

When the worker falls behind (a window came too late for the output), it jumps to the
first window that can still be on time, without a crossfade partner: the frames it
missed play dry (see :class:`~plugin_host.control.live.client.LiveClient`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from plugin_host.control.live.plan import LivePlan, fade_in
from plugin_host.control.live.ring import FrameRing, Span
from plugin_host.split import SeparatorLike

log = logging.getLogger("plugin_host.control.live")

Effect = Callable[[np.ndarray], np.ndarray]  # a stem's effects, block in → block of the same length out


@dataclass
class WorkerStats:
    """What the worker has done: windows split and skipped, and its time per window (seconds)."""

    windows: int = 0
    skipped: int = 0
    last: float = 0.0
    total: float = 0.0
    longest: float = 0.0

    def add(self, seconds: float) -> None:
        self.windows += 1
        self.last, self.total, self.longest = seconds, self.total + seconds, max(self.longest, seconds)

    @property
    def mean(self) -> float:
        return self.total / self.windows if self.windows else 0.0


class WindowSplitter:
    """Splits window after window from ``source`` into ``stems``; call :meth:`split` from one thread.

    Args:
        separator: anything with ``separate(audio, sample_rate, stems=...)``, usually a :class:`separator.Separator`.
        names: the stems, in the order of the stem ring's first axis.
        plan: the timing.
        source: the input ring ``(channels, frames)``.
        stems: the stem ring ``(n_stems, channels, frames)``.
        effects: per stem, a callable that processes a ``(channels, n)`` block in order (a preset's route), or none.
        stems_arg: what to pass as ``stems=`` (``None``: every class of the model).
    """

    def __init__(
        self,
        separator: SeparatorLike,
        names: Sequence[str],
        plan: LivePlan,
        source: FrameRing,
        stems: FrameRing,
        effects: dict[str, Effect] | None = None,
        stems_arg: list[str] | None = None,
    ) -> None:
        self.separator, self.names, self.plan = separator, list(names), plan
        self.source, self.stems, self.effects, self.stems_arg = source, stems, effects or {}, stems_arg
        channels = source.data.shape[0]
        n_stems, w, x = len(self.names), plan.window_frames, plan.crossfade_frames
        self._window = np.zeros((channels, w), np.float32)
        self._tail = np.zeros((n_stems, channels, x), np.float32)  # the last window's fade-out, waiting for the next
        self._fade = fade_in(x)
        self.published = Span()  # frames of the stem ring the callback may read
        self.stats = WorkerStats()

    def warm_up(self) -> None:
        """Split one window of quiet noise: the first split of a process is slow (allocations, kernels), and it should
        not be the first window heard."""
        noise = np.random.default_rng(0).standard_normal(self._window.shape).astype(np.float32) * np.float32(0.01)
        self.separator.separate(noise, self.plan.sample_rate, stems=self.stems_arg)

    def split(self, k: int, fresh: bool) -> None:
        """Split window ``k`` and publish its hop region; ``fresh``: no earlier window overlaps it (start, or after a skip)."""
        p = self.plan
        h, x = p.hop_frames, p.crossfade_frames
        self.source.read(p.window_start(k), self._window)
        separated = self.separator.separate(self._window, p.sample_rate, stems=self.stems_arg)
        block = np.stack([separated[n] for n in self.names]).astype(np.float32, copy=False)  # (n_stems, channels, window)
        start = h * k - p.window_start(k)  # where the hop region begins inside the window
        region = block[..., start : start + h].copy()
        if x:
            if fresh:
                pass  # nothing fades out here: this window alone holds the region's start
            else:
                region[..., :x] *= self._fade
                region[..., :x] += self._tail
            self._tail[:] = block[..., start + h : start + h + x] * self._fade[::-1]
        for i, name in enumerate(self.names):
            effect = self.effects.get(name)
            if effect is not None:
                region[i] = effect(region[i])
        self.stems.write(h * k, region)
        first = h * k if fresh else self.published.start
        self.published = Span(first, h * (k + 1))  # one reference swap: the callback sees all of it or none


class Worker:
    """Runs a :class:`WindowSplitter` on a thread, as fast as the input allows, skipping ahead when late.

    Args:
        splitter: the windows to split.
        written: returns the input frames written so far (the callback's published input span end).
        poll: seconds between looks at the input while waiting for a window's end.
        nice: how much lower than the rest of the process the worker thread (and the threads it starts) runs,
            so JACK's callback thread gets a core first on a busy machine (Linux; ignored elsewhere).
    """

    def __init__(self, splitter: WindowSplitter, written: Callable[[], int], poll: float = 0.005, nice: int = 5) -> None:
        self.splitter, self.written, self.poll, self.nice = splitter, written, poll, nice
        self.stop_event = threading.Event()
        self.ready = threading.Event()  # set once the warm-up split is done (or the worker failed)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="live-split", daemon=True)

    def start(self, timeout: float = 300.0) -> Worker:
        """Start the thread and return once its warm-up split is done (at most ``timeout`` seconds)."""
        self._thread.start()
        self.ready.wait(timeout)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        _lower_priority(self.nice)
        try:
            # here, not on the caller's thread: torch starts its compute threads on the first split, and they
            # inherit this thread's lower priority, so none of them competes with JACK's callback thread
            self.splitter.warm_up()
            self.ready.set()
            self._loop()
        except BaseException as exc:  # the client reports it; the outputs go on dry
            self.error = exc
            self.ready.set()
            log.exception("the splitting worker stopped")

    def _loop(self) -> None:
        plan, splitter = self.splitter.plan, self.splitter
        k, fresh = 0, True
        while not self.stop_event.is_set():
            if self.written() < plan.window_end(k):
                self.stop_event.wait(self.poll)
                continue
            useful = plan.first_useful(self.written())
            if useful > k:  # this window would come too late for the output: skip to one that is on time
                splitter.stats.skipped += useful - k
                k, fresh = useful, True
                continue
            started = time.perf_counter()
            splitter.split(k, fresh)
            splitter.stats.add(time.perf_counter() - started)
            k, fresh = k + 1, False


def _lower_priority(nice: int) -> None:
    """Lower this thread's scheduling priority by ``nice`` (Linux threads have their own nice value)."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)
    except OSError:
        pass


def split_offline(separator: SeparatorLike, audio: np.ndarray, plan: LivePlan, names: Sequence[str]) -> dict[str, np.ndarray]:
    """The stems the live client plays for ``audio`` ``(channels, n)`` when the worker is never late, without real time
    (for measuring quality against the offline split; the stems start at frame 0, the delay left out).

    Returns:
        ``{stem: (channels, n)}``; the last ``hop + look-ahead`` seconds, which no window has finished yet, are silent.
    """
    channels, n = audio.shape
    ring = plan.ring_frames + n
    source, stems = FrameRing((channels,), ring), FrameRing((len(names), channels), ring)
    source.write(0, np.ascontiguousarray(audio, np.float32))
    splitter = WindowSplitter(separator, names, plan, source, stems)
    k = 0
    while plan.window_end(k) <= n:
        splitter.split(k, fresh=k == 0)
        k += 1
    out = stems.read(0, np.zeros((len(names), channels, n), np.float32))
    out[..., splitter.published.end :] = 0.0
    return dict(zip(names, out, strict=True))
