"""scripts/low-band-refiner.py: the learned low-bin refiner measured for issue 18 (not shipped)."""

from __future__ import annotations

import numpy as np
import torch
from conftest import REPO, generated_song, load_module

from separator import Separator
from separator.features import bin_power, stft
from separator.lowband import low_inputs

RATE = 44100


def load_script():  # type: ignore[no-untyped-def]
    return load_module(REPO / "scripts" / "low-band-refiner.py", "low_band_refiner")


def random_masks(n_bins: int, frames: int, seed: int = 0) -> torch.Tensor:
    raw = torch.rand(5, n_bins, frames, generator=torch.Generator().manual_seed(seed)) + 0.01
    return raw / raw.sum(0, keepdim=True)


def noise_power(rate: int, seconds: float = 1.0, gain: float = 1.0) -> torch.Tensor:
    audio = torch.randn(2, int(rate * seconds), generator=torch.Generator().manual_seed(1)) * gain
    return bin_power(stft(audio, rate))


def test_fitting_lowers_the_class_error_of_masks_that_cannot_tell_a_bass() -> None:
    script = load_script()
    torch.manual_seed(0)
    frames = 64
    mix = torch.randn(4, 2, script.N_LOW, frames, dtype=torch.complex64)
    target = torch.zeros(4, 5, 2, script.N_LOW, frames, dtype=torch.complex64)
    target[:, 1] = mix  # all of it is bass
    masks = torch.full((4, 5, script.N_LOW, frames), 0.2)  # the split could not tell
    inputs = torch.stack([low_inputs(m.abs().pow(2), ms) for m, ms in zip(mix, masks, strict=True)])
    refiner = script.make_refiner("1d", 8)
    opt = torch.optim.Adam(refiner.parameters(), lr=0.01)
    with torch.no_grad():
        before = float(script.class_error(refiner, inputs, masks, mix, target))
    for _ in range(40):
        loss = script.class_error(refiner, inputs, masks, mix, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        assert float(script.class_error(refiner, inputs, masks, mix, target)) < 0.5 * before


def test_the_recorder_sees_the_split_s_own_class_masks_and_changes_nothing(separator) -> None:  # type: ignore[no-untyped-def]
    script = load_script()
    stems, present = generated_song(0)
    mix = stems[present].sum(0)
    recorder = script.Recorder()
    settings = separator.settings.replace(resplit=0.0, resplit_drums=0.0)  # as extract splits: the mix only, not its stems heard again
    unrefined = Separator(separator.model, "cpu", settings.replace(low_band=0.0))  # no refiner
    recording = Separator(separator.model, "cpu", settings, low_band_refiner=recorder)
    plain, recorded = unrefined.separate(mix, RATE), recording.separate(mix, RATE)
    assert len(recorder.seen) == 1 and recorder.seen[0][1].shape[:2] == (5, script.N_LOW)  # one mask per class in named mode
    for name in plain:
        np.testing.assert_allclose(recorded[name], plain[name], atol=1e-5)


def test_extraction_leaves_out_a_band_limited_song_which_the_split_does_not_refine(separator) -> None:  # type: ignore[no-untyped-def]
    """The split refines full-band tracks only; a band-limited song gives no refiner example (and does not stop
    the extraction), a full-band one gives its low bins, as made and remixed."""
    from scipy.signal import butter, sosfilt

    script = load_script()
    stems, present = generated_song(0)
    refs, labels = stems[present], np.flatnonzero(present)
    sos = butter(8, 3000, "lp", fs=RATE, output="sos")
    low_passed = sosfilt(sos, sosfilt(sos, refs, axis=-1), axis=-1).astype(np.float32)
    recorder = script.Recorder()
    own = script.splitter(None, resplit=False).settings  # extract's own splitter
    assert own.resplit == 0.0 and own.resplit_drums == 0.0
    sep = Separator(
        separator.model, "cpu", separator.settings.replace(resplit=0.0, resplit_drums=0.0), low_band_refiner=recorder
    )  # as extract
    assert script._version(sep, recorder, low_passed, labels, RATE, None, "songs") is None
    inputs, masks, mix, target = script._version(sep, recorder, refs, labels, RATE, np.random.default_rng(0), "songs")
    frames = mix.shape[-1]
    assert inputs.shape == (script.N_LOW + script.N_CONTEXT + 5 * script.N_LOW, frames)
    assert masks.shape == (5, script.N_LOW, frames) and target.shape == (5, 2, script.N_LOW, frames)
    np.testing.assert_allclose(target.sum(0), mix, atol=1e-3)  # the classes' true low bins add up to the mixture's


def test_a_new_network_gets_its_own_refiner_examples_extract_and_score_load_the_model_asked_for(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A refiner is trained on one network's masks, so extract and score take ``--model``: a checkpoint other than
    the shipped model is the one that splits, still on one thread and without a refiner of its own."""
    from separator.model import ChimeraNet, save_checkpoint

    script = load_script()
    other = ChimeraNet(hidden=16, layers=1, embed_dim=8, stereo=True)
    save_checkpoint(other, tmp_path / "new.pt", {"step": 1})
    sep = script.splitter(None, resplit=False, model=str(tmp_path / "new.pt"))
    assert sep.model.kwargs["hidden"] == 16 and sep.low_band_refiner is None and sep.settings.low_band == 0.0
    assert sep.settings.resplit == 0.0
    shipped = script.splitter(None)
    assert shipped.model.kwargs["hidden"] == 256  # without --model: the shipped network
    for command in (["extract", "--out", "s1.npz"], ["score"]):
        assert script.build_parser().parse_args([*command, "--data", "d", "--model", "new.pt"]).model == "new.pt"
