"""MIDI through real ports: another program's port sends, ``plugin-host serve --midi-in`` follows.

The transport is a real MIDI system: JACK (a ``jackd`` with its dummy driver, started and stopped
here, under a server name of its own) through python-rtmidi's JACK API, selected as users select it,
with ``MIDO_BACKEND``; and the ALSA sequencer where the kernel has one (``/dev/snd/seq``).
"""

from __future__ import annotations

import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mido
import pytest
from conftest import missing
from osc_support import GAIN_PRESET, OscClient, write_presets

from plugin_host.control.midi import MidiPortError, ProgramChange, normalize, open_input
from plugin_host.midi_map import ControlChange

SERVE = [sys.executable, "-c", "from stemsplit.plugin_host_cli import run; run()", "serve"]
JACK_START_TIMEOUT = 10.0  # seconds for jackd to accept clients
SERVE_TIMEOUT = 60.0  # seconds for the server to answer /ping with its MIDI input open (torch loads meanwhile)
MESSAGE_TIMEOUT = 5.0  # seconds for one MIDI message to travel and its feedback to come back

# osc_support's gain and high-pass preset, under MIDI control
KNOBS_PRESET = (
    GAIN_PRESET.replace(
        "name: trim-hp\ndescription: A gain and a high-pass filter.",
        "name: knobs\ndescription: A gain and a high-pass filter under MIDI control.",
    )
    + """\
midi:
  cc:
    - {cc: 74, channel: 1, target: hp.cutoff_frequency_hz, range: [100, 1000], curve: log}
    - {cc: 7, target: trim.gain_db, range: [-12, 12]}
"""
)


SENDER = """\
import sys, threading, time, mido
port = mido.open_output("stemsplit-test-sender", virtual=True)
print("ready", flush=True)
sys.stdin.readline()
until_told = threading.Thread(target=sys.stdin.readline)
until_told.start()
while until_told.is_alive():  # notes until the test has heard one: the connection is up
    port.send(mido.Message("note_on", note=60))
    time.sleep(0.02)
for value in range(40):
    port.send(mido.Message("control_change", control=7, value=value))
    time.sleep(0.01)
sys.stdin.readline()  # open until the test has them all: closing the port could drop what is on its way
port.close()
"""  # another program's MIDI output (mido reads MIDO_BACKEND)


@dataclass(frozen=True)
class Transport:
    """A running MIDI system: the mido backend that reaches it and the environment its clients need."""

    name: str
    backend: str  # mido's backend name, as MIDO_BACKEND spells it
    environ: dict[str, str]


# -- the MIDI systems --------------------------------------------------------------------------


def _rtmidi(api_name: str) -> Any:
    """python-rtmidi, when it was built with the API named ``api_name`` (``"alsa"``, ``"jack"``)."""
    try:
        import rtmidi
    except ImportError:
        missing("python-rtmidi is not installed: pip install -e '.[dev]' (or the 'midi' extra)")
    compiled = [rtmidi.get_api_name(api) for api in rtmidi.get_compiled_api()]
    if api_name not in compiled:
        missing(
            f"this python-rtmidi was built without {api_name} (it has: {', '.join(compiled) or 'none'}); "
            "PyPI's Linux wheels have ALSA and JACK, a source build needs libasound2-dev and libjack-jackd2-dev"
        )
    return rtmidi


def _alsa() -> Iterator[Transport]:
    # No package provides a kernel's sequencer (CI's virtual machines have a kernel built without
    # sound), so this skips even under SEPARATOR_TESTS_REQUIRE_ALL; the jack variant runs the same checks.
    if not os.path.exists("/dev/snd/seq"):
        pytest.skip("no ALSA sequencer: /dev/snd/seq does not exist (a kernel without snd-seq); the jack variant runs these checks")
    rtmidi = _rtmidi("alsa")
    try:
        rtmidi.MidiIn(rtapi=rtmidi.API_LINUX_ALSA).delete()
    except rtmidi.SystemError as exc:
        pytest.skip(f"the ALSA sequencer does not open: {exc}")
    yield Transport("alsa", "mido.backends.rtmidi/LINUX_ALSA", {})


