"""Rock guitar parts in generated songs (``make-data --rock-guitar P``): lead lines with bends and vibrato,
power-chord riffs, an amp and cabinet; off by default, so every existing set is made as before."""

from __future__ import annotations

import itertools

import mido
import numpy as np
import pytest

from separator.training.data.augment import amplify
from separator.training.data.compose import (
    ROCK_PROGRAMS,
    SEMITONE_BEND,
    TICKS_PER_BEAT,
    Song,
    _bend,
    _note,
    _track,
    compose,
    lead,
    note_spans,
    power,
)
from separator.training.data.make import Recipe, make_song_sources
from separator.training.data.render import bundled_soundfont, render_track
from stemsplit.separator_cli import main


def _notes(track: mido.MidiTrack) -> list[tuple[int, int, int]]:
    """``(on tick, off tick, note)`` of every note of ``track``, each note-on paired with its own note-off."""
    spans = note_spans(track, bpm=60.0 / TICKS_PER_BEAT, sample_rate=1)  # one "sample" per tick
    offs = sum(m.type == "note_off" or (m.type == "note_on" and m.velocity == 0) for m in track)
    assert len(spans) == offs, "a note-off without its note-on: two notes of one pitch overlap"
    return sorted((start, stop, note) for start, stop, note, _ in spans)


def _song(seed: int, bars: int = 16) -> Song:
    return Song(bpm=120.0, key=int(np.random.default_rng(seed).integers(36, 48)), minor=True, bars=bars)


def test_rock_changes_only_the_guitar_and_is_off_by_default() -> None:
    assert Recipe().rock_guitar == 0.0
    for seed in range(8):
        plain = compose(np.random.default_rng(seed))
        rock = compose(np.random.default_rng(seed), rock=1.0)
        assert plain.guitar_style == "" and rock.guitar_style in ("lead", "power")
        assert rock.programs["guitar"] in ROCK_PROGRAMS[rock.guitar_style]
        for name in ("drums", "bass", "vocals", "other"):  # the rock draw comes after every other part's
            assert rock.tracks[name] == plain.tracks[name] and rock.programs.get(name) == plain.programs.get(name)
        assert rock.tracks["guitar"] != plain.tracks["guitar"]


def test_a_lead_line_plays_one_note_at_a_time_and_recentres_its_bends() -> None:
    bent = 0
    for seed in range(6):
        track = lead(_song(seed), np.random.default_rng(seed), [0, 3, 4, 0] * 4)
        notes = _notes(track)
        assert len(notes) > 16
        for (_, off, _), (on, _, _) in itertools.pairwise(notes):
            assert on >= off  # monophonic
        wheel, at_onsets = 0, []
        for m in track:
            if m.type == "pitchwheel":
                wheel = m.pitch
                bent += abs(m.pitch) > SEMITONE_BEND // 2
            elif m.type == "note_on" and m.velocity > 0:
                at_onsets.append(wheel)
        assert wheel == 0 and set(at_onsets) == {0}  # every note starts, and the line ends, unbent
        assert all(-8192 <= m.pitch <= 8191 for m in track if m.type == "pitchwheel")
        assert 52 <= min(n for _, _, n in notes) and max(n for _, _, n in notes) <= 100  # a guitar's lead range
    assert bent > 0


def test_power_chords_stack_a_fifth_and_an_octave_from_the_low_strings() -> None:
    for seed in range(6):
        notes = _notes(power(_song(seed, bars=4), np.random.default_rng(seed), [0, 5, 3, 4]))
        chords: dict[int, list[int]] = {}
        for on, _, note in notes:
            chords.setdefault(on // (TICKS_PER_BEAT // 8), []).append(note)  # the strum spreads a chord over ticks
        for chord in chords.values():
            intervals = sorted(n - min(chord) for n in chord)
            assert intervals in ([0, 7], [0, 7, 12])
            assert 40 <= min(chord) < 64


def _fundamental(audio: np.ndarray, sample_rate: int) -> float:
    """The strongest spectral peak of a mono signal, in Hz, refined by parabolic interpolation."""
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio)), 8 * len(audio)))
    k = int(np.argmax(spectrum))
    a, b, c = np.log(spectrum[k - 1 : k + 2] + 1e-12)
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * sample_rate / (8 * len(audio))


def test_a_two_semitone_bend_raises_the_rendered_pitch_by_two_semitones() -> None:
    soundfont = bundled_soundfont()
    assert soundfont, "pretty_midi (the [data] extra) carries TimGM6mb.sf2; install .[dev]"
    rate, seconds, bpm = 22050, 2.0, 120.0

    def render(semitones: float) -> np.ndarray:
        events: list = []
        _note(events, 0.0, 4.0, 57, 100, 1)
        if semitones:
            _bend(events, 0.0, 4.0, semitones, bpm, np.random.default_rng(0), 1)
        return render_track(_track(events), soundfont, bpm, seconds, program=19, sample_rate=rate).mean(axis=0)

    straight, bent = render(0.0), render(2.0)
    late = slice(int(0.8 * rate), int(1.8 * rate))  # after the bend's rise (at most 0.35 beats)
    ratio = _fundamental(bent[late], rate) / _fundamental(straight[late], rate)
    assert ratio == pytest.approx(2 ** (2 / 12), rel=0.01)


def test_the_amp_drives_a_guitar_and_its_cabinet_darkens_it() -> None:
    rate = 44100
    t = np.arange(rate) / rate
    note = np.stack([0.5 * np.sin(2 * np.pi * 196.0 * t)] * 2).astype(np.float32)
    for seed in range(10):
        out = amplify(note, rate, np.random.default_rng(seed))
        assert out.shape == note.shape and out.dtype == np.float32
        assert np.abs(out).max() == pytest.approx(0.5, abs=1e-6)
        power_spectrum = np.abs(np.fft.rfft(out[0, rate // 4 :])) ** 2
        freqs = np.fft.rfftfreq(out.shape[1] - rate // 4, 1 / rate)
        fundamental = power_spectrum[np.abs(freqs - 196.0) < 5].sum()
        harmonics = power_spectrum[(freqs > 300) & (freqs < 3000)].sum()
        bright = power_spectrum[freqs > 9000].sum()
        assert harmonics > 0.05 * fundamental  # driven: a sine comes out with its harmonics
        assert bright < 1e-3 * power_spectrum.sum()  # the speaker: almost nothing above 9 kHz


def test_rock_songs_are_made_with_amped_guitars_and_plain_ones_as_before() -> None:
    soundfont = bundled_soundfont()
    assert soundfont, "pretty_midi (the [data] extra) carries TimGM6mb.sf2; install .[dev]"
    plain = Recipe(seed=4, seconds=1.0, soundfonts=[soundfont], use_espeak=False)
    rock = Recipe(seed=4, seconds=1.0, soundfonts=[soundfont], use_espeak=False, rock_guitar=1.0)
    for index in range(3):
        a, _, _ = make_song_sources(plain, index)
        np.testing.assert_array_equal(a, make_song_sources(plain, index)[0])
        b, present_b, _ = make_song_sources(rock, index)
        assert a.shape == b.shape and np.isfinite(b).all()
        if present_b[2]:
            assert not np.allclose(a[2], b[2])


def test_make_data_takes_the_rock_share_as_a_chance(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["make-data", str(tmp_path / "d"), "--rock-guitar", "1.5"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--rock-guitar" in err and "'1.5' is not a chance: give a number from 0 to 1" in err
