"""The one place that reads and writes audio files.

Audio is always ``(channels, samples)`` float32, like pedalboard. Files are
written to a hidden temporary name beside the target and renamed into place,
so a crash never leaves a half-written file under the real name, and an input
is never overwritten.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from stembase.errors import ArgumentError, AudioLoadError, AudioWriteError
from stembase.outputs import write_error

try:  # advisory locks on temporary files (POSIX); without them a sweep cannot tell a live writer's file
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

BIT_DEPTHS = {"16": "PCM_16", "24": "PCM_24", "32f": "FLOAT"}
FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")  # files that hold any level: they cannot clip and libsndfile may give them a PEAK chunk
FORMATS = {"wav": "WAV", "flac": "FLAC"}
FLAC_BIT_DEPTHS = ("16", "24")


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, read from its header."""

    path: Path
    sample_rate: int
    channels: int
    frames: int

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


def _open_error(path: Path, exc: Exception) -> AudioLoadError:
    if not path.exists():
        return AudioLoadError(f"{path}: file not found")
    if path.is_dir():
        return AudioLoadError(f"{path}: is a directory, not an audio file")
    return AudioLoadError(f"{path}: not a readable audio file ({str(exc).splitlines()[0][:120]})")


def _wav_declared_frames(path: Path) -> int | None:
    """Frames a RIFF/WAVE header promises in its ``data`` chunk (``None``: not a WAV, or unknown size).

    libsndfile quietly reads what is there when a WAV is cut short, so truncation
    is detected here, from the header.
    """
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        block_align = 0
        while chunk := f.read(8):
            if len(chunk) < 8:
                return None
            size = int.from_bytes(chunk[4:], "little")
            if chunk[:4] == b"fmt ":
                fmt = f.read(size + (size & 1))
                block_align = int.from_bytes(fmt[12:14], "little")
            elif chunk[:4] == b"data":
                return size // block_align if block_align and size != 0xFFFFFFFF else None
            else:
                f.seek(size + (size & 1), 1)
    return None


def info(path: str | Path) -> AudioInfo:
    """Header facts of an audio file.

    Raises:
        AudioLoadError: missing, not audio, empty, or a WAV cut short.
    """
    path = Path(path)
    try:
        i = sf.info(str(path))
    except Exception as exc:  # soundfile raises several types for bad files
        raise _open_error(path, exc) from exc
    declared = _wav_declared_frames(path)
    if declared is not None and declared > i.frames:
        raise AudioLoadError(f"{path}: truncated: header promises {declared} samples, file holds {i.frames}")
    if i.frames <= 0:
        raise AudioLoadError(f"{path}: contains no audio (0 samples)")
    return AudioInfo(path, int(i.samplerate), int(i.channels), int(i.frames))


def frame_range(meta: AudioInfo, start: float = 0.0, length: float | None = None) -> tuple[int, int]:
    """``(first sample, samples)`` of the range ``start`` … ``start + length`` seconds of a file; to its end
    when ``length`` is ``None``. The range holds exactly ``round(length * sample_rate)`` samples.

    Raises:
        ArgumentError: a start before 0 or at or after the end of the file, a length of 0 or less, or
            a range that ends after the file; one line naming the file, its duration and what to change.
    """
    path, seconds = meta.path, meta.seconds
    for name, value in (("start", start), ("length", length)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value)):
            raise ArgumentError(f"{path}: {name} must be a number of seconds, got {value!r}")
    if start < 0:
        raise ArgumentError(f"{path}: start {start:g} s is before the beginning; use a start of 0 s or more")
    if length is not None and length <= 0:
        raise ArgumentError(f"{path}: length {length:g} s is not a range; use a length above 0 s, or none to split to the end")
    first = round(start * meta.sample_rate)
    if first >= meta.frames:
        raise ArgumentError(f"{path}: start {start:g} s is at or after the end of the file ({seconds:.3f} s long); start before it")
    if length is None:
        return first, meta.frames - first
    n = max(1, round(length * meta.sample_rate))
    if first + n > meta.frames:
        most = np.floor((meta.frames - first) / meta.sample_rate * 1000) / 1000  # rounded down: the advice must fit
        raise ArgumentError(
            f"{path}: the range {start:g} s + {length:g} s ends after the end of the file ({seconds:.3f} s long); "
            f"use a length of at most {most:.3f} s, or none to split to the end"
        )
    return first, n


