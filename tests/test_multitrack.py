"""Real multitracks as training data: layouts, stem maps, windows and shards."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from separator.classes import CLASSES
from separator.training.data.multitrack import (
    DataLayoutError,
    StemMapError,
    detect_layout,
    label_for,
    multitrack_to_shards,
    pack_sources,
    parse_stem_map,
    prepare_training_data,
)
from stembase import audio

SR = 44100
SECONDS = 2.5  # two 1-second windows per song, the rest dropped


def tone(frequency: float, sample_rate: int = SR, channels: int = 2, seconds: float = SECONDS, level: float = 0.1) -> np.ndarray:
    """``(channels, samples)`` float32 sine with a little noise, so no two stems are alike."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    rng = np.random.default_rng(int(frequency))
    x = level * np.sin(2 * np.pi * frequency * t) + 0.01 * level * rng.standard_normal(len(t))
    return np.tile(x, (channels, 1)).astype(np.float32)


def make_musdb(root: Path, tracks: tuple[str, ...] = ("Alpha - One", "Beta - Two"), mixture_gain: float = 1.0) -> Path:
    """``root/train/<track>/{mixture,drums,bass,vocals,other}.wav`` and one test track."""
    for split, names in (("train", tracks), ("test", ("Gamma - Three",))):
        for k, track in enumerate(names):
            stems = {name: tone(110.0 * (i + 1) + k, level=0.05 * (i + 1)) for i, name in enumerate(("drums", "bass", "vocals", "other"))}
            for name, x in stems.items():
                audio.save(root / split / track / f"{name}.wav", x, SR)
            audio.save(root / split / track / "mixture.wav", np.sum(list(stems.values()), axis=0) * mixture_gain, SR)
    return root


def make_stems(root: Path) -> Path:
    """``root/<song>/<stem>.wav``: two guitars, a mono vocal, a 22.05 kHz kick, an unknown stem."""
    song = root / "Song A"
    audio.save(song / "Gtr L.wav", tone(196.0, level=0.1), SR)
    audio.save(song / "gtr R.wav", tone(247.0, level=0.08), SR)
    audio.save(song / "Vox.wav", tone(440.0, channels=1, level=0.1), SR)
    audio.save(song / "kick.wav", tone(60.0, sample_rate=22050, level=0.2), 22050)
    audio.save(song / "fx.flac", tone(1000.0, level=0.03), SR, bit_depth="24")
    audio.save(root / "Song B" / "bass.wav", tone(55.0, level=0.2), SR)
    audio.save(root / "Song B" / "keys.wav", tone(523.0, level=0.1), SR)
    return root


def load_shards(shards: list[Path]) -> dict[str, np.ndarray]:
    parts = [np.load(p) for p in shards]
    return {k: np.concatenate([d[k] for d in parts]) for k in ("stems", "present", "labels", "sources")} | {
        "sample_rate": parts[0]["sample_rate"]
    }


def window_labels(data: dict[str, np.ndarray], window: int) -> dict[str, int]:
    """``{source name: label}`` of the present sources of one window."""
    present = data["present"][window]
    return {str(s): int(label) for s, label in zip(data["sources"][window][present], data["labels"][window][present], strict=True)}


STEM_MAP = "gtr*=guitar,vox*=vocals,kick*=drums"


# ---------------------------------------------------------------- layouts


def test_detect_layout_recognises_musdb_with_or_without_train_folder(tmp_path: Path) -> None:
    root = make_musdb(tmp_path / "musdb")
    assert detect_layout(root) == "musdb"
    assert detect_layout(root / "test") == "musdb"


def test_detect_layout_recognises_a_folder_of_stems_per_song(tmp_path: Path) -> None:
    assert detect_layout(make_stems(tmp_path / "mine")) == "stems"


def test_detect_layout_recognises_shards(tmp_path: Path) -> None:
    np.savez(tmp_path / "shard-00000.npz", stems=np.zeros((1, 5, 10), np.float16))
    assert detect_layout(tmp_path) == "shards"


def test_detect_layout_names_the_folder_and_the_expected_layouts_when_nothing_matches(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no audio here")
    with pytest.raises(DataLayoutError) as err:
        detect_layout(tmp_path)
    message = str(err.value)
    assert message.startswith(f"{tmp_path}: no songs found")
    assert "shard-*.npz" in message and "mixture.wav, drums.wav" in message and "DIR/<song>/<stem>.wav" in message


def test_detect_layout_reports_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataLayoutError, match=r"nowhere: --data folder not found$"):
        detect_layout(tmp_path / "nowhere")


# ---------------------------------------------------------------- stem map


def test_parse_stem_map_keeps_order_and_lowers_case() -> None:
    assert parse_stem_map(" GTR*=Guitar, vox*=vocals,kick*=drums,") == [("gtr*", "guitar"), ("vox*", "vocals"), ("kick*", "drums")]
    assert parse_stem_map(None) == parse_stem_map("") == []


