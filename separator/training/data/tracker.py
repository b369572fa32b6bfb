"""Training windows from tracker songs: exact per-instrument stems rendered with libopenmpt.

Tracker modules (``.mod .xm .it .s3m``; powermanga's ``.zik`` are xm; jumpnbump's ``.dat``
archives hold mods) are human-composed songs played from recorded samples, so muting every
instrument but one renders stems that sum exactly to the mix. Rendering goes through Debian's
``libopenmpt0`` via ctypes (its ``interactive`` extension mutes instruments, or samples in
modules without instruments).

Each song is cut into windows; a window keeps its 5 loudest instruments as sources and sums
the rest into a sixth. Shards hold::

    OUT/shard-NNNNN.npz   stems (n_windows, 6, 2, samples) float16, present (n_windows, 6) bool,
                          labels (n_windows, 6) int8 (index into CLASSES, -1 unknown),
                          sample_rate, sources (n_windows, 6) str
    OUT/shard-NNNNN.json  the songs in that shard and their statistics (for resuming)
    OUT/recipe.json       settings, songs, packages and label statistics
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fnmatch
import functools
import hashlib
import json
import logging
import multiprocessing
import re
import struct
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from separator.classes import CLASSES
from separator.errors import SeparatorError

log = logging.getLogger(__name__)

MODULE_EXTENSIONS = (".mod", ".xm", ".it", ".s3m", ".zik")
ARCHIVE_EXTENSIONS = (".dat",)
# Held out for evaluation elsewhere: never train on them. Game folder names catch extracted trees too.
RESERVED_PACKAGES = ("pachi-data", "pingus-data", "criticalmass-data", "gltron", "gweled", "monsterz-data", "njam-data")
RESERVED_DIRS = (*RESERVED_PACKAGES, "pachi", "pingus", "criticalmass", "monsterz", "njam")
N_SOURCES = 6  # the 5 loudest instruments + the rest
LIBOPENMPT_MISSING = "libopenmpt not found: install the Debian package libopenmpt0 (apt-get install -y libopenmpt0)"

_STEREOSEPARATION_PERCENT = 2  # OPENMPT_MODULE_RENDER_STEREOSEPARATION_PERCENT
_INTERACTIVE_FIELDS = (
    "set_current_speed", "set_current_tempo", "set_tempo_factor", "get_tempo_factor", "set_pitch_factor",
    "get_pitch_factor", "set_global_volume", "get_global_volume", "set_channel_volume", "get_channel_volume",
    "set_channel_mute_status", "get_channel_mute_status", "set_instrument_mute_status", "get_instrument_mute_status",
    "play_note", "stop_note",
)  # fmt: skip


class TrackerError(SeparatorError):
    """libopenmpt is missing, a module does not load, or an output folder does not match."""


class ReservedPackageError(TrackerError, ValueError):
    """A folder given for training lies inside a reserved (held-out) package."""


class _Interactive(ctypes.Structure):
    """``openmpt_module_ext_interface_interactive``: 16 function pointers, in header order."""

    _fields_ = [(name, ctypes.c_void_p) for name in _INTERACTIVE_FIELDS]


_MUTE_FUNC = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int32, ctypes.c_int)


@functools.cache
def libopenmpt() -> ctypes.CDLL:
    """The libopenmpt shared library with argument types set; raises TrackerError naming libopenmpt0."""
    name = ctypes.util.find_library("openmpt")
    if name is None:
        raise TrackerError(LIBOPENMPT_MISSING)
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise TrackerError(f"{LIBOPENMPT_MISSING} ({exc})") from exc
    c = ctypes
    signatures = {
        "openmpt_module_ext_create_from_memory": (c.c_void_p, [c.c_void_p, c.c_size_t, c.c_void_p, c.c_void_p, c.c_void_p,
                                                               c.c_void_p, c.POINTER(c.c_int), c.c_void_p, c.c_void_p]),
        "openmpt_module_ext_destroy": (None, [c.c_void_p]),
        "openmpt_module_ext_get_module": (c.c_void_p, [c.c_void_p]),
        "openmpt_module_ext_get_interface": (c.c_int, [c.c_void_p, c.c_char_p, c.c_void_p, c.c_size_t]),
        "openmpt_module_set_repeat_count": (c.c_int, [c.c_void_p, c.c_int32]),
        "openmpt_module_set_render_param": (c.c_int, [c.c_void_p, c.c_int, c.c_int32]),
        "openmpt_module_read_interleaved_float_stereo": (c.c_size_t, [c.c_void_p, c.c_int32, c.c_size_t, c.POINTER(c.c_float)]),
        "openmpt_module_get_num_instruments": (c.c_int32, [c.c_void_p]),
        "openmpt_module_get_num_samples": (c.c_int32, [c.c_void_p]),
        "openmpt_module_get_instrument_name": (c.c_void_p, [c.c_void_p, c.c_int32]),
        "openmpt_module_get_sample_name": (c.c_void_p, [c.c_void_p, c.c_int32]),
        "openmpt_free_string": (None, [c.c_void_p]),
    }  # fmt: skip
    for func, (restype, argtypes) in signatures.items():
        getattr(lib, func).restype = restype
        getattr(lib, func).argtypes = argtypes
    return lib


class TrackerSong:
    """One module in memory that renders its full mix or one instrument alone.

    Args:
        data: the module file's bytes.
        name: for error messages.
        sample_rate: output rate in Hz.
        stereo_separation: percent (100 = as composed; Amiga MODs pan channels hard left/right).

    Raises:
        TrackerError: libopenmpt is missing or does not recognise the module.
    """

    def __init__(self, data: bytes, name: str = "<module>", sample_rate: int = 44100, stereo_separation: int = 75) -> None:
        self.data, self.name, self.sample_rate, self.stereo_separation = data, name, sample_rate, stereo_separation
        ext = self._open()
        try:
            lib = libopenmpt()
            mod = lib.openmpt_module_ext_get_module(ext)
            self.uses_instruments = lib.openmpt_module_get_num_instruments(mod) > 0
            getter = lib.openmpt_module_get_instrument_name if self.uses_instruments else lib.openmpt_module_get_sample_name
            count = lib.openmpt_module_get_num_instruments(mod) if self.uses_instruments else lib.openmpt_module_get_num_samples(mod)
            self.names = [_take_string(getter(mod, i)) for i in range(count)]
        finally:
            libopenmpt().openmpt_module_ext_destroy(ext)
        self._mod_spans = None if self.uses_instruments else mod_sample_spans(data)

    def _open(self, data: bytes | None = None) -> int:
        lib = libopenmpt()
        data = self.data if data is None else data
        silent = ctypes.cast(lib.openmpt_log_func_silent, ctypes.c_void_p)
        error = ctypes.c_int(0)
        create = lib.openmpt_module_ext_create_from_memory
        ext = create(data, len(data), silent, None, None, None, ctypes.byref(error), None, None)
        if not ext:
            raise TrackerError(f"{self.name}: libopenmpt cannot load this module (error {error.value})")
        return ext

    def render(self, solo: int | None = None, max_frames: int | None = None) -> np.ndarray:
        """The song once through (repeat count 0), all instruments or only ``solo`` (0-based).

        ProTracker MODs solo a sample by zeroing the other samples' data: libopenmpt's sample
        mute misses sample swaps there (stems summed to the mix at 0–35 dB instead of > 115 dB).

        Returns:
            ``(2, n_frames)`` float32; peaks may exceed 1.0.
        """
        lib = libopenmpt()
        spans = self._mod_spans if solo is not None else None
        ext = self._open(_zero_other_samples(self.data, spans, solo) if spans is not None and solo is not None else None)
        try:
            mod = lib.openmpt_module_ext_get_module(ext)
            lib.openmpt_module_set_repeat_count(mod, 0)
            lib.openmpt_module_set_render_param(mod, _STEREOSEPARATION_PERCENT, int(self.stereo_separation))
            if solo is not None and spans is None:
                self._mute_all_but(ext, solo)
            return _read_all(mod, self.sample_rate, max_frames or self.sample_rate * 1200)
        finally:
            lib.openmpt_module_ext_destroy(ext)

    def _mute_all_but(self, ext: int, solo: int) -> None:
        iface = _Interactive()
        if not libopenmpt().openmpt_module_ext_get_interface(ext, b"interactive", ctypes.byref(iface), ctypes.sizeof(iface)):
            raise TrackerError(f"{self.name}: this libopenmpt lacks the 'interactive' extension")
        mute = _MUTE_FUNC(iface.set_instrument_mute_status)
        for i in range(len(self.names)):
            mute(ext, i, int(i != solo))


_MOD_CHANNELS = {b"M.K.": 4, b"M!K!": 4, b"FLT4": 4, b"4CHN": 4, b"6CHN": 6, b"8CHN": 8, b"OCTA": 8, b"CD81": 8, b"FLT8": 8}


def mod_sample_spans(data: bytes) -> list[tuple[int, int]] | None:
    """Byte ranges of the 31 samples' data in a ProTracker-style MOD, or None for other formats."""
    tag = data[1080:1084]
    channels = _MOD_CHANNELS.get(tag) or (int(tag[:2]) if tag[2:] == b"CH" and tag[:2].isdigit() else None)
    if channels is None or len(data) < 1084:
        return None
    pos = 1084 + (max(data[952:1080]) + 1) * 64 * 4 * channels  # patterns: ProTracker counts all 128 orders
    spans = []
    for i in range(31):
        length = 2 * struct.unpack_from(">H", data, 20 + 30 * i + 22)[0]
        spans.append((min(pos, len(data)), min(pos + length, len(data))))
        pos += length
    return spans


