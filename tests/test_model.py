"""The network's shapes and the self-describing checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from separator import DEFAULT_MODEL, ModelLoadError
from separator.classes import CLASSES
from separator.model import ChimeraNet, load_checkpoint, save_checkpoint


def test_embeddings_are_unit_norm_and_masks_sum_to_one() -> None:
    model = ChimeraNet(hidden=16, layers=1, embed_dim=8).eval()
    embeddings, masks = model(torch.randn(2, 30, 128) * 20 - 40)
    assert embeddings.shape == (2, 30, 128, 8)
    assert masks.shape == (2, 30, 128, len(CLASSES))
    assert torch.allclose(embeddings.norm(dim=-1), torch.ones(2, 30, 128), atol=1e-5)
    assert torch.allclose(masks.sum(-1), torch.ones(2, 30, 128), atol=1e-5)


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
