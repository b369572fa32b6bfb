"""scripts/keep-classes.py: a data folder with only some classes' stems, the others absent and silent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from conftest import REPO, write_shard

from separator.training.data.mix import StemBank

SCRIPT = REPO / "scripts" / "keep-classes.py"


def five_class_shard(folder: Path) -> dict[str, np.ndarray]:
    """One shard of three songs with a stem of every class (the second song has no guitar)."""
    rng = np.random.default_rng(0)
    present = np.ones((3, 5), bool)
    present[1, 2] = False
    return write_shard(folder, rng.standard_normal((3, 5, 2, 44100)) * 0.1, present)


def test_only_the_kept_classes_stay_present_and_audible(tmp_path: Path) -> None:
    before = five_class_shard(tmp_path / "in")
    run = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "in"), str(tmp_path / "out"), "--classes", "drums,bass"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "1 shards, only drums, bass" in run.stdout
    after = dict(np.load(tmp_path / "out" / "shard-00000.npz"))
    assert (tmp_path / "out" / "recipe.json").is_file()
    np.testing.assert_array_equal(after["present"], np.tile([True, True, False, False, False], (3, 1)))
    np.testing.assert_array_equal(after["stems"][:, :2], before["stems"][:, :2])  # drums and bass untouched
    assert not after["stems"][:, 2:].any()  # guitar, vocals and other silent
    for key in ("labels", "sources", "sample_rate"):
        np.testing.assert_array_equal(after[key], before[key])
    bank = StemBank(tmp_path / "out")
    batch = bank.draw(np.random.default_rng(1), 16, 22050)
    assert set(batch.labels[batch.labels >= 0].tolist()) == {0, 1}  # every mixture is drums and bass alone
    assert (batch.labels >= 0).sum(1).max() == 2


def test_a_bad_class_list_is_refused_naming_the_classes(tmp_path: Path) -> None:
    five_class_shard(tmp_path / "in")
    for classes in ("drums,kazoo", "drums"):
        run = subprocess.run(
            [sys.executable, str(SCRIPT), str(tmp_path / "in"), str(tmp_path / "out"), "--classes", classes],
            capture_output=True,
            text=True,
            check=False,
        )
        assert run.returncode != 0
        assert "give two or more of drums, bass, guitar, vocals, other" in run.stderr
        assert not (tmp_path / "out").exists()
