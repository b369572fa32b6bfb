"""Procedural instruments: the song's parts played by synthesis written here, not by samples.

Every SoundFont, patch set and recording installable here is already a source; what the class
head lacks is timbres none of them has (issue 18: on sounds it never heard, named mode swaps
guitar and *other* more than any other pair, and names voices bass). The instrument follows the
part's General MIDI program; its parameters are drawn per part, so no two parts sound alike:

- guitar and bass: plucked strings (Karplus–Strong with a fractional-delay loop filter, pick
  position, body resonances, palm muting);
- bass: also subtractive (sawtooth, square or pulse through a low-pass that closes) and two-operator FM;
- *other*: FM electric pianos and bells, drawbar organs with a rotary tremolo, detuned string and
  synth pads, brass and leads with a filter envelope and vibrato, breathy pipes;
- drums: an analogue-style kit (pitch-swept kicks from tight to long 808 tails, noise-and-tone
  snares and claps, filtered-noise hats and cymbals, swept toms).

All parts are ``(2, samples)`` float32 at the song's length, peak 0.5. Half the *other* parts are
played a few cents apart on the two channels (width); the rest are centred, and every part is
panned later like any other source. The kit pans each of its drums a little.
"""

from __future__ import annotations

from collections.abc import Callable

import mido
import numpy as np
from scipy import signal

from separator.training.data.compose import note_onsets, note_spans
from separator.training.data.lofi import lowpass
from separator.training.data.voice import resonate

Note = tuple[int, int, int, int]  # start, stop (samples), MIDI note, velocity
# (f0 Hz, held samples, room: the samples left in the clip, sample rate, rng) → (at most room samples,)
Voice = Callable[[float, int, int, int, np.random.Generator], np.ndarray]


def _hz(note: int) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def _release(x: np.ndarray, held: int, seconds: float, sample_rate: int) -> np.ndarray:
    """``x`` faded out exponentially after ``held`` samples (time constant ``seconds``)."""
    if held < len(x):
        x = x.copy()
        x[held:] *= np.exp(-np.arange(len(x) - held) / max(1.0, seconds * sample_rate))
    return x


# -- plucked strings ------------------------------------------------------------------------


def pluck(
    f0: float, n: int, sample_rate: int, brightness: float, decay: float, pick: float, rng: np.random.Generator | None = None
) -> np.ndarray:
    """A Karplus–Strong string: ``n`` samples of a string at ``f0`` Hz.

    The loop filter is ``[1-f, 1, f] / 2`` at delays ``L, L+1, L+2`` (a two-tap average
    convolved with a linear fractional delay), so the period is ``L + 0.5 + f`` samples exactly
    at low frequencies. ``brightness`` (0..1) low-passes the noise burst, ``pick`` (0..0.5) is
    the plucking point's comb, ``decay`` the loop gain per period (e.g. 0.996). The burst is drawn
    from ``rng`` (default: one seeded by ``f0``).
    """
    period = sample_rate / f0
    delay = max(2, int(np.floor(period - 0.5)))
    frac = float(np.clip(period - 0.5 - delay, 0.0, 1.0))
    burst = (rng or np.random.default_rng(int(f0 * 1000))).uniform(-1, 1, delay + 2)
    burst = lowpass(burst, 200 + brightness * 0.4 * sample_rate, sample_rate, 1)
    offset = max(1, int(pick * delay))
    burst[offset:] -= burst[:-offset].copy()  # the plucking point cancels some harmonics
    out = np.zeros(n + delay + 2)
    out[: len(burst)] = burst
    w0, w1, w2 = decay * (1 - frac) / 2, decay / 2, decay * frac / 2
    for start in range(delay + 2, len(out), delay):  # every block depends on samples at least L back
        stop = min(start + delay, len(out))
        k = np.arange(start, stop)
        out[k] += w0 * out[k - delay] + w1 * out[k - delay - 1] + w2 * out[k - delay - 2]
    return out[:n]


