"""Start-up time of each command line: from launching the process to its exit (``--help``, presets),
and for ``plugin-host serve`` to its first ``/pong``. Each is a fresh interpreter, like a user's shell.

    python benchmarks/bench_startup.py                  # best of 5 runs each
    python benchmarks/bench_startup.py --repeats 1      # a quick check that it runs

Issue 10: commands that do not separate never import torch (it alone takes seconds); the OSC server
answers before its model has loaded. Run it on an idle machine: other work on the cores shows here.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from pathlib import Path

from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

ROOT = Path(__file__).resolve().parent.parent

COMMANDS = {
    "plugin-host --help": ("stemsplit.plugin_host_cli", ["--help"]),
    "plugin-host presets list": ("stemsplit.plugin_host_cli", ["presets", "list"]),
    "plugin-host presets show karaoke": ("stemsplit.plugin_host_cli", ["presets", "show", "karaoke"]),
    "plugin-host presets validate drum-bus.yaml": (
        "stemsplit.plugin_host_cli",
        ["presets", "validate", str(ROOT / "presets" / "drum-bus.yaml")],
    ),
    "separator --help": ("stemsplit.separator_cli", ["--help"]),
    "separator split --help": ("stemsplit.separator_cli", ["split", "--help"]),
}


def command_seconds(module: str, argv: list[str]) -> float:
    """Seconds from launch to exit of ``python -c 'from MODULE import run; run()' ARGV``."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"from {module} import run; run()", *argv], check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - started


def first_pong_seconds(timeout: float = 60.0) -> float:
    """Seconds from launching ``plugin-host serve`` to its first ``/pong`` (the model still loading)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        ping = OscMessageBuilder("/ping").build().dgram
        started = time.perf_counter()
        server = subprocess.Popen(
            [sys.executable, "-c", "from stemsplit.plugin_host_cli import run; run()", "serve", "--port", str(port)],
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )
        try:
            sock.settimeout(0.02)
            while time.perf_counter() - started < timeout:
                sock.sendto(ping, ("127.0.0.1", port))
                try:
                    if OscMessage(sock.recv(65536)).address == "/pong":
                        return time.perf_counter() - started
                except (TimeoutError, ConnectionRefusedError):
                    continue
            raise RuntimeError(f"no /pong within {timeout} s")
        finally:
            server.terminate()
            server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each command; the best is shown")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, best of {args.repeats}")
    print(f"{'command':<45} {'seconds':>8}")
    for name, (module, argv) in COMMANDS.items():
        best = min(command_seconds(module, argv) for _ in range(args.repeats))
        print(f"{name:<45} {best:8.2f}")
    best = min(first_pong_seconds() for _ in range(args.repeats))
    print(f"{'plugin-host serve (first /pong)':<45} {best:8.2f}")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True, cwd=ROOT)
    label = "(for scale: python -c 'import torch')"
    print(f"{label:<45} {time.perf_counter() - started:8.2f}")


if __name__ == "__main__":
    main()
