"""``plugin-host live`` against a real JACK server (jackd's dummy driver, ``--no-realtime``, a server name of its own).

A player client feeds a known mixture of generated songs, ``plugin-host live`` (a separate
process, as a user runs it) splits it, and a recorder client records every port of it and
the player's output, so the graph has no loop and the delay measured is the client's own.
The blocks are long (2048 frames) and the stated delay generous, so a loaded test machine
does not turn scheduling noise into failures; what is checked is still what a user relies on.
"""

from __future__ import annotations

import gc
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import generated_song, missing
from osc_support import OscClient

from separator import Separator
from separator.training.metrics import si_sdr_improvement

RATE, BLOCK = 44100, 2048
LATENCY = 3.5  # seconds: the worker's budget is 2 s a window, room for a machine shared with other jobs
SETTLE = 1.5  # seconds after the test's clients join before the xrun count starts (a graph change can cost one)
NAME = "stemsplit-test"
STEMS = ["drums", "bass", "guitar", "vocals", "other"]
SONGS = (2, 3)  # generated songs with all five stems, for the quality and sum checks
GAIN_SONG = 4  # played third; /live/vocals/gain 0 is sent while it plays
SONG_SECONDS, GAP_SECONDS = 8.0, 4.0  # a gap as long as a window: each window hears one song, as the offline split does
GAIN_AT = 2.0  # seconds into the third song's output
START_TIMEOUT = 120.0  # seconds for the command to load the model and print its OSC port
JACK_START_TIMEOUT = 10.0
LIVE = [sys.executable, "-c", "from stemsplit.plugin_host_cli import run; run()", "live"]


def _jack() -> Any:
    try:
        import jack
    except (ImportError, OSError) as exc:
        missing(f"JACK-Client is not installed ({exc}): pip install -e '.[dev]' (the 'live' extra)")
    if shutil.which("jackd") is None:
        missing("jackd is not installed: apt-get install --no-install-recommends jackd2")
    return jack


# -- a JACK server of our own ------------------------------------------------------------------


@dataclass
class JackServer:
    process: subprocess.Popen[bytes]
    environ: dict[str, str]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_jackd(suffix: str) -> JackServer:
    """jackd with the dummy driver under a name of its own (a user's jackd is neither used nor disturbed)."""
    jack = _jack()
    server = f"stemsplit-live-{os.getpid()}-{suffix}"
    environ = {"JACK_DEFAULT_SERVER": server, "JACK_NO_START_SERVER": "1", "JACK_NO_AUDIO_RESERVATION": "1"}
    log = tempfile.TemporaryFile("w+")
    process = subprocess.Popen(
        [
            shutil.which("jackd") or "jackd",
            "--name",
            server,
            "--no-realtime",
            "--sync",
            "-d",
            "dummy",
            "-r",
            str(RATE),
            "-p",
            str(BLOCK),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **environ},
    )
    running = JackServer(process, environ)
    deadline = time.monotonic() + JACK_START_TIMEOUT
    with pytest.MonkeyPatch.context() as env:
        for key, value in environ.items():
            env.setenv(key, value)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                log.seek(0)
                pytest.fail(f"jackd exited with code {process.returncode}:\n{log.read()}")
            try:
                jack.Client("stemsplit-probe", no_start_server=True).close()
                return running
            except jack.JackOpenError:
                time.sleep(0.1)
    running.stop()
    log.seek(0)
    pytest.fail(f"jackd accepted no client within {JACK_START_TIMEOUT} s:\n{log.read()}")


@pytest.fixture(scope="module")
def jack_server() -> Iterator[JackServer]:
    server = start_jackd("main")
    with pytest.MonkeyPatch.context() as env:
        for key, value in server.environ.items():
            env.setenv(key, value)  # libjack reads the server name when each client opens
        try:
            yield server
        finally:
            server.stop()


# -- player and recorder clients ---------------------------------------------------------------


