"""Real UDP round trips on loopback: a python-osc client against a running server (one model for the session)."""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mido
import numpy as np
import pytest
from osc_support import OscClient, assert_stems_sum_to, mixture, raw_socket, write_mixture, write_presets

from plugin_host.control.osc.messages import Message
from plugin_host.control.osc.service import ServeOptions, Service
from separator import Separator
from stembase import audio as audio_io

STEMS = ["drums", "bass", "guitar", "vocals", "other"]


@pytest.fixture(scope="session")
def short_segments(separator: Separator) -> Separator:
    """The session's model, in 2-second segments: progress (and so cancelling) comes every 2 s of audio."""
    return Separator(separator.model, "cpu", segment_seconds=2.0, overlap_seconds=0.5)


class Slowed:
    """A separator whose every progress step takes 0.2 s longer: a job that is surely still running when a test acts."""

    def __init__(self, inner: Separator) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def separate_file(self, path: Path, out_dir: Path, progress: Callable[[float], None], **kwargs: Any) -> list[Path]:
        def slow(fraction: float) -> None:
            time.sleep(0.2)
            progress(fraction)

        return self.inner.separate_file(path, out_dir, progress=slow, **kwargs)


@pytest.fixture(scope="session")
def slowed(short_segments: Separator) -> Separator:
    return Slowed(short_segments)  # type: ignore[return-value]


@pytest.fixture(scope="session")
def songs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("songs")
    return {"mix": write_mixture(folder / "mix.wav"), "long": write_mixture(folder / "long.wav", repeats=10)}


@pytest.fixture
def root(tmp_path: Path, songs: dict[str, Path]) -> Path:
    """A server root holding mix.wav (3 s), long.wav (30 s), the test presets, and a folder outside it."""
    music = tmp_path / "music"
    music.mkdir()
    for name, path in songs.items():
        os.link(path, music / f"{name}.wav")  # a hard link is a file of this folder (a symlink would lead out)
    write_presets(music)
    (tmp_path / "outside").mkdir()
    return music


def start(root: Path, separator: Separator, **options: object) -> Service:
    return Service(ServeOptions(port=0, roots=[str(root)], **options), separator=separator).start()  # type: ignore[arg-type]


@pytest.fixture
def service(root: Path, short_segments: Separator) -> Iterator[Service]:
    server = start(root, short_segments, preset=str(root / "trim-hp.yaml"))
    yield server
    server.stop()


@pytest.fixture
def client(service: Service) -> Iterator[OscClient]:
    c = OscClient(service.address)
    yield c
    c.close()


def errors(replies: list[Message]) -> list[str]:
    return [m.args[1] for m in replies if m.address == "/error"]


# -- basics -----------------------------------------------------------------------------------


def test_ping_answers_pong_with_the_arguments(client: OscClient) -> None:
    assert client.request("/ping", 7, "x") == [Message("/pong", (7, "x"))]


def test_status_names_version_preset_queue_jobs_and_model(client: OscClient) -> None:
    ((address, (version, preset, queued, running, model)),) = [(m.address, m.args) for m in client.request("/status")]
    assert address == "/status" and version and preset == "trim-hp" and (queued, running) == (0, 0) and model == "ready"


def test_help_lists_the_address_space(client: OscClient) -> None:
    replies = client.request("/help")
    addresses = [m.args[0] for m in replies if m.address == "/help"]
    assert {"/split", "/render", "/chain/{stage}/{param}", "/stem/{name}/mute", "/midi/learn"} <= set(addresses)
    assert replies[-1] == Message("/help/end", (len(addresses),))


# -- jobs -------------------------------------------------------------------------------------


def test_split_writes_every_stem_and_they_add_up_to_the_mixture(client: OscClient, root: Path) -> None:
    client.send("/split", "mix.wav", "stems")
    (job,) = client.wait_for("/job/accepted").args
    assert client.wait_for("/job/progress").args == (job, 0.0)
    done = client.wait_for(lambda m: m.address in ("/job/done", "/job/error"), timeout=60)
    assert done.address == "/job/done", done
    paths = [Path(p) for p in done.args[1:]]
    assert done.args[0] == job and [p.stem for p in paths] == STEMS
    assert all(p.parent == root.resolve() / "stems" for p in paths)
    assert_stems_sum_to(paths, mixture(), atol=1e-4)
    assert sorted(f.name for f in (root / "stems").iterdir()) == sorted(f"{s}.wav" for s in STEMS)  # no temporary files


