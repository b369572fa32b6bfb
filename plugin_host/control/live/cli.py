"""``plugin-host live``: split what a JACK client hears into stems, with a stated delay, until Ctrl-C, SIGTERM or jackd goes.

Start-up problems (no JACK server, a bad option, a preset or model that does not load)
are one line on stderr and exit code 2, before the model loads where possible. Ctrl-C or
SIGTERM stop it with one line (exit 0); the JACK server going away stops it with one
line (exit 1); a file played without ``--loop`` stops it once its delayed end is out (exit 0).
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plugin_host.control.console import configure_logging, stop_on_signals
from plugin_host.control.live.plan import DEFAULT_HOP, DEFAULT_LATENCY, DEFAULT_LOOKAHEAD, DEFAULT_WINDOW, LIVE_SETTINGS
from plugin_host.errors import PluginHostError
from separator.errors import SeparatorError

log = logging.getLogger("plugin_host.control.live")

EXIT_OK, EXIT_GONE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
PROG = "plugin-host live"
METER_INTERVAL = 0.1  # seconds between level meters sent as OSC feedback


def add_live_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """Register ``live`` on ``plugin-host``'s subcommands; ``func`` runs it and returns the exit code."""
    p = subparsers.add_parser(
        "live",
        help="a JACK client that splits its input into stems live, with a stated delay (docs/live.md)",
        description="Split live input into stems: ports in_L/R; <stem>_L/R after each stem's gain; mix_L/R. "
        "The delay is printed, answered at /live/latency and reported to JACK on the ports.",
        epilog="example: plugin-host live --connect --osc-port 9100   (then: jack_lsp -l stemsplit; see docs/live.md)",
    )
    jack = p.add_argument_group("JACK")
    jack.add_argument("--name", default="stemsplit", help="JACK client name (default stemsplit)")
    jack.add_argument(
        "--connect",
        action="store_true",
        help="connect system:capture_* to in_L/R and mix_L/R to system:playback_* (default: connect nothing)",
    )
    jack.add_argument("--play", metavar="FILE", help="play FILE into the splitter instead of the inputs")
    jack.add_argument("--loop", action="store_true", help="with --play: loop the file (default: stop after it)")
    timing = p.add_argument_group("timing (seconds)")
    timing.add_argument(
        "--latency", type=float, default=DEFAULT_LATENCY, metavar="S", help=f"delay from input to output (default {DEFAULT_LATENCY:g})"
    )
    timing.add_argument(
        "--window", type=float, default=DEFAULT_WINDOW, metavar="S", help=f"input each split sees (default {DEFAULT_WINDOW:g})"
    )
    timing.add_argument("--hop", type=float, default=DEFAULT_HOP, metavar="S", help=f"time between splits (default {DEFAULT_HOP:g})")
    timing.add_argument(
        "--lookahead", type=float, default=DEFAULT_LOOKAHEAD, metavar="S", help=f"input after the kept part (default {DEFAULT_LOOKAHEAD:g})"
    )
    model = p.add_argument_group("model and effects")
    model.add_argument("--model", metavar="PATH", help="separator checkpoint (default: the shipped model)")
    model.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="where the separator runs (default auto)")
    model.add_argument(
        "--threads",
        type=int,
        default=max(1, (os.cpu_count() or 2) - 1),
        metavar="N",
        help="CPU threads the model uses (default: all cores but one, which JACK's threads keep)",
    )
    model.add_argument(
        "--preset",
        metavar="NAME|FILE",
        help="a preset with a split stage: its stems, each route's effects (run live), gains, mutes, solos and MIDI maps",
    )
    control = p.add_argument_group("control")
    control.add_argument("--osc-port", type=int, metavar="PORT", help="answer OSC on this UDP port (default: no OSC)")
    control.add_argument("--osc-host", default="127.0.0.1", metavar="HOST", help="address to listen on (default 127.0.0.1)")
    control.add_argument("--reply-port", type=int, metavar="N", help="send replies and feedback to this port on the sender's host")
    control.add_argument("--allow", action="extend", nargs="+", default=[], metavar="IP", help="serve only these OSC senders")
    control.add_argument(
        "--midi-in", nargs="?", const="virtual", metavar="NAME", help="MIDI input for the CC maps; without NAME a virtual input"
    )
    out = p.add_mutually_exclusive_group()
    out.add_argument("-v", "--verbose", action="store_true", help="log OSC requests and MIDI too")
    out.add_argument("-q", "--quiet", action="store_true", help="print only the delay line and errors")
    p.set_defaults(func=live)
    return p


@dataclass
class Running:
    """What :func:`live` started, so that one place stops all of it."""

    client: Any = None
    server: Any = None
    midi_port: Any = None

    def stop(self) -> None:
        if self.midi_port is not None:
            self.midi_port.close()
        if self.server is not None:
            self.server.stop()
        if self.client is not None:
            self.client.stop()


