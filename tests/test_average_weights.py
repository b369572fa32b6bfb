"""scripts/average-weights.py: a model file whose weights are a weighted average of other models' weights."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
from conftest import REPO

from separator.model import ChimeraNet, load_checkpoint, save_checkpoint

SCRIPT = REPO / "scripts" / "average-weights.py"


def small_model(seed: int, hidden: int = 8) -> ChimeraNet:
    torch.manual_seed(seed)
    return ChimeraNet(hidden=hidden, layers=1, embed_dim=4, stereo=True)


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, check=False)


def test_the_weights_are_the_weighted_mean_and_the_settings_the_first_models(tmp_path: Path) -> None:
    a, b = small_model(0), small_model(1)
    save_checkpoint(a, tmp_path / "a.pt", {"step": 9000, "inference": {"hardness": 3.0}})
    save_checkpoint(b, tmp_path / "b.pt", {"step": 500, "inference": {"hardness": 9.0}})
    done = run(tmp_path / "a.pt", tmp_path / "b.pt", "--weights", "3,1", "--out", tmp_path / "avg.pt", "--float32")
    assert done.returncode == 0, done.stderr
    model, extra = load_checkpoint(tmp_path / "avg.pt")
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, 0.75 * a.state_dict()[name] + 0.25 * b.state_dict()[name])
    assert extra["inference"] == {"hardness": 3.0}
    assert [(e["step"], e["weight"]) for e in extra["averaged"]] == [(9000, 3.0), (500, 1.0)]


def test_a_runs_weight_average_is_used_unless_the_trained_weights_are_asked_for(tmp_path: Path) -> None:
    trained, averaged = small_model(2), small_model(3)
    save_checkpoint(trained, tmp_path / "last.pt", {"step": 500, "average": averaged.state_dict()})
    save_checkpoint(small_model(4), tmp_path / "a.pt", {"step": 9000})
    for flag, expected in (([], averaged), (["--trained"], trained)):
        done = run(tmp_path / "a.pt", tmp_path / "last.pt", "--weights", "0,1", "--out", tmp_path / "avg.pt", "--float32", *flag)
        assert done.returncode == 0, done.stderr
        model, _ = load_checkpoint(tmp_path / "avg.pt")
        for name, value in model.state_dict().items():
            torch.testing.assert_close(value, expected.state_dict()[name].float())


def test_the_default_file_is_float16_as_shipped(tmp_path: Path) -> None:
    save_checkpoint(small_model(0), tmp_path / "a.pt", {})
    save_checkpoint(small_model(1), tmp_path / "b.pt", {})
    half, full = tmp_path / "avg.pt", tmp_path / "avg32.pt"
    assert run(tmp_path / "a.pt", tmp_path / "b.pt", "--out", half).returncode == 0
    assert run(tmp_path / "a.pt", tmp_path / "b.pt", "--out", full, "--float32").returncode == 0
    assert half.stat().st_size < 0.6 * full.stat().st_size  # two bytes a weight instead of four


def test_models_of_other_sizes_or_bad_weights_are_refused(tmp_path: Path) -> None:
    save_checkpoint(small_model(0), tmp_path / "a.pt", {})
    save_checkpoint(small_model(1, hidden=16), tmp_path / "wide.pt", {})
    done = run(tmp_path / "a.pt", tmp_path / "wide.pt", "--out", tmp_path / "avg.pt")
    assert done.returncode != 0 and "model 2 is not the same network as model 1" in done.stderr
    done = run(tmp_path / "a.pt", tmp_path / "a.pt", "--weights", "1", "--out", tmp_path / "avg.pt")
    assert done.returncode != 0 and "--weights: give 2 non-negative numbers" in done.stderr
    assert not (tmp_path / "avg.pt").exists()