@pytest.mark.parametrize(("extra", "names"), [(("vocals",), ["vocals", "other"]), ((2,), ["source1", "source2"])])
def test_split_takes_named_stems_or_a_cluster_count(client: OscClient, extra: tuple[object, ...], names: list[str]) -> None:
    client.send("/split", "mix.wav", "out", *extra)
    done = client.wait_for(lambda m: m.address in ("/job/done", "/job/error"), timeout=60)
    assert [Path(p).stem for p in done.args[1:]] == names, done


def test_split_of_a_range_ends_with_the_paths_then_start_and_length(client: OscClient, root: Path) -> None:
    client.send("/split", "mix.wav", "range", "", 0.5, 1.25)  # "": the default stems, so the range can follow
    done = client.wait_for(lambda m: m.address in ("/job/done", "/job/error"), timeout=60)
    assert done.address == "/job/done", done
    *paths, start, length = done.args[1:]
    assert [Path(p).stem for p in paths] == STEMS and (start, length) == (0.5, 1.25)
    assert_stems_sum_to(paths, mixture()[:, 22050 : 22050 + 55125], atol=1e-4)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("vocals", 2.5, 1.0),
            "mix.wav: the range 2.5 s + 1 s ends after the end of the file (3.000 s long); use a length of at most 0.5",
        ),
        (("vocals", -1.0, 1.0), "mix.wav: start -1 s is before the beginning; use a start of 0 s or more"),
        (("vocals", 1.0), "missing f:length (f:start and f:length go together)"),
    ],
)
def test_a_bad_range_is_refused_at_once_in_one_line(client: OscClient, args: tuple[object, ...], message: str) -> None:
    replies = client.request("/split", "mix.wav", "bad-range", *args)
    assert [m.address for m in replies] == ["/error"] and message in replies[0].args[1], replies