def live(args: argparse.Namespace) -> int:
    """Run the live client until a stop; returns the exit code."""
    # torch's OpenMP threads sleep between splits instead of spinning on both cores (set before torch loads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    _configure_logging(args.verbose, args.quiet)
    stop = stop_on_signals()
    running = Running()
    try:
        _start(args, stop, running)
    except (PluginHostError, SeparatorError, OSError) as exc:
        running.stop()
        print(f"{PROG}: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        running.stop()
        print(f"{PROG}: interrupted before it started", file=sys.stderr)
        return EXIT_INTERRUPTED
    client = running.client
    why, code = _wait(client, running, stop)
    running.stop()
    s = client.stats()
    print(
        f"{PROG}: {why}; {s.misses} dry blocks (worker late), {s.xruns} xruns, {s.windows} windows split "
        f"({s.worker_mean:.2f} s each on average, longest {s.worker_max:.2f} s, load {s.load:.0%})",
        file=sys.stderr,
    )
    return code


def _start(args: argparse.Namespace, stop: threading.Event, running: Running) -> None:
    """Open the client, load what it needs and start it, filling ``running`` as pieces start (so a failure stops them)."""
    from plugin_host.control.live.client import LiveClient, open_client

    jack_client = open_client(args.name)  # before anything slow: no server is one line at once
    try:
        setup = _preset(args.preset)
        player = _player(args.play, args.loop, int(jack_client.samplerate))
        from separator import Separator

        _check_threads(args.threads)
        # threads fixed: JACK keeps the rest
        separator = Separator.from_pretrained(args.model, device=args.device, threads=args.threads, **LIVE_SETTINGS)
        names = separator.stem_names(setup.stems)
        effects = {n: e for n, e in ((n, setup.effect(n, int(jack_client.samplerate))) for n in names) if e is not None}
        client = LiveClient(
            jack_client,
            separator,
            names,
            args.window,
            args.hop,
            args.lookahead,
            args.latency,
            effects=effects,
            stems_arg=setup.stems,
            player=player,
        )
    except BaseException:
        jack_client.close()
        raise
    running.client = client
    setup.apply(client.mixer)
    routes = _routes(client, setup)
    running.server = _osc(args, routes)
    running.midi_port = _midi(args.midi_in, routes, running.server)
    gc.freeze()  # what start-up made stays out of the collector's way: shorter pauses on the callback's thread
    if stop.is_set():
        raise KeyboardInterrupt
    client.start(connect=args.connect)
    _announce(args, client, running)


def _wait(client: Any, running: Running, stop: threading.Event) -> tuple[str, int]:
    """Block until something ends the run; returns (what ended it, exit code)."""
    routes = running.server.app.routes if running.server is not None else None
    while not stop.wait(METER_INTERVAL):
        if client.gone.is_set():
            reason = f" ({client.gone_reason})" if client.gone_reason else ""
            return f"the JACK server went away{reason}; stopped", EXIT_GONE
        if client.worker.error is not None:
            return f"the splitting worker failed ({client.worker.error}); stopped", EXIT_GONE
        if client.finished():
            return f"played {client.player.name}; stopped", EXIT_OK
        if routes is not None and routes.metered:
            meters = routes.meters()
            for target in list(routes.metered):
                for message in meters:
                    running.server.send(target, message)
    return "stopped", EXIT_OK


# -- the pieces ---------------------------------------------------------------------------------


@dataclass
class Setup:
    """What a preset brings to a live run (nothing without ``--preset``)."""

    chain: Any = None
    data: dict[str, Any] | None = None

    @property
    def stems(self) -> list[str] | None:
        return self.chain.split_stems() if self.chain is not None else None

    def effect(self, stem: str, sample_rate: int) -> Any:
        """The stem's effects as a block stream, or ``None`` when its route has none."""
        if self.chain is None or stem not in self.chain.stem_names():
            return None
        lane = self.chain.stem_lane(stem)
        if not lane.stages:
            return None
        from plugin_host.control.live.effects import LaneStream

        return LaneStream(lane, sample_rate)

    def apply(self, mixer: Any) -> None:
        """The preset's stem gains (dB, as linear), mutes and solos on the mixer."""
        from plugin_host.control.live.mixer import GAIN_RANGE

        if self.chain is None:
            return
        import numpy as np

        for stem in mixer.names:
            if stem not in self.chain.stem_names():
                continue
            state = self.chain.get_stem(stem)
            mixer.set_gain(stem, float(np.clip(10 ** (state["gain_db"] / 20), *GAIN_RANGE)))
            mixer.set_switch(stem, "mute", state["mute"])
            mixer.set_switch(stem, "solo", state["solo"])


def _preset(name: str | None) -> Setup:
    """The preset's chain and data.

    Raises:
        PresetError: it does not load.
        LiveError: it has no split stage or splits into blind clusters.
    """
    if name is None:
        return Setup()
    from plugin_host.chain import Chain
    from plugin_host.control.live.client import LiveError
    from plugin_host.preset import find_preset, read

    path = find_preset(name)
    data = read(path)
    chain = Chain.from_dict(data, source=path)
    if not chain.has_split:
        raise LiveError(f"preset {chain.name!r} has no split stage; live mode needs one (e.g. --preset stems or vocal-polish)")
    if any(n.startswith("source") for n in chain.stem_names()):
        raise LiveError(f"preset {chain.name!r} splits into blind clusters; live mode needs named stems")
    return Setup(chain, data)


def _player(path: str | None, loop: bool, sample_rate: int) -> Any:
    """A :class:`FilePlayer` of ``path`` at the server's rate (stereo), or ``None``.

    Raises:
        AudioLoadError: the file is not readable audio.
    """
    if path is None:
        if loop:
            log.warning("--loop does nothing without --play FILE")
        return None
    import numpy as np
    from scipy.signal import resample_poly

    from plugin_host.control.live.client import FilePlayer
    from stembase import audio as audio_io

    audio, rate = audio_io.load(path)
    if rate != sample_rate:
        g = np.gcd(rate, sample_rate)
        audio = resample_poly(audio, sample_rate // g, rate // g, axis=-1).astype(np.float32)
    if audio.shape[0] == 1:
        audio = np.repeat(audio, 2, axis=0)
    elif audio.shape[0] > 2:
        log.warning("%s has %d channels; playing the first two", path, audio.shape[0])
        audio = audio[:2]
    return FilePlayer(audio, loop, name=Path(path).name)


def _routes(client: Any, setup: Setup) -> Any:
    from plugin_host.control.live.routes import LiveRoutes
    from plugin_host.control.midi import MidiMapper
    from plugin_host.midi_map import mappings_from_preset

    routes = LiveRoutes(client)
    if setup.data is not None:
        mappings = mappings_from_preset(setup.data)
        routes.check_mappings(mappings)
        routes.midi = MidiMapper(mappings=mappings)
    return routes


def _osc(args: argparse.Namespace, routes: Any) -> Any:
    """The OSC server on ``--osc-port`` (the server's transport, security and reply rules), or ``None``.

    Raises:
        OSError: the port cannot be bound.
    """
    if args.osc_port is None:
        return None
    from plugin_host.control.osc.app import OscApp
    from plugin_host.control.osc.server import OscServer

    app = OscApp(routes.dispatcher, routes.lock, routes.clients)
    app.routes = routes  # type: ignore[attr-defined]
    return OscServer(app, args.osc_host, args.osc_port, args.reply_port, args.allow).start()


def _midi(name: str | None, routes: Any, server: Any) -> Any:
    """The MIDI input (``--midi-in``) feeding the CC maps, or ``None``.

    Raises:
        MidiPortError: it cannot be opened (one line that says how to go on without MIDI).
    """
    if name is None:
        return None
    from plugin_host.control.midi import MidiPortError, open_input

    def on_midi(message: Any) -> None:
        try:
            feedback = routes.on_midi(message)
            if server is not None:
                server.deliver(feedback, None)
        except Exception:  # the MIDI thread must survive a bad message
            log.exception("error while handling MIDI %s", message)

    try:
        return open_input(None if name == "virtual" else name, on_midi)
    except MidiPortError as exc:
        from plugin_host.control.live.client import LiveError

        raise LiveError(str(exc)) from None


def _announce(args: argparse.Namespace, client: Any, running: Running) -> None:
    plan = client.plan
    print(f"{PROG}: {args.name}: {plan.describe()}", flush=True)
    if args.quiet:
        return
    print(f"{PROG}: ports in_L/R, {', '.join(f'{n}_L/R' for n in client.names)}, mix_L/R", flush=True)
    if running.server is not None:
        host, port = running.server.address
        print(f"{PROG}: OSC on udp {host}:{port} (/live/<stem>/gain f, /live/latency, /help)", flush=True)
    if running.midi_port is not None:
        print(f"{PROG}: MIDI input {getattr(running.midi_port, 'name', '')}", flush=True)


def _check_threads(threads: int) -> None:
    """``--threads`` must leave the model at least one CPU thread (the rest stay with JACK)."""
    if threads < 1:
        from plugin_host.control.live.client import LiveError

        raise LiveError(f"Value received for parameter 'threads' ({threads}) must be at least 1")


def _configure_logging(verbose: bool, quiet: bool) -> None:
    configure_logging(verbose, quiet=True)  # warnings only unless verbose: the running client stays quiet
    sys.setswitchinterval(0.001)  # the JACK callback waits at most this long for the GIL while the worker runs Python