def _zero_other_samples(data: bytes, spans: list[tuple[int, int]], solo: int) -> bytes:
    out = bytearray(data)
    for i, (start, end) in enumerate(spans):
        if i != solo:
            out[start:end] = bytes(end - start)
    return bytes(out)


def xm_sample_names(data: bytes) -> list[list[str]]:
    """Per XM instrument, the names of its samples (libopenmpt does not say which samples an instrument plays).

    Returns an empty list for anything that is not a well-formed XM.
    """
    if not data.startswith(b"Extended Module:") or len(data) < 80:
        return []
    try:
        header_size, _, _, _, n_patterns, n_instruments = struct.unpack_from("<I4H", data, 60)[0], *struct.unpack_from("<HHHHH", data, 64)
        pos = 60 + header_size
        for _ in range(n_patterns):
            pattern_header, packed = struct.unpack_from("<I", data, pos)[0], struct.unpack_from("<H", data, pos + 7)[0]
            pos += pattern_header + packed
        names = []
        for _ in range(n_instruments):
            size, n_samples = struct.unpack_from("<I", data, pos)[0], struct.unpack_from("<H", data, pos + 27)[0]
            sample_header = struct.unpack_from("<I", data, pos + 29)[0] if n_samples else 40
            pos += size
            headers = [struct.unpack_from("<I14x22s", data, pos + k * sample_header) for k in range(n_samples)]
            names.append([raw.split(b"\0", 1)[0].decode("latin-1").strip() for _, raw in headers])
            pos += n_samples * sample_header + sum(length for length, _ in headers)
        return names
    except struct.error:
        return []


