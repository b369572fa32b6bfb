"""The OSC server's parts without a socket: patterns, signatures, packets, paths, senders, rate limit, jobs."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from plugin_host.control.osc.jobs import CANCELLED, DONE, ERROR, JobCancelled, JobError, JobManager
from plugin_host.control.osc.messages import MalformedPacket, Message, decode, encode
from plugin_host.control.osc.patterns import PatternError, compile_pattern, is_pattern, matching
from plugin_host.control.osc.security import PathPolicy, PathRefused, RateLimiter, SenderPolicy, parse_network
from plugin_host.control.osc.signature import ArgumentError, Signature

# -- address patterns -------------------------------------------------------------------------

ADDRESSES = ["/stem/drums/mute", "/stem/bass/mute", "/stem/drums/solo", "/stem/other/gain", "/chain/eq/gain_db"]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("/stem/*/mute", ["/stem/drums/mute", "/stem/bass/mute"]),
        ("/stem/drums/*", ["/stem/drums/mute", "/stem/drums/solo"]),
        ("/stem/?ass/mute", ["/stem/bass/mute"]),
        ("/stem/[bd]*/mute", ["/stem/drums/mute", "/stem/bass/mute"]),
        ("/stem/[a-c]*/mute", ["/stem/bass/mute"]),
        ("/stem/[!b]*/mute", ["/stem/drums/mute"]),
        ("/stem/{drums,other}/*", ["/stem/drums/mute", "/stem/drums/solo", "/stem/other/gain"]),
        ("/*/eq/gain_db", ["/chain/eq/gain_db"]),
        ("/*", []),  # '*' never crosses a '/'
    ],
)
def test_osc_patterns_select_what_the_spec_says(pattern: str, expected: list[str]) -> None:
    assert matching(pattern, ADDRESSES) == expected


@pytest.mark.parametrize("pattern", ["/stem/[ab/mute", "/stem/{a,b/mute", "/stem/a]/mute", "/stem/[]/mute"])
def test_malformed_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(PatternError, match="address pattern"):
        compile_pattern(pattern)


def test_plain_addresses_are_not_patterns_and_regex_characters_are_literal() -> None:
    assert not is_pattern("/chain/eq/gain_db") and is_pattern("/stem/*/mute")
    assert matching("/a.b", ["/a.b", "/axb"]) == ["/a.b"]


# -- signatures -------------------------------------------------------------------------------

SPLIT = Signature.parse("s:input_path s:output_dir [s:stems|i:clusters]")


def test_a_signature_binds_names_and_picks_the_alternative_by_type() -> None:
    assert SPLIT.bind(("a.wav", "out")) == {"input_path": "a.wav", "output_dir": "out"}
    assert SPLIT.bind(("a.wav", "out", "vocals")) == {"input_path": "a.wav", "output_dir": "out", "stems": "vocals"}
    assert SPLIT.bind(("a.wav", "out", 3.0)) == {"input_path": "a.wav", "output_dir": "out", "clusters": 3}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "missing s:input_path; expects s:input_path s:output_dir [s:stems|i:clusters]; got no arguments"),
        (("a.wav",), "missing s:output_dir; expects s:input_path s:output_dir [s:stems|i:clusters]; got s:'a.wav'"),
        ((1, "out"), "s:input_path must be a string, got i:1"),
        (("a.wav", "out", 2.5), "[s:stems|i:clusters] must be a string or integer, got f:2.5"),
        (("a.wav", "out", 2, 3), "1 argument(s) too many"),
    ],
)
def test_a_signature_says_what_it_expected_and_what_arrived(args: tuple, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ArgumentError) as caught:
        SPLIT.bind(args)
    assert message in str(caught.value)


def test_items_in_one_bracket_come_all_together_or_not_at_all() -> None:
    ranged = Signature.parse("s:input_path s:output_dir [s:stems|i:clusters] [f:start f:length]")
    assert str(ranged) == "s:input_path s:output_dir [s:stems|i:clusters] [f:start f:length]"
    assert ranged.bind(("a.wav", "out")) == {"input_path": "a.wav", "output_dir": "out"}
    assert ranged.bind(("a.wav", "out", "", 1, 2.5)) == {
        "input_path": "a.wav",
        "output_dir": "out",
        "stems": "",
        "start": 1.0,
        "length": 2.5,
    }
    with pytest.raises(ArgumentError, match=r"missing f:length \(f:start and f:length go together\); expects .*\[f:start f:length\]"):
        ranged.bind(("a.wav", "out", 3, 1.0))


def test_toggles_take_numbers_and_booleans_and_values_keep_their_type() -> None:
    toggle = Signature.parse("[t:on]")
    assert toggle.bind((1.0,)) == {"on": True} and toggle.bind((0,)) == {"on": False} and toggle.bind((True,)) == {"on": True}
    assert toggle.bind(()) == {}
    value = Signature.parse("[v:value]")
    assert value.bind(("LPF24",)) == {"value": "LPF24"} and value.bind((-3,)) == {"value": -3}
    with pytest.raises(ArgumentError, match="must be a number, got s:'loud'"):
        Signature.parse("f:gain").bind(("loud",))
    with pytest.raises(ArgumentError, match="must be a number"):
        Signature.parse("f:gain").bind((float("nan"),))


def test_a_rest_item_takes_everything() -> None:
    assert Signature.parse("*:args").bind((1, "a", 2.0)) == {"args": (1, "a", 2.0)}
    assert Signature.parse("*:args").bind(()) == {"args": ()}


# -- packets ----------------------------------------------------------------------------------


def message(address: str, *args: Any) -> bytes:
    builder = OscMessageBuilder(address)
    for a in args:
        builder.add_arg(a)
    return builder.build().dgram


def test_a_message_round_trips() -> None:
    assert decode(encode(Message("/chain/eq/gain_db", (-3.0, "x", 7, True)))) == [Message("/chain/eq/gain_db", (-3.0, "x", 7, True))]


def test_bundles_keep_their_order_even_when_timetags_differ() -> None:
    inner = OscBundleBuilder(IMMEDIATELY)
    inner.add_content(OscMessageBuilder("/b").build())
    outer = OscBundleBuilder(time.time() + 3600)  # type: ignore[arg-type]  # an hour in the future: applied now, in order
    outer.add_content(OscMessageBuilder("/a").build())
    outer.add_content(inner.build())
    outer.add_content(OscMessageBuilder("/c").build())
    assert [m.address for m in decode(outer.build().dgram)] == ["/a", "/b", "/c"]


@pytest.mark.parametrize("garbage", [b"", b"hello", b"/ping\x00", b"#bundle\x00\x00", message("/x", 1)[:-2], b"/a\x00\x00,q\x00\x00"])
def test_garbage_raises_malformed_packet(garbage: bytes) -> None:
    with pytest.raises(MalformedPacket):
        decode(garbage)


# -- paths ------------------------------------------------------------------------------------


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    music, outside = tmp_path / "music", tmp_path / "music-evil"
    music.mkdir()
    outside.mkdir()
    (music / "song.wav").write_bytes(b"x")
    (outside / "secret.wav").write_bytes(b"x")
    os.symlink(outside / "secret.wav", music / "link.wav")
    os.symlink(outside, music / "linkdir")
    return music, outside


def test_paths_inside_a_root_resolve_relative_to_the_first_root(roots: tuple[Path, Path]) -> None:
    music, _ = roots
    policy = PathPolicy([music])
    assert policy.input_file("song.wav") == music.resolve() / "song.wav"
    assert policy.input_file(str(music / "sub" / ".." / "song.wav")) == music.resolve() / "song.wav"
    assert policy.output_dir("stems/new") == music.resolve() / "stems" / "new"


@pytest.mark.parametrize(
    "attempt", ["../music-evil/secret.wav", "link.wav", "linkdir/secret.wav", "/etc/passwd", "sub/../../music-evil/secret.wav"]
)
def test_paths_that_lead_out_of_the_roots_are_refused(roots: tuple[Path, Path], attempt: str) -> None:
    music, _ = roots
    with pytest.raises(PathRefused, match="outside the allowed roots"):
        PathPolicy([music]).input_file(attempt)


def test_a_root_name_prefix_is_not_inside_the_root(roots: tuple[Path, Path]) -> None:
    music, outside = roots
    with pytest.raises(PathRefused, match="outside the allowed roots"):
        PathPolicy([music]).input_file(str(outside / "secret.wav"))  # /music-evil starts with /music as text
    assert PathPolicy([music, outside]).input_file(str(outside / "secret.wav")).name == "secret.wav"


def test_outputs_never_replace_inputs_and_replace_files_only_when_allowed(roots: tuple[Path, Path]) -> None:
    music, _ = roots
    song = music.resolve() / "song.wav"
    with pytest.raises(PathRefused, match="output would overwrite an input"):
        PathPolicy([music], overwrite=True).output_file("song.wav", inputs=[song])
    with pytest.raises(PathRefused, match="output exists; choose another output or start the server with --overwrite"):
        PathPolicy([music]).output_file("song.wav")
    assert PathPolicy([music], overwrite=True).output_file("song.wav") == song
    with pytest.raises(PathRefused, match="file not found"):
        PathPolicy([music]).input_file("missing.wav")
    with pytest.raises(PathRefused, match="not a usable path"):
        PathPolicy([music]).input_file("a\x00b")


def test_a_root_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="root is not a directory"):
        PathPolicy([tmp_path / "nope"])


# -- senders ----------------------------------------------------------------------------------


def test_the_allow_list_takes_addresses_and_networks() -> None:
    policy = SenderPolicy(["192.168.1.0/24", "10.0.0.7", "::1"])
    assert policy.allows("192.168.1.20") and policy.allows("10.0.0.7") and policy.allows("::1")
    assert policy.allows("::ffff:192.168.1.9")  # an IPv4 client seen through an IPv6 socket
    assert not policy.allows("192.168.2.1") and not policy.allows("127.0.0.1") and not policy.allows("not-an-ip")
    assert SenderPolicy().allows("203.0.113.5")
    with pytest.raises(ValueError, match="--allow 'kitchen': not an IP address or network"):
        parse_network("kitchen")


def test_the_rate_limit_allows_bursts_then_the_average_rate_per_host() -> None:
    limiter = RateLimiter(rate=10, burst=5)
    assert all(limiter.allow("a", now=0.0) for _ in range(5))
    assert not limiter.allow("a", now=0.0)
    assert limiter.allow("b", now=0.0)  # another host has its own bucket
    assert limiter.allow("a", now=0.1) and not limiter.allow("a", now=0.1)  # one token back after 0.1 s
    assert not limiter.allow("a", cost=3, now=0.2) and limiter.allow("a", now=0.2)


# -- jobs -------------------------------------------------------------------------------------


class Recorder:
    """Collects the replies jobs send, and wakes a waiter when one arrives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.changed = threading.Condition()

    def __call__(self, job: object, message: Message) -> None:
        with self.changed:
            self.messages.append(message)
            self.changed.notify_all()

    def wait_for(self, address: str, timeout: float = 5.0) -> Message:
        with self.changed:
            ok = self.changed.wait_for(lambda: any(m.address == address for m in self.messages), timeout)
        assert ok, f"no {address} in {self.messages}"
        return next(m for m in self.messages if m.address == address)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def test_a_job_reports_start_progress_and_done_in_order(recorder: Recorder) -> None:
    jobs = JobManager(recorder, progress_interval=0.0)
    try:

        def work(progress):  # type: ignore[no-untyped-def]
            progress(0.5)
            return [Path("a.wav"), Path("b.wav")]

        job = jobs.submit("split", "x", work, None)
        recorder.wait_for("/job/done")
        assert recorder.messages == [
            Message("/job/progress", (job.id, 0.0)),
            Message("/job/progress", (job.id, 0.5)),
            Message("/job/done", (job.id, "a.wav", "b.wav")),
        ]
        assert job.state == DONE and job.progress == 1.0
    finally:
        jobs.shutdown()


