"""Run a chain over many files: expand inputs, plan outputs, process in parallel, report per file.

Layout: ``OUT/<track>.<ext>`` for the mixed output, ``OUT/<track>/<stem>.<ext>``
for written stems; a folder given as input keeps its sub-folders under ``OUT``.
Every output is written under a temporary name and renamed when complete (see
:func:`stembase.audio.atomic_writer`), inputs are never overwritten, and a
failing file is reported with its reason while the others go on.

The batch itself runs on :mod:`batch_runner`, the runner ``separator split``
uses too: this module plans the chain's outputs and supplies the worker; planning
(skip-existing, conflicts), the engines and the report are shared. The ``local``
engine runs ``jobs`` threads (pedalboard and libsndfile release the GIL while they
work); the ``ray`` engine runs actors on a Ray cluster (docs/cluster.md). Either way
each worker owns a copy of the chain (plugins are not for two threads at once), built
once, and a split chain's copy loads the separator once, when the worker starts,
unless one ``separator`` is given to share.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from batch_runner import (
    DONE,
    FAILED,
    SKIPPED,
    BatchReport,
    Engine,
    FileResult,
    Outcome,
    Progress,
    ProgressFn,
    Task,
    check_existing_policy,
    execute,
    make_engine,
    plan,
)
from batch_runner.inputs import AUDIO_EXTENSIONS, expand, expand_inputs
from plugin_host.chain import Chain
from plugin_host.errors import BatchError, ChainError, PluginHostError
from plugin_host.render import BLOCK
from plugin_host.split import SeparatorLike
from separator import AudioWriteError, SeparatorError
from stembase import audio as audio_io
from stembase.outputs import output_conflict

DEFAULT_BIT_DEPTH = {"wav": "32f", "flac": "24"}
SeparatorLoader = Callable[[], SeparatorLike]

__all__ = [
    "AUDIO_EXTENSIONS",
    "DEFAULT_BIT_DEPTH",
    "DONE",
    "FAILED",
    "SKIPPED",
    "BatchReport",
    "ChainWorker",
    "ChainWorkerFactory",
    "FileResult",
    "Progress",
    "ProgressFn",
    "expand_inputs",
    "output_paths",
    "render_file",
    "run_batch",
]


def output_paths(chain: Chain, track: str | Path, out_dir: str | Path, ext: str = "wav") -> list[Path]:
    """The files a chain writes for one track: ``OUT/<track>.<ext>`` and/or ``OUT/<track>/<stem>.<ext>``."""
    track, out_dir = Path(track), Path(out_dir)
    folder = out_dir / track
    paths = [folder.parent / f"{folder.name}.{ext}"] if chain.writes_mix else []
    return paths + [folder / f"{stem}.{ext}" for stem in chain.output_stems()]


# -- one file ----------------------------------------------------------------------------------


def render_file(
    chain: Chain,
    input_path: str | Path,
    output: str | Path,
    *,
    ext: str | None = None,
    bit_depth: str | None = None,
    progress: Callable[[float], None] | None = None,
) -> list[Path]:
    """Process one file and write the result.

    Args:
        output: a folder (files go to ``folder/<input name>.<ext>`` and ``folder/<input name>/<stem>.<ext>``)
            or a ``.wav``/``.flac`` file for the mix (stems then go to a folder of the same name beside it).
        ext: ``wav`` or ``flac`` when ``output`` is a folder (default ``wav``).
        bit_depth: ``16``, ``24`` or ``32f`` (default: 32f for WAV, 24 for FLAC).
        progress: called with the seconds of input audio processed since the last call.
    Returns:
        the files written.
    Raises:
        AudioLoadError / AudioWriteError: the input cannot be read or an output written.
        ChainError / SeparationError: the chain cannot process it.
    """
    targets = _targets_for(chain, Path(input_path), Path(output), ext)
    _write_outputs(chain, Path(input_path), targets, bit_depth, progress)
    return targets


def _targets_for(chain: Chain, input_path: Path, output: Path, ext: str | None) -> list[Path]:
    if output.suffix.lower().lstrip(".") in audio_io.FORMATS:
        stems = [output.parent / output.stem / f"{s}.{output.suffix.lstrip('.')}" for s in chain.output_stems()]
        return ([output] if chain.writes_mix else []) + stems
    return output_paths(chain, input_path.stem, output, ext or "wav")


def _write_outputs(
    chain: Chain, input_path: Path, targets: list[Path], bit_depth: str | None, progress: Callable[[float], None] | None
) -> float:
    """Process ``input_path`` into ``targets`` (mix first, then stems in order); returns the output peak in dBFS."""
    if not targets:
        raise ChainError(f"preset {chain.name!r} writes no file: every stem it would write is muted (or another is soloed)")
    depth = bit_depth or DEFAULT_BIT_DEPTH.get(targets[0].suffix.lower().lstrip("."), "32f")
    for target in targets:
        audio_io.subtype_for(target, depth)  # a bad format fails before any work
    problem = output_conflict(targets, [input_path], overwrite=True)
    if problem:
        raise AudioWriteError(problem)
    meta = audio_io.info(input_path)
    if chain.streamable:
        blocks = _counted(audio_io.blocks(input_path, BLOCK), meta.sample_rate, progress)
        channels = chain.output_channels(meta.channels)
        return _write(targets[0], chain.stream(blocks, meta.sample_rate), meta.sample_rate, channels, depth)
    audio, rate = audio_io.load(input_path)
    rendered = chain.render(audio, rate)
    if progress:
        progress(meta.seconds)
    pieces = ([rendered.mix] if rendered.mix is not None else []) + [rendered.stems[s] for s in chain.output_stems()]
    return max(_write(t, iter([p]), rate, p.shape[0], depth) for t, p in zip(targets, pieces, strict=True))


def _counted(blocks: Iterator[np.ndarray], sample_rate: int, progress: Callable[[float], None] | None) -> Iterator[np.ndarray]:
    for block in blocks:
        yield block
        if progress:
            progress(block.shape[-1] / sample_rate)


def _write(path: Path, blocks: Iterator[np.ndarray], sample_rate: int, channels: int, bit_depth: str) -> float:
    """Write blocks ``(channels, n)`` atomically; returns their peak in dBFS."""
    peak = 0.0
    try:
        with audio_io.atomic_writer(path, sample_rate, channels, bit_depth) as f:
            for block in blocks:
                f.write(np.ascontiguousarray(block.T))
                peak = max(peak, float(np.abs(block).max(initial=0.0)))
    except OSError as exc:
        raise AudioWriteError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    return 20 * float(np.log10(peak)) if peak > 0 else -np.inf


# -- the batch ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Options:
    skip_existing: bool
    overwrite: bool
    ext: str
    bit_depth: str


def run_batch(
    preset_or_chain: str | Path | Chain,
    inputs: Iterable[str | Path],
    out_dir: str | Path,
    *,
    jobs: int | None = None,
    skip_existing: bool = False,
    overwrite: bool = False,
    ext: str = "wav",
    bit_depth: str | None = None,
    progress: ProgressFn | None = None,
    separator: SeparatorLike | None = None,
    load_separator: SeparatorLoader | None = None,
    engine: str | Engine = "local",
    html_report: str | Path | None = None,
) -> BatchReport:
    """Process every input with a preset (name or path) or a chain; write under ``out_dir``.

    Args:
        jobs: files processed at once: threads of the local engine (default 1), actors of the
            Ray engine (default: as many as the cluster fits).
        skip_existing: leave a track alone when all its outputs exist (resumes an interrupted batch,
            whichever engine ran it).
        overwrite: replace existing outputs. Without either flag, existing outputs fail that track.
        ext: ``wav`` or ``flac``.
        bit_depth: ``16``, ``24`` or ``32f`` (default: 32f for WAV, 24 for FLAC).
        progress: called (one call at a time) as audio is processed and when each file finishes.
        separator: one model shared by every local worker (its inference keeps no state between calls)
            and copied to every Ray actor; by default the chain's own, else each worker of a split chain
            loads the shipped model once.
        load_separator: loads a model, called once per worker instead (so a Ray actor loads it on its own
            GPU); must be picklable for Ray (``functools.partial(Separator.from_pretrained, path)`` is).
        engine: ``local``, ``ray`` (a local Ray cluster, or the one this process is connected to), or an
            engine object such as ``RayEngine(address="auto", gpus_per_worker=1)``.
        html_report: also write this report page (``OUT/report.html`` on the command line), updated as
            files finish: loudness, true peak, thumbnail and player per output (the plots extra).
    Raises:
        BatchError: bad format or bit depth, or no input files.
        PresetError: the preset does not load.
        EngineError: bad ``jobs`` or engine, ``skip_existing`` with ``overwrite``, or the engine cannot run
            (Ray not installed, no room on the cluster, a worker that cannot start).
    """
    started = time.perf_counter()
    options = _options(skip_existing, overwrite, ext, bit_depth)
    runner = _engine(engine, jobs)
    chain = preset_or_chain if isinstance(preset_or_chain, Chain) else Chain.from_preset(preset_or_chain)
    inputs = list(inputs)
    files = expand(inputs, exclude=out_dir)
    if not files:
        raise BatchError(f"no audio files found in: {', '.join(str(i) for i in inputs) or '(no inputs given)'}")
    entries = [(file, output_paths(chain, track, out_dir, options.ext)) for file, track in files]
    tasks, settled = plan(entries, skip_existing=options.skip_existing, overwrite=options.overwrite)
    factory = ChainWorkerFactory.of(chain, options.bit_depth, separator, load_separator)
    page = None
    if html_report is not None:
        from stemreports.html import HtmlReport

        about = {"preset": chain.name, "format": f"{options.ext} {options.bit_depth}"}
        page = HtmlReport(html_report, "plugin-host run", [f for f, _ in files], about, forward=progress)
    report = execute(tasks, settled, factory, runner, page.update if page else progress, started)
    if page is not None:
        page.finish(report)
    return report


def _options(skip_existing: bool, overwrite: bool, ext: str, bit_depth: str | None) -> _Options:
    check_existing_policy(skip_existing, overwrite)
    if ext not in audio_io.FORMATS:
        raise BatchError(f"unsupported output format {ext!r}. Valid options: {', '.join(audio_io.FORMATS)}")
    depth = bit_depth or DEFAULT_BIT_DEPTH[ext]
    if depth not in audio_io.BIT_DEPTHS:
        raise BatchError(f"unsupported bit depth {depth!r}. Valid options: {', '.join(audio_io.BIT_DEPTHS)}")
    if ext == "flac" and depth not in audio_io.FLAC_BIT_DEPTHS:
        raise BatchError(f"FLAC stores integer samples only; use bit depth {' or '.join(audio_io.FLAC_BIT_DEPTHS)} (or WAV for 32f)")
    return _Options(skip_existing, overwrite, ext, depth)


def _engine(engine: str | Engine, jobs: int | None) -> Engine:
    if isinstance(engine, str):
        return make_engine(engine, workers=jobs, workers_label="jobs")
    if jobs is not None:
        raise BatchError("jobs is for the engines named 'local' and 'ray'; give an engine object its workers instead")
    return engine


@dataclass
class ChainWorkerFactory:
    """Builds a :class:`ChainWorker` once per worker: a fresh chain from the preset, with its separator loaded.

    It holds the chain as preset data, so it pickles: Ray ships it to every actor.
    """

    preset: dict[str, Any]
    source: Path | None
    bit_depth: str
    separator: SeparatorLike | None = None
    load_separator: SeparatorLoader | None = None

    @classmethod
    def of(cls, chain: Chain, bit_depth: str, separator: SeparatorLike | None, load: SeparatorLoader | None) -> ChainWorkerFactory:
        """The factory of ``chain`` as it is now (live changes included); ``separator`` defaults to the chain's own."""
        source = chain.source.absolute() if chain.source is not None else None  # relative paths in it start there, on any node
        return cls(chain.to_preset(), source, bit_depth, separator if separator is not None else chain.loaded_separator, load)

    def __call__(self) -> ChainWorker:
        separator = self.load_separator() if self.load_separator is not None else self.separator
        chain = Chain.from_dict(self.preset, source=self.source, separator=separator)
        if chain.has_split:
            _ = chain.separator  # load the model now, once per worker, rather than on the first file
        return ChainWorker(chain, self.bit_depth)


class ChainWorker:
    """Renders one file at a time with a chain it owns."""

    expected_errors: ClassVar[tuple[type[Exception], ...]] = (PluginHostError, SeparatorError)

    def __init__(self, chain: Chain, bit_depth: str) -> None:
        self.chain, self.bit_depth = chain, bit_depth

    def process(self, task: Task, progress: Callable[[float], None]) -> Outcome:
        """Write ``task.targets``; raises as :func:`render_file`."""
        targets = list(task.targets)
        return Outcome(targets, _write_outputs(self.chain, task.input, targets, self.bit_depth, progress))
