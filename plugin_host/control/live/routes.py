"""OSC and MIDI control of the live stem mixer, on the server's own dispatcher, reply rules and MIDI map.

Addresses follow the chain controls of ``plugin-host serve`` (docs/osc.md): a value sets,
no argument queries, and every change is fed back to every client that takes feedback,
so all surfaces' faders follow, whoever moved one. Gains here are linear (0 silences,
1 leaves the stem as split), as DJ stem mixers count them.

MIDI CCs map onto ``stem.<name>.gain|mute|solo`` through :class:`plugin_host.control.midi.MidiMapper`
(maps from the preset's ``midi: cc:`` section, or learnt with ``/midi/learn``).
"""

from __future__ import annotations

import threading
from dataclasses import astuple
from typing import Any, Protocol

from plugin_host.control.live.mixer import GAIN_RANGE, StemMixer
from plugin_host.control.live.plan import LivePlan
from plugin_host.control.midi import Ignored, Learned, MidiMapper, SetParam, TargetState
from plugin_host.control.osc.app import Clients
from plugin_host.control.osc.control import EXPECTED_ERRORS
from plugin_host.control.osc.dispatcher import Dispatcher, Request
from plugin_host.control.osc.messages import Feedback, Message
from plugin_host.control.osc.targets import parse_stem_target
from plugin_host.errors import ParameterError
from plugin_host.midi_map import CcMapping

SWITCHES = ("mute", "solo")


class LiveState(Protocol):
    """What the routes read and move: a :class:`~plugin_host.control.live.client.LiveClient` (or a stand-in in tests)."""

    mixer: StemMixer
    plan: LivePlan

    def stats(self) -> Any: ...

    def levels(self, seconds: float = 0.1) -> dict[str, float]: ...


