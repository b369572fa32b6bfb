"""What OSC and MIDI can move in a chain: parameters (by stage name or index) and stem controls, as values and fader positions."""

from __future__ import annotations

from plugin_host.chain import Chain
from plugin_host.control.midi import TargetState
from plugin_host.errors import ParameterError
from plugin_host.midi_map import value_to_position
from plugin_host.params import ParamInfo
from plugin_host.schema import ROUTE_GAIN_SPEC

STEM_CONTROLS = ("gain", "mute", "solo")
STEM_GAIN_RANGE = (ROUTE_GAIN_SPEC.minimum or -96.0, ROUTE_GAIN_SPEC.maximum or 24.0)  # dB


def position_of(info: ParamInfo) -> float:
    """Where a parameter's value sits on a fader, 0–1."""
    return value_to_position(info.value, (info.minimum, info.maximum), info.scale)


def param_info(chain: Chain, stage: str, name: str) -> ParamInfo:
    """The :class:`ParamInfo` of an automatable parameter of ``chain``.

    Raises:
        ParameterError: unknown stage or parameter, or one that is not a number or switch.
    """
    canonical = stage
    if stage.isdigit():
        stages = chain.stages()
        canonical = stages[int(stage)].name if int(stage) < len(stages) else stage
    for info in chain.parameters():
        if info.stage == canonical and info.name == name:
            return info
    chain.param_range(stage, name)  # raises the chain's own message for an unknown stage, parameter or a choice
    raise ParameterError(f"Parameter '{name}' of stage '{stage}' is not a number or switch")


def target_state(chain: Chain, target: str) -> TargetState:
    """See :meth:`Control.target_state`."""
    stem = parse_stem_target(target)
    if stem is not None:
        state = chain.get_stem(stem[0])
        if stem[1] == "gain":
            return TargetState(STEM_GAIN_RANGE, float(state["gain_db"]))
        return TargetState((0.0, 1.0), float(state[stem[1]]), toggle=True)
    stage, _, name = target.rpartition(".")
    if not stage:
        raise ParameterError(f"MIDI target {target!r} must read <stage>.<param> or stem.<name>.gain")
    info = param_info(chain, stage, name)
    return TargetState((info.minimum, info.maximum), info.value, scale=info.scale)


def parse_stem_target(target: str) -> tuple[str, str] | None:
    """``("drums", "gain")`` for ``"stem.drums.gain"``; ``None`` for a chain parameter target.

    Raises:
        ParameterError: ``stem.`` with an unknown control.
    """
    if not target.startswith("stem."):
        return None
    name, _, control = target[len("stem.") :].rpartition(".")
    if control not in STEM_CONTROLS or not name:
        raise ParameterError(f"stem target {target!r} must read stem.<name>.gain, stem.<name>.mute or stem.<name>.solo")
    return name, control
