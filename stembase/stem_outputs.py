"""A track's stem files: their names, the checks made before any work, and writing them together.

:meth:`Separator.separate_file` writes ``<out_dir>/<stem>.<ext>`` for every stem. Each stem goes to a
hidden temporary name beside its target (:func:`stembase.audio.part_writer`); only when every stem is
complete and closed are they renamed into place. So a failed or interrupted split leaves none of its
stems under a real name, and an existing stem is a finished one (what ``--skip-existing`` relies on).

>>> targets = stem_paths("stems/song", ["vocals", "other"])
>>> check_stem_files("song.wav", targets, "24")
>>> with stem_writers(targets, 44100, 2, "24") as files:
...     files.write(pieces)  # (n_stems, channels, n) float32, as many times as needed
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from stembase import audio as audio_io
from stembase.errors import AudioWriteError
from stembase.outputs import output_conflict, write_error

# warn_if_clipped <- stem_writers <- contextlib's __exit__ <- separate_file <- its caller
_CALLER_OF_SEPARATE_FILE = 5


def stem_paths(out_dir: str | Path, names: Sequence[str], ext: str = "wav") -> list[Path]:
    """``out_dir/<name>.<ext>`` for each stem name, in order."""
    return [Path(out_dir) / f"{name}.{ext}" for name in names]


def check_stem_files(source: str | Path, targets: Sequence[Path], bit_depth: str) -> None:
    """Fail before any work: an unknown format or bit depth, or a stem that would replace the input.

    Existing stems are not refused here (the library replaces them); the commands refuse them
    earlier, through :func:`stembase.outputs.output_conflict`.

    Raises:
        AudioWriteError: one line naming the target.
    """
    for target in targets:
        audio_io.subtype_for(target, bit_depth)
    problem = output_conflict(targets, [source], overwrite=True)
    if problem:
        raise AudioWriteError(problem)


class StemFiles:
    """The open stem files of one track, written piece by piece; each stem's peak is kept for the clipping warning."""

    def __init__(self, parts: Sequence[audio_io.PartFile]) -> None:
        self.parts = list(parts)
        self.peaks = np.zeros(len(self.parts))
        self.can_clip = [part.file.subtype not in audio_io.FLOAT_SUBTYPES for part in self.parts]

    def write(self, piece: np.ndarray) -> None:
        """Append ``piece`` ``(n_stems, channels, n)``: one ``(channels, n)`` block to each stem's file.

        Samples before channels in memory (the separator's layout) are written without a copy; peaks are
        kept only for integer files, the ones that can clip."""
        for i, (part, stem) in enumerate(zip(self.parts, piece, strict=True)):
            part.file.write(np.ascontiguousarray(stem.T))
            if self.can_clip[i]:
                self.peaks[i] = max(self.peaks[i], float(stem.max(initial=0.0)), -float(stem.min(initial=0.0)))


@contextlib.contextmanager
def stem_writers(targets: Sequence[Path], sample_rate: int, channels: int, bit_depth: str = "32f") -> Iterator[StemFiles]:
    """Open every stem of a track for writing; all are renamed into place only when every one is complete.

    On an error (or an interrupt) inside the block, every temporary file is removed and no stem is renamed.
    Warns (``UserWarning``) for each stem that clips at an integer ``bit_depth``.

    Raises:
        AudioWriteError: a stem cannot be written; one line naming its folder (or its file).
    """
    folder = targets[0].parent if targets else Path()
    with contextlib.ExitStack() as stack:
        parts = [stack.enter_context(audio_io.part_writer(t, sample_rate, channels, bit_depth)) for t in targets]
        files = StemFiles(parts)
        try:
            yield files
        except OSError as exc:  # a full disk, a folder gone: one line naming where, not the errno's class
            raise AudioWriteError(write_error(folder, exc)) from exc
    try:  # every stem is complete and closed: only now do they take their names
        for part in parts:
            part.commit()
    finally:
        for part in parts:
            part.discard()  # those a failed rename left behind
    for target, peak in zip(targets, files.peaks, strict=True):
        subtype = audio_io.subtype_for(target, bit_depth)[1]
        audio_io.warn_if_clipped(target, float(peak), subtype, stacklevel=_CALLER_OF_SEPARATE_FILE)
