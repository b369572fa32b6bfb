"""MIDI into the server: apply what a MIDI message asks for to the chain, and say so to the OSC surfaces.

:class:`plugin_host.control.midi.MidiMapper` decides (pure); this module applies its
actions under the server's lock and turns them into OSC feedback, so a fader
on a surface follows a knob on a MIDI controller.
"""

from __future__ import annotations

import logging
from typing import Any

from plugin_host.control.midi import Ignored, Learned, SelectPreset, SetParam
from plugin_host.control.osc.messages import Feedback, Message
from plugin_host.control.osc.routes import Routes
from plugin_host.control.osc.targets import parse_stem_target

log = logging.getLogger("plugin_host.control.osc")


def apply_midi(routes: Routes, message: Any) -> list[Message]:
    """Apply one mido message; returns the feedback to send to every OSC client that takes it."""
    control = routes.control
    with control.lock:
        if control.chain is None and getattr(message, "type", None) != "program_change":
            log.debug("MIDI %s ignored: no preset is loaded", message)
            return []
        out: list[Message] = []
        for action in control.midi.handle(message, control.target_state):
            out += _apply(routes, action)
        return out


def _apply(routes: Routes, action: Any) -> list[Message]:
    """The feedback of one action; an action that fails is logged and costs nothing else."""
    control = routes.control
    try:
        if isinstance(action, SetParam):
            control.set_target(action.target, action.value)
            return _target_feedback(routes, action.target)
        if isinstance(action, SelectPreset):
            chain = control.load_preset(action.name, trusted=True)
            log.info("MIDI program %d -> preset %s", action.index, chain.name)
            return [Feedback("/preset/loaded", (chain.name, chain.description)), *routes.snapshot(Feedback)]
        if isinstance(action, Learned):
            m = action.mapping
            log.info("MIDI learn: CC %d on channel %s -> %s", m.cc, m.channel, m.target)
            return [Feedback("/midi/learned", (m.target, m.channel or 0, m.cc, m.bits))]
        if isinstance(action, Ignored):
            log.debug("MIDI: %s", action.reason)
    except ValueError as exc:  # a preset that no longer loads, a value the chain refuses
        log.warning("MIDI: %s", str(exc).splitlines()[0])
    return []


def _target_feedback(routes: Routes, target: str) -> list[Message]:
    stem = parse_stem_target(target)
    if stem is not None:
        return routes.stem_feedback(*stem)
    stage, _, name = target.rpartition(".")
    return routes.param_feedback(stage, name)