class LiveRoutes:
    """The handlers of ``/live/...`` (and ``/ping``, ``/help``, ``/feedback``, ``/midi/...``), each ``handler(request, **args)``.

    Args:
        live: the client whose mixer they move.
        clients: who takes feedback.
        midi: the CC maps (from the preset) and MIDI learn.
    """

    def __init__(self, live: LiveState, clients: Clients | None = None, midi: MidiMapper | None = None) -> None:
        self.live, self.clients, self.midi = live, clients or Clients(), midi or MidiMapper()
        self.lock = threading.RLock()  # OSC and MIDI threads change the mixer one at a time
        self.metered: set[tuple[str, int]] = set()  # the reply addresses that asked for meters (/live/meters 1)
        self.dispatcher = _table(self)

    @property
    def names(self) -> list[str]:
        return self.live.mixer.names

    # -- server -------------------------------------------------------------------------------

    def ping(self, request: Request, args: tuple[Any, ...] = ()) -> list[Message]:
        return [Message("/pong", args)]

    def feedback(self, request: Request, on: bool) -> list[Message]:
        self.clients.set_feedback(request.reply_to, on)
        return [Message("/feedback", (int(on),))]

    def help(self, request: Request, address: str = "") -> list[Message]:
        return self.dispatcher.help(address)

    def meters_on(self, request: Request, on: bool) -> list[Message]:
        (self.metered.add if on else self.metered.discard)(request.reply_to)
        return [Message("/live/meters", (int(on),))]

    # -- the client ------------------------------------------------------------------------------

    def latency(self, request: Request) -> list[Message]:
        plan = self.live.plan
        return [Message("/live/latency", (plan.latency_frames / plan.sample_rate, plan.latency_frames))]

    def stats(self, request: Request) -> list[Message]:
        return [Message("/live/stats", tuple(astuple(self.live.stats())))]

    def stem_list(self, request: Request) -> list[Message]:
        m = self.live.mixer
        out = [Message("/live/stem", (n, m.get(n, "gain"), int(m.get(n, "mute")), int(m.get(n, "solo")))) for n in self.names]
        return [*out, Message("/live/list/end", (len(out),))]

    def refresh(self, request: Request) -> list[Message]:
        return self.snapshot(Message)

    def snapshot(self, kind: type[Message]) -> list[Message]:
        """Every stem control with its value: what a surface needs to redraw."""
        return [kind(f"/live/{n}/{c}", (self._value(n, c),)) for n in self.names for c in ("gain", *SWITCHES)]

    # -- stems ----------------------------------------------------------------------------------

    def gain(self, request: Request, gain: float | None = None) -> list[Message]:
        return self._stem(request, "gain", gain)

    def switch(self, request: Request, on: bool | None = None) -> list[Message]:
        return self._stem(request, request.address.rsplit("/", 1)[1], on)

    def _stem(self, request: Request, control: str, value: float | bool | None) -> list[Message]:
        stem = request.path["stem"]
        if value is None:
            self.live.mixer.index(stem)  # an unknown stem is an error, not a silent query
            return [Message(request.address, (self._value(stem, control),))]
        self.set(stem, control, value)
        return [Feedback(f"/live/{stem}/{control}", (self._value(stem, control),))]

    def set(self, stem: str, control: str, value: float | bool) -> None:
        """Set ``gain`` (linear), ``mute`` or ``solo`` of a stem, under the lock.

        Raises:
            ParameterError: unknown stem or control, or a gain out of range.
        """
        with self.lock:
            if control == "gain":
                self.live.mixer.set_gain(stem, float(value))
            else:
                self.live.mixer.set_switch(stem, control, bool(value))

    def _value(self, stem: str, control: str) -> float | int:
        value = self.live.mixer.get(stem, control)
        return value if control == "gain" else int(value)

    def meters(self) -> list[Message]:
        """``/live/<stem>/level f:dBFS`` for every stem and ``mix`` (peaks after the gains), for :attr:`metered` clients."""
        return [Message(f"/live/{name}/level", (round(db, 1),)) for name, db in self.live.levels().items()]

    # -- MIDI -------------------------------------------------------------------------------------

    def target_state(self, target: str) -> TargetState:
        """Range and value of a MIDI target ``stem.<name>.gain|mute|solo``.

        Raises:
            ParameterError: not a stem target, or an unknown stem.
        """
        stem = parse_stem_target(target)
        if stem is None:
            raise ParameterError(f"live MIDI targets read stem.<name>.gain, stem.<name>.mute or stem.<name>.solo, got {target!r}")
        name, control = stem
        value = self.live.mixer.get(name, control)
        return TargetState(GAIN_RANGE, value) if control == "gain" else TargetState((0.0, 1.0), value, toggle=True)

    def check_mappings(self, mappings: list[CcMapping]) -> None:
        """Refuse maps whose targets the live mixer does not have (before any CC arrives).

        Raises:
            ParameterError: the first bad target, named.
        """
        for mapping in mappings:
            self.target_state(mapping.target)

    def on_midi(self, message: Any) -> list[Message]:
        """Apply one mido message; returns the feedback for every OSC client that takes it."""
        out: list[Message] = []
        with self.lock:
            for action in self.midi.handle(message, self.target_state):
                if isinstance(action, SetParam):
                    name, control = parse_stem_target(action.target) or ("", "")
                    self.set(name, control, action.value)
                    out.append(Feedback(f"/live/{name}/{control}", (self._value(name, control),)))
                elif isinstance(action, Learned):
                    m = action.mapping
                    out.append(Feedback("/midi/learned", (m.target, m.channel or 0, m.cc, m.bits)))
                elif isinstance(action, Ignored):
                    pass  # unmapped CCs, program changes: nothing to do live
        return out

    def midi_learn(self, request: Request, target: str = "", bits: int = 7) -> list[Message]:
        if not target:
            self.midi.disarm()
            return [Message("/midi/learn", ("",))]
        self.target_state(target)
        self.midi.arm(target, bits)
        return [Message("/midi/learn", (target,))]

    def midi_map_list(self, request: Request) -> list[Message]:
        out = []
        for m in self.midi.mappings:
            lo, hi = m.range or self.target_state(m.target).range
            out.append(Message("/midi/map", (m.target, m.channel or 0, m.cc, lo, hi, m.curve or "auto", m.bits, m.takeover)))
        return [*out, Message("/midi/map/list/end", (len(out),))]

    def midi_map_clear(self, request: Request, target: str = "") -> list[Message]:
        return [Message("/midi/map/cleared", (self.midi.clear(target or None),))]


