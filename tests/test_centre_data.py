"""scripts/centre-data.py: a data folder mixed as records usually are, drums, bass and vocals in the centre."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from conftest import REPO, load_module, write_shard

from separator.classes import CLASSES


def load_script():  # type: ignore[no-untyped-def]
    return load_module(REPO / "scripts" / "centre-data.py", "centre_data")


def panned_shard(folder: Path) -> dict[str, np.ndarray]:
    """One shard of two songs, every stem panned off centre (left louder than right)."""
    rng = np.random.default_rng(0)
    stems = rng.standard_normal((2, 5, 1, 4410)).astype(np.float32) * np.array([0.8, 0.2], np.float32)[:, None]
    return write_shard(folder, stems, np.ones((2, 5), bool))


def test_the_chosen_classes_are_centred_the_others_kept_and_the_mix_is_the_same(tmp_path: Path) -> None:
    before = panned_shard(tmp_path / "in")
    subprocess.run([sys.executable, str(REPO / "scripts" / "centre-data.py"), str(tmp_path / "in"), str(tmp_path / "out")], check=True)
    after = dict(np.load(tmp_path / "out" / "shard-00000.npz"))
    assert (tmp_path / "out" / "recipe.json").is_file()
    stems, old = after["stems"].astype(np.float32), before["stems"].astype(np.float32)
    for c, name in enumerate(CLASSES):
        if name in ("drums", "bass", "vocals"):
            np.testing.assert_array_equal(stems[:, c, 0], stems[:, c, 1])  # centred: both channels alike
            np.testing.assert_allclose(stems[:, c, 0], old[:, c].mean(1), atol=2e-3)
        else:
            np.testing.assert_array_equal(stems[:, c], old[:, c])  # where make-data put it
    np.testing.assert_allclose(stems.sum((1, 2)), old.sum((1, 2)), atol=1e-2)  # the mono sum is unchanged
    for key in ("present", "labels", "sources", "sample_rate"):
        np.testing.assert_array_equal(after[key], before[key])


def test_an_unknown_class_is_refused_naming_the_classes(tmp_path: Path) -> None:
    panned_shard(tmp_path / "in")
    run = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "centre-data.py"), str(tmp_path / "in"), str(tmp_path / "out"), "--classes", "drums,kazoo"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode != 0 and "--classes: unknown kazoo; the classes are drums, bass, guitar, vocals, other" in run.stderr


def test_centre_touches_only_the_slots_of_the_given_classes() -> None:
    script = load_script()
    stems = np.zeros((1, 3, 2, 4), np.float32)
    stems[0, :, 0], stems[0, :, 1] = 1.0, 0.0
    labels = np.array([[0, 2, 3]])
    out = script.centre(stems, labels, {3})
    np.testing.assert_array_equal(out[0, 2], 0.5)
    np.testing.assert_array_equal(out[0, :2], stems[0, :2])
