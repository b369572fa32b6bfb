"""The deep-clustering loss in low-rank form equals the naive affinity-matrix loss."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch

import separator.training.loss
from separator.features import bands_to_bins, istft, stft
from separator.training.loss import (
    SNR_CEILING_DB,
    deep_clustering_loss,
    magnitude_weights,
    mask_inference_loss,
    naming_loss,
    phase_sensitive_loss,
)
from separator.training.train import targets


def naive_loss(v: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """‖W^½(VVᵀ − YYᵀ)W^½‖²_F / (Σw)², building the (N × N) affinities."""
    losses = []
    for vb, yb, wb in zip(v, y, w, strict=True):
        diff = vb @ vb.T - yb @ yb.T
        weighted = wb.sqrt()[:, None] * diff * wb.sqrt()[None, :]
        losses.append((weighted**2).sum() / wb.sum().clamp(min=1) ** 2)
    return torch.stack(losses).mean()


@pytest.mark.parametrize("n_bins,dim,n_src", [(7, 3, 2), (50, 20, 4), (120, 40, 5)])
def test_low_rank_loss_equals_naive_affinity_loss(n_bins: int, dim: int, n_src: int) -> None:
    gen = torch.Generator().manual_seed(n_bins)
    v = torch.nn.functional.normalize(torch.randn(3, n_bins, dim, generator=gen, dtype=torch.float64), dim=-1)
    y = torch.nn.functional.one_hot(torch.randint(0, n_src, (3, n_bins), generator=gen), n_src).double()
    w = (torch.rand(3, n_bins, generator=gen, dtype=torch.float64) > 0.3).double()  # silent bins out
    assert torch.allclose(deep_clustering_loss(v, y, w), naive_loss(v, y, w), rtol=1e-10)


def test_silent_bins_do_not_change_the_loss() -> None:
    gen = torch.Generator().manual_seed(0)
    v = torch.nn.functional.normalize(torch.randn(1, 30, 5, generator=gen), dim=-1)
    y = torch.nn.functional.one_hot(torch.randint(0, 3, (1, 30), generator=gen), 3).float()
    w = torch.ones(1, 30)
    w[:, 20:] = 0
    scrambled = v.clone()
    scrambled[:, 20:] = torch.nn.functional.normalize(torch.randn(1, 10, 5, generator=gen), dim=-1)
    assert torch.allclose(deep_clustering_loss(v, y, w), deep_clustering_loss(scrambled, y, w))


def test_perfect_embeddings_give_zero_loss_and_collapsed_ones_do_not() -> None:
    labels = torch.tensor([[0, 1, 2, 1, 0, 2]])
    y = torch.nn.functional.one_hot(labels, 3).float()
    w = torch.ones(1, 6)
    assert float(deep_clustering_loss(y, y, w)) == pytest.approx(0.0, abs=1e-7)
    collapsed = torch.nn.functional.one_hot(torch.zeros_like(labels), 3).float()
    assert float(deep_clustering_loss(collapsed, y, w)) > 0.5


def test_magnitude_weights_follow_the_band_magnitude_average_one_and_leave_silent_bins_out() -> None:
    active = torch.tensor([[[1.0, 1.0, 1.0, 0.0]]])  # (batch, frames, bands)
    energy = torch.tensor([[[16.0, 4.0, 1.0, 100.0]]])  # power summed over each band's bins
    assert torch.equal(magnitude_weights(active, energy, 0.0), active)  # 0: activity weights as before
    w = magnitude_weights(active, energy, 1.0)  # magnitudes 4, 2, 1 scaled to mean 1 over the active bins
    assert torch.allclose(w, torch.tensor([[[12 / 7, 6 / 7, 3 / 7, 0.0]]]))
    half = magnitude_weights(active, energy, 0.5)  # |X| ** 0.5: 2, 1.41, 1
    assert half[0, 0, 3] == 0 and float(half[0, 0, :3].mean()) == pytest.approx(1.0)
    assert float(half[0, 0, 0] / half[0, 0, 2]) == pytest.approx(2.0)


def test_with_magnitude_weights_a_loud_bin_in_the_wrong_cluster_costs_more_than_a_quiet_one() -> None:
    """What SI-SDR hears: a kick's loud low bin given to the bass costs more than a quiet high bin would."""
    labels = torch.tensor([[0, 0, 0, 1, 1, 1]])
    y = torch.nn.functional.one_hot(labels, 2).float()
    energy = torch.tensor([[100.0, 1.0, 1.0, 1.0, 1.0, 1.0]])
    active = torch.ones(1, 6)
    loud_wrong, quiet_wrong = y.clone(), y.clone()
    loud_wrong[0, 0] = torch.tensor([0.0, 1.0])  # the loud bin embedded with the other source
    quiet_wrong[0, 1] = torch.tensor([0.0, 1.0])
    w = magnitude_weights(active[:, None], energy[:, None], 1.0)[:, 0]
    assert float(deep_clustering_loss(loud_wrong, y, w)) > 2 * float(deep_clustering_loss(quiet_wrong, y, w))
    # with activity weights the two mistakes cost the same
    assert float(deep_clustering_loss(loud_wrong, y, active)) == pytest.approx(float(deep_clustering_loss(quiet_wrong, y, active)))


