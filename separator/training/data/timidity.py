"""Render one MIDI track with TiMidity++ and the freepats GUS patches (mostly real samples).

``timidity -c /etc/timidity/freepats.cfg -Ow -s SR -o out.wav in.mid``, dry (no
reverb or chorus: the augmentation adds rooms), read back and cut to length.
"""

from __future__ import annotations

import functools
import re
import subprocess
import tempfile
from pathlib import Path

import mido
import numpy as np
import soundfile

from separator.training.data.compose import DRUM_CHANNEL, TICKS_PER_BEAT


@functools.lru_cache(maxsize=4)
def programs(config: str) -> tuple[int, ...]:
    """General MIDI programs (bank 0) that ``config`` has a patch for."""
    found, in_bank0 = [], False
    for line in Path(config).read_text(errors="replace").splitlines():
        head = line.split("#")[0].strip()
        if re.match(r"^(bank|drumset)\s", head):
            in_bank0 = head.split()[0] == "bank" and head.split()[1] == "0"
        elif in_bank0 and re.match(r"^\d+\s", head):
            found.append(int(head.split()[0]))
    return tuple(sorted(set(found)))


def nearest_program(program: int, config: str, candidates: list[int] | None = None) -> int:
    """``program`` if ``config`` has it, else the closest one among ``candidates`` it has (else among all)."""
    have = programs(config)
    if program in have or not have:
        return program
    pool = [p for p in (candidates or []) if p in have] or list(have)
    return min(pool, key=lambda p: abs(p - program))


def midi_file(track: mido.MidiTrack, bpm: float, program: int) -> mido.MidiFile:
    """A one-track MIDI file: tempo, ``program`` on every melodic channel the track uses, the notes."""
    channels = sorted({m.channel for m in track if m.type in ("note_on", "note_off")} - {DRUM_CHANNEL})
    head = [mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0)]
    head += [mido.Message("program_change", channel=c, program=program, time=0) for c in channels]
    midi = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_BEAT)
    midi.tracks.append(mido.MidiTrack([*head, *track]))
    return midi


FREEPATS_CFG = "/etc/timidity/freepats.cfg"


def render_timidity(
    track: mido.MidiTrack, bpm: float, seconds: float, program: int = 0, sample_rate: int = 44100, config: str = FREEPATS_CFG
) -> np.ndarray:
    """Render ``track`` alone with TiMidity++.

    Returns:
        ``(2, round(seconds * sample_rate))`` float32 stereo.

    Raises:
        FileNotFoundError: when timidity is not installed.
        subprocess.CalledProcessError: when timidity fails.
    """
    total = int(round(seconds * sample_rate))
    with tempfile.TemporaryDirectory() as tmp:
        mid, wav = Path(tmp) / "part.mid", Path(tmp) / "part.wav"
        midi_file(track, bpm, program).save(mid)
        cmd = ["timidity", "-c", config, "-Ow", "-s", str(sample_rate), "-EFreverb=0", "-EFchorus=0", "-o", str(wav), str(mid)]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
        audio, _ = soundfile.read(wav, dtype="float32", always_2d=True)
    audio = audio.T[:2] if audio.shape[1] >= 2 else np.concatenate([audio.T, audio.T])
    out = np.zeros((2, total), np.float32)
    n = min(total, audio.shape[1])
    out[:, :n] = audio[:, :n]
    return out
