"""``plugin-host serve``: run the OSC control server until Ctrl-C or SIGTERM.

Errors that stop the server from starting (port in use, a preset that does not
load, no MIDI system) are one line on stderr and exit code 2. A stop request
cancels queued and running jobs (their clients hear ``/job/cancelled``; no
half-written file and no folder made for it is left), then exits: 130 after Ctrl-C
(SIGINT, as every command of ``plugin-host``), 0 after SIGTERM (a service manager's
normal stop); a second Ctrl-C quits at once (exit 130).
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import sys
from typing import NoReturn

from plugin_host.control.console import configure_logging, stop_on_signals
from plugin_host.control.midi import MidiPortError
from plugin_host.control.osc.control import EXPECTED_ERRORS, version
from plugin_host.control.osc.server import DEFAULT_MAX_PACKET
from plugin_host.control.osc.service import VIRTUAL, ServeOptions, Service

log = logging.getLogger("plugin_host.control.osc")

EXIT_OK, EXIT_USAGE, EXIT_INTERRUPTED = 0, 2, 130
START_ERRORS: tuple[type[Exception], ...] = (MidiPortError, *EXPECTED_ERRORS)  # reported in one line, exit 2


def add_serve_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """Register ``serve`` on ``plugin-host``'s subcommands; ``func`` runs it and returns the exit code."""
    p = subparsers.add_parser(
        "serve",
        help="OSC control server (and MIDI control) for DAWs and control surfaces",
        description="Answer OSC over UDP: split files, render with the loaded preset, turn its parameters. See docs/osc.md.",
        epilog="example: plugin-host serve --preset karaoke --root ~/Music --reply-port 9001   (TouchOSC sends to 9000, listens on 9001)",
    )
    net = p.add_argument_group("network")
    net.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    net.add_argument("--port", type=_port, default=9000, help="UDP port to listen on (default 9000)")
    net.add_argument(
        "--reply-port",
        type=_port,
        metavar="N",
        help="send replies to this port on the sender's host (default: the port each request came from)",
    )
    net.add_argument(
        "--allow",
        action="extend",
        nargs="+",
        default=[],
        metavar="IP",
        help="serve only these senders (addresses or networks such as 192.168.1.0/24)",
    )
    net.add_argument("--rate", type=float, default=1000.0, metavar="N", help="messages per second one sender host may send (default 1000)")
    net.add_argument(
        "--max-packet",
        type=int,
        default=DEFAULT_MAX_PACKET,
        metavar="BYTES",
        help=f"largest datagram accepted (default {DEFAULT_MAX_PACKET})",
    )
    files = p.add_argument_group("files and presets")
    files.add_argument("--preset", metavar="NAME|FILE", help="preset to load at start")
    files.add_argument(
        "--root",
        action="extend",
        nargs="+",
        default=[],
        metavar="DIR",
        help="folders messages may read and write (default: the current folder)",
    )
    files.add_argument("--preset-dir", metavar="DIR", help="where /preset/save NAME writes (default: ROOT/presets)")
    files.add_argument("--overwrite", action="store_true", help="let /split and /render replace existing outputs (inputs never)")
    files.add_argument(
        "--allow-vst3", action="store_true", help="let /preset/load load presets that host VST3 plugins and their state files"
    )
    work = p.add_argument_group("jobs")
    work.add_argument("--jobs", type=int, default=1, metavar="N", help="jobs run at once (default 1)")
    work.add_argument("--queue", type=int, default=16, metavar="N", help="jobs that may wait; more are refused (default 16)")
    work.add_argument("--model", metavar="PATH", help="separator checkpoint (default: the shipped model)")
    work.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="where the separator runs (default auto)")
    midi = p.add_argument_group("MIDI")
    midi.add_argument(
        "--midi-in", nargs="?", const=VIRTUAL, metavar="NAME", help="MIDI input to follow; without NAME a virtual input named plugin-host"
    )
    midi.add_argument("--midi-channel", type=int, choices=range(1, 17), metavar="1-16", help="channel for program changes (default: any)")
    midi.add_argument(
        "--programs", action="extend", nargs="+", default=[], metavar="PRESET", help="presets that program changes 0, 1, 2, ... select"
    )
    out = p.add_mutually_exclusive_group()
    out.add_argument("-v", "--verbose", action="store_true", help="log replies, MIDI and transport details too")
    out.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    p.set_defaults(func=serve)
    return p


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a UDP port (0-65535)")
    return port


def options_from(args: argparse.Namespace) -> ServeOptions:
    """The :class:`ServeOptions` of parsed arguments."""
    return ServeOptions(
        host=args.host,
        port=args.port,
        reply_port=args.reply_port,
        preset=args.preset,
        roots=args.root or ServeOptions().roots,
        allow=args.allow,
        midi_in=args.midi_in,
        midi_channel=args.midi_channel,
        programs=[name for item in args.programs for name in item.split(",") if name],
        jobs=args.jobs,
        queue=args.queue,
        rate=args.rate,
        max_packet=args.max_packet,
        overwrite=args.overwrite,
        allow_vst3=args.allow_vst3,
        preset_dir=args.preset_dir,
        model=args.model,
        device=args.device,
    )


def serve(args: argparse.Namespace) -> int:
    """Run the server until a stop signal; returns the exit code."""
    configure_logging(args.verbose, args.quiet)
    stop = stop_on_signals()  # before anything starts, so an early SIGTERM still stops cleanly
    try:
        service = Service(options_from(args)).start()
    except START_ERRORS as exc:
        print(f"plugin-host serve: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return EXIT_USAGE
    _announce(service)
    while not stop.wait(0.5):
        pass
    log.info("stopping: cancelling jobs (press Ctrl-C again to quit at once)")
    try:
        cancelled = service.stop()
    except KeyboardInterrupt:
        _quit_now()
    log.info("stopped%s", f"; {cancelled} job(s) cancelled" if cancelled else "")
    return EXIT_INTERRUPTED if stop.signal == signal.SIGINT else EXIT_OK


def _quit_now() -> NoReturn:
    """A second Ctrl-C: leave without waiting for jobs (skipping interpreter clean-up, which can abort
    while torch runs on another thread). Finished files are complete; an interrupted one stays a hidden
    ``.<name>.part`` file in its output folder."""
    log.warning("quit at once; an interrupted output may remain as a hidden .<name>.part file")
    logging.shutdown()
    os._exit(EXIT_INTERRUPTED)


def _announce(service: Service) -> None:
    o = service.options
    host, port = service.address
    replies = f"port {o.reply_port} on the sender's host" if o.reply_port else "the sender's address and port"
    log.info("plugin-host serve %s: listening on udp %s:%d (replies to %s)", version(), host, port, replies)
    log.info(
        "roots: %s; preset: %s; model: %s",
        service.control.paths.describe_roots(),
        service.control.chain.name if service.control.chain else "(none)",
        service.model.state,
    )
    if service.midi_port is not None:
        log.info("MIDI input: %s", service.midi_port.name)
    if not _loopback(o.host) and not o.allow:
        log.warning("listening on %s without --allow: anyone who can reach this port can control the server", o.host)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
