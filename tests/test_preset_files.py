"""Preset files: shipped presets, lookup by name or path, the env override, YAML and JSON, atomic saving, round trips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pedalboard
import pytest
import yaml

from plugin_host import Chain, PresetError, find_preset, list_presets, load_preset, save_preset
from plugin_host.catalog import BUILTINS
from plugin_host.preset import PRESETS_ENV, SHIPPED_PRESETS
from stembase import audio as audio_io

SHIPPED = ("acapella", "drum-bus", "karaoke", "master-bus", "stems", "vocal-polish")


def test_the_six_shipped_presets_are_listed_valid_and_described() -> None:
    infos = {i.name: i for i in list_presets()}
    assert set(SHIPPED) <= set(infos)
    for name in SHIPPED:
        assert infos[name].error is None, infos[name].error
        assert infos[name].path == SHIPPED_PRESETS / f"{name}.yaml"
        assert len(infos[name].description) > 20


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_presets_carry_format_name_and_description(name: str) -> None:
    data = load_preset(name)
    assert data["format"] == 1
    assert data["name"] == name
    assert data["description"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_presets_round_trip_through_a_chain(name: str, tmp_path: Path) -> None:
    chain = Chain.from_preset(name)
    assert chain.to_preset() == load_preset(name)
    saved = chain.save(tmp_path / f"{name}.yaml")
    assert load_preset(saved) == load_preset(name)


def test_unknown_name_lists_the_presets_and_suggests_one() -> None:
    with pytest.raises(PresetError) as info:
        find_preset("karoke")
    assert 'Preset named "karoke" not found. Valid options: acapella, drum-bus, karaoke' in str(info.value)
    assert str(info.value).endswith('Did you mean "karaoke"?')


def test_a_missing_file_given_by_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(PresetError, match=f"preset file not found: {tmp_path / 'nope.yaml'}"):
        find_preset(str(tmp_path / "nope.yaml"))


def test_presets_from_the_env_folders_come_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "karaoke.yaml").write_text("format: 1\ndescription: my own karaoke\nchain: []\n")
    (tmp_path / "bright.json").write_text(json.dumps({"format": 1, "description": "air", "chain": [{"plugin": "HighShelfFilter"}]}))
    monkeypatch.setenv(PRESETS_ENV, str(tmp_path))
    assert find_preset("karaoke") == tmp_path / "karaoke.yaml"
    infos = {i.name: i for i in list_presets()}
    assert infos["karaoke"].description == "my own karaoke"
    assert infos["bright"].description == "air"
    assert Chain.from_preset("bright").name == "bright"  # the file name is the default name


def test_an_invalid_preset_in_a_folder_is_listed_with_its_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken.yaml").write_text("format: 1\nchain: [{plugin: Nope}]\n")
    monkeypatch.setenv(PRESETS_ENV, str(tmp_path))
    broken = next(i for i in list_presets() if i.name == "broken")
    assert broken.error is not None and 'Plugin named "Nope" not found' in broken.error


def test_json_and_yaml_presets_load_to_the_same_canonical_form(tmp_path: Path) -> None:
    data = {"format": 1, "name": "bus", "chain": [{"plugin": "Compressor", "params": {"threshold_db": -18, "ratio": 3}}]}
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "b.json").write_text(json.dumps(data))
    a, b = load_preset(tmp_path / "a.yaml"), load_preset(tmp_path / "b.json")
    assert a == b
    assert a["chain"][0]["params"] == {"threshold_db": -18.0, "ratio": 3.0}
    assert isinstance(a["chain"][0]["params"]["ratio"], float)


def test_unsupported_preset_suffix(tmp_path: Path) -> None:
    path = tmp_path / "bus.toml"
    path.write_text("format = 1")
    with pytest.raises(PresetError, match=r"unsupported preset file type '\.toml'\. Valid options: \.yaml, \.yml, \.json"):
        load_preset(path)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_save_preset_writes_valid_files_atomically(tmp_path: Path, suffix: str) -> None:
    data = load_preset("master-bus")
    path = save_preset(data, tmp_path / f"copy{suffix}")
    assert load_preset(path) == data
    assert [p.name for p in tmp_path.iterdir()] == [f"copy{suffix}"]  # no temporary file left behind


def test_save_preset_refuses_invalid_data_and_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(PresetError, match=r"chain\[0\]\.plugin"):
        save_preset({"format": 1, "chain": [{"plugin": "Nope"}]}, tmp_path / "x.yaml")
    assert not list(tmp_path.iterdir())


def test_relative_paths_resolve_from_the_preset_folder_and_move_when_saved_elsewhere(tmp_path: Path) -> None:
    (tmp_path / "irs").mkdir()
    audio_io.save(tmp_path / "irs" / "room.wav", np.eye(1, 2000, dtype=np.float32) * 0.5, 48000)
    src = tmp_path / "presets" / "verb.yaml"
    src.parent.mkdir()
    src.write_text(
        yaml.safe_dump({"format": 1, "chain": [{"plugin": "Convolution", "params": {"impulse_response_filename": "../irs/room.wav"}}]})
    )
    chain = Chain.from_preset(src)
    moved = chain.save(tmp_path / "elsewhere" / "deep" / "verb.yaml")
    assert load_preset(moved)["chain"][0]["params"]["impulse_response_filename"] == "../../irs/room.wav"
    assert Chain.from_preset(moved).to_preset()["chain"] == load_preset(moved)["chain"]


def test_from_plugins_builds_a_chain_that_saves_as_a_preset(tmp_path: Path) -> None:
    board = [pedalboard.HighpassFilter(80), pedalboard.Mix([pedalboard.Gain(-6), pedalboard.Chain([pedalboard.Reverb(room_size=0.2)])])]
    chain = Chain.from_plugins(board, name="room", description="a small room", tail_seconds=1.5)
    path = chain.save(tmp_path / "room.yaml")
    data = load_preset(path)
    assert data["tail_seconds"] == 1.5
    assert data["chain"][0] == {"plugin": "HighpassFilter", "params": {"cutoff_frequency_hz": 80.0}}
    assert data["chain"][1]["mix"][0]["params"] == {"gain_db": -6.0}
    assert data["chain"][1]["mix"][1]["chain"][0]["params"]["room_size"] == pytest.approx(0.2)
    assert [s.name for s in Chain.from_preset(path).stages()] == ["highpass_filter", "gain", "reverb"]


def test_from_plugins_refuses_what_a_preset_cannot_describe() -> None:
    with pytest.raises(PresetError, match="a Convolution made from an array cannot be written to a preset"):
        Chain.from_plugins([pedalboard.Convolution(np.ones((1, 10), np.float32), sample_rate=44100)])


def test_the_format_reference_documents_every_built_in_plugin_and_parameter() -> None:
    doc = (SHIPPED_PRESETS.parent / "docs" / "presets.md").read_text()
    for spec in BUILTINS.values():
        assert f"`{spec.name}`" in doc, spec.name
        for param in spec.params:
            assert f"`{param.name}`" in doc, f"{spec.name}.{param.name}"