def _take_string(pointer: int | None) -> str:
    if not pointer:
        return ""
    text = ctypes.string_at(pointer).decode("latin-1")
    libopenmpt().openmpt_free_string(pointer)
    return text


def _read_all(mod: int, sample_rate: int, max_frames: int, block: int = 1 << 16) -> np.ndarray:
    lib = libopenmpt()
    chunks, total = [], 0
    while total < max_frames:
        buf = np.empty((min(block, max_frames - total), 2), np.float32)
        pointer = buf.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        got = lib.openmpt_module_read_interleaved_float_stereo(mod, sample_rate, len(buf), pointer)
        if got == 0:
            break
        chunks.append(buf[:got])
        total += got
    return np.concatenate(chunks).T.copy() if chunks else np.zeros((2, 0), np.float32)


# ---------------------------------------------------------------------------------------------- labels

_NOT_LETTER_BEFORE, _NOT_LETTER_AFTER = r"(?<![a-z])", r"(?![a-z])"


def _words(*words: str) -> str:
    return _NOT_LETTER_BEFORE + "(?:" + "|".join(words) + ")" + _NOT_LETTER_AFTER


# A bass drum however it is shortened: "BassDrum", "bassdrm2", "Bassdr" (not "bass drive").
_BASS_DRUM = r"bass ?dr(?:u?m|(?![a-z]))"
_SAYS_DRUM = re.compile("drum|" + _BASS_DRUM)  # a name that also matches another class is still drums
# Checked in order: "bass drum" is drums, "cowbell" is drums before "bell" is other.
_LABEL_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("drums", _BASS_DRUM + r"|kick|snare|hi ?hat|hihat|cymbal|crash|drum|clap|perc|conga|bongo|tambourin|cowbell|timbale|"
                  + _words(r"bd\d*", r"sd\d*", r"sn\d*", r"hh\d*", r"hats?", "tabla", r"tom(?:s|tom)?\d*", "ride", "rim(?:shot)?", "kik")),
        ("bass", r"bass(?!oon)|" + _words(r"bas\d*", "basse", "fretless")),
        ("guitar", r"guit|gitar|gitarre|chitarra|" + _words(r"gtr\d*", "strat", "lespaul")),
        ("vocals", r"vocal|voice|choir|singer|singing|" + _words(r"vox\d*", r"sing")),
        ("other", r"piano|organ|violin|cello|flute|trumpet|trombone|clarinet|oboe|harpsichord|accordion|marimba|xylo|xilo|"
                  r"vibraphone|glockenspiel|" + _words(r"strings?\d*", r"brass", r"sax\d*", r"harp", r"bells?\d*")),
    )
)  # fmt: skip


