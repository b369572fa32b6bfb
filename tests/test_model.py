"""The network's shapes and the self-describing checkpoints."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

from separator import DEFAULT_MODEL, ModelLoadError
from separator.classes import CLASSES
from separator.devices import bfloat16_lstm
from separator.model import ChimeraEnsemble, ChimeraNet, class_softmax, load_checkpoint, save_checkpoint, unit_norm
from separator.settings import SplitSettings
from separator.training.train import trainable
from stemsplit.separator_cli import main


def test_embeddings_are_unit_norm_and_masks_sum_to_one() -> None:
    model = ChimeraNet(hidden=16, layers=1, embed_dim=8).eval()
    embeddings, masks = model(torch.randn(2, 30, 128) * 20 - 40)
    assert embeddings.shape == (2, 30, 128, 8)
    assert masks.shape == (2, 30, 128, len(CLASSES))
    assert torch.allclose(embeddings.norm(dim=-1), torch.ones(2, 30, 128), atol=1e-5)
    assert torch.allclose(masks.sum(-1), torch.ones(2, 30, 128), atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_unit_norm_is_torchs_normalize_bit_for_bit_zero_vectors_included(dtype: torch.dtype) -> None:
    v = torch.randn(2, 50, 16, 20, generator=torch.Generator().manual_seed(0)).to(dtype)
    v[0, 3, 5] = 0
    unit = unit_norm(v)
    assert torch.equal(unit, torch.nn.functional.normalize(v, dim=-1))
    assert torch.equal(unit[0, 3, 5], torch.zeros(20, dtype=dtype))


def test_the_class_softmax_is_torchs_softmax_over_the_classes_laid_out_as_they_are() -> None:
    logits = 8 * torch.randn(2, 300, 128, 5, generator=torch.Generator().manual_seed(2))
    masks = class_softmax(logits)
    assert masks.shape == logits.shape and masks.is_contiguous()
    torch.testing.assert_close(masks, logits.softmax(-1), atol=1e-6, rtol=0)


@pytest.mark.skipif(not bfloat16_lstm(), reason="torch has no bfloat16 LSTM on this CPU (no AVX-512); test_settings checks its error")
def test_the_class_masks_sum_to_one_under_bfloat16_autocast() -> None:
    model = ChimeraNet(hidden=16, layers=1, embed_dim=8).eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        _, masks = model(torch.randn(1, 30, 128))
    assert masks.dtype == torch.float32
    assert torch.allclose(masks.sum(-1), torch.ones(1, 30, 128), atol=1e-5)


def test_the_mask_head_alone_gives_the_class_masks_of_the_whole_network() -> None:
    feats, cues = torch.randn(2, 30, 128) * 20 - 40, torch.rand(2, 30, 128, 3)
    for model in (_tiny(stereo=True), ChimeraEnsemble([_tiny(stereo=True), _tiny()])):
        model.eval()
        with torch.no_grad():
            _, masks = model(feats, cues)
            alone = model.class_masks(feats, cues)
        assert alone.shape == (2, 30, 128, len(CLASSES))
        assert torch.equal(alone, masks)


def test_checkpoint_round_trip_rebuilds_the_same_model(tmp_path: Path) -> None:
    model = ChimeraNet(hidden=16, layers=2, embed_dim=8).eval()
    save_checkpoint(model, tmp_path / "m.pt", {"step": 7})
    loaded, extra = load_checkpoint(tmp_path / "m.pt")
    assert extra == {"step": 7}
    x = torch.randn(1, 10, 128)
    assert all(torch.allclose(a, b) for a, b in zip(model(x), loaded(x), strict=True))


def test_truncated_checkpoint_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.pt"
    path.write_bytes(DEFAULT_MODEL.read_bytes()[:1000])
    with pytest.raises(ModelLoadError, match=r"broken\.pt: the model checkpoint is corrupt or truncated"):
        load_checkpoint(path)


def test_missing_checkpoint_error_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"nope\.pt: cannot read the model checkpoint"):
        load_checkpoint(tmp_path / "nope.pt")


def test_shipped_model_is_small_and_knows_the_five_stems() -> None:
    assert DEFAULT_MODEL.stat().st_size < 20e6
    model, _ = load_checkpoint(DEFAULT_MODEL)
    assert model.classes == CLASSES


def _tiny(stereo: bool = False, embed_dim: int = 8) -> ChimeraNet:
    return ChimeraNet(hidden=16, layers=1, embed_dim=embed_dim, stereo=stereo).eval()


def test_an_ensemble_splits_as_one_network_with_unit_norm_embeddings_side_by_side_and_mean_masks() -> None:
    mono, stereo = _tiny(embed_dim=8), _tiny(stereo=True, embed_dim=4)
    ensemble = ChimeraEnsemble([stereo, mono]).eval()
    feats, cues = torch.randn(1, 30, 128) * 20 - 40, torch.rand(1, 30, 128, 3)
    embeddings, masks = ensemble(feats, cues)
    assert ensemble.stereo and ensemble.embed_dim == 12 and ensemble.classes == CLASSES
    assert embeddings.shape == (1, 30, 128, 12)
    assert torch.allclose(embeddings.norm(dim=-1), torch.ones(1, 30, 128), atol=1e-5)
    (v1, m1), (_, m2) = stereo(feats, cues), mono(feats)
    assert torch.allclose(embeddings[..., :4] * 2**0.5, v1, atol=1e-6)  # each member's part, scaled by 1/sqrt(2)
    assert torch.allclose(masks, (m1 + m2) / 2, atol=1e-6)


def test_an_ensemble_checkpoint_round_trip_rebuilds_every_member(tmp_path: Path) -> None:
    ensemble = ChimeraEnsemble([_tiny(stereo=True), _tiny()]).eval()
    save_checkpoint(ensemble, tmp_path / "e.pt", {"step": 3})
    loaded, extra = load_checkpoint(tmp_path / "e.pt")
    assert isinstance(loaded, ChimeraEnsemble) and extra == {"step": 3}
    assert [m.stereo for m in loaded.members] == [True, False]
    x = torch.randn(1, 10, 128)
    assert all(torch.allclose(a, b) for a, b in zip(ensemble(x), loaded(x), strict=True))


def test_an_ensemble_needs_two_members_with_the_same_classes() -> None:
    with pytest.raises(ValueError, match="at least 2 members"):
        ChimeraEnsemble([_tiny()])
    with pytest.raises(ValueError, match="same classes"):
        ChimeraEnsemble([_tiny(), ChimeraNet(hidden=16, layers=1, embed_dim=8, classes=["drums", "rest"])])


def test_export_of_several_checkpoints_writes_a_float16_ensemble_with_its_inference_settings(tmp_path: Path) -> None:
    save_checkpoint(_tiny(stereo=True), tmp_path / "a.pt", {"step": 9})
    save_checkpoint(_tiny(), tmp_path / "b.pt", {"step": 4})
    (tmp_path / "s.json").write_text('{"blind_blend": 0.25}')
    assert (
        main(
            ["export", str(tmp_path / "a.pt"), str(tmp_path / "b.pt"), "-o", str(tmp_path / "e.pt"), "--settings", str(tmp_path / "s.json")]
        )
        == 0
    )
    loaded, extra = load_checkpoint(tmp_path / "e.pt")
    assert isinstance(loaded, ChimeraEnsemble) and [m.stereo for m in loaded.members] == [True, False]
    assert extra["inference"] == SplitSettings(blind_blend=0.25).to_dict()  # every setting, the file's over the defaults
    assert loaded.split_settings == SplitSettings(blind_blend=0.25)
    assert [m["step"] for m in extra["members"]] == [9, 4]
    payload = torch.load(io.BytesIO((tmp_path / "e.pt").read_bytes()[:-32]), weights_only=True)
    assert payload["state"]["members.0.lstm.weight_ih_l0"].dtype == torch.float16


def test_export_of_networks_with_different_classes_is_a_one_line_error_naming_the_files(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    save_checkpoint(_tiny(), tmp_path / "a.pt")
    save_checkpoint(ChimeraNet(hidden=16, layers=1, embed_dim=8, classes=["drums", "rest"]), tmp_path / "b.pt")
    assert main(["export", str(tmp_path / "a.pt"), str(tmp_path / "b.pt"), "-o", str(tmp_path / "e.pt")]) == 1
    error = capsys.readouterr().err.strip()
    assert "a.pt" in error and "b.pt" in error and "same classes" in error and len(error.splitlines()) == 1
    assert not (tmp_path / "e.pt").exists()


def test_training_from_an_ensemble_trains_its_first_member(tmp_path: Path) -> None:
    first, second = _tiny(stereo=True), _tiny()
    model = trainable(ChimeraEnsemble([first, second]), tmp_path / "e.pt")
    assert model is first
