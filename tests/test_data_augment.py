"""Per-stem effect chains (separator.training.data.augment): the heavy chain adds timbre variety per class,
and leaving it off draws exactly what earlier releases drew (the evaluation sets stay the same)."""

from __future__ import annotations

import numpy as np
import pedalboard as pb

from separator.training.data.augment import _colour, _dynamics, _eq, _space, augment, heavy_chain, random_chain
from separator.training.data.make import Recipe, make_song_sources
from separator.training.data.render import bundled_soundfont


def _kinds(chain: pb.Pedalboard | list[pb.Plugin]) -> list[str]:
    return [type(p).__name__ for p in chain]


def test_without_heavy_the_chain_is_the_old_one() -> None:
    for seed in range(20):
        for stem in ("drums", "bass", "guitar", "vocals", "other"):
            rng = np.random.default_rng(seed)
            old = [*_colour(stem, rng), *_eq(rng), *_dynamics(rng), *_space(rng)]
            assert _kinds(random_chain(stem, np.random.default_rng(seed))) == _kinds(old)


def test_heavy_chain_gives_each_class_its_variety() -> None:
    def seen(stem: str) -> set[str]:
        return {k for seed in range(60) for k in _kinds(heavy_chain(stem, np.random.default_rng(seed)))}

    for stem in ("drums", "bass", "guitar", "vocals", "other"):
        assert {"LowShelfFilter", "HighShelfFilter", "Distortion", "Reverb"} <= seen(stem)  # tilt, saturation, rooms
    assert "PitchShift" in seen("vocals") and "PitchShift" not in seen("drums")
    assert "Chorus" in seen("guitar") and "Phaser" in seen("guitar")
    chain = random_chain("vocals", np.random.default_rng(0), heavy=True)
    assert len(chain) > len(random_chain("vocals", np.random.default_rng(0)))


def test_heavy_augmentation_keeps_shape_and_finite_audio() -> None:
    audio = (np.random.default_rng(0).standard_normal((2, 22050)) * 0.1).astype(np.float32)
    for seed in range(10):
        for stem in ("drums", "bass", "guitar", "vocals", "other"):
            out = augment(audio, stem, 44100, np.random.default_rng(seed), heavy=True)
            assert out.shape == audio.shape and np.isfinite(out).all() and np.abs(out).max() > 0


def test_heavy_fx_is_opt_in_for_generated_songs() -> None:
    sf = bundled_soundfont() or ""
    plain = Recipe(seed=3, seconds=1.0, soundfonts=[sf], use_espeak=False)
    assert plain.heavy_fx is False
    heavy = Recipe(seed=3, seconds=1.0, soundfonts=[sf], use_espeak=False, heavy_fx=True)
    a, _, _ = make_song_sources(plain, 0)
    b, _, _ = make_song_sources(heavy, 0)
    again, _, _ = make_song_sources(plain, 0)
    np.testing.assert_array_equal(a, again)  # the default draws what it drew before
    assert a.shape == b.shape and not np.allclose(a, b)
