"""MIDI control: CC maps, scaling curves, 14-bit pairs, learn, program change and pick-up, with mido messages."""

from __future__ import annotations

import re

import mido
import pytest

from plugin_host.control.midi import (
    Ignored,
    Learned,
    MidiMapper,
    MidiPortError,
    ProgramChange,
    SelectPreset,
    SetParam,
    TargetState,
    normalize,
    open_input,
)
from plugin_host.midi_map import (
    CcMapping,
    ControlChange,
    MidiMapError,
    mappings_from_preset,
    mappings_to_preset,
    position_to_value,
    value_to_position,
)

TARGETS = {
    "eq.gain_db": TargetState((-24.0, 24.0), 0.0),
    "hp.cutoff_frequency_hz": TargetState((10.0, 24000.0), 50.0, scale="log"),
    "stem.drums.mute": TargetState((0.0, 1.0), 0.0, toggle=True),
}


def lookup(target: str) -> TargetState:
    if target not in TARGETS:
        raise ValueError(f"unknown target {target}")
    return TARGETS[target]


def cc(control: int, value: int, channel: int = 1) -> mido.Message:
    """A mido CC with the channel counted 1-16, as on controllers."""
    return mido.Message("control_change", channel=channel - 1, control=control, value=value)


def set_values(actions: list) -> list[tuple[str, float]]:  # type: ignore[type-arg]
    return [(a.target, a.value) for a in actions if isinstance(a, SetParam)]


# -- events and maps ------------------------------------------------------------------------


def test_normalize_counts_channels_from_one_and_ignores_notes() -> None:
    assert normalize(cc(74, 100, channel=16)) == ControlChange(16, 74, 100)
    assert normalize(mido.Message("program_change", channel=0, program=5)) == ProgramChange(1, 5)
    assert normalize(mido.Message("note_on", note=60)) is None
    assert normalize(mido.Message("clock")) is None