# (address template, arguments, handler method of LiveRoutes, summary, replies, stem family?)
ADDRESSES: tuple[tuple[str, str, str, str, str, bool], ...] = (
    ("/ping", "*:args", "ping", "liveness check; the arguments come back", "/pong [*:args]", False),
    ("/help", "[s:address]", "help", "the address table", "/help s:address s:arguments s:replies s:summary ..., /help/end i:count", False),
    ("/feedback", "t:on", "feedback", "feedback of changes on (default) or off for this client", "/feedback i:on", False),
    (
        "/live/meters",
        "t:on",
        "meters_on",
        "stem level meters for this client on (1) or off (0, the default): ten times a second, peaks in dBFS after the gains",
        "/live/meters i:on, then /live/<stem>/level f:dBFS and /live/mix/level f:dBFS",
        False,
    ),
    (
        "/live/latency",
        "",
        "latency",
        "the stated delay from input to output (also reported on the JACK ports)",
        "/live/latency f:seconds i:frames",
        False,
    ),
    (
        "/live/stats",
        "",
        "stats",
        "blocks played dry because the worker was late, xruns, windows split and skipped, seconds per window, worker load",
        "/live/stats i:misses i:xruns i:windows i:skipped f:worker_mean f:worker_max f:load",
        False,
    ),
    (
        "/live/list",
        "",
        "stem_list",
        "the stems with their settings",
        "/live/stem s:name f:gain i:mute i:solo ..., /live/list/end i:count",
        False,
    ),
    ("/live/refresh", "", "refresh", "the value of every stem control", "/live/<stem>/gain|mute|solo messages", False),
    (
        "/live/{stem}/gain",
        "[f:gain]",
        "gain",
        f"a stem's linear gain ({GAIN_RANGE[0]:g}..{GAIN_RANGE[1]:g}; 0 silences, 1 as split), ramped over one block; no argument: query",
        "feedback /live/<stem>/gain f:gain",
        True,
    ),
    ("/live/{stem}/mute", "[t:on]", "switch", "mute a stem (1) or not (0); no argument: query", "feedback /live/<stem>/mute i:on", True),
    ("/live/{stem}/solo", "[t:on]", "switch", "solo a stem (1) or not (0); no argument: query", "feedback /live/<stem>/solo i:on", True),
    (
        "/midi/learn",
        "[s:target] [i:bits]",
        "midi_learn",
        "bind the next CC to stem.<name>.gain|mute|solo; no argument: stop learning",
        "/midi/learn s:target, later feedback /midi/learned s:target i:channel i:cc i:bits",
        False,
    ),
    (
        "/midi/map/list",
        "",
        "midi_map_list",
        "the CC maps (channel 0: any)",
        "/midi/map s:target i:channel i:cc f:low f:high s:curve i:bits s:takeover ..., /midi/map/list/end i:count",
        False,
    ),
    ("/midi/map/clear", "[s:target]", "midi_map_clear", "remove every CC map, or those of one target", "/midi/map/cleared i:count", False),
)


def _table(r: LiveRoutes) -> Dispatcher:
    d = Dispatcher(EXPECTED_ERRORS)
    stems = lambda: [{"stem": n} for n in r.names]  # noqa: E731
    for template, signature, handler, summary, replies, family in ADDRESSES:
        d.add(template, signature, getattr(r, handler), summary, replies, stems if family else None)
    return d