def label_for_name(name: str) -> int:
    """The class index (into CLASSES) an instrument or sample name states, or -1 when unsure.

    Conservative on purpose: only names that say what the sound is (``"BassDrum 2"`` → drums,
    ``"slap bass"`` → bass, ``"dist.gtr"`` → guitar, ``"choir aah"`` → vocals, ``"piano"`` → other);
    names that match two different classes are -1.
    """
    text = re.sub(r"[_\-.:/]+", " ", name.lower())
    found = [CLASSES.index(cls) for cls, pattern in _LABEL_PATTERNS if pattern.search(text)]
    if not found:
        return -1
    if CLASSES.index("drums") in found and _SAYS_DRUM.search(text):
        return CLASSES.index("drums")  # "bass drum", "bassdrm2", "drum loop (vocal)"
    return found[0] if len(found) == 1 else -1


# ---------------------------------------------------------------------------------------------- finding songs


@dataclass(frozen=True)
class SongFile:
    """A module on disk, or a member of a jumpnbump ``.dat`` archive."""

    package: str
    path: Path
    member: str | None = None

    @property
    def song_id(self) -> str:
        """``package/file`` or ``package/archive.dat:member`` (used in ``sources`` and the hold-out hash)."""
        return f"{self.package}/{self.path.name}" + (f":{self.member}" if self.member else "")

    def read(self) -> bytes:
        data = self.path.read_bytes()
        if self.member is None:
            return data
        for name, blob in parse_dat_archive(data):
            if name == self.member:
                return blob
        raise TrackerError(f"{self.path}: archive member {self.member!r} is gone")


def parse_dat_archive(data: bytes) -> list[tuple[str, bytes]]:
    """Members of a jumpnbump ``.dat``: little-endian int32 count, then (12-byte name, int32 offset, int32 size).

    Raises:
        TrackerError: the bytes are not such an archive.
    """
    if len(data) < 4:
        raise TrackerError("not a .dat archive: shorter than its 4-byte header")
    (count,) = struct.unpack_from("<i", data, 0)
    if not 0 < count <= 10000 or 4 + 20 * count > len(data):
        raise TrackerError(f"not a .dat archive: member count {count} does not fit {len(data)} bytes")
    members = []
    for i in range(count):
        raw, offset, size = struct.unpack_from("<12sii", data, 4 + 20 * i)
        if offset < 0 or size < 0 or offset + size > len(data):
            raise TrackerError(f"not a .dat archive: member {i} spans {offset}+{size} of {len(data)} bytes")
        members.append((raw.split(b"\0", 1)[0].decode("latin-1"), data[offset : offset + size]))
    return members


def reserved_component(path: str | Path) -> str | None:
    """The reserved package (or its game folder) named by a component of ``path``, if any."""
    for part in Path(path).parts:
        for reserved in RESERVED_DIRS:
            if part == reserved or part.startswith(reserved + "_"):
                return reserved
    return None


