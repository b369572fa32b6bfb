"""Compose one short song as MIDI: one ``mido.MidiTrack`` per stem class.

Every part shares the song's tempo, key and chord progression, so onsets
and harmonics overlap the way they do in real music (which is what makes
separation hard). Times inside the tracks are in ticks at ``TICKS_PER_BEAT``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mido
import numpy as np

TICKS_PER_BEAT = 480
DRUM_CHANNEL = 9

# General MIDI programs per stem class (0-based program numbers).
PROGRAMS: dict[str, list[int]] = {
    "bass": [32, 33, 34, 35, 36, 37, 38, 39, 43],
    "guitar": [24, 25, 26, 27, 28, 29, 30, 31, 105],
    "vocals": [52, 53, 54, 85],
    "other": [
        *range(0, 8),  # pianos
        *range(8, 16),  # mallets
        *range(16, 21),  # organs
        *range(40, 52),  # strings, ensembles
        *range(56, 72),  # brass, reeds
        *range(72, 80),  # pipes
        80,
        81,
        82,
        84,
        87,  # synth leads
        *range(88, 96),  # pads
    ],
}

_MAJOR = [0, 2, 4, 5, 7, 9, 11]
_MINOR = [0, 2, 3, 5, 7, 8, 10]
_PROGRESSIONS = [[0, 4, 5, 3], [0, 5, 3, 4], [0, 3, 4, 4], [5, 3, 0, 4], [0, 0, 3, 4], [1, 4, 0, 0]]


@dataclass
class Song:
    """A composed song: tempo, key and one MIDI track per stem class."""

    bpm: float
    key: int  # MIDI note of the tonic, 36..47
    minor: bool
    bars: int
    tracks: dict[str, mido.MidiTrack] = field(default_factory=dict)
    programs: dict[str, int] = field(default_factory=dict)
    guitar_style: str = ""  # "" (strums and arpeggios), or "lead" / "power" (see :func:`rock_guitar`)

    @property
    def seconds(self) -> float:
        return self.bars * 4 * 60.0 / self.bpm


def note_spans(track: mido.MidiTrack, bpm: float, sample_rate: int) -> list[tuple[int, int, int, int]]:
    """``(start, stop, note, velocity)`` in samples for each note of ``track``."""
    scale = 60.0 / bpm / TICKS_PER_BEAT * sample_rate
    tick, open_notes, notes = 0, {}, []
    for m in track:
        tick += m.time
        if m.type == "note_on" and m.velocity > 0:
            open_notes[m.note] = (tick, m.velocity)
        elif m.type in ("note_on", "note_off") and m.note in open_notes:
            start, velocity = open_notes.pop(m.note)
            notes.append((int(start * scale), int(tick * scale), m.note, velocity))
    return notes


def note_onsets(track: mido.MidiTrack, bpm: float, sample_rate: int) -> list[tuple[int, int, int]]:
    """``(sample, note, velocity)`` of every note-on of ``track`` (a drum part's hits)."""
    scale = 60.0 / bpm / TICKS_PER_BEAT * sample_rate
    tick, hits = 0, []
    for m in track:
        tick += m.time
        if m.type == "note_on" and m.velocity > 0:
            hits.append((int(round(tick * scale)), m.note, m.velocity))
    return hits


def _track(events: list[tuple[int, str, int, int, int]]) -> mido.MidiTrack:
    """Build a track from absolute-time events ``(tick, kind, channel, note, velocity)``; a ``pitchwheel``
    event carries its bend (-8192..8191) in the ``note`` field."""
    track = mido.MidiTrack()
    now = 0
    for tick, kind, channel, note, velocity in sorted(events, key=lambda e: (e[0], e[1] == "note_on")):
        if kind == "pitchwheel":
            track.append(mido.Message(kind, channel=channel, pitch=note, time=tick - now))
        else:
            track.append(mido.Message(kind, channel=channel, note=note, velocity=velocity, time=tick - now))
        now = tick
    return track


def _note(events: list, start: float, length: float, note: int, velocity: int, channel: int) -> None:
    """Append a note given in beats."""
    on = int(round(start * TICKS_PER_BEAT))
    off = max(on + 1, int(round((start + length) * TICKS_PER_BEAT)))
    note = int(np.clip(note, 0, 127))
    events.append((on, "note_on", channel, note, int(np.clip(velocity, 1, 127))))
    events.append((off, "note_off", channel, note, 0))


def _chord_tones(song: Song, degree: int) -> list[int]:
    """Pitch classes (semitones above the tonic) of the triad on a scale degree."""
    scale = _MINOR if song.minor else _MAJOR
    return [scale[(degree + k) % 7] + 12 * ((degree + k) // 7) for k in (0, 2, 4)]


def drums(song: Song, rng: np.random.Generator, chords: list[int]) -> mido.MidiTrack:
    """A groove: kick/snare backbone, hats or ride, random fills and ghost notes."""
    events: list = []
    steps = 16
    kick = rng.random(steps) < 0.18
    kick[0] = True
    kick[8] |= rng.random() < 0.7
    snare = np.zeros(steps, bool)
    snare[[4, 12]] = rng.random() < 0.9
    hat_every = int(rng.choice([1, 2, 2, 4]))
    hat_note = int(rng.choice([42, 42, 44, 46, 51, 53]))
    toms = [41, 43, 45, 47, 48, 50]
    for bar in range(song.bars):
        fill = bar == song.bars - 1 and rng.random() < 0.5
        for s in range(steps):
            t = bar * 4 + s / 4
            if fill and s >= 8:
                if rng.random() < 0.7:
                    _note(events, t, 0.2, int(rng.choice(toms + [38])), int(rng.integers(70, 120)), DRUM_CHANNEL)
                continue
            if kick[s] or (rng.random() < 0.04):
                _note(events, t, 0.2, int(rng.choice([35, 36])), int(rng.integers(85, 127)), DRUM_CHANNEL)
            if snare[s]:
                _note(events, t, 0.2, int(rng.choice([38, 38, 40, 39])), int(rng.integers(85, 127)), DRUM_CHANNEL)
            elif rng.random() < 0.05:
                _note(events, t, 0.1, 38, int(rng.integers(20, 50)), DRUM_CHANNEL)
            if s % hat_every == 0:
                _note(events, t, 0.1, hat_note, int(rng.integers(40, 100)), DRUM_CHANNEL)
        if bar % 4 == 0 and rng.random() < 0.5:
            _note(events, bar * 4, 0.5, int(rng.choice([49, 57, 55])), int(rng.integers(80, 120)), DRUM_CHANNEL)
    return _track(events)


def bass(song: Song, rng: np.random.Generator, chords: list[int], channel: int = 0) -> mido.MidiTrack:
    """Roots and fifths on a rhythm shared by every bar, with passing notes."""
    events: list = []
    grid = float(rng.choice([0.5, 1.0, 0.25]))
    pattern = rng.random(int(4 / grid)) < 0.6
    pattern[0] = True
    octave = song.key - 12 * int(rng.integers(0, 2))
    for bar, degree in enumerate(chords):
        tones = _chord_tones(song, degree)
        for i, on in enumerate(pattern):
            if not on:
                continue
            tone = tones[0] if rng.random() < 0.7 else int(rng.choice(tones[1:] + [tones[0] + 12]))
            length = grid * float(rng.uniform(0.5, 1.0))
            _note(events, bar * 4 + i * grid, length, octave + tone, int(rng.integers(70, 120)), channel)
    return _track(events)


def guitar(song: Song, rng: np.random.Generator, chords: list[int], channel: int = 1) -> mido.MidiTrack:
    """Strummed chords (staggered string onsets) or arpeggios."""
    events: list = []
    root = song.key + 12 + int(rng.choice([0, 0, 12]))
    arpeggio = rng.random() < 0.4
    grid = float(rng.choice([0.5, 1.0])) if not arpeggio else float(rng.choice([0.25, 0.5]))
    rhythm = rng.random(int(4 / grid)) < (0.55 if not arpeggio else 0.9)
    rhythm[0] = True
    for bar, degree in enumerate(chords):
        tones = _chord_tones(song, degree)
        voicing = sorted({root + t + 12 * o for t in tones for o in (0, 1)})[: int(rng.integers(3, 7))]
        for i, on in enumerate(rhythm):
            if not on:
                continue
            start = bar * 4 + i * grid
            velocity = int(rng.integers(60, 115))
            if arpeggio:
                _note(events, start, grid * 1.5, voicing[i % len(voicing)], velocity, channel)
                continue
            down = rng.random() < 0.7
            for k, pitch in enumerate(voicing if down else voicing[::-1]):
                _note(events, start + k * 0.02, grid * 0.95, pitch, velocity - 3 * k, channel)
    return _track(events)


def vocals(song: Song, rng: np.random.Generator, chords: list[int], channel: int = 2) -> mido.MidiTrack:
    """A sung line: phrases of chord-tone and scale steps with rests between."""
    events: list = []
    scale = _MINOR if song.minor else _MAJOR
    low = song.key + 12 * int(rng.integers(1, 3))
    position = int(rng.integers(0, 7))
    beat = 0.0
    total = song.bars * 4
    while beat < total:
        if rng.random() < 0.2:
            beat += float(rng.choice([1.0, 2.0]))
            continue
        length = float(rng.choice([0.5, 0.5, 1.0, 1.0, 1.5, 2.0]))
        position = int(np.clip(position + rng.integers(-2, 3), 0, 11))
        pitch = low + scale[position % 7] + 12 * (position // 7)
        _note(events, beat, min(length, total - beat) * 0.95, pitch, int(rng.integers(70, 115)), channel)
        beat += length
    return _track(events)


def other(song: Song, rng: np.random.Generator, chords: list[int], channel: int = 3) -> mido.MidiTrack:
    """Keys, pads or strings: sustained chords or comping."""
    events: list = []
    root = song.key + 12 * int(rng.integers(1, 3))
    sustained = rng.random() < 0.5
    for bar, degree in enumerate(chords):
        tones = [root + t for t in _chord_tones(song, degree)]
        if rng.random() < 0.5:
            tones.append(tones[0] + 12)
        if sustained:
            for pitch in tones:
                _note(events, bar * 4, 4.0, pitch, int(rng.integers(50, 100)), channel)
            continue
        for start in np.arange(0, 4, float(rng.choice([1.0, 0.5, 2.0]))):
            if rng.random() < 0.75:
                for pitch in tones:
                    _note(events, bar * 4 + start, 0.45, pitch, int(rng.integers(50, 110)), channel)
    return _track(events)


COMPOSERS = {"drums": drums, "bass": bass, "guitar": guitar, "vocals": vocals, "other": other}

_PENTATONIC_MINOR = [0, 3, 5, 7, 10]
SEMITONE_BEND = 4096  # pitch-wheel units per semitone at the General MIDI bend range (±2 semitones)
# General MIDI programs a rock guitar part is played on: overdriven and distortion guitars mostly, and clean,
# jazz and muted guitars (which the amp chain of separator.training.data.augment.amp_chain then drives)
ROCK_PROGRAMS = {"lead": [29, 30, 29, 30, 26, 27], "power": [30, 29, 30, 29, 27, 28]}


def _bend(events: list, start: float, length: float, semitones: float, bpm: float, rng: np.random.Generator, channel: int) -> None:
    """Pitch-wheel events (times in beats) for one held lead note: a bend up to ``semitones`` and back, or a
    finger vibrato of 5–7 Hz; the wheel is centred again when the note ends."""
    step = 1 / 32
    times = np.arange(start, start + length, step)
    if semitones > 0:
        rise = float(rng.uniform(0.1, 0.35))
        curve = np.clip((times - start) / rise, 0, 1) * semitones
    else:
        rate = float(rng.uniform(5, 7)) * 60 / bpm  # cycles per beat
        depth = float(rng.uniform(0.15, 0.5))
        onset = np.clip((times - start - 0.15) / 0.3, 0, 1)  # vibrato swells in after the attack
        curve = depth * onset * np.sin(2 * np.pi * rate * (times - start))
    for t, value in zip(times, curve, strict=True):
        events.append((int(round(t * TICKS_PER_BEAT)), "pitchwheel", channel, int(np.clip(value * SEMITONE_BEND, -8192, 8191)), 0))
    events.append((int(round((start + length) * TICKS_PER_BEAT)), "pitchwheel", channel, 0, 0))


def lead(song: Song, rng: np.random.Generator, chords: list[int], channel: int = 1) -> mido.MidiTrack:
    """A lead guitar line: one note at a time, pentatonic or scale runs, bends and vibrato on held notes.

    Heard alone it is a melody in the singing range, as a vocal line is; the class heads must name it guitar
    by its timbre (a recorded solo went to the vocals stem, model card "twenty-seventh").
    """
    events: list = []
    scale = _PENTATONIC_MINOR if rng.random() < 0.6 else (_MINOR if song.minor else _MAJOR)
    low = song.key + 12 + int(rng.choice([7, 12, 19]))
    position = int(rng.integers(0, len(scale)))
    beat, total = 0.0, song.bars * 4
    while beat < total:
        if rng.random() < 0.12:
            beat += float(rng.choice([0.5, 1.0]))
            continue
        length = float(rng.choice([0.25, 0.25, 0.25, 0.5, 0.5, 1.0, 1.5, 2.0]))
        position = int(np.clip(position + rng.integers(-2, 3), 0, 2 * len(scale)))
        pitch = low + scale[position % len(scale)] + 12 * (position // len(scale))
        held = min(length, total - beat) * float(rng.uniform(0.85, 1.0))
        _note(events, beat, held, pitch, int(rng.integers(80, 120)), channel)
        if length >= 1.0 and rng.random() < 0.8:
            _bend(events, beat, held, float(rng.choice([0.0, 0.0, 1.0, 2.0])), song.bpm, rng, channel)
        beat += length
    return _track(events)


def power(song: Song, rng: np.random.Generator, chords: list[int], channel: int = 1) -> mido.MidiTrack:
    """A rhythm guitar riff of power chords (root, fifth, octave) on an eighth or sixteenth grid, most hits
    palm-muted (short and softer), some let ring; the chord follows the song's progression."""
    events: list = []
    grid = float(rng.choice([0.5, 0.5, 0.25]))
    hits = rng.random(int(4 / grid)) < 0.75
    hits[0] = True
    ring = rng.random(len(hits)) < 0.25
    shape = [0, 7, 12] if rng.random() < 0.6 else [0, 7]
    onsets = np.flatnonzero(hits)
    gaps = np.diff(np.append(onsets, onsets[0] + len(hits))) * grid  # to the next hit, the next bar's first included
    for bar, degree in enumerate(chords):
        root = song.key + _chord_tones(song, degree)[0]
        root += 12 if root < 40 else 0  # the low E string is MIDI 40
        for i, gap in zip(onsets, gaps, strict=True):
            muted = not ring[i]
            length = grid * 0.35 if muted else gap * 0.95  # a let-ring chord sounds until the next hit
            velocity = int(rng.integers(60, 90) if muted else rng.integers(95, 125))
            for k, interval in enumerate(shape):
                _note(events, bar * 4 + i * grid + k * 0.008, length, root + interval, velocity - 4 * k, channel)
    return _track(events)


def rock_guitar(song: Song, rng: np.random.Generator, chords: list[int]) -> None:
    """Replace ``song``'s guitar part with a lead line or a power-chord riff on a rock guitar program."""
    style = "lead" if rng.random() < 0.5 else "power"
    song.tracks["guitar"] = (lead if style == "lead" else power)(song, rng, chords)
    song.programs["guitar"] = int(rng.choice(ROCK_PROGRAMS[style]))
    song.guitar_style = style


def compose(rng: np.random.Generator, bars: int = 4, bpm_range: tuple[float, float] = (70.0, 170.0), rock: float = 0.0) -> Song:
    """Compose a song with a part for every stem class.

    Args:
        rng: the random generator; the same state gives the same song.
        bars: length in 4/4 bars.
        bpm_range: tempo range in beats per minute.
        rock: the chance that the guitar plays a lead line or a power-chord riff (:func:`rock_guitar`) instead
            of strums or arpeggios; at 0 no draw is made, so a seed makes the songs of earlier releases.
    """
    song = Song(bpm=float(rng.uniform(*bpm_range)), key=int(rng.integers(36, 48)), minor=bool(rng.random() < 0.5), bars=bars)
    progression = _PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]
    chords = [progression[b % len(progression)] for b in range(bars)]
    for name, composer in COMPOSERS.items():
        song.tracks[name] = composer(song, rng, chords)
        if name in PROGRAMS:
            song.programs[name] = int(rng.choice(PROGRAMS[name]))
    if rock > 0 and rng.random() < rock:
        rock_guitar(song, rng, chords)
    return song


def to_midi_file(song: Song) -> mido.MidiFile:
    """The song as a type-1 MIDI file (tempo track first), for inspection in a DAW."""
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    meta = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(song.bpm), time=0)])
    midi.tracks.append(meta)
    for name, track in song.tracks.items():
        midi.tracks.append(mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0), *track]))
    return midi
