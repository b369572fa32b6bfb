"""Routing without a socket: the handlers are plain functions over the server's state."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import mido
import pytest
from osc_support import write_presets

from plugin_host.control.osc.control import Control
from plugin_host.control.osc.dispatcher import Dispatcher, Request
from plugin_host.control.osc.jobs import JobManager
from plugin_host.control.osc.messages import Feedback, Message
from plugin_host.control.osc.midi_bridge import apply_midi
from plugin_host.control.osc.model import ModelProvider
from plugin_host.control.osc.routes import Routes, address_space
from plugin_host.control.osc.security import PathPolicy
from separator import Separator

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture
def routes(tmp_path: Path, separator: Separator) -> Iterator[Routes]:
    write_presets(tmp_path)
    jobs = JobManager(lambda job, message: None)
    control = Control(PathPolicy([tmp_path]), ModelProvider(separator=separator), jobs)
    control.load_preset(str(tmp_path / "trim-hp.yaml"), trusted=True)
    yield Routes(control)
    jobs.shutdown()


def send(routes: Routes, address: str, *args: object) -> list[Message]:
    return routes.dispatcher.dispatch(Message(address, args))


def test_a_set_replies_with_feedback_and_a_query_with_a_plain_reply(routes: Routes) -> None:
    replies = send(routes, "/chain/trim/gain_db", -12)
    assert replies == [Feedback("/chain/trim/gain_db", (-12.0,)), Feedback("/chain/trim/gain_db/n", (0.5833333333333334,))]
    assert all(type(m) is Feedback for m in replies)
    (query,) = send(routes, "/chain/trim/gain_db")
    assert type(query) is Message and query.args == (-12.0,)


def test_a_pattern_is_served_once_per_matching_address_in_order(routes: Routes) -> None:
    replies = send(routes, "/chain/*/*/n")
    assert [m.address for m in replies] == ["/chain/hp/cutoff_frequency_hz/n", "/chain/trim/gain_db/n"]


def test_an_unknown_address_suggests_close_ones(routes: Routes) -> None:
    assert send(routes, "/chain/trim/gain_dB") == [
        Message(
            "/error",
            (
                "/chain/trim/gain_dB",
                'Parameter named "gain_dB" not found. Valid options: gain_db. Did you mean "gain_db"? (stage \'trim\', Gain)',
            ),
        )
    ]
    assert send(routes, "/preset/lod", "x")[0].args[1].startswith("unknown address; did you mean /preset/load")


def test_bypass_switches_a_stage_and_reports_it(routes: Routes) -> None:
    assert send(routes, "/stage/hp/bypass", 1) == [Feedback("/stage/hp/bypass", (1,))]
    assert send(routes, "/stage/hp/bypass") == [Message("/stage/hp/bypass", (1,))]
    assert routes.control.require_chain().is_bypassed("hp")


def test_refresh_lists_every_control_with_its_value(routes: Routes) -> None:
    replies = send(routes, "/refresh")
    assert [m.address for m in replies] == [
        "/chain/trim/gain_db",
        "/chain/trim/gain_db/n",
        "/chain/hp/cutoff_frequency_hz",
        "/chain/hp/cutoff_frequency_hz/n",
    ]


def test_a_handler_bug_becomes_an_internal_error_reply_not_a_crash() -> None:
    d = Dispatcher()

    def broken(request: Request) -> list[Message]:
        raise KeyError("oops")

    d.add("/broken", "", broken, "raises")
    ((address, (where, text)),) = [(m.address, m.args) for m in d.dispatch(Message("/broken"))]
    assert (address, where) == ("/error", "/broken") and text.startswith("internal error (KeyError")


def test_a_route_whose_handler_lacks_an_argument_fails_when_the_table_is_built() -> None:
    def handler(request: Request) -> list[Message]:
        return []

    with pytest.raises(TypeError, match="/x: handler handler takes no argument 'name'"):
        Dispatcher().add("/x", "s:name", handler, "bad")


def test_midi_program_change_and_cc_without_a_socket(routes: Routes, tmp_path: Path) -> None:
    routes.control.midi.programs = [str(tmp_path / "split-remix.yaml")]
    feedback = apply_midi(routes, mido.Message("program_change", program=0))
    assert feedback[0] == Feedback("/preset/loaded", ("split-remix", "Split into drums, vocals and other; remix."))
    routes.control.midi.arm("stem.vocals.mute")
    assert apply_midi(routes, mido.Message("control_change", control=20, value=1)) == [
        Feedback("/midi/learned", ("stem.vocals.mute", 1, 20, 7))
    ]
    assert apply_midi(routes, mido.Message("control_change", control=20, value=127)) == [Feedback("/stem/vocals/mute", (1,))]
    assert routes.control.get_stem("vocals", "mute") == 1.0


def test_the_documented_address_space_is_the_one_the_server_serves() -> None:
    documented = json.loads((DOCS / "osc-addresses.json").read_text())
    assert documented == address_space()
    table = (DOCS / "osc.md").read_text()
    missing = [a["address"] for a in documented if f"`{a['address'].replace('{', '<').replace('}', '>')}" not in table]
    assert missing == [], "addresses missing from docs/osc.md"
