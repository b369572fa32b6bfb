"""The address space: every OSC address the server answers, what it takes and what it replies.

:class:`Routes` binds each address to a small handler over a
:class:`~plugin_host.control.osc.control.Control`; ``docs/osc.md`` and
``docs/osc-addresses.json`` describe the same table (``python -m
plugin_host.control.osc.routes`` prints the JSON). Replies go to the sender (or its
``--reply-port``); :class:`Feedback` messages go to every client that takes
feedback, so every surface's faders follow a change, whoever made it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from plugin_host.control.osc.app import Clients
from plugin_host.control.osc.control import EXPECTED_ERRORS, Control
from plugin_host.control.osc.dispatcher import Dispatcher, Expand, Request
from plugin_host.control.osc.messages import Feedback, Message
from plugin_host.control.osc.targets import position_of
from plugin_host.errors import ParameterError
from plugin_host.params import ParamInfo

Stats = Callable[[], tuple[int, ...]]


def _number(value: float | str) -> float | str:
    """A value as it goes out: a float, or the option text of a choice."""
    return value if isinstance(value, str) else float(value)


class Routes:
    """The handlers, each ``handler(request, **arguments) -> list[Message]``.

    Args:
        control: the server's state.
        clients: who takes feedback (``/feedback``).
        stats: the transport's counters (``/stats``); ``None`` outside a server.
    """

    def __init__(self, control: Control, clients: Clients | None = None, stats: Stats | None = None) -> None:
        self.control, self.clients, self.stats = control, clients or Clients(), stats
        self.dispatcher = _table(self)

    # -- server --------------------------------------------------------------------------------

    def ping(self, request: Request, args: tuple[Any, ...] = ()) -> list[Message]:
        return [Message("/pong", args)]

    def status(self, request: Request) -> list[Message]:
        s = self.control.status()
        return [Message("/status", (s.version, s.preset, s.queued, s.running, s.model))]

    def server_stats(self, request: Request) -> list[Message]:
        return [Message("/stats", self.stats() if self.stats else ())]

    def feedback(self, request: Request, on: bool) -> list[Message]:
        self.clients.set_feedback(request.reply_to, on)
        return [Message("/feedback", (int(on),))]

    def help(self, request: Request, address: str = "") -> list[Message]:
        return self.dispatcher.help(address)

    # -- jobs ------------------------------------------------------------------------------------

    def split(
        self,
        request: Request,
        input_path: str,
        output_dir: str,
        stems: str | None = None,
        clusters: int | None = None,
        start: float | None = None,
        length: float | None = None,
    ) -> list[Message]:
        # "" in the stems place means the default stems, so a range can follow without naming any
        job = self.control.split(
            input_path, output_dir, request.reply_to, stems=stems or None, clusters=clusters, start=start, length=length
        )
        return [Message("/job/accepted", (job.id,))]

    def render(self, request: Request, input_path: str, output_path: str) -> list[Message]:
        job = self.control.render(input_path, output_path, request.reply_to)
        return [Message("/job/accepted", (job.id,))]

    def job_cancel(self, request: Request, job_id: int) -> list[Message]:
        job = self.control.jobs.cancel(job_id)
        return [Message("/job/cancel", (job.id, "cancelled" if job.state == "cancelled" else "stopping"))]

    def job_list(self, request: Request) -> list[Message]:
        jobs = self.control.jobs.jobs()
        return [*(j.info() for j in jobs), Message("/job/list/end", (len(jobs),))]

    def job_status(self, request: Request, job_id: int) -> list[Message]:
        job = self.control.jobs.get(job_id)
        if job is None:
            raise ParameterError(f"no job {job_id} (finished jobs are forgotten after a while); /job/list shows the jobs there are")
        return [job.info()]

    # -- presets -----------------------------------------------------------------------------------

    def preset_load(self, request: Request, name_or_path: str) -> list[Message]:
        chain = self.control.load_preset(name_or_path)
        return [Message("/preset/loaded", (chain.name, chain.description)), *self.snapshot(Feedback)]

    def preset_save(self, request: Request, name_or_path: str) -> list[Message]:
        return [Message("/preset/saved", (str(self.control.save_preset(name_or_path)),))]

    def preset_list(self, request: Request) -> list[Message]:
        infos = self.control.list_presets()
        out = [Message("/preset/info", (i.name, i.description if i.error is None else f"(does not load: {i.error})")) for i in infos]
        return [*out, Message("/preset/list/end", (len(out),))]

    def preset_get(self, request: Request) -> list[Message]:
        return [Message("/preset/json", (self.control.preset_json(),))]

    # -- chain parameters --------------------------------------------------------------------------

    def chain_list(self, request: Request) -> list[Message]:
        params = self.control.parameters()
        out = [Message("/chain/param", (p.stage, p.name, p.value, p.minimum, p.maximum, p.unit, p.scale)) for p in params]
        return [*out, Message("/chain/list/end", (len(out),))]

    def param(self, request: Request, value: Any = None) -> list[Message]:
        stage, name = request.path["stage"], request.path["param"]
        if value is None:
            return [Message(request.address, (_number(self.control.get_param(stage, name)),))]
        self.control.set_param(stage, name, value)
        return self.param_feedback(stage, name, request.address)

    def param_normalised(self, request: Request, position: float | None = None) -> list[Message]:
        stage, name = request.path["stage"], request.path["param"]
        if position is None:
            return [Message(request.address, (self.control.position(stage, name),))]
        self.control.set_normalised(stage, name, position)
        return self.param_feedback(stage, name, request.address.removesuffix("/n"))

    def param_feedback(self, stage: str, name: str, address: str | None = None) -> list[Message]:
        """Feedback of one parameter, in its units and as a fader position, on its address by name
        (and on ``address`` too when the request named the stage by index)."""
        value = _number(self.control.get_param(stage, name))
        info = _info_or_none(self.control, stage, name)
        base = f"/chain/{info.stage if info else stage}/{name}"
        out: list[Message] = []
        for prefix in dict.fromkeys([base, address or base]):
            out.append(Feedback(prefix, (value,)))
            if info is not None:
                out.append(Feedback(f"{prefix}/n", (position_of(info),)))
        return out

    def bypass(self, request: Request, on: bool | None = None) -> list[Message]:
        chain = self.control.require_chain()
        stage = request.path["stage"]
        if on is None:
            return [Message(request.address, (int(chain.is_bypassed(stage)),))]
        chain.set_bypass(stage, on)
        return [Feedback(request.address, (int(chain.is_bypassed(stage)),))]

    def refresh(self, request: Request) -> list[Message]:
        return self.snapshot(Message)

    def snapshot(self, kind: type[Message]) -> list[Message]:
        """Every parameter and stem control with its value: what a surface needs to redraw."""
        out: list[Message] = []
        for p in self.control.parameters():
            out += [kind(f"/chain/{p.stage}/{p.name}", (p.value,)), kind(f"/chain/{p.stage}/{p.name}/n", (position_of(p),))]
        for stem in self.control.stem_names():
            out += [kind(f"/stem/{stem}/{c}", (self._stem_value(stem, c),)) for c in ("gain", "mute", "solo")]
            out.append(kind(f"/stem/{stem}/gain/n", (self.control.stem_position(stem),)))
        return out

    # -- stems -------------------------------------------------------------------------------------

    def stem_list(self, request: Request) -> list[Message]:
        names = self.control.stem_names()
        out = [
            Message(
                "/stem/info",
                (n, self.control.get_stem(n, "gain"), int(self.control.get_stem(n, "mute")), int(self.control.get_stem(n, "solo"))),
            )
            for n in names
        ]
        return [*out, Message("/stem/list/end", (len(out),))]

    def _stem_value(self, stem: str, control: str) -> float | int:
        value = self.control.get_stem(stem, control)
        return value if control == "gain" else int(value)

    def stem_gain(self, request: Request, gain_db: float | None = None) -> list[Message]:
        return self._stem(request, "gain", gain_db)

    def stem_switch(self, request: Request, on: bool | None = None) -> list[Message]:
        return self._stem(request, request.address.rsplit("/", 1)[1], None if on is None else float(on))

    def _stem(self, request: Request, control: str, value: float | None) -> list[Message]:
        stem = request.path["name"]
        if value is None:
            return [Message(request.address, (self._stem_value(stem, control),))]
        self.control.set_stem(stem, control, value)
        return self.stem_feedback(stem, control)

    def stem_gain_normalised(self, request: Request, position: float | None = None) -> list[Message]:
        stem = request.path["name"]
        if position is None:
            return [Message(request.address, (self.control.stem_position(stem),))]
        self.control.set_stem_position(stem, position)
        return self.stem_feedback(stem, "gain")

    def stem_feedback(self, stem: str, control: str) -> list[Message]:
        out: list[Message] = [Feedback(f"/stem/{stem}/{control}", (self._stem_value(stem, control),))]
        if control == "gain":
            out.append(Feedback(f"/stem/{stem}/gain/n", (self.control.stem_position(stem),)))
        return out

    # -- MIDI --------------------------------------------------------------------------------------

    def midi_learn(self, request: Request, target: str = "", bits: int = 7) -> list[Message]:
        if not target:
            self.control.midi.disarm()
            return [Message("/midi/learn", ("",))]
        self.control.target_state(target)  # an unknown target fails now, not when the CC arrives
        self.control.midi.arm(target, bits)
        return [Message("/midi/learn", (target,))]

    def midi_map_list(self, request: Request) -> list[Message]:
        out = []
        for m in self.control.midi.mappings:
            lo, hi = m.range or _target_range(self.control, m.target)
            out.append(Message("/midi/map", (m.target, m.channel or 0, m.cc, lo, hi, m.curve or "auto", m.bits, m.takeover)))
        return [*out, Message("/midi/map/list/end", (len(out),))]

    def midi_map_clear(self, request: Request, target: str = "") -> list[Message]:
        return [Message("/midi/map/cleared", (self.control.midi.clear(target or None),))]


def _info_or_none(control: Control, stage: str, name: str) -> ParamInfo | None:
    """The parameter's info, or ``None`` for one without a numeric range (a choice)."""
    try:
        return control.info(stage, name)
    except ParameterError:
        return None


