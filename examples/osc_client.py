"""Split a song through a running ``plugin-host serve`` and wait for the stems.

    plugin-host serve --root ~/Music                 # terminal 1
    python examples/osc_client.py ~/Music/song.wav   # terminal 2: stems in ~/Music/song_stems/

The server must be able to see the file: it has to lie inside one of the
server's ``--root`` folders (by default the folder the server was started in).
Ctrl-C cancels the job. Exit codes: 0 stems written, 1 the server refused or
the job failed, 2 no answer from the server, 130 cancelled.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pythonosc.osc_message import OscMessage
from pythonosc.udp_client import SimpleUDPClient

POLL_SECONDS = 2.0  # ask /job/status when the server has been quiet this long (a UDP reply may be lost)


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Split a song with a running plugin-host OSC server and wait for /job/done.")
    p.add_argument("song", type=Path, help="audio file inside one of the server's --root folders")
    p.add_argument("--out", type=Path, help="folder for the stems (default: <song>_stems next to the song)")
    p.add_argument("--host", default="127.0.0.1", help="server address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=9000, help="server port (default 9000)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--stems", help="named stems, e.g. vocals,drums (the rest becomes 'other')")
    mode.add_argument("--clusters", type=int, help="blind mode: this many sources")
    p.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds (default 600)")
    return p


class Client:
    """Sends requests and reads replies on one socket (the server answers the port a request came from)."""

    def __init__(self, host: str, port: int) -> None:
        self.osc = SimpleUDPClient(host, port)

    def send(self, address: str, *args: object) -> None:
        self.osc.send_message(address, list(args))

    def next_reply(self, timeout: float) -> OscMessage | None:
        data = self.osc.receive(timeout)
        return OscMessage(data) if data else None

    def wait_for(self, addresses: set[str], timeout: float) -> OscMessage | None:
        """The next reply whose address is in ``addresses`` (or ``/error``), or ``None`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            reply = self.next_reply(left)
            if reply is not None and (reply.address in addresses or reply.address == "/error"):
                return reply
        return None


def submit(client: Client, args: argparse.Namespace) -> int | None:
    """Send ``/split``; the job id, or ``None`` after printing why not."""
    song = args.song.resolve()
    out = (args.out or song.with_name(f"{song.stem}_stems")).resolve()
    extra = [args.stems] if args.stems else [args.clusters] if args.clusters else []
    client.send("/split", str(song), str(out), *extra)
    reply = client.wait_for({"/job/accepted"}, 5.0)
    if reply is None:
        print(f"no answer from {args.host}:{args.port}; is 'plugin-host serve' running there?", file=sys.stderr)
        return None
    if reply.address == "/error":
        print(f"refused: {reply.params[1]}", file=sys.stderr)
        return None
    print(f"job {reply.params[0]}: splitting {song.name} into {out}")
    return int(reply.params[0])


def follow(client: Client, job: int, timeout: float) -> int:
    """Print progress until the job ends; returns the exit code."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = client.next_reply(POLL_SECONDS)
        if reply is None:
            client.send("/job/status", job)
            continue
        params = reply.params
        if not params or params[0] != job:
            continue
        if reply.address == "/job/progress":
            print(f"\r{100 * params[1]:5.1f} %", end="", flush=True)
        elif reply.address == "/job/info" and params[2] in ("done", "error", "cancelled"):
            print(f"\njob ended ({params[2]}) but its final reply was lost; the outputs are in the output folder")
            return 0 if params[2] == "done" else 1
        elif reply.address == "/job/done":
            print("\n" + "\n".join(str(p) for p in params[1:]))
            return 0
        elif reply.address in ("/job/error", "/job/cancelled"):
            print(f"\n{reply.address[5:]}: {params[1] if len(params) > 1 else ''}", file=sys.stderr)
            return 1
    print(f"\ngave up after {timeout:g} s", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    client = Client(args.host, args.port)
    job = submit(client, args)
    if job is None:
        return 1
    try:
        return follow(client, job, args.timeout)
    except KeyboardInterrupt:
        client.send("/job/cancel", job)
        done = client.wait_for({"/job/cancelled"}, 30.0)
        print("\ncancelled; no partial files were left" if done and done.address != "/error" else "\ncancel requested", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
