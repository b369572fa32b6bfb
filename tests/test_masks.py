"""The per-bin steps of a segment (copy to bins, percussive, pan) run together a block of frames at a time;
the blocks change how the work is laid out in memory, not what it computes."""

from __future__ import annotations

import pytest
import torch

from separator.features import N_BANDS, bands_to_bins, stft
from separator.masks import Routing, bin_masks
from separator.panning import favour_pan
from separator.percussive import favour_percussive, percussive_share
from separator.settings import SplitSettings

RATE = 44100


@pytest.mark.parametrize("blind", [False, True])
def test_per_bin_masks_are_the_steps_one_after_another_over_the_whole_segment(blind: bool) -> None:
    gen = torch.Generator().manual_seed(7)
    spec = stft(torch.randn(2, 3 * RATE, generator=gen) * torch.tensor([[1.0], [0.3]]), RATE)  # leaning left
    band_masks = torch.rand(4, spec.shape[-1], N_BANDS, generator=gen)
    band_masks /= band_masks.sum(0)
    routing = Routing(None, None, torch.eye(4), 0.0, 1, torch.eye(4))  # unit 1 is the drums
    settings = SplitSettings(percussive=0.5, blind_percussive=0.35, pan=2.0, pan_focus=4.0, blind_pan_focus=16.0)
    out = bin_masks(band_masks, spec, routing, settings, blind=blind)

    steps = bands_to_bins(band_masks, spec.shape[-2])
    steps = favour_percussive(steps, percussive_share(spec), 1, 0.35 if blind else 0.5)
    steps = favour_pan(steps, spec, 2.0, focus=16.0 if blind else 4.0)
    assert out.shape == (4, *spec.shape[1:]) and out.transpose(1, 2).is_contiguous()  # frames first, as the spectrum
    torch.testing.assert_close(out, steps, rtol=0, atol=1e-6)
    torch.testing.assert_close(out.sum(0), torch.ones(spec.shape[1:]), rtol=0, atol=1e-5)
    assert float((out - bands_to_bins(band_masks, spec.shape[-2])).abs().max()) > 0.05  # the steps did act