def test_job_accepted_comes_before_every_other_message_of_its_job_under_load(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Many short render jobs on four workers, over real UDP on loopback, with the network thread slowed just
    # after it has handled a request (as on a busy machine): a worker must still not speak before /job/accepted.
    service = Service(ServeOptions(port=0, roots=[str(root)], preset=str(root / "trim-hp.yaml"), jobs=4, queue=64))
    deliver = service.server.deliver

    def slow_deliver(messages: list[Message], reply_to: Any) -> None:
        time.sleep(0.005)
        deliver(messages, reply_to)

    monkeypatch.setattr(service.server, "deliver", slow_deliver)
    service.start()
    client = OscClient(service.address)
    n_jobs = 40
    try:
        for i in range(n_jobs):
            client.send("/render", "mix.wav", f"out/{i}.wav")
        finished: set[int] = set()
        first: dict[int, str] = {}
        deadline = time.monotonic() + 120
        while len(finished) < n_jobs and time.monotonic() < deadline:
            message = client.receive(5.0)
            assert message is not None, f"{len(finished)} of {n_jobs} jobs finished; first messages {first}"
            assert message.address != "/error", message
            job = int(message.args[0])
            first.setdefault(job, message.address)
            if message.address in ("/job/done", "/job/error", "/job/cancelled"):
                finished.add(job)
    finally:
        client.close()
        service.stop()
    assert len(first) == n_jobs
    assert {job: address for job, address in first.items() if address != "/job/accepted"} == {}


def test_render_runs_the_loaded_chain_with_its_parameters_now(client: OscClient, root: Path) -> None:
    client.request("/chain/trim/gain_db", -6.0)
    client.send("/render", "mix.wav", "rendered/mix-6db.wav")
    client.wait_for("/job/accepted")
    done = client.wait_for(lambda m: m.address in ("/job/done", "/job/error"), timeout=60)
    assert done.address == "/job/done", done
    rendered, rate = audio_io.load(done.args[1])
    assert rate == 44100 and rendered.shape[-1] >= mixture().shape[-1]
    level = np.sqrt(np.mean(rendered[:, 4410:-4410] ** 2)) / np.sqrt(np.mean(mixture()[:, 4410:-4410] ** 2))
    assert 20 * np.log10(level) == pytest.approx(-6.0, abs=0.5)  # the high-pass at 40 Hz takes little


@pytest.mark.parametrize(
    ("settings", "heard"),
    [
        ([("/stem/*/mute", 1), ("/stem/vocals/mute", 0)], ["vocals"]),
        ([("/stem/vocals/solo", 1)], ["vocals"]),
        ([("/stem/drums/mute", 1)], ["vocals", "other"]),
        ([("/stem/drums/solo", 1), ("/stem/other/solo", 1)], ["drums", "other"]),
    ],
)
def test_render_with_a_split_preset_plays_exactly_the_stems_that_mute_and_solo_leave(
    client: OscClient, short_segments: Separator, settings: list[tuple[str, int]], heard: list[str]
) -> None:
    client.request("/preset/load", "split-remix.yaml")
    for address, value in settings:
        client.request(address, value)
    client.send("/render", "mix.wav", "remix.wav")
    done = client.wait_for(lambda m: m.address in ("/job/done", "/job/error"), timeout=60)
    assert done.address == "/job/done", done
    rendered, _ = audio_io.load(done.args[1])
    # the same model on the same mixture after split-remix's trim (pedalboard's Gain: +1 dB by default),
    # then drums 3 dB down and the rest at unity
    trimmed = (mixture() * 10 ** (1 / 20)).astype(np.float32)
    stems = short_segments.separate(trimmed, 44100, stems=["drums", "vocals"])
    gains = {"drums": 10 ** (-3 / 20), "vocals": 1.0, "other": 1.0}
    expected = sum(gains[name] * stems[name] for name in heard)
    n = mixture().shape[-1]
    assert rendered.shape[0] == 2 and rendered.shape[-1] >= n
    np.testing.assert_allclose(rendered[:, :n], expected, atol=2e-3)


def test_cancel_stops_a_running_split_and_leaves_no_files(root: Path, slowed: Separator) -> None:
    server = start(root, slowed)
    client = OscClient(server.address)
    try:
        _cancel_and_check(client, root)
    finally:
        server.stop()
        client.close()


def _cancel_and_check(client: OscClient, root: Path) -> None:
    client.send("/split", "long.wav", "cancelled")
    (job,) = client.wait_for("/job/accepted").args
    client.wait_for("/job/progress")
    client.send("/job/cancel", job)
    assert client.wait_for("/job/cancel").args in [(job, "stopping"), (job, "cancelled")]
    assert client.wait_for(lambda m: m.address in ("/job/cancelled", "/job/done"), timeout=30) == Message("/job/cancelled", (job,))
    assert not (root / "cancelled").exists() or list((root / "cancelled").iterdir()) == []
    (info,) = [m for m in client.request("/job/list") if m.address == "/job/info"]
    assert info.args[:3] == (job, "split", "cancelled")


def test_a_full_queue_refuses_the_next_job(root: Path, slowed: Separator) -> None:
    server = start(root, slowed, queue=1)
    c = OscClient(server.address)
    try:
        c.send("/split", "long.wav", "q1")
        c.wait_for("/job/progress")  # the first runs: the queue is empty
        c.send("/split", "long.wav", "q2")
        c.wait_for("/job/accepted")
        c.wait_for("/job/accepted")
        replies = c.request("/split", "long.wav", "q3")
        assert errors(replies) == ["queue full: 1 jobs are waiting (limit 1); try again when one is done"]
    finally:
        assert server.stop() == 2  # stopping cancels the running and the queued job
        c.close()
    assert not (root / "q1").exists() or list((root / "q1").iterdir()) == []


def test_stopping_the_server_cancels_running_jobs_and_tells_their_clients(root: Path, slowed: Separator) -> None:
    server = start(root, slowed)
    c = OscClient(server.address)
    try:
        c.send("/split", "long.wav", "stopped")
        (job,) = c.wait_for("/job/accepted").args
        c.wait_for("/job/progress")
        assert server.stop() == 1
        assert c.wait_for("/job/cancelled").args == (job,)
        assert not (root / "stopped").exists() or list((root / "stopped").iterdir()) == []
    finally:
        c.close()


def test_ping_stays_fast_while_a_split_runs(client: OscClient) -> None:
    """The median /ping round trip during a split stays under 20 ms (the machine may be busy with other work)."""
    client.send("/split", "long.wav", "latency")
    (job,) = client.wait_for("/job/accepted").args
    client.wait_for("/job/progress")
    rtts: list[float] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(rtts) < 200:
        sent = time.perf_counter()
        client.send("/ping", len(rtts))
        reply = client.wait_for(lambda m: m.address == "/pong" or (m.address in ("/job/done", "/job/error") and m.args[0] == job))
        if reply.address != "/pong":  # the split is over: only pings answered while it ran count
            break
        rtts.append(time.perf_counter() - sent)
        time.sleep(0.01)
    assert len(rtts) >= 10, f"the split ended after {len(rtts)} pings"
    median = statistics.median(rtts)
    print(f"\n/ping during a split: median {1e3 * median:.2f} ms, p90 {1e3 * sorted(rtts)[int(0.9 * len(rtts))]:.2f} ms, n={len(rtts)}")
    assert median < 0.020


# -- presets ----------------------------------------------------------------------------------


def test_preset_load_replies_and_sends_every_control_as_feedback(client: OscClient) -> None:
    replies = client.request("/preset/load", "split-remix.yaml")
    assert replies[0] == Message("/preset/loaded", ("split-remix", "Split into drums, vocals and other; remix."))
    feedback = {m.address: m.args for m in replies[1:]}
    assert feedback["/stem/drums/gain"] == (-3.0,) and feedback["/stem/vocals/mute"] == (0,) and "/chain/trim/gain_db/n" in feedback


def test_preset_save_then_load_keeps_parameters_and_learned_midi(client: OscClient, service: Service, root: Path) -> None:
    client.request("/chain/hp/cutoff_frequency_hz", 120.0)
    assert client.request("/midi/learn", "trim.gain_db") == [Message("/midi/learn", ("trim.gain_db",))]
    service._on_midi(mido.Message("control_change", channel=2, control=21, value=5))  # what the MIDI port's thread calls
    assert client.wait_for("/midi/learned").args == ("trim.gain_db", 3, 21, 7)
    (saved,) = client.request("/preset/save", "mine")
    assert saved == Message("/preset/saved", (str(root.resolve() / "presets" / "mine.yaml"),))
    client.request("/preset/load", "trim-hp.yaml")
    assert client.request("/midi/map/list") == [Message("/midi/map/list/end", (0,))]
    client.request("/preset/load", "mine")
    assert client.request("/chain/hp/cutoff_frequency_hz") == [Message("/chain/hp/cutoff_frequency_hz", (120.0,))]
    assert client.request("/midi/map/list")[0] == Message("/midi/map", ("trim.gain_db", 3, 21, -96.0, 48.0, "auto", 7, "jump"))
    names = [m.args[0] for m in client.request("/preset/list") if m.address == "/preset/info"]
    assert names[0] == "mine" and "karaoke" in names


def test_preset_get_returns_the_chain_as_json(client: OscClient) -> None:
    client.request("/chain/trim/gain_db", -2.5)
    ((address, (text,)),) = [(m.address, m.args) for m in client.request("/preset/get")]
    data = json.loads(text)
    assert address == "/preset/json" and data["name"] == "trim-hp"
    assert data["chain"][0] == {"plugin": "Gain", "name": "trim", "params": {"gain_db": -2.5}}


# -- parameters and feedback ------------------------------------------------------------------


def test_a_parameter_is_set_in_its_units_and_echoed_with_its_fader_position(client: OscClient) -> None:
    assert client.request("/chain/trim/gain_db", -6.0) == [
        Message("/chain/trim/gain_db", (-6.0,)),
        Message("/chain/trim/gain_db/n", (0.625,)),
    ]
    assert client.request("/chain/trim/gain_db") == [Message("/chain/trim/gain_db", (-6.0,))]


def test_a_normalised_set_follows_the_parameter_scale(client: OscClient) -> None:
    replies = client.request("/chain/hp/cutoff_frequency_hz/n", 0.5)
    assert replies[0].address == "/chain/hp/cutoff_frequency_hz" and replies[0].args[0] == pytest.approx(np.sqrt(10 * 24000), rel=1e-5)
    assert client.request("/chain/hp/cutoff_frequency_hz/n") == [Message("/chain/hp/cutoff_frequency_hz/n", (0.5,))]


def test_a_stage_may_be_named_by_its_index(client: OscClient) -> None:
    replies = client.request("/chain/0/gain_db", -1.0)
    assert Message("/chain/trim/gain_db", (-1.0,)) in replies and Message("/chain/0/gain_db", (-1.0,)) in replies


def test_feedback_reaches_other_clients_unless_they_opt_out(client: OscClient, service: Service) -> None:
    surface = OscClient(service.address)
    try:
        surface.request("/ping")  # a client is known once it has spoken
        client.request("/chain/trim/gain_db", -3.0)
        assert surface.replies() == [Message("/chain/trim/gain_db", (-3.0,)), Message("/chain/trim/gain_db/n", (pytest.approx(93 / 144),))]
        assert surface.request("/feedback", 0) == [Message("/feedback", (0,))]
        client.request("/chain/trim/gain_db", -4.0)
        assert surface.replies() == []
    finally:
        surface.close()


def test_midi_cc_moves_a_parameter_and_the_surfaces_follow(client: OscClient, service: Service) -> None:
    client.request("/midi/learn", "hp.cutoff_frequency_hz")
    service._on_midi(mido.Message("control_change", control=74, value=0))
    client.wait_for("/midi/learned")
    service._on_midi(mido.Message("control_change", control=74, value=127))
    assert client.wait_for("/chain/hp/cutoff_frequency_hz").args == (24000.0,)
    assert client.wait_for("/chain/hp/cutoff_frequency_hz/n").args == (1.0,)
    assert client.request("/midi/map/clear") == [Message("/midi/map/cleared", (1,))]


def test_program_change_loads_the_preset_from_the_list(root: Path, short_segments: Separator) -> None:
    server = start(root, short_segments, programs=[str(root / "trim-hp.yaml"), str(root / "split-remix.yaml")])
    c = OscClient(server.address)
    try:
        c.request("/ping")
        server._on_midi(mido.Message("program_change", program=1))
        assert c.wait_for("/preset/loaded").args[0] == "split-remix"
        assert "/stem/drums/gain" in [m.address for m in c.replies()]  # the surfaces redraw
        assert c.request("/status")[0].args[1] == "split-remix"
    finally:
        server.stop()
        c.close()


def test_stem_controls_and_a_wildcard_across_stems(client: OscClient) -> None:
    client.request("/preset/load", "split-remix.yaml")
    assert client.request("/stem/*/mute", 1) == [Message(f"/stem/{s}/mute", (1,)) for s in ("drums", "other", "vocals")]
    assert client.request("/stem/vocals/solo", 1.0) == [Message("/stem/vocals/solo", (1,))]
    replies = client.request("/stem/drums/gain", -12.0)
    assert replies[0] == Message("/stem/drums/gain", (-12.0,)) and replies[1].address == "/stem/drums/gain/n"
    assert client.request("/stem/list")[:3] == [
        Message("/stem/info", ("drums", -12.0, 1, 0)),
        Message("/stem/info", ("vocals", 0.0, 1, 1)),
        Message("/stem/info", ("other", 0.0, 1, 0)),
    ]
    assert client.request("/stem/{drums,vocals}/mute") == [Message("/stem/drums/mute", (1,)), Message("/stem/vocals/mute", (1,))]


def test_a_bundle_is_applied_in_order_even_with_a_future_timetag(client: OscClient) -> None:
    client.inbox.clear()
    sent = time.monotonic()
    client.send_bundle(
        [("/chain/trim/gain_db", (-6.0,)), ("/chain/trim/gain_db", (-9.0,)), ("/chain/trim/gain_db", ())], timetag=time.time() + 3600
    )
    replies = client.replies()
    assert time.monotonic() - sent < 2.0  # never scheduled by sleeping
    assert [m.args for m in replies if m.address == "/chain/trim/gain_db"] == [(-6.0,), (-9.0,), (-9.0,)]


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (("/nope",), "unknown address; send /help for the address list"),
        (("/chain/trim/gain",), 'Parameter named "gain" not found. Valid options: gain_db'),
        (("/statu",), "unknown address; did you mean /status"),
        (("/split", 1, 2), "s:input_path must be a string, got i:1"),
        (
            ("/split", "mix.wav"),
            "missing s:output_dir; expects s:input_path s:output_dir [s:stems|i:clusters] [f:start f:length]; got s:'mix.wav'",
        ),
        (("/job/cancel",), "missing i:job_id"),
        (("/job/cancel", 99), "no job 99; queued or running jobs: none"),
        (("/job/status", 99), "no job 99"),
        (("/chain/trim/volume", 1.0), 'Parameter named "volume" not found. Valid options: gain_db'),
        (("/chain/eq/gain_db", 1.0), 'Stage named "eq" not found. Valid options: trim, hp'),
        (("/chain/trim/gain_db", 100.0), "Value received for parameter 'gain_db' (100) is out of range [-96, 48]"),
        (("/chain/trim/gain_db", "loud"), "Value received for parameter 'gain_db' ('loud') is not a number in [-96, 48]"),
        (("/chain/trim/gain_db/n", 1.5), "normalised value 1.5 is out of range [0, 1]"),
        (("/chain/9/gain_db", 1.0), "Stage index 9 is out of range [0, 1]"),
        (("/stem/drums/mute", 1), "preset 'trim-hp' has no split stage, so it has no stems"),
        (("/stem/*/mute", 1), "the pattern matches no address"),
        (("/job/*",), "patterns select parameter and stem addresses only"),
        (("/chain/[t/gain_db", 1.0), "unclosed '[' in address pattern"),
        (("/preset/load", "nope"), 'Preset named "nope" not found'),
        (("/preset/load", "a b"), "'a b' is neither a preset name"),
        (("/split", "mix.wav", "out", "piano"), "unknown stem 'piano'; valid options: drums, bass, guitar, vocals, other"),
        (("/split", "mix.wav", "out", 99), "clusters must be an integer between 1 and 16, got 99"),
        (("/split", "missing.wav", "out"), "missing.wav: file not found"),
        (("/split", "trim-hp.yaml", "out"), "trim-hp.yaml: not a readable audio file"),
        (("/render", "mix.wav", "out.mp3"), "out.mp3: name a .wav or .flac output file"),
        (("/render", "mix.wav", "mix.wav"), "output would overwrite an input"),
        (("/midi/learn", "trim.volume"), 'Parameter named "volume" not found'),
        (("/midi/learn", "trim.gain_db", 9), "bits must be 7 or 14, got 9"),
        (("/help", "/zzz"), "no address starts with '/zzz'"),
    ],
)
def test_every_bad_request_gets_an_error_that_says_what_was_expected(client: OscClient, request_: tuple[object, ...], message: str) -> None:
    address, *args = request_
    replies = client.request(str(address), *args)
    assert [m.address for m in replies] == ["/error"], replies
    assert replies[0].args[0] == address
    assert message in replies[0].args[1]


