"""``plugin-host serve`` as a user runs it: a real process, start-up time, clean stops, one-line start-up errors."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from osc_support import OscClient, write_mixture

from plugin_host.control.osc.cli import add_serve_parser, options_from

SERVE = [sys.executable, "-c", "from stemsplit.plugin_host_cli import run; run()", "serve"]
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "osc_client.py"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A ``plugin-host serve`` process; stopped (and waited for) by the fixture whatever the test did."""

    def __init__(self, root: Path, *options: str) -> None:
        self.port = free_port()
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [*SERVE, "--port", str(self.port), "--root", str(root), *options], stderr=subprocess.PIPE, text=True, cwd=root
        )

    def wait_until_answering(self, client: OscClient, timeout: float = 10.0) -> float:
        """Seconds from launch to the first ``/pong``."""
        while time.monotonic() - self.started < timeout:
            client.send("/ping")
            if (reply := client.receive(0.05)) is not None and reply.address == "/pong":
                answered = time.monotonic() - self.started
                client.replies(quiet=0.3)  # the pongs of earlier pings that were slower than 50 ms (torch loading meanwhile)
                return answered
            assert self.process.poll() is None, self.process.communicate()[1]
        raise AssertionError(f"no /pong within {timeout} s")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> tuple[int, str]:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            _, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        return self.process.returncode, err


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop(signal.SIGKILL, timeout=5)


def test_serve_answers_within_3_seconds_and_stops_cleanly_on_sigterm(tmp_path: Path, servers: list[Server]) -> None:
    server = Server(tmp_path, "--preset", "karaoke")
    servers.append(server)
    client = OscClient(("127.0.0.1", server.port))
    try:
        seconds = server.wait_until_answering(client)
        assert seconds < 3.0, f"first /pong after {seconds:.2f} s"
        assert client.request("/status")[0].args[1] == "karaoke"
    finally:
        client.close()
    code, log = server.stop()
    assert code == 0, log
    assert "listening on udp 127.0.0.1" in log and "/status -> /status" in log and log.rstrip().endswith("stopped")


def test_ctrl_c_during_a_split_cancels_it_and_leaves_no_files(tmp_path: Path, servers: list[Server]) -> None:
    write_mixture(tmp_path / "long.wav", repeats=20)  # 60 s: still running when the signal comes
    server = Server(tmp_path)
    servers.append(server)
    client = OscClient(("127.0.0.1", server.port))
    try:
        server.wait_until_answering(client)
        client.send("/split", "long.wav", "stems")
        (job,) = client.wait_for("/job/accepted").args
        client.wait_for("/job/progress")
        server.process.send_signal(signal.SIGINT)
        assert client.wait_for(lambda m: m.address in ("/job/cancelled", "/job/done"), timeout=30).address == "/job/cancelled"
    finally:
        client.close()
    code, log = server.stop()
    assert code == 130 and "1 job(s) cancelled" in log, log
    assert not (tmp_path / "stems").exists(), "no half-written file, and no folder made for the cancelled job"
    assert job == 1


def test_ctrl_c_during_start_up_exits_130_without_naming_options_serve_lacks(tmp_path: Path, servers: list[Server]) -> None:
    server = Server(tmp_path)
    servers.append(server)
    time.sleep(0.3)  # importing, or listening while the model still loads, depending on the machine's speed
    code, log = server.stop(signal.SIGINT)
    assert code == 130, log
    assert "--skip-existing" not in log and "Traceback" not in log, log
    assert "plugin-host: interrupted" in log or ("model: loading" in log and log.rstrip().endswith("stopped")), log


def test_the_example_client_splits_a_song_through_a_running_server(tmp_path: Path, servers: list[Server]) -> None:
    write_mixture(tmp_path / "song.wav")
    server = Server(tmp_path)
    servers.append(server)
    client = OscClient(("127.0.0.1", server.port))
    try:
        server.wait_until_answering(client)
    finally:
        client.close()
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "song.wav", "--port", str(server.port), "--timeout", "60"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    stems = sorted(p.name for p in (tmp_path / "song_stems").iterdir())
    assert stems == ["bass.wav", "drums.wav", "guitar.wav", "other.wav", "vocals.wav"]
    assert all(str(tmp_path / "song_stems" / s) in result.stdout for s in stems)
    refused = subprocess.run(
        [sys.executable, str(EXAMPLE), "/etc/hostname", "--port", str(server.port)], capture_output=True, text=True, timeout=30, check=False
    )
    assert refused.returncode == 1 and "refused: /etc/hostname: outside the allowed roots" in refused.stderr


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--preset", "no-such-preset"], 'Preset named "no-such-preset" not found'),
        (["--root", "/no/such/folder"], "root is not a directory: /no/such/folder"),
        (["--allow", "kitchen"], "--allow 'kitchen': not an IP address or network"),
        (["--host", "no-such-host.invalid"], "cannot listen on no-such-host.invalid"),
    ],
)
def test_a_server_that_cannot_start_says_why_in_one_line(tmp_path: Path, options: list[str], message: str) -> None:
    result = subprocess.run(
        [*SERVE, "--port", str(free_port()), *options], capture_output=True, text=True, cwd=tmp_path, timeout=30, check=False
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("plugin-host serve: error: ") and message in lines[0], (
        result.stderr
    )


def test_midi_in_without_a_midi_system_fails_in_one_line_that_says_how_to_go_on(tmp_path: Path) -> None:
    result = subprocess.run(
        [*SERVE, "--port", str(free_port()), "--midi-in"], capture_output=True, text=True, cwd=tmp_path, timeout=30, check=False
    )
    if result.returncode != 2:
        pytest.skip("this machine has a working MIDI system")
    ours = [line for line in result.stderr.splitlines() if line.startswith("plugin-host serve: error: ")]
    assert len(ours) == 1 and "start without --midi-in to control the server over OSC only" in ours[0]
    assert "python-rtmidi" in ours[0] or "ALSA sequencer" in ours[0]
    assert "Traceback" not in result.stderr


def test_an_occupied_port_is_reported(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        result = subprocess.run([*SERVE, "--port", str(port)], capture_output=True, text=True, cwd=tmp_path, timeout=30, check=False)
    assert result.returncode == 2 and f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr


def test_options_parse_into_serve_options() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_serve_parser(parser.add_subparsers())
    args = parser.parse_args(
        ["serve", "--root", "a", "b", "--root", "c", "--allow", "10.0.0.0/8", "--programs", "x,y", "z", "--midi-in", "--reply-port", "9001"]
    )
    options = options_from(args)
    assert options.roots == ["a", "b", "c"] and options.allow == ["10.0.0.0/8"] and options.programs == ["x", "y", "z"]
    assert options.midi_in == "virtual" and options.reply_port == 9001 and options.host == "127.0.0.1" and options.port == 9000
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--port", "70000"])
