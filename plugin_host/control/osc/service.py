"""One running server: the model, the jobs, the state, the routes, the UDP transport and the MIDI input, wired together.

>>> service = Service(ServeOptions(port=0, preset="karaoke")).start()
>>> host, port = service.address
>>> service.stop()          # cancels running jobs (no half-written files), then closes the socket
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugin_host.control.midi import MidiMapper, open_input
from plugin_host.control.osc.app import Clients, OscApp
from plugin_host.control.osc.control import EXPECTED_ERRORS, Control
from plugin_host.control.osc.jobs import Job, JobManager
from plugin_host.control.osc.messages import Message
from plugin_host.control.osc.midi_bridge import apply_midi
from plugin_host.control.osc.model import ModelProvider
from plugin_host.control.osc.routes import Routes
from plugin_host.control.osc.security import PathPolicy
from plugin_host.control.osc.server import DEFAULT_MAX_PACKET, Address, OscServer

if TYPE_CHECKING:
    from separator import Separator

log = logging.getLogger("plugin_host.control.osc")

VIRTUAL = "virtual"  # --midi-in without a name: a virtual input named plugin-host


@dataclass
class ServeOptions:
    """Everything ``plugin-host serve`` can be told (see :mod:`plugin_host.control.osc.cli` for the meaning of each)."""

    host: str = "127.0.0.1"
    port: int = 9000
    reply_port: int | None = None
    preset: str | None = None
    roots: list[str] = field(default_factory=lambda: [os.getcwd()])
    allow: list[str] = field(default_factory=list)
    midi_in: str | None = None  # None: no MIDI; VIRTUAL: a virtual port; else a port name
    midi_channel: int | None = None
    programs: list[str] = field(default_factory=list)
    jobs: int = 1
    queue: int = 16
    rate: float = 1000.0
    max_packet: int = DEFAULT_MAX_PACKET
    overwrite: bool = False
    allow_vst3: bool = False
    preset_dir: str | None = None
    model: str | None = None
    device: str = "auto"


class Service:
    """Builds and runs one server; the socket is bound in the constructor, so :attr:`address` is known at once.

    Args:
        options: what to serve and how.
        separator: an already loaded model (tests share one); by default the model loads in the background.
    Raises:
        OSError: the address cannot be bound.
        ValueError: a bad root, network or option.
    """

    def __init__(self, options: ServeOptions, separator: Separator | None = None) -> None:
        self.options = options
        self.model = (
            ModelProvider(separator=separator) if separator is not None else ModelProvider.pretrained(options.model, options.device)
        )
        paths = PathPolicy(options.roots, options.overwrite)  # before any thread starts: a bad root fails cleanly
        self.jobs = JobManager(self._notify, workers=options.jobs, max_queued=options.queue, expected_errors=EXPECTED_ERRORS)
        try:
            self.control = Control(paths, self.model, self.jobs, _path(options.preset_dir), options.allow_vst3)
            self.control.midi = MidiMapper(programs=list(options.programs), program_channel=options.midi_channel)
            self.clients = Clients()
            self.routes = Routes(self.control, self.clients, self._stats)
            self.app = OscApp(self.routes.dispatcher, self.control.lock, self.clients)
            o = options
            self.server = OscServer(self.app, o.host, o.port, o.reply_port, o.allow, o.rate, o.max_packet)
        except BaseException:
            self.jobs.shutdown()  # no worker thread outlives a server that could not be built
            raise
        self.midi_port: Any = None

    @property
    def address(self) -> Address:
        return self.server.address

    def start(self) -> Service:
        """Load the start-up preset, open MIDI, start the model loading and the transport.

        Raises:
            PresetError: the ``--preset`` does not load.
            MidiPortError: ``--midi-in`` cannot be opened (the message says how to go on without MIDI).
        """
        try:
            if self.options.preset:
                self.control.load_preset(self.options.preset, trusted=True)
            if self.options.midi_in is not None:
                self.midi_port = open_input(None if self.options.midi_in == VIRTUAL else self.options.midi_in, self._on_midi)
        except BaseException:
            self.stop()
            raise
        self.model.start()
        self.server.start()
        return self

    def stop(self, timeout: float = 60.0) -> int:
        """Cancel queued and running jobs (their clients hear ``/job/cancelled``), close MIDI and the socket.

        Returns:
            how many jobs were cancelled.
        """
        cancelled = self.jobs.shutdown(timeout)
        if self.midi_port is not None:
            self.midi_port.close()
            self.midi_port = None
        self.server.stop()
        self.model.settle()
        return cancelled

    def _stats(self) -> tuple[int, ...]:
        return self.server.stats.as_tuple()

    def _notify(self, job: Job, message: Message) -> None:
        # under the lock the transport holds while it answers a datagram: the request that queued this job
        # has had its /job/accepted sent before the job's worker can send anything
        with self.control.lock:
            self.server.send(job.reply_to, message)

    def _on_midi(self, message: Any) -> None:
        """Called on the MIDI backend's thread for every incoming message."""
        try:
            self.server.deliver(apply_midi(self.routes, message), None)
        except Exception:  # the MIDI thread must survive any bug
            log.exception("error while handling MIDI %s", message)


def _path(text: str | None) -> Path | None:
    return Path(text) if text else None