def test_render_without_a_preset_and_into_an_existing_file_are_refused(root: Path, short_segments: Separator) -> None:
    server = start(root, short_segments)
    c = OscClient(server.address)
    try:
        assert errors(c.request("/render", "mix.wav", "x.wav")) == [
            "no preset is loaded; send /preset/load NAME first (/preset/list names them)"
        ]
        c.request("/preset/load", "trim-hp.yaml")
        assert (
            "output exists; choose another output or start the server with --overwrite"
            in errors(c.request("/render", "mix.wav", "split-remix.yaml"))[0]
        )
    finally:
        server.stop()
        c.close()


# -- paths and presets from the network ---------------------------------------------------------


@pytest.fixture
def escapes(root: Path) -> Path:
    outside = root.parent / "outside"
    audio_io.save(outside / "secret.wav", mixture()[:, :4410], 44100)
    (outside / "evil.yaml").write_text((root / "trim-hp.yaml").read_text())
    os.symlink(outside / "secret.wav", root / "link.wav")
    os.symlink(outside, root / "linkdir")
    return outside


@pytest.mark.parametrize(
    "request_",
    [
        ("/split", "../outside/secret.wav", "out"),
        ("/split", "{outside}/secret.wav", "out"),
        ("/split", "link.wav", "out"),
        ("/split", "mix.wav", "../outside/stems"),
        ("/split", "mix.wav", "linkdir/stems"),
        ("/split", "/etc/hostname", "out"),
        ("/render", "mix.wav", "../outside/x.wav"),
        ("/render", "mix.wav", "linkdir/x.wav"),
        ("/preset/load", "../outside/evil.yaml"),
        ("/preset/load", "linkdir/evil.yaml"),
        ("/preset/save", "../outside/saved.yaml"),
        ("/preset/save", "linkdir/saved.yaml"),
    ],
)
def test_paths_that_escape_the_roots_are_refused(client: OscClient, escapes: Path, request_: tuple[str, ...]) -> None:
    address, *args = (a.format(outside=escapes) for a in request_)
    (error,) = client.request(address, *args)
    assert error.address == "/error" and "outside the allowed roots" in error.args[1], error
    assert sorted(p.name for p in escapes.iterdir()) == ["evil.yaml", "secret.wav"]  # nothing written outside