class Player:
    """A JACK client that plays ``audio`` ``(2, n)`` once, from the cycle after :meth:`play`."""

    def __init__(self, audio: np.ndarray) -> None:
        import jack

        self.audio, self.position, self.playing, self.xruns = audio, 0, False, 0
        self.client = jack.Client("stemsplit-player", no_start_server=True)
        self.ports = [self.client.outports.register(f"out_{c}") for c in "LR"]
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(self._xrun)
        self.client.activate()

    def play(self) -> None:
        self.playing = True

    @property
    def done(self) -> bool:
        return self.position >= self.audio.shape[-1]

    def _process(self, frames: int) -> None:
        for c, port in enumerate(self.ports):
            out = port.get_array()
            out[:] = 0.0
            if self.playing:
                piece = self.audio[c, self.position : self.position + frames]
                out[: piece.shape[-1]] = piece
        if self.playing:
            self.position += frames

    def _xrun(self, delay: float) -> None:
        self.xruns += 1

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


class Recorder:
    """A JACK client that records ``sources`` (port names) into ``data`` ``(len(sources), frames)``, cycle-aligned."""

    def __init__(self, sources: list[str], seconds: float) -> None:
        import jack

        self.client = jack.Client("stemsplit-recorder", no_start_server=True)
        self.ports = [self.client.inports.register(f"in_{i}") for i in range(len(sources))]
        self.data = np.zeros((len(sources), int(seconds * RATE)), np.float32)
        self.first: int | None = None  # JACK frame time of data[:, 0]
        self.recording, self.xruns = False, 0
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(self._xrun)
        self.client.activate()
        for source, port in zip(sources, self.ports, strict=True):
            self.client.connect(source, port)

    def now(self) -> int:
        """The index into :attr:`data` of the frame playing now (JACK's estimate of the current frame)."""
        return self.client.frame_time - (self.first or 0)

    def _process(self, frames: int) -> None:
        if not self.recording:
            return
        t = self.client.last_frame_time
        if self.first is None:
            self.first = t
        i = t - self.first
        if i + frames <= self.data.shape[-1]:
            for row, port in zip(self.data, self.ports, strict=True):
                row[i : i + frames] = port.get_array()

    def _xrun(self, delay: float) -> None:
        self.xruns += 1

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


class LineReader:
    """Reads a process's output lines on a thread, so a test can wait for one without blocking forever."""

    def __init__(self, stream: Any) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(line)
            if m := re.search(pattern, line):
                return m
        raise AssertionError(f"no line matching {pattern!r} within {timeout} s; got {self.seen}")


def start_live(environ: dict[str, str], *args: str) -> tuple[subprocess.Popen[str], LineReader]:
    process = subprocess.Popen(
        [*LIVE, "--name", NAME, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **environ, "PYTHONUNBUFFERED": "1"},
    )
    return process, LineReader(process.stdout)


