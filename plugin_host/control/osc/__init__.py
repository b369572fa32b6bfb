"""OSC control server: ``plugin-host serve`` lets a DAW or a control surface split files, render and turn a chain's knobs.

Layers, each testable on its own:

- :mod:`~plugin_host.control.osc.routes` — the address space (address → handler); handlers are plain functions.
- :mod:`~plugin_host.control.osc.control` — the state they act on: the chain, presets, parameters, stems, jobs.
- :mod:`~plugin_host.control.osc.server` — the UDP transport: gate, parse, reply; nothing about what addresses mean.
- :mod:`~plugin_host.control.osc.jobs` — bounded queue and worker pool, cancel, progress.
- :mod:`~plugin_host.control.osc.security` — path roots, sender allow-list, rate limit.
- :mod:`~plugin_host.control.osc.service` — all of it wired together, as ``plugin-host serve`` runs it.

>>> from plugin_host.control.osc import ServeOptions, Service
>>> service = Service(ServeOptions(port=0, preset="karaoke")).start()
>>> service.stop()
"""

from plugin_host.control.osc.messages import Feedback, Message
from plugin_host.control.osc.service import ServeOptions, Service

__all__ = ["Feedback", "Message", "ServeOptions", "Service"]