def test_a_preset_with_a_vst3_plugin_needs_the_opt_in(root: Path, short_segments: Separator) -> None:
    (root / "fake.vst3").mkdir()
    (root / "vst.yaml").write_text("format: 1\nchain:\n  - vst3: fake.vst3\n")
    for allow, expected in [
        (False, "may load VST3 plugins only when the server runs with --allow-vst3"),
        (True, "is not a loadable VST3 plugin"),
    ]:
        server = start(root, short_segments, allow_vst3=allow)
        c = OscClient(server.address)
        try:
            (error,) = c.request("/preset/load", "vst.yaml")
            assert expected in error.args[1]
        finally:
            server.stop()
            c.close()


def test_a_preset_may_not_read_an_impulse_response_outside_the_roots(client: OscClient, escapes: Path, root: Path) -> None:
    (root / "room.yaml").write_text(
        f"format: 1\nchain:\n  - plugin: Convolution\n    params: {{impulse_response_filename: {escapes / 'secret.wav'}}}\n"
    )
    (error,) = client.request("/preset/load", "room.yaml")
    assert "reads" in error.args[1] and "outside the allowed roots and the preset's folder" in error.args[1]


# -- transport --------------------------------------------------------------------------------


def test_a_garbage_flood_is_counted_and_the_server_still_answers(client: OscClient, service: Service) -> None:
    rng = np.random.default_rng(0)
    garbage = [rng.bytes(int(n)) for n in rng.integers(1, 200, 1500)]
    garbage += [b"/chain/trim/gain_db\x00,q\x00\x00", b"#bundle\x00" + bytes(12), b"/x" + bytes(9000)] * 100
    with raw_socket() as s:
        for i, packet in enumerate(garbage):
            s.sendto(packet, service.address)
            if i % 200 == 0:
                time.sleep(0.005)
    deadline, pong = time.monotonic() + 5, None
    while pong is None and time.monotonic() < deadline:
        pong = next((m for m in client.request("/ping", "after", first=0.1) if m.address == "/pong"), None)
    assert pong == Message("/pong", ("after",))
    stats = service.server.stats
    assert stats.malformed > 0 and stats.oversized > 0
    assert stats.malformed + stats.oversized + stats.rate_limited == stats.packets - stats.messages  # every bad packet counted


