"""``separator split`` on real files: layout, formats, and every kind of bad input."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import generated_song, sine

from separator.separate import Separator
from stembase import audio as audio_io
from stemsplit.separator_cli import main


@pytest.fixture(scope="module")
def song_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("in") / "song.wav"
    stems, _ = generated_song(1, seconds=3.0)
    audio_io.save(path, stems.sum(0), 44100)
    return path


def split(*args: str | Path) -> int:
    return main(["split", "-q", *map(str, args)])


def test_named_split_writes_every_stem_next_to_nothing_else(song_file: Path, tmp_path: Path) -> None:
    before = song_file.read_bytes()
    assert split(song_file, "-o", tmp_path) == 0
    folder = tmp_path / "song"
    assert sorted(p.name for p in folder.iterdir()) == ["bass.wav", "drums.wav", "guitar.wav", "other.wav", "vocals.wav"]
    mixture, rate = audio_io.load(song_file)
    stems = [audio_io.load(p)[0] for p in sorted(folder.iterdir())]
    assert all(s.shape == mixture.shape for s in stems) and rate == 44100
    assert sf.info(str(folder / "drums.wav")).subtype == "FLOAT"
    np.testing.assert_allclose(sum(stems), mixture, atol=1e-5)
    assert song_file.read_bytes() == before


def test_blind_split_writes_k_sources(song_file: Path, tmp_path: Path) -> None:
    assert split(song_file, "-o", tmp_path, "--clusters", "3") == 0
    assert sorted(p.name for p in (tmp_path / "song").iterdir()) == ["source1.wav", "source2.wav", "source3.wav"]


@pytest.mark.parametrize(
    "fmt,depth,subtype", [("wav", "16", "PCM_16"), ("wav", "24", "PCM_24"), ("flac", "16", "PCM_16"), ("flac", None, "PCM_24")]
)
def test_format_and_bit_depth(song_file: Path, tmp_path: Path, fmt: str, depth: str | None, subtype: str) -> None:
    extra = ["--bit-depth", depth] if depth else []
    assert split(song_file, "-o", tmp_path, "--stems", "vocals", "--format", fmt, *extra) == 0
    written = sorted((tmp_path / "song").iterdir())
    assert [p.name for p in written] == [f"other.{fmt}", f"vocals.{fmt}"]
    assert sf.info(str(written[0])).subtype == subtype


def test_folders_are_searched_and_one_bad_file_does_not_stop_the_rest(
    song_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "inputs"
    (inputs / "sub").mkdir(parents=True)
    (inputs / "sub" / "a.wav").write_bytes(song_file.read_bytes())
    (inputs / "broken.wav").write_bytes(b"RIFF0000WAVEjunk")
    code = split(inputs, "-o", tmp_path / "out", "--stems", "drums")
    assert code == 1
    assert sorted(p.name for p in (tmp_path / "out" / "sub" / "a").iterdir()) == ["drums.wav", "other.wav"]
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {inputs / 'broken.wav'}: not a readable audio file" + err[0].split("not a readable audio file")[1]]


def _text(path: Path) -> Path:
    path.write_text("not audio")
    return path


def _write(path: Path, audio: np.ndarray, rate: int, subtype: str = "FLOAT") -> Path:
    sf.write(str(path), audio.T, rate, subtype=subtype)
    return path


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda d: d / "missing.wav", "missing.wav: file not found"),
        (lambda d: _text(d / "text.wav"), "text.wav: not a readable audio file"),
        (lambda d: _write(d / "empty.wav", np.zeros((2, 0), np.float32), 44100), "empty.wav: contains no audio (0 samples)"),
        (lambda d: _write(d / "nan.wav", np.full((2, 1000), np.nan, np.float32), 44100), "nan.wav: contains NaN or infinite samples"),
    ],
)
def test_bad_inputs_get_one_line_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], make, message: str) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path)
    assert split(path, "-o", tmp_path / "out") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert not (tmp_path / "out" / path.stem).exists() or not any((tmp_path / "out" / path.stem).iterdir())


def test_truncated_file_is_reported_and_leaves_no_half_written_stems(
    song_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = song_file.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])
    assert split(cut, "-o", tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert "cut.wav: truncated: header promises" in err
    leftovers = list((tmp_path / "out").rglob("*")) if (tmp_path / "out").exists() else []
    assert [p for p in leftovers if p.is_file()] == []


@pytest.mark.parametrize("rate,channels", [(8000, 1), (96000, 2), (44100, 6)])
def test_unusual_rates_and_channel_counts_keep_their_format(tmp_path: Path, rate: int, channels: int) -> None:
    path = _write(tmp_path / "odd.wav", sine(440, 1.0, rate, channels), rate, "PCM_16")
    assert split(path, "-o", tmp_path, "--stems", "bass") == 0
    info = audio_io.info(tmp_path / "odd" / "bass.wav")
    assert (info.sample_rate, info.channels, info.frames) == (rate, channels, rate)


def test_all_silent_input_gives_silent_stems_without_nan(tmp_path: Path) -> None:
    path = _write(tmp_path / "quiet.wav", np.zeros((2, 22050), np.float32), 44100)
    assert split(path, "-o", tmp_path, "--clusters", "2") == 0
    for stem in (tmp_path / "quiet").iterdir():
        audio, _ = audio_io.load(stem)
        assert np.isfinite(audio).all() and np.abs(audio).max() == 0


@pytest.mark.parametrize(
    "args,message",
    [
        (["--stems", "kazoo"], "unknown stem 'kazoo'; valid options: drums, bass"),
        (["--clusters", "0"], "clusters must be an integer between 1 and 16"),
    ],
)
def test_bad_arguments_fail_before_any_work(
    song_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert split(song_file, "-o", tmp_path, *args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "song").exists()


def test_an_output_that_would_overwrite_the_input_is_refused(tmp_path: Path, song_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    victim = tmp_path / "vocals" / "vocals.wav"  # its vocals stem would be OUT/vocals/vocals.wav
    victim.parent.mkdir()
    victim.write_bytes(song_file.read_bytes())
    assert split(victim, "-o", tmp_path, "--stems", "vocals") == 1
    assert "output would overwrite an input" in capsys.readouterr().err
    assert victim.read_bytes() == song_file.read_bytes()


def test_a_stem_that_clips_at_an_integer_bit_depth_is_warned_about_and_32f_keeps_it(tmp_path: Path) -> None:
    """The CLI prints the warning as one ``warning: <file>: ...`` line; pytest collects it instead."""
    loud = tmp_path / "loud.wav"
    audio_io.save(loud, sine(110.0, 1.0, 44100, channels=2, amplitude=1.8), 44100, bit_depth="32f")
    with pytest.warns(UserWarning, match=r"int/loud/source1\.wav: peak \+5\.1 dBFS clips at this bit depth; use --bit-depth 32f"):
        assert split(loud, "-o", tmp_path / "int", "--clusters", "1", "--bit-depth", "16") == 0  # one source: the whole mix
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert split(loud, "-o", tmp_path / "float", "--clusters", "1") == 0
    assert not [w for w in caught if "clips" in str(w.message)]
    assert float(np.abs(audio_io.load(tmp_path / "float" / "loud" / "source1.wav")[0]).max()) > 1.0


def test_start_and_length_split_the_same_range_of_every_input(song_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    short = tmp_path / "short.wav"
    audio_io.save(short, audio_io.load(song_file)[0][:, :44100], 44100)  # 1 s: the range does not fit
    argv = ["split", str(song_file), str(short), "-o", str(tmp_path / "out"), "--stems", "vocals", "--start", "0.5", "--length", "1.25"]
    code = main(argv)
    mixture = audio_io.load(song_file)[0][:, 22050 : 22050 + 55125]
    stems = [audio_io.load(tmp_path / "out" / "song" / f"{name}.wav")[0] for name in ("vocals", "other")]
    assert all(s.shape == mixture.shape for s in stems)
    np.testing.assert_allclose(sum(stems), mixture, atol=1e-5)
    out, err = capsys.readouterr()
    assert code == 1 and not (tmp_path / "out" / "short").exists()
    assert [line for line in err.splitlines() if line.startswith("error")] == [
        f"error: {short}: the range 0.5 s + 1.25 s ends after the end of the file (1.000 s long); "
        "use a length of at most 0.500 s, or none to split to the end"
    ]
    assert [line.split()[:3] for line in out.splitlines() if line.split()[:1] == ["done"]] == [["done", "1", "0:01.2"]]  # the range


def test_start_and_length_are_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["split", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--start S split only from S seconds on" in help_text and "--length L split only L seconds" in help_text


def test_split_help_lists_at_most_twenty_options_and_no_tuning_weight(capsys) -> None:  # type: ignore[no-untyped-def]
    """The options a user decides stay; the split settings live in the model file (``--settings FILE`` for experts)."""
    from separator.settings import names
    from stemsplit.separator_cli import get_parser

    with pytest.raises(SystemExit):
        get_parser().parse_args(["split", "--help"])
    text = capsys.readouterr().out
    options = {word.rstrip(",") for line in text.splitlines() for word in line.split() if word.startswith("-")}
    flags = {o.split("=")[0] for o in options if not o.startswith("---")}
    listed = [line for line in text.splitlines() if line.lstrip().startswith("-")]
    assert len(listed) <= 20, listed
    assert not {"--" + n.replace("_", "-") for n in names()} & flags
    assert {"--settings", "--threads", "--stems", "--clusters", "--model", "--device"} <= flags


COMMANDS_THAT_SPLIT = [["split", "x.wav", "-o", "out"], ["evaluate", "--data", "d"], ["export", "c.pt"], ["inspect", "x.wav"]]


@pytest.mark.parametrize("command", COMMANDS_THAT_SPLIT)
def test_a_settings_file_reaches_the_separator_from_every_command_that_splits(tmp_path, command) -> None:  # type: ignore[no-untyped-def]
    from stemsplit.separator_cli import _settings_overrides, get_parser

    path = tmp_path / "s.toml"
    path.write_text('pan = 0.25\nnaming = "masks"\nextra_clusters = 2\n')
    overrides = _settings_overrides(get_parser().parse_args([*command, "--settings", str(path)]))
    assert overrides == {"pan": 0.25, "naming": "masks", "extra_clusters": 2}


def test_an_interrupted_split_leaves_no_empty_track_folder(
    song_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(self: Separator, reader: object, plan, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        yield np.zeros((len(plan.names), 2, 1000), np.float32)  # the stems' files are open and written to
        raise KeyboardInterrupt

    monkeypatch.setattr(Separator, "stream", interrupted)
    out = tmp_path / "out"
    assert split(song_file, "-o", out / "album") == 130
    assert capsys.readouterr().err.strip() == "separator: interrupted; no partial stems were left behind"
    assert not out.exists(), f"left behind: {sorted(out.rglob('*'))}"


def test_the_next_run_and_skip_existing_sweep_the_tracks_stale_temporary_files_and_nothing_else(song_file: Path, tmp_path: Path) -> None:
    """A worker killed mid-track leaves ``.<stem>.<8 random characters>.part.wav`` files in the track's folder."""
    track = tmp_path / "out" / "song"
    stale = [".drums.k1ll3d_x.part.wav", ".other.k1ll3d_x.part.wav"]
    decoys = [".drums.abcd1234.part.flac", ".vocals.abcd1234.part.wav", ".drums.notes.part.wav", "notes.txt"]
    for name in stale + decoys:
        (track / name).parent.mkdir(parents=True, exist_ok=True)
        (track / name).write_bytes(b"half a stem")
    assert split(song_file, "-o", tmp_path / "out", "--stems", "drums") == 0
    assert sorted(p.name for p in track.iterdir()) == sorted(["drums.wav", "other.wav", *decoys])
    (track / stale[0]).write_bytes(b"left by a run killed after this track was done")
    assert split(song_file, "-o", tmp_path / "out", "--stems", "drums", "--skip-existing") == 0
    assert sorted(p.name for p in track.iterdir()) == sorted(["drums.wav", "other.wav", *decoys])