def test_a_preset_midi_section_round_trips_without_defaults() -> None:
    section = {
        "cc": [
            {"cc": 74, "channel": 2, "target": "hp.cutoff_frequency_hz", "range": [200, 8000], "curve": "log"},
            {"cc": 7, "target": "eq.gain_db"},
        ]
    }
    mappings = mappings_from_preset({"midi": section})
    assert mappings[0] == CcMapping(74, "hp.cutoff_frequency_hz", channel=2, range=(200.0, 8000.0), curve="log")
    assert mappings_to_preset(mappings) == {
        "cc": [
            {"cc": 74, "target": "hp.cutoff_frequency_hz", "channel": 2, "range": [200.0, 8000.0], "curve": "log"},
            {"cc": 7, "target": "eq.gain_db"},
        ]
    }
    assert mappings_from_preset({"chain": []}) == []


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"cc": 128, "target": "eq.gain_db"}, "midi cc must be an integer 0–127, got 128"),
        ({"cc": 40, "target": "eq.gain_db", "bits": 14}, "midi cc must be an integer 0–31 (the MSB of a 14-bit pair), got 40"),
        ({"cc": 7, "target": "eq.gain_db", "channel": 0}, "midi cc 7: channel must be 1–16 (or left out for any channel), got 0"),
        ({"cc": 7, "target": "gain"}, "midi cc 7: target must read '<plugin>.<param>' or 'stem.<name>.gain', got 'gain'"),
        ({"cc": 7, "target": "eq.gain_db", "curve": "exp"}, "midi cc 7: curve must be one of linear, log, got 'exp'"),
        (
            {"cc": 7, "target": "eq.gain_db", "range": [-24, 0], "curve": "log"},
            "curve 'log' needs a range above 0, got [-24, 0]; use curve: linear",
        ),
        ({"cc": 7, "target": "eq.gain_db", "range": [1]}, "midi cc 7: range must be two numbers [low, high], got [1]"),
        (
            {"cc": 7, "target": "eq.gain_db", "knob": 1},
            "midi cc entry: unknown key 'knob'; valid keys: cc, target, channel, range, curve, bits, takeover",
        ),
        ({"target": "eq.gain_db"}, "midi cc entry needs 'cc' and 'target'"),
    ],
)
def test_a_bad_cc_map_entry_is_refused_with_what_is_valid(entry: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(MidiMapError, match=re.escape(message)):
        mappings_from_preset({"midi": {"cc": [entry]}})


# -- scaling ----------------------------------------------------------------------------------


def test_linear_and_log_curves_invert_each_other() -> None:
    assert position_to_value(0.5, (-24.0, 24.0)) == 0.0
    assert position_to_value(0.5, (100.0, 10000.0), "log") == pytest.approx(1000.0)
    for x in (0.0, 0.25, 1.0):
        assert value_to_position(position_to_value(x, (20.0, 20000.0), "log"), (20.0, 20000.0), "log") == pytest.approx(x)
    assert value_to_position(99.0, (0.0, 1.0)) == 1.0  # clipped


def test_cc_values_scale_over_the_parameter_range_by_default() -> None:
    mapper = MidiMapper([CcMapping(7, "eq.gain_db")])
    assert set_values(mapper.handle(cc(7, 0), lookup)) == [("eq.gain_db", -24.0)]
    assert set_values(mapper.handle(cc(7, 127), lookup)) == [("eq.gain_db", 24.0)]


def test_a_frequency_follows_its_log_scale_unless_the_map_says_linear() -> None:
    log_map = MidiMapper([CcMapping(74, "hp.cutoff_frequency_hz", range=(100.0, 10000.0))])
    ((_, middle),) = set_values(log_map.handle(cc(74, 127), lookup))
    assert middle == pytest.approx(10000.0)
    ((_, half),) = set_values(log_map.handle(cc(74, 64), lookup))
    assert half == pytest.approx(100.0 * 100 ** (64 / 127))
    linear = MidiMapper([CcMapping(74, "hp.cutoff_frequency_hz", range=(100.0, 10000.0), curve="linear")])
    ((_, value),) = set_values(linear.handle(cc(74, 64), lookup))
    assert value == pytest.approx(100.0 + 64 / 127 * 9900.0)


def test_a_reversed_range_turns_the_knob_around() -> None:
    mapper = MidiMapper([CcMapping(7, "eq.gain_db", range=(6.0, -6.0))])
    assert set_values(mapper.handle(cc(7, 0), lookup)) == [("eq.gain_db", 6.0)]


def test_a_switch_target_turns_on_above_the_middle() -> None:
    mapper = MidiMapper([CcMapping(64, "stem.drums.mute")])
    assert set_values(mapper.handle(cc(64, 63), lookup)) == [("stem.drums.mute", 0.0)]
    assert set_values(mapper.handle(cc(64, 64), lookup)) == [("stem.drums.mute", 1.0)]


def test_a_channel_map_ignores_other_channels_and_an_omni_map_takes_all() -> None:
    mapper = MidiMapper([CcMapping(7, "eq.gain_db", channel=2)])
    assert isinstance(mapper.handle(cc(7, 10, channel=1), lookup)[0], Ignored)
    assert set_values(mapper.handle(cc(7, 127, channel=2), lookup)) == [("eq.gain_db", 24.0)]
    omni = MidiMapper([CcMapping(7, "eq.gain_db")])
    assert set_values(omni.handle(cc(7, 127, channel=9), lookup)) == [("eq.gain_db", 24.0)]


def test_an_unknown_target_is_ignored_with_a_reason() -> None:
    (action,) = MidiMapper([CcMapping(7, "nope.gain")]).handle(cc(7, 1), lookup)
    assert isinstance(action, Ignored) and "unknown target nope.gain" in action.reason


# -- 14-bit -----------------------------------------------------------------------------------


def test_a_14_bit_pair_gives_msb_first_then_the_fine_value() -> None:
    mapper = MidiMapper([CcMapping(1, "eq.gain_db", bits=14)])
    ((_, coarse),) = set_values(mapper.handle(cc(1, 64), lookup))
    assert coarse == pytest.approx(-24.0 + 48.0 * (64 << 7) / 16383)
    ((_, fine),) = set_values(mapper.handle(cc(33, 127), lookup))
    assert fine == pytest.approx(-24.0 + 48.0 * ((64 << 7) | 127) / 16383)
    assert set_values(mapper.handle(cc(1, 127), lookup)) == [("eq.gain_db", pytest.approx(-24.0 + 48.0 * (127 << 7) / 16383))]


def test_a_14_bit_lsb_before_any_msb_does_nothing() -> None:
    mapper = MidiMapper([CcMapping(1, "eq.gain_db", bits=14)])
    assert set_values(mapper.handle(cc(33, 5), lookup)) == []


# -- learn ------------------------------------------------------------------------------------


def test_learn_binds_the_next_cc_on_its_channel_without_moving_the_parameter() -> None:
    mapper = MidiMapper()
    mapper.arm("eq.gain_db")
    (learned,) = mapper.handle(cc(21, 90, channel=3), lookup)
    assert learned == Learned(CcMapping(21, "eq.gain_db", channel=3))
    assert mapper.armed is None
    assert set_values(mapper.handle(cc(21, 127, channel=3), lookup)) == [("eq.gain_db", 24.0)]


def test_learning_a_cc_again_replaces_its_old_binding() -> None:
    mapper = MidiMapper([CcMapping(21, "eq.gain_db", channel=1)])
    mapper.arm("hp.cutoff_frequency_hz")
    mapper.handle(cc(21, 0), lookup)
    assert [m.target for m in mapper.mappings] == ["hp.cutoff_frequency_hz"]


def test_learning_14_bit_waits_for_an_msb() -> None:
    mapper = MidiMapper()
    mapper.arm("eq.gain_db", bits=14)
    assert isinstance(mapper.handle(cc(40, 1), lookup)[0], Ignored)
    (learned,) = mapper.handle(cc(8, 1), lookup)
    assert learned == Learned(CcMapping(8, "eq.gain_db", channel=1, bits=14))


def test_clear_removes_one_target_or_all() -> None:
    mapper = MidiMapper([CcMapping(1, "eq.gain_db"), CcMapping(2, "eq.gain_db"), CcMapping(3, "stem.drums.mute")])
    assert mapper.clear("eq.gain_db") == 2
    assert [m.cc for m in mapper.mappings] == [3]
    assert mapper.clear() == 1 and mapper.mappings == []


# -- program change ---------------------------------------------------------------------------


def test_program_change_selects_from_the_list_and_ignores_beyond_it() -> None:
    mapper = MidiMapper(programs=["clean", "karaoke"])
    assert mapper.handle(mido.Message("program_change", program=1), lookup) == [SelectPreset("karaoke", 1)]
    (beyond,) = mapper.handle(mido.Message("program_change", program=2), lookup)
    assert isinstance(beyond, Ignored) and "program 2 has no preset; the program list has 2" in beyond.reason


def test_bank_select_counts_128_programs_per_bank() -> None:
    names = [f"p{i}" for i in range(130)]
    mapper = MidiMapper(programs=names)
    mapper.handle(cc(0, 0), lookup)
    mapper.handle(cc(32, 1), lookup)
    assert mapper.handle(mido.Message("program_change", program=1), lookup) == [SelectPreset("p129", 129)]


def test_program_changes_on_another_channel_are_ignored_when_a_channel_is_set() -> None:
    mapper = MidiMapper(programs=["a", "b"], program_channel=10)
    assert isinstance(mapper.handle(mido.Message("program_change", channel=0, program=1), lookup)[0], Ignored)
    assert mapper.handle(mido.Message("program_change", channel=9, program=1), lookup) == [SelectPreset("b", 1)]


# -- pick-up ----------------------------------------------------------------------------------


def test_pickup_ignores_a_knob_until_it_crosses_the_parameter() -> None:
    state = {"value": 12.0}  # position 0.75 on (-24, 24)

    def moving(target: str) -> TargetState:
        return TargetState((-24.0, 24.0), state["value"])

    mapper = MidiMapper([CcMapping(7, "eq.gain_db", takeover="pickup")])
    assert isinstance(mapper.handle(cc(7, 10), moving)[0], Ignored)  # far below: no jump
    assert isinstance(mapper.handle(cc(7, 60), moving)[0], Ignored)
    ((_, value),) = set_values(mapper.handle(cc(7, 110), moving))  # crossed 0.75 on the way up
    state["value"] = value
    assert set_values(mapper.handle(cc(7, 20), moving))  # engaged: follows every move now
    state["value"] = -20.0  # changed elsewhere (OSC, a preset): the knob lets go again
    assert isinstance(mapper.handle(cc(7, 100), moving)[0], Ignored)


def test_a_jump_map_applies_every_value() -> None:
    mapper = MidiMapper([CcMapping(7, "eq.gain_db")])
    assert all(set_values(mapper.handle(cc(7, v), lookup)) for v in (0, 127, 3))


# -- ports ------------------------------------------------------------------------------------


def test_opening_a_port_without_a_midi_system_fails_in_one_line_that_says_how_to_go_on() -> None:
    """On machines without python-rtmidi or without an ALSA sequencer, the error names what is missing."""
    try:
        port = open_input(None, lambda message: None)
    except MidiPortError as exc:
        text = str(exc)
        assert "\n" not in text
        assert "start without --midi-in" in text
        assert "python-rtmidi" in text or "ALSA" in text or "cannot open" in text
    else:  # a machine with working MIDI: the virtual port opened
        port.close()


def test_a_port_name_that_matches_nothing_lists_the_inputs_there_are() -> None:
    from plugin_host.control.midi import _find_port

    with pytest.raises(MidiPortError, match=r"no MIDI input named 'Launch'; available inputs: 'Midi Through', 'nanoKONTROL2'"):
        _find_port(["Midi Through", "nanoKONTROL2"], "Launch")
    assert _find_port(["Midi Through", "nanoKONTROL2 MIDI 1"], "nanokontrol") == "nanoKONTROL2 MIDI 1"
