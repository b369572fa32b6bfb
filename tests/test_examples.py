"""The scripts in examples/ run and do what their docstrings say (called in-process through their main())."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from conftest import load_module
from plugin_host_fixtures import REPO, SR, mixture, write

from plugin_host import Chain, load_preset
from separator import Separator
from stembase import audio as audio_io


def example(name: str) -> ModuleType:
    return load_module(REPO / "examples" / f"{name}.py", f"example_{name}")


@pytest.fixture
def album(tmp_path: Path) -> Path:
    write(tmp_path / "album" / "track.wav", mixture(0, seconds=2.0))
    return tmp_path / "album"


def test_karaoke_folder_removes_the_vocals_and_resumes(
    album: Path, tmp_path: Path, separator: Separator, capsys: pytest.CaptureFixture[str]
) -> None:
    karaoke = example("karaoke_folder")
    assert karaoke.main([str(album), str(tmp_path / "out")]) == 0
    out, rate = audio_io.load(tmp_path / "out" / "track.wav")
    mix, _ = audio_io.load(album / "track.wav")
    assert rate == SR and out.shape == mix.shape
    np.testing.assert_allclose(out, separator.separate(mix, SR, stems=["vocals"])["other"], atol=1e-4)
    first = (tmp_path / "out" / "track.wav").stat().st_mtime_ns
    assert karaoke.main([str(album), str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "track.wav").stat().st_mtime_ns == first
    second_table = capsys.readouterr().out.split("karaoke: ")[-1]
    assert ["skipped", "1"] in [line.split()[:2] for line in second_table.splitlines()]


def test_karaoke_folder_can_keep_a_guide_vocal(album: Path, tmp_path: Path, separator: Separator) -> None:
    assert example("karaoke_folder").main([str(album), str(tmp_path / "out"), "--vocals-db", "-12"]) == 0
    mix, _ = audio_io.load(album / "track.wav")
    stems = separator.separate(mix, SR, stems=["vocals"])
    np.testing.assert_allclose(
        audio_io.load(tmp_path / "out" / "track.wav")[0], stems["other"] + stems["vocals"] * 10 ** (-12 / 20), atol=1e-4
    )


def test_drum_bus_folder_applies_and_saves_its_settings(album: Path, tmp_path: Path) -> None:
    assert example("drum_bus_folder").main([str(album), str(tmp_path / "out"), "--ratio", "6", "--drums-db", "1.5"]) == 0
    out, rate = audio_io.load(tmp_path / "out" / "track.wav")
    assert rate == SR and out.shape[0] == 2 and np.isfinite(out).all()
    saved = Chain.from_preset(tmp_path / "out" / "drum-bus.yaml")
    assert saved.get_param("drum_comp", "ratio") == 6.0
    assert saved.get_stem("drums")["gain_db"] == 1.5


def test_drum_bus_folder_refuses_an_impossible_ratio(album: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert example("drum_bus_folder").main([str(album), str(tmp_path / "out"), "--ratio", "0.5"]) == 2
    assert "Value received for parameter 'ratio' (0.5) is out of range [1, 100]" in capsys.readouterr().err


def test_build_chain_saves_presets_that_load_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert example("build_chain").main([str(tmp_path / "mine")]) == 0
    bus = load_preset(tmp_path / "mine" / "bus.yaml")
    assert [s.get("plugin") or "mix" for s in bus["chain"]] == ["HighpassFilter", "Compressor", "mix", "BrickwallLimiter"]
    assert bus["chain"][1]["params"]["ratio"] == 3.0
    assert Chain.from_preset(tmp_path / "mine" / "vocal-space.yaml").stem_names() == ["vocals", "other"]
    assert "bus output: 1." in capsys.readouterr().out
