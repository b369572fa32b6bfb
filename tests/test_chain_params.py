"""The parameter API OSC and MIDI use: stage names and indices, ranges, live changes, bypass, stems, copies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from plugin_host_fixtures import SR, energy_db, noise

from plugin_host import Chain, ParameterError, ParamInfo


def bus() -> Chain:
    return Chain.from_dict(
        {
            "format": 1,
            "name": "bus",
            "chain": [
                {"plugin": "HighpassFilter"},
                {"plugin": "Compressor", "name": "glue", "params": {"threshold_db": -18, "ratio": 3}},
                {"mix": [{"chain": []}, {"plugin": "Reverb"}], "name": "verb_send"},
                {"plugin": "Gain", "name": "gain"},
                {"plugin": "HighpassFilter"},
            ],
        }
    )


def test_stages_are_named_by_the_preset_or_after_their_plugin() -> None:
    assert [(s.index, s.name, s.plugin) for s in bus().stages()] == [
        (0, "highpass_filter", "HighpassFilter"),
        (1, "glue", "Compressor"),
        (2, "reverb", "Reverb"),
        (3, "gain", "Gain"),
        (4, "highpass_filter_2", "HighpassFilter"),
    ]


def test_default_names_never_take_a_name_given_later() -> None:
    chain = Chain.from_dict({"format": 1, "chain": [{"plugin": "Gain"}, {"plugin": "Reverb", "name": "gain"}]})
    assert [s.name for s in chain.stages()] == ["gain_2", "gain"]


def test_parameters_list_values_ranges_units_and_scales() -> None:
    params = {(p.stage, p.name): p for p in bus().parameters()}
    assert params[("glue", "ratio")] == ParamInfo("glue", "ratio", 3.0, 1.0, 100.0, "", "log")
    assert params[("glue", "threshold_db")] == ParamInfo("glue", "threshold_db", -18.0, -60.0, 0.0, "dB", "linear")
    assert params[("highpass_filter", "cutoff_frequency_hz")].unit == "Hz"
    assert params[("reverb", "freeze_mode")].maximum == 1.0


def test_set_param_changes_the_sound_and_get_param_reads_it_back() -> None:
    chain = bus()
    x = noise(1.0)
    quiet = chain(x, SR)
    assert chain.set_param("gain", "gain_db", 12.0) == 12.0
    assert chain.get_param("gain", "gain_db") == 12.0
    loud = chain(x, SR)
    assert energy_db(loud) - energy_db(quiet) == pytest.approx(11.0, abs=0.5)  # the Gain default is +1 dB


def test_stages_are_addressed_by_index_as_int_or_digits() -> None:
    chain = bus()
    chain.set_param(1, "ratio", 8)
    assert chain.get_param("1", "ratio") == chain.get_param("glue", "ratio") == 8.0
    assert chain.param_range(3, "gain_db") == (-96.0, 48.0)


@pytest.mark.parametrize(
    ("stage", "name", "value", "text"),
    [
        ("glue", "ratio", 0.5, "Value received for parameter 'ratio' (0.5) is out of range [1, 100] (stage 'glue', Compressor)"),
        (
            "glue",
            "thresh",
            -3,
            'Parameter named "thresh" not found. Valid options: threshold_db, ratio, attack_ms, release_ms. Did you mean',
        ),
        (
            "glu",
            "ratio",
            2,
            'Stage named "glu" not found. Valid options: highpass_filter, glue, reverb, gain, highpass_filter_2. Did you mean "glue"?',
        ),
        (9, "ratio", 2, "Stage index 9 is out of range [0, 4]"),
        ("glue", "ratio", "hard", "Value received for parameter 'ratio' ('hard') is not a number in [1, 100]"),
    ],
)
def test_bad_changes_raise_parameter_errors_that_say_what_is_valid(stage: str | int, name: str, value: object, text: str) -> None:
    chain = bus()
    with pytest.raises(ParameterError) as info:
        chain.set_param(stage, name, value)
    assert text in str(info.value)
    assert isinstance(info.value, ValueError)
    assert chain.get_param("glue", "ratio") == 3.0  # unchanged


def test_switches_accept_numbers_as_osc_sends_them() -> None:
    chain = Chain.from_dict({"format": 1, "chain": [{"plugin": "BrickwallLimiter"}]})
    chain.set_param("brickwall_limiter", "true_peak", 1.0)
    assert chain.get_param("brickwall_limiter", "true_peak") == 1.0
    assert chain.param_range("brickwall_limiter", "true_peak") == (0.0, 1.0)


def test_choices_are_set_by_name_and_have_no_numeric_range() -> None:
    chain = Chain.from_dict({"format": 1, "chain": [{"plugin": "LadderFilter"}]})
    chain.set_param("ladder_filter", "mode", "HPF24")
    assert chain.get_param("ladder_filter", "mode") == "HPF24"
    assert "mode" not in {p.name for p in chain.parameters()}
    with pytest.raises(ParameterError, match="parameter 'mode' has no numeric range"):
        chain.param_range("ladder_filter", "mode")


def test_live_changes_are_saved_and_reloaded(tmp_path: Path) -> None:
    chain = bus()
    chain.set_param("glue", "attack_ms", 12.5)
    chain.set_bypass("verb_send", True)
    reloaded = Chain.from_preset(chain.save(tmp_path / "bus.yaml"))
    assert reloaded.get_param("glue", "attack_ms") == 12.5
    assert reloaded.is_bypassed("verb_send")
    assert reloaded.to_preset()["chain"][1]["params"] == {"threshold_db": -18.0, "ratio": 3.0, "attack_ms": 12.5}


def test_bypassed_stages_pass_audio_unchanged() -> None:
    chain = Chain.from_dict(
        {"format": 1, "tail_seconds": 0, "chain": [{"plugin": "Gain", "params": {"gain_db": -20}}, {"plugin": "Reverb"}]}
    )
    x = noise(0.5)
    chain.set_bypass("gain", True)
    chain.set_bypass(1, True)
    np.testing.assert_array_equal(chain(x, SR), x)
    chain.set_bypass("gain", False)
    assert energy_db(chain(x, SR)) == pytest.approx(energy_db(x) - 20, abs=0.01)


def test_copies_are_independent() -> None:
    chain = bus()
    twin = chain.copy()
    twin.set_param("glue", "ratio", 20)
    assert chain.get_param("glue", "ratio") == 3.0
    assert twin.to_preset()["chain"][1]["params"]["ratio"] == 20.0
    assert twin.stages()[1].name == "glue"


def test_stem_controls_of_a_split() -> None:
    chain = Chain.from_preset("karaoke")
    assert chain.stem_names() == ["vocals", "other"]
    assert chain.get_stem("vocals") == {"gain_db": 0.0, "mute": True, "solo": False}
    chain.set_stem("other", gain_db=-3.0, solo=True)
    chain.set_stem("vocals", mute=0.0)
    assert chain.get_stem("other") == {"gain_db": -3.0, "mute": False, "solo": True}
    assert chain.get_stem("vocals")["mute"] is False
    assert chain.to_preset()["chain"][0]["split"]["routes"] == {"vocals": {"mute": False}, "other": {"gain_db": -3.0, "solo": True}}


def test_stem_control_errors() -> None:
    chain = Chain.from_preset("karaoke")
    with pytest.raises(ParameterError, match=r'Stem named "drums" not found\. Valid options: vocals, other'):
        chain.set_stem("drums", mute=True)
    with pytest.raises(ParameterError, match=r"\(30\) is out of range \[-96, 24\] \(stem 'vocals'\)"):
        chain.set_stem("vocals", gain_db=30)
    with pytest.raises(ParameterError, match="preset 'master-bus' has no split stage, so it has no stems"):
        Chain.from_preset("master-bus").get_stem("vocals")
    assert Chain.from_preset("master-bus").stem_names() == []


def test_route_stages_get_stem_prefixed_default_names() -> None:
    chain = Chain.from_dict(
        {"format": 1, "chain": [{"split": {"stems": ["drums"], "routes": {"drums": {"chain": [{"plugin": "Compressor"}]}}}}]}
    )
    assert [s.name for s in chain.stages()] == ["drums_compressor"]
    chain.set_param("drums_compressor", "ratio", 4)
    assert chain.to_preset()["chain"][0]["split"]["routes"]["drums"]["chain"][0]["params"] == {"ratio": 4.0}


def test_an_empty_route_round_trips() -> None:
    data = {"format": 1, "name": "x", "description": "", "chain": [{"split": {"stems": ["bass"], "output": "mix", "routes": {"bass": {}}}}]}
    assert Chain.from_dict(data).to_preset() == data