def _jack() -> Iterator[Transport]:
    rtmidi = _rtmidi("jack")
    jackd = shutil.which("jackd")
    if jackd is None:
        missing("jackd is not installed: apt-get install --no-install-recommends jackd2")
    server = f"stemsplit-test-{os.getpid()}"  # our own server: a user's jackd is neither used nor disturbed
    # --sync: a client late for a cycle (a loaded machine, no realtime scheduling) delays the cycle instead of
    # missing its MIDI (without it, 2 of 12 runs lost CCs under load)
    environ = {"JACK_DEFAULT_SERVER": server, "JACK_NO_AUDIO_RESERVATION": "1"}
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            [jackd, "--name", server, "--no-realtime", "--sync", "-d", "dummy", "-r", "48000", "-p", "256"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **environ},
        )
        try:
            with pytest.MonkeyPatch.context() as env:
                for key, value in environ.items():
                    env.setenv(key, value)  # libjack reads the server name from the environment at each client's start
                _wait_for_jack(rtmidi, process, log)
                yield Transport("jack", "mido.backends.rtmidi/UNIX_JACK", environ)
        finally:
            _stop(process, timeout=5)


def _stop(process: subprocess.Popen[Any], timeout: float) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds; reaps the process (and drains its pipes)."""
    process.send_signal(signal.SIGTERM)
    try:
        process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


def _wait_for_jack(rtmidi: Any, process: subprocess.Popen[bytes], log: Any) -> None:
    deadline = time.monotonic() + JACK_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            pytest.fail(f"jackd exited with code {process.returncode}:\n{log.read()}")
        try:
            rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name="stemsplit-probe").delete()
            return
        except rtmidi.SystemError:
            time.sleep(0.1)
    log.seek(0)
    pytest.fail(f"jackd accepted no client within {JACK_START_TIMEOUT} s:\n{log.read()}")


@pytest.fixture(scope="module", params=["jack", "alsa"])
def transport(request: pytest.FixtureRequest) -> Iterator[Transport]:
    """A MIDI system, and mido's backend switched to it for the module (the old one is put back)."""
    previous = mido.backend
    for running in (_jack if request.param == "jack" else _alsa)():
        mido.set_backend(running.backend)
        try:
            yield running
        finally:
            mido.set_backend(previous)


def wait_until(condition: Callable[[], Any], timeout: float = MESSAGE_TIMEOUT) -> None:
    """Return once ``condition()`` is true, or after ``timeout`` seconds (the test's assertion then says what is missing)."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


def until_connected(output: Any, received: list[Any]) -> None:
    """Send notes on ``output`` until one reaches ``received``: a new connection carries MIDI a cycle or more
    after the call that made it returns."""
    deadline = time.monotonic() + MESSAGE_TIMEOUT
    while not received and time.monotonic() < deadline:
        output.send(mido.Message("note_on", note=60))
        time.sleep(0.02)
    assert received, f"no note arrived within {MESSAGE_TIMEOUT} s: the ports did not connect"


def events(received: list[Any]) -> list[Any]:
    """The CCs and program changes among ``received`` (the probe notes left out)."""
    return [e for e in map(normalize, received) if e is not None]


def ccs(received: list[Any]) -> list[int]:
    return [m.value for m in received if m.type == "control_change"]


# -- the port layer, in this process ------------------------------------------------------------


@pytest.fixture
def knobs(transport: Transport) -> Iterator[Any]:
    """Another program's MIDI output: a virtual port named ``stemsplit-test-knobs``."""
    port = mido.open_output("stemsplit-test-knobs", virtual=True)
    yield port
    port.close()


def test_a_named_input_receives_what_another_programs_port_sends(knobs: Any) -> None:
    received: list[Any] = []
    port = open_input("test-knobs", received.append)  # a unique part of the name is enough
    try:
        assert "stemsplit-test-knobs" in port.name
        until_connected(knobs, received)
        knobs.send(mido.Message("control_change", channel=0, control=74, value=100))
        knobs.send(mido.Message("program_change", channel=9, program=3))
        wait_until(lambda: len(events(received)) >= 2)
    finally:
        port.close()
    assert events(received) == [ControlChange(1, 74, 100), ProgramChange(10, 3)]


def _hold_the_gil(stop: threading.Event) -> None:
    """Keep the GIL in long stretches (sorting in C, ~50 ms a turn), as loading a model or a preset does."""
    rng = random.Random(0)
    numbers = [rng.random() for _ in range(200_000)]
    while not stop.is_set():
        sorted(numbers)


