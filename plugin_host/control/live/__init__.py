"""Live stems: ``plugin-host live`` splits what a JACK client hears into stems, with a stated delay.

One idea per module:

- :mod:`~plugin_host.control.live.ring` — ring buffers on an absolute frame timeline (no locks).
- :mod:`~plugin_host.control.live.plan` — window, hop, look-ahead, crossfade and delay, in seconds and frames.
- :mod:`~plugin_host.control.live.worker` — the splitting worker: overlapping windows, crossfades, catching up.
- :mod:`~plugin_host.control.live.mixer` — per-stem gain, mute and solo with ramps, and the mix.
- :mod:`~plugin_host.control.live.latency` — the delay reported to JACK (libjack through ctypes).
- :mod:`~plugin_host.control.live.client` — the JACK client: ports, the real-time callback, the player.
- :mod:`~plugin_host.control.live.routes` — OSC and MIDI control of the mixer (the server's dispatcher and MIDI map).
- :mod:`~plugin_host.control.live.cli` — the ``plugin-host live`` command.

JACK-Client is imported only when a client opens, so the pieces above it test without JACK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from plugin_host.control.live.mixer import StemMixer
    from plugin_host.control.live.plan import LivePlan, fade_in
    from plugin_host.control.live.ring import FrameRing, Span

__all__ = ["FrameRing", "LivePlan", "Span", "StemMixer", "fade_in"]
_HOMES = {"FrameRing": "ring", "Span": "ring", "LivePlan": "plan", "fade_in": "plan", "StemMixer": "mixer"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:  # numpy loads with the first of them, not with the command line's import of this package
        import importlib

        return getattr(importlib.import_module(f"plugin_host.control.live.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
