"""MIDI control: CC → parameter maps, program change → preset, MIDI learn; pure data and functions, then a thin port layer.

Every mido message becomes one internal event in :func:`normalize` (channels
counted 1–16 as on controllers and in DAWs; mido counts 0–15). A
:class:`MidiMapper` turns events into actions (:class:`SetParam`,
:class:`SelectPreset`, :class:`Learned`, :class:`Ignored`) without touching a
chain: whoever applies the actions owns the chain and its lock.

The maps themselves (what a preset stores under ``midi: cc:``) are :mod:`plugin_host.midi_map`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from plugin_host.midi_map import (
    CcMapping,
    ControlChange,
    MidiMapError,
    check_curve,
    position_to_value,
    value_to_position,
)

BANK_MSB, BANK_LSB = 0, 32
VIRTUAL_PORT = "plugin-host"
PICKUP_TOLERANCE = 2 / 127  # a knob this close to the parameter's position (normalised) picks it up

log = logging.getLogger("plugin_host.control.midi")


class MidiPortError(Exception):
    """A MIDI port cannot be opened; the message says what is missing and how to go on without MIDI."""


# -- events --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgramChange:
    """A program change: ``channel`` 1–16, ``program`` 0–127."""

    channel: int
    program: int


def normalize(message: Any) -> ControlChange | ProgramChange | None:
    """The internal event for a mido message; ``None`` for kinds that control nothing (notes, clock, sysex)."""
    kind = getattr(message, "type", None)
    if kind == "control_change":
        return ControlChange(message.channel + 1, message.control, message.value)
    if kind == "program_change":
        return ProgramChange(message.channel + 1, message.program)
    return None


# -- the mapper ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetState:
    """What the mapper needs to know about a target: its range, value now, whether it is a switch, its knob scale."""

    range: tuple[float, float]
    value: float
    toggle: bool = False
    scale: str = "linear"


Lookup = Callable[[str], TargetState]  # raises ValueError (or KeyError) for an unknown target


@dataclass(frozen=True)
class SetParam:
    """Set ``target`` to ``value`` (in the target's units; 0/1 for a switch)."""

    target: str
    value: float
    mapping: CcMapping


@dataclass(frozen=True)
class SelectPreset:
    """Load the preset ``name`` (program number ``index`` counted with its bank)."""

    name: str
    index: int


@dataclass(frozen=True)
class Learned:
    """MIDI learn bound ``mapping``."""

    mapping: CcMapping


@dataclass(frozen=True)
class Ignored:
    """An event that did nothing, and why (for the log)."""

    reason: str


Action = SetParam | SelectPreset | Learned | Ignored


@dataclass
class MidiMapper:
    """CC maps, the program list, and the little state MIDI needs: learn, 14-bit MSBs, bank select, pick-up.

    Args:
        mappings: the CC maps, usually from the preset.
        programs: preset names; program change ``n`` (plus ``128 × bank``) selects ``programs[n]``.
        program_channel: 1–16, or ``None`` to follow program changes on any channel.
    """

    mappings: list[CcMapping] = field(default_factory=list)
    programs: Sequence[str] = ()
    program_channel: int | None = None
    armed: tuple[str, int] | None = None  # (target, bits) waiting for MIDI learn
    _msb: dict[tuple[int, int], int] = field(default_factory=dict)  # (channel, cc) -> last MSB
    _bank: dict[int, tuple[int, int]] = field(default_factory=dict)  # channel -> (bank MSB, bank LSB)
    _last_set: dict[CcMapping, float] = field(default_factory=dict)  # pick-up: what each mapping last set
    _last_position: dict[CcMapping, float] = field(default_factory=dict)  # pick-up: where each knob was, 0–1

    def handle(self, message: Any, lookup: Lookup) -> list[Action]:
        """The actions one mido message asks for."""
        event = normalize(message)
        if isinstance(event, ProgramChange):
            return [self._program(event)]
        if isinstance(event, ControlChange):
            return self._control(event, lookup)
        return []

    # -- learn and edit ------------------------------------------------------------------------

    def arm(self, target: str, bits: int = 7) -> None:
        """Bind the next CC that arrives to ``target`` (a 14-bit pair when ``bits == 14``)."""
        if bits not in (7, 14):
            raise MidiMapError(f"bits must be 7 or 14, got {bits!r}")
        self.armed = (target, bits)

    def disarm(self) -> None:
        self.armed = None

    def bind(self, mapping: CcMapping) -> None:
        """Add ``mapping``, replacing any map of the same CC on the same channel."""
        self.mappings = [m for m in self.mappings if (m.cc, m.channel) != (mapping.cc, mapping.channel)] + [mapping]

    def clear(self, target: str | None = None) -> int:
        """Remove every map (or only those of ``target``); returns how many went."""
        kept = [m for m in self.mappings if target is not None and m.target != target]
        removed = len(self.mappings) - len(kept)
        self.mappings = kept
        return removed

    # -- events ----------------------------------------------------------------------------------

    def _program(self, event: ProgramChange) -> Action:
        if self.program_channel is not None and event.channel != self.program_channel:
            return Ignored(f"program change on channel {event.channel}; listening on channel {self.program_channel}")
        msb, lsb = self._bank.get(event.channel, (0, 0))
        index = (msb * 128 + lsb) * 128 + event.program
        if index >= len(self.programs):
            return Ignored(f"program {index} has no preset; the program list has {len(self.programs)} (--programs)")
        return SelectPreset(self.programs[index], index)

    def _control(self, event: ControlChange, lookup: Lookup) -> list[Action]:
        if event.control == BANK_MSB:
            self._bank[event.channel] = (event.value, 0)  # a new MSB resets the LSB, as the MIDI spec says
        elif event.control == BANK_LSB:
            self._bank[event.channel] = (self._bank.get(event.channel, (0, 0))[0], event.value)
        if self.armed is not None:
            return [self._learn(event, *self.armed)]
        actions = [self._apply(m, event, lookup) for m in self.mappings if m.listens_to(event)]
        return [a for a in actions if a is not None] or [Ignored(f"CC {event.control} on channel {event.channel} is not mapped")]

    def _learn(self, event: ControlChange, target: str, bits: int) -> Action:
        if bits == 14 and event.control > 31:
            return Ignored(f"learning a 14-bit pair for {target}: waiting for an MSB (CC 0–31), got CC {event.control}")
        mapping = CcMapping(cc=event.control, target=target, channel=event.channel, bits=bits)
        self.bind(mapping)
        self.armed = None
        return Learned(mapping)

    def _raw(self, mapping: CcMapping, event: ControlChange) -> int | None:
        """The mapping's raw value after ``event``: 7-bit as is; 14-bit MSB with LSB 0, then refined by the LSB."""
        if mapping.bits == 7:
            return event.value
        key = (event.channel, mapping.cc)
        if event.control == mapping.cc:
            self._msb[key] = event.value
            return event.value << 7
        msb = self._msb.get(key)
        return None if msb is None else (msb << 7) | event.value

    def _apply(self, mapping: CcMapping, event: ControlChange, lookup: Lookup) -> Action | None:
        raw = self._raw(mapping, event)
        if raw is None:
            return None  # an LSB before any MSB
        try:
            state = lookup(mapping.target)
        except (ValueError, KeyError) as exc:
            return Ignored(f"CC {mapping.cc} → {mapping.target}: {exc}")
        if state.toggle:
            return SetParam(mapping.target, 1.0 if raw > mapping.max_value // 2 else 0.0, mapping)
        span, curve = mapping.range or state.range, mapping.curve or state.scale
        try:
            check_curve(mapping, span, curve)
        except MidiMapError as exc:
            return Ignored(str(exc))
        x = raw / mapping.max_value
        if mapping.takeover == "pickup" and not self._picked_up(mapping, x, value_to_position(state.value, span, curve), state.value):
            return Ignored(f"CC {mapping.cc} → {mapping.target}: waiting for the knob to reach the parameter (pick-up)")
        value = position_to_value(x, span, curve)
        self._last_set[mapping] = value
        return SetParam(mapping.target, value, mapping)

    def _picked_up(self, mapping: CcMapping, x: float, current: float, value_now: float) -> bool:
        """Soft takeover: engaged while the target holds what this knob last set, or once the knob reaches
        or crosses the target's position ``current`` (0–1)."""
        last, previous = self._last_set.get(mapping), self._last_position.get(mapping)
        self._last_position[mapping] = x
        if last is not None and math.isclose(last, value_now, rel_tol=1e-6, abs_tol=1e-9):
            return True
        crossed = previous is not None and (previous - current) * (x - current) <= 0
        return crossed or abs(x - current) <= PICKUP_TOLERANCE


# -- ports (thin) ----------------------------------------------------------------------------


NO_MIDI_HINT = "start without --midi-in to control the server over OSC only"
JACK_BACKEND_HINT = "MIDO_BACKEND=mido.backends.rtmidi/UNIX_JACK"  # mido reads it when imported: the JACK API of python-rtmidi
JACK_POLL_INTERVAL = 0.005  # seconds between reads of an empty RtMidi queue: the latency JackInput adds at most


def open_input(name: str | None, callback: Callable[[Any], None]) -> Any:
    """Open a MIDI input that calls ``callback(mido.Message)`` from the backend's thread (under JACK, one of ours).

    Args:
        name: an existing input (exact name, or a unique part of one); ``None`` makes a
            virtual input named ``plugin-host`` that other programs can connect to.
    Raises:
        MidiPortError: no backend (python-rtmidi), no MIDI system (no ALSA sequencer, no JACK server),
            no such port, or virtual ports unsupported; one line that says how to go on.

    The MIDI system is mido's backend: ALSA by default on Linux; ``MIDO_BACKEND=mido.backends.rtmidi/UNIX_JACK``
    in the environment selects JACK (python-rtmidi's default API stops at ALSA when there is no sequencer).
    """
    try:
        import mido
        import rtmidi  # noqa: F401  (mido's default backend; imported here to name it when missing)
    except ImportError:
        raise MidiPortError(
            f"MIDI input needs python-rtmidi, which is not installed: pip install 'stemsplit[midi]', or {NO_MIDI_HINT}"
        ) from None
    try:
        with _quiet_stderr():  # ALSA and JACK print their own complaints to fd 2; the error below says it in one line
            if mido.backend.name == "mido.backends.rtmidi" and mido.backend.api == "UNIX_JACK":
                return JackInput.open(name, callback)
            if name is None:
                return mido.open_input(VIRTUAL_PORT, virtual=True, callback=callback)
            return mido.open_input(_find_port(mido.get_input_names(), name), callback=callback)
    except MidiPortError:
        raise
    except (OSError, NotImplementedError, ValueError, RuntimeError) as exc:  # rtmidi's errors are OSError subclasses
        raise MidiPortError(_port_problem(name, exc)) from None


class JackInput:
    """A JACK MIDI input whose messages a thread of ours takes from RtMidi's own queue.

    RtMidi runs an input's callback inside JACK's process cycle. mido's callback is Python, so it
    waits there for the GIL, and JACK drops the events of every cycle the client misses meanwhile
    (measured: 4 of 100 CCs arrived while another thread held the GIL). RtMidi fills its queue
    without Python, so reading the queue from here loses nothing while the process is busy.
    """

    def __init__(self, rt: Any, name: str, callback: Callable[[Any], None]) -> None:
        self.name = name
        self._rt, self._callback = rt, callback
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="midi-in", daemon=True)
        self._thread.start()

    @classmethod
    def open(cls, name: str | None, callback: Callable[[Any], None]) -> JackInput:
        """Like :func:`open_input`, through python-rtmidi's JACK API (the JACK client is named ``plugin-host``).

        Raises:
            rtmidi.SystemError: no JACK server (an ``OSError``).
            MidiPortError: no input matches ``name``.
        """
        import rtmidi

        rt = rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name=VIRTUAL_PORT)
        try:
            if name is None:
                rt.open_virtual_port(VIRTUAL_PORT)
                return cls(rt, VIRTUAL_PORT, callback)
            available = rt.get_ports()
            port = _find_port(available, name)
            rt.open_port(available.index(port), VIRTUAL_PORT)
            return cls(rt, port, callback)
        except BaseException:
            rt.delete()
            raise

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._rt.close_port()
        self._rt.delete()

    def _read(self) -> None:
        import mido

        while not self._stop.is_set():
            item = self._rt.get_message()
            if item is None:
                self._stop.wait(JACK_POLL_INTERVAL)
                continue
            try:
                message = mido.Message.from_bytes(item[0])
            except ValueError:
                continue  # not a MIDI message; mido's own input drops these too
            try:
                self._callback(message)
            except Exception:  # this thread must outlive a failing callback
                log.exception("MIDI callback failed on %s", message)