def find_songs(dirs: Sequence[str | Path], exclude: Sequence[str] = ()) -> tuple[list[SongFile], list[Path]]:
    """Module files under ``dirs`` (recursively), deduplicated by content, sorted by song id.

    A folder's first level names the package (``DIR/PKG/usr/...`` as ``dpkg -x`` leaves it).
    ``exclude`` holds fnmatch patterns tested against the song id and the full path.

    Returns:
        (songs, refused): files inside reserved packages are refused, never read.

    Raises:
        ReservedPackageError: a folder in ``dirs`` is itself inside a reserved package.
    """
    songs: dict[str, SongFile] = {}
    refused: list[Path] = []
    for root in map(Path, dirs):
        if reserved := reserved_component(root.resolve()):
            raise ReservedPackageError(f"{root}: lies in reserved package {reserved!r}; reserved: {', '.join(RESERVED_PACKAGES)}")
        for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in MODULE_EXTENSIONS + ARCHIVE_EXTENSIONS):
            rel = path.relative_to(root)
            if reserved_component(rel):
                refused.append(path)
                continue
            package = rel.parts[0] if len(rel.parts) > 1 and rel.parts[0] != "usr" else root.resolve().name
            for song in _songs_in(package, path):
                if not any(fnmatch.fnmatch(song.song_id, pat) or fnmatch.fnmatch(str(path), pat) for pat in exclude):
                    songs.setdefault(hashlib.sha1(song.read()).hexdigest(), song)
    return sorted(songs.values(), key=lambda s: s.song_id), refused


def _songs_in(package: str, path: Path) -> Iterator[SongFile]:
    if path.suffix.lower() not in ARCHIVE_EXTENSIONS:
        yield SongFile(package, path)
        return
    try:
        members = parse_dat_archive(path.read_bytes())
    except TrackerError:
        return  # a .dat that is not an archive: game data, not music
    for name, _ in members:
        if Path(name).suffix.lower() in MODULE_EXTENSIONS:
            yield SongFile(package, path, name)


def is_held_out(song_id: str, percent: float) -> bool:
    """Deterministic validation choice: the song id's SHA-1 modulo 10,000 falls below ``percent`` × 100."""
    return int(hashlib.sha1(song_id.encode()).hexdigest(), 16) % 10000 < percent * 100


# ---------------------------------------------------------------------------------------------- windows


@dataclass
class TrackerRecipe:
    """Settings of a tracker data set; saved in ``recipe.json``."""

    seconds: float = 4.0
    hop_seconds: float | None = None  # None: equal to seconds (no overlap)
    max_windows_per_song: int | None = 25
    sample_rate: int = 44100
    stereo_separation: tuple[int, int] = (50, 100)  # percent, drawn per song from its id's hash
    silence_db: float = -50.0  # skip windows whose mix RMS is below this (dBFS)
    target_db: float = -20.0  # each window's mix RMS after scaling (dBFS)
    max_peak: float = 7.5  # float16 headroom: no source or mix sample above this
    present_db: float = -60.0  # a source quieter than the mix by this much is not present
    min_snr_db: float = 40.0  # songs whose instrument renders do not sum to the mix this well are skipped
    songs_per_shard: int = 4
    holdout_percent: float = 10.0

    @property
    def window(self) -> int:
        return round(self.seconds * self.sample_rate)

    @property
    def hop(self) -> int:
        return round((self.hop_seconds or self.seconds) * self.sample_rate)

    def separation_for(self, song_id: str) -> int:
        low, high = self.stereo_separation
        return low + int(hashlib.md5(song_id.encode()).hexdigest(), 16) % (high - low + 1)


def choose_windows(mix: np.ndarray, recipe: TrackerRecipe) -> list[int]:
    """Start samples of the non-silent windows of ``mix`` ``(2, n)``, at most ``max_windows_per_song``, evenly spread."""
    starts = [s for s in range(0, mix.shape[-1] - recipe.window + 1, recipe.hop) if _db(mix[:, s : s + recipe.window]) > recipe.silence_db]
    limit = recipe.max_windows_per_song
    if limit is not None and len(starts) > limit:
        starts = [starts[i] for i in np.unique(np.linspace(0, len(starts) - 1, limit).round().astype(int))]
    return starts


def _db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


@dataclass
class Window:
    """One training example: ``stems (6, 2, samples)`` float32 that sum to the window's mix."""

    stems: np.ndarray
    present: np.ndarray
    labels: np.ndarray
    sources: list[str]


