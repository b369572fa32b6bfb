"""``plugin-host daw split``: what a DAW script runs to split a file, or a range of it, and read the result.

Ardour's Lua can send OSC but not receive it, and REAPER's Lua has no sockets, so a script runs this
command and reads its standard output, one line per event, each flushed as it happens::

    progress 0.42            the fraction done, 0..1 (repeated as the work goes on)
    done /music/s/vocals.wav one line per stem, in stem order, once every stem is written
    ok                       the last line when the split worked (exit code 0)
    error <message>          instead, one line on any failure (exit code 1; 130 when interrupted)

It asks the OSC server first: ``/ping`` to ``--server`` (default 127.0.0.1:9000) answered within
half a second means a server is there, and ``/split`` goes to it on the same UDP socket (the server's
default reply mode answers the port a request came from; for a server started with ``--reply-port N``
pass the same ``--reply-port N``). Without an answer, or with ``--no-server``, it separates here through
:class:`separator.Separator` (the shipped model). A server that refuses the request (a path outside its
``--root`` folders, stems that exist) is an error, never a reason to split locally instead.

Ardour keeps each channel of a region in a mono file of its own: ``--channel-file`` names the further
channels of INPUT, and the range of every channel is joined into one hidden temporary file in OUTDIR
(where a server can read it) that is split whole and removed afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

DEFAULT_SERVER = "127.0.0.1:9000"
PING_SECONDS = 0.5  # how long a server has to answer /ping before the split runs here
ACCEPT_SECONDS = 5.0
POLL_SECONDS = 2.0  # ask /job/status when the server has been quiet this long (a UDP reply may be lost)
EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


class ClientError(Exception):
    """The split failed; ``str()`` is the one line printed after ``error``."""


class JobEnded(ClientError):
    """The server's job ended without stems to report: it failed, was cancelled, or its final reply was lost."""


def add_split_parser(actions: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """Register ``split`` on ``plugin-host daw``'s actions; ``func`` runs it and returns the exit code."""
    p = actions.add_parser(
        "split",
        help="split a file (or a range of it) for a DAW script: through the OSC server if one answers, else here",
        description="Split INPUT into OUTDIR/<stem>.wav and print machine-readable lines: 'progress F', then "
        "'done PATH' per stem and 'ok'; or one 'error MESSAGE' line and exit code 1.",
        epilog="example: plugin-host daw split ~/Music/song.wav ~/Music/song-stems --stems vocals --start 12.5 --length 30",
    )
    p.add_argument("input", metavar="INPUT", help="the audio file")
    p.add_argument("out_dir", metavar="OUTDIR", help="folder for the stems (inside the server's --root folders when a server runs)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--stems", metavar="LIST", help="comma-separated stem names such as vocals,drums (the rest goes to other)")
    mode.add_argument("--clusters", type=int, metavar="K", help="blind mode: K sources source1..sourceK")
    p.add_argument(
        "--channel-file",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="another channel of INPUT, a file of the same rate (repeatable; Ardour keeps one file per channel)",
    )
    p.add_argument("--start", type=float, default=0.0, metavar="S", help="split only from S seconds on (default 0)")
    p.add_argument("--length", type=float, metavar="L", help="split only L seconds; the stems are exactly this long (default: to the end)")
    p.add_argument("--server", default=DEFAULT_SERVER, metavar="HOST:PORT", help=f"the OSC server to ask first (default {DEFAULT_SERVER})")
    p.add_argument("--no-server", action="store_true", help="do not ask a server; split here")
    p.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SEC",
        help="give up when the server has answered nothing for SEC seconds (default 30)",
    )
    p.add_argument("--reply-port", type=int, metavar="N", help="listen on port N, for a server started with --reply-port N")
    p.add_argument("--overwrite", action="store_true", help="replace existing stems when splitting here (a server: its own --overwrite)")
    p.set_defaults(func=run_split)
    return p


# -- output lines ------------------------------------------------------------------------------


class Lines:
    """The command's standard output: one flushed line per event; progress only when its shown value changes."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.shown = ""

    def emit(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def progress(self, fraction: float) -> None:
        text = f"{min(1.0, max(0.0, float(fraction))):.2f}"
        if text != self.shown:
            self.shown = text
            self.emit(f"progress {text}")

    def done(self, paths: list[str]) -> None:
        self.progress(1.0)
        for path in paths:
            self.emit(f"done {path}")
        self.emit("ok")

    def error(self, message: str) -> None:
        self.emit("error " + " ".join(message.split()))  # one line, whatever the message held


# -- the command -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One split: the paths made absolute (the server runs in another folder), the mode and the range in seconds."""

    input: Path
    out_dir: Path
    stems: str | None = None
    clusters: int | None = None
    start: float = 0.0
    length: float | None = None
    overwrite: bool = False
    channels: tuple[Path, ...] = ()  # further channels of ``input``, one file each

    @property
    def ranged(self) -> bool:
        return self.start != 0.0 or self.length is not None