@pytest.mark.parametrize("text", ["gtr*guitar", "=guitar", "gtr*="])
def test_parse_stem_map_rejects_entries_that_are_not_pattern_equals_class(text: str) -> None:
    with pytest.raises(StemMapError) as err:
        parse_stem_map(f"vox*=vocals,{text}")
    assert str(err.value) == f'--stem-map entry {text!r} is not PATTERN=CLASS (e.g. "gtr*=guitar,vox*=vocals,kick*=drums")'


def test_parse_stem_map_names_the_valid_classes_for_an_unknown_one() -> None:
    with pytest.raises(StemMapError) as err:
        parse_stem_map("gtr*=guitr")
    assert str(err.value) == "--stem-map entry 'gtr*=guitr': unknown class 'guitr'; valid options: drums, bass, guitar, vocals, other"


@pytest.mark.parametrize(
    ("stem", "expected"),
    [("Gtr L", "guitar"), ("VOX lead", "vocals"), ("drums", "drums"), ("Bass", "bass"), ("keys", None), ("kick in", "drums")],
)
def test_label_for_uses_the_map_then_class_names_then_minus_one(stem: str, expected: str | None) -> None:
    pairs = parse_stem_map(STEM_MAP)
    assert label_for(stem, pairs) == (CLASSES.index(expected) if expected else -1)


def test_label_for_takes_the_first_matching_pattern() -> None:
    assert label_for("gtr vox", [("gtr*", "guitar"), ("*vox", "vocals")]) == CLASSES.index("guitar")
    assert label_for("drums", [("dr*", "other")]) == CLASSES.index("other")


# ---------------------------------------------------------------- packing


def test_pack_sources_keeps_the_loudest_and_leaves_out_silent_ones() -> None:
    rms = np.array([0.1, 0.5, 1e-9, 0.3])
    assert pack_sources(rms, [0, 1, 2, 3], max_sources=6) == [[1], [3], [0]]


def test_pack_sources_folds_extra_sources_into_a_kept_class_mate() -> None:
    rms = np.array([0.5, 0.4, 0.3, 0.2])
    assert pack_sources(rms, [2, 3, 1, 2], max_sources=3) == [[0, 3], [1], [2]]


def test_pack_sources_sums_the_rest_into_one_last_source() -> None:
    rms = np.array([0.5, 0.4, 0.3, 0.2, 0.1])
    assert pack_sources(rms, [0, 1, 2, 3, -1], max_sources=3) == [[0], [1], [2, 3, 4]]


# ---------------------------------------------------------------- shards


def test_musdb_windows_have_class_labels_and_sum_to_the_mixture(tmp_path: Path) -> None:
    root = make_musdb(tmp_path / "musdb")
    data = load_shards(multitrack_to_shards(root, tmp_path / "out", None, seconds=1.0, max_sources=6))
    assert data["stems"].shape == (4, 6, 2, SR) and data["stems"].dtype == np.float16
    assert data["present"].shape == data["labels"].shape == data["sources"].shape == (4, 6)
    assert data["labels"].dtype == np.int8 and int(data["sample_rate"]) == SR
    assert data["present"][:, :4].all() and not data["present"][:, 4:].any()
    assert window_labels(data, 0) == {f"musdb:Alpha - One/{name}": CLASSES.index(name) for name in ("other", "vocals", "bass", "drums")}
    assert not any("Gamma" in s for s in data["sources"].ravel())  # test/ is left for evaluation
    mixture, _ = audio.load(root / "train" / "Alpha - One" / "mixture.wav")
    for w in range(2):
        window_mix = data["stems"][w].astype(np.float32).sum(0)
        expected = mixture[:, w * SR : (w + 1) * SR]
        gain = np.sqrt(np.mean(window_mix**2) / np.mean(expected**2))
        assert 20 * np.log10(np.sqrt(np.mean(window_mix**2))) == pytest.approx(-20.0, abs=0.1)
        np.testing.assert_allclose(window_mix, expected * gain, atol=1e-3)


