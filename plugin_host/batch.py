"""Run a chain over many files: expand inputs, plan outputs, process in parallel, report per file.

Layout: ``OUT/<track>.<ext>`` for the mixed output, ``OUT/<track>/<stem>.<ext>``
for written stems; a folder given as input keeps its sub-folders under ``OUT``.
Every output is written under a temporary name and renamed when complete (see
:func:`separator.audio.atomic_writer`), inputs are never overwritten, and a
failing file is reported with its reason while the others go on.

Workers are threads: pedalboard and libsndfile release the GIL while they
work, so ``jobs=N`` runs N files at once. Each worker owns a copy of the chain
(plugins are not for two threads at once); a split chain's copy loads the
separator once, on its first file, unless one ``separator`` is given to share.
"""

from __future__ import annotations

import glob
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from plugin_host.chain import Chain
from plugin_host.errors import BatchError, ChainError, PluginHostError
from plugin_host.render import BLOCK
from plugin_host.split import SeparatorLike
from separator import AudioWriteError, SeparatorError
from separator import audio as audio_io

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".mp3", ".w64", ".caf")
DEFAULT_BIT_DEPTH = {"wav": "32f", "flac": "24"}
GLOB_CHARS = set("*?[")
DONE, SKIPPED, FAILED = "done", "skipped", "failed"


@dataclass
class FileResult:
    """What happened to one input.

    Attributes:
        input: the input file.
        status: ``done``, ``skipped`` (outputs already there) or ``failed``.
        seconds: wall-clock time spent on it.
        audio_seconds: its duration.
        outputs: the files written (or found, when skipped).
        error: why it failed (one line), else ``None``.
        peak_db: the loudest output sample in dBFS (above 0 clips at 16/24 bits).
    """

    input: Path
    status: str
    seconds: float = 0.0
    audio_seconds: float = 0.0
    outputs: list[Path] = field(default_factory=list)
    error: str | None = None
    peak_db: float | None = None


@dataclass
class BatchReport:
    """Every input's :class:`FileResult`, in input order, and the batch's wall-clock time in seconds."""

    results: list[FileResult]
    seconds: float
    jobs: int = 1

    def with_status(self, status: str) -> list[FileResult]:
        return [r for r in self.results if r.status == status]

    @property
    def done(self) -> list[FileResult]:
        return self.with_status(DONE)

    @property
    def skipped(self) -> list[FileResult]:
        return self.with_status(SKIPPED)

    @property
    def failed(self) -> list[FileResult]:
        return self.with_status(FAILED)

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def audio_seconds(self) -> float:
        """Seconds of audio processed (done files)."""
        return sum(r.audio_seconds for r in self.done)

    @property
    def realtime_factor(self) -> float:
        """Audio seconds processed per wall-clock second (``10`` = ten times faster than real time)."""
        return self.audio_seconds / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Progress:
    """A progress event: ``audio_seconds`` more of ``input`` processed; ``result`` set once the file is finished."""

    input: Path
    audio_seconds: float
    result: FileResult | None = None


ProgressFn = Callable[[Progress], None]


# -- inputs ------------------------------------------------------------------------------------


def expand_inputs(inputs: Iterable[str | Path], exclude: str | Path | None = None) -> list[Path]:
    """Files, folders (searched recursively for audio files) and globs → files, in order, without repeats.

    A path or pattern that matches nothing is kept as it is, so it is reported as a failed input.
    Hidden files (``.name``, which includes unfinished outputs) and files under ``exclude`` are left out of folders.
    """
    return [path for path, _ in _expand(inputs, exclude)]


def _expand(inputs: Iterable[str | Path], exclude: str | Path | None) -> list[tuple[Path, Path]]:
    """``(file, track)`` pairs; ``track`` is the output name without extension (``album/song``)."""
    skip = Path(exclude).resolve() if exclude is not None else None
    found: dict[Path, tuple[Path, Path]] = {}
    for item in inputs:
        path = Path(item).expanduser()
        for file, track in _expand_one(path, skip):
            found.setdefault(file.resolve(), (file, track))
    return list(found.values())