def _target_range(control: Control, target: str) -> tuple[float, float]:
    try:
        return control.target_state(target).range
    except ValueError:
        return math.nan, math.nan


# The address space, in the spirit of a REAPER pattern file: one row per address.
# (address template, arguments, handler method of Routes, summary, replies, family of concrete addresses)
ADDRESSES: tuple[tuple[str, str, str, str, str, str | None], ...] = (
    # -- server
    ("/ping", "*:args", "ping", "liveness check; the arguments come back", "/pong [*:args]", None),
    (
        "/status",
        "",
        "status",
        "server version, loaded preset, queue length, running jobs, model state",
        "/status s:version s:preset i:queued i:running s:model",
        None,
    ),
    (
        "/stats",
        "",
        "server_stats",
        "transport counters",
        "/stats i:packets i:messages i:refused i:rate_limited i:oversized i:malformed i:send_errors",
        None,
    ),
    (
        "/help",
        "[s:address]",
        "help",
        "the address table (or the addresses starting with the argument)",
        "/help s:address s:arguments s:replies s:summary ..., /help/end i:count",
        None,
    ),
    (
        "/feedback",
        "t:on",
        "feedback",
        "turn feedback of changes made by others on (default) or off for this client",
        "/feedback i:on",
        None,
    ),
    # -- jobs
    (
        "/split",
        "s:input_path s:output_dir [s:stems|i:clusters] [f:start f:length]",
        "split",
        "separate a file into output_dir/<stem>.wav; stems: names such as 'vocals,drums' (the rest become 'other'; "
        "'' for all); clusters: K blind sources; start, length: only this range of the file, in seconds",
        "/job/accepted i:job_id, then /job/progress i:job_id f:fraction ..., "
        "/job/done i:job_id s:path ... [f:start f:length] | /job/error i:job_id s:message | /job/cancelled i:job_id",
        None,
    ),
    (
        "/render",
        "s:input_path s:output_path",
        "render",
        "run the loaded chain on a file (a snapshot of its settings now)",
        "as /split",
        None,
    ),
    (
        "/job/cancel",
        "i:job_id",
        "job_cancel",
        "cancel a queued job, or stop a running one at its next progress step (no partial files remain)",
        "/job/cancel i:job_id s:cancelled|stopping, later /job/cancelled i:job_id",
        None,
    ),
    (
        "/job/list",
        "",
        "job_list",
        "queued, running and recently finished jobs",
        "/job/info i:job_id s:kind s:state f:progress s:summary ..., /job/list/end i:count",
        None,
    ),
    (
        "/job/status",
        "i:job_id",
        "job_status",
        "one job's state (for a client that missed a reply)",
        "/job/info i:job_id s:kind s:state f:progress s:summary",
        None,
    ),
    # -- presets
    (
        "/preset/load",
        "s:name_or_path",
        "preset_load",
        "load a preset by name or by path inside the roots",
        "/preset/loaded s:name s:description, then feedback of every control",
        None,
    ),
    (
        "/preset/save",
        "s:name_or_path",
        "preset_save",
        "save the chain as it is now, with MIDI maps: a name goes to the preset folder (replacing it), a path must be new",
        "/preset/saved s:path",
        None,
    ),
    (
        "/preset/list",
        "",
        "preset_list",
        "the presets that /preset/load accepts by name",
        "/preset/info s:name s:description ..., /preset/list/end i:count",
        None,
    ),
    ("/preset/get", "", "preset_get", "the loaded chain as JSON (the preset format)", "/preset/json s:json", None),
    # -- chain parameters
    (
        "/chain/list",
        "",
        "chain_list",
        "every automatable parameter with its range",
        "/chain/param s:stage s:param f:value f:min f:max s:unit s:scale ..., /chain/list/end i:count",
        None,
    ),
    (
        "/chain/{stage}/{param}",
        "[v:value]",
        "param",
        "set a parameter in its own units (dB, Hz, ms, ...); no argument: query",
        "feedback /chain/<stage>/<param> f:value and .../n f:position; query: /chain/<stage>/<param> f:value",
        "params",
    ),
    (
        "/chain/{stage}/{param}/n",
        "[f:position]",
        "param_normalised",
        "set a parameter from a fader position 0..1 (log parameters move in ratios); no argument: query",
        "as /chain/<stage>/<param>; query: .../n f:position",
        "params",
    ),
    (
        "/stage/{stage}/bypass",
        "[t:on]",
        "bypass",
        "bypass a stage (1) or bring it back (0); no argument: query",
        "feedback /stage/<stage>/bypass i:on",
        "stages",
    ),
    ("/refresh", "", "refresh", "the value of every control, as a surface needs to redraw", "/chain/... and /stem/... messages", None),
    # -- stems
    (
        "/stem/list",
        "",
        "stem_list",
        "the stems of the split stage with their settings",
        "/stem/info s:name f:gain_db i:mute i:solo ..., /stem/list/end i:count",
        None,
    ),
    (
        "/stem/{name}/gain",
        "[f:gain_db]",
        "stem_gain",
        "a stem's gain in dB; no argument: query",
        "feedback /stem/<name>/gain f:gain_db and /stem/<name>/gain/n f:position",
        "stems",
    ),
    (
        "/stem/{name}/gain/n",
        "[f:position]",
        "stem_gain_normalised",
        "a stem's gain from a fader position 0..1; no argument: query",
        "as /stem/<name>/gain",
        "stems",
    ),
    (
        "/stem/{name}/mute",
        "[t:on]",
        "stem_switch",
        "mute a stem (1) or not (0); no argument: query",
        "feedback /stem/<name>/mute i:on",
        "stems",
    ),
    (
        "/stem/{name}/solo",
        "[t:on]",
        "stem_switch",
        "solo a stem (1) or not (0); no argument: query",
        "feedback /stem/<name>/solo i:on",
        "stems",
    ),
    # -- MIDI
    (
        "/midi/learn",
        "[s:target] [i:bits]",
        "midi_learn",
        "bind the next CC that arrives to target (<stage>.<param> or stem.<name>.gain|mute|solo; "
        "bits 14 for an MSB/LSB pair); no argument: stop learning",
        "/midi/learn s:target, later feedback /midi/learned s:target i:channel i:cc i:bits",
        None,
    ),
    (
        "/midi/map/list",
        "",
        "midi_map_list",
        "the CC maps (channel 0: any)",
        "/midi/map s:target i:channel i:cc f:low f:high s:curve i:bits s:takeover ..., /midi/map/list/end i:count",
        None,
    ),
    ("/midi/map/clear", "[s:target]", "midi_map_clear", "remove every CC map, or those of one target", "/midi/map/cleared i:count", None),
)