def run_split(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``plugin-host daw split``: the exit code; every outcome is on ``out`` (standard output) as described above."""
    lines = Lines(out)
    source, folder = Path(args.input).absolute(), Path(args.out_dir).absolute()
    channels = tuple(c.absolute() for c in args.channel_file)
    request = Request(source, folder, args.stems, args.clusters, args.start, args.length, args.overwrite, channels)
    lines.progress(0.0)  # at once: the script knows the command runs (a model may take seconds to load)
    try:
        server = None if args.no_server else ServerClient.connect(_address(args.server), args.reply_port)
        with warnings.catch_warnings(), joined(request) as job:  # stdout and stderr may be read as one stream
            warnings.simplefilter("ignore")
            paths = server.split(job, lines, args.timeout) if server is not None else split_here(job, lines)
    except KeyboardInterrupt:
        lines.error("interrupted; no partial stems were left behind")
        return EXIT_INTERRUPTED
    except ClientError as exc:
        lines.error(str(exc))
        return EXIT_FAILED
    except Exception as exc:  # the script reading these lines must always get one
        lines.error(_one_line(exc))
        return EXIT_FAILED
    lines.done(paths)
    return EXIT_OK


@contextlib.contextmanager
def joined(request: Request) -> Iterator[Request]:
    """The request as it is, or, with channel files, a request for the whole of one hidden file in ``out_dir``
    that holds the range of every channel side by side (removed afterwards, with ``out_dir`` if this made it).

    Raises:
        ClientError: a range outside INPUT, or channels that cannot be joined.
    """
    if not request.channels:
        yield request
        return
    from separator import SeparatorError
    from stembase import audio as audio_io

    made = not request.out_dir.exists()
    mixed = request.out_dir / f".{request.input.stem}.channels.part.wav"  # hidden and temporary: never taken as an input
    try:
        try:
            first, n = audio_io.frame_range(audio_io.info(request.input), request.start, request.length)
            audio_io.join_channels([request.input, *request.channels], mixed, first, n)
        except SeparatorError as exc:
            raise ClientError(_one_line(exc)) from exc
        yield replace(request, input=mixed, start=0.0, length=None, channels=())
    finally:
        mixed.unlink(missing_ok=True)
        if made and request.out_dir.is_dir() and not any(request.out_dir.iterdir()):
            request.out_dir.rmdir()


def split_here(request: Request, lines: Lines) -> list[str]:
    """Separate in this process with the shipped model; the stem paths.

    Raises:
        ClientError: bad arguments, a range outside the file, stems that exist (without ``--overwrite``),
            an unreadable input or an unwritable output.
    """
    from separator import Separator, SeparatorError  # torch: only when the split runs here
    from stembase import audio as audio_io
    from stembase.outputs import output_conflict
    from stembase.stem_outputs import stem_paths

    try:
        audio_io.frame_range(audio_io.info(request.input), request.start, request.length)  # before the model loads
        separator = Separator.from_pretrained()
        names = separator.stem_names(request.stems, request.clusters)
        remedy = "choose another output folder, or pass --overwrite to replace it"
        problem = output_conflict(stem_paths(request.out_dir, names), [request.input], overwrite=request.overwrite, remedy=remedy)
        if problem:
            raise ClientError(problem)
        written = separator.separate_file(
            request.input,
            request.out_dir,
            request.stems,
            request.clusters,
            progress=lines.progress,
            start=request.start,
            length=request.length,
        )
    except SeparatorError as exc:
        raise ClientError(_one_line(exc)) from exc
    return [str(p) for p in written]


# -- talking to the server ---------------------------------------------------------------------

Address = tuple[str, int]


class ServerClient:
    """A UDP socket that sends requests to one server and reads its replies (they come back to this socket's port)."""

    def __init__(self, server: Address, reply_port: int | None = None) -> None:
        self.server = server
        family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self.sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", reply_port or 0))
        except OSError as exc:
            self.sock.close()
            raise ClientError(f"--reply-port {reply_port}: cannot listen there ({exc.strerror or exc})") from exc

    @classmethod
    def connect(cls, server: Address, reply_port: int | None = None) -> ServerClient | None:
        """A client of the server at ``server`` if it answers ``/ping`` within half a second, else ``None``."""
        client = cls(server, reply_port)
        token = os.getpid()  # our own /pong, not a late one meant for another client on this port
        client.send("/ping", token)
        if client.wait(lambda a, args: a == "/pong" and tuple(args) == (token,), PING_SECONDS) is None:
            client.close()
            return None
        return client

    def close(self) -> None:
        self.sock.close()

    def send(self, address: str, *args: Any) -> None:
        from pythonosc.osc_message_builder import OscMessageBuilder

        builder = OscMessageBuilder(address=address)
        for value in args:
            builder.add_arg(value, "d" if isinstance(value, float) else None)  # doubles: a range stays sample-exact
        try:
            self.sock.sendto(builder.build().dgram, self.server)
        except OSError as exc:
            raise ClientError(f"cannot send to the server at {_show(self.server)}: {exc.strerror or exc}") from exc

    def replies(self, timeout: float) -> Iterator[tuple[str, list[Any]]]:
        """``(address, arguments)`` of each reply that comes within ``timeout`` seconds."""
        from pythonosc.osc_message import OscMessage

        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return
            except ConnectionRefusedError:  # nothing listens there (an ICMP answer to an earlier datagram)
                return
            try:
                message = OscMessage(data)
            except Exception:  # not a message of ours (python-osc raises several types)
                continue
            yield message.address, list(message.params)

    def wait(self, match: Callable[[str, list[Any]], bool], timeout: float) -> tuple[str, list[Any]] | None:
        """The first reply that matches within ``timeout`` seconds, or ``None``."""
        return next(((a, args) for a, args in self.replies(timeout) if match(a, args)), None)

    def split(self, request: Request, lines: Lines, timeout: float) -> list[str]:
        """Submit ``/split`` and relay its job until it ends; the stem paths the server wrote.

        Raises:
            ClientError: the server refused the request, the job failed or was cancelled, or the server
                went quiet for ``timeout`` seconds (the job is then cancelled).
        """
        try:
            self.send("/split", *self._arguments(request))
            reply = self.wait(lambda a, args: a == "/job/accepted" or (a == "/error" and args[:1] == ["/split"]), ACCEPT_SECONDS)
            if reply is None:
                raise ClientError(f"the server at {_show(self.server)} answered /ping but not /split within {ACCEPT_SECONDS:g} s")
            if reply[0] == "/error":
                raise ClientError(str(reply[1][1]))
            job = int(reply[1][0])
            try:
                return self._follow(job, lines, timeout)
            except (KeyboardInterrupt, ClientError) as exc:
                if not isinstance(exc, JobEnded):
                    self.send("/job/cancel", job)  # no stems are left behind by a cancelled job
                raise
        finally:
            self.close()

    def _arguments(self, request: Request) -> list[Any]:
        """``s:input s:output_dir [s:stems|i:clusters] [f:start f:length]``: a range needs the mode slot (``""``: default stems)."""
        args: list[Any] = [str(request.input), str(request.out_dir)]
        mode: list[Any] = [request.stems] if request.stems else [request.clusters] if request.clusters is not None else []
        if not request.ranged:
            return args + mode
        length = request.length
        if length is None:  # OSC takes both or neither: the rest of the file, read from its header here
            from separator import SeparatorError
            from stembase import audio as audio_io

            try:
                meta = audio_io.info(request.input)
                n = audio_io.frame_range(meta, request.start, None)[1]
            except SeparatorError as exc:
                raise ClientError(_one_line(exc)) from exc
            length = n / meta.sample_rate
        return [*args, *(mode or [""]), float(request.start), float(length)]

    def _follow(self, job: int, lines: Lines, timeout: float) -> list[str]:
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < timeout:
            heard = False
            for address, args in self.replies(POLL_SECONDS):
                if not args or args[0] != job:
                    continue
                heard, quiet_since = True, time.monotonic()
                if address == "/job/progress":
                    lines.progress(float(args[1]))
                elif address == "/job/done":
                    return [a for a in args[1:] if isinstance(a, str)]  # then f:start f:length for a range
                elif address in ("/job/error", "/job/cancelled"):
                    raise JobEnded(str(args[1]) if len(args) > 1 else f"the server cancelled job {job}")
                elif address == "/job/info" and args[2] in ("error", "cancelled"):
                    raise JobEnded(f"job {job} ended ({args[2]}); its final reply was lost")
                elif address == "/job/info" and args[2] == "done":
                    raise JobEnded(f"job {job} is done but its reply was lost; the stems are in the output folder")
            if not heard:
                self.send("/job/status", job)
        raise ClientError(f"the server at {_show(self.server)} sent nothing for {timeout:g} s; the job was cancelled")


def _address(text: str) -> Address:
    """``HOST:PORT`` (``[::1]:9000`` for IPv6) as an address.

    Raises:
        ClientError: not HOST:PORT.
    """
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ClientError(f"--server {text!r}: use HOST:PORT, such as {DEFAULT_SERVER}")
    return host, int(port)


def _show(address: Address) -> str:
    return f"{address[0]}:{address[1]}"


def _one_line(exc: BaseException) -> str:
    from separator import SeparatorError

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text if isinstance(exc, (SeparatorError, ClientError)) and text else f"{type(exc).__name__}: {text}".rstrip(": ")