def _find_port(available: list[str], name: str) -> str:
    if name in available:
        return name
    close = [a for a in available if name.lower() in a.lower()]
    if len(close) == 1:
        return close[0]
    listing = ", ".join(repr(a) for a in available) or "none"
    what = "several MIDI inputs match" if close else "no MIDI input named"
    raise MidiPortError(f"{what} {name!r}; available inputs: {listing}; or {NO_MIDI_HINT}")


def _port_problem(name: str | None, exc: BaseException) -> str:
    port = f"MIDI input {name!r}" if name else f"a virtual MIDI input {VIRTUAL_PORT!r}"
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "ALSA" in detail or "sequencer" in detail:
        return (
            f"cannot open {port}: no ALSA sequencer on this machine ({detail}); load the snd-seq kernel module, "
            f"or use JACK (start jackd, set {JACK_BACKEND_HINT}), or {NO_MIDI_HINT}"
        )
    if "JACK server not running" in detail:
        return f"cannot open {port}: no JACK server is running ({detail}); start one (jackd -d dummy will do for MIDI), or {NO_MIDI_HINT}"
    if isinstance(exc, NotImplementedError) or "virtual" in detail.lower():
        return f"cannot open {port}: the MIDI backend has no virtual ports here; name an input with --midi-in NAME, or {NO_MIDI_HINT}"
    return f"cannot open {port}: {detail}; {NO_MIDI_HINT}"


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (C libraries' own messages) for the duration; a no-op where it cannot."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
