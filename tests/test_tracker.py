"""Tracker-song training data: per-instrument renders, labels, windows, archives, shards, CLI."""

from __future__ import annotations

import ctypes.util
import struct
from pathlib import Path

import numpy as np
import pytest

from separator.classes import CLASSES
from separator.training.data import tracker
from separator.training.data.tracker import (
    LIBOPENMPT_MISSING,
    ReservedPackageError,
    TrackerError,
    TrackerRecipe,
    TrackerSong,
    build_dataset,
    choose_windows,
    find_songs,
    label_for_name,
    pack_window,
    parse_dat_archive,
)
from stemsplit.separator_cli import main

needs_libopenmpt = pytest.mark.skipif(
    ctypes.util.find_library("openmpt") is None, reason="libopenmpt not installed: apt-get install -y libopenmpt0"
)
SAMPLE_NAMES = ("kick drum", "slap bass", "lead synth")


def _waveforms(n: int = 64) -> list[np.ndarray]:
    phase = np.arange(n) / n
    return [np.sin(2 * np.pi * phase), np.sign(np.sin(2 * np.pi * phase)), 2 * phase - 1]


def _cell(sample: int, period: int = 428) -> bytes:
    return bytes([(sample & 0xF0) | (period >> 8), period & 0xFF, (sample & 0x0F) << 4, 0])


def make_mod(rows: tuple[tuple[int, int, int], ...] = ((0, 0, 1), (0, 1, 2), (16, 2, 3), (32, 0, 3))) -> bytes:
    """A 4-channel ProTracker MOD: 3 looped 8-bit waveforms, one 64-row pattern.

    ``rows`` holds (row, channel, sample) note-ons; channel 0 switches from sample 1 to 3 at row 32,
    so stems must follow instruments, not channels.
    """
    waves = [np.round(w * 100).astype(np.int8).tobytes() for w in _waveforms()]
    header = b"tiny test song".ljust(20, b"\0")
    for i in range(31):
        name, length = (SAMPLE_NAMES[i].encode(), len(waves[i]) // 2) if i < len(waves) else (b"", 0)
        header += struct.pack(">22sHBBHH", name, length, 0, 64, 0, length if length else 1)
    header += bytes([1, 127]) + bytes(128) + b"M.K."
    pattern = bytearray(64 * 4 * 4)
    for row, channel, sample in rows:
        pattern[(row * 4 + channel) * 4 : (row * 4 + channel + 1) * 4] = _cell(sample)
    return header + bytes(pattern) + b"".join(waves)


def make_dat(members: dict[str, bytes]) -> bytes:
    """A jumpnbump ``.dat`` archive: int32 count, then (12-byte name, int32 offset, int32 size) entries."""
    offset = 4 + 20 * len(members)
    table, blobs = struct.pack("<i", len(members)), b""
    for name, blob in members.items():
        table += struct.pack("<12sii", name.encode(), offset + len(blobs), len(blob))
        blobs += blob
    return table + blobs


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("kick drum", "drums"),
        ("BassDrum 2", "drums"),
        (" bassdrm2", "drums"),
        ("Bassdr", "drums"),
        ("bass dr.1", "drums"),
        ("bass drive", "bass"),
        ("bd1", "drums"),
        ("SD.wav", "drums"),
        ("hihat closed", "drums"),
        ("Hat", "drums"),
        ("chat", None),
        ("Percu4", "drums"),
        ("st-01:snare", "drums"),
        ("slap bass", "bass"),
        ("Bas03trp.wav", "bass"),
        ("dist.gtr", "guitar"),
        ("Guitar Chord", "guitar"),
        ("choir aah", "vocals"),
        ("vox2", "vocals"),
        ("Acoustic Piano", "other"),
        ("strings", "other"),
        ("cowbell", "drums"),
        ("bassoon", None),
        ("by Alexel / RealTech", None),
        ("atomic", None),
        ("bottom custom", None),
        ("override", None),
        ("", None),
        ("bass guitar", None),
    ],
)
def test_label_for_name_is_confident_or_unknown(name: str, expected: str | None) -> None:
    assert label_for_name(name) == (CLASSES.index(expected) if expected else -1)


def test_dat_archive_parser_reads_members_and_rejects_other_files() -> None:
    song = make_mod()
    members = parse_dat_archive(make_dat({"jump.mod": song, "level.pcx": b"pixels"}))
    assert members == [("jump.mod", song), ("level.pcx", b"pixels")]
    with pytest.raises(TrackerError, match="member count"):
        parse_dat_archive(b"\xff\xff\xff\x7f" + bytes(40))
    with pytest.raises(TrackerError, match="spans"):
        parse_dat_archive(struct.pack("<i12sii", 1, b"x.mod", 24, 999))


