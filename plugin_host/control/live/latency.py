"""Latency reporting through libjack: JACK-Client (0.5.7) wraps neither ``jack_set_latency_callback``
nor ``jack_port_set_latency_range``, so they are called through ctypes with the client's and ports' pointers.

A client that delays its signal by ``d`` frames says so in its latency callback: in capture
mode each output port's range is the input's plus ``d`` (how old the audio is when it
leaves), in playback mode each input port's range is the outputs' plus ``d`` (how long
until it is heard). Ardour reads these ranges to line the client's return up with the
other tracks.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
from collections.abc import Sequence
from typing import Any

log = logging.getLogger("plugin_host.control.live")

CAPTURE, PLAYBACK = 0, 1  # jack_latency_callback_mode_t


class LatencyRange(ctypes.Structure):
    """``jack_latency_range_t``: frames."""

    _fields_ = (("min", ctypes.c_uint32), ("max", ctypes.c_uint32))


LatencyCallback = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p)


@functools.cache
def libjack() -> ctypes.CDLL:
    """The JACK library JACK-Client uses (``libjack.so.0``).

    Raises:
        OSError: libjack is not installed.
    """
    lib = ctypes.CDLL(ctypes.util.find_library("jack") or "libjack.so.0")
    lib.jack_port_get_latency_range.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(LatencyRange))
    lib.jack_port_get_latency_range.restype = None
    lib.jack_port_set_latency_range.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(LatencyRange))
    lib.jack_port_set_latency_range.restype = None
    lib.jack_set_latency_callback.argtypes = (ctypes.c_void_p, LatencyCallback, ctypes.c_void_p)
    lib.jack_set_latency_callback.restype = ctypes.c_int
    lib.jack_recompute_total_latencies.argtypes = (ctypes.c_void_p,)
    lib.jack_recompute_total_latencies.restype = ctypes.c_int
    return lib


def pointer(obj: Any) -> int:
    """The C pointer of a JACK-Client ``Client`` or ``Port``."""
    import jack

    return int(jack._ffi.cast("uintptr_t", obj._ptr))


def port_latency(port: Any, mode: int = CAPTURE) -> tuple[int, int]:
    """``(min, max)`` latency of a JACK-Client port in frames, as other clients see it."""
    r = LatencyRange()
    libjack().jack_port_get_latency_range(pointer(port), mode, ctypes.byref(r))
    return int(r.min), int(r.max)


class LatencyReporter:
    """Reports ``delay`` frames on a client's ports; install before the client is activated.

    Args:
        client: a JACK-Client ``Client``.
        inputs, outputs: its audio ports.
        delay: frames from input to output.
    Raises:
        RuntimeError: JACK refused the callback.
    """

    def __init__(self, client: Any, inputs: Sequence[Any], outputs: Sequence[Any], delay: int) -> None:
        self.lib, self.delay = libjack(), int(delay)
        self._client = pointer(client)
        self._inputs, self._outputs = [pointer(p) for p in inputs], [pointer(p) for p in outputs]
        self._callback = LatencyCallback(self._on_latency)  # kept: JACK calls it for as long as the client lives
        if self.lib.jack_set_latency_callback(self._client, self._callback, None) != 0:
            raise RuntimeError("JACK refused the latency callback")

    def recompute(self) -> None:
        """Ask JACK to recompute the graph's latencies (after activation, after connecting)."""
        self.lib.jack_recompute_total_latencies(self._client)

    def _on_latency(self, mode: int, arg: Any) -> None:
        try:
            if mode == CAPTURE:
                self._propagate(self._inputs, self._outputs, mode)
            else:
                self._propagate(self._outputs, self._inputs, mode)
        except Exception:  # a ctypes callback must not raise into C
            log.exception("latency callback failed")

    def _propagate(self, sources: list[int], targets: list[int], mode: int) -> None:
        low, high = 0, 0
        r = LatencyRange()
        for i, port in enumerate(sources):
            self.lib.jack_port_get_latency_range(port, mode, ctypes.byref(r))
            low, high = (r.min, r.max) if i == 0 else (min(low, r.min), max(high, r.max))
        out = LatencyRange(low + self.delay, high + self.delay)
        for port in targets:
            self.lib.jack_port_set_latency_range(port, mode, ctypes.byref(out))
