"""The procedural instruments of the training-data generator (separator.training.data.synth): in tune,
shaped like their instrument, reproducible, and drawn by ``make-data`` like any other source."""

from __future__ import annotations

import json
from pathlib import Path

import mido
import numpy as np
import pytest

from separator.classes import CLASSES
from separator.training.data import synth
from separator.training.data.compose import TICKS_PER_BEAT
from separator.training.data.make import Recipe, make_dataset

SR = 22050


def _peak_hz(x: np.ndarray, near: float, sample_rate: int = SR) -> float:
    """The strongest frequency within ±20 % of ``near`` (0.125-Hz resolution)."""
    n = 8 * sample_rate
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), n))
    freqs = np.fft.rfftfreq(n, 1 / sample_rate)
    band = (freqs > near * 0.8) & (freqs < near * 1.2)
    return float(freqs[band][spectrum[band].argmax()])


def _cents(f: float, reference: float) -> float:
    return float(1200 * np.log2(f / reference))


def _one_note(note: int, beats: float = 2.0, channel: int = 0) -> mido.MidiTrack:
    track = mido.MidiTrack()
    track.append(mido.Message("note_on", channel=channel, note=note, velocity=100, time=0))
    track.append(mido.Message("note_off", channel=channel, note=note, velocity=0, time=int(beats * TICKS_PER_BEAT)))
    return track


def _band_share(x: np.ndarray, low: float, high: float) -> float:
    """Share of ``x``'s energy between ``low`` and ``high`` Hz."""
    spectrum = np.abs(np.fft.rfft(x.mean(0))) ** 2
    freqs = np.fft.rfftfreq(x.shape[-1], 1 / SR)
    return float(spectrum[(freqs >= low) & (freqs < high)].sum() / spectrum.sum())


@pytest.mark.parametrize("f0", [41.2, 110.0, 329.6, 987.8])
def test_a_plucked_string_is_in_tune_within_three_cents_and_dies_away(f0: float) -> None:
    x = synth.pluck(f0, SR, SR, brightness=0.6, decay=0.997, pick=0.15)
    assert x.shape == (SR,) and np.isfinite(x).all()
    assert abs(_cents(_peak_hz(x, f0), f0)) < 3
    tenth = SR // 10
    assert np.sqrt(np.mean(x[-tenth:] ** 2)) < 0.5 * np.sqrt(np.mean(x[:tenth] ** 2))


@pytest.mark.parametrize("shape", ["saw", "square", "pulse", "triangle", "sine"])
def test_oscillators_follow_the_frequency_curve_with_no_offset(shape: str) -> None:
    wave = synth.oscillator(shape, np.full(SR, 220.0), SR)
    assert wave.shape == (SR,)
    assert abs(float(wave.mean())) < 0.01, "a DC offset"
    assert np.abs(wave).max() < 1.3
    assert abs(_cents(_peak_hz(wave, 220.0), 220.0)) < 3


@pytest.mark.parametrize(
    ("program", "family"),
    [(0, "fm piano"), (10, "fm bells"), (16, "organ"), (48, "strings"), (60, "brass"), (73, "pipe"), (81, "lead"), (90, "pad")],
)
def test_the_other_part_plays_the_family_of_its_general_midi_program(program: int, family: str) -> None:
    assert synth.melodic_voice("other", program, np.random.default_rng(0))[0] == family


def test_guitar_is_plucked_and_bass_draws_among_plucked_subtractive_and_fm() -> None:
    assert synth.melodic_voice("guitar", 25, np.random.default_rng(0))[0] == "pluck"
    families = {synth.melodic_voice("bass", 33, np.random.default_rng(seed))[0] for seed in range(40)}
    assert families == {"pluck", "subtractive", "fm"}


@pytest.mark.parametrize(("name", "program"), [("bass", 33), ("guitar", 25), ("other", 0), ("other", 16), ("other", 48), ("other", 90)])
def test_a_melodic_part_is_stereo_peak_half_in_tune_and_reproducible(name: str, program: int) -> None:
    note = 45 if name == "bass" else 57  # A2 (110 Hz) or A3 (220 Hz)
    for seed in range(3):  # each draw of the instrument's parameters
        audio = synth.render_melodic(_one_note(note), name, program, 120.0, 1.5, np.random.default_rng(seed), SR)
        assert audio.shape == (2, int(1.5 * SR)) and audio.dtype == np.float32
        assert np.abs(audio).max() == pytest.approx(0.5, rel=1e-4)
        f0 = 440.0 * 2 ** ((note - 69) / 12)
        # the fundamental or, for bright timbres, a low harmonic sounds; never a wrong pitch class
        # (pads and strings are choruses of oscillators detuned by up to ±15 cents)
        strongest = max((1, 2, 3, 4), key=lambda k: np.abs(np.fft.rfft(audio[0]))[int(round(k * f0 * audio.shape[1] / SR))])
        assert abs(_cents(_peak_hz(audio[0], strongest * f0), strongest * f0)) < 20
        again = synth.render_melodic(_one_note(note), name, program, 120.0, 1.5, np.random.default_rng(seed), SR)
        np.testing.assert_array_equal(audio, again)


@pytest.mark.parametrize(("name", "program"), [("guitar", 25), ("other", 0), ("other", 16), ("other", 48), ("other", 73)])
def test_a_voice_renders_no_further_than_the_clip_has_room_for(name: str, program: int) -> None:
    _, voice = synth.melodic_voice(name, program, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    assert len(voice(220.0, SR, SR // 4, SR, rng)) == SR // 4  # held a second, a quarter left in the clip
    assert len(voice(220.0, SR // 10, SR, SR, rng)) > SR // 10  # room to ring out after the note


def test_a_part_without_notes_is_silent() -> None:
    assert not synth.render_melodic(mido.MidiTrack(), "other", 0, 120.0, 1.0, np.random.default_rng(0), SR).any()


def test_synthesised_kicks_sit_low_and_hats_sit_high() -> None:
    kicks = synth.render_drums(_one_note(36, 0.25, channel=9), 120.0, 1.0, np.random.default_rng(1), SR)
    hats = synth.render_drums(_one_note(42, 0.25, channel=9), 120.0, 1.0, np.random.default_rng(1), SR)
    assert kicks.shape == hats.shape == (2, SR)
    assert np.abs(kicks).max() == pytest.approx(0.5, rel=1e-4)
    assert _band_share(kicks, 0, 300) > 0.8
    assert _band_share(hats, 4000, SR / 2) > 0.8


def test_make_data_draws_drums_bass_guitar_and_other_from_the_procedural_instruments(tmp_path: Path) -> None:
    recipe = Recipe(seed=5, seconds=1.0, sample_rate=SR, soundfonts=[], use_espeak=False, augment=False, only=["synth", "sing"])
    make_dataset(tmp_path, 3, recipe, shard_size=3)
    with np.load(tmp_path / "shard-00000.npz") as data:
        sources, present, stems = data["sources"], data["present"], data["stems"].astype(np.float32)
    for c, name in enumerate(CLASSES):
        expected = "sing:formant" if name == "vocals" else "synth:procedural"
        assert all(part == expected for entry in sources[:, c] if entry for part in entry.split("+"))  # a+b: layered
    assert present.any() and all(np.abs(stems[i, c]).max() > 0 for i, c in zip(*np.nonzero(present), strict=True))
    drawn = json.loads((tmp_path / "recipe.json").read_text())["drawn"]
    assert set(drawn["guitar"]) <= {"synth:procedural"}
