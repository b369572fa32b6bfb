"""Render one MIDI track alone with a SoundFont synthesizer (tinysoundfont).

The renderer walks the track's messages itself, generating audio between
events, so every part of a song is rendered with sample-exact timing.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np

from separator.training.data.compose import DRUM_CHANNEL, TICKS_PER_BEAT

# GeneralUser GS (Debian minuet-data) lives in minuet's own folder.
SF_DIRS = ("/usr/share/sounds/sf2", "/usr/share/sounds/sf3", "/usr/share/soundfonts", "/usr/share/minuet/soundfonts")

# Files that are reserved for evaluation on unseen sounds: never train on them.
RESERVED = ("musescore", "MuseScore")


@dataclass(frozen=True)
class SoundFontInfo:
    """A SoundFont file and what it can play."""

    path: str
    melodic: bool  # has General MIDI melodic programs in bank 0
    drum_presets: tuple[tuple[int, int], ...]  # (bank, preset) pairs that are drum kits


def bundled_soundfont() -> str | None:
    """Path of the TimGM6mb.sf2 that the pretty_midi wheel carries, if installed."""
    try:
        import pretty_midi
    except ImportError:
        return None
    path = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    return str(path) if path.exists() else None


def discover_soundfonts(extra: list[str] | None = None, folders: Sequence[str] = SF_DIRS) -> list[str]:
    """SoundFont files usable for training: the bundled one, those in ``folders`` and ``extra``.

    Files named like the evaluation-only SoundFonts are left out.
    """
    found: list[str] = []
    bundled = bundled_soundfont()
    if bundled:
        found.append(bundled)
    for folder in folders:
        for path in sorted(Path(folder).glob("*.sf[23]")) if Path(folder).is_dir() else []:
            real = str(path.resolve())
            if any(r in real for r in RESERVED) or "default-GM" in path.name:
                continue
            known = {Path(f).name for f in found} | {str(Path(f).resolve()) for f in found}
            if path.name not in known and real not in known and Path(real).name not in known:
                found.append(real)
    found.extend(extra or [])
    return found


@functools.lru_cache(maxsize=16)
def _synth(path: str, sample_rate: int):  # type: ignore[no-untyped-def]
    import tinysoundfont

    synth = tinysoundfont.Synth(samplerate=sample_rate)
    sfid = synth.sfload(path)
    return synth, sfid


@functools.lru_cache(maxsize=16)
def describe(path: str) -> SoundFontInfo:
    """Which programs and drum kits a SoundFont has."""
    synth, sfid = _synth(path, 44100)
    melodic = sum(synth.sfpreset_name(sfid, 0, p) is not None for p in range(128)) > 32
    drums = [(128, p) for p in range(128) if synth.sfpreset_name(sfid, 128, p)]
    if not melodic and not drums:  # a single-kit drum SoundFont (e.g. avldrums)
        drums = [(0, p) for p in range(128) if synth.sfpreset_name(sfid, 0, p)]
    return SoundFontInfo(path, melodic, tuple(drums))


def render_track(
    track: mido.MidiTrack,
    soundfont: str,
    bpm: float,
    seconds: float,
    program: int = 0,
    drum_kit: tuple[int, int] | None = None,
    sample_rate: int = 44100,
) -> np.ndarray:
    """Render ``track`` alone.

    Args:
        track: messages with delta times in ticks at ``TICKS_PER_BEAT``.
        soundfont: SF2/SF3 path.
        bpm: tempo in beats per minute.
        seconds: output length; notes still sounding are cut there.
        program: General MIDI program for melodic tracks.
        drum_kit: ``(bank, preset)`` of the kit, for drum tracks.
        sample_rate: in Hz.

    Returns:
        ``(2, round(seconds * sample_rate))`` float32 stereo audio.
    """
    synth, sfid = _synth(soundfont, sample_rate)
    # tsf_reset only starts a quick release of the voices still sounding; render it away,
    # so nothing of the previous part leaks in and the same seed renders the same audio.
    synth.soundfonts[sfid].reset()
    synth.generate_simple(sample_rate // 5)
    if drum_kit is not None:
        synth.program_select(DRUM_CHANNEL, sfid, drum_kit[0], drum_kit[1], is_drums=drum_kit[0] == 128)
    for chan in range(16):
        if chan != DRUM_CHANNEL:
            synth.program_select(chan, sfid, 0, program)
    total = int(round(seconds * sample_rate))
    samples_per_tick = 60.0 / bpm / TICKS_PER_BEAT * sample_rate
    out = np.zeros((total, 2), np.float32)
    written, tick = 0, 0
    for message in track:
        tick += message.time
        until = min(total, int(round(tick * samples_per_tick)))
        if until > written:
            out[written:until] = _generate(synth, until - written)
            written = until
        if written >= total:
            break
        if message.type == "note_on" and message.velocity > 0:
            synth.noteon(message.channel, message.note, message.velocity)
        elif message.type in ("note_off", "note_on"):
            synth.noteoff(message.channel, message.note)
        elif message.type == "pitchwheel":  # mido's -8192..8191; TinySoundFont's 0..16383, centre 8192
            synth.pitchbend(message.channel, message.pitch + 8192)
    if written < total:
        out[written:] = _generate(synth, total - written)
    synth.sounds_off()
    return np.ascontiguousarray(out.T)


def _generate(synth, n: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    buffer = synth.generate_simple(n)
    return np.frombuffer(buffer, dtype=np.float32).reshape(n, 2)
