"""Processing: shapes, block-wise = whole-file, bounded memory, tails, latency, sample-rate mismatches, bad audio."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from plugin_host_fixtures import SR, energy_db, noise, write

from plugin_host import Chain, ChainError, render_file
from plugin_host.render import BLOCK, TAIL_THRESHOLD_DB
from stembase import audio as audio_io

EFFECTS: list[dict[str, Any]] = [
    {"plugin": "HighpassFilter", "params": {"cutoff_frequency_hz": 60}},
    {"plugin": "Compressor", "params": {"threshold_db": -24, "ratio": 4, "attack_ms": 3}},
    {"mix": [{"chain": []}, {"chain": [{"plugin": "Chorus"}, {"plugin": "Reverb", "params": {"wet_level": 0.5}}]}]},
    {"plugin": "Delay", "params": {"delay_seconds": 0.25, "feedback": 0.4, "mix": 0.3}},
    {"plugin": "BrickwallLimiter", "params": {"ceiling_db": -3}},
]


def effects(**top: Any) -> Chain:
    return Chain.from_dict({"format": 1, "name": "fx", "chain": EFFECTS, **top})


@pytest.mark.parametrize("channels", [1, 2, 6])
@pytest.mark.parametrize("rate", [22050, 44100, 48000, 96000])
def test_output_is_float32_channels_by_samples_at_least_as_long_as_the_input(channels: int, rate: int) -> None:
    x = noise(0.5, channels, rate)
    y = effects()(x, rate)
    assert y.dtype == np.float32
    assert y.shape[0] == channels
    assert y.shape[1] >= x.shape[1]
    assert np.isfinite(y).all()


def test_one_dimensional_audio_is_treated_as_mono() -> None:
    y = effects()(noise(0.5, 1)[0], SR)
    assert y.ndim == 2 and y.shape[0] == 1


def test_block_wise_file_processing_equals_whole_signal_processing(tmp_path: Path) -> None:
    x = noise(4.0, 2, seed=1) * np.linspace(0.2, 1.5, int(4.0 * SR), dtype=np.float32)  # long enough for several blocks
    assert x.shape[1] > 2 * BLOCK
    chain = effects()
    assert chain.streamable
    [out] = render_file(chain, write(tmp_path / "in.wav", x), tmp_path / "out")
    streamed, rate = audio_io.load(out)
    assert rate == SR
    np.testing.assert_array_equal(streamed, chain(x, SR))


@pytest.mark.parametrize("block", [1000, 8192 * 3, 100_000])
def test_streaming_any_block_size_equals_one_call(block: int) -> None:
    chain = Chain.from_dict({"format": 1, "chain": EFFECTS[:4]})  # no latency: sample-exact whatever the block size
    x = noise(3.0, 2, seed=2)
    streamed = np.concatenate(list(chain.stream((x[:, i : i + block] for i in range(0, x.shape[1], block)), SR)), axis=1)
    np.testing.assert_array_equal(streamed, chain(x, SR))


def _peak_memory_streaming(path: Path, out: Path) -> int:
    tracemalloc.start()
    try:
        render_file(effects(), path, out)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_streaming_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    short = _peak_memory_streaming(write(tmp_path / "short.wav", noise(8.0, 2, seed=3)), tmp_path / "out")
    long = _peak_memory_streaming(write(tmp_path / "long.wav", noise(60.0, 2, seed=3)), tmp_path / "out")
    assert long < 1.25 * short, f"a 60 s file held {long / 1e6:.1f} MB, an 8 s file {short / 1e6:.1f} MB"


@pytest.mark.parametrize(
    ("stages", "streamable"),
    [
        ([{"plugin": "PitchShift", "params": {"semitones": 2}}], False),
        ([{"plugin": "MP3Compressor"}], False),
        ([{"mix": [{"plugin": "BrickwallLimiter"}, {"plugin": "Gain"}]}], False),
        ([{"mix": [{"plugin": "BrickwallLimiter", "bypass": True}, {"plugin": "Gain"}]}], True),
        ([{"plugin": "BrickwallLimiter"}, {"plugin": "Reverb"}], True),
        ([{"split": {}}], False),
    ],
)
def test_chains_whose_output_depends_on_block_boundaries_are_processed_whole(stages: list[dict[str, Any]], streamable: bool) -> None:
    assert Chain.from_dict({"format": 1, "chain": stages}).streamable is streamable


def test_non_streamable_chains_still_write_files_equal_to_process(tmp_path: Path) -> None:
    chain = Chain.from_dict({"format": 1, "chain": [{"plugin": "PitchShift", "params": {"semitones": -3}}]})
    x = noise(1.0, 2, seed=4)
    [out] = render_file(chain, write(tmp_path / "in.wav", x), tmp_path / "out.wav")
    np.testing.assert_array_equal(audio_io.load(out)[0], chain(x, SR))


def test_reverb_tail_is_kept_until_it_decays() -> None:
    chain = Chain.from_dict({"format": 1, "chain": [{"plugin": "Reverb", "params": {"room_size": 0.8, "wet_level": 0.6}}]})
    x = noise(1.0, 2, seed=5)
    y = chain(x, SR)
    tail = y[:, x.shape[1] :]
    assert tail.shape[1] > 0.5 * SR  # a large room rings well past the input
    assert energy_db(tail[:, : SR // 10]) > -40  # right after the input the tail is loud
    assert 20 * np.log10(np.abs(tail[:, -SR // 100 :]).max()) < TAIL_THRESHOLD_DB + 6  # and it ends where it has decayed


def test_a_very_short_input_keeps_its_whole_tail() -> None:
    chain = Chain.from_dict({"format": 1, "chain": [{"plugin": "Reverb", "params": {"room_size": 0.8}}]})
    y = chain(noise(0.02, 2, seed=8), SR)  # 882 samples: far shorter than one plugin call
    assert y.shape[1] > 0.5 * SR
    assert energy_db(y[:, SR // 4 : SR // 4 + 1000]) > -60


def test_delay_echoes_after_the_input_are_kept_across_silent_gaps() -> None:
    chain = Chain.from_dict({"format": 1, "chain": [{"plugin": "Delay", "params": {"delay_seconds": 0.8, "feedback": 0.5, "mix": 0.5}}]})
    x = np.zeros((1, SR), np.float32)
    x[0, int(0.9 * SR)] = 1.0  # a click 0.1 s before the end
    y = chain(x, SR)[0]
    echoes = np.flatnonzero(np.abs(y) > 1e-3)
    gaps = np.diff(echoes) / SR
    assert len(echoes) >= 5  # the click and at least four echoes, the last ones 0.8 s apart in silence
    assert np.allclose(gaps, 0.8, atol=0.01)


@pytest.mark.parametrize("seconds", [0, 0.25, 2.0])
def test_fixed_tail_seconds_give_exactly_that_much_after_the_input(seconds: float) -> None:
    x = noise(1.0, 2)
    y = effects(tail_seconds=seconds)(x, SR)
    assert y.shape[1] == x.shape[1] + round(seconds * SR)


def test_tail_zero_matches_pedalboard_exactly() -> None:
    import pedalboard

    x = noise(1.0, 2, seed=6)
    board = pedalboard.Pedalboard([pedalboard.Compressor(-20, 4), pedalboard.Reverb(), pedalboard.Delay(0.3, 0.3)])
    chain = Chain.from_plugins(list(board), tail_seconds=0)
    np.testing.assert_allclose(chain(x, SR), board(x, SR), atol=1e-7)


def test_a_lookahead_limiter_is_latency_compensated() -> None:
    x = noise(1.0, 2, level=0.01, seed=7)  # far under the ceiling: the limiter should leave it alone
    y = Chain.from_dict({"format": 1, "chain": [{"plugin": "BrickwallLimiter", "params": {"ceiling_db": -1}}]})(x, SR)
    np.testing.assert_allclose(y[:, : x.shape[1]], x, atol=1e-6)


def test_frequencies_above_nyquist_are_clamped_instead_of_silencing_the_audio() -> None:
    rate = 16000
    chain = Chain.from_dict(
        {"format": 1, "sample_rate": 48000, "chain": [{"plugin": "LowpassFilter", "params": {"cutoff_frequency_hz": 20000}}]}
    )
    x = noise(1.0, 1, rate)
    y = chain(x, rate)
    assert energy_db(y) > energy_db(x) - 3  # pedalboard alone returns silence here
    assert chain.get_param("lowpass_filter", "cutoff_frequency_hz") == 20000.0  # the preset's value is kept
    assert energy_db(chain(noise(1.0, 1, 48000), 48000)) > -30  # and used again at a higher rate


def test_a_48k_preset_with_a_48k_impulse_response_runs_on_a_44k_file(tmp_path: Path) -> None:
    ir = np.zeros((1, 4800), np.float32)
    ir[0, 480] = 1.0  # a pure 10 ms delay at 48 kHz
    audio_io.save(tmp_path / "ir48.wav", ir, 48000)
    preset = tmp_path / "slap.yaml"
    stage = {"plugin": "Convolution", "params": {"impulse_response_filename": "ir48.wav"}}
    preset.write_text(yaml.safe_dump({"format": 1, "sample_rate": 48000, "tail_seconds": 0, "chain": [stage]}))
    x = np.zeros((2, SR), np.float32)
    x[:, 1000] = 1.0
    [out] = render_file(Chain.from_preset(preset), write(tmp_path / "click.wav", x), tmp_path / "out")
    y, rate = audio_io.load(out)
    assert rate == SR and y.shape == x.shape
    assert abs(int(np.argmax(np.abs(y[0]))) - (1000 + 441)) <= 2  # 10 ms later at 44.1 kHz


@pytest.mark.parametrize(
    ("audio", "rate", "text"),
    [
        (np.zeros((44100, 2), np.float32), SR, "audio looks transposed: 44100 channels and 2 samples"),
        (np.zeros((1, 2, 100), np.float32), SR, "audio must be shaped (channels, samples), got 3 dimensions"),
        (np.full((1, 100), np.nan, np.float32), SR, "audio contains NaN or infinite samples"),
        (np.zeros((1, 100), np.float32), 3.0, "got 3.0 (did you pass the duration instead?)"),
    ],
)
def test_bad_audio_is_refused_with_a_message(audio: np.ndarray, rate: float, text: str) -> None:
    with pytest.raises(ChainError) as info:
        effects()(audio, rate)
    assert text in str(info.value)


def test_an_empty_chain_passes_audio_through() -> None:
    x = noise(0.5, 2)
    np.testing.assert_array_equal(Chain.from_dict({"format": 1, "chain": []})(x, SR), x)