def _check(path: Path, audio: np.ndarray) -> np.ndarray:
    if audio.shape[1] == 0:
        raise AudioLoadError(f"{path}: contains no audio (0 samples)")
    if not np.isfinite(audio).all():
        raise AudioLoadError(f"{path}: contains NaN or infinite samples; repair or re-export the file")
    return audio


def load(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a whole file.

    Returns:
        ``(audio (channels, samples) float32, sample_rate in Hz)``.
    Raises:
        AudioLoadError: missing, not audio, truncated, empty, or NaN/inf samples.
    """
    path = Path(path)
    expected = info(path)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        raise _open_error(path, exc) from exc
    if len(data) < expected.frames:
        raise AudioLoadError(f"{path}: truncated: header promises {expected.frames} samples, file holds {len(data)}")
    return _check(path, np.ascontiguousarray(data.T)), int(rate)


def blocks(
    path: str | Path, block: int, overlap: int = 0, start: int = 0, frames: int | None = None, meta: AudioInfo | None = None
) -> Iterator[np.ndarray]:
    """Read a file in blocks of ``block`` samples, each also holding the next ``overlap`` samples.

    Args:
        start, frames: read only ``frames`` samples (default: to the end) from sample ``start``.
        meta: the file's :func:`info`, when the caller has read it already (the header is read once).
    Yields:
        ``(channels, <= block + overlap)`` float32; consecutive blocks start ``block`` apart.
    Raises:
        AudioLoadError: as :func:`load`, detected when the bad part is reached.
    """
    path = Path(path)
    expected = info(path) if meta is None else meta
    wanted = max(0, expected.frames - start) if frames is None else min(frames, max(0, expected.frames - start))
    read = 0
    try:
        with sf.SoundFile(str(path)) as f:
            if start:
                f.seek(start)
            for chunk in f.blocks(blocksize=block + overlap, overlap=overlap, frames=wanted, dtype="float32", always_2d=True):
                read += len(chunk) - (overlap if read else 0)
                yield _check(path, np.ascontiguousarray(chunk.T))
    except AudioLoadError:
        raise
    except Exception as exc:
        raise _open_error(path, exc) from exc
    if read < wanted - overlap:
        raise AudioLoadError(f"{path}: truncated: header promises {start + wanted} samples, file holds {start + read}")


def join_channels(paths: Sequence[str | Path], target: str | Path, start: int = 0, frames: int | None = None) -> Path:
    """Write the channels of several files side by side, in order, into one 32-bit float file; returns its path.

    Takes ``frames`` samples (default: as many as the shortest file holds) from sample ``start`` of each,
    streamed. A DAW such as Ardour keeps each channel of a recording in a mono file of its own.

    Raises:
        AudioLoadError: a file is unreadable, has another sample rate than the first, or is too short.
        AudioWriteError: the target cannot be written.
    """
    metas = [info(p) for p in paths]
    rate = metas[0].sample_rate
    n = min(m.frames for m in metas) - start if frames is None else frames
    for m in metas:
        if m.sample_rate != rate:
            raise AudioLoadError(f"{m.path}: {m.sample_rate} Hz, but {metas[0].path} is {rate} Hz; the channels of one input share a rate")
        if m.frames < start + n:
            raise AudioLoadError(f"{m.path}: holds {m.frames} samples, fewer than the {start + n} the other channels give")
    block = 1 << 16
    readers = [blocks(p, block, start=start, frames=n) for p in paths]
    with atomic_writer(target, rate, sum(m.channels for m in metas)) as f:
        for parts in zip(*readers, strict=True):
            f.write(np.ascontiguousarray(np.concatenate(parts).T))
    return Path(target)


def subtype_for(path: Path, bit_depth: str) -> tuple[str, str]:
    """``(soundfile format, subtype)`` for a target path and ``bit_depth`` in ``16 | 24 | 32f``.

    Raises:
        AudioWriteError: unknown extension or bit depth, or 32f asked for FLAC.
    """
    ext = path.suffix.lower().lstrip(".")
    if ext not in FORMATS:
        raise AudioWriteError(f"{path}: unsupported output format {ext!r}; valid options: {', '.join(FORMATS)}")
    if bit_depth not in BIT_DEPTHS:
        raise AudioWriteError(f"{path}: unsupported bit depth {bit_depth!r}; valid options: {', '.join(BIT_DEPTHS)}")
    if ext == "flac" and bit_depth not in FLAC_BIT_DEPTHS:
        raise AudioWriteError(f"{path}: FLAC stores integer samples only; use --bit-depth 16 or 24 (or WAV for 32f)")
    return FORMATS[ext], BIT_DEPTHS[bit_depth]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _warn_clipping(path: Path, audio: np.ndarray, subtype: str) -> None:
    warn_if_clipped(path, float(np.abs(audio).max()) if audio.size else 0.0, subtype, stacklevel=4)


def warn_if_clipped(path: str | Path, peak: float, subtype: str, stacklevel: int = 2) -> None:
    """Warn that a file written with integer ``subtype`` (e.g. ``"PCM_16"``) clipped its ``peak`` (linear, > 1)."""
    if subtype not in FLOAT_SUBTYPES and peak > 1.0:
        warnings.warn(
            f"{path}: peak {20 * np.log10(peak):+.1f} dBFS clips at this bit depth; use --bit-depth 32f to keep it", stacklevel=stacklevel
        )


@dataclass
class PartFile:
    """An audio file being written under a hidden temporary name beside its target.

    Attributes:
        path: the target.
        temporary: where the samples go until :meth:`commit`.
        file: the open ``soundfile.SoundFile``; ``.write(block.T)`` with ``(channels, n)`` blocks.
    """

    path: Path
    temporary: Path
    file: sf.SoundFile
    committed: bool = False
    folders: tuple[Path, ...] = ()  # the folders opening it made, deepest first: removed with it when left empty
    lock: int | None = None  # a descriptor holding an exclusive flock on the temporary file until commit or discard

    def commit(self) -> None:
        """Rename the finished (closed) file into place.

        Raises:
            AudioWriteError: the rename failed (the temporary file is removed).
        """
        try:
            os.replace(self.temporary, self.path)
        except OSError as exc:
            self.discard()
            raise AudioWriteError(write_error(self.path, exc)) from exc
        self.committed = True
        self.release()

    def discard(self) -> None:
        """Remove the temporary file, unless it was committed, and the folders made for it that it leaves empty."""
        if not self.committed:
            _unlink(self.temporary)
            remove_empty(self.folders)
        self.release()

    def release(self) -> None:
        """Let go of the temporary file's lock (done by :meth:`commit` and :meth:`discard`; safe to repeat)."""
        if self.lock is not None:
            os.close(self.lock)
            self.lock = None


@contextlib.contextmanager
def part_writer(path: str | Path, sample_rate: int, channels: int, bit_depth: str = "32f") -> Iterator[PartFile]:
    """Open a temporary file beside ``path`` for block writing; closed on exit and removed on an error.

    The caller renames it into place with :meth:`PartFile.commit` once it is closed (or drops it with
    :meth:`PartFile.discard`), so several files can be renamed together when all are complete.

    Raises:
        AudioWriteError: the folder or file cannot be written (a file where a folder should be, no
            permission, a full disk); the message names the path.
    """
    path = Path(path)
    fmt, subtype = subtype_for(path, bit_depth)
    folders = _missing_folders(path.parent)
    sweep_parts(path)  # a killed worker's temporary file of this very output (a live writer's is locked and kept)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock, tmp = _locked_part(path)
    except (FileExistsError, NotADirectoryError) as exc:
        raise AudioWriteError(f"{path}: cannot write: a file stands where its folder should be ({exc.strerror})") from exc
    except OSError as exc:
        remove_empty(folders)
        raise AudioWriteError(write_error(path, exc)) from exc
    part: PartFile | None = None
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
        with sf.SoundFile(tmp, "w", samplerate=sample_rate, channels=channels, format=fmt, subtype=subtype) as f:
            _no_peak_chunk(f)
            part = PartFile(path, Path(tmp), f, folders=folders, lock=lock)
            yield part
    except OSError as exc:
        _abandon(tmp, folders, lock, part)
        raise AudioWriteError(write_error(path, exc)) from exc
    except BaseException:  # an error or an interrupt: no temporary file, and no folder made only for it
        _abandon(tmp, folders, lock, part)
        raise


def _locked_part(path: Path, tries: int = 8) -> tuple[int, str]:
    """Make ``.<name>.<8 random characters>.part<suffix>`` beside ``path`` and lock it exclusively.

    Another process's :func:`sweep_parts` may remove the new file between its making and its locking; the
    file is then made again under a new name. Returns ``(descriptor holding the lock, temporary path)``.

    Raises:
        OSError: the file cannot be made (or was swept ``tries`` times in a row).
    """
    for _ in range(tries):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent)
        if fcntl is None:
            return fd, tmp
        fcntl.flock(fd, fcntl.LOCK_EX)  # a sweep holds it only while it removes the file
        if _still_named(fd, tmp):
            return fd, tmp
        os.close(fd)
    raise OSError(f"its temporary file was removed by other writers {tries} times in a row")