def _expand_one(path: Path, skip: Path | None) -> Iterator[tuple[Path, Path]]:
    if path.is_dir():
        for file in sorted(path.rglob("*")):
            rel = file.relative_to(path)
            hidden = any(part.startswith(".") for part in rel.parts)
            inside_skip = skip is not None and file.resolve().is_relative_to(skip)
            if file.is_file() and file.suffix.lower() in AUDIO_EXTENSIONS and not hidden and not inside_skip:
                yield file, rel.with_suffix("")
    elif not path.exists() and GLOB_CHARS & set(str(path)):
        matches = [Path(m) for m in sorted(glob.glob(str(path), recursive=True)) if Path(m).is_file()]
        yield from ((m, Path(m.stem)) for m in matches) if matches else [(path, Path(path.stem))]
    else:
        yield path, Path(path.stem)


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
        if target.resolve() == input_path.resolve():
            raise AudioWriteError(f"{target}: output would overwrite the input; choose another output folder")
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
    jobs: int
    skip_existing: bool
    overwrite: bool
    ext: str
    bit_depth: str
    separator: SeparatorLike | None


@dataclass
class _Task:
    index: int
    input: Path
    targets: list[Path]


def run_batch(
    preset_or_chain: str | Path | Chain,
    inputs: Iterable[str | Path],
    out_dir: str | Path,
    *,
    jobs: int = 1,
    skip_existing: bool = False,
    overwrite: bool = False,
    ext: str = "wav",
    bit_depth: str | None = None,
    progress: ProgressFn | None = None,
    separator: SeparatorLike | None = None,
) -> BatchReport:
    """Process every input with a preset (name or path) or a chain; write under ``out_dir``.

    Args:
        jobs: files processed at once (threads, each with its own copy of the chain).
        skip_existing: leave a track alone when all its outputs exist (resumes an interrupted batch).
        overwrite: replace existing outputs. Without either flag, existing outputs fail that track.
        ext: ``wav`` or ``flac``.
        bit_depth: ``16``, ``24`` or ``32f`` (default: 32f for WAV, 24 for FLAC).
        progress: called (one call at a time) as audio is processed and when each file finishes.
        separator: one model shared by every worker (its inference keeps no state between calls);
            by default each worker of a split chain loads the shipped model once.
    Raises:
        BatchError: bad options or no input files.
        PresetError: the preset does not load.
    """
    options = _options(jobs, skip_existing, overwrite, ext, bit_depth, separator)
    chain = preset_or_chain if isinstance(preset_or_chain, Chain) else Chain.from_preset(preset_or_chain)
    inputs = list(inputs)
    files = _expand(inputs, exclude=out_dir)
    if not files:
        raise BatchError(f"no audio files found in: {', '.join(str(i) for i in inputs) or '(no inputs given)'}")
    start = time.perf_counter()
    results: dict[int, FileResult] = {}
    tasks = _plan(chain, files, Path(out_dir), options, results)
    notify = _serialized(progress)
    for result in results.values():
        notify(Progress(result.input, result.audio_seconds, result))
    _execute(chain, tasks, options, results, notify)
    return BatchReport([results[i] for i in sorted(results)], time.perf_counter() - start, jobs)


def _options(jobs: int, skip_existing: bool, overwrite: bool, ext: str, bit_depth: str | None, separator: SeparatorLike | None) -> _Options:
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise BatchError(f"jobs must be a whole number of at least 1, got {jobs!r}")
    if skip_existing and overwrite:
        raise BatchError("skip_existing and overwrite contradict each other; choose one")
    if ext not in audio_io.FORMATS:
        raise BatchError(f"unsupported output format {ext!r}. Valid options: {', '.join(audio_io.FORMATS)}")
    depth = bit_depth or DEFAULT_BIT_DEPTH[ext]
    if depth not in audio_io.BIT_DEPTHS:
        raise BatchError(f"unsupported bit depth {depth!r}. Valid options: {', '.join(audio_io.BIT_DEPTHS)}")
    if ext == "flac" and depth not in audio_io.FLAC_BIT_DEPTHS:
        raise BatchError(f"FLAC stores integer samples only; use bit depth {' or '.join(audio_io.FLAC_BIT_DEPTHS)} (or WAV for 32f)")
    return _Options(jobs, skip_existing, overwrite, ext, depth, separator)