def pack_window(inst: np.ndarray, labels: Sequence[int], names: Sequence[str], recipe: TrackerRecipe) -> Window:
    """The 5 loudest of ``inst (n_inst, 2, samples)`` as sources, the rest summed into a sixth, scaled to ``target_db``.

    ``names`` are source strings per instrument. The rest's label is the common class of its
    audible parts, or -1 when they differ or any is unknown.
    """
    energy = np.square(inst, dtype=np.float64).sum(axis=(1, 2))
    order = np.argsort(-energy, kind="stable")
    top, rest = order[: N_SOURCES - 1], order[N_SOURCES - 1 :]
    stems = np.zeros((N_SOURCES, *inst.shape[1:]), np.float32)
    stems[: len(top)] = inst[top]
    stems[-1] = inst[rest].sum(axis=0)
    out_labels = np.full(N_SOURCES, -1, np.int8)
    out_labels[: len(top)] = [labels[i] for i in top]
    sources = [names[i] for i in top] + [""] * (N_SOURCES - 1 - len(top))
    audible = [i for i in rest if energy[i] > 0]
    rest_labels = {labels[i] for i in audible}
    out_labels[-1] = rest_labels.pop() if len(rest_labels) == 1 else -1
    sources.append(_rest_source(names, audible))
    mix = stems.sum(axis=0)
    gain = 10 ** (recipe.target_db / 20) / (np.sqrt(np.mean(np.square(mix, dtype=np.float64))) + 1e-12)
    gain = min(gain, recipe.max_peak / (max(np.abs(stems).max(), np.abs(mix).max()) + 1e-12))
    stems *= gain
    source_energy = np.square(stems, dtype=np.float64).sum(axis=(1, 2))
    present = source_energy > np.square(mix * gain, dtype=np.float64).sum() * 10 ** (recipe.present_db / 10)
    return Window(stems, present, out_labels, sources)


def _rest_source(names: Sequence[str], parts: Sequence[int]) -> str:
    if not parts:
        return ""
    song = names[parts[0]].split("#", 1)[0]
    return f"{song}#rest:" + ",".join(names[i].split("#", 1)[1].split(":", 1)[0] for i in parts)


@dataclass
class SongStats:
    """What one song gave: windows, stem-sum SNR (dB), energy per label (index 0..4, then unknown)."""

    song_id: str
    package: str
    path: str
    held_out: bool
    windows: int = 0
    seconds: float = 0.0
    instruments: int = 0
    snr_db: float | None = None
    label_energy: list[float] = field(default_factory=lambda: [0.0] * (len(CLASSES) + 1))
    error: str | None = None


def song_windows(song: SongFile, recipe: TrackerRecipe) -> tuple[list[Window], SongStats]:
    """Render ``song`` per instrument and cut it into packed windows (windows with < 2 present sources dropped).

    A song whose instrument renders sum to the mix below ``recipe.min_snr_db`` gives no windows
    (``stats.error`` says why; :func:`build_dataset` logs it).

    Raises:
        TrackerError: libopenmpt is missing or cannot load the module.
    """
    stats = SongStats(song.song_id, song.package, str(song.path), is_held_out(song.song_id, recipe.holdout_percent))
    module = TrackerSong(song.read(), song.song_id, recipe.sample_rate, recipe.separation_for(song.song_id))
    mix = module.render()
    starts = choose_windows(mix, recipe)
    if not starts:
        return [], stats
    end = starts[-1] + recipe.window
    total = np.zeros((2, end), np.float64)
    inst, labels, names = [], [], []
    sample_names = xm_sample_names(module.data)
    for i, name in enumerate(module.names):
        label_text = " ".join([name, *(sample_names[i] if i < len(sample_names) else [])])
        stem = _fit(module.render(solo=i, max_frames=end), end)
        total += stem
        cut = np.stack([stem[:, s : s + recipe.window] for s in starts])
        if np.any(cut):
            inst.append(cut)
            labels.append(label_for_name(label_text))
            names.append(f"tracker:{song.song_id}#{i + 1}:{name.strip()}")
    stats.instruments = len(inst)
    stats.snr_db = round(_snr_db(mix[:, :end], total), 1)
    if stats.snr_db < recipe.min_snr_db:
        # muting failed somewhere (e.g. ProTracker sample swaps): the stems would not be a true partition
        stats.error = f"{song.song_id}: instruments sum to the mix at {stats.snr_db} dB < {recipe.min_snr_db} dB; skipped"
        return [], stats
    if not inst:
        return [], stats
    windows = [pack_window(np.stack([c[w] for c in inst]), labels, names, recipe) for w in range(len(starts))]
    windows = [w for w in windows if w.present.sum() >= 2]
    for w in windows:
        for stem, label in zip(w.stems, w.labels, strict=True):
            stats.label_energy[label] += float(np.square(stem, dtype=np.float64).sum())
    stats.windows, stats.seconds = len(windows), len(windows) * recipe.seconds
    return windows, stats


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    return x[:, :n] if x.shape[1] >= n else np.pad(x, ((0, 0), (0, n - x.shape[1])))


