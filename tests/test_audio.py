"""Audio files: atomic writes, formats, clipping warnings, streaming blocks."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import sine

from separator import AudioLoadError, AudioWriteError
from stembase import audio as audio_io
from stembase.stem_outputs import stem_paths, stem_writers


def test_save_then_load_is_lossless_in_float(tmp_path: Path) -> None:
    audio = sine(440, 0.5, 48000, channels=2)
    audio_io.save(tmp_path / "a.wav", audio, 48000)
    back, rate = audio_io.load(tmp_path / "a.wav")
    assert rate == 48000
    np.testing.assert_array_equal(back, audio)
    assert [p.name for p in tmp_path.iterdir()] == ["a.wav"]  # no temporary left behind


def test_a_failed_write_leaves_neither_the_file_nor_a_temporary(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), audio_io.atomic_writer(tmp_path / "x.wav", 44100, 1) as f:
        f.write(np.zeros(100, np.float32))
        raise RuntimeError("killed mid-write")
    assert list(tmp_path.iterdir()) == []


def test_a_tracks_stems_take_their_names_together_only_when_every_one_is_complete(tmp_path: Path) -> None:
    targets = stem_paths(tmp_path / "song", ["vocals", "other"])
    piece = np.stack([sine(440, 0.1, 44100, channels=2)] * 2)  # (n_stems, channels, n)
    with pytest.raises(RuntimeError), stem_writers(targets, 44100, 2) as files:
        files.write(piece)
        assert all(p.name.startswith(".") for p in (tmp_path / "song").iterdir())  # hidden temporary names only
        raise RuntimeError("killed after the first piece")
    assert not (tmp_path / "song").exists()  # no stem, no temporary, and not the folder made for them
    with stem_writers(targets, 44100, 2) as files:
        files.write(piece)
        files.write(piece)
        assert not any(t.exists() for t in targets)  # none is renamed before all are done
    assert sorted(p.name for p in (tmp_path / "song").iterdir()) == ["other.wav", "vocals.wav"]
    assert audio_io.load(targets[0])[0].shape == (2, 2 * piece.shape[-1])


def test_channels_kept_in_files_of_their_own_are_joined_side_by_side(tmp_path: Path) -> None:
    left, right = sine(440, 0.5, 48000), sine(660, 0.5, 48000, channels=2)
    audio_io.save(tmp_path / "l.wav", left, 48000)
    audio_io.save(tmp_path / "r.wav", right, 48000)
    audio_io.join_channels([tmp_path / "l.wav", tmp_path / "r.wav"], tmp_path / "lr.wav", start=100, frames=1000)
    joined, rate = audio_io.load(tmp_path / "lr.wav")
    assert rate == 48000
    np.testing.assert_array_equal(joined, np.concatenate([left, right])[:, 100:1100])
    audio_io.save(tmp_path / "slow.wav", left, 44100)
    with pytest.raises(AudioLoadError, match=r"44100 Hz, but .* is 48000 Hz"):
        audio_io.join_channels([tmp_path / "l.wav", tmp_path / "slow.wav"], tmp_path / "x.wav")


def test_integer_output_that_would_clip_warns(tmp_path: Path) -> None:
    loud = sine(100, 0.1, 44100, amplitude=1.5)
    with pytest.warns(UserWarning, match=r"peak \+3\.5 dBFS clips at this bit depth; use --bit-depth 32f"):
        audio_io.save(tmp_path / "loud.wav", loud, 44100, bit_depth="16")
    audio_io.save(tmp_path / "loud32.wav", loud, 44100)  # float keeps it, no warning
    assert audio_io.load(tmp_path / "loud32.wav")[0].max() == pytest.approx(1.5, rel=1e-4)


def test_float_stems_carry_no_peak_chunk_and_integer_stems_still_warn_of_clipping(tmp_path: Path) -> None:
    loud = np.stack([sine(100, 0.1, 44100, channels=2, amplitude=1.5)] * 2)  # (n_stems, channels, n)
    float_targets = stem_paths(tmp_path / "f", ["a", "b"])
    with stem_writers(float_targets, 44100, 2) as files:
        files.write(loud)
    for target in float_targets:
        assert b"PEAK" not in target.read_bytes()[:512]  # libsndfile's optional chunk: a pass over every sample
        np.testing.assert_array_equal(audio_io.load(target)[0], loud[0])
    with pytest.warns(UserWarning) as warned:
        with stem_writers(stem_paths(tmp_path / "i", ["a", "b"]), 44100, 2, "16") as files:
            files.write(loud[:, :, :100])
            files.write(loud[:, :, 100:])
    assert [str(w.message).split("/i/")[1] for w in warned] == [
        f"{stem}.wav: peak +3.5 dBFS clips at this bit depth; use --bit-depth 32f to keep it" for stem in "ab"
    ]


def test_stems_laid_out_samples_first_are_written_as_they_are(tmp_path: Path) -> None:
    interleaved = np.ascontiguousarray(np.stack([sine(440, 0.1, 44100, channels=2)] * 2).transpose(0, 2, 1))
    targets = stem_paths(tmp_path, ["a", "b"])
    with stem_writers(targets, 44100, 2) as files:
        files.write(interleaved.transpose(0, 2, 1))  # (n_stems, channels, n), samples first in memory
    np.testing.assert_array_equal(audio_io.load(targets[1])[0], interleaved[1].T)


@pytest.mark.parametrize(
    "name,depth,message",
    [
        ("a.mp4", "32f", "unsupported output format 'mp4'"),
        ("a.wav", "12", "unsupported bit depth '12'"),
        ("a.flac", "32f", "FLAC stores integer samples only"),
    ],
)
def test_bad_output_formats_are_explained(tmp_path: Path, name: str, depth: str, message: str) -> None:
    with pytest.raises(AudioWriteError, match=message):
        audio_io.save(tmp_path / name, np.zeros((1, 10), np.float32), 44100, depth)


def test_blocks_cover_the_file_with_overlap(tmp_path: Path) -> None:
    audio = np.arange(10000, dtype=np.float32)[None] / 10000
    audio_io.save(tmp_path / "ramp.wav", audio, 8000)
    parts = list(audio_io.blocks(tmp_path / "ramp.wav", 3000, 500))
    assert [p.shape[-1] for p in parts] == [3500, 3500, 3500, 1000]
    np.testing.assert_array_equal(parts[1][0, :10], audio[0, 3000:3010])


def test_directory_is_not_audio(tmp_path: Path) -> None:
    with pytest.raises(AudioLoadError, match="is a directory, not an audio file"):
        audio_io.load(tmp_path)


def test_written_files_get_the_usual_permissions(tmp_path: Path) -> None:
    import os

    mask = os.umask(0o022)
    try:
        audio_io.save(tmp_path / "a.wav", np.zeros((1, 10), np.float32), 44100)
    finally:
        os.umask(mask)
    assert (tmp_path / "a.wav").stat().st_mode & 0o777 == 0o644


def _in_another_process(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh Python (the project importable), as a second split or batch worker would."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], check=False, capture_output=True, text=True, timeout=120)


def test_a_second_writer_of_the_same_output_leaves_the_first_writers_temporary_file_alone(tmp_path: Path) -> None:
    """Two splits writing one output at once both finish; the later rename wins and nothing is half-written."""
    target = tmp_path / "drums.wav"
    first = sine(220, 0.2, 44100, channels=2)
    with audio_io.part_writer(target, 44100, 2) as part:
        part.file.write(first.T)
        other = _in_another_process(
            f"""
            import numpy as np
            from stembase import audio
            audio.save({str(target)!r}, np.full((2, 500), 0.25, np.float32), 44100)
            """
        )
        assert other.returncode == 0, other.stderr
        assert part.temporary.exists(), "the second writer swept the first one's file while it was being written"
        assert audio_io.sweep_parts(target) == []  # a live writer's file is never taken for a killed one's
    assert audio_io.load(target)[0].shape == (2, 500)  # the second writer's, complete
    part.commit()
    back, _ = audio_io.load(target)
    np.testing.assert_array_equal(back, first)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drums.wav"]


def test_a_killed_writers_temporary_file_is_swept_by_the_next_writer(tmp_path: Path) -> None:
    target = tmp_path / "bass.wav"
    killed = _in_another_process(
        f"""
        import os, signal
        import numpy as np
        from stembase import audio
        with audio.part_writer({str(target)!r}, 44100, 1) as part:
            part.file.write(np.zeros(1000, np.float32))
            part.file.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    assert killed.returncode == -signal.SIGKILL
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and re.fullmatch(r"\.bass\.[a-z0-9_]{8}\.part\.wav", left[0]), left
    audio_io.save(target, np.zeros((1, 10), np.float32), 44100)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bass.wav"]


def test_the_temporary_files_lock_is_let_go_on_commit_on_discard_and_on_an_error(tmp_path: Path) -> None:
    with audio_io.part_writer(tmp_path / "a.wav", 44100, 1) as kept:
        pass
    assert kept.lock is not None
    kept.commit()
    assert kept.lock is None
    with audio_io.part_writer(tmp_path / "b.wav", 44100, 1) as dropped:
        pass
    dropped.discard()
    assert dropped.lock is None and not dropped.temporary.exists()
    with pytest.raises(RuntimeError), audio_io.part_writer(tmp_path / "c.wav", 44100, 1) as failed:
        raise RuntimeError("an error mid-file")
    assert failed.lock is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]
