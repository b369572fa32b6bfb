"""Helpers for the OSC tests: a python-osc client that collects replies, test presets and a generated song."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from conftest import generated_song
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import SimpleUDPClient

from plugin_host.control.osc.messages import Message
from stembase import audio as audio_io

GAIN_PRESET = """\
format: 1
name: trim-hp
description: A gain and a high-pass filter.
chain:
  - plugin: Gain
    name: trim
    params: {gain_db: 0}
  - plugin: HighpassFilter
    name: hp
    params: {cutoff_frequency_hz: 40}
"""

SPLIT_PRESET = """\
format: 1
name: split-remix
description: Split into drums, vocals and other; remix.
chain:
  - plugin: Gain
    name: trim
  - split:
      stems: [drums, vocals]
      routes:
        drums: {gain_db: -3}
"""


def write_presets(folder: Path) -> None:
    """``trim-hp.yaml`` (no split) and ``split-remix.yaml`` (a split with stems drums, vocals, other) in ``folder``."""
    (folder / "trim-hp.yaml").write_text(GAIN_PRESET)
    (folder / "split-remix.yaml").write_text(SPLIT_PRESET)


def mixture(seconds: float = 3.0) -> np.ndarray:
    """``(2, samples)`` float32: the sum of a generated song's stems, 44.1 kHz."""
    stems, _ = generated_song(0, seconds=seconds, seed=0)
    return stems.sum(0)


def assert_stems_sum_to(paths: list[Any], part: np.ndarray, atol: float) -> None:
    """The stem files at ``paths`` each have ``part``'s shape and add back up to it."""
    stems = [audio_io.load(p)[0] for p in paths]
    assert all(s.shape == part.shape for s in stems)
    np.testing.assert_allclose(sum(stems), part, atol=atol)


def write_mixture(path: Path, repeats: int = 1) -> Path:
    """A generated 3 s song (``repeats`` times over) as a 32-bit float WAV."""
    return audio_io.save(path, np.tile(mixture(), (1, repeats)), 44100)


class OscClient:
    """A python-osc UDP client that also reads the server's replies (they come back to its port)."""

    def __init__(self, server: tuple[str, int]) -> None:
        self.client = SimpleUDPClient(server[0], server[1])
        self.client._sock.bind(("127.0.0.1", 0))
        self.server = server
        self.inbox: list[Message] = []

    @property
    def port(self) -> int:
        return int(self.client._sock.getsockname()[1])

    def close(self) -> None:
        self.client.close()

    def send(self, address: str, *args: object) -> None:
        self.client.send_message(address, list(args))

    def send_bundle(self, messages: list[tuple[str, tuple[Any, ...]]], timetag: float = IMMEDIATELY) -> None:
        bundle = OscBundleBuilder(timetag)  # type: ignore[arg-type]  # seconds since the epoch, a float
        for address, args in messages:
            builder = OscMessageBuilder(address)
            for a in args:
                builder.add_arg(a)
            bundle.add_content(builder.build())
        self.client.send(bundle.build())

    def receive(self, timeout: float) -> Message | None:
        """The next reply, or ``None`` after ``timeout`` seconds."""
        data = self.client.receive(timeout)
        if not data:
            return None
        message = OscMessage(data)
        return Message(message.address, tuple(message.params))

    def wait_for(self, match: Callable[[Message], bool] | str, timeout: float = 10.0) -> Message:
        """The first reply (earlier ones kept in :attr:`inbox`) that matches; fails the test after ``timeout``."""
        test = match if callable(match) else (lambda m: m.address == match)
        for i, m in enumerate(self.inbox):
            if test(m):
                return self.inbox.pop(i)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            reply = self.receive(left)
            if reply is not None and test(reply):
                return reply
            if reply is not None:
                self.inbox.append(reply)
        raise AssertionError(f"no reply matching {match} within {timeout} s; got {self.inbox}")

    def replies(self, quiet: float = 0.3) -> list[Message]:
        """Every reply until none has come for ``quiet`` seconds (plus those kept in the inbox)."""
        out, self.inbox = self.inbox, []
        while (reply := self.receive(quiet)) is not None:
            out.append(reply)
        return out

    def request(self, address: str, *args: object, first: float = 5.0, quiet: float = 0.1) -> list[Message]:
        """Send a message and return its replies: the first within ``first`` seconds, then the rest
        (the server sends one request's replies back to back, so a ``quiet`` gap ends them)."""
        self.inbox.clear()
        self.send(address, *args)
        reply = self.receive(first)
        return [] if reply is None else [reply, *self.replies(quiet)]


def raw_socket() -> socket.socket:
    """A plain UDP socket for sending what no OSC client would."""
    return socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