def _still_named(fd: int, name: str | Path) -> bool:
    """Whether ``name`` is still the file open as ``fd`` (not removed, not replaced)."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(name))
    except OSError:
        return False


SFC_SET_ADD_PEAK_CHUNK = 0x1050  # libsndfile's sndfile.h; soundfile does not name it


def _no_peak_chunk(f: sf.SoundFile) -> None:
    """Tell libsndfile not to keep a PEAK chunk in a float file being written.

    The chunk (an optional per-channel peak that few programs read) costs libsndfile a scalar pass over
    every sample: 0.26 s of CPU for the five stems of a 3-minute song, two thirds of the writing. The
    call goes through soundfile's handle on libsndfile; where that is missing, the chunk stays.
    """
    snd, ffi = getattr(sf, "_snd", None), getattr(sf, "_ffi", None)
    if f.subtype in FLOAT_SUBTYPES and snd is not None and ffi is not None:
        snd.sf_command(f._file, SFC_SET_ADD_PEAK_CHUNK, ffi.NULL, snd.SF_FALSE)


def sweep_parts(path: str | Path) -> list[Path]:
    """Remove the temporary files that earlier writers of ``path`` left behind (a worker killed mid-file, a
    process that was killed): the hidden files beside it named as :func:`part_writer` names them,
    ``.<name>.<8 random characters>.part<suffix>``. Nothing else is touched: no other output's temporary
    file, no file of another name, and no file a live writer holds (:func:`part_writer` locks its file
    until it is renamed, so two splits writing the same output at once both finish; the later rename
    wins). Returns what was removed.
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    exact = re.compile(rf"\.{re.escape(path.stem)}\.[a-z0-9_]{{8}}\.part{re.escape(path.suffix)}")  # mkstemp's 8 characters
    candidates = path.parent.glob(glob.escape(f".{path.stem}.") + "*" + glob.escape(f".part{path.suffix}"))
    return [p for p in candidates if exact.fullmatch(p.name) and _remove_unless_locked(p)]


