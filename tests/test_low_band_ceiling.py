"""scripts/low-band-ceiling.py: the oracle re-division of two stems below a cutoff."""

from __future__ import annotations

import numpy as np
from conftest import REPO, load_module

from separator.training.metrics import si_sdr

RATE = 44100


def load_script():  # type: ignore[no-untyped-def]
    return load_module(REPO / "scripts" / "low-band-ceiling.py", "low_band_ceiling")


def tone(hz: float) -> np.ndarray:
    t = np.arange(RATE) / RATE
    return np.stack([np.sin(2 * np.pi * hz * t)] * 2).astype(np.float32) * 0.3


def test_a_low_band_shared_half_and_half_is_given_back_to_its_sources() -> None:
    script = load_script()
    kick, bass, voice = tone(60), tone(150), tone(1000)
    halves = {"drums": 0.5 * (kick + bass), "bass": 0.5 * (kick + bass), "vocals": voice}
    out = script.redivide(halves, {"drums": kick, "bass": bass, "vocals": voice}, ("drums", "bass"), 300.0, RATE)
    assert si_sdr(out["drums"], kick) > 20 and si_sdr(out["bass"], bass) > 20  # from about 0 dB
    assert np.array_equal(out["vocals"], voice)  # a stem outside the pair is left as it is


def test_only_the_bins_under_the_cutoff_are_re_divided() -> None:
    script = load_script()
    low, high = tone(100), tone(2000)
    both = {"drums": 0.5 * (low + high), "bass": 0.5 * (low + high)}
    out = script.redivide(both, {"drums": low, "bass": high}, ("drums", "bass"), 300.0, RATE)
    assert si_sdr(out["drums"], 0.5 * high + low) > 20  # its low tone back whole, its share of the high one kept
    assert si_sdr(out["bass"], 0.5 * high) > 20


def test_a_song_without_both_sources_is_left_as_split() -> None:
    script = load_script()
    stems = {"drums": tone(60), "bass": tone(100)}
    assert script.redivide(stems, {"drums": tone(60)}, ("drums", "bass"), 300.0, RATE) is stems


def test_each_true_stem_s_energy_is_shared_out_whole_among_the_named_stems(separator) -> None:  # type: ignore[no-untyped-def]
    from separator.classes import CLASSES

    script = load_script()
    kick, voice = tone(60), tone(440)
    shares = script.energy_shares(separator, kick + voice, {"drums": kick, "vocals": voice}, RATE)
    assert set(shares) == {"drums", "vocals"}
    for share in shares.values():
        assert share.shape == (len(CLASSES),) and np.all(share >= 0)
        assert abs(float(share.sum()) - 1) < 1e-3  # the masks sum to 1 over stems