def _snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    signal = np.square(reference, dtype=np.float64).sum()
    noise = np.square(reference - estimate, dtype=np.float64).sum()
    return float(10 * np.log10((signal + 1e-30) / (noise + 1e-30)))


# ---------------------------------------------------------------------------------------------- shards


def write_shard(path: Path, windows: Sequence[Window], sample_rate: int) -> None:
    """Write ``windows`` as one shard atomically (temporary name, then rename)."""
    tmp = path.with_suffix(".tmp.npz")
    np.savez(
        tmp,
        stems=np.stack([w.stems for w in windows]).astype(np.float16),
        present=np.stack([w.present for w in windows]),
        labels=np.stack([w.labels for w in windows]).astype(np.int8),
        sample_rate=sample_rate,
        sources=np.array([w.sources for w in windows], dtype=str),
    )
    tmp.rename(path)


def _write_json(path: Path, data: object) -> None:
    tmp = path.with_suffix(".tmp.json")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.rename(path)


def build_dataset(
    songs: Sequence[SongFile], out: str | Path, recipe: TrackerRecipe, val_out: str | Path | None = None, jobs: int = 1
) -> list[SongStats]:
    """Write shards of ``songs`` under ``out``; held-out songs go to ``val_out`` (or nowhere), never to ``out``.

    Shard ``k`` holds song group ``k`` (``songs_per_shard`` songs in id order); a group whose sidecar
    ``shard-k.json`` exists is kept, so an interrupted run resumes. ``jobs`` processes render the songs (the
    shards are the same for any count: each song is rendered alone, and groups are written in order).

    Raises:
        TrackerError: an existing shard lists other songs (the song list or hold-out changed; before any work).
    """
    held = [s for s in songs if is_held_out(s.song_id, recipe.holdout_percent)]
    train = [s for s in songs if not is_held_out(s.song_id, recipe.holdout_percent)]
    splits = [(train, Path(out))] + ([(held, Path(val_out))] if val_out is not None else [])
    plans = [(split_songs, folder, _groups(split_songs, folder, recipe)) for split_songs, folder in splits]
    pending = [(song, recipe) for _, _, groups in plans for group, done in groups if done is None for song in group]
    pool = multiprocessing.get_context("spawn").Pool(jobs) if jobs > 1 and len(pending) > 1 else None
    try:
        rendered = pool.imap(_render_job, pending) if pool else map(_render_job, pending)  # in order, as groups need
        stats = [st for _, folder, groups in plans for st in _write_split(folder, groups, rendered, recipe)]
    finally:
        if pool:
            pool.close()
    if val_out is None:
        stats += [SongStats(s.song_id, s.package, str(s.path), True) for s in held]
    return stats


def _groups(songs: Sequence[SongFile], out: Path, recipe: TrackerRecipe) -> list[tuple[Sequence[SongFile], list[SongStats] | None]]:
    """``songs`` in shard groups, each with its statistics when its shard is already written (``None``: to render)."""
    groups = [songs[first : first + recipe.songs_per_shard] for first in range(0, len(songs), recipe.songs_per_shard)]
    return [
        (group, _resume(out / f"shard-{k:05d}.npz", out / f"shard-{k:05d}.json", [s.song_id for s in group]))
        for k, group in enumerate(groups)
    ]


def _write_split(
    out: Path,
    groups: list[tuple[Sequence[SongFile], list[SongStats] | None]],
    rendered: Iterator[tuple[list[Window], SongStats]],
    recipe: TrackerRecipe,
) -> list[SongStats]:
    """Write the shards of one split's groups, taking each group's songs from ``rendered`` (in order)."""
    out.mkdir(parents=True, exist_ok=True)
    stats: list[SongStats] = []
    for k, (group, kept) in enumerate(groups):
        done = kept if kept is not None else _write_group(out / f"shard-{k:05d}", [next(rendered) for _ in group], recipe)
        stats += done
        for s in done:
            log.info("%s: %d windows, %d instruments, stem-sum SNR %s dB", s.song_id, s.windows, s.instruments, s.snr_db)
    _write_json(out / "recipe.json", recipe_summary(stats, recipe))
    return stats


