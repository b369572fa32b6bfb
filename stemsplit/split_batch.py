"""Split many files into stems on an engine (local threads or a Ray cluster): ``separator split``'s library side.

Layout: ``OUT/<track>/<stem>.<ext>``, the track named by :mod:`batch_runner.inputs` (sub-folders
mirrored). Every stem of a track is written under a temporary name and renamed when all are complete,
so ``skip_existing`` resumes an interrupted run, whichever engine ran the first part.

This module is the separator's worker factory for :mod:`batch_runner`: it stands with the
command line, above the runner; the separator's core (``separate.py`` and below) never imports either.

>>> from functools import partial
>>> from separator import Separator
>>> from stemsplit.split_batch import split_files
>>> from batch_runner import RayEngine
>>> report = split_files(["songs/a.wav"], "stems/", Separator.from_pretrained(), engine=RayEngine(gpus_per_worker=1),
...                      load_separator=partial(Separator.from_pretrained, device="cuda"))
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from batch_runner import Engine, LocalEngine, Outcome, ProgressFn, execute, plan
from batch_runner.inputs import expand
from batch_runner.results import BatchReport, Task
from separator.errors import SeparatorError
from separator.separate import Separator
from stembase import audio as audio_io
from stembase.stem_outputs import stem_paths

SeparatorLoader = Callable[[], Separator]


def split_targets(track: str, out_dir: str | Path, names: Sequence[str], ext: str = "wav") -> list[Path]:
    """The files a split of track ``track`` writes: ``out_dir/<track>/<stem>.<ext>``."""
    return stem_paths(Path(out_dir) / track, names, ext)


def split_files(
    files: Sequence[str | Path],
    out_dir: str | Path,
    separator: Separator,
    *,
    load_separator: SeparatorLoader | None = None,
    stems: list[str] | str | None = None,
    clusters: int | None = None,
    ext: str = "wav",
    bit_depth: str = "32f",
    engine: Engine | None = None,
    skip_existing: bool = False,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
    html_report: str | Path | None = None,
    start: float = 0.0,
    length: float | None = None,
) -> BatchReport:
    """Split every file into ``out_dir/<track>/<stem>.<ext>``; a track with an existing stem fails unless
    ``skip_existing`` or ``overwrite`` (the policy of ``plugin-host run`` and the OSC server too).

    Args:
        files: files, folders (searched recursively, sub-folders mirrored) and globs, expanded and named
            as ``plugin-host run`` does (:mod:`batch_runner.inputs`).
        separator: the model: it names the stems, and does the work unless ``load_separator`` is given
            (shared by local workers, copied to each Ray actor).
        load_separator: loads a model; called once per worker instead, so each Ray actor loads its own
            on its own device (a GPU with ``gpus_per_worker``). Must be picklable (``functools.partial`` is).
        stems, clusters: named or blind mode, as :meth:`Separator.separate`.
        engine: where the files are processed (default: one local worker).
        skip_existing: leave a track alone when all its stems exist (resume).
        overwrite: replace existing stems.
        progress: called one call at a time with audio progress and once per finished file.
        html_report: also write this report page (``OUT/report.html`` on the command line), updated
            as files finish (:class:`stemreports.html.HtmlReport`).
        start, length: split only this range of every file, in seconds (as :meth:`Separator.separate_file`);
            a file the range does not fit fails with a message giving its duration.
    Raises:
        SeparationError: bad stem names or cluster count (before any work).
        PlotError: ``html_report`` asked for without the plots extra (before any work).
        EngineError: ``skip_existing`` and ``overwrite`` both asked for (before any work), or the engine
            or a worker cannot start.
    """
    started = time.perf_counter()
    names = separator.stem_names(stems, clusters)
    # a file given twice is split once; tracks follow the one output rule of both command lines
    entries = [(f, split_targets(str(track), out_dir, names, ext)) for f, track in expand(files, exclude=out_dir)]
    tasks, settled = plan(entries, skip_existing=skip_existing, overwrite=overwrite)
    factory = SplitWorkerFactory(load_separator or separator, stems, clusters, ext, bit_depth, start, length)
    page = None
    if html_report is not None:
        from stemreports.html import HtmlReport

        about = {"stems": ", ".join(names), "format": f"{ext} {bit_depth}"}
        page = HtmlReport(html_report, "separator split", [f for f, _ in entries], about, forward=progress)
    report = execute(tasks, settled, factory, engine or LocalEngine(), page.update if page else progress, started)
    if page is not None:
        page.finish(report)
    return report


@dataclass
class SplitWorkerFactory:
    """Builds a :class:`SplitWorker` once per worker; picklable, so Ray ships it to its actors."""

    separator: Separator | SeparatorLoader
    stems: list[str] | str | None
    clusters: int | None
    ext: str
    bit_depth: str
    start: float = 0.0
    length: float | None = None

    def __call__(self) -> SplitWorker:
        model = self.separator if isinstance(self.separator, Separator) else self.separator()
        return SplitWorker(model, self.stems, self.clusters, self.ext, self.bit_depth, self.start, self.length)


class SplitWorker:
    """Splits one file (or the same range of each file) at a time with a model it keeps."""

    expected_errors: ClassVar[tuple[type[Exception], ...]] = (SeparatorError,)

    def __init__(
        self,
        separator: Separator,
        stems: list[str] | str | None,
        clusters: int | None,
        ext: str,
        bit_depth: str,
        start: float = 0.0,
        length: float | None = None,
    ) -> None:
        self.separator, self.stems, self.clusters, self.ext, self.bit_depth = separator, stems, clusters, ext, bit_depth
        self.start, self.length = start, length

    def process(self, task: Task, progress: Callable[[float], None]) -> Outcome:
        """Write every stem of ``task.input`` into the folder of its targets.

        Raises:
            AudioLoadError / AudioWriteError / SeparationError: as :meth:`Separator.separate_file`.
        """
        meta = audio_io.info(task.input)
        seconds = audio_io.frame_range(meta, self.start, self.length)[1] / meta.sample_rate
        done = [0.0]

        def fraction(f: float) -> None:  # the separator reports the fraction done; the batch counts seconds
            progress(f * seconds - done[0])
            done[0] = f * seconds

        written = self.separator.separate_file(
            task.input,
            task.targets[0].parent,
            self.stems,
            self.clusters,
            self.ext,
            self.bit_depth,
            progress=fraction,
            start=self.start,
            length=self.length,
            targets=task.targets,  # as the batch planned them
            info=meta,
        )
        return Outcome(written, audio_seconds=seconds)
