"""The server's state and what a request may do with it: the loaded chain, presets, parameters, stems, jobs.

No OSC here: :mod:`plugin_host.control.osc.routes` binds addresses to these methods.
Every path that arrives from the network goes through the :class:`PathPolicy`,
every preset through the :class:`PresetStore`. The caller holds :attr:`Control.lock`
around every call that reads or changes the chain.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from plugin_host import batch, preset
from plugin_host.chain import Chain
from plugin_host.control.midi import MidiMapper, TargetState
from plugin_host.control.osc.jobs import Job, JobManager
from plugin_host.control.osc.model import ModelProvider, ModelUnavailable
from plugin_host.control.osc.presets import PresetStore
from plugin_host.control.osc.security import PathPolicy, PathRefused
from plugin_host.control.osc.targets import STEM_GAIN_RANGE, param_info, parse_stem_target, position_of, target_state
from plugin_host.errors import ParameterError, PluginHostError, PresetError
from plugin_host.midi_map import mappings_from_preset, mappings_to_preset, position_to_value, value_to_position
from plugin_host.params import ParamInfo
from separator import SeparatorError

log = logging.getLogger("plugin_host.control.osc")

EXPECTED_ERRORS: tuple[type[Exception], ...] = (ValueError, OSError, SeparatorError, PluginHostError, ModelUnavailable)
"""Errors that are the request's fault or the file's: reported in one line, without a traceback."""


def version() -> str:
    try:
        return metadata.version("stemsplit")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class Status:
    """What ``/status`` reports."""

    version: str
    preset: str
    queued: int
    running: int
    model: str


class Control:
    """The state one server shares between OSC, MIDI and its jobs.

    Args:
        paths: where messages may read and write.
        model: the separator, loaded once.
        jobs: the worker pool (its ``notify`` sends job replies).
        preset_dir: where ``/preset/save NAME`` writes and where names are looked up first.
        allow_vst3: presets loaded by a message may load VST3 plugins and their state files.
    """

    def __init__(
        self, paths: PathPolicy, model: ModelProvider, jobs: JobManager, preset_dir: Path | None = None, allow_vst3: bool = False
    ) -> None:
        self.paths, self.model, self.jobs = paths, model, jobs
        self.presets = PresetStore(paths, preset_dir, allow_vst3)
        self.lock = threading.RLock()
        self.chain: Chain | None = None
        self.midi = MidiMapper()

    # -- status ----------------------------------------------------------------------------

    def status(self) -> Status:
        queued, running = self.jobs.counts()
        return Status(version(), self.chain.name if self.chain else "", queued, running, self.model.state)

    def require_chain(self) -> Chain:
        """The loaded chain.

        Raises:
            ParameterError: no preset is loaded.
        """
        if self.chain is None:
            raise ParameterError("no preset is loaded; send /preset/load NAME first (/preset/list names them)")
        return self.chain

    # -- jobs ------------------------------------------------------------------------------

    def split(
        self,
        input_path: str,
        output_dir: str,
        reply_to: Any,
        stems: str | None = None,
        clusters: int | None = None,
        start: float | None = None,
        length: float | None = None,
    ) -> Job:
        """Queue the separation of ``input_path`` (or of ``length`` seconds from ``start``) into ``output_dir/<stem>.wav``.

        A job with a range ends with ``/job/done i:job_id s:path ... f:start f:length``.

        Raises:
            PathRefused: a path outside the roots, a missing input, or outputs that exist.
            SeparationError: bad stems or clusters (checked now when the model is loaded), or a range
                outside the file.
            AudioLoadError: the input is not readable audio.
            JobError: the queue is full.
        """
        from stembase import audio as audio_io

        source, folder = self.paths.input_file(input_path), self.paths.output_dir(output_dir)
        meta = audio_io.info(source)
        _, n = audio_io.frame_range(meta, start or 0.0, length)  # a range outside the file is refused now
        loaded = self.model.ready()
        if loaded is not None:
            self._check_stem_targets(source, folder, loaded.stem_names(stems, clusters))

        def work(progress: Any) -> list[Path]:
            separator = self.model.get()
            self._check_stem_targets(source, folder, separator.stem_names(stems, clusters))
            return separator.separate_file(
                source, folder, stems=stems, clusters=clusters, progress=progress, start=start or 0.0, length=length
            )

        ranged, first, seconds = start is not None or length is not None, float(start or 0.0), n / meta.sample_rate
        summary = source.name + (f" ({first:g} s + {seconds:g} s)" if ranged else "")
        return self.jobs.submit("split", f"{summary} -> {folder}", work, reply_to, (first, seconds) if ranged else ())

    def _check_stem_targets(self, source: Path, folder: Path, names: list[str]) -> None:
        from stembase.stem_outputs import stem_paths

        self.paths.check_outputs(stem_paths(folder, names), [source])

    def render(self, input_path: str, output_path: str, reply_to: Any) -> Job:
        """Queue running the loaded chain (a copy, as it is now) on ``input_path`` into ``output_path`` (.wav or .flac).

        A split chain whose output includes stems also writes ``<output folder>/<output name>/<stem>.<ext>``.

        Raises:
            ParameterError: no preset is loaded.
            PathRefused: a path outside the roots, a missing input, an output that exists or is not .wav/.flac.
            JobError: the queue is full.
        """
        from stembase import audio as audio_io

        chain = self.require_chain()
        source = self.paths.input_file(input_path)
        target = self.paths.output_file(output_path, inputs=[source])
        if target.suffix.lower().lstrip(".") not in audio_io.FORMATS:
            raise PathRefused(f"{output_path}: name a .wav or .flac output file")
        self.paths.check_outputs([target.parent / target.stem / f"{s}{target.suffix}" for s in chain.output_stems()], [source])
        total = audio_io.info(source).seconds
        snapshot = chain.copy()

        def work(progress: Any) -> list[Path]:
            if snapshot.has_split:
                snapshot.separator = self.model.get()
            done = [0.0]

            def seconds_done(seconds: float) -> None:  # render_file counts seconds of input processed
                done[0] += seconds
                progress(min(1.0, done[0] / total))

            return batch.render_file(snapshot, source, target, progress=seconds_done)

        return self.jobs.submit("render", f"{source.name} -> {target.name} ({chain.name})", work, reply_to)

    # -- presets ---------------------------------------------------------------------------

    def load_preset(self, name_or_path: str, trusted: bool = False) -> Chain:
        """Load a preset by name (the preset folder first, then the library) or by path inside the roots.

        Args:
            trusted: the operator chose it (``--preset``, ``--programs``): no checks on the files it reads.
        Raises:
            PresetError: unknown or invalid preset, a MIDI map naming no parameter, a VST3 plugin without ``--allow-vst3``.
            PathRefused: a path outside the roots, or a file it reads outside the roots and its folder.
        """
        path = self.presets.find(name_or_path, trusted)
        data = preset.load_preset(path)
        if not trusted:
            self.presets.check(data, path)
        chain = Chain.from_dict(data, source=path, separator=self.model.ready())
        mappings = mappings_from_preset(data)
        for i, mapping in enumerate(mappings):
            try:
                target_state(chain, mapping.target)
            except ValueError as exc:
                raise PresetError(str(exc), path, f"midi.cc[{i}].target") from None
        self.chain, self.midi.mappings = chain, mappings
        self.midi.disarm()
        return chain

    def save_preset(self, name_or_path: str) -> Path:
        """Save the chain as it is now, with the MIDI maps (see :meth:`PresetStore.save_path` for where).

        Raises:
            ParameterError: no preset is loaded.
            PresetError: a bad name, or the file cannot be written.
            PathRefused: a path outside the roots, or an existing file (without ``--overwrite``).
        """
        chain = self.require_chain()
        path = self.presets.save_path(name_or_path)
        return preset.save_preset(self.preset_data(chain, relative_to=path.parent, name=path.stem), path)

    def preset_data(self, chain: Chain, relative_to: Path | None = None, name: str | None = None) -> dict[str, Any]:
        """The chain's preset now, with the MIDI maps learned or loaded."""
        data = chain.to_preset(relative_to=relative_to)
        data.pop("midi", None)
        if self.midi.mappings:
            data["midi"] = mappings_to_preset(self.midi.mappings)
        if name is not None:
            data["name"] = name
        return data

    def preset_json(self) -> str:
        return json.dumps(self.preset_data(self.require_chain()), separators=(",", ":"))

    def list_presets(self) -> list[preset.PresetInfo]:
        return self.presets.list()

    # -- parameters ------------------------------------------------------------------------

    def parameters(self) -> list[ParamInfo]:
        return self.chain.parameters() if self.chain else []

    def info(self, stage: str, name: str) -> ParamInfo:
        """A parameter's value, range, unit and scale; ``stage`` is a name or an index (digits).

        Raises:
            ParameterError: unknown stage or parameter, or one that is not a number or switch.
        """
        return param_info(self.require_chain(), stage, name)

    def get_param(self, stage: str, name: str) -> float | str:
        value = self.require_chain().get_param(stage, name)
        return float(value) if isinstance(value, (bool, int, float)) else str(value)

    def set_param(self, stage: str, name: str, value: Any) -> float | str:
        """Set a parameter in its own units; returns the value stored.

        Raises:
            ParameterError: unknown stage or parameter, or the value is out of range (the message gives the range).
        """
        stored = self.require_chain().set_param(stage, name, value)
        return float(stored) if isinstance(stored, (bool, int, float)) else str(stored)

    def set_normalised(self, stage: str, name: str, position: float) -> float:
        """Set a parameter from a fader position 0–1 (log-scaled parameters move in ratios); returns the value stored.

        Raises:
            ParameterError: unknown parameter, one without a numeric range, or a position outside 0–1.
        """
        if not 0.0 <= position <= 1.0:
            raise ParameterError(f"normalised value {position:g} is out of range [0, 1]")
        info = self.info(stage, name)
        value = position_to_value(position, (info.minimum, info.maximum), info.scale)
        return float(self.set_param(stage, name, min(max(value, info.minimum), info.maximum)))

    def position(self, stage: str, name: str) -> float:
        """The fader position 0–1 of a parameter."""
        return position_of(self.info(stage, name))

    # -- stems -----------------------------------------------------------------------------

    def stem_names(self) -> list[str]:
        return self.chain.stem_names() if self.chain else []

    def get_stem(self, stem: str, control: str) -> float:
        """``gain`` in dB, ``mute`` or ``solo`` as 0/1."""
        state = self.require_chain().get_stem(stem)
        return float(state["gain_db"] if control == "gain" else state[control])

    def set_stem(self, stem: str, control: str, value: float) -> float:
        """Set a stem's ``gain`` (dB), ``mute`` or ``solo`` (non-zero is on); returns the value stored.

        Raises:
            ParameterError: no split, unknown stem, or a gain out of range.
        """
        chain = self.require_chain()
        if control == "gain":
            chain.set_stem(stem, gain_db=value)
        else:
            chain.set_stem(stem, **{control: bool(value)})
        return self.get_stem(stem, control)

    def stem_position(self, stem: str) -> float:
        """A stem's gain as a fader position 0–1 (linear in dB over the gain range)."""
        return value_to_position(self.get_stem(stem, "gain"), STEM_GAIN_RANGE)

    def set_stem_position(self, stem: str, position: float) -> float:
        """Set a stem's gain from a fader position 0–1; returns the gain in dB.

        Raises:
            ParameterError: no split, unknown stem, or a position outside 0–1.
        """
        if not 0.0 <= position <= 1.0:
            raise ParameterError(f"normalised value {position:g} is out of range [0, 1]")
        return self.set_stem(stem, "gain", position_to_value(position, STEM_GAIN_RANGE))

    # -- MIDI targets ----------------------------------------------------------------------

    def target_state(self, target: str) -> TargetState:
        """Range, value and kind of a MIDI target (``stage.param`` or ``stem.<name>.gain|mute|solo``).

        Raises:
            ParameterError: unknown target.
        """
        return target_state(self.require_chain(), target)

    def set_target(self, target: str, value: float) -> float | str:
        """Set a MIDI target; returns the value stored.

        Raises:
            ParameterError: unknown target or a value out of range.
        """
        stem = parse_stem_target(target)
        if stem is not None:
            return self.set_stem(stem[0], stem[1], value)
        stage, _, name = target.rpartition(".")
        return self.set_param(stage, name, value)
