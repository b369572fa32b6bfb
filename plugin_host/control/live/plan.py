"""The timing of a live split: window, hop, look-ahead, crossfade and the stated delay, in seconds and in frames.

Window ``k`` of the input (frames numbered from the client's first frame) ends
``look-ahead`` after its hop region ``[k·hop, (k+1)·hop)``; it is split once the input
has reached its end, and its stems fill the hop region (crossfaded with the windows
before and after it over ``crossfade`` frames). The output plays the input
``delay`` frames late, so each window must be split within

    delay − hop − look-ahead − one block

seconds of real time (the worker's *budget*). A longer window gives the network more
context (better stems) at more work per window; a longer hop means fewer windows
(less work) but a longer wait for the input; look-ahead is context after the
region the window keeps, which the BLSTM uses too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from plugin_host.errors import ParameterError
from separator.resplit import NO_SECOND_HEARINGS

if TYPE_CHECKING:
    import numpy as np

# Measured on the generated leave-out songs (docs/live.md): a 4-s window every second with 0.5 s of
# look-ahead keeps within 0.6 dB of the offline split, at under half a core; 2 s leaves ~0.5 s per window.
DEFAULT_WINDOW, DEFAULT_HOP, DEFAULT_LOOKAHEAD, DEFAULT_LATENCY = 4.0, 1.0, 0.5, 2.0
MAX_DEFAULT_LATENCY = 2.0
# Split settings of a live split over the model's own: named mode's second hearings of the bass (on by default)
# and the drums (separator.resplit) each run the network once more per window, and the default delay leaves no
# room for even one.
LIVE_SETTINGS: dict[str, Any] = dict(NO_SECOND_HEARINGS)


@dataclass(frozen=True)
class LivePlan:
    """Timing of a live split, in seconds; the ``*_frames`` properties give frames at ``sample_rate``.

    Attributes:
        sample_rate: the JACK server's rate, in Hz.
        block: the JACK period, in frames.
        window: seconds of input each split sees.
        hop: seconds between windows (and the length of audio each keeps).
        lookahead: seconds of input after the kept region.
        latency: the stated delay from input to output, in seconds.
        crossfade: seconds over which neighbouring windows blend (at most the look-ahead and the hop);
            ``None``: half the look-ahead.
    """

    sample_rate: int
    block: int
    window: float = DEFAULT_WINDOW
    hop: float = DEFAULT_HOP
    lookahead: float = DEFAULT_LOOKAHEAD
    latency: float = DEFAULT_LATENCY
    crossfade: float | None = None

    def __post_init__(self) -> None:
        for name in ("window", "hop", "latency"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ParameterError(f"Value received for parameter '{name}' ({value!r}) must be a positive number of seconds")
        if not 0.0 <= self.lookahead < self.window:
            raise ParameterError(
                f"Value received for parameter 'lookahead' ({self.lookahead:g}) is out of range [0, window={self.window:g})"
            )
        if self.hop + self.lookahead > self.window:
            raise ParameterError(
                f"the window ({self.window:g} s) must hold the hop and the look-ahead ({self.hop:g} + {self.lookahead:g} s); "
                "lengthen --window or shorten --hop/--lookahead"
            )
        if self.crossfade is not None and not 0.0 <= self.crossfade <= min(self.lookahead, self.hop):
            raise ParameterError(
                f"Value received for parameter 'crossfade' ({self.crossfade:g}) is out of range [0, {min(self.lookahead, self.hop):g}] "
                "(at most the look-ahead and the hop)"
            )
        minimum = self.minimum_latency
        if self.latency_frames < round(minimum * self.sample_rate):
            raise ParameterError(
                f"Value received for parameter 'latency' ({self.latency:g} s) is too short: with a hop of {self.hop:g} s, "
                f"{self.lookahead:g} s of look-ahead and {self.block}-frame blocks it must be at least {minimum:.3f} s "
                f"plus the time one window takes to split; raise --latency or shorten --hop/--lookahead"
            )

    # -- frames ------------------------------------------------------------------------------

    def frames(self, seconds: float) -> int:
        return int(round(seconds * self.sample_rate))

    @property
    def window_frames(self) -> int:
        return self.frames(self.window)

    @property
    def hop_frames(self) -> int:
        return self.frames(self.hop)

    @property
    def lookahead_frames(self) -> int:
        return self.frames(self.lookahead)

    @property
    def crossfade_frames(self) -> int:
        return self.frames(self.lookahead / 2 if self.crossfade is None else self.crossfade)

    @property
    def latency_frames(self) -> int:
        """The stated delay, in frames: what the output ports report to JACK."""
        return self.frames(self.latency)

    @property
    def minimum_latency(self) -> float:
        """Seconds of delay below which no window could ever be ready: hop + look-ahead + two blocks."""
        return self.hop + self.lookahead + 2 * self.block / self.sample_rate

    @property
    def budget(self) -> float:
        """Seconds of real time the worker has to split one window."""
        return (self.latency_frames - self.hop_frames - self.lookahead_frames - self.block) / self.sample_rate

    @property
    def ring_frames(self) -> int:
        """Frames the rings keep: enough for a window, the delay and a worker that is late."""
        return 2 * (self.window_frames + self.latency_frames) + 8 * self.block

    # -- windows -----------------------------------------------------------------------------

    def window_end(self, k: int) -> int:
        """The frame after the last input frame window ``k`` reads."""
        return (k + 1) * self.hop_frames + self.lookahead_frames

    def window_start(self, k: int) -> int:
        return self.window_end(k) - self.window_frames

    def first_useful(self, now: int) -> int:
        """The first window whose region is still ahead of the output when the input is at frame ``now``."""
        playing = now - self.latency_frames + self.block  # the first frame the next cycle reads
        return max(0, -(-playing // self.hop_frames))

    def describe(self) -> str:
        return (
            f"delay {self.latency:.3f} s ({self.latency_frames} frames at {self.sample_rate} Hz); window {self.window:g} s, "
            f"hop {self.hop:g} s, look-ahead {self.lookahead:g} s, {self.block}-frame blocks; "
            f"{self.budget:.2f} s to split each window"
        )


def fade_in(n: int) -> np.ndarray:
    """``(n,)`` float32 raised-cosine ramp from 0 towards 1; ``fade_in(n) + fade_in(n)[::-1] == 1``, so a crossfade keeps sums."""
    import numpy as np  # here: the command line reads this module's defaults without numpy

    if n <= 0:
        return np.zeros(0, np.float32)
    return (np.sin(0.5 * np.pi * (np.arange(n) + 0.5) / n) ** 2).astype(np.float32)
