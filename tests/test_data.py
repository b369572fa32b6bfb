"""The training-data generator is reproducible and makes what it claims."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pytest

from separator.classes import CLASSES
from separator.training.data.compose import compose, to_midi_file
from separator.training.data.make import Recipe, make_dataset, make_song
from separator.training.data.mix import MAX_SOURCES, UNKNOWN, StemBank
from separator.training.data.render import bundled_soundfont, discover_soundfonts


@pytest.fixture(scope="module")
def recipe() -> Recipe:
    return Recipe(seed=7, seconds=2.0, soundfonts=[bundled_soundfont() or ""], use_espeak=False)


def test_compose_writes_one_playable_midi_track_per_class(tmp_path: Path) -> None:
    song = compose(np.random.default_rng(0), bars=2)
    assert set(song.tracks) == set(CLASSES)
    for name, track in song.tracks.items():
        notes = [m for m in track if m.type == "note_on" and m.velocity > 0]
        assert notes, f"{name} has no notes"
    drum_channels = {m.channel for m in song.tracks["drums"] if m.type == "note_on"}
    assert drum_channels == {9}
    path = tmp_path / "song.mid"
    to_midi_file(song).save(path)
    assert len(mido.MidiFile(path).tracks) == 1 + len(CLASSES)


def test_same_seed_same_song_and_another_seed_another(recipe: Recipe) -> None:
    a, present_a = make_song(recipe, 3)
    b, present_b = make_song(recipe, 3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(present_a, present_b)
    c, _ = make_song(recipe, 4)
    assert not np.array_equal(a, c)


def test_songs_are_stereo_stems_with_silence_only_where_absent(recipe: Recipe) -> None:
    for index in range(6):
        stems, present = make_song(recipe, index)
        assert stems.shape == (len(CLASSES), 2, int(recipe.seconds * recipe.sample_rate))
        assert present.sum() >= 1
        energy = np.sqrt(np.mean(stems**2, axis=(1, 2)))
        assert np.all(energy[~present] == 0)
        assert np.all(energy[present] > 1e-4)
        assert np.isfinite(stems).all()


def test_make_dataset_is_resumable_and_loads_as_a_stem_bank(recipe: Recipe, tmp_path: Path) -> None:
    shards = make_dataset(tmp_path, 4, recipe, shard_size=2)
    assert [p.name for p in shards] == ["shard-00000.npz", "shard-00001.npz"]
    stamp = shards[0].stat().st_mtime_ns
    make_dataset(tmp_path, 4, recipe, shard_size=2)
    assert shards[0].stat().st_mtime_ns == stamp  # kept, not remade
    bank = StemBank(tmp_path)
    assert len(bank) == 4
    batch = bank.draw(np.random.default_rng(0), 3, 22050)
    assert batch.sources.shape == (3, MAX_SOURCES, 2, 22050) and batch.sources.dtype == np.float32
    audible = np.abs(batch.sources).max(axis=(2, 3)) > 0
    assert all(row.sum() >= 2 for row in audible)
    assert np.all(batch.labels[audible] >= 0), "generated songs name every source"
    assert np.all(batch.labels[~audible] == UNKNOWN)


def _shard(path: Path, stems: np.ndarray, present: np.ndarray, labels: np.ndarray | None = None) -> None:
    extra = {} if labels is None else {"labels": labels.astype(np.int8)}
    np.savez(path, stems=stems.astype(np.float16), present=present, sample_rate=8000, **extra)


def test_stem_bank_reads_old_mono_shards_and_multi_source_shards_with_unknown_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    _shard(tmp_path / "old" / "shard-00000.npz", rng.standard_normal((2, 5, 8000)) * 0.1, np.ones((2, 5), bool))
    tracker_labels = np.array([[0, 1, -1, -1, -1, -1]] * 3)
    _shard(tmp_path / "new" / "shard-00000.npz", rng.standard_normal((3, 6, 2, 8000)) * 0.1, np.ones((3, 6), bool), tracker_labels)
    old_only = StemBank(tmp_path / "old")
    batch = old_only.draw(np.random.default_rng(0), 4, 4000)
    np.testing.assert_array_equal(batch.sources[:, :, 0], batch.sources[:, :, 1])  # mono sources play on both channels
    new_only = StemBank(
        tmp_path / "new",
    ).draw(np.random.default_rng(0), 8, 4000, remix=0.0)
    audible = np.abs(new_only.sources).max(axis=(2, 3)) > 0
    assert audible.sum(1).min() == 6 and sorted(new_only.labels[0].tolist()) == [-1, -1, -1, -1, 0, 1]
    both = StemBank(f"{tmp_path / 'old'},{tmp_path / 'new'}", weights=[1, 0])
    assert len(both) == 5
    assert np.all(both.draw(np.random.default_rng(0), 8, 4000, remix=0.0).labels[:, 5] == UNKNOWN), "weight 0: never drawn"


def test_stem_bank_weights_must_match_its_folders(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one non-negative weight per data folder"):
        StemBank(f"{tmp_path},{tmp_path}", weights=[1.0])


def test_evaluation_soundfonts_are_never_used_for_training() -> None:
    assert not any("musescore" in path.lower() for path in discover_soundfonts())
