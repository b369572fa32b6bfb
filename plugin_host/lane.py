"""A lane: stages in series that audio streams through, adapting channel counts on the way.

Consecutive stages run as one native ``pedalboard.Pedalboard`` (no Python
between plugins); a VST3 plugin that does not accept the current channel count
runs on its own: a stereo-only plugin gets mono audio copied to both sides
(its output is stereo from then on, as in a DAW), a mono-only plugin runs once
per channel (dual mono, one instance each).

Blocks go through ``process(block, sample_rate)`` with ``reset=False``, so a
stream cut into blocks sounds exactly like one call; :meth:`Lane.reset` starts
a new stream. Every plugin is handed blocks of exactly :data:`CHUNK` samples:
pedalboard re-prepares a plugin (and wipes its reverb or delay memory) when a
block is longer than any before it, so a short first block followed by longer
ones would cut tails, and the output would depend on how the input was cut.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pedalboard

from plugin_host.errors import ChainError
from plugin_host.stages import PluginStage, Stage, Vst3Stage, describe_channels

CHUNK = 8192  # samples per plugin call: pedalboard's own buffer size


class _Native:
    """Several stages as one pedalboard."""

    def __init__(self, plugins: list[pedalboard.Plugin]) -> None:
        self.board = pedalboard.Pedalboard(plugins)

    def process(self, block: np.ndarray, sample_rate: float) -> np.ndarray:
        return self.board.process(block, sample_rate, reset=False)  # type: ignore[no-any-return]


class _Upmix:
    """A stereo-only plugin on mono audio: the mono signal feeds both inputs."""

    def __init__(self, plugin: pedalboard.Plugin) -> None:
        self.plugin = plugin

    def process(self, block: np.ndarray, sample_rate: float) -> np.ndarray:
        return self.plugin.process(np.repeat(block, 2, axis=0), sample_rate, reset=False)  # type: ignore[no-any-return]


class _DualMono:
    """A mono-only plugin on multichannel audio: one instance per channel."""

    def __init__(self, instances: list[pedalboard.Plugin]) -> None:
        self.instances = instances

    def process(self, block: np.ndarray, sample_rate: float) -> np.ndarray:
        outs = [p.process(block[i : i + 1], sample_rate, reset=False) for i, p in enumerate(self.instances)]
        n = min(o.shape[-1] for o in outs)  # identical instances withhold the same latency; guard anyway
        return np.concatenate([o[:, :n] for o in outs], axis=0)


class _Chunked:
    """Feeds a runner exactly :data:`CHUNK` samples per call, holding back the remainder for the next block."""

    def __init__(self, runner: _Native | _Upmix | _DualMono, channels: int) -> None:
        self.runner = runner
        self.pending = np.zeros((channels, 0), np.float32)

    def process(self, block: np.ndarray, sample_rate: float) -> np.ndarray:
        data = np.concatenate([self.pending, block], axis=-1) if self.pending.shape[-1] else block
        full = data.shape[-1] - data.shape[-1] % CHUNK
        self.pending = data[:, full:]
        outs = [self.runner.process(data[:, i : i + CHUNK], sample_rate) for i in range(0, full, CHUNK)]
        return np.concatenate(outs, axis=-1) if outs else np.zeros((0, 0), np.float32)


@dataclass
class Lane:
    """Stages in series; the top level of a chain, of the part after a split, and of each stem's route.

    Attributes:
        stages: in processing order.
    """

    stages: list[Stage] = field(default_factory=list)
    _runners: dict[int, tuple[list[_Chunked], int]] = field(default_factory=dict, repr=False)

    def plugin_stages(self) -> Iterator[PluginStage]:
        for stage in self.stages:
            yield from stage.plugin_stages()

    @property
    def streamable(self) -> bool:
        """Whether block-wise output equals one-call output (see :class:`plugin_host.catalog.PluginSpec`)."""
        return all(s.streamable for s in self.stages if not s.bypass)

    @property
    def delay_seconds(self) -> float:
        """The longest delay line in the lane, in seconds."""
        return max((s.delay_seconds for s in self.stages if not s.bypass), default=0.0)

    def output_channels(self, channels: int) -> int:
        """How many channels come out when ``channels`` go in.

        Raises:
            ChainError: a plugin cannot take the audio's channel count.
        """
        return self._plan(channels)[1]

    def prepare(self, sample_rate: float) -> None:
        for stage in self.stages:
            stage.prepare(sample_rate)

    def reset(self) -> None:
        """Start a new stream: clear every plugin's memory and rebuild the containers (their delay lines too)."""
        self._runners.clear()
        for stage in self.stages:
            stage.reset()

    def invalidate(self) -> None:
        """Rebuild the runners on next use (after a bypass switched)."""
        self._runners.clear()

    def process(self, block: np.ndarray, sample_rate: float) -> np.ndarray:
        """One block ``(channels, n)`` → ``(out_channels, m)``.

        ``m`` differs from ``n``: each runner holds back up to a chunk, and plugins hold back their latency;
        feeding silence after the input brings everything out.
        """
        runners, out_channels = self._plan(block.shape[0])
        for runner in runners:
            block = runner.process(block, sample_rate)
            if block.shape[-1] == 0:
                return np.zeros((out_channels, 0), np.float32)
        return block

    def _plan(self, channels: int) -> tuple[list[_Chunked], int]:
        if channels not in self._runners:
            self._runners[channels] = self._build(channels)
        return self._runners[channels]

    def _build(self, channels: int) -> tuple[list[_Chunked], int]:
        runners: list[_Chunked] = []
        group: list[pedalboard.Plugin] = []
        for stage in self.stages:
            if isinstance(stage, Vst3Stage) and not stage.bypass and channels not in stage.channels:
                if group:
                    runners.append(_Chunked(_Native(group), channels))
                    group = []
                adapter, out_channels = _adapter(stage, channels)
                runners.append(_Chunked(adapter, channels))
                channels = out_channels
                continue
            plugin = stage.native(channels)
            if plugin is not None:
                group.append(plugin)
        if group or not runners:
            runners.append(_Chunked(_Native(group), channels))
        return runners, channels


def _adapter(stage: Vst3Stage, channels: int) -> tuple[_Native | _Upmix | _DualMono, int]:
    if channels == 1 and 2 in stage.channels:
        return _Upmix(stage.plugin), 2
    if 1 in stage.channels:
        return _DualMono(stage.per_channel(channels)), channels
    accepts = describe_channels(stage.channels)
    raise ChainError(f"stage '{stage.name}' ({stage.label}) accepts {accepts} audio only; it cannot process {channels}-channel audio")
