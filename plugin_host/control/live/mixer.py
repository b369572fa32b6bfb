"""The stem mixer: per-stem gain, mute and solo, ramped over a block, and the mix of the gained stems.

Settings change on control threads (OSC, MIDI) by replacing numbers in preallocated
arrays; :meth:`StemMixer.process` runs in the JACK callback and only does arithmetic into
preallocated buffers. A change takes effect over the next block as a linear ramp from
the gain heard to the new one, so a fader move never steps (no zipper noise).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from plugin_host.errors import ParameterError
from plugin_host.params import not_found

GAIN_RANGE = (0.0, 4.0)  # linear; 0 silences, 1 leaves the stem as split, 4 is +12 dB
DRY_STEM = "other"  # where the dry input goes when the worker misses a block


class StemMixer:
    """Gains of ``names`` and the buffers one block needs.

    Args:
        names: the stems, in port order.
        max_block: the largest JACK period the buffers fit.
    """

    def __init__(self, names: Sequence[str], max_block: int = 8192, channels: int = 2) -> None:
        self.names = list(names)
        n = len(self.names)
        self.gain = np.ones(n, np.float32)  # linear, as set
        self.mute = np.zeros(n, bool)
        self.solo = np.zeros(n, bool)
        self.target = np.ones(n, np.float32)  # what the next block ramps to: gain, mute and solo combined
        self.current = np.ones(n, np.float32)  # what the last block ended on (what the meters use)
        self.dry_index = self.names.index(DRY_STEM) if DRY_STEM in self.names else n - 1
        self._ramp = np.zeros(max_block, np.float32)
        self._ramp_n = 0
        self._gains = np.zeros((n, max_block), np.float32)
        self._step = np.zeros(n, np.float32)
        self._snapshot = np.zeros(n, np.float32)
        self._fade_out = np.zeros(max_block, np.float32)
        self._dry_part = np.zeros((channels, max_block), np.float32)

    # -- control (any thread) ---------------------------------------------------------------------

    def index(self, stem: str) -> int:
        """The position of ``stem``.

        Raises:
            ParameterError: no such stem (the message lists them).
        """
        try:
            return self.names.index(stem)
        except ValueError:
            raise ParameterError(not_found("Stem", stem, self.names)) from None

    def set_gain(self, stem: str, gain: float) -> float:
        """Set a stem's linear gain (0 silences it); returns the gain stored.

        Raises:
            ParameterError: unknown stem, or a gain outside :data:`GAIN_RANGE`.
        """
        i = self.index(stem)
        low, high = GAIN_RANGE
        if not (isinstance(gain, (int, float)) and math.isfinite(gain) and low <= gain <= high):
            raise ParameterError(f"Value received for parameter 'gain' of stem '{stem}' ({gain!r}) is out of range [{low:g}, {high:g}]")
        self.gain[i] = gain
        self._retarget()
        return float(self.gain[i])

    def set_switch(self, stem: str, control: str, on: bool) -> bool:
        """Set ``mute`` or ``solo`` of a stem; returns the state stored.

        Raises:
            ParameterError: unknown stem or control.
        """
        i = self.index(stem)
        if control not in ("mute", "solo"):
            raise ParameterError(not_found("Stem control", control, ["gain", "mute", "solo"]))
        getattr(self, control)[i] = bool(on)
        self._retarget()
        return bool(getattr(self, control)[i])

    def get(self, stem: str, control: str) -> float:
        """``gain`` (linear), ``mute`` or ``solo`` (0/1) of a stem."""
        i = self.index(stem)
        return float(self.gain[i]) if control == "gain" else float(getattr(self, control)[i])

    def _retarget(self) -> None:
        audible = ~self.mute & (self.solo | ~self.solo.any())
        self.target[:] = np.where(audible, self.gain, 0.0)

    # -- real time (the JACK callback) -----------------------------------------------------------

    def process(self, stems: np.ndarray, out: np.ndarray, mix: np.ndarray) -> None:
        """Gain ``stems`` ``(n_stems, channels, n)`` into ``out`` (same shape) and sum them into ``mix`` ``(channels, n)``.

        The gains ramp linearly from :attr:`current` to :attr:`target` over the block.
        """
        n = stems.shape[-1]
        ramp, gains = self._ramp_for(n), self._gains[:, :n]
        target = self._snapshot
        target[:] = self.target  # one snapshot: a control thread may write meanwhile
        np.subtract(target, self.current, out=self._step)
        np.multiply(self._step[:, None], ramp[None, :], out=gains)
        gains += self.current[:, None]
        np.multiply(stems, gains[:, None, :], out=out)
        np.sum(out, axis=0, out=mix)
        self.current[:] = target

    def dry(self, dry: np.ndarray, out: np.ndarray, mix: np.ndarray) -> None:
        """The overload path: the dry input ``(channels, n)`` in the dry stem (:data:`DRY_STEM`) and in ``mix``, the rest silent."""
        out[...] = 0.0
        out[self.dry_index] = dry
        mix[...] = dry

    def blend_from_dry(self, dry: np.ndarray, out: np.ndarray, mix: np.ndarray) -> None:
        """After a miss: fade from the dry path to what :meth:`process` put in ``out`` and ``mix`` over the block."""
        n = dry.shape[-1]
        ramp, fade_out, part = self._ramp_for(n), self._fade_out[:n], self._dry_part[: dry.shape[0], :n]
        np.subtract(1.0, ramp, out=fade_out)
        np.multiply(dry, fade_out, out=part)
        out *= ramp
        out[self.dry_index] += part
        mix *= ramp
        mix += part

    def _ramp_for(self, n: int) -> np.ndarray:
        if n != self._ramp_n:  # the period changed (rare): recompute once
            self._ramp[:n] = (np.arange(1, n + 1) / n).astype(np.float32)
            self._ramp_n = n
        return self._ramp[:n]