def _table(r: Routes) -> Dispatcher:
    """The dispatcher with every address of :data:`ADDRESSES` bound to ``r``'s handlers."""
    control = r.control
    families: dict[str, Expand] = {
        "params": lambda: [{"stage": p.stage, "param": p.name} for p in control.parameters()],
        "stems": lambda: [{"name": n} for n in control.stem_names()],
        "stages": lambda: [{"stage": s.name} for s in control.chain.stages()] if control.chain else [],
    }
    d = Dispatcher(EXPECTED_ERRORS)
    for template, signature, handler, summary, replies, family in ADDRESSES:
        d.add(template, signature, getattr(r, handler), summary, replies, families[family] if family else None)
    return d


def address_space() -> list[dict[str, Any]]:
    """The address table as data (what ``docs/osc-addresses.json`` holds)."""
    table = Routes(_NoControl()).dispatcher  # type: ignore[arg-type]
    return [
        {"address": r.template, "arguments": str(r.signature), "replies": r.replies, "summary": r.summary, "pattern": r.expand is not None}
        for r in table.routes
    ]


class _NoControl:
    """Stands in for a Control when only the table is wanted."""

    chain = None

    def parameters(self) -> list[Any]:
        return []

    def stem_names(self) -> list[str]:
        return []


if __name__ == "__main__":
    print(json.dumps(address_space(), indent=2))