def _write_group(stem: Path, results: list[tuple[list[Window], SongStats]], recipe: TrackerRecipe) -> list[SongStats]:
    """One group's shard ``stem.npz`` (none when no song gave windows: a gap) and its sidecar ``stem.json``."""
    windows = [w for got, _ in results for w in got]
    done = [song_stats for _, song_stats in results]
    if windows:
        write_shard(stem.with_suffix(".npz"), windows, recipe.sample_rate)
    _write_json(stem.with_suffix(".json"), [asdict(s) for s in done])  # last: marks the group done
    for s in done:
        if s.error:
            log.warning("%s", s.error)
    return done


def _render_job(task: tuple[SongFile, TrackerRecipe]) -> tuple[list[Window], SongStats]:
    return _song_or_error(*task)


def _resume(shard: Path, sidecar: Path, song_ids: list[str]) -> list[SongStats] | None:
    """The finished group's statistics, or None when it still has to be rendered."""
    if not sidecar.exists():
        return None
    done = [SongStats(**s) for s in json.loads(sidecar.read_text())]
    if [s.song_id for s in done] != song_ids:
        held = [s.song_id for s in done]
        raise TrackerError(f"{shard}: holds songs {held}, expected {song_ids}; the song list changed — use a new folder")
    return done if shard.exists() or not any(s.windows for s in done) else None


def _song_or_error(song: SongFile, recipe: TrackerRecipe) -> tuple[list[Window], SongStats]:
    try:
        return song_windows(song, recipe)
    except TrackerError as exc:
        if str(exc) == LIBOPENMPT_MISSING:
            raise
        stats = SongStats(song.song_id, song.package, str(song.path), is_held_out(song.song_id, recipe.holdout_percent))
        stats.error = str(exc)
        return [], stats


def recipe_summary(stats: Sequence[SongStats], recipe: TrackerRecipe) -> dict[str, object]:
    """``recipe.json``: settings, class names, per-package and per-class statistics, and every song."""
    used = [s for s in stats if s.windows]
    energy = np.sum([s.label_energy for s in used], axis=0) if used else np.zeros(len(CLASSES) + 1)
    snrs = [s.snr_db for s in used if s.snr_db is not None]
    return {
        "format": "tracker-windows-v1",
        "recipe": asdict(recipe),
        "classes": list(CLASSES),
        "n_sources": N_SOURCES,
        "songs": len(used),
        "windows": sum(s.windows for s in used),
        "hours": round(sum(s.seconds for s in used) / 3600, 3),
        "stem_sum_snr_db": {"min": min(snrs), "median": float(np.median(snrs))} if snrs else None,
        "label_energy_share": label_shares(energy),
        "packages": package_table(stats),
        "reserved_packages": list(RESERVED_PACKAGES),
        "song_list": [asdict(s) for s in stats],
    }


def label_shares(energy: Sequence[float] | np.ndarray) -> dict[str, float]:
    """Share of source energy per class and ``"unknown"``, plus ``"labelled"`` (all classes together)."""
    energy = np.asarray(energy, np.float64)
    total = energy.sum() or 1.0
    shares = {name: round(float(energy[i] / total), 4) for i, name in enumerate(CLASSES)}
    shares["unknown"] = round(float(energy[-1] / total), 4)
    shares["labelled"] = round(float(energy[:-1].sum() / total), 4)
    return shares


def package_table(stats: Sequence[SongStats]) -> dict[str, dict[str, float | int]]:
    """Per package: songs with windows, windows, failed songs, held-out songs and the labelled energy share."""
    table: dict[str, dict[str, float | int]] = {}
    for package in sorted({s.package for s in stats}):
        rows = [s for s in stats if s.package == package]
        table[package] = {
            "songs": sum(bool(s.windows) for s in rows),
            "windows": sum(s.windows for s in rows),
            "failed": sum(bool(s.error) for s in rows),
            "held_out": sum(s.held_out for s in rows),
            "labelled": label_shares(np.sum([s.label_energy for s in rows], axis=0))["labelled"],
        }
    return table
