"""scripts/gpu-train.sh: what it refuses before it spends a GPU lease (the rest runs on a GPU machine only)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "gpu-train.sh"


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON": sys.executable, "SEPARATOR": str(Path(sys.executable).parent / "separator")}
    return subprocess.run(["bash", str(SCRIPT), *args], check=False, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)


def test_fewer_than_five_minutes_are_refused_with_the_floor_named(tmp_path: Path) -> None:
    done = _run(tmp_path, "4", str(tmp_path / "out"))
    assert done.returncode == 1
    assert "MINUTES (4) must be at least 5" in done.stderr
    assert not (tmp_path / "out").exists()


def test_minutes_must_be_a_whole_number(tmp_path: Path) -> None:
    done = _run(tmp_path, "7.5")
    assert done.returncode == 2
    assert "usage:" in done.stderr and "at least 5" in done.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device: the script would train")
def test_a_machine_without_cuda_is_told_so_before_any_song_is_made(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = _run(tmp_path, "5", str(out))
    assert done.returncode == 1
    assert "no CUDA device is visible to PyTorch" in done.stdout + done.stderr
    assert not (out / "data").exists() and not (out / "val").exists()
