"""Per-bin pan evidence: a bin leans to the stem that sits where it sits in the stereo field."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import split_with_and_without

from separator.features import stft
from separator.panning import favour_pan, focused, pan_angle

RATE = 44100


def _panned_tones() -> tuple[torch.Tensor, int, int]:
    """A 440 Hz tone hard left and a 3 kHz tone hard right: ``(stft (2, bins, frames), left bin, right bin)``."""
    t = np.arange(RATE) / RATE
    audio = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 3000 * t)]).astype(np.float32)
    return stft(torch.from_numpy(audio), RATE), round(440 / (RATE / 2048)), round(3000 / (RATE / 2048))


def test_pan_angle_is_zero_left_quarter_pi_centred_and_half_pi_right() -> None:
    spec, left, right = _panned_tones()
    angle = pan_angle(spec)
    assert float(angle[left, 20]) == pytest.approx(0, abs=1e-3)
    assert float(angle[right, 20]) == pytest.approx(math.pi / 2, abs=1e-3)
    assert float(pan_angle(torch.ones(2, 3, 4, dtype=torch.complex64)).mean()) == pytest.approx(math.pi / 4)
    assert float(pan_angle(torch.zeros(2, 3, 4, dtype=torch.complex64)).mean()) == pytest.approx(math.pi / 4)  # silence: centred


def test_bins_move_to_the_stem_whose_mask_already_leans_their_way_and_masks_still_sum_to_one() -> None:
    """Stem 0 holds a little more of the left tone, stem 1 of the right: each stem's fitted position
    leans the same way, so the evidence moves each tone's bins further towards its stem."""
    spec, left, right = _panned_tones()
    masks = torch.full((2, *spec.shape[1:]), 0.5)
    masks[0, left], masks[1, left] = 0.6, 0.4
    masks[0, right], masks[1, right] = 0.4, 0.6
    out = favour_pan(masks, spec, power=2.0)
    torch.testing.assert_close(out.sum(0), torch.ones(spec.shape[1:]))
    assert float(out[0, left, 20]) > 0.65 and float(out[1, right, 20]) > 0.65


def test_a_focused_fit_finds_each_stem_where_its_bins_are_and_pushes_harder() -> None:
    """Soft masks give each stem a share of the other's tone, which draws both fitted positions to the
    centre; fitted on the masks to the 4th power, each stem sits nearer its own tone, so the same masks
    lean further its way, and more so the higher the power."""
    spec, left, right = _panned_tones()
    masks = torch.full((2, *spec.shape[1:]), 0.5)
    masks[0, left], masks[1, left] = 0.6, 0.4
    masks[0, right], masks[1, right] = 0.4, 0.6
    plain, sharp, sharper = (favour_pan(masks, spec, power=2.0, focus=f) for f in (1.0, 4.0, 16.0))
    for out in (sharp, sharper):
        torch.testing.assert_close(out.sum(0), torch.ones(spec.shape[1:]))
    assert float(plain[0, left, 20]) < float(sharp[0, left, 20]) < float(sharper[0, left, 20])
    assert float(plain[1, right, 20]) < float(sharp[1, right, 20]) < float(sharper[1, right, 20])
    torch.testing.assert_close(favour_pan(masks, spec, power=2.0, focus=1.0), favour_pan(masks, spec, power=2.0))


def _pan_reference(masks: torch.Tensor, spec: torch.Tensor, power: float, focus: float) -> torch.Tensor:
    """The pan step written out over the whole segment at once, in float64: the specification of favour_pan."""
    m, s = masks.double(), spec.to(torch.complex128)
    theta = torch.atan2(s[1].abs() + 1e-12, s[0].abs() + 1e-12) - math.pi / 4  # (bins, frames)
    total = s.abs().square().sum(0)
    weight = m**focus * total
    mean = (weight * theta).sum((1, 2)) / weight.sum((1, 2))
    variance = (weight * theta.square()).sum((1, 2)) / weight.sum((1, 2)) - mean**2 + 0.01
    log_likelihood = -0.5 * (theta - mean[:, None, None]).square() / variance[:, None, None] - 0.5 * variance.log()[:, None, None]
    return torch.softmax(m.clamp(min=1e-12).log() + power * log_likelihood, dim=0).float()


@pytest.mark.parametrize("focus", [1.0, 4.0, 16.0])
def test_the_pan_step_a_block_of_frames_at_a_time_is_the_step_over_the_whole_segment(focus: float) -> None:
    """Three stems of noise panned left, centre and right over 3 s (several blocks of frames): each stem is
    fitted on every frame before any frame moves, so the result is the whole-segment formula's."""
    gen = torch.Generator().manual_seed(6)
    sources = torch.randn(3, 3 * RATE, generator=gen)
    gains = torch.tensor([[0.9, 0.1], [0.7, 0.7], [0.2, 0.95]])  # (stem, channel)
    spec = stft(torch.einsum("sn,sc->cn", sources, gains), RATE)
    masks = torch.rand(3, *spec.shape[1:], generator=gen)
    masks = masks / masks.sum(0)
    out = favour_pan(masks, spec, power=2.0, focus=focus)
    assert out.shape == masks.shape and out.transpose(1, 2).is_contiguous()  # frames first, as the spectrum
    torch.testing.assert_close(out, _pan_reference(masks, spec, 2.0, focus), rtol=0, atol=2e-5)


@pytest.mark.parametrize("focus", [0.0, 1.0, 2.0, 3.0, 4.0, 16.0, 2.5])
def test_focused_is_the_masks_power_computed_by_squaring(focus: float) -> None:
    masks = torch.rand(3, 50, 7, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(focused(masks, focus), masks**focus)
    assert focused(masks, 1.0) is masks


def test_mono_input_and_stems_in_the_same_place_are_left_alone() -> None:
    spec, _, _ = _panned_tones()
    masks = torch.rand(3, *spec.shape[1:])
    masks = masks / masks.sum(0)
    assert favour_pan(masks, spec[:1], power=2.0) is masks  # one channel
    centred = spec[:1].expand(2, -1, -1)  # both channels the same: everything at π/4
    torch.testing.assert_close(favour_pan(masks, centred, power=2.0), masks, atol=1e-5, rtol=0)
    assert favour_pan(masks, spec, power=0.0) is masks


@pytest.mark.parametrize("kwargs", [{}, {"clusters": 3}, {"stems": "vocals"}])
def test_splits_with_pan_evidence_still_add_back_and_a_subset_still_equals_the_full_split(kwargs) -> None:  # type: ignore[no-untyped-def]
    mix, plain, panned = split_with_and_without("pan", 0.0, 2.0, **kwargs)
    np.testing.assert_allclose(sum(panned.values()), mix, atol=1e-5)
    first = next(iter(panned))
    assert not np.allclose(panned[first], plain[first], atol=1e-4), f"{kwargs}: {first} did not change"
