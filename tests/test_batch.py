"""Batch runs: inputs, output layout, resume, failures, atomic writes, parallel workers, progress."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile
from plugin_host_fixtures import SR, OracleSeparator, mixture, noise, song, write

from batch_runner import EngineError
from plugin_host import BatchError, Chain, expand_inputs, render_file, run_batch
from plugin_host.batch import Progress
from separator import Separator
from stembase import audio as audio_io


def gain(db: float = -6.0) -> Chain:
    return Chain.from_dict({"format": 1, "name": "trim", "tail_seconds": 0, "chain": [{"plugin": "Gain", "params": {"gain_db": db}}]})


@pytest.fixture
def songs(tmp_path: Path) -> Path:
    """``songs/a.wav``, ``songs/b.flac``, ``songs/live/c.wav`` (mono), a hidden file and a text file."""
    root = tmp_path / "songs"
    write(root / "a.wav", noise(0.5, 2, seed=1))
    write(root / "b.flac", noise(0.5, 2, seed=2))
    write(root / "live" / "c.wav", noise(0.5, 1, seed=3))
    write(root / ".a.part.wav", noise(0.1, 2))
    (root / "notes.txt").write_text("not audio")
    return root


def test_expand_inputs_takes_files_folders_recursively_and_globs(songs: Path, tmp_path: Path) -> None:
    assert expand_inputs([songs]) == [songs / "a.wav", songs / "b.flac", songs / "live" / "c.wav"]
    assert expand_inputs([str(songs / "*.wav"), songs / "a.wav"]) == [songs / "a.wav"]  # no repeats
    assert expand_inputs([str(songs / "**" / "*.wav")]) == [songs / "a.wav", songs / "live" / "c.wav"]
    assert expand_inputs([tmp_path / "missing.wav", str(tmp_path / "*.mp3")]) == [tmp_path / "missing.wav", tmp_path / "*.mp3"]


def test_mixed_outputs_mirror_the_input_folders(songs: Path, tmp_path: Path) -> None:
    report = run_batch(gain(), [songs], tmp_path / "out")
    assert [r.status for r in report.results] == ["done"] * 3
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.*")) == ["a.wav", "b.wav", "live/c.wav"]
    out, rate = audio_io.load(tmp_path / "out" / "live" / "c.wav")
    src, _ = audio_io.load(songs / "live" / "c.wav")
    assert rate == SR and out.shape == src.shape
    np.testing.assert_allclose(out, src * 10 ** (-6 / 20), atol=1e-6)
    assert report.audio_seconds == pytest.approx(1.5)
    assert report.realtime_factor > 1


def test_written_stems_go_to_a_folder_per_track(tmp_path: Path) -> None:
    write(tmp_path / "in" / "song.wav", mixture(0))
    oracle = OracleSeparator([song(0)])
    report = run_batch("stems", [tmp_path / "in"], tmp_path / "out", separator=oracle)
    stems = ["drums", "bass", "guitar", "vocals", "other"]
    assert report.results[0].outputs == [tmp_path / "out" / "song" / f"{s}.wav" for s in stems]
    for name in stems:
        np.testing.assert_array_equal(audio_io.load(tmp_path / "out" / "song" / f"{name}.wav")[0], song(0)[name])


def test_split_output_both_writes_the_mix_and_the_stems(tmp_path: Path) -> None:
    write(tmp_path / "song.wav", mixture(0))
    chain = Chain.from_dict(
        {"format": 1, "chain": [{"split": {"stems": ["vocals"], "output": "both", "routes": {"vocals": {"mute": True}}}}]}
    )
    report = run_batch(chain, [tmp_path / "song.wav"], tmp_path / "out", separator=OracleSeparator([song(0)]))
    assert report.results[0].outputs == [
        tmp_path / "out" / "song.wav",
        tmp_path / "out" / "song" / "other.wav",
    ]  # a muted stem is not written


def test_a_failing_file_is_reported_and_the_batch_goes_on(songs: Path, tmp_path: Path) -> None:
    (songs / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    report = run_batch(gain(), [songs, tmp_path / "missing.wav"], tmp_path / "out", jobs=2)
    by_name = {r.input.name: r for r in report.results}
    assert by_name["broken.wav"].status == "failed"
    assert str(by_name["broken.wav"].error).startswith(f"{songs / 'broken.wav'}: not a readable audio file")
    assert by_name["missing.wav"].error == f"{tmp_path / 'missing.wav'}: file not found"
    assert [by_name[n].status for n in ("a.wav", "b.flac", "c.wav")] == ["done"] * 3
    assert not report.ok and len(report.failed) == 2
    assert not (tmp_path / "out" / "broken.wav").exists()


def test_a_file_the_separator_refuses_fails_alone(tmp_path: Path) -> None:
    write(tmp_path / "noise.wav", noise(0.2, 2))
    write(tmp_path / "song.wav", mixture(0))
    chain = Chain.from_dict({"format": 1, "chain": [{"split": {"stems": ["vocals"]}}]})
    report = run_batch(chain, [tmp_path / "noise.wav", tmp_path / "song.wav"], tmp_path / "out", separator=OracleSeparator([song(0)]))
    assert [r.status for r in report.results] == ["failed", "done"]
    assert report.results[0].error == "the oracle knows only the generated test songs, in named mode"


def test_existing_outputs_fail_unless_told_to_skip_or_overwrite(songs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_batch(gain(), [songs / "a.wav"], out)
    again = run_batch(gain(), [songs / "a.wav"], out)
    assert again.results[0].status == "failed"
    assert again.results[0].error == f"{out / 'a.wav'}: output exists; use --skip-existing to keep it or --overwrite to replace it"
    louder = run_batch(gain(0.0), [songs / "a.wav"], out, overwrite=True)
    assert louder.results[0].status == "done"
    np.testing.assert_allclose(audio_io.load(out / "a.wav")[0], audio_io.load(songs / "a.wav")[0], atol=1e-7)


def test_skip_existing_resumes_an_interrupted_batch(songs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_batch(gain(), [songs], out)
    (out / "b.wav").unlink()  # "interrupted" before b was finished: its half-written temp file was left behind
    (out / ".b.abc123.part.wav").write_bytes(b"half")
    kept = (out / "a.wav").stat().st_mtime_ns
    report = run_batch(gain(), [songs], out, skip_existing=True)
    assert [(r.input.name, r.status) for r in report.results] == [("a.wav", "skipped"), ("b.flac", "done"), ("c.wav", "skipped")]
    assert (out / "a.wav").stat().st_mtime_ns == kept
    assert (out / "b.wav").exists()
    assert report.results[0].outputs == [out / "a.wav"]


def test_a_stems_track_is_redone_when_one_of_its_stems_is_missing(tmp_path: Path) -> None:
    write(tmp_path / "song.wav", mixture(0))
    oracle = OracleSeparator([song(0)])
    run_batch("stems", [tmp_path / "song.wav"], tmp_path / "out", separator=oracle)
    (tmp_path / "out" / "song" / "bass.wav").unlink()
    report = run_batch("stems", [tmp_path / "song.wav"], tmp_path / "out", skip_existing=True, separator=oracle)
    assert report.results[0].status == "done"
    assert (tmp_path / "out" / "song" / "bass.wav").exists()


def test_inputs_are_never_overwritten(songs: Path) -> None:
    before = (songs / "a.wav").read_bytes()
    report = run_batch(gain(), [songs / "a.wav"], songs, overwrite=True)
    assert report.results[0].status == "failed"
    assert report.results[0].error == f"{songs / 'a.wav'}: output would overwrite an input; choose another output folder"
    assert (songs / "a.wav").read_bytes() == before
    with pytest.raises(audio_io.AudioWriteError, match="output would overwrite an input"):
        render_file(gain(), songs / "a.wav", songs / "a.wav")


def test_outputs_inside_an_input_folder_are_not_taken_as_inputs_on_the_next_run(songs: Path) -> None:
    run_batch(gain(), [songs], songs / "processed")
    report = run_batch(gain(), [songs], songs / "processed", skip_existing=True)
    assert len(report.results) == 3 and {r.status for r in report.results} == {"skipped"}


def test_two_inputs_with_the_same_name_do_not_overwrite_each_other(tmp_path: Path) -> None:
    write(tmp_path / "x" / "take.wav", noise(0.2))
    write(tmp_path / "y" / "take.wav", noise(0.2, seed=5))
    report = run_batch(gain(), [tmp_path / "x" / "take.wav", tmp_path / "y" / "take.wav"], tmp_path / "out")
    assert [r.status for r in report.results] == ["done", "done"]
    assert [r.outputs for r in report.results] == [[tmp_path / "out" / "x" / "take.wav"], [tmp_path / "out" / "y" / "take.wav"]]


def test_a_killed_write_leaves_no_file_under_the_real_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "in.wav", noise(4.0))
    chain = gain()
    original = chain.stream

    def dies_midway(blocks: Iterable[np.ndarray], sample_rate: float) -> Iterator[np.ndarray]:
        for i, block in enumerate(original(blocks, sample_rate)):
            if i == 1:
                raise KeyboardInterrupt  # the user pressed Ctrl-C during the second block
            yield block

    monkeypatch.setattr(chain, "stream", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        render_file(chain, tmp_path / "in.wav", tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nor the folder made for it


@pytest.mark.parametrize("ext", ["wav", "flac"])
def test_formats_and_bit_depths(songs: Path, tmp_path: Path, ext: str) -> None:
    report = run_batch(gain(), [songs / "a.wav"], tmp_path / "out", ext=ext, bit_depth="16")
    assert report.results[0].outputs == [tmp_path / "out" / f"a.{ext}"]
    assert soundfile.info(str(tmp_path / "out" / f"a.{ext}")).subtype == "PCM_16"


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"jobs": 0}, EngineError, "jobs must be a whole number of at least 1, got 0"),
        ({"skip_existing": True, "overwrite": True}, EngineError, "skip_existing and overwrite contradict each other"),
        ({"engine": "spark"}, EngineError, "unknown engine 'spark'. Valid options: local, ray"),
        ({"ext": "mp3"}, BatchError, "unsupported output format 'mp3'. Valid options: wav, flac"),
        ({"ext": "flac", "bit_depth": "32f"}, BatchError, "FLAC stores integer samples only; use bit depth 16 or 24"),
        ({"bit_depth": "8"}, BatchError, "unsupported bit depth '8'. Valid options: 16, 24, 32f"),
    ],
)
def test_bad_options_are_refused_before_any_work(
    songs: Path, tmp_path: Path, kwargs: dict[str, object], error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=text.replace("(", r"\(")):
        run_batch(gain(), [songs], tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_no_audio_files_at_all(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(BatchError, match="no audio files found in: "):
        run_batch(gain(), [tmp_path / "empty"], tmp_path / "out")


def test_parallel_workers_write_the_same_files_as_one_worker(songs: Path, tmp_path: Path) -> None:
    chain = Chain.from_preset("master-bus")
    one = run_batch(chain, [songs], tmp_path / "one", jobs=1)
    two = run_batch(chain, [songs], tmp_path / "two", jobs=2)
    assert one.jobs == 1 and two.jobs == 2
    for a, b in zip(one.results, two.results, strict=True):
        np.testing.assert_array_equal(audio_io.load(a.outputs[0])[0], audio_io.load(b.outputs[0])[0])


def test_each_worker_gets_its_own_chain_and_loads_the_model_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(4):
        write(tmp_path / "in" / f"s{i}.wav", mixture(0))
    loads: list[str] = []

    def from_pretrained(*args: object, **kwargs: object) -> OracleSeparator:
        loads.append(threading.current_thread().name)
        return OracleSeparator([song(0)])

    monkeypatch.setattr(Separator, "from_pretrained", staticmethod(from_pretrained))
    report = run_batch("karaoke", [tmp_path / "in"], tmp_path / "out", jobs=2)
    assert [r.status for r in report.results] == ["done"] * 4
    assert 1 <= len(loads) <= 2  # once per worker that got a file, never once per file
    assert len(set(loads)) == len(loads)  # each in its own worker thread


def test_progress_reports_audio_and_every_file_once(songs: Path, tmp_path: Path) -> None:
    events: list[Progress] = []
    run_batch(gain(), [songs, tmp_path / "missing.wav"], tmp_path / "out", jobs=2, progress=events.append)
    finished = [e.result.input.name for e in events if e.result is not None]
    assert sorted(finished) == ["a.wav", "b.flac", "c.wav", "missing.wav"]
    assert sum(e.audio_seconds for e in events if e.result is None) == pytest.approx(1.5)


def test_render_file_to_a_named_file_or_a_folder(songs: Path, tmp_path: Path) -> None:
    assert render_file(gain(), songs / "a.wav", tmp_path / "trimmed.flac") == [tmp_path / "trimmed.flac"]
    assert render_file(gain(), songs / "a.wav", tmp_path / "dir", ext="flac") == [tmp_path / "dir" / "a.flac"]
    seconds: list[float] = []
    render_file(gain(), songs / "a.wav", tmp_path / "again", progress=seconds.append)
    assert sum(seconds) == pytest.approx(0.5)
    assert os.listdir(tmp_path / "again") == ["a.wav"]


def test_a_preset_whose_stems_are_all_muted_fails_with_a_reason(tmp_path: Path) -> None:
    write(tmp_path / "song.wav", mixture(0))
    chain = Chain.from_preset("stems", separator=OracleSeparator([song(0)]))
    for stem in chain.stem_names():
        chain.set_stem(stem, mute=True)
    report = run_batch(chain, [tmp_path / "song.wav"], tmp_path / "out")
    assert report.results[0].error == "preset 'stems' writes no file: every stem it would write is muted (or another is soloed)"
