"""The JACK client: ports, the real-time process callback, the player, and the worker behind it.

The process callback is small and boring on purpose: it copies the input block into the
input ring, copies the stems ``delay`` frames back out of the stem ring through the
mixer, and returns. It takes no lock, opens nothing, prints nothing and allocates no
audio buffers. When the worker has not finished the frames the output needs, the block
carries the delayed dry input in the ``other`` stem and in ``mix`` (never silence) and
the miss is counted; the first block after a miss fades from dry back to the stems.

Ports: ``in_L``, ``in_R``; ``<stem>_L``, ``<stem>_R`` for every stem (after its gain);
``mix_L``, ``mix_R``. With every gain at 1 the stems add up to the delayed input.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from plugin_host.control.live.latency import LatencyReporter
from plugin_host.control.live.mixer import StemMixer
from plugin_host.control.live.plan import LivePlan
from plugin_host.control.live.ring import FrameRing
from plugin_host.control.live.worker import Effect, WindowSplitter, Worker
from plugin_host.errors import PluginHostError
from plugin_host.split import SeparatorLike

log = logging.getLogger("plugin_host.control.live")

CHANNELS = ("L", "R")
NO_SERVER = (
    "no JACK server is running; start one, e.g. 'jackd -d alsa' for a sound card or 'jackd -d dummy -r 48000 -p 1024' "
    "without one (or use qjackctl / Cadence / pw-jack), then run again"
)


class LiveError(PluginHostError):
    """The live client cannot start or run: no JACK server, a bad option, ports that do not connect."""


def open_client(name: str) -> Any:
    """Open a JACK client named ``name`` on the running server (``JACK_DEFAULT_SERVER`` picks one); never starts a server.

    Raises:
        LiveError: JACK-Client is not installed, or no JACK server runs (the message says how to start one).
    """
    try:
        import jack
    except (ImportError, OSError) as exc:  # OSError: JACK-Client without libjack
        raise LiveError(
            f"live mode needs JACK-Client and libjack ({exc}): pip install 'stemsplit[live]' and apt-get install jackd2"
        ) from None
    # libjack's own complaints ("Cannot connect to server socket", ...) go to the debug log: the error below says it in one line
    jack.set_error_function(lambda text: log.debug("jack: %s", text))
    jack.set_info_function(lambda text: log.debug("jack: %s", text))
    try:
        return jack.Client(name, no_start_server=True)
    except jack.JackOpenError as exc:
        if exc.status.server_failed or exc.status.server_error:
            raise LiveError(NO_SERVER) from None
        raise LiveError(f"JACK refused a client named {name!r} ({exc}); try another --name") from None


class FilePlayer:
    """Feeds ``audio`` ``(channels, n)`` in place of the inputs, once or in a loop (``--play FILE --loop``)."""

    def __init__(self, audio: np.ndarray, loop: bool = False, name: str = "the file") -> None:
        self.audio = np.ascontiguousarray(audio, np.float32)
        self.loop, self.name = loop, name
        self.position = 0
        self.finished_at: int | None = None  # the client's frame at which the file ran out (once, without --loop)

    def fill(self, out: np.ndarray, frame: int) -> None:
        """Copy the next ``out.shape[-1]`` frames into ``out``; silence once the file has played (without loop)."""
        n, total = out.shape[-1], self.audio.shape[-1]
        done = 0
        while done < n:
            if self.position >= total:
                if not self.loop or total == 0:
                    out[:, done:] = 0.0
                    if self.finished_at is None:
                        self.finished_at = frame + done
                    return
                self.position = 0
            take = min(n - done, total - self.position)
            out[:, done : done + take] = self.audio[:, self.position : self.position + take]
            self.position += take
            done += take


@dataclass
class LiveStats:
    """What ``/live/stats`` and the exit line report."""

    misses: int  # blocks that played dry because the worker was late
    xruns: int  # cycles JACK reported late
    windows: int  # windows split
    skipped: int  # windows skipped to catch up
    worker_mean: float  # seconds per window
    worker_max: float
    load: float  # mean seconds per window / hop: the worker's share of one core's real time (below 1 keeps up)


class LiveClient:
    """Splits a JACK client's input into stems, live, with a stated delay.

    Args:
        client: an open JACK-Client ``Client`` (see :func:`open_client`); it is activated by :meth:`start`.
        separator: the model (``separate(audio, rate, stems=...)``).
        names: the stems the separator returns (``Separator.stem_names(stems)``), in port order.
        window, hop, lookahead, latency, crossfade: seconds (see :class:`LivePlan`).
        effects: per-stem effects (a preset's routes), run by the worker on each stem's block.
        stems_arg: what to pass as ``stems=`` to the separator.
        player: a file to play instead of the inputs.
    Raises:
        ParameterError: the timing does not fit (the message says which option to change).
    """

    def __init__(
        self,
        client: Any,
        separator: SeparatorLike,
        names: Sequence[str],
        window: float,
        hop: float,
        lookahead: float,
        latency: float,
        crossfade: float | None = None,
        effects: dict[str, Effect] | None = None,
        stems_arg: list[str] | None = None,
        player: FilePlayer | None = None,
    ) -> None:
        self.client, self.names, self.player = client, list(names), player
        self.plan = LivePlan(int(client.samplerate), int(client.blocksize), window, hop, lookahead, latency, crossfade)
        n_stems, channels, ring = len(self.names), len(CHANNELS), self.plan.ring_frames
        self.source = FrameRing((channels,), ring)
        self.stems = FrameRing((n_stems, channels), ring)
        self.mixer = StemMixer(self.names, max_block=max(int(client.blocksize), 8192), channels=channels)
        self.splitter = WindowSplitter(separator, self.names, self.plan, self.source, self.stems, effects, stems_arg)
        self.worker = Worker(self.splitter, lambda: self.input_end)
        self.inputs = [client.inports.register(f"in_{c}") for c in CHANNELS]
        self.stem_ports = [[client.outports.register(f"{s}_{c}") for c in CHANNELS] for s in self.names]
        self.mix_ports = [client.outports.register(f"mix_{c}") for c in CHANNELS]
        self.frames = 0  # the frame after the last one processed, counted from the first cycle: the timeline of both rings
        self._clock: int | None = None  # JACK's frame clock at the last cycle, and where that cycle began on our timeline
        self._start = 0
        self.input_end = 0  # published to the worker after each block is in the input ring
        self.misses = self.xruns = 0
        self.gone = threading.Event()  # JACK shut the client down (the server went away)
        self.gone_reason = ""
        self._was_dry = False
        self._allocate(max(int(client.blocksize), 8192))
        client.set_process_callback(self._process)
        client.set_xrun_callback(self._xrun)
        client.set_blocksize_callback(self._blocksize)
        client.set_shutdown_callback(self._shutdown)
        self.latency = LatencyReporter(
            client, self.inputs, [p for pair in self.stem_ports for p in pair] + self.mix_ports, self.plan.latency_frames
        )

    def _allocate(self, frames: int) -> None:
        n_stems, channels = len(self.names), len(CHANNELS)
        self._in = np.zeros((channels, frames), np.float32)
        self._dry = np.zeros((channels, frames), np.float32)
        self._stem_block = np.zeros((n_stems, channels, frames), np.float32)
        self._out = np.zeros((n_stems, channels, frames), np.float32)
        self._mix = np.zeros((channels, frames), np.float32)

    # -- life --------------------------------------------------------------------------------

    def start(self, connect: bool = False) -> LiveClient:
        """Start the worker, activate the client and (``connect``) patch the physical ports: capture → in, mix → playback.

        Raises:
            LiveError: a connection failed.
        """
        self.worker.start()  # returns after its warm-up split: the first window heard is not the slow first one
        if self.worker.error is not None:
            raise LiveError(f"the splitting worker failed to start: {self.worker.error}")
        self.client.activate()
        if connect:
            self.connect_physical()
        self.latency.recompute()
        return self

    def connect_physical(self) -> None:
        """``system:capture_*`` → ``in_L/R`` (unless a file plays) and ``mix_L/R`` → ``system:playback_*``, like other JACK tools."""
        import jack

        capture = self.client.get_ports(is_physical=True, is_output=True, is_audio=True)
        playback = self.client.get_ports(is_physical=True, is_input=True, is_audio=True)
        pairs = [] if self.player is not None else list(zip(capture, self.inputs, strict=False))
        pairs += list(zip(self.mix_ports, playback, strict=False))
        for source, target in pairs:
            try:
                self.client.connect(source, target)
            except jack.JackError as exc:
                raise LiveError(f"cannot connect {source.name} to {target.name}: {exc}") from None

    def stop(self) -> None:
        """Stop the worker and close the client (which must not be used after JACK went away: then only the worker stops)."""
        self.worker.stop()
        if self.gone.is_set():
            return
        try:
            self.client.deactivate()
            self.client.close()
        except Exception as exc:  # the server may be going down at the same moment
            log.debug("closing the JACK client: %s", exc)

    def stats(self) -> LiveStats:
        s = self.splitter.stats
        return LiveStats(self.misses, self.xruns, s.windows, s.skipped, s.mean, s.longest, s.mean / self.plan.hop)

    def finished(self) -> bool:
        """A file played without ``--loop`` has played, delay included."""
        end = self.player.finished_at if self.player is not None else None
        return end is not None and self.frames >= end + self.plan.latency_frames + self.plan.block

    def levels(self, seconds: float = 0.1) -> dict[str, float]:
        """Peak level in dBFS of each stem (after its gain) and of ``mix`` over the last ``seconds`` heard."""
        n = max(1, min(self.plan.frames(seconds), self.plan.ring_frames // 4))
        block = np.zeros((len(self.names), len(CHANNELS), n), np.float32)
        self.stems.read(self.frames - self.plan.latency_frames - n, block)
        block *= self.mixer.current[:, None, None]
        peaks = np.abs(block).max(axis=(1, 2))
        out = {name: _db(float(p)) for name, p in zip(self.names, peaks, strict=True)}
        out["mix"] = _db(float(np.abs(block.sum(0)).max()))
        return out

    # -- JACK's threads ------------------------------------------------------------------------

    def _process(self, frames: int) -> None:
        """The real-time callback: input → ring; ring → mixer → ports. Copies only.

        The timeline is JACK's frame clock, not a count of the cycles this client ran: after a cycle it missed
        (an xrun), the output keeps its stated delay, and the frames it never heard are silence in the input ring.
        """
        clock = self.client.last_frame_time
        if self._clock is None:
            self._clock = clock
        n = self._start + ((clock - self._clock) & 0xFFFFFFFF)  # JACK's clock is 32 bits and wraps (27 h at 44.1 kHz)
        self._clock, self._start, delay = clock, n, self.plan.latency_frames
        if n > self.frames:
            self.source.clear(self.frames, min(n - self.frames, self.source.capacity))
        block = self._in[:, :frames]
        if self.player is not None:
            self.player.fill(block, n)
        else:
            for c, port in enumerate(self.inputs):
                block[c] = port.get_array()
        self.source.write(n, block)
        self.input_end = n + frames
        first = n - delay
        out, mix, dry = self._out[..., :frames], self._mix[:, :frames], self._dry[:, :frames]
        if self.splitter.published.holds(first, first + frames):
            self.mixer.process(self.stems.read(first, self._stem_block[..., :frames]), out, mix)
            if self._was_dry:
                self.mixer.blend_from_dry(self.source.read(first, dry), out, mix)
                self._was_dry = False
        else:
            self.mixer.dry(self.source.read(first, dry), out, mix)
            self.misses += 1
            self._was_dry = True
        for i, pair in enumerate(self.stem_ports):
            for c, port in enumerate(pair):
                port.get_array()[:] = out[i, c]
        for c, port in enumerate(self.mix_ports):
            port.get_array()[:] = mix[c]
        self.frames = n + frames

    def _xrun(self, delay_usecs: float) -> None:
        self.xruns += 1

    def _blocksize(self, blocksize: int) -> None:
        if blocksize > self._in.shape[-1]:
            self._allocate(blocksize)  # not the process thread: JACK calls this between cycles

    def _shutdown(self, status: Any, reason: str) -> None:
        self.gone_reason = reason
        self.gone.set()


def _db(peak: float) -> float:
    return 20.0 * math.log10(peak) if peak > 1e-10 else -200.0