def test_a_failing_job_reports_one_line_and_the_worker_goes_on(recorder: Recorder) -> None:
    jobs = JobManager(recorder)
    try:
        jobs.submit("split", "x", lambda progress: (_ for _ in ()).throw(ValueError("song.wav: file not found\nmore")), None)
        assert recorder.wait_for("/job/error").args[1] == "song.wav: file not found"
        jobs.submit("split", "y", lambda progress: [], None)
        recorder.wait_for("/job/done")
    finally:
        jobs.shutdown()


def test_the_queue_is_bounded_and_a_queued_job_cancels_at_once(recorder: Recorder) -> None:
    release = threading.Event()
    jobs = JobManager(recorder, workers=1, max_queued=2)

    def blocker(progress: Callable[[float], None]) -> list[Path]:
        release.wait(5)
        return []

    try:
        jobs.submit("split", "blocker", blocker, None)
        recorder.wait_for("/job/progress")  # the blocker runs; the queue is empty again
        queued = [jobs.submit("split", f"q{i}", lambda progress: [], None) for i in range(2)]
        with pytest.raises(JobError, match=r"queue full: 2 jobs are waiting \(limit 2\)"):
            jobs.submit("split", "one too many", lambda progress: [], None)
        assert jobs.cancel(queued[0].id).state == CANCELLED
        assert Message("/job/cancelled", (queued[0].id,)) in recorder.messages
        assert jobs.counts() == (1, 1)
        with pytest.raises(JobError, match=f"job {queued[0].id} has already finished \\(cancelled\\)"):
            jobs.cancel(queued[0].id)
        with pytest.raises(JobError, match="no job 99; queued or running jobs: 1, 3"):
            jobs.cancel(99)
    finally:
        release.set()
        jobs.shutdown()


