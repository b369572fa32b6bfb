"""Stereo cues: level and phase differences per band, and the models that read them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from separator.features import N_BANDS, SPATIAL, features, spatial, stft
from separator.model import ChimeraNet, load_checkpoint, save_checkpoint, with_stereo_inputs


def _noise(channels: int, seconds: float = 0.5, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.standard_normal((channels, int(44100 * seconds))).astype(np.float32))


def test_cues_have_one_row_per_band_and_frame() -> None:
    spec, feats, cues = features(_noise(2), 44100, stereo=True)
    assert cues is not None
    assert cues.shape == (*feats.shape, SPATIAL) == (spec.shape[-1], N_BANDS, 3)
    assert features(_noise(2), 44100)[2] is None  # mono models do not pay for them


@pytest.mark.parametrize("channels", [1, 2])
def test_mono_input_gives_the_cues_of_a_centred_source(channels: int) -> None:
    audio = _noise(1).repeat(channels, 1)
    cues = spatial(stft(audio, 44100))
    loud = cues[:, 1:100]  # bands with energy
    torch.testing.assert_close(loud[..., 0], torch.zeros_like(loud[..., 0]), atol=1e-4, rtol=0)
    torch.testing.assert_close(loud[..., 1], torch.ones_like(loud[..., 1]), atol=1e-4, rtol=0)
    torch.testing.assert_close(loud[..., 2], torch.zeros_like(loud[..., 2]), atol=1e-4, rtol=0)


def test_a_source_panned_left_has_a_positive_level_difference_and_delay_turns_the_phase() -> None:
    x = _noise(1)[0]
    left_heavy = torch.stack([x, 0.25 * x])
    ild = spatial(stft(left_heavy, 44100))[..., 0]
    assert torch.allclose(ild[:, 1:100], torch.full_like(ild[:, 1:100], 20 * np.log10(4) / 10), atol=1e-3)
    delayed = torch.stack([x, torch.roll(x, 8)])  # 0.18 ms: a phase difference that grows with frequency
    cues = spatial(stft(delayed, 44100))
    angle = torch.atan2(cues[..., 2], cues[..., 1]).mean(0)
    assert abs(float(angle[5])) < 0.2 and abs(float(angle[60])) > 0.5


def test_silence_has_finite_neutral_cues() -> None:
    cues = spatial(stft(torch.zeros(2, 22050), 44100))
    assert torch.isfinite(cues).all()
    assert float(cues[..., 0].abs().max()) == 0 and float(cues[..., 1].min()) == 1


def test_a_widened_mono_model_computes_what_the_mono_model_did() -> None:
    torch.manual_seed(0)
    mono = ChimeraNet(hidden=16, layers=2, embed_dim=4).eval()
    stereo = with_stereo_inputs(mono).eval()
    assert stereo.stereo and stereo.kwargs["stereo"] is True
    feats = torch.randn(2, 30, N_BANDS) * 20 - 40
    cues = torch.randn(2, 30, N_BANDS, SPATIAL)  # zero-initialised weights: no effect until trained
    for a, b in zip(mono(feats), stereo(feats, cues), strict=True):
        torch.testing.assert_close(a, b)


def test_a_stereo_checkpoint_describes_its_features_and_runs_on_mono_input(tmp_path: Path) -> None:
    model = ChimeraNet(hidden=16, layers=1, embed_dim=4, stereo=True)
    save_checkpoint(model, tmp_path / "m.pt")
    loaded, _ = load_checkpoint(tmp_path / "m.pt")
    assert loaded.stereo
    v, m = loaded(torch.randn(1, 10, N_BANDS))  # no cues: a centred mono signal
    assert v.shape == (1, 10, N_BANDS, 4) and torch.isfinite(m).all()


def test_the_previous_checkpoint_still_loads_as_a_mono_model() -> None:
    model, extra = load_checkpoint(Path(__file__).parents[1] / "checkpoints" / "train-step10000.pt")
    assert not model.stereo and extra["step"] == 10000