def test_an_oversized_packet_gets_an_error(client: OscClient, service: Service) -> None:
    client.send("/ping", "x" * 9000)
    assert client.wait_for("/error").args[1] == "packet of more than 8192 bytes refused"
    assert service.server.stats.oversized == 1


def test_the_rate_limit_holds_back_a_flooding_sender(root: Path, short_segments: Separator) -> None:
    server = start(root, short_segments, rate=20.0)
    c = OscClient(server.address)
    try:
        for i in range(100):
            c.send("/ping", i)
        replies = c.replies()
        pongs = [m for m in replies if m.address == "/pong"]
        assert 35 <= len(pongs) <= 45  # the burst (2 x 20) and a little refill
        assert errors(replies) == ["rate limit: more than 20 messages per second; slow down"]  # once a second, not per packet
        assert server.server.stats.rate_limited == 100 - len(pongs)
    finally:
        server.stop()
        c.close()


def test_senders_outside_the_allow_list_are_ignored(root: Path, short_segments: Separator) -> None:
    server = start(root, short_segments, allow=["192.0.2.1"])
    c = OscClient(server.address)
    try:
        c.send("/ping")
        assert c.replies(quiet=0.5) == []
        assert server.server.stats.refused == 1
    finally:
        server.stop()
        c.close()


def test_replies_go_to_the_reply_port_on_the_senders_host(root: Path, short_segments: Separator) -> None:
    surface_in = raw_socket()
    surface_in.bind(("127.0.0.1", 0))
    surface_in.settimeout(2)
    server = start(root, short_segments, reply_port=surface_in.getsockname()[1])
    c = OscClient(server.address)
    try:
        c.send("/ping", 1)
        from pythonosc.osc_message import OscMessage

        reply = OscMessage(surface_in.recvfrom(65536)[0])
        assert (reply.address, reply.params) == ("/pong", [1])
        assert c.replies(quiet=0.2) == []  # nothing to the sending port
    finally:
        server.stop()
        c.close()
        surface_in.close()