def test_stem_folders_are_mapped_resampled_and_kept_as_separate_sources(tmp_path: Path) -> None:
    root = make_stems(tmp_path / "mine")
    data = load_shards(multitrack_to_shards(root, tmp_path / "out", STEM_MAP, seconds=1.0, max_sources=6))
    assert data["stems"].shape == (4, 6, 2, SR)
    labels = {name.rsplit("/", 1)[1]: label for name, label in window_labels(data, 0).items()}
    guitar, vocals, drums = (CLASSES.index(c) for c in ("guitar", "vocals", "drums"))
    assert labels == {"Gtr L": guitar, "gtr R": guitar, "Vox": vocals, "kick": drums, "fx": -1}
    assert window_labels(data, 2) == {"stems:Song B/bass": CLASSES.index("bass"), "stems:Song B/keys": -1}
    slot = {str(s).rsplit("/", 1)[-1]: k for k, s in enumerate(data["sources"][0])}
    vox = data["stems"][0, slot["Vox"]].astype(np.float32)
    np.testing.assert_array_equal(vox[0], vox[1])  # the mono stem is on both channels
    kick = data["stems"][0, slot["kick"], 0].astype(np.float32)  # from 22.05 kHz: 1 s is 44100 samples of 60 Hz
    assert np.argmax(np.abs(np.fft.rfft(kick))) == 60


def test_merged_sources_still_sum_to_the_whole_window(tmp_path: Path) -> None:
    root = make_stems(tmp_path / "mine")
    data = load_shards(multitrack_to_shards(root, tmp_path / "out", STEM_MAP, seconds=1.0, max_sources=3))
    names = [str(s) for s in data["sources"][0]]
    assert data["present"][0].all()
    assert "stems:Song A/Gtr L+gtr R" in names  # the quieter guitar joins the louder one
    full = load_shards(multitrack_to_shards(root, tmp_path / "full", STEM_MAP, seconds=1.0, max_sources=6))
    np.testing.assert_allclose(data["stems"][0].astype(np.float32).sum(0), full["stems"][0].astype(np.float32).sum(0), atol=2e-3)


def test_silent_windows_are_skipped_and_short_songs_padded(tmp_path: Path) -> None:
    song = tmp_path / "mine" / "quiet"
    x = tone(300.0, seconds=2.0)
    x[:, SR:] = 0
    audio.save(song / "vocals.wav", x, SR)
    audio.save(tmp_path / "mine" / "short" / "bass.wav", tone(80.0, seconds=0.5), SR)
    data = load_shards(multitrack_to_shards(tmp_path / "mine", tmp_path / "out", None, seconds=1.0))
    assert [str(s) for s in data["sources"][:, 0]] == ["stems:quiet/vocals", "stems:short/bass"]


def test_a_mixture_that_is_not_the_sum_of_its_stems_is_warned_about(tmp_path: Path) -> None:
    root = make_musdb(tmp_path / "musdb", tracks=("Loud",), mixture_gain=2.0)
    with pytest.warns(UserWarning, match=r"mixture.wav: differs from the sum of its 4 stems by -\d+\.\d dB"):
        multitrack_to_shards(root, tmp_path / "out", None, seconds=1.0)


def test_shards_are_cached_by_their_arguments(tmp_path: Path) -> None:
    root = make_musdb(tmp_path / "musdb", tracks=("Alpha",))
    first = multitrack_to_shards(root, tmp_path / "out", None, seconds=1.0)
    stamp = [p.stat().st_mtime_ns for p in first]
    os.utime(first[0], ns=(1, 1))
    assert multitrack_to_shards(root, tmp_path / "out", None, seconds=1.0) == first
    assert first[0].stat().st_mtime_ns == 1  # reused, not rewritten
    assert (tmp_path / "out" / "recipe.json").exists()
    again = multitrack_to_shards(root, tmp_path / "out", None, seconds=0.5)
    assert np.load(again[0])["stems"].shape[-1] == SR // 2 and again[0].stat().st_mtime_ns != stamp[0]
    assert not list((tmp_path / "out").glob(".*tmp"))


def test_prepare_training_data_passes_shards_through_and_caches_multitracks(tmp_path: Path) -> None:
    np.savez(tmp_path / "shard-00000.npz", stems=np.zeros((1, 5, 10), np.float16))
    assert prepare_training_data(str(tmp_path), None, tmp_path / "cache") == tmp_path
    with pytest.raises(DataLayoutError, match="--stem-map applies to folders of multitracks"):
        prepare_training_data(str(tmp_path), "gtr*=guitar", tmp_path / "cache")
    root = make_musdb(tmp_path / "musdb", tracks=("Alpha",))
    out = prepare_training_data(str(root), None, tmp_path / "cache", seconds=1.0)
    assert out.parent == tmp_path / "cache" and out.name.startswith("musdb-")
    assert detect_layout(out) == "shards"
    assert prepare_training_data(str(root), None, tmp_path / "cache", seconds=1.0) == out
    assert prepare_training_data(str(root), "other=guitar", tmp_path / "cache", seconds=1.0) != out


def test_multitrack_to_shards_refuses_a_folder_of_shards(tmp_path: Path) -> None:
    np.savez(tmp_path / "shard-00000.npz", stems=np.zeros((1, 5, 10), np.float16))
    with pytest.raises(DataLayoutError, match=r"holds shard-\*\.npz files already"):
        multitrack_to_shards(tmp_path, tmp_path / "out", None)
