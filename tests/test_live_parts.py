"""The pieces of ``plugin-host live`` that need no JACK: ring buffers, timing, crossfaded windows, the stem mixer,
the OSC and MIDI routes. The real-time client itself is tested against a real jackd in test_live.py."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import mido
import numpy as np
import pytest

from plugin_host.control.live.client import LiveStats
from plugin_host.control.live.mixer import StemMixer
from plugin_host.control.live.plan import LivePlan, fade_in
from plugin_host.control.live.ring import FrameRing, Span
from plugin_host.control.live.routes import LiveRoutes
from plugin_host.control.live.worker import WindowSplitter, Worker
from plugin_host.control.midi import MidiMapper
from plugin_host.control.osc.messages import Feedback, Message
from plugin_host.errors import ParameterError
from plugin_host.midi_map import CcMapping

NAMES = ["drums", "bass", "guitar", "vocals", "other"]
RATE = 8000  # small windows keep these tests fast; the timing is the same in frames


class ShareSeparator:
    """Each stem is a fixed share of the input, changed per call so that windows differ (as a model's do); stems add up to it."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls, self.delay = 0, delay

    def separate(
        self, audio: np.ndarray, sample_rate: int, stems: list[str] | None = None, clusters: int | None = None
    ) -> dict[str, np.ndarray]:
        if self.delay:
            time.sleep(self.delay)
        self.calls += 1
        shares = np.random.default_rng(self.calls).dirichlet(np.ones(len(NAMES))).astype(np.float32)
        return {n: audio * s for n, s in zip(NAMES, shares, strict=True)}


def stream(seconds: float, channels: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((channels, int(seconds * RATE))).astype(np.float32) * np.float32(0.1)


# -- ring buffers --------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2,), (5, 2)])
def test_ring_gives_back_what_was_written_across_the_wrap(shape: tuple[int, ...]) -> None:
    ring = FrameRing(shape, capacity=100)
    data = np.random.default_rng(1).standard_normal((*shape, 250)).astype(np.float32)
    for start in range(0, 250, 30):
        ring.write(start, data[..., start : start + 30])
    out = np.zeros((*shape, 70), np.float32)
    np.testing.assert_array_equal(ring.read(180, out), data[..., 180:250])


def test_ring_reads_frames_before_the_start_as_silence() -> None:
    ring = FrameRing((1,), capacity=16)
    ring.write(0, np.ones((1, 8), np.float32))
    out = ring.read(-4, np.full((1, 8), 7.0, np.float32))
    np.testing.assert_array_equal(out, [[0, 0, 0, 0, 1, 1, 1, 1]])


def test_ring_adds_and_clears_across_the_wrap() -> None:
    ring = FrameRing((1,), capacity=10)
    ring.add(8, np.ones((1, 4), np.float32))
    ring.add(9, np.ones((1, 2), np.float32))
    np.testing.assert_array_equal(ring.read(8, np.zeros((1, 4), np.float32)), [[1, 2, 2, 1]])
    ring.clear(8, 4)
    np.testing.assert_array_equal(ring.read(8, np.zeros((1, 4), np.float32)), [[0, 0, 0, 0]])


def test_ring_refuses_an_empty_capacity() -> None:
    with pytest.raises(ValueError, match="positive number of frames, got 0"):
        FrameRing((2,), 0)


def test_span_holds_only_published_frames() -> None:
    span = Span(100, 200)
    assert span.holds(100, 200) and span.holds(150, 160)
    assert not span.holds(90, 110) and not span.holds(190, 210)
    assert Span().holds(-20, 0), "frames before the start are silence, always there"


# -- timing ---------------------------------------------------------------------------------------


def test_crossfade_ramps_are_complementary() -> None:
    ramp = fade_in(64)
    np.testing.assert_allclose(ramp + ramp[::-1], 1.0, atol=1e-6)
    assert ramp[0] < 0.01 and ramp[-1] > 0.99


def test_plan_frames_and_budget() -> None:
    plan = LivePlan(44100, 1024, window=4.0, hop=1.0, lookahead=0.5, latency=2.0)
    assert (plan.window_frames, plan.hop_frames, plan.lookahead_frames, plan.latency_frames) == (176400, 44100, 22050, 88200)
    assert plan.crossfade_frames == 11025
    assert plan.budget == pytest.approx(2.0 - 1.0 - 0.5 - 1024 / 44100)
    assert plan.window_end(0) - plan.window_start(0) == plan.window_frames


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"latency": 1.0}, r"parameter 'latency' \(1 s\) is too short: .* at least 1.546 s"),
        ({"hop": 3.0, "lookahead": 1.5, "latency": 9.0}, r"must hold the hop and the look-ahead \(3 \+ 1.5 s\)"),
        ({"window": -1.0}, r"parameter 'window' \(-1.0\) must be a positive number of seconds"),
        ({"crossfade": 0.8}, r"parameter 'crossfade' \(0.8\) is out of range \[0, 0.5\]"),
    ],
)
def test_plan_rejects_timings_that_cannot_work_and_says_which_option(settings: dict[str, float], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        LivePlan(44100, 1024, **{"window": 4.0, "hop": 1.0, "lookahead": 0.5, "latency": 2.0, **settings})


# -- the splitting worker ---------------------------------------------------------------------


def split_stream(x: np.ndarray, plan: LivePlan, separator: ShareSeparator) -> tuple[np.ndarray, WindowSplitter]:
    """Run the splitter over ``x`` window by window as the worker would, without real time; the stems it published."""
    source, stems = FrameRing((2,), plan.ring_frames), FrameRing((len(NAMES), 2), plan.ring_frames)
    splitter = WindowSplitter(separator, NAMES, plan, source, stems)
    source.write(0, x)
    n_windows = (x.shape[-1] - plan.lookahead_frames) // plan.hop_frames
    for k in range(n_windows):
        splitter.split(k, fresh=k == 0)
    end = splitter.published.end
    return stems.read(0, np.zeros((len(NAMES), 2, end), np.float32)), splitter


@pytest.mark.parametrize("lookahead", [0.0, 0.25, 0.5])
def test_crossfaded_windows_add_up_to_the_input(lookahead: float) -> None:
    plan = LivePlan(RATE, 64, window=1.0, hop=0.25, lookahead=lookahead, latency=1.0)
    x = stream(3.0)
    out, splitter = split_stream(x, plan, ShareSeparator())
    assert splitter.published.start == 0 and out.shape[-1] >= plan.frames(2.0)
    np.testing.assert_allclose(out.sum(0), x[:, : out.shape[-1]], atol=1e-5)


def test_crossfade_blends_neighbouring_windows_without_a_step() -> None:
    plan = LivePlan(RATE, 64, window=1.0, hop=0.25, lookahead=0.25, latency=1.0)
    x = np.ones((2, plan.frames(3.0)), np.float32)  # constant input: each window's stem is a constant share
    out, _ = split_stream(x, plan, ShareSeparator())
    drums = out[0, 0]
    steps = np.abs(np.diff(drums))
    assert steps.max() < 0.01, "the share changes between windows; the crossfade spreads the change over many frames"


def test_worker_skips_to_a_window_that_is_on_time_and_keeps_the_sum() -> None:
    plan = LivePlan(RATE, 64, window=1.0, hop=0.25, lookahead=0.25, latency=0.75)
    source, stems = FrameRing((2,), plan.ring_frames), FrameRing((len(NAMES), 2), plan.ring_frames)
    x = stream(4.0)
    source.write(0, x)
    splitter = WindowSplitter(ShareSeparator(), NAMES, plan, source, stems)
    now = [plan.frames(1.0)]  # the input is already a second on: window 0 would come too late
    worker = Worker(splitter, lambda: now[0]).start()
    try:
        deadline = time.monotonic() + 10
        while splitter.published.end < plan.frames(1.5) and time.monotonic() < deadline:
            now[0] = min(now[0] + 64, x.shape[-1])
            time.sleep(0.001)
    finally:
        worker.stop()
    span = splitter.published
    assert splitter.stats.skipped >= 1 and span.start > 0
    got = stems.read(span.start, np.zeros((len(NAMES), 2, span.end - span.start), np.float32))
    np.testing.assert_allclose(got.sum(0), x[:, span.start : span.end], atol=1e-5)


# -- the mixer ------------------------------------------------------------------------------------


def block(n: int = 256) -> np.ndarray:
    return np.ones((len(NAMES), 2, n), np.float32)


def run_mixer(mixer: StemMixer, stems: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out, mix = np.zeros_like(stems), np.zeros(stems.shape[1:], np.float32)
    mixer.process(stems, out, mix)
    return out, mix


def test_mixer_ramps_a_gain_change_over_one_block() -> None:
    mixer = StemMixer(NAMES)
    mixer.set_gain("vocals", 0.0)
    out, mix = run_mixer(mixer, block())
    ramp = out[NAMES.index("vocals"), 0]
    assert ramp[0] == pytest.approx(1 - 1 / 256) and ramp[-1] == 0.0 and np.all(np.diff(ramp) < 0)
    out, mix = run_mixer(mixer, block())
    assert not out[NAMES.index("vocals")].any()
    np.testing.assert_array_equal(mix, np.delete(out, NAMES.index("vocals"), axis=0).sum(0))


def test_mixer_mutes_and_solos_like_a_desk() -> None:
    mixer = StemMixer(NAMES)
    mixer.set_switch("bass", "solo", True)
    mixer.set_switch("drums", "solo", True)
    mixer.set_switch("drums", "mute", True)
    run_mixer(mixer, block())
    out, mix = run_mixer(mixer, block())
    heard = [n for i, n in enumerate(NAMES) if out[i].any()]
    assert heard == ["bass"]
    np.testing.assert_array_equal(mix, out[NAMES.index("bass")])


def test_mixer_rejects_gains_out_of_range_and_unknown_stems() -> None:
    mixer = StemMixer(NAMES)
    with pytest.raises(ParameterError, match=r"parameter 'gain' of stem 'vocals' \(5.0\) is out of range \[0, 4\]"):
        mixer.set_gain("vocals", 5.0)
    with pytest.raises(ParameterError, match=r'Stem named "vocal" not found.*Did you mean "vocals"'):
        mixer.set_gain("vocal", 1.0)


def test_mixer_overload_path_plays_the_dry_input_in_other_and_mix_then_fades_back() -> None:
    mixer = StemMixer(NAMES)
    dry = np.full((2, 256), 0.5, np.float32)
    out, mix = np.zeros((len(NAMES), 2, 256), np.float32), np.zeros((2, 256), np.float32)
    mixer.dry(dry, out, mix)
    np.testing.assert_array_equal(out[NAMES.index("other")], dry)
    np.testing.assert_array_equal(mix, dry)
    assert not np.delete(out, NAMES.index("other"), axis=0).any()
    stems = np.full((len(NAMES), 2, 256), 0.1, np.float32)  # add up to 0.5, like the dry input
    out, mix = run_mixer(mixer, stems)
    mixer.blend_from_dry(dry, out, mix)
    np.testing.assert_allclose(mix, dry, atol=1e-6)  # stems that add up to the input: the fade is seamless in the mix
    assert out[NAMES.index("vocals"), 0, 0] < 0.01 and out[NAMES.index("vocals"), 0, -1] == pytest.approx(0.1)


# -- OSC and MIDI routes -----------------------------------------------------------------------


@dataclass
class FakeLive:
    mixer: StemMixer = field(default_factory=lambda: StemMixer(NAMES))
    plan: LivePlan = field(default_factory=lambda: LivePlan(44100, 1024, 4.0, 1.0, 0.5, 2.0))

    def stats(self) -> LiveStats:
        return LiveStats(misses=0, xruns=0, windows=3, skipped=0, worker_mean=0.5, worker_max=0.6, load=0.5)

    def levels(self, seconds: float = 0.1) -> dict[str, float]:
        return {**dict.fromkeys(NAMES, -12.0), "mix": -6.0}


def dispatch(routes: LiveRoutes, address: str, *args: object) -> list[Message]:
    return routes.dispatcher.dispatch(Message(address, args))


def test_osc_sets_queries_and_feeds_back_stem_gains() -> None:
    routes = LiveRoutes(FakeLive())
    assert dispatch(routes, "/live/vocals/gain", 0) == [Feedback("/live/vocals/gain", (0.0,))]
    assert routes.live.mixer.target[NAMES.index("vocals")] == 0.0
    assert dispatch(routes, "/live/vocals/gain") == [Message("/live/vocals/gain", (0.0,))]
    assert dispatch(routes, "/live/drums/mute", 1) == [Feedback("/live/drums/mute", (1,))]
    assert dispatch(routes, "/live/bass/solo") == [Message("/live/bass/solo", (0,))]


def test_osc_answers_the_latency_stats_and_stem_list() -> None:
    routes = LiveRoutes(FakeLive())
    assert dispatch(routes, "/live/latency") == [Message("/live/latency", (2.0, 88200))]
    assert dispatch(routes, "/live/stats") == [Message("/live/stats", (0, 0, 3, 0, 0.5, 0.6, 0.5))]
    listing = dispatch(routes, "/live/list")
    assert [m.args[0] for m in listing[:-1]] == NAMES and listing[-1] == Message("/live/list/end", (5,))


def test_osc_help_lists_the_live_addresses_a_prefix_selects() -> None:
    routes = LiveRoutes(FakeLive())
    listing = dispatch(routes, "/help", "/live/latency")
    assert [m.args[0] for m in listing[:-1]] == ["/live/latency"] and listing[-1] == Message("/help/end", (1,))
    unknown = "no address starts with '/nope'; send /help for the whole list"
    assert dispatch(routes, "/help", "/nope") == [Message("/error", ("/help", unknown))]


def test_osc_pattern_mutes_every_stem_and_errors_name_the_problem() -> None:
    routes = LiveRoutes(FakeLive())
    replies = dispatch(routes, "/live/*/mute", 1)
    assert sorted(m.address for m in replies) == sorted(f"/live/{n}/mute" for n in NAMES)
    (error,) = dispatch(routes, "/live/vocal/gain", 1.0)
    assert error.address == "/error" and 'Did you mean "vocals"' in error.args[1]
    (error,) = dispatch(routes, "/live/vocals/gain", 9.0)
    assert "out of range [0, 4]" in error.args[1]


def test_meters_go_to_the_clients_that_ask_for_them_for_every_stem_and_the_mix() -> None:
    routes = LiveRoutes(FakeLive())
    assert routes.dispatcher.dispatch(Message("/live/meters", (1,)), ("127.0.0.1", 9001)) == [Message("/live/meters", (1,))]
    assert routes.metered == {("127.0.0.1", 9001)}
    meters = routes.meters()
    assert [m.address for m in meters] == [f"/live/{n}/level" for n in [*NAMES, "mix"]]
    routes.dispatcher.dispatch(Message("/live/meters", (0,)), ("127.0.0.1", 9001))
    assert not routes.metered


def test_midi_cc_moves_a_stem_gain_through_the_map() -> None:
    routes = LiveRoutes(FakeLive(), midi=MidiMapper([CcMapping(cc=20, target="stem.vocals.gain", range=(0.0, 1.0))]))
    feedback = routes.on_midi(mido.Message("control_change", control=20, value=0))
    assert feedback == [Feedback("/live/vocals/gain", (0.0,))]
    routes.on_midi(mido.Message("control_change", control=20, value=127))
    assert routes.live.mixer.get("vocals", "gain") == pytest.approx(1.0)


def test_midi_learn_binds_the_next_cc_to_a_stem_switch() -> None:
    routes = LiveRoutes(FakeLive())
    assert dispatch(routes, "/midi/learn", "stem.drums.mute") == [Message("/midi/learn", ("stem.drums.mute",))]
    (learned,) = routes.on_midi(mido.Message("control_change", channel=0, control=64, value=127))
    assert learned == Feedback("/midi/learned", ("stem.drums.mute", 1, 64, 7))
    assert routes.on_midi(mido.Message("control_change", channel=0, control=64, value=127)) == [Feedback("/live/drums/mute", (1,))]


def test_midi_maps_to_targets_live_mode_lacks_are_refused_up_front() -> None:
    routes = LiveRoutes(FakeLive())
    with pytest.raises(ParameterError, match=r"live MIDI targets read stem.<name>.gain.*got 'eq.gain_db'"):
        routes.check_mappings([CcMapping(cc=7, target="eq.gain_db")])


# -- a preset live: stems, effects, gains and MIDI maps --------------------------------------------

DJ_PRESET = """\
format: 1
name: dj-stems
description: Five stems for a live stem mixer; a short reverb on the vocals; faders on CC 20-24.
chain:
  - name: split
    split:
      output: stems
      routes:
        bass: {gain_db: -6}
        vocals:
          chain:
            - name: vocal_reverb
              plugin: Reverb
              params: {room_size: 0.3, damping: 0.6, wet_level: 0.2, dry_level: 0.9}
midi:
  cc:
    - {cc: 20, target: stem.drums.gain, range: [0, 1]}
    - {cc: 23, target: stem.vocals.gain, range: [0, 1]}
    - {cc: 33, target: stem.vocals.mute}
"""  # the preset docs/live.md shows, shortened


def test_a_preset_brings_its_route_effects_gains_and_midi_maps_to_live_mode(tmp_path: Path) -> None:
    import pedalboard

    from plugin_host.control.live.cli import _preset, _routes

    path = tmp_path / "dj-stems.yaml"
    path.write_text(DJ_PRESET)
    setup = _preset(str(path))
    assert setup.stems is None and setup.effect("drums", 44100) is None
    effect = setup.effect("vocals", 44100)
    x = np.random.default_rng(3).standard_normal((2, 44100)).astype(np.float32) * np.float32(0.1)
    live = np.concatenate([effect(x[:, i : i + 4410]) for i in range(0, 44100, 4410)], axis=-1)
    whole = pedalboard.Pedalboard([pedalboard.Reverb(room_size=0.3, damping=0.6, wet_level=0.2, dry_level=0.9)]).process(x, 44100)
    np.testing.assert_allclose(live, whole, atol=1e-5)  # block by block as in one go, nothing held back
    mixer = StemMixer(NAMES)
    setup.apply(mixer)
    assert mixer.get("bass", "gain") == pytest.approx(10 ** (-6 / 20))
    routes = _routes(FakeLive(mixer=mixer), setup)
    routes.on_midi(mido.Message("control_change", control=33, value=127))
    assert mixer.get("vocals", "mute") == 1.0


def test_a_preset_without_a_split_is_refused_for_live_mode(tmp_path: Path) -> None:
    from plugin_host.control.live.cli import _preset
    from plugin_host.control.live.client import LiveError

    path = tmp_path / "eq.yaml"
    path.write_text("format: 1\nname: eq\nchain:\n  - {name: hp, plugin: HighpassFilter, params: {cutoff_frequency_hz: 80}}\n")
    with pytest.raises(LiveError, match="preset 'eq' has no split stage; live mode needs one"):
        _preset(str(path))