def _remove_unless_locked(part: Path) -> bool:
    """Remove ``part`` unless a live writer holds its lock; whether it was removed."""
    if fcntl is None:
        _unlink(part)
        return True
    try:
        fd = os.open(part, os.O_RDONLY)
    except FileNotFoundError:
        return False
    except OSError:  # unreadable: nobody's lock can be asked, so do as before locks
        _unlink(part)
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # held: a writer is still at work on it
        os.close(fd)
        return False
    try:
        if not _still_named(fd, part):  # renamed into place (or replaced) between the listing and the lock
            return False
        _unlink(part)
        return True
    finally:
        os.close(fd)


def _missing_folders(folder: Path) -> tuple[Path, ...]:
    """``folder`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return tuple(missing)


def remove_empty(folders: Sequence[Path]) -> None:
    """Remove ``folders`` (deepest first) while they are empty; stop at the first that is not (or is gone)."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _abandon(tmp: str | Path, folders: Sequence[Path], lock: int, part: PartFile | None) -> None:
    _unlink(tmp)
    remove_empty(folders)
    if part is not None:
        part.release()
    else:
        os.close(lock)


@contextlib.contextmanager
def atomic_writer(path: str | Path, sample_rate: int, channels: int, bit_depth: str = "32f") -> Iterator[sf.SoundFile]:
    """Open ``path`` for block writing under a temporary name; renamed on success, removed on error.

    Yields a ``soundfile.SoundFile``: call ``.write(block.T)`` with ``(channels, n)`` blocks.

    Raises:
        AudioWriteError: as :func:`part_writer`, or the rename failed.
    """
    with part_writer(path, sample_rate, channels, bit_depth) as part:
        yield part.file
    part.commit()


def _unlink(path: str | Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def save(path: str | Path, audio: np.ndarray, sample_rate: int, bit_depth: str = "32f") -> Path:
    """Write ``audio`` ``(channels, samples)`` atomically; format from the extension (.wav, .flac).

    Warns when integer bit depths would clip. Returns the path written.

    Raises:
        AudioWriteError: bad format/bit depth or the file system refused.
    """
    path = Path(path)
    _warn_clipping(path, audio, subtype_for(path, bit_depth)[1])
    try:
        with atomic_writer(path, sample_rate, audio.shape[0], bit_depth) as f:
            f.write(np.ascontiguousarray(audio.T))
    except OSError as exc:  # raised by the caller's own code inside the writer
        raise AudioWriteError(write_error(path, exc)) from exc
    return path
