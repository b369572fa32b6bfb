"""The split stage: separate the audio into stems, run each stem through its route, keep what is heard.

A route is a stem's channel strip: a lane of effects, then a gain in dB, mute
and solo. As on a mixing desk, a stem is heard when it is not muted and either
no stem is soloed or it is. Stems that are not heard are neither mixed nor
written.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from plugin_host.errors import ParameterError
from plugin_host.lane import Lane
from plugin_host.params import not_found
from plugin_host.render import Tail, fit, whole
from plugin_host.schema import ROUTE_GAIN_SPEC, stem_names, switch
from plugin_host.stages import PluginStage


class SeparatorLike(Protocol):
    """What a split needs from a separator: :meth:`separator.Separator.separate` (a test may pass a stand-in)."""

    def separate(
        self, audio: np.ndarray, sample_rate: int, stems: list[str] | None = None, clusters: int | None = None
    ) -> dict[str, np.ndarray]: ...


@dataclass
class Route:
    """One stem's strip.

    Attributes:
        lane: the stem's effects (empty: untouched).
        gain_db: level change in dB, after the effects.
        mute, solo: as on a mixing desk.
        explicit: the keys the preset gave (or that were set live), written back by ``to_dict``.
        listed: the preset lists this route (even empty); ``chain_given``: it gives the route a chain.
    """

    lane: Lane = field(default_factory=Lane)
    gain_db: float = 0.0
    mute: bool = False
    solo: bool = False
    explicit: set[str] = field(default_factory=set)
    listed: bool = False
    chain_given: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in ("gain_db", "mute", "solo") if k in self.explicit}
        if self.chain_given:
            out["chain"] = [s.to_dict() for s in self.lane.stages]
        return out

    def state(self) -> dict[str, Any]:
        return {"gain_db": self.gain_db, "mute": self.mute, "solo": self.solo}


class SplitStage:
    """The separator plus one route per stem.

    Attributes:
        entry: the canonical ``split`` section (stems or clusters, output).
        names: the stems the separation produces, in order.
        routes: ``{stem: Route}`` for every stem.
    """

    def __init__(self, entry: dict[str, Any], routes: dict[str, Route], name: str | None = None) -> None:
        self.entry, self.name = entry, name
        self.names = stem_names(entry)
        self.routes = {n: routes.get(n, Route()) for n in self.names}

    @property
    def output(self) -> str:
        """``mix``, ``stems`` or ``both``."""
        return str(self.entry["output"])

    def plugin_stages(self) -> Iterator[PluginStage]:
        for route in self.routes.values():
            yield from route.lane.plugin_stages()

    def heard(self) -> list[str]:
        """The stems that are mixed and written: not muted, and soloed if any stem is."""
        soloed = any(r.solo for r in self.routes.values())
        return [n for n, r in self.routes.items() if not r.mute and (r.solo or not soloed)]

    def route(self, stem: str) -> Route:
        if stem not in self.routes:
            raise ParameterError(not_found("Stem", stem, self.names))
        return self.routes[stem]

    def set_stem(self, stem: str, gain_db: float | None = None, mute: bool | None = None, solo: bool | None = None) -> None:
        """Change a stem's gain (dB), mute or solo; ``None`` leaves a setting as it is.

        Raises:
            ParameterError: unknown stem, gain out of range, or a switch that is not one.
        """
        route = self.route(stem)
        try:
            updates = {
                "gain_db": None if gain_db is None else ROUTE_GAIN_SPEC.check(gain_db),
                "mute": None if mute is None else switch("mute").check(mute),
                "solo": None if solo is None else switch("solo").check(solo),
            }
        except ValueError as exc:
            raise ParameterError(f"{exc} (stem '{stem}')") from None
        for key, value in updates.items():
            if value is not None:
                setattr(route, key, value)
                route.explicit.add(key)

    def stems(self, separator: SeparatorLike, audio: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]:
        """The heard stems of ``audio`` ``(channels, n)``, each through its route (tails included), padded to one length."""
        separated = separator.separate(audio, sample_rate, stems=self.entry.get("stems"), clusters=self.entry.get("clusters"))
        out = {}
        for name in self.heard():
            route = self.routes[name]
            stem = whole(route.lane, separated[name], sample_rate, Tail.of("auto", route.lane)) if route.lane.stages else separated[name]
            out[name] = stem * np.float32(10 ** (route.gain_db / 20))
        return _common_length(out)

    def to_dict(self) -> dict[str, Any]:
        section = copy.deepcopy(self.entry)
        routes = {n: r.to_dict() for n, r in self.routes.items() if r.listed or r.explicit}
        if routes:
            section["routes"] = routes
        entry: dict[str, Any] = {"name": self.name} if self.name else {}
        entry["split"] = section
        return entry


def _common_length(stems: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Pad every stem with silence to the longest (their tails differ); mono stems join stereo ones on both sides."""
    n = max((s.shape[-1] for s in stems.values()), default=0)
    channels = max((s.shape[0] for s in stems.values()), default=1)
    return {k: fit(np.repeat(s, channels, axis=0) if s.shape[0] == 1 else s, n) for k, s in stems.items()}
