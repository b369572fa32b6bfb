"""Per-bin percussive evidence on the drums stem: clicks are percussive, a held tone is not."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import split_with_and_without

from separator.features import stft
from separator.percussive import _cumsum_, favour_percussive, favour_percussive_, percussive_share

RATE = 44100


def _clicks_and_tone() -> tuple[torch.Tensor, int, int]:
    """Two seconds of a 1 kHz tone plus a click every 0.25 s: ``(stft (1, bins, frames), tone bin, a click frame)``."""
    t = np.arange(2 * RATE) / RATE
    audio = 0.1 * np.sin(2 * np.pi * 1000 * t)
    audio[RATE // 8 :: RATE // 4] += 1.0
    spec = stft(torch.from_numpy(audio.astype(np.float32))[None], RATE)
    return spec, round(1000 / (RATE / 2048)), (RATE // 8 + RATE // 4) // 512


@pytest.mark.parametrize("dim", [0, 1, 2])
def test_running_sums_along_any_axis_are_torch_cumsum_bit_for_bit(dim: int) -> None:
    values = torch.randn(40, 33, 17, dtype=torch.float64, generator=torch.Generator().manual_seed(dim)) * 30
    expected = values.cumsum(dim)
    summed = values.clone()
    assert _cumsum_(summed, dim) is summed  # in place
    assert torch.equal(summed, expected)


def test_the_share_is_the_sigmoid_of_the_log_power_smoothed_across_frequency_minus_across_time() -> None:
    """Box means of 31 bins and 31 frames, edges repeated, against a plain float64 computation of them."""
    spec = stft(torch.randn(2, 3 * 44100, generator=torch.Generator().manual_seed(4)), 44100)
    log_power = spec.abs().square().mean(0).clamp(min=1e-12).log().double()  # (bins, frames)
    padded = torch.nn.functional.pad(log_power[None, None], (15, 15, 15, 15), mode="replicate")[0, 0]
    along_time = padded[15:-15].unfold(1, 31, 1).mean(-1)
    along_frequency = padded[:, 15:-15].unfold(0, 31, 1).mean(-1)
    expected = torch.sigmoid(along_frequency - along_time).float()
    share = percussive_share(spec)
    assert share.shape == (1025, spec.shape[-1])
    torch.testing.assert_close(share, expected, atol=2e-6, rtol=0)


def test_clicks_are_percussive_and_a_held_tone_is_not() -> None:
    spec, tone_bin, click_frame = _clicks_and_tone()
    share = percussive_share(spec)
    assert share.shape == spec.shape[1:]
    assert float(share.min()) >= 0 and float(share.max()) <= 1
    assert float(share[tone_bin, click_frame + 8]) < 0.1  # the tone between clicks
    assert float(share[600, click_frame]) > 0.9  # far from the tone, on a click


def test_favouring_percussion_moves_click_bins_to_the_drums_and_keeps_the_sum() -> None:
    spec, tone_bin, click_frame = _clicks_and_tone()
    share = percussive_share(spec)
    masks = torch.full((3, *share.shape), 1 / 3)
    out = favour_percussive(masks, share, drums=1, power=0.5)
    torch.testing.assert_close(out.sum(0), torch.ones_like(share))
    assert float(out[1, 600, click_frame]) > 0.5 > float(out[1, tone_bin, click_frame + 8])
    assert favour_percussive(masks, share, drums=1, power=0.0) is masks


def test_the_in_place_step_changes_its_masks_to_what_the_copying_one_returns() -> None:
    spec, _, _ = _clicks_and_tone()
    share = percussive_share(spec)
    masks = torch.rand(3, *share.shape, generator=torch.Generator().manual_seed(5))
    masks /= masks.sum(0)
    before = masks.clone()
    out = favour_percussive(masks, share, drums=2, power=0.5)
    assert torch.equal(masks, before)  # the copying step leaves its input alone
    assert favour_percussive_(masks, share, drums=2, power=0.5) is masks
    torch.testing.assert_close(masks, out, rtol=0, atol=1e-7)
    # any layout of the same values, e.g. a block of frames laid out frames first
    block = before.transpose(1, 2)[:, 10:30].clone()
    favour_percussive_(block, share.T[10:30], drums=2, power=0.5)
    torch.testing.assert_close(block, out.transpose(1, 2)[:, 10:30], rtol=0, atol=1e-7)


@pytest.mark.parametrize(
    "setting, kwargs",
    [("percussive", {}), ("blind_percussive", {"clusters": 3}), ("percussive", {"stems": "drums"}), ("percussive", {"stems": "vocals"})],
)
def test_splits_with_percussive_evidence_still_add_back_to_the_mixture(setting, kwargs) -> None:  # type: ignore[no-untyped-def]
    """Named mode refines the drums class before stems are summed (a karaoke split's vocals change
    too, as in a full split); blind mode refines the source matched to drums (source1), with its own weight."""
    mix, plain, sharp = split_with_and_without(setting, 0.0, 1.0, **kwargs)  # drums, bass, guitar
    np.testing.assert_allclose(sum(sharp.values()), mix, atol=1e-5)
    first = next(iter(sharp))
    assert not np.allclose(sharp[first], plain[first], atol=1e-4), f"{kwargs}: {first} did not change"
