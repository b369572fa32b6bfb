"""separator.lowband: named mode's lowest bins re-decided by a small network trained on the model's masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import generated_song
from scipy.signal import butter, sosfilt

from separator import Separator
from separator.errors import ModelLoadError
from separator.features import bin_power, stft
from separator.lowband import (
    FLOOR_DB,
    LEVEL_SCALE_DB,
    N_CONTEXT,
    N_LOW,
    LowBandRefiner,
    load_refiner,
    low_inputs,
    refine_low_bins,
    refiner_path,
    save_refiner,
)
from separator.model import load_checkpoint
from separator.settings import SplitSettings

RATE = 44100


def random_masks(n_bins: int, frames: int, seed: int = 0) -> torch.Tensor:
    raw = torch.rand(5, n_bins, frames, generator=torch.Generator().manual_seed(seed)) + 0.01
    return raw / raw.sum(0, keepdim=True)


def noise_power(rate: int, seconds: float = 1.0) -> torch.Tensor:
    audio = torch.randn(2, int(rate * seconds), generator=torch.Generator().manual_seed(1))
    return bin_power(stft(audio, rate))


def changed_refiner() -> LowBandRefiner:
    refiner = LowBandRefiner(hidden=8)
    torch.nn.init.normal_(refiner.out.weight, std=0.3, generator=torch.Generator().manual_seed(2))
    return refiner.eval()


def test_an_untrained_refiner_leaves_the_masks_as_they_are() -> None:
    power = noise_power(RATE)
    masks = random_masks(power.shape[1], power.shape[2])
    out = refine_low_bins(masks.clone(), power, LowBandRefiner(hidden=8))
    assert out.shape == masks.shape
    assert torch.allclose(out, masks, atol=1e-5)


def test_only_the_lowest_bins_are_re_decided_and_the_masks_still_sum_to_one() -> None:
    power = noise_power(RATE)
    masks = random_masks(power.shape[1], power.shape[2])
    out = refine_low_bins(masks.clone(), power, changed_refiner())
    assert torch.allclose(out.sum(0), torch.ones_like(out[0]), atol=1e-5)
    assert not torch.allclose(out[:, :N_LOW], masks[:, :N_LOW], atol=1e-3)
    assert torch.equal(out[:, N_LOW:], masks[:, N_LOW:])


def test_weight_zero_is_off_and_one_half_is_half_way() -> None:
    power = noise_power(RATE)
    masks = random_masks(power.shape[1], power.shape[2])
    refiner = changed_refiner()
    assert refine_low_bins(masks, power, refiner, 0.0) is masks
    full, half = refine_low_bins(masks.clone(), power, refiner, 1.0), refine_low_bins(masks.clone(), power, refiner, 0.5)
    assert torch.allclose(half, (full + masks) / 2, atol=1e-6)


def test_the_refiner_s_input_does_not_depend_on_the_track_s_loudness() -> None:
    power = noise_power(RATE)
    masks = random_masks(power.shape[1], power.shape[2])
    quiet, loud = low_inputs(power, masks), low_inputs(power * 100.0, masks)
    assert quiet.shape == (N_LOW + N_CONTEXT + 5 * N_LOW, power.shape[2])
    assert torch.allclose(quiet, loud, atol=1e-4)


def test_a_low_sample_rate_without_the_high_context_bands_still_gets_refined_masks() -> None:
    power = noise_power(8000)  # 187 bins: the 4 and 8 kHz context bands lie above Nyquist
    masks = random_masks(power.shape[1], power.shape[2])
    inputs = low_inputs(power, masks)
    assert torch.isfinite(inputs).all()
    assert torch.equal(inputs[N_LOW + 4], torch.full_like(inputs[0], FLOOR_DB / LEVEL_SCALE_DB))
    out = refine_low_bins(masks.clone(), power, changed_refiner())
    assert torch.allclose(out.sum(0), torch.ones_like(out[0]), atol=1e-5)


def test_a_saved_refiner_loads_back_in_float16_precision(tmp_path: Path) -> None:
    refiner = changed_refiner()
    save_refiner(refiner, tmp_path / "x.lowband.pt", {"step": 1})
    back = load_refiner(tmp_path / "x.lowband.pt")
    power = noise_power(RATE)
    masks = random_masks(power.shape[1], power.shape[2])
    assert torch.allclose(refine_low_bins(masks.clone(), power, back), refine_low_bins(masks.clone(), power, refiner), atol=2e-3)
    assert refiner_path(tmp_path / "x.pt") == tmp_path / "x.lowband.pt"


def test_a_file_that_is_not_a_refiner_fails_in_one_line_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "model.lowband.pt"
    bad.write_bytes(b"not a refiner")
    with pytest.raises(ModelLoadError, match=r"model\.lowband\.pt: cannot load the low-band refiner") as err:
        load_refiner(bad)
    assert "\n" not in str(err.value)


def test_a_refiner_made_for_other_classes_fails_at_load_naming_both_files(tmp_path: Path) -> None:
    """A refiner beside a model it does not fit would be skipped at every split without a word."""
    model = tmp_path / "mine.pt"
    model.write_bytes((Path(__file__).parents[1] / "separator" / "pretrained" / "default.pt").read_bytes())
    save_refiner(LowBandRefiner(n_classes=4, hidden=8), refiner_path(model))
    with pytest.raises(ModelLoadError, match=r"mine\.lowband\.pt: the low-band refiner refines 4 classes but mine\.pt has 5") as err:
        load_checkpoint(model)
    assert "\n" not in str(err.value) and "retrain it" in str(err.value)


def test_the_shipped_model_has_its_refiner_and_low_band_is_a_checked_setting(separator: Separator) -> None:
    assert isinstance(separator.low_band_refiner, LowBandRefiner)
    assert separator.settings.low_band == 1.0
    with pytest.raises(Exception, match="low_band must be a number from 0 to 1"):
        SplitSettings(low_band=2.0)


def test_named_stems_change_only_under_the_refined_bins_and_still_add_up(separator: Separator) -> None:
    stems, present = generated_song(0)
    mix = stems[present].sum(0)
    off = Separator(separator.model, "cpu", separator.settings.replace(low_band=0.0), low_band_refiner=separator.low_band_refiner)
    with_refiner, without = separator.separate(mix, RATE), off.separate(mix, RATE)
    np.testing.assert_allclose(sum(with_refiner.values()), mix, atol=1e-4)
    changed = 0.0
    for name in with_refiner:
        diff = stft(torch.from_numpy(with_refiner[name] - without[name]), RATE)
        power = bin_power(diff).sum((0, 2))
        loud = float(power[N_LOW + 2 :].sum())  # a bin or two of leakage from the window's sidelobes
        assert loud <= 1e-3 * float(bin_power(stft(torch.from_numpy(mix), RATE)).sum()), name
        changed += float(power[:N_LOW].sum())
    assert changed > 0  # the refiner did something


def test_low_band_zero_turns_the_refiner_off_as_any_setting(separator: Separator) -> None:
    stems, present = generated_song(2)
    mix = stems[present].sum(0)
    off = Separator.from_pretrained(device="cpu", low_band=0)
    assert off.low_band_refiner is not None and off.settings.low_band == 0
    plain = Separator(separator.model, "cpu", separator.settings.replace(low_band=0.0))  # a network without its refiner
    a, b = off.separate(mix, RATE), plain.separate(mix, RATE)
    for name in a:
        np.testing.assert_allclose(a[name], b[name], atol=1e-5)


def test_a_band_limited_track_is_split_without_the_refiner(separator: Separator) -> None:
    """The refiner learnt the masks of full-band tracks; on 8 kHz mono files it cost 0.2 dB named, so a
    track whose bands stop under 8 kHz (:mod:`separator.bandwidth`) is split without it."""
    stems, present = generated_song(0)
    mix = stems[present].sum(0)
    sos = butter(8, 3000, "lp", fs=RATE, output="sos")
    low_passed = sosfilt(sos, sosfilt(sos, mix, axis=-1), axis=-1).astype(np.float32)
    off = Separator(separator.model, "cpu", separator.settings.replace(low_band=0.0))
    for track, refined in ((low_passed, False), (mix, True)):
        a, b = separator.separate(track, RATE), off.separate(track, RATE)
        difference = max(float(np.abs(a[name] - b[name]).max()) for name in a)
        assert (difference > 1e-3) == refined, (refined, difference)


def test_blind_mode_is_left_alone(separator: Separator) -> None:
    stems, present = generated_song(1)
    mix = stems[present].sum(0)
    off = Separator(separator.model, "cpu", separator.settings.replace(low_band=0.0))
    k = int(present.sum())
    a, b = separator.separate(mix, RATE, clusters=k), off.separate(mix, RATE, clusters=k)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