def test_find_songs_refuses_reserved_packages_and_opens_archives(tmp_path: Path) -> None:
    song = make_mod()
    (tmp_path / "good-data/usr/share/games/good").mkdir(parents=True)
    (tmp_path / "good-data/usr/share/games/good/tune.mod").write_bytes(song)
    (tmp_path / "good-data/usr/share/games/good/copy.xm").write_bytes(song)  # same bytes: deduplicated
    (tmp_path / "good-data/usr/share/games/good/levels.dat").write_bytes(make_dat({"other.mod": song + b"\0", "a.pcx": b"x"}))
    (tmp_path / "good-data/usr/share/games/good/calib.dat").write_bytes(b"not an archive")
    for reserved in ("pingus-data/usr/share/games/pingus", "misc/usr/share/games/njam"):
        (tmp_path / reserved).mkdir(parents=True)
        (tmp_path / reserved / "secret.it").write_bytes(song + b"\1")
    songs, refused = find_songs([tmp_path])
    assert sorted(s.song_id for s in songs) == ["good-data/copy.xm", "good-data/levels.dat:other.mod"]
    assert {p.name for p in refused} == {"secret.it"} and len(refused) == 2
    assert songs[1].read() == song + b"\0"
    with pytest.raises(ReservedPackageError, match="reserved package 'pingus-data'"):
        find_songs([tmp_path / "pingus-data"])
    assert find_songs([tmp_path], exclude=["*levels.dat*"])[0][0].song_id == "good-data/copy.xm"


def test_choose_windows_skips_silence_and_spreads_the_limit() -> None:
    recipe = TrackerRecipe(seconds=1.0, sample_rate=100, max_windows_per_song=None)
    mix = np.full((2, 1050), 0.1, np.float32)
    mix[:, 200:300] = 0.0
    assert choose_windows(mix, recipe) == [0, 100, 300, 400, 500, 600, 700, 800, 900]
    recipe.max_windows_per_song = 3
    assert choose_windows(mix, recipe) == [0, 500, 900]