def wait_until(condition: Callable[[], Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


# -- one run of the command, shared by the checks ----------------------------------------------


@dataclass
class Run:
    """What one ``plugin-host live`` run played, recorded, reported and said."""

    songs: list[tuple[np.ndarray, np.ndarray]]  # (stems (5, 2, n), present) of each song played
    starts: list[int]  # where each song starts in the played audio, in frames
    dry: np.ndarray  # (2, frames): the player's output as recorded
    ports: dict[str, np.ndarray]  # every output port of the client, (2, frames), recorded alongside
    reported: tuple[int, int]  # the capture latency JACK reports on mix_L
    latency_reply: tuple[Any, ...]
    stats: tuple[Any, ...]  # /live/stats at the end
    gain_sent: int  # index into the recording when /live/vocals/gain 0 was sent
    printed: list[str]
    xruns: int  # the player's and the recorder's
    returncode: int
    stderr: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def delay(self) -> int:
        return round(LATENCY * RATE)

    def delayed_dry(self) -> np.ndarray:
        """The player's output as it should come out: ``delay`` frames later."""
        out = np.zeros_like(self.dry)
        out[:, self.delay :] = self.dry[:, : -self.delay]
        return out

    def song_slice(self, i: int) -> slice:
        """Where song ``i`` comes out of the client, in the recording."""
        start = self.extra["offset"] + self.starts[i] + self.delay
        return slice(start, start + self.songs[i][0].shape[-1])


def program(indices: tuple[int, ...]) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[int], np.ndarray]:
    """The songs, where each starts, and what the player plays: the songs' mixtures with a gap of silence after each."""
    songs = [generated_song(i, SONG_SECONDS) for i in indices]
    gap = np.zeros((2, int(GAP_SECONDS * RATE)), np.float32)
    pieces, starts, at = [], [], 0
    for stems, _ in songs:
        starts.append(at)
        pieces += [stems.sum(0), gap]
        at += stems.shape[-1] + gap.shape[-1]
    return songs, starts, np.concatenate(pieces, axis=-1).astype(np.float32)


def terminate(process: subprocess.Popen[str]) -> str:
    """SIGTERM, as a user's ``kill`` or a service manager sends; returns what it wrote on stderr."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.communicate(timeout=30)[1]
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()[1]


@pytest.fixture(scope="module")
def run(jack_server: JackServer) -> Iterator[Run]:
    songs, starts, audio = program((*SONGS, GAIN_SONG))
    process, out = start_live(jack_server.environ, "--latency", str(LATENCY), "--osc-port", "0")
    player = recorder = osc = None
    gc.collect()
    gc.freeze()  # the player's and recorder's callbacks run Python in this process: what pytest and the imports made
    # (a quarter of a million objects, a 70-ms full collection) stays out of the collector's way while they play
    try:
        osc = OscClient(("127.0.0.1", int(out.wait_for(r"OSC on udp [\d.]+:(\d+)", START_TIMEOUT).group(1))))
        player = Player(audio)
        for c in "LR":
            player.client.connect(f"stemsplit-player:out_{c}", f"{NAME}:in_{c}")
        outputs = [f"{NAME}:{s}_{c}" for s in [*STEMS, "mix"] for c in "LR"]
        recorder = Recorder(["stemsplit-player:out_L", "stemsplit-player:out_R", *outputs], audio.shape[-1] / RATE + LATENCY + 3)
        from plugin_host.control.live.latency import port_latency

        reported = port_latency(recorder.client.get_port_by_name(f"{NAME}:mix_L"))
        latency_reply = osc.request("/live/latency")[0].args
        recorder.recording = True
        wait_until(lambda: recorder.first is not None, 5)
        # JACK tells a client of an xrun on another thread, after the cycle it was in: the xrun a new client's
        # connections can cost on a loaded machine may arrive after the clients are connected (seen once in three
        # runs), so it is counted as before playing, not while the songs play
        time.sleep(SETTLE)
        before = (osc.request("/live/stats")[0].args, player.xruns + recorder.xruns)
        player.play()
        wait_until(lambda: player.position >= starts[2] + round((LATENCY + GAIN_AT) * RATE), 60)
        gain_sent = recorder.now()
        osc.send("/live/vocals/gain", 0.0)
        osc.wait_for("/live/vocals/gain")
        wait_until(lambda: player.done, 60)
        time.sleep(LATENCY + 0.5)
        recorder.recording = False
        stats = osc.request("/live/stats")[0].args
    finally:
        for client in (player, recorder):
            if client is not None:
                client.close()
        if osc is not None:
            osc.close()
        gc.unfreeze()
        stderr = terminate(process)
    data = recorder.data
    ports = {s: data[2 + 2 * i : 4 + 2 * i] for i, s in enumerate([*STEMS, "mix"])}
    extra = {"offset": _first_sound(data[:2]), "before": before}  # offset: where the player's audio starts in the recording
    xruns = player.xruns + recorder.xruns
    yield Run(
        songs,
        starts,
        data[:2],
        ports,
        reported,
        latency_reply,
        stats,
        gain_sent,
        out.seen + list(out.lines.queue),
        xruns,
        process.returncode,
        stderr,
        extra,
    )


def _first_sound(x: np.ndarray) -> int:
    return int(np.argmax(np.abs(x).max(axis=0) > 0))


def snr_db(estimate: np.ndarray, reference: np.ndarray) -> float:
    noise = float(np.sum((estimate.astype(np.float64) - reference) ** 2))
    return 10 * np.log10(float(np.sum(reference.astype(np.float64) ** 2)) / max(noise, 1e-30))


def before_gain(run: Run) -> slice:
    """The part of the recording before the gain change could be heard."""
    return slice(0, run.gain_sent - BLOCK)


# -- the checks ----------------------------------------------------------------------------------


def test_the_delay_is_printed_answered_and_reported_on_the_ports(run: Run) -> None:
    assert any(f"delay {LATENCY:.3f} s ({run.delay} frames at {RATE} Hz)" in line for line in run.printed), run.printed
    assert run.latency_reply == (pytest.approx(LATENCY), run.delay)
    assert run.reported == (run.delay, run.delay)


def test_the_measured_delay_is_the_reported_latency_within_a_block(run: Run) -> None:
    from scipy.signal import correlate

    window = slice(run.extra["offset"], run.extra["offset"] + int((SONG_SECONDS + LATENCY + 1) * RATE))
    dry, mix = run.dry[0, window].astype(np.float64), run.ports["mix"][0, window].astype(np.float64)
    lags = correlate(mix, dry, mode="full", method="fft")
    measured = int(np.argmax(lags)) - (dry.shape[-1] - 1)
    assert abs(measured - run.reported[0]) <= BLOCK, f"measured {measured} frames, reported {run.reported[0]}"


def test_stems_add_up_to_the_delayed_input_and_so_does_mix(run: Run) -> None:
    part = before_gain(run)
    expected = run.delayed_dry()[:, part]
    stems = sum(run.ports[s][:, part] for s in STEMS)
    assert snr_db(stems, expected) >= 40
    assert snr_db(run.ports["mix"][:, part], expected) >= 40


def test_no_block_is_silent_while_the_input_plays(run: Run) -> None:
    expected = run.delayed_dry()
    n = expected.shape[-1] // BLOCK * BLOCK
    sounding = np.abs(expected[:, :n]).reshape(2, -1, BLOCK).max(axis=(0, 2)) > 1e-4
    mix = np.abs(run.ports["mix"][:, :n]).reshape(2, -1, BLOCK).max(axis=(0, 2))
    assert sounding.sum() > 10 * RATE / BLOCK, "the songs were played"
    assert (mix[sounding] > 0).all(), f"silent blocks at {np.flatnonzero(sounding & (mix == 0)).tolist()}"


def test_no_xrun_and_no_dry_block_while_the_input_plays(run: Run) -> None:
    # JACK tells a client of every xrun it took part in; the count starts once the test's clients have joined and
    # settled (see SETTLE). A callback that waited for the worker, locked or allocated would cost xruns nearly every
    # cycle; one that waited for the GIL while the collector ran would cost one now and then (see plugin-host live's
    # gc.freeze, and the same here for the player and the recorder).
    (_, xruns_before, *_), clients_before = run.extra["before"]
    misses, xruns, windows, *_ = run.stats
    assert xruns - xruns_before == 0, f"{run.stats}; before playing: {run.extra['before']}"
    assert run.xruns - clients_before == 0, "the player's and the recorder's xruns while the songs played"
    assert misses == 0, f"the worker was late for {misses} blocks: {run.stats}"
    assert windows >= (run.dry.shape[-1] / RATE - LATENCY) - 2


def test_live_stems_separate_the_songs_played_through_jack(run: Run, separator: Separator) -> None:
    """What the real-time path delivers: the stems on the ports separate the two songs as the model's windows do.

    Two songs are too few to hold live to the offline split within 1 dB: one ambiguous stem moves their mean by
    2 dB, and where the client's window grid falls moves it by 0.6 (model card, "2026-12-07, nineteenth"). That
    promise is checked on twelve songs below, without real time; here the floor is fixed: measured 7.03 dB for the
    shipped model of 2026-12-07 (offline 6.44) and 6.54 for the twenty-sixth (offline 8.91); blocks lost to a late
    worker or an xrun would take it far lower.
    """
    live, offline = [], []
    for i in range(len(SONGS)):
        stems, present = run.songs[i]
        mix = stems.sum(0)
        whole = separator.separate(mix, RATE)
        where = run.song_slice(i)
        for k, name in enumerate(STEMS):
            if present[k]:
                live.append(si_sdr_improvement(run.ports[name][:, where], stems[k], mix))
                offline.append(si_sdr_improvement(whole[name], stems[k], mix))
    print(f"SI-SDRi live {np.mean(live):.2f} dB, offline {np.mean(offline):.2f} dB")
    assert np.mean(live) >= 5.0


LIVE_QUALITY_SONGS = range(12)  # generated 8-s songs (the live test's length), whatever stems each has


def test_live_windows_are_within_a_db_of_the_offline_split_over_twelve_songs(separator: Separator) -> None:
    """The live split's windows (``split_offline``: what the client plays when the worker is never late, with the
    test's 3.5-s delay) against the whole-song split, mean SI-SDRi over every present stem of twelve songs.

    Measured: 7.54 against 8.05 dB (the twenty-sixth model, 57 stems), 6.80 against 7.44 (the model before it).
    """
    from plugin_host.control.live.plan import LIVE_SETTINGS, LivePlan
    from plugin_host.control.live.worker import split_offline

    windows = Separator.from_pretrained(device="cpu", **LIVE_SETTINGS)
    plan = LivePlan(RATE, BLOCK, latency=LATENCY)
    live, offline = [], []
    for index in LIVE_QUALITY_SONGS:
        stems, present = generated_song(index, SONG_SECONDS)
        mix = stems.sum(0)
        tail = np.zeros((mix.shape[0], int(GAP_SECONDS * RATE)), np.float32)  # the gap after it, as the client hears it
        played, whole = split_offline(windows, np.concatenate([mix, tail], -1), plan, STEMS), separator.separate(mix, RATE)
        for k, name in enumerate(STEMS):
            if present[k]:
                live.append(si_sdr_improvement(played[name][:, : mix.shape[-1]], stems[k], mix))
                offline.append(si_sdr_improvement(whole[name], stems[k], mix))
    print(f"SI-SDRi live windows {np.mean(live):.2f} dB, offline {np.mean(offline):.2f} dB, {len(live)} stems")
    assert len(live) >= 50
    assert np.mean(live) >= np.mean(offline) - 1.0


def test_vocals_gain_zero_silences_the_vocals_port_within_a_block_and_the_ramp(run: Run) -> None:
    vocals, sent = run.ports["vocals"], run.gain_sent
    assert np.abs(vocals[:, sent - RATE : sent - BLOCK]).max() > 1e-3, "the song's vocals sound before the change"
    quiet_from = sent + 3 * BLOCK  # the cycle running when the message came, the ramp's block, one block of clock estimate
    end = run.song_slice(2).stop
    assert not vocals[:, quiet_from:end].any()
    others = sum(run.ports[s][:, quiet_from:end] for s in STEMS if s != "vocals")
    np.testing.assert_allclose(run.ports["mix"][:, quiet_from:end], others, atol=1e-6)
    assert np.abs(others).max() > 1e-3


def test_sigterm_stops_it_with_one_line(run: Run) -> None:
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert run.returncode == 0 and len(lines) == 1, run.stderr
    assert lines[0].startswith("plugin-host live: stopped;") and "xruns" in lines[0]


# -- the overload path, in this process with a worker slowed on purpose ------------------------------


class SlowSeparator:
    """Splits like the shipped model would be split by a constant share, but takes ``seconds`` per window for the
    first ``slow`` windows: the worker falls behind the stated delay, then catches up."""

    def __init__(self, seconds: float, slow: int) -> None:
        self.seconds, self.slow, self.calls = seconds, slow, 0

    def separate(
        self, audio: np.ndarray, sample_rate: int, stems: list[str] | None = None, clusters: int | None = None
    ) -> dict[str, np.ndarray]:
        self.calls += 1
        if self.calls <= self.slow:
            time.sleep(self.seconds)
        return {name: audio * np.float32(0.2) for name in STEMS}


def test_a_late_worker_plays_the_delayed_dry_input_in_other_and_mix_and_counts_the_misses(jack_server: JackServer) -> None:
    from plugin_host.control.live.client import FilePlayer, LiveClient, open_client

    seconds = 8.0
    audio = np.concatenate([generated_song(2, SONG_SECONDS)[0].sum(0)] * 2, axis=-1)[:, : int(seconds * RATE)]
    # latency 1.6 s leaves 0.05 s per window; the first three windows take 2 s each (one warm-up call comes first)
    separator = SlowSeparator(seconds=2.0, slow=4)
    client = LiveClient(
        open_client("stemsplit-slow"), separator, STEMS, window=1.5, hop=1.0, lookahead=0.5, latency=1.6, player=FilePlayer(audio)
    )
    outputs = [f"stemsplit-slow:{s}_{c}" for s in [*STEMS, "mix"] for c in "LR"]
    client.start()
    recorder = Recorder(outputs, seconds + 3)
    try:
        recorder.recording = True
        wait_until(client.finished, seconds + 20)
        recorder.recording = False
        stats = client.stats()
    finally:
        recorder.close()
        client.stop()
    ports = {s: recorder.data[2 * i : 2 * i + 2] for i, s in enumerate([*STEMS, "mix"])}
    played = _first_sound(ports["mix"])
    delay = client.plan.latency_frames
    start = played - delay  # where the file's first frame sits in the recording (as the mix comes out, delay frames later)
    dry = np.zeros_like(ports["mix"])
    n = min(audio.shape[-1], dry.shape[-1] - start - delay)
    dry[:, start + delay : start + delay + n] = audio[:, :n]
    assert stats.misses > 0 and stats.skipped > 0, stats
    blocks = dry.shape[-1] // BLOCK
    level = lambda x: np.abs(x[:, : blocks * BLOCK]).reshape(2, blocks, BLOCK).max(axis=(0, 2))  # noqa: E731
    sounding = level(dry) > 1e-4
    as_dry = sounding & (level(ports["vocals"]) == 0)  # blocks the worker missed: no stems, only the dry input
    assert as_dry.sum() >= 10, "the slow windows left dry blocks"
    assert (level(ports["mix"])[sounding] > 0).all(), "never silence"
    assert snr_db(ports["mix"], dry) >= 40, "dry or split, the mix is the delayed input"
    for b in np.flatnonzero(as_dry):
        part = slice(b * BLOCK, (b + 1) * BLOCK)
        np.testing.assert_allclose(ports["other"][:, part], dry[:, part], atol=1e-6)
    split = sounding & (level(ports["vocals"]) > 0)
    assert split[blocks // 2 :].any(), "once the worker is on time again, the stems come back"


# -- a real DAW on the same server ---------------------------------------------------------------------

ARDOUR_LATENCY = 2.0  # seconds: what the client states, and what Ardour must read on its stem inputs
# jackd2 1.9.21 closes on Ardour's session engine now and then while it joins (seen 1 in about 8 runs, with
# timebase master off; "Could not read result type = 12" or 13), or reads garbage from it ("Unknown request",
# then Ardour's notification thread loses the server, the session tool crashes, or it hangs until its timeout: seen once
# in a full CI run on 2026-12-08). Such failures came in
# runs of three tries in a row in 2 of about 10 full runs: a run is tried again on a fresh server, after a pause.
JACK_LOST = (
    "JACK server has been closed",
    "Could not read result type",
    "Cannot callback the server",
    "Cannot read socket",
    "failed (-11)",
    "did not finish in",  # Ardour's session engine hung on the JACK server (ardour_support.run_headless's timeout)
)
ARDOUR_TRIES = 5
ARDOUR_PAUSE = 5.0  # seconds between tries


def test_ardour_reads_the_stated_delay_on_the_stem_ports_it_records_from(tmp_path: Path) -> None:
    """Ardour (its session engine, on the JACK backend) records tracks from a stem, from the mix and from a hardware
    input: the capture latency it reads on the stems is the stated delay (Ardour adds the same few frames of its
    own to every external port), so it moves what it records from them back by exactly that."""
    import ardour_support as ardour

    found = ardour.find()
    if found is None:
        missing("Ardour is not installed: apt-get install --no-install-recommends ardour")
    for attempt in range(1, ARDOUR_TRIES + 1):
        try:
            printed = _ardour_capture_latencies(found[0], tmp_path / f"try{attempt}")
            break
        except AssertionError as exc:
            if attempt == ARDOUR_TRIES or not any(sign in str(exc) for sign in JACK_LOST):
                raise
            time.sleep(ARDOUR_PAUSE)
    seen = {m[0]: (int(m[1]), int(m[2])) for m in re.findall(r"CAPTURE (\w+) (\d+) (\d+)", printed)}
    assert set(seen) == {"drums", "mix", "hw"}, printed[-2000:]
    own = seen["hw"][0] - BLOCK  # the dummy driver's capture ports report one period; Ardour adds its own on top
    assert 0 <= own <= 64 and seen["hw"][1] - BLOCK == own, seen
    delay = round(ARDOUR_LATENCY * RATE)
    assert seen["drums"] == seen["mix"] == (delay + own, delay + own), seen


def _ardour_capture_latencies(lua_tool: str, workdir: Path) -> str:
    """On a fresh jackd with ``plugin-host live`` on it, Ardour's session engine records from two of its ports and a
    hardware input and prints ``CAPTURE name min max`` for each (what it reads as their capture latency)."""
    import ardour_support as ardour

    workdir.mkdir()
    server = start_jackd(f"ardour-{workdir.name}")
    process = None
    try:
        process, out = start_live(server.environ, "--latency", str(ARDOUR_LATENCY))
        out.wait_for(r"delay 2\.000 s", START_TIMEOUT)
        script = f"""
-- a session that is not JACK's timebase master: as master, Ardour loses jackd 1.9.21 more often at start
assert (AudioEngine:set_backend ("None (Dummy)", "", ""))
local s = create_session ({ardour.lua_string(str(workdir / "live"))}, "live", {RATE})
assert (s, "no session")
s:cfg ():set_jack_time_master (false)
s:save_state ("", false, false, false, false, false)
close_session ()
assert (AudioEngine:stop (false) == 0)
assert (AudioEngine:set_backend ("JACK", "ardour", ""), "Ardour has no JACK backend")
assert (AudioEngine:start (false) == 0, "Ardour cannot join the JACK server")
s = load_session ({ardour.lua_string(str(workdir / "live"))}, "live")
assert (s, "the session does not load")
local function capture (name, source)
  local track = s:new_audio_track (1, 2, nil, 1, name, ARDOUR.PresentationInfo.max_order, ARDOUR.TrackMode.Normal, false):front ()
  local port = track:input ():audio (0)
  port:disconnect_all ()
  assert (port:connect (source) == 0, "cannot connect " .. source)
  return port
end
local ports = {{ drums = capture ("drums", "{NAME}:drums_L"), mix = capture ("mix", "{NAME}:mix_R"),
  hw = capture ("hw", "system:capture_1") }}
ARDOUR.LuaAPI.usleep (1000000) -- a few cycles: JACK runs the latency callbacks after a connection
for name, port in pairs (ports) do
  local ref = port:get_connected_latency_range (ARDOUR.LatencyRange (), false)
  print (string.format ("CAPTURE %s %d %d", name, ref[1].min, ref[1].max))
end
close_session ()
print ("LUA-OK")
"""
        return ardour.run_headless(lua_tool, script, workdir, timeout=120, env=server.environ)
    finally:
        if process is not None:
            terminate(process)
        server.stop()


# -- ends -----------------------------------------------------------------------------------------------


def test_jackd_going_away_ends_it_with_one_line(tmp_path: Path) -> None:
    from stembase import audio as audio_io

    song = audio_io.save(tmp_path / "song.wav", generated_song(2, SONG_SECONDS)[0].sum(0), RATE)
    server = start_jackd("gone")
    try:
        process, out = start_live(server.environ, "--play", str(song), "--loop")
        out.wait_for(r"delay 2\.000 s", START_TIMEOUT)
        time.sleep(1.0)
        # SIGTERM, as when a user quits jackd or qjackctl (a SIGKILLed jackd leaves its entry in JACK's server
        # registry, which holds 8: a test that killed one per run would soon stop every jackd on the machine starting)
        server.stop(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        server.stop()
        if process.poll() is None:
            process.kill()
        for stale in Path("/dev/shm").glob(f"jack_sem.*_{server.environ['JACK_DEFAULT_SERVER']}_*"):
            stale.unlink(missing_ok=True)  # the semaphore of a client whose server went away under it
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert process.returncode == 1 and len(lines) == 1, stderr
    assert lines[0].startswith("plugin-host live: the JACK server went away")


def test_no_jack_server_is_one_line_that_says_how_to_start_one() -> None:
    _jack()
    result = subprocess.run(
        [*LIVE],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "JACK_DEFAULT_SERVER": f"stemsplit-none-{os.getpid()}", "JACK_NO_START_SERVER": "1"},
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("plugin-host live: error: no JACK server is running; start one")
    assert "jackd -d dummy" in result.stderr