def _plan(chain: Chain, files: list[tuple[Path, Path]], out_dir: Path, options: _Options, results: dict[int, FileResult]) -> list[_Task]:
    """The tasks to run; the files settled without work (skipped, or failed before starting) go to ``results``."""
    tasks: list[_Task] = []
    claimed: dict[Path, Path] = {}
    inputs = {f.resolve() for f, _ in files}
    for index, (file, track) in enumerate(files):
        targets = output_paths(chain, track, out_dir, options.ext)
        problem = _conflict(targets, claimed, inputs, options)
        if problem == SKIPPED:
            results[index] = FileResult(file, SKIPPED, audio_seconds=_seconds(file), outputs=targets)
        elif problem:
            results[index] = FileResult(file, FAILED, audio_seconds=_seconds(file), error=problem)
        else:
            tasks.append(_Task(index, file, targets))
        claimed.update({t.resolve(): file for t in targets})
    return tasks


def _conflict(targets: list[Path], claimed: dict[Path, Path], inputs: set[Path], options: _Options) -> str | None:
    """Why a track cannot be written as planned (``"skipped"`` when it is already done), or ``None``."""
    for t in targets:
        if t.resolve() in inputs:
            return f"{t}: output would overwrite an input; choose another output folder"
        if t.resolve() in claimed:
            return f"{t}: {claimed[t.resolve()]} writes the same output; rename one of the two inputs"
    existing = [t for t in targets if t.exists()]
    if options.skip_existing and targets and len(existing) == len(targets):
        return SKIPPED
    if existing and not options.overwrite and not options.skip_existing:
        return f"{existing[0]}: output exists; use --skip-existing to keep it or --overwrite to replace it"
    return None


def _seconds(file: Path) -> float:
    try:
        return audio_io.info(file).seconds
    except SeparatorError:
        return 0.0


def _serialized(progress: ProgressFn | None) -> ProgressFn:
    lock = threading.Lock()

    def notify(event: Progress) -> None:
        if progress is not None:
            with lock:
                progress(event)

    return notify


def _workers(chain: Chain, count: int, separator: SeparatorLike | None) -> queue.Queue[Chain]:
    """``count`` independent copies of ``chain``, each used by one thread at a time."""
    workers: queue.Queue[Chain] = queue.Queue()
    for _ in range(count):
        copy = chain.copy()
        if separator is not None:
            copy.separator = separator
        workers.put(copy)
    return workers


def _execute(chain: Chain, tasks: list[_Task], options: _Options, results: dict[int, FileResult], notify: ProgressFn) -> None:
    if not tasks:
        return
    workers = _workers(chain, min(options.jobs, len(tasks)), options.separator)

    def run(task: _Task) -> None:
        worker = workers.get()
        try:
            results[task.index] = _process(worker, task, options.bit_depth, notify)
        finally:
            workers.put(worker)
        notify(Progress(task.input, 0.0, results[task.index]))

    if options.jobs == 1:
        for task in tasks:
            run(task)
        return
    with ThreadPoolExecutor(max_workers=options.jobs, thread_name_prefix="plugin-host") as pool:
        futures = [pool.submit(run, t) for t in tasks]
        try:
            for future in futures:
                future.result()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _process(chain: Chain, task: _Task, bit_depth: str, notify: ProgressFn) -> FileResult:
    """One file, every error caught and reported: one bad file never stops a batch."""
    start = time.perf_counter()
    seconds = _seconds(task.input)
    try:
        peak = _write_outputs(chain, task.input, task.targets, bit_depth, lambda s: notify(Progress(task.input, s)))
    except (PluginHostError, SeparatorError) as exc:
        return FileResult(task.input, FAILED, time.perf_counter() - start, seconds, error=str(exc))
    except Exception as exc:  # a plugin or library failing on one file must not end the batch
        return FileResult(task.input, FAILED, time.perf_counter() - start, seconds, error=f"{type(exc).__name__}: {exc}")
    return FileResult(task.input, DONE, time.perf_counter() - start, seconds, task.targets, peak_db=peak)
