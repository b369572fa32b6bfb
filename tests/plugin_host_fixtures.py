"""Helpers for the plugin_host tests: generated songs, an oracle separator, level measurements, test VST3s.

Signals are generated (never stored) and cached for the whole session.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from separator import CLASSES, SeparationError
from separator.training.data.make import Recipe, make_song
from separator.training.data.render import bundled_soundfont
from stembase import audio as audio_io

SR = 44100
SECONDS = 3.0
REPO = Path(__file__).resolve().parent.parent
VST3_ENV = "PLUGIN_HOST_TEST_VST3_DIR"


@functools.lru_cache(maxsize=16)
def song(index: int = 0, seconds: float = SECONDS) -> dict[str, np.ndarray]:
    """The stems of generated song ``index`` with every class present: ``{class: (2, samples) float32}``.

    Songs lacking a class are skipped, so index 0 is the first full song of the seed.
    """
    found = -1
    for i in range(100):
        stems, present = _render(i, seconds)
        found += bool(present.all())
        if found == index:
            return dict(zip(CLASSES, stems, strict=True))
    raise LookupError(f"fewer than {index + 1} full songs among the first 100")


@functools.lru_cache(maxsize=64)
def _render(index: int, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    recipe = Recipe(
        seed=2024, seconds=seconds, soundfonts=[bundled_soundfont()], use_espeak=False, only=["TimGM6mb", "formant"], produce=False
    )
    return make_song(recipe, index)


def mixture(index: int = 0, seconds: float = SECONDS) -> np.ndarray:
    """The sum of :func:`song`'s stems, ``(2, samples)`` float32."""
    return np.sum(list(song(index, seconds).values()), axis=0).astype(np.float32)


class OracleSeparator:
    """A stand-in for :class:`separator.Separator` that returns the true stems of the generated songs it knows.

    It tests what a chain does with stems (routing, mute, solo, gain, effects) exactly,
    independent of how well the current model separates.
    """

    classes = CLASSES

    def __init__(self, songs: Sequence[dict[str, np.ndarray]]) -> None:
        self.known = {self._key(np.sum(list(s.values()), axis=0).astype(np.float32)): s for s in songs}
        self.calls = 0

    @staticmethod
    def _key(audio: np.ndarray) -> bytes:
        return np.ascontiguousarray(audio, np.float32).tobytes()

    def separate(
        self, audio: np.ndarray, sample_rate: int, stems: list[str] | None = None, clusters: int | None = None, progress: object = None
    ) -> dict[str, np.ndarray]:
        self.calls += 1
        truth = self.known.get(self._key(audio))
        if truth is None or clusters is not None:
            raise SeparationError("the oracle knows only the generated test songs, in named mode")
        wanted = list(stems) if stems is not None else list(CLASSES)
        out = {n: truth[n] for n in wanted if n != "other"}
        rest = [c for c in CLASSES if c not in out]
        if rest:
            out["other"] = np.sum([truth[c] for c in rest], axis=0).astype(np.float32)
        return out


def energy_db(x: np.ndarray) -> float:
    """Mean power in dB (re full scale squared)."""
    return float(10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2) + 1e-20))


def ratio_db(a: np.ndarray, b: np.ndarray) -> float:
    """Energy of ``a`` relative to ``b``, in dB."""
    return energy_db(a) - energy_db(b)


def peak_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.abs(x).max() + 1e-20))


def crest_db(x: np.ndarray) -> float:
    """Peak-to-RMS ratio in dB: lower means more compressed."""
    return peak_db(x) - energy_db(x)  # energy in dB is the RMS level in dBFS


def band_db(x: np.ndarray, sample_rate: int, low: float, high: float) -> float:
    """Energy in dB of the ``low``–``high`` Hz band of ``x`` (all channels)."""
    spectrum = np.abs(np.fft.rfft(np.asarray(x, np.float64), axis=-1)) ** 2
    freqs = np.fft.rfftfreq(x.shape[-1], 1 / sample_rate)
    band = (freqs >= low) & (freqs < high)
    return float(10 * np.log10(spectrum[..., band].sum() / x.shape[-1] + 1e-20))


def noise(seconds: float = 2.0, channels: int = 2, sample_rate: int = SR, level: float = 0.1, seed: int = 0) -> np.ndarray:
    """``(channels, samples)`` float32 white noise."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((channels, int(seconds * sample_rate))) * level).astype(np.float32)


def write(path: Path, audio: np.ndarray, sample_rate: int = SR) -> Path:
    """A real audio file (32-bit float WAV unless the suffix says otherwise)."""
    depth = "24" if path.suffix == ".flac" else "32f"
    return audio_io.save(path, audio, sample_rate, bit_depth=depth)


def vst3_dir() -> Path | None:
    """Where the test VST3 plugins are: ``$PLUGIN_HOST_TEST_VST3_DIR``, else the repo's ``.vst3`` (``fetch-test-vst3 .vst3``)."""
    for candidate in (os.environ.get(VST3_ENV), REPO / ".vst3"):
        if candidate and any(Path(candidate).glob("*.vst3")):
            return Path(candidate)
    return None


def vst3(name: str) -> Path | None:
    """The path of test plugin ``name`` (``ZamComp``), or ``None`` when it is not available."""
    folder = vst3_dir()
    path = folder / f"{name}.vst3" if folder else None
    return path if path is not None and path.exists() else None