def test_targets_give_each_band_its_summed_power() -> None:
    from separator.features import bins_per_band

    gen = torch.Generator().manual_seed(3)
    sources = torch.randn(1, 2, 2, 44100, generator=gen) * 0.1
    batch = targets(sources, torch.tensor([[0, 1]]), 44100)
    counts = torch.from_numpy(bins_per_band(44100)).float()
    assert torch.allclose(batch["energy"], batch["mix"] ** 2 * counts, rtol=1e-5)


def test_mask_loss_is_zero_for_ideal_ratio_masks() -> None:
    sources = torch.rand(2, 10, 8, 3)
    mixture = sources.sum(-1)
    masks = sources / mixture.unsqueeze(-1)
    assert float(mask_inference_loss(masks, mixture, sources, torch.ones(2, 10, 8))) == pytest.approx(0.0, abs=1e-6)
    uniform = torch.full_like(masks, 1 / 3)
    assert float(mask_inference_loss(uniform, mixture, sources, torch.ones(2, 10, 8))) > 0.1


def _two_class_song(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A 0.5-s stereo example of two labelled sources (classes 0 and 2) in noise: ``sources (1, 2, 2, n)``, labels."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(22050) / 44100
    tone = torch.sin(2 * torch.pi * 220 * t) * torch.tensor([[1.0], [0.6]])
    noise = 0.3 * torch.randn(2, 22050, generator=gen)
    return torch.stack([tone, noise])[None], torch.tensor([[0, 2]])


def _waveform_snrs(sources: torch.Tensor, masks: torch.Tensor) -> list[float]:
    """SNR in dB of classes 0 and 2 of :func:`_two_class_song` resynthesised from the band masks."""
    mix_spec = stft(sources.sum(1), 44100)[0]  # (ch, bins, t)
    snrs = []
    for c, source in ((0, sources[0, 0]), (2, sources[0, 1])):
        estimate = istft(bands_to_bins(masks[0, ..., c], mix_spec.shape[-2]) * mix_spec, 44100, source.shape[-1])
        snrs.append(float(10 * torch.log10(source.square().sum() / (source - estimate).square().sum())))
    return snrs


def test_phase_sensitive_loss_is_the_snr_of_the_masked_resynthesised_class() -> None:
    sources, labels = _two_class_song(1)
    batch = targets(sources, labels, 44100, stereo=True, phase=True)
    assert batch["class_present"].tolist() == [[True, False, True, False, False]]
    args = (batch["mix_sum"], batch["cross"], batch["src_sum"], batch["class_present"])
    share = batch["src_sum"] / batch["mix_sum"].unsqueeze(-1).clamp(min=1e-12)  # band ratio masks: smooth in time
    blurred = 0.6 * share + 0.4 / 5  # about 6 dB, where the ceiling does not matter
    assert float(phase_sensitive_loss(blurred, *args)) == pytest.approx(-np.mean(_waveform_snrs(sources, blurred)), abs=0.3)
    # the iSTFT projects a masked spectrum onto signals, which never adds error: the loss is a bound
    noisy = torch.rand(*share.shape, generator=torch.Generator().manual_seed(2))
    assert float(phase_sensitive_loss(noisy, *args)) >= -np.mean(_waveform_snrs(sources, noisy))


def test_phase_sensitive_error_equals_the_complex_error_summed_over_bins() -> None:
    sources, labels = _two_class_song(3)
    batch = targets(sources, labels, 44100, stereo=True, phase=True)
    masks = torch.rand(*batch["cross"].shape, generator=torch.Generator().manual_seed(4))
    specs = stft(sources[0], 44100)  # (2 sources, ch, bins, t)
    mix_spec = specs.sum(0)
    for c, source in ((0, specs[0]), (2, specs[1])):
        error = (source - bands_to_bins(masks[0, ..., c], mix_spec.shape[-2]) * mix_spec).abs().square().sum()
        snr = 10 * torch.log10(source.abs().square().sum() / (error + 10 ** (-SNR_CEILING_DB / 10) * source.abs().square().sum()))
        present = torch.zeros(1, 5, dtype=torch.bool)
        present[0, c] = True
        loss = phase_sensitive_loss(masks, batch["mix_sum"], batch["cross"], batch["src_sum"], present)
        assert float(loss) == pytest.approx(-float(snr), abs=1e-3)


def test_phase_sensitive_loss_rewards_the_right_class_and_caps_at_its_ceiling() -> None:
    sources, labels = _two_class_song(5)
    batch = targets(sources, labels, 44100, phase=True)
    share = batch["src_sum"] / batch["mix_sum"].unsqueeze(-1).clamp(min=1e-12)  # an ideal ratio mask, by band
    args = (batch["mix_sum"], batch["cross"], batch["src_sum"], batch["class_present"])
    swapped = share[..., [2, 1, 0, 3, 4]]
    assert float(phase_sensitive_loss(share, *args)) < -10 < 0 < float(phase_sensitive_loss(swapped, *args))
    alone = targets(sources[:, :1], labels[:, :1], 44100, phase=True)  # class 0 is the whole mixture
    perfect = torch.ones_like(alone["src_sum"])
    loss = phase_sensitive_loss(perfect, alone["mix_sum"], alone["cross"], alone["src_sum"], alone["class_present"])
    assert float(loss) == pytest.approx(-SNR_CEILING_DB, abs=0.01)


def test_phase_targets_leave_unlabelled_and_absent_classes_out() -> None:
    sources, _ = _two_class_song(6)
    batch = targets(sources, torch.tensor([[1, -1]]), 44100, phase=True)
    assert batch["class_present"].tolist() == [[False, True, False, False, False]]
    assert float(batch["src_sum"][..., [0, 2, 3, 4]].abs().max()) == 0.0 and float(batch["cross"][..., 0].abs().max()) == 0.0
    alone = targets(sources[:, :1], torch.tensor([[1]]), 44100, phase=True)  # the class is the whole mixture
    assert torch.allclose(alone["src_sum"][..., 1], alone["mix_sum"], rtol=1e-4)
    assert torch.allclose(alone["cross"][..., 1], alone["mix_sum"], rtol=1e-4)


def test_naming_loss_is_low_when_each_class_s_bins_name_it_and_high_when_they_name_another() -> None:
    members = torch.zeros(1, 4, 30, 3)
    members[0, :, :10, 0] = members[0, :, 10:20, 1] = members[0, :, 20:, 2] = 1  # three classes, 40 bins each
    power = torch.ones(1, 4, 30)
    right = 0.05 + 0.85 * members  # 0.9 for the bin's own class
    assert float(naming_loss(right, members, power)) == pytest.approx(-np.log(0.9), abs=1e-5)
    swapped = right[..., [1, 0, 2]]  # classes 0 and 1 read as each other
    assert float(naming_loss(swapped, members, power)) > 2.0


def test_naming_loss_weighs_bins_by_power_and_skips_classes_with_few_bins() -> None:
    members = torch.zeros(1, 1, 40, 2)
    members[0, 0, :, 0] = 1
    members[0, 0, :5, 1], members[0, 0, :5, 0] = 1, 0  # class 1 dominates only 5 bins: not scored
    masks = torch.full((1, 1, 40, 2), 0.5)
    masks[0, 0, 5:6] = torch.tensor([0.99, 0.01])  # one loud bin of class 0 named right
    power = torch.full((1, 1, 40), 1e-3)
    power[0, 0, 5] = 1.0
    loud = float(naming_loss(masks, members, power))
    assert loud < float(naming_loss(masks, members, torch.ones(1, 1, 40)))  # the loud bin counts most
    assert loud == pytest.approx(float(naming_loss(masks, members * torch.tensor([1.0, 0.0]), power)))  # class 1 skipped
    assert float(naming_loss(masks, torch.zeros_like(members), power)) == 0.0  # nothing to score


def test_loss_docstring_example_holds() -> None:
    assert doctest.testmod(separator.training.loss).failed == 0