def _string_voice(bass: bool, rng: np.random.Generator) -> Voice:
    brightness = float(rng.uniform(0.15, 0.6) if bass else rng.uniform(0.3, 1.0))
    decay = float(rng.uniform(0.990, 0.998) if bass else rng.uniform(0.993, 0.9995))
    pick = float(rng.uniform(0.08, 0.3))
    mute = rng.random() < 0.25  # palm-muted or staccato
    body = [(float(rng.uniform(90, 130)), 12.0), (float(rng.uniform(180, 260)), 20.0), (float(rng.uniform(380, 520)), 40.0)]

    def voice(f0: float, held: int, room: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        n = min(room, held + int((0.05 if mute else 0.25) * sample_rate))
        x = pluck(f0, n, sample_rate, brightness, decay ** (3 if mute else 1), pick, rng)
        if not bass:  # a guitar body's few strong resonances
            x = x + sum(resonate(x, fr, bw, sample_rate) * 0.6 for fr, bw in body)
        return _release(x, held, 0.03 if mute else 0.08, sample_rate)

    return voice


# -- oscillators and envelopes ----------------------------------------------------------


def oscillator(shape: str, f: np.ndarray, sample_rate: int, phase: float = 0.0) -> np.ndarray:
    """A ``saw``, ``square``, ``pulse`` (25 %), ``triangle`` or ``sine`` wave following the frequency
    curve ``f`` (Hz per sample). The naive wave is computed at twice the rate and decimated, which
    lowers its aliasing (it does not remove it: a low-pass usually follows)."""
    up = np.repeat(f, 2) / 2
    ph = (phase + np.cumsum(up) / sample_rate) % 1.0
    if shape == "saw":
        w = 2 * ph - 1
    elif shape in ("square", "pulse"):
        duty = 0.5 if shape == "square" else 0.25
        w = (np.where(ph < duty, 1.0, -1.0) + (1 - 2 * duty)) / (2 - 2 * duty)  # zero mean, peak 1
    elif shape == "triangle":
        w = 1 - 4 * np.abs(ph - 0.5)
    else:
        w = np.sin(2 * np.pi * ph)
    return signal.resample_poly(w, 1, 2)[: len(f)]


def adsr(n: int, held: int, sample_rate: int, attack: float, decay: float, sustain: float, release: float) -> np.ndarray:
    """An envelope over ``n`` samples: attack, decay to ``sustain`` while held, exponential release."""
    t = np.arange(n) / sample_rate
    env = np.where(t < attack, t / max(attack, 1e-4), sustain + (1 - sustain) * np.exp(-(t - attack) / max(decay, 1e-4)))
    return _release(env, held, release, sample_rate)


def _vibrato(n: int, sample_rate: int, rate: float, depth: float, delay: float) -> np.ndarray:
    t = np.arange(n) / sample_rate
    return 1 + depth * np.sin(2 * np.pi * rate * t) * np.clip((t - delay) * 4, 0, 1)


def _subtractive_voice(kind: str, rng: np.random.Generator) -> Voice:
    """Bass, pads, strings, brass and leads: detuned oscillators through a low-pass that moves
    from ``bright`` to ``dark`` with its own envelope (two static filters cross-faded)."""
    shape = str(
        rng.choice(
            {"bass": ["saw", "square", "pulse"], "pad": ["saw", "triangle", "pulse"], "lead": ["saw", "square", "pulse"]}.get(kind, ["saw"])
        )
    )
    voices = int(rng.integers(1, 3)) if kind in ("bass", "lead") else int(rng.integers(2, 5))
    detune = float(rng.uniform(0.001, 0.006))  # the outer of four oscillators ±15 cents at most
    attack = {"pad": rng.uniform(0.15, 0.6), "strings": rng.uniform(0.08, 0.3), "brass": rng.uniform(0.03, 0.08)}.get(
        kind, rng.uniform(0.002, 0.02)
    )
    release = {"pad": rng.uniform(0.3, 0.8), "strings": rng.uniform(0.15, 0.4)}.get(kind, rng.uniform(0.04, 0.15))
    sustain = float(rng.uniform(0.3, 0.9))
    bright, dark = float(rng.uniform(1500, 8000)), float(rng.uniform(200, 1500))
    if kind == "bass":
        bright, dark = float(rng.uniform(600, 3000)), float(rng.uniform(120, 500))
    sweep = float(rng.uniform(0.05, 0.5))
    vibrato = (float(rng.uniform(4.5, 6.5)), float(rng.uniform(0.002, 0.008))) if kind in ("strings", "lead", "brass") else (5.0, 0.0)
    sub = kind == "bass" and rng.random() < 0.5

    def voice(f0: float, held: int, room: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        n = min(room, held + int(release * 5 * sample_rate))
        f = f0 * _vibrato(n, sample_rate, vibrato[0], vibrato[1], 0.2)
        spread = [f * (1 + detune * (v - (voices - 1) / 2)) for v in range(voices)]
        x = np.mean([oscillator(shape, fv, sample_rate, float(rng.random())) for fv in spread], axis=0)
        if sub:
            x = x + 0.6 * oscillator("sine", f / 2, sample_rate)
        closing = np.exp(-np.arange(n) / (sweep * sample_rate))
        x = lowpass(x, bright, sample_rate, 2) * closing + lowpass(x, dark, sample_rate, 2) * (1 - closing)
        return x * adsr(n, held, sample_rate, float(attack), 0.3, sustain, float(release))

    return voice


def _fm_voice(kind: str, rng: np.random.Generator) -> Voice:
    """Two operators: electric piano (ratio 1, bell-like tine ratio 14 on top), bells and mallets
    (inharmonic ratios), FM bass (ratio 1 or 2, a fast-closing index; no ratio under 1, which would sound an octave down)."""
    ratio = {"bells": float(rng.choice([3.5, 2.76, 4.2, 1.41])), "bass": float(rng.choice([1.0, 2.0]))}.get(kind, 1.0)
    index = float(rng.uniform(1.0, 5.0))
    index_decay = float(rng.uniform(0.05, 0.6))
    amp_decay = float(rng.uniform(0.4, 2.5) if kind != "bass" else rng.uniform(0.2, 1.0))
    tine = kind == "piano" and rng.random() < 0.7

    def voice(f0: float, held: int, room: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        n = min(room, held + int(0.3 * sample_rate))
        t = np.arange(n) / sample_rate
        idx = index * np.exp(-t / index_decay)
        x = np.sin(2 * np.pi * f0 * t + idx * np.sin(2 * np.pi * f0 * ratio * t))
        if tine:
            x = x + 0.15 * np.sin(2 * np.pi * f0 * 14 * t) * np.exp(-t / 0.02)
        return _release(x * np.exp(-t / amp_decay), held, 0.08, sample_rate)

    return voice


def _organ_voice(rng: np.random.Generator) -> Voice:
    """Drawbars (16', 8', 5⅓', 4', 2⅔', 2', 1⅗', 1⅓', 1') with a percussive third harmonic and a rotary tremolo."""
    harmonics = np.array([0.5, 1, 1.5, 2, 3, 4, 5, 6, 8])
    bars = rng.integers(0, 9, len(harmonics)) / 8.0
    bars[1] = max(bars[1], 0.6)
    percussion = rng.random() < 0.5
    rotary = (float(rng.uniform(0.8, 6.5)), float(rng.uniform(0.0, 0.3)))

    def voice(f0: float, held: int, room: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        n = min(room, held + int(0.05 * sample_rate))
        t = np.arange(n) / sample_rate
        x = sum(b * np.sin(2 * np.pi * f0 * h * t) for b, h in zip(bars, harmonics, strict=True) if b > 0 and f0 * h < 0.45 * sample_rate)
        if percussion:
            x = x + 0.8 * np.sin(2 * np.pi * f0 * 3 * t) * np.exp(-t / 0.15)
        x = x * (1 + rotary[1] * np.sin(2 * np.pi * rotary[0] * t))
        return _release(x * np.clip(t / 0.005, 0, 1), held, 0.01, sample_rate)

    return voice


def _pipe_voice(rng: np.random.Generator) -> Voice:
    """Flutes and pipes: a few soft harmonics, breath noise around the fundamental, slow vibrato."""
    weights = np.array([1.0, *rng.uniform(0.0, 0.4, 3)])
    breath = float(rng.uniform(0.02, 0.15))

    def voice(f0: float, held: int, room: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        n = min(room, held + int(0.1 * sample_rate))
        f = f0 * _vibrato(n, sample_rate, float(rng.uniform(4.5, 5.5)), 0.004, 0.25)
        x = sum(w * oscillator("sine", f * (k + 1), sample_rate) for k, w in enumerate(weights))
        x = x + breath * resonate(rng.standard_normal(n), min(f0 * 2, 0.4 * sample_rate), f0 * 0.5, sample_rate) * 8
        return x * adsr(n, held, sample_rate, 0.06, 0.2, 0.8, 0.08)

    return voice


def melodic_voice(name: str, program: int, rng: np.random.Generator) -> tuple[str, Voice]:
    """The instrument for part ``name`` (bass, guitar, other) played as General MIDI ``program``:
    ``(family, voice)``; the family follows the program, its parameters are drawn from ``rng``."""
    if name == "guitar":
        return "pluck", _string_voice(False, rng)
    if name == "bass":
        family = str(rng.choice(["pluck", "subtractive", "fm"], p=[0.45, 0.35, 0.2]))
        voice = (
            _string_voice(True, rng)
            if family == "pluck"
            else _subtractive_voice("bass", rng)
            if family == "subtractive"
            else _fm_voice("bass", rng)
        )
        return family, voice
    if program < 8:
        return "fm piano", _fm_voice("piano", rng)
    if program < 16:
        return "fm bells", _fm_voice("bells", rng)
    if program < 24:
        return "organ", _organ_voice(rng)
    if 40 <= program < 56:
        return "strings", _subtractive_voice("strings", rng)
    if 56 <= program < 72:
        return "brass", _subtractive_voice("brass", rng)
    if 72 <= program < 80:
        return "pipe", _pipe_voice(rng)
    if 88 <= program < 96:
        return "pad", _subtractive_voice("pad", rng)
    return "lead", _subtractive_voice("lead", rng)


def play(notes: list[Note], voice: Voice, total: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Every note of ``notes`` played by ``voice`` into ``(total,)`` float32 (velocity as gain)."""
    out = np.zeros(total)
    for start, stop, note, velocity in notes:
        if start >= total or stop - start < 16:
            continue
        x = voice(_hz(note), stop - start, total - start, sample_rate, rng)
        out[start : start + len(x)] += x * (velocity / 127) ** 1.2
    return out.astype(np.float32)


def render_melodic(
    track: mido.MidiTrack, name: str, program: int, bpm: float, seconds: float, rng: np.random.Generator, sample_rate: int = 44100
) -> np.ndarray:
    """Part ``name`` of a song played by a procedural instrument.

    Returns:
        ``(2, round(seconds * sample_rate))`` float32, peak 0.5 (zeros for a track without notes).
    """
    total = int(round(seconds * sample_rate))
    _, voice = melodic_voice(name, program, rng)
    notes = note_spans(track, bpm, sample_rate)
    wide = rng.random() < 0.5 and name == "other"
    left = play(notes, voice, total, sample_rate, rng)
    right = play(notes, _detuned(voice, float(rng.uniform(1.001, 1.006))), total, sample_rate, rng) if wide else left
    return _peak_half(np.stack([left, right]))


def _detuned(voice: Voice, ratio: float) -> Voice:
    return lambda f0, held, room, sample_rate, rng: voice(f0 * ratio, held, room, sample_rate, rng)


def _peak_half(x: np.ndarray) -> np.ndarray:
    peak = float(np.abs(x).max())
    return (x / peak * 0.5 if peak > 0 else x).astype(np.float32)


# -- drums ---------------------------------------------------------------------------------


def _kick(rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """A pitch-swept sine: from a tight 0.15-s thump to a 1-s 808 tail, with a click and some drive."""
    length = float(rng.choice([rng.uniform(0.12, 0.3), rng.uniform(0.4, 1.0)]))
    t = np.arange(int(length * 1.5 * sample_rate)) / sample_rate
    low, high = float(rng.uniform(40, 65)), float(rng.uniform(100, 300))
    f = low + (high - low) * np.exp(-t / float(rng.uniform(0.01, 0.06)))
    x = np.sin(2 * np.pi * np.cumsum(f) / sample_rate) * np.exp(-t / (length / 3))
    x = np.tanh(x * float(rng.uniform(1.0, 3.0)))
    click = rng.standard_normal(len(t)) * np.exp(-t / 0.003) * float(rng.uniform(0.0, 0.5))
    return x + lowpass(click, 6000, sample_rate, 2)


def _noise_hit(rng: np.random.Generator, sample_rate: int, low: float, high: float, decay: float, tone: float = 0.0) -> np.ndarray:
    t = np.arange(int(decay * 6 * sample_rate)) / sample_rate
    sos = signal.butter(2, [low, min(high, 0.45 * sample_rate)], "band", fs=sample_rate, output="sos")
    x = signal.sosfilt(sos, rng.standard_normal(len(t))) * np.exp(-t / decay) * 3
    if tone:
        x = x + np.sin(2 * np.pi * tone * t) * np.exp(-t / (decay * 0.7))
    return x


def _clap(rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    hit = _noise_hit(rng, sample_rate, 800, 3000, float(rng.uniform(0.05, 0.15)))
    out = hit.copy()
    for k in range(1, 4):  # a few hands, ~10 ms apart
        d = int(k * rng.uniform(0.006, 0.014) * sample_rate)
        out[d:] += hit[: len(hit) - d] * 0.7
    return out


def _tom(note: int, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    t = np.arange(int(0.6 * sample_rate)) / sample_rate
    base = 70 * 2 ** ((note - 41) / 10)
    f = base * (1 + 0.5 * np.exp(-t / 0.04))
    return np.sin(2 * np.pi * np.cumsum(f) / sample_rate) * np.exp(-t / float(rng.uniform(0.1, 0.3)))


def drum_kit(rng: np.random.Generator, sample_rate: int) -> dict[str, np.ndarray]:
    """One kit, drawn once per part: ``{category: mono one-shot}``."""
    snare_decay = float(rng.uniform(0.06, 0.2))
    return {
        "kick": _kick(rng, sample_rate),
        "snare": _noise_hit(
            rng, sample_rate, float(rng.uniform(1000, 3000)), float(rng.uniform(6000, 12000)), snare_decay, float(rng.uniform(150, 250))
        ),
        "clap": _clap(rng, sample_rate),
        "closed_hat": _noise_hit(rng, sample_rate, float(rng.uniform(6000, 9000)), 16000, float(rng.uniform(0.015, 0.05))),
        "open_hat": _noise_hit(rng, sample_rate, float(rng.uniform(6000, 9000)), 16000, float(rng.uniform(0.12, 0.3))),
        "cymbal": _noise_hit(rng, sample_rate, float(rng.uniform(3000, 6000)), 16000, float(rng.uniform(0.4, 0.9))),
    }


# General MIDI drum notes → categories of :func:`drum_kit` (toms are made per note).
_DRUM_NOTES = {
    35: "kick",
    36: "kick",
    37: "clap",
    38: "snare",
    39: "clap",
    40: "snare",
    42: "closed_hat",
    44: "closed_hat",
    46: "open_hat",
    49: "cymbal",
    51: "cymbal",
    52: "cymbal",
    53: "cymbal",
    55: "cymbal",
    57: "cymbal",
    59: "cymbal",
}


def render_drums(track: mido.MidiTrack, bpm: float, seconds: float, rng: np.random.Generator, sample_rate: int = 44100) -> np.ndarray:
    """The drum track played by an analogue-style kit (:func:`drum_kit`); each hit panned a little.

    Returns:
        ``(2, round(seconds * sample_rate))`` float32, peak 0.5.
    """
    total = int(round(seconds * sample_rate))
    kit = drum_kit(rng, sample_rate)
    levels = {c: 10 ** (float(rng.uniform(-8, 0)) / 20) for c in kit}
    levels["kick"] = 1.0
    pans = {c: float(rng.uniform(-0.3, 0.3)) for c in kit}
    out = np.zeros((2, total))
    for start, note, velocity in note_onsets(track, bpm, sample_rate):
        if start >= total:
            continue
        category = _DRUM_NOTES.get(note, "tom" if 41 <= note <= 50 else None)
        if category is None:
            continue
        sound = _tom(note, rng, sample_rate) if category == "tom" else kit[category] * levels[category]
        gain = (velocity / 127) ** 1.5
        x = sound[: total - start] * gain
        p = pans.get(category, 0.0)
        out[0, start : start + len(x)] += x * np.sqrt((1 - p) / 2) * np.sqrt(2)
        out[1, start : start + len(x)] += x * np.sqrt((1 + p) / 2) * np.sqrt(2)
    return _peak_half(out)