def test_a_running_job_stops_at_its_next_progress_report(recorder: Recorder) -> None:
    started, steps = threading.Event(), []
    jobs = JobManager(recorder, progress_interval=0.0)
    try:

        def work(progress):  # type: ignore[no-untyped-def]
            started.set()
            for i in range(200):
                progress(i / 200)
                steps.append(i)
                time.sleep(0.005)
            return []

        job = jobs.submit("split", "x", work, None)
        started.wait(5)
        jobs.cancel(job.id)
        recorder.wait_for("/job/cancelled")
        assert job.state == CANCELLED and len(steps) < 200
    finally:
        jobs.shutdown()


def test_shutdown_cancels_queued_and_running_jobs_and_refuses_new_ones(recorder: Recorder) -> None:
    jobs = JobManager(recorder, workers=1)

    def slow(progress):  # type: ignore[no-untyped-def]
        while True:
            progress(0.1)
            time.sleep(0.01)

    running = jobs.submit("split", "a", slow, None)
    waiting = jobs.submit("split", "b", slow, None)
    recorder.wait_for("/job/progress")
    assert jobs.shutdown(timeout=5) == 2
    assert running.state == CANCELLED and waiting.state == CANCELLED
    with pytest.raises(JobError, match="the server is stopping"):
        jobs.submit("split", "c", slow, None)


def test_an_unexpected_exception_is_reported_not_raised(recorder: Recorder) -> None:
    jobs = JobManager(recorder)

    def buggy(progress: Callable[[float], None]) -> list[Path]:
        return [Path(str(1 / 0))]

    try:
        jobs.submit("render", "x", buggy, None)
        assert recorder.wait_for("/job/error").args[1] == "division by zero"
        assert jobs.jobs()[0].state == ERROR
    finally:
        jobs.shutdown()


def test_job_cancelled_is_what_progress_raises() -> None:
    assert issubclass(JobCancelled, Exception) and not issubclass(JobCancelled, ValueError)
