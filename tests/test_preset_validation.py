"""Preset validation: every mistake gives a PresetError naming the file, the key path, the value and what is valid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from plugin_host import Chain, PresetError, load_preset


def preset(*stages: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"format": 1, "name": "test", "chain": list(stages), **top}


def error(tmp_path: Path, data: object, name: str = "bad.yaml") -> PresetError:
    """The error building a chain from ``data`` saved as ``tmp_path/name``."""
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(PresetError) as info:
        Chain.from_preset(path)
    return info.value


def test_out_of_range_value_names_file_key_value_and_range(tmp_path: Path) -> None:
    data = preset({"plugin": "HighpassFilter"}, {"plugin": "Gain"}, {"plugin": "Compressor", "params": {"ratio": 0.5}})
    exc = error(tmp_path, data)
    assert (
        str(exc) == f"{tmp_path / 'bad.yaml'}: chain[2].params.ratio: Value received for parameter 'ratio' (0.5) is out of range [1, 100]"
    )
    assert (exc.file, exc.key) == (tmp_path / "bad.yaml", "chain[2].params.ratio")


def test_unknown_parameter_lists_the_valid_ones_and_suggests_the_closest(tmp_path: Path) -> None:
    exc = error(tmp_path, preset({"plugin": "Compressor", "params": {"thresh": -20}}))
    assert exc.key == "chain[0].params.thresh"
    assert 'Parameter named "thresh" not found. Valid options: threshold_db, ratio, attack_ms, release_ms' in str(exc)


def test_unknown_plugin_suggests_the_closest_name(tmp_path: Path) -> None:
    exc = error(tmp_path, preset({"plugin": "Compresor"}))
    assert exc.key == "chain[0].plugin"
    assert 'Plugin named "Compresor" not found. Valid options: Bitcrush,' in str(exc)
    assert str(exc).endswith('Did you mean "Compressor"?')


def test_missing_vst3_file_is_named_with_its_resolved_path(tmp_path: Path) -> None:
    exc = error(tmp_path, preset({"vst3": "plugins/Nothing.vst3"}))
    assert exc.key == "chain[0].vst3"
    assert f"VST3 plugin file not found: {tmp_path / 'plugins' / 'Nothing.vst3'}" in str(exc)


def test_bad_stem_name_lists_the_stems_the_model_knows(tmp_path: Path) -> None:
    exc = error(tmp_path, preset({"split": {"stems": ["vocals", "voice"]}}))
    assert exc.key == "chain[0].split.stems[1]"
    assert 'Stem named "voice" not found. Valid options: drums, bass, guitar, vocals, other' in str(exc)


def test_route_for_a_stem_the_split_does_not_produce(tmp_path: Path) -> None:
    exc = error(tmp_path, preset({"split": {"stems": ["vocals"], "routes": {"drums": {"mute": True}}}}))
    assert exc.key == "chain[0].split.routes.drums"
    assert 'Stem named "drums" not found. Valid options: vocals, other' in str(exc)


def test_blind_split_routes_address_source_numbers(tmp_path: Path) -> None:
    ok = tmp_path / "ok.yaml"
    ok.write_text(yaml.safe_dump(preset({"split": {"clusters": 3, "routes": {"source2": {"mute": True}}}})))
    assert load_preset(ok)["chain"][0]["split"]["routes"] == {"source2": {"mute": True}}
    exc = error(tmp_path, preset({"split": {"clusters": 3, "routes": {"source4": {}}}}))
    assert 'Stem named "source4" not found. Valid options: source1, source2, source3' in str(exc)


@pytest.mark.parametrize(
    ("data", "key", "text"),
    [
        (
            preset({"plugin": "Reverb", "params": {"room_size": "big"}}),
            "chain[0].params.room_size",
            "Value received for parameter 'room_size' ('big') is not a number in [0, 1]",
        ),
        (
            preset({"plugin": "LadderFilter", "params": {"mode": "LPF"}}),
            "chain[0].params.mode",
            "('LPF') is not valid. Valid options: LPF12, HPF12, BPF12, LPF24, HPF24, BPF24",
        ),
        (preset({"plugin": "Gain", "bypass": "maybe"}), "chain[0].bypass", "Valid options: true, false (or 0, 1)"),
        (
            preset({"plugin": "Gain", "colour": "red"}),
            "chain[0].colour",
            'Key named "colour" not found. Valid options: name, plugin, params, bypass',
        ),
        (
            preset({"plugin": "Gain", "mix": []}),
            "chain[0]",
            "a stage needs exactly one of plugin, vst3, chain, mix, split; found plugin, mix",
        ),
        (preset({"name": "x"}), "chain[0]", "a stage needs exactly one of plugin, vst3, chain, mix, split; found keys name"),
        (preset({"plugin": "Gain", "name": "a b"}), "chain[0].name", "must start with a letter and hold only letters, digits"),
        (
            preset({"plugin": "Gain", "name": "g"}, {"plugin": "Gain", "name": "g"}),
            "chain[1].name",
            "duplicate stage name 'g' (also given at chain[0].name)",
        ),
        (preset({"plugin": "Gain", "name": "stem"}), "chain[0].name", "stage name 'stem' is reserved"),
        (preset({"mix": []}), "chain[0].mix", "a mix needs at least one branch"),
        (preset({"chain": [{"split": {}}]}), "chain[0].chain[0].split", "a split may only be a stage of the preset's top-level chain"),
        (preset({"split": {}}, {"split": {}}), "chain[1]", "a preset may split only once (first split at chain[0])"),
        (preset({"split": {"output": "stems"}}, {"plugin": "Gain"}), "chain[1]", "would never run; use output: both"),
        (preset({"split": {"output": "files"}}), "chain[0].split.output", "('files') is not valid. Valid options: mix, stems, both"),
        (
            preset({"split": {"stems": ["vocals"], "clusters": 2}}),
            "chain[0].split",
            "give stems (named separation) or clusters (blind separation), not both",
        ),
        (preset({"split": {"clusters": 40}}), "chain[0].split.clusters", "(40) is out of range [1, 16]"),
        (
            preset({"split": {"routes": {"vocals": {"gain_db": 40}}}}),
            "chain[0].split.routes.vocals.gain_db",
            "(40) is out of range [-96, 24]",
        ),
        (
            preset({"split": {"routes": {"vocals": {"volume": 1}}}}),
            "chain[0].split.routes.vocals.volume",
            "Valid options: gain_db, mute, solo, chain",
        ),
        (preset(tail_seconds=-1), "tail_seconds", "Value received for parameter 'tail_seconds' (-1) is out of range [0, 60]"),
        (preset(sample_rate=100), "sample_rate", "(100) is out of range [8000, 384000]"),
        (preset(volume=3), "volume", 'Key named "volume" not found. Valid options: format, name, description, tail_seconds'),
        ({"name": "x", "chain": []}, "format", "missing: write 'format: 1' at the top of the preset"),
        ({"format": 2, "chain": []}, "format", "unsupported preset format 2; this version of plugin_host reads format 1"),
        ({"format": 1}, "chain", "missing: a preset needs a chain"),
        (preset({"plugin": "Convolution"}), "chain[0].params", "Convolution needs parameter 'impulse_response_filename' (a file path)"),
        (
            preset({"plugin": "Convolution", "params": {"impulse_response_filename": "ir.wav"}}),
            "chain[0].params.impulse_response_filename",
            "file not found:",
        ),
    ],
)
def test_each_mistake_has_a_message_that_says_how_to_fix_it(tmp_path: Path, data: dict[str, Any], key: str, text: str) -> None:
    exc = error(tmp_path, data)
    assert exc.key == key
    assert text in str(exc)
    assert str(exc).startswith(str(tmp_path / "bad.yaml"))


def test_midi_section_is_checked_by_the_midi_module(tmp_path: Path) -> None:
    exc = error(tmp_path, preset(midi={"cc": [{"cc": 200, "target": "gain.gain_db"}]}))
    assert exc.key == "midi"
    assert "midi cc must be an integer 0–127, got 200" in str(exc)


def test_yaml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("format: 1\nchain:\n  - plugin: Gain\n   params: {gain_db: 3}\n")
    with pytest.raises(PresetError, match=r"broken\.yaml: line 4, column \d+: invalid YAML"):
        load_preset(path)


def test_json_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"format": 1,\n "chain": [}\n')
    with pytest.raises(PresetError, match=r"broken\.json: line 2, column 12: invalid JSON"):
        load_preset(path)


def test_a_preset_that_is_not_a_mapping(tmp_path: Path) -> None:
    exc = error(tmp_path, ["plugin", "Gain"])
    assert "a preset must be a mapping (key: value), got list" in str(exc)


def test_preset_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"chain\[0\]\.params\.ratio"):
        Chain.from_dict(preset({"plugin": "Compressor", "params": {"ratio": 0}}))


def test_in_memory_preset_errors_name_the_key_path_without_a_file() -> None:
    with pytest.raises(PresetError) as info:
        Chain.from_dict(preset({"chain": [{"plugin": "Delay", "params": {"delay_seconds": 31}}]}))
    assert (
        str(info.value)
        == "chain[0].chain[0].params.delay_seconds: Value received for parameter 'delay_seconds' (31) is out of range [0, 30]"
    )