def test_pack_window_keeps_five_loudest_and_sums_the_rest() -> None:
    rng = np.random.default_rng(0)
    gains = np.array([1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
    inst = (rng.standard_normal((8, 2, 1000)) * gains[:, None, None]).astype(np.float32)
    labels = [0, 1, -1, 3, 4, 2, 2, 2]
    names = [f"tracker:pkg/song.mod#{i + 1}:n{i}" for i in range(8)]
    window = pack_window(inst, labels, names, TrackerRecipe())
    assert window.stems.shape == (6, 2, 1000)
    assert list(window.labels) == [0, 1, -1, 3, 4, 2]  # the rest are all guitar
    assert window.sources[-1] == "tracker:pkg/song.mod#rest:6,7,8"
    assert window.present.all()
    mix = window.stems.sum(axis=0)
    assert 20 * np.log10(np.sqrt(np.mean(mix**2))) == pytest.approx(-20.0, abs=0.01)
    scale = np.sqrt(np.mean(mix**2)) / np.sqrt(np.mean(inst.sum(axis=0) ** 2))
    np.testing.assert_allclose(window.stems[0], inst[0] * scale, rtol=1e-5)
    labels[7] = -1
    assert pack_window(inst, labels, names, TrackerRecipe()).labels[-1] == -1


def test_missing_libopenmpt_names_the_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    tracker.libopenmpt.cache_clear()
    monkeypatch.setattr(tracker.ctypes.util, "find_library", lambda name: None)
    try:
        with pytest.raises(TrackerError, match="libopenmpt0"):
            tracker.libopenmpt()
    finally:
        tracker.libopenmpt.cache_clear()
    assert "apt-get install -y libopenmpt0" in LIBOPENMPT_MISSING


@needs_libopenmpt
def test_instrument_stems_sum_to_the_mix() -> None:
    song = TrackerSong(make_mod(), "tiny.mod", stereo_separation=75)
    assert song.names[:3] == list(SAMPLE_NAMES) and not song.uses_instruments
    mix = song.render()
    stems = [song.render(solo=i) for i in range(3)]
    assert mix.shape[0] == 2 and mix.dtype == np.float32 and mix.shape[1] > 44100 * 7
    assert all(s.shape == mix.shape and np.abs(s).max() > 0.01 for s in stems)
    error = mix - np.sum(stems, axis=0)
    assert 10 * np.log10(np.sum(mix**2) / np.sum(error**2)) > 70
    assert np.abs(stems[2][:, : 44100 // 2]).max() == 0  # sample 3 starts at row 16 (~1.9 s)
    song._mod_spans = None  # the libopenmpt sample-mute path, used for formats other than MOD
    muted = np.sum([song.render(solo=i) for i in range(3)], axis=0)
    assert 10 * np.log10(np.sum(mix**2) / np.sum((mix - muted) ** 2)) > 70


@needs_libopenmpt
def test_build_dataset_writes_resumable_shards(tmp_path: Path) -> None:
    (tmp_path / "src/pkg").mkdir(parents=True)
    (tmp_path / "src/pkg/tiny.mod").write_bytes(make_mod())
    songs, _ = find_songs([tmp_path / "src"])
    recipe = TrackerRecipe(seconds=1.0, max_windows_per_song=3, holdout_percent=0)
    stats = build_dataset(songs, tmp_path / "out", recipe)
    shard = tmp_path / "out/shard-00000.npz"
    with np.load(shard) as data:
        assert data["stems"].shape == (3, 6, 2, 44100) and data["stems"].dtype == np.float16
        assert data["present"].shape == (3, 6) and data["labels"].dtype == np.int8
        assert int(data["sample_rate"]) == 44100
        assert data["sources"][0, 0].startswith("tracker:pkg/tiny.mod#")
        assert set(data["labels"][data["present"]]) <= {0, 1, -1}
    assert stats[0].windows == 3 and stats[0].snr_db is not None and stats[0].snr_db > 70
    stamp = shard.stat().st_mtime_ns
    assert build_dataset(songs, tmp_path / "out", recipe)[0].windows == 3
    assert shard.stat().st_mtime_ns == stamp
    assert (tmp_path / "out/recipe.json").exists()


@needs_libopenmpt
def test_cli_tracker_data_reports_per_package(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "src/some-data").mkdir(parents=True)
    (tmp_path / "src/some-data/tiny.mod").write_bytes(make_mod())
    argv = ["tracker-data", str(tmp_path / "out"), "--modules", str(tmp_path / "src"), "--seconds", "2", "--holdout-percent", "0"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "some-data" in err and "windows" in err and "labelled" in err
    assert main(["tracker-data", str(tmp_path / "o2"), "--modules", str(tmp_path / "src/pingus-data")]) == 2


@needs_libopenmpt
def test_cli_tracker_data_into_a_folder_under_a_file_is_one_line_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "src/some-data").mkdir(parents=True)
    (tmp_path / "src/some-data/tiny.mod").write_bytes(make_mod())
    (tmp_path / "file").write_text("")
    argv = ["tracker-data", str(tmp_path / "out"), "--modules", str(tmp_path / "src"), "--val", str(tmp_path / "file/val")]
    assert main(argv) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"error: {tmp_path / 'file'}: a folder above the output folder ({tmp_path / 'file/val'}) is a file; "
        "choose another output folder with --val"
    ]
    assert not (tmp_path / "out").exists()


@needs_libopenmpt
def test_song_whose_stems_do_not_sum_to_the_mix_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg/tiny.mod").write_bytes(make_mod())
    songs, _ = find_songs([tmp_path])
    stats = build_dataset(songs, tmp_path / "out", TrackerRecipe(seconds=1.0, holdout_percent=0, min_snr_db=1000.0))
    assert stats[0].windows == 0 and stats[0].error is not None and "sum to the mix" in stats[0].error
    assert not list((tmp_path / "out").glob("*.npz")) and (tmp_path / "out/shard-00000.json").exists()


@needs_libopenmpt
def test_build_dataset_renders_in_several_processes_to_the_same_shards(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """``--jobs``: songs rendered in parallel land in the same shards, in the same order, as with one process."""
    for i in range(6):  # six different songs (a file repeated elsewhere is read once)
        (tmp_path / f"src/pkg{i % 2}-data").mkdir(parents=True, exist_ok=True)
        (tmp_path / f"src/pkg{i % 2}-data/song{i}.mod").write_bytes(make_mod(((0, i % 3, 1), (8 + 8 * i, 1, 2), (40, 2, 3))))
    (tmp_path / "src/pkg0-data/broken.mod").write_bytes(b"not a module " * 200)  # libopenmpt cannot load it
    songs, _ = find_songs([tmp_path / "src"])
    recipe = TrackerRecipe(seconds=0.5, max_windows_per_song=2, holdout_percent=30, songs_per_shard=2)
    held = [s.song_id for s in songs if tracker.is_held_out(s.song_id, 30)]
    assert len(songs) == 7 and 0 < len(held) < len(songs)
    one = build_dataset(songs, tmp_path / "one", recipe, val_out=tmp_path / "one-val")
    caplog.clear()
    two = build_dataset(songs, tmp_path / "two", recipe, val_out=tmp_path / "two-val", jobs=2)
    assert [s.song_id for s in two] == [s.song_id for s in one] and [s.windows for s in two] == [s.windows for s in one]
    assert sum(s.windows for s in one) > 0 and any(s.error for s in one)
    assert any("broken" in r.getMessage() for r in caplog.records if r.levelname == "WARNING"), "the parent logs a song that failed"
    for a, b in (("one", "two"), ("one-val", "two-val")):
        names = sorted(p.name for p in (tmp_path / a).iterdir())
        assert names == sorted(p.name for p in (tmp_path / b).iterdir()) and "shard-00000.npz" in names
        for shard in (tmp_path / a).glob("shard-*.npz"):
            with np.load(shard) as x, np.load(tmp_path / b / shard.name) as y:
                assert x.files == y.files and all(np.array_equal(x[k], y[k]) for k in x.files)