def test_no_message_is_lost_while_another_thread_holds_the_gil(transport: Transport) -> None:
    """Knobs turned while the server is busy (a split, the model loading) all arrive: another process sends
    40 CCs, 10 ms apart, while a thread here holds the GIL in 50 ms stretches."""
    env = {**os.environ, "MIDO_BACKEND": transport.backend}
    sender = subprocess.Popen([sys.executable, "-c", SENDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert sender.stdin is not None and sender.stdout is not None
    received: list[Any] = []
    stop = threading.Event()
    busy = threading.Thread(target=_hold_the_gil, args=(stop,))
    try:
        assert sender.stdout.readline() == "ready\n"
        port = open_input("stemsplit-test-sender", received.append)
        try:
            sender.stdin.write("probe\n")
            sender.stdin.flush()
            wait_until(lambda: received)
            assert received, "no probe note arrived: the ports did not connect"
            busy.start()
            sender.stdin.write("go\n")
            sender.stdin.flush()
            wait_until(lambda: len(ccs(received)) >= 40)
        finally:
            stop.set()
            if busy.is_alive():
                busy.join()
            port.close()
    finally:
        try:
            sender.communicate("done\n", timeout=10)  # it closes its port: a killed JACK client holds up jackd's exit
        except subprocess.TimeoutExpired:
            sender.kill()
            sender.communicate()
    assert ccs(received) == list(range(40))


def test_a_name_that_matches_no_input_is_refused_in_one_line_listing_the_inputs(knobs: Any) -> None:
    with pytest.raises(MidiPortError) as error:
        open_input("Launchpad", lambda message: None)
    text = str(error.value)
    assert text.startswith("no MIDI input named 'Launchpad'; available inputs: ") and "stemsplit-test-knobs" in text, text
    assert text.endswith("or start without --midi-in to control the server over OSC only") and "\n" not in text


def test_choosing_jack_without_a_running_jack_server_says_to_start_one(monkeypatch: pytest.MonkeyPatch) -> None:
    _rtmidi("jack")
    monkeypatch.setenv("JACK_DEFAULT_SERVER", f"stemsplit-none-{os.getpid()}")  # no server has this name
    previous = mido.backend
    mido.set_backend("mido.backends.rtmidi/UNIX_JACK")
    try:
        with pytest.raises(MidiPortError) as error:
            open_input(None, lambda message: None)
    finally:
        mido.set_backend(previous)
    assert str(error.value) == (
        "cannot open a virtual MIDI input 'plugin-host': no JACK server is running (MidiInJack::initialize: JACK server not running?); "
        "start one (jackd -d dummy will do for MIDI), or start without --midi-in to control the server over OSC only"
    )


# -- plugin-host serve --midi-in, a real process -----------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    """A ``plugin-host serve --midi-in`` process, an OSC client it knows, and a MIDI output connected to it."""

    root: Path
    osc: OscClient
    midi: Any

    def send(self, kind: str, channel: int = 1, **data: int) -> None:
        """Send a MIDI message; ``channel`` counted 1–16, as on controllers."""
        self.midi.send(mido.Message(kind, channel=channel - 1, **data))

    def feedback(self, address: str) -> float:
        """The value of the next feedback on ``address``."""
        return float(self.osc.wait_for(address, timeout=MESSAGE_TIMEOUT).args[0])

    def load(self, preset: str) -> None:
        self.osc.send("/preset/load", str(self.root / preset))
        self.osc.wait_for("/preset/loaded", timeout=MESSAGE_TIMEOUT)
        self.osc.replies(quiet=0.2)  # the snapshot of every control that follows a load

    def query(self, address: str) -> float:
        """The value a query of ``address`` answers (feedback still on its way is dropped first)."""
        self.osc.replies(quiet=0.2)
        self.osc.send(address)
        return float(self.osc.wait_for(address, timeout=MESSAGE_TIMEOUT).args[0])


@pytest.fixture(scope="module")
def served(transport: Transport, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``plugin-host serve --midi-in`` (a virtual input named plugin-host) with MIDO_BACKEND naming the transport."""
    root = tmp_path_factory.mktemp("midi-serve")
    write_presets(root)
    (root / "knobs.yaml").write_text(KNOBS_PRESET)
    port = free_port()
    options = ["--port", str(port), "--root", str(root), "--preset", str(root / "knobs.yaml"), "--midi-in"]
    options += ["--programs", f"{root / 'knobs.yaml'},{root / 'split-remix.yaml'}"]
    env = {**os.environ, **transport.environ, "MIDO_BACKEND": transport.backend}
    process = subprocess.Popen([*SERVE, *options], stderr=subprocess.PIPE, text=True, cwd=root, env=env)
    osc = OscClient(("127.0.0.1", port))
    try:
        _wait_for_pong(osc, process)
        outputs = [name for name in mido.get_output_names() if "plugin-host" in name]
        assert len(outputs) == 1, f"the server's virtual input among the outputs: {mido.get_output_names()}"
        midi = mido.open_output(outputs[0])
        try:
            _until_the_server_hears(midi, osc)
            yield Served(root, osc, midi)
        finally:
            midi.close()
    finally:
        osc.close()
        _stop(process, timeout=20)


def _wait_for_pong(osc: OscClient, process: subprocess.Popen[str]) -> None:
    """Ping until the server answers (its MIDI input opens before it listens); it is then a feedback target."""
    deadline = time.monotonic() + SERVE_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"plugin-host serve --midi-in exited with code {process.returncode}: {process.communicate()[1]}")
        osc.send("/ping")
        if (reply := osc.receive(0.2)) is not None and reply.address == "/pong":
            osc.replies(quiet=0.3)
            return
    pytest.fail(f"plugin-host serve --midi-in did not answer /ping within {SERVE_TIMEOUT} s")


def _until_the_server_hears(midi: Any, osc: OscClient) -> None:
    """Send program change 0 (the preset already loaded) until the server says it loaded it: the connection is up."""
    deadline = time.monotonic() + MESSAGE_TIMEOUT
    while time.monotonic() < deadline:
        midi.send(mido.Message("program_change", program=0))
        if (reply := osc.receive(0.1)) is not None and reply.address == "/preset/loaded":
            osc.replies(quiet=0.3)  # the snapshot, and the loads of any other program change on its way
            return
    pytest.fail(f"the server heard no program change within {MESSAGE_TIMEOUT} s: the ports did not connect")


def test_a_cc_mapped_in_the_preset_sets_its_parameter_over_its_range_and_curve(served: Served) -> None:
    served.load("knobs.yaml")
    served.send("control_change", control=74, value=127)
    assert served.feedback("/chain/hp/cutoff_frequency_hz") == pytest.approx(1000.0, rel=1e-5)
    served.send("control_change", control=74, value=64)  # log: equal ratios per step, 100 × 10^(64/127)
    assert served.feedback("/chain/hp/cutoff_frequency_hz") == pytest.approx(100.0 * 10 ** (64 / 127), rel=1e-5)
    served.send("control_change", channel=16, control=7, value=0)  # mapped on any channel
    assert served.feedback("/chain/trim/gain_db") == pytest.approx(-12.0)
    assert served.query("/chain/hp/cutoff_frequency_hz") == pytest.approx(100.0 * 10 ** (64 / 127), rel=1e-5)
    assert served.query("/chain/trim/gain_db") == pytest.approx(-12.0)


def test_a_cc_on_another_channel_than_its_map_changes_nothing(served: Served) -> None:
    served.load("knobs.yaml")
    served.send("control_change", channel=2, control=74, value=127)  # the map listens on channel 1
    served.send("control_change", control=7, value=127)  # then a mapped one, so the first has surely been handled
    assert served.feedback("/chain/trim/gain_db") == pytest.approx(12.0)
    assert served.query("/chain/hp/cutoff_frequency_hz") == pytest.approx(40.0)
    assert not any(m.address.startswith("/chain/hp/") for m in served.osc.replies(quiet=0.2))


def test_program_change_selects_the_preset_at_its_place_in_the_program_list(served: Served) -> None:
    served.load("knobs.yaml")
    served.send("program_change", program=1)
    assert served.osc.wait_for("/preset/loaded", timeout=MESSAGE_TIMEOUT).args[0] == "split-remix"
    served.send("program_change", program=0)
    assert served.osc.wait_for("/preset/loaded", timeout=MESSAGE_TIMEOUT).args[0] == "knobs"


def test_midi_learn_binds_the_next_cc_and_that_knob_then_moves_the_parameter(served: Served) -> None:
    served.load("knobs.yaml")
    assert served.osc.request("/midi/learn", "trim.gain_db")[0].args == ("trim.gain_db",)
    served.send("control_change", channel=3, control=21, value=10)
    assert served.osc.wait_for("/midi/learned", timeout=MESSAGE_TIMEOUT).args == ("trim.gain_db", 3, 21, 7)
    learned = [m.args for m in served.osc.request("/midi/map/list") if m.address == "/midi/map" and m.args[2] == 21]
    assert len(learned) == 1
    _, channel, _, low, high, curve, bits, _ = learned[0]
    assert (channel, curve, bits) == (3, "auto", 7) and low < 0 < high  # the parameter's own range
    served.send("control_change", channel=3, control=21, value=127)
    assert math.isclose(served.feedback("/chain/trim/gain_db"), high, rel_tol=1e-5)
