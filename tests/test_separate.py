"""Separator API: shapes, modes, stems adding back to the mixture, chunking."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import generated_song, watch_network_runs

from separator import SeparationError, Separator
from separator.classes import CLASSES
from separator.training.metrics import best_permutation


@pytest.fixture(scope="module")
def mixture() -> np.ndarray:
    stems, _ = generated_song(0)
    return stems.sum(0)


def test_named_mode_returns_every_class_full_length_stereo(separator: Separator, mixture: np.ndarray) -> None:
    stems = separator.separate(mixture, 44100)
    assert list(stems) == list(CLASSES)
    for audio in stems.values():
        assert audio.shape == mixture.shape and audio.dtype == np.float32
    np.testing.assert_allclose(sum(stems.values()), mixture, atol=1e-5)


def test_stereo_is_preserved_not_downmixed(separator: Separator, mixture: np.ndarray) -> None:
    left_only = mixture.copy()
    left_only[1] = 0
    stems = separator.separate(left_only, 44100)
    assert all(np.abs(s[1]).max() < 1e-6 for s in stems.values())
    assert max(np.abs(s[0]).max() for s in stems.values()) > 0.01


@pytest.mark.parametrize(
    "request_,expected",
    [("vocals", ["vocals", "other"]), (["drums", "guitar"], ["drums", "guitar", "other"]), ("other,bass", ["other", "bass"])],
)
def test_a_subset_of_stems_plus_other_adds_back_to_the_mixture(separator: Separator, mixture: np.ndarray, request_, expected) -> None:  # type: ignore[no-untyped-def]
    stems = separator.separate(mixture, 44100, stems=request_)
    assert list(stems) == expected
    np.testing.assert_allclose(sum(stems.values()), mixture, atol=1e-5)


def test_subset_stem_equals_the_same_stem_of_a_full_split(separator: Separator, mixture: np.ndarray) -> None:
    full = separator.separate(mixture, 44100)
    vocals = separator.separate(mixture, 44100, stems="vocals")
    np.testing.assert_allclose(vocals["vocals"], full["vocals"], atol=1e-6)
    np.testing.assert_allclose(vocals["other"], full["drums"] + full["bass"] + full["guitar"] + full["other"], atol=1e-5)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_blind_mode_gives_k_sources_that_add_back(separator: Separator, mixture: np.ndarray, k: int) -> None:
    stems = separator.separate(mixture, 44100, clusters=k)
    assert list(stems) == [f"source{i + 1}" for i in range(k)]
    np.testing.assert_allclose(sum(stems.values()), mixture, atol=1e-5)
    if k <= 3:  # a real song has at least three distinct clusters of bins
        assert min(float(np.sum(s**2)) for s in stems.values()) > 0


def test_chunked_separation_equals_unchunked_up_to_the_crossfade(mixture: np.ndarray) -> None:
    """The BLSTM sees less context in short chunks, so masks differ a little near chunk edges.

    Chunks of 2.5 s (the split uses 20 s): with 1.5 s the stereo model, which leans on longer
    context than the mono one did, moved a near-absent stem by a quarter of its energy.

    Blind sources are matched first (the clusters fitted on other segments may come out in
    another order). Named stems are compared from the mask head, which is what chunking can
    change; cluster naming depends on the k-means sample as well (tested in test_naming.py).
    """
    whole = Separator.from_pretrained(device="cpu", segment_seconds=60.0, naming="masks")
    chunked = Separator.from_pretrained(device="cpu", segment_seconds=2.5, overlap_seconds=0.5, naming="masks")
    for kwargs in ({}, {"clusters": 2}):
        a, b = list(whole.separate(mixture, 44100, **kwargs).values()), list(chunked.separate(mixture, 44100, **kwargs).values())
        b = [b[i] for i in best_permutation(b, a)] if kwargs else b
        for x, y in zip(a, b, strict=True):
            error = np.sum((x - y) ** 2) / max(np.sum(x**2), 1e-9)
            assert error < 0.1, f"{kwargs}: chunked differs by {10 * np.log10(error):.1f} dB"
        np.testing.assert_allclose(sum(b), mixture, atol=1e-5)


@pytest.mark.parametrize("sample_rate,channels", [(8000, 1), (22050, 2), (48000, 6), (96000, 2)])
def test_any_sample_rate_and_channel_count(separator: Separator, sample_rate: int, channels: int) -> None:
    audio = np.random.default_rng(0).standard_normal((channels, sample_rate)).astype(np.float32) * 0.1
    stems = separator.separate(audio, sample_rate, stems="drums")
    assert all(s.shape == audio.shape for s in stems.values())
    np.testing.assert_allclose(sum(stems.values()), audio, atol=1e-5)


def test_silence_gives_silent_stems_not_nan(separator: Separator) -> None:
    for kwargs in ({}, {"clusters": 3}):
        stems = separator.separate(np.zeros((2, 44100), np.float32), 44100, **kwargs)
        assert all(np.isfinite(s).all() and np.abs(s).max() == 0 for s in stems.values())


def test_mono_vector_input_is_accepted(separator: Separator) -> None:
    stems = separator.separate(np.zeros(1000, np.float32), 44100, stems="bass")
    assert stems["bass"].shape == (1, 1000)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"stems": "voxals"}, r"unknown stem 'voxals'; valid options: drums, bass, guitar, vocals, other"),
        ({"clusters": 0}, r"clusters must be an integer between 1 and 16, got 0"),
        ({"clusters": 2, "stems": "bass"}, r"not both"),
        ({"stems": ""}, r"no stem names given"),
    ],
)
def test_bad_arguments_are_explained(separator: Separator, kwargs: dict, message: str) -> None:
    with pytest.raises(SeparationError, match=message):
        separator.separate(np.zeros((1, 100), np.float32), 44100, **kwargs)


@pytest.mark.parametrize(
    "audio,rate,message",
    [
        (np.full((2, 100), np.nan, np.float32), 44100, "NaN or infinite"),
        (np.zeros((2, 0), np.float32), 44100, "no samples"),
        (np.zeros((44100, 2), np.float32), 44100, "looks transposed"),
        (np.zeros((2, 100), np.float32), 100000000, "sample_rate must be"),
    ],
)
def test_bad_audio_is_explained(separator: Separator, audio: np.ndarray, rate: int, message: str) -> None:
    with pytest.raises(SeparationError, match=message):
        separator.separate(audio, rate)


def test_progress_reaches_one_and_can_cancel(separator: Separator, mixture: np.ndarray) -> None:
    seen: list[float] = []
    separator.separate(mixture, 44100, clusters=2, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)

    class Cancelled(Exception):
        pass

    def cancel(_: float) -> None:
        raise Cancelled

    with pytest.raises(Cancelled):
        separator.separate(mixture, 44100, progress=cancel)


def test_with_a_reference_level_loud_and_quiet_copies_split_alike(mixture: np.ndarray) -> None:
    sep = Separator.from_pretrained(device="cpu", reference_db=-28.0)
    for kwargs in ({}, {"clusters": 3}):
        quiet, loud = sep.separate(mixture * 0.05, 44100, **kwargs), sep.separate(mixture * 2.0, 44100, **kwargs)
        for name in quiet:  # the same masks, up to float rounding in the k-means fit
            error = np.sum((loud[name] - quiet[name] * 40.0) ** 2) / max(float(np.sum(loud[name] ** 2)), 1e-9)
            assert error < 1e-4, f"{kwargs} {name}: loud and quiet copies differ by {10 * np.log10(error):.1f} dB"


def test_file_and_array_separation_agree(separator: Separator, mixture: np.ndarray, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from stembase import audio as audio_io

    audio_io.save(tmp_path / "mix.wav", mixture, 44100)
    sep = Separator.from_pretrained(device="cpu", reference_db=-28.0, segment_seconds=1.5, overlap_seconds=0.25)
    written = sep.separate_file(tmp_path / "mix.wav", tmp_path / "out", clusters=2)
    in_memory = sep.separate(mixture, 44100, clusters=2)
    for path, (name, audio) in zip(written, in_memory.items(), strict=True):
        assert path.name == f"{name}.wav"
        np.testing.assert_allclose(audio_io.load(path)[0], audio, atol=1e-5)


# -- a range of a file ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def quiet_then_loud(mixture: np.ndarray, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """An 8 s file: the song at -34 dB, then the song as it is; ``(path, audio)``."""
    from stembase import audio as audio_io

    audio = np.concatenate([mixture * 0.02, mixture], axis=1)
    return audio_io.save(tmp_path_factory.mktemp("range") / "song.wav", audio, 44100), audio


@pytest.mark.parametrize(("start", "length"), [(4.5, 2.25), (0.0, 1.0), (6.0, None)])
def test_a_range_of_a_file_is_split_alone_exactly_as_long_with_its_own_level(quiet_then_loud, tmp_path, start, length) -> None:  # type: ignore[no-untyped-def]
    from stembase import audio as audio_io

    path, audio = quiet_then_loud
    sep = Separator.from_pretrained(device="cpu", reference_db=-28.0, segment_seconds=1.5, overlap_seconds=0.25)
    written = sep.separate_file(path, tmp_path / "out", clusters=2, start=start, length=length)
    first = round(start * 44100)
    part = audio[:, first : first + round(length * 44100)] if length is not None else audio[:, first:]
    # the range alone, in memory: the same segments and the same level (measured on the range, not the file)
    in_memory = sep.separate(part, 44100, clusters=2)
    stems = [audio_io.load(p)[0] for p in written]
    assert all(s.shape == part.shape for s in stems)
    np.testing.assert_allclose(sum(stems), part, atol=1e-5)
    for stem, expected in zip(stems, in_memory.values(), strict=True):
        np.testing.assert_allclose(stem, expected, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": -1.0}, "start -1 s is before the beginning; use a start of 0 s or more"),
        ({"length": 0.0}, "length 0 s is not a range; use a length above 0 s, or none to split to the end"),
        ({"start": 8.0}, "start 8 s is at or after the end of the file (8.000 s long); start before it"),
        (
            {"start": 6.0, "length": 2.5},
            "the range 6 s + 2.5 s ends after the end of the file (8.000 s long); use a length of at most 2.000 s",
        ),
        ({"start": float("nan")}, "start must be a number of seconds, got nan"),
    ],
)
def test_a_range_outside_the_file_is_refused_in_one_line_naming_the_file(  # type: ignore[no-untyped-def]
    separator: Separator, quiet_then_loud, tmp_path, kwargs: dict[str, float], message: str
) -> None:
    path, _ = quiet_then_loud
    with pytest.raises(SeparationError) as caught:
        separator.separate_file(path, tmp_path / "out", stems="vocals", **kwargs)
    assert str(caught.value).startswith(f"{path}: {message}") and "\n" not in str(caught.value)
    assert not (tmp_path / "out").exists()


def count_network_runs(sep: Separator, mixture: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], int]:
    """``(calls, n_segments)``: ``calls[0]`` counts the network's runs from now on; ``mixture``'s segments."""
    calls = [0]

    def count(feats: torch.Tensor) -> None:
        calls[0] += 1

    watch_network_runs(sep.model, monkeypatch, count)
    plan = sep._plan(sep.stem_names(), None, 44100, mixture.shape[-1])
    return calls, len(list(sep._segments(lambda: iter([mixture]), plan)))


def test_a_two_pass_split_runs_the_network_once_per_segment(mixture: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> None:
    """Clusters are fitted on the whole track before any stem is written; the first pass keeps the
    network's outputs, so the second applies them without running the network again. Past the
    memory limit the segments are computed again, and the stems are the same (float16 embeddings).
    (Named mode's second hearings of the bass and the drums, :mod:`separator.resplit`, are off here: the next test.)"""
    import separator.separate as separate_module

    sep = Separator.from_pretrained(device="cpu", segment_seconds=2.5, overlap_seconds=0.5, resplit=0.0, resplit_drums=0.0)
    calls, n_segments = count_network_runs(sep, mixture, monkeypatch)
    limit = separate_module.FIRST_PASS_BYTES
    for kwargs in ({}, {"clusters": 3}):
        calls[0] = 0
        kept = sep.separate(mixture, 44100, **kwargs)
        assert calls[0] == n_segments, kwargs
        monkeypatch.setattr(separate_module, "FIRST_PASS_BYTES", 0)
        calls[0] = 0
        again = sep.separate(mixture, 44100, **kwargs)
        assert calls[0] == 2 * n_segments, kwargs
        monkeypatch.setattr(separate_module, "FIRST_PASS_BYTES", limit)
        for name in kept:
            np.testing.assert_allclose(kept[name], again[name], atol=2e-3, err_msg=f"{kwargs}: {name}")


@pytest.mark.parametrize("drums, named_runs", [(0.0, 2), (0.5, 3)])
def test_each_second_hearing_runs_the_network_once_more_per_segment_in_named_mode_only(
    mixture: np.ndarray, monkeypatch: pytest.MonkeyPatch, drums: float, named_runs: int
) -> None:
    """The bass is heard again by default; the drums too when ``resplit_drums`` asks for it."""
    sep = Separator.from_pretrained(device="cpu", segment_seconds=2.5, overlap_seconds=0.5, resplit_drums=drums)
    assert sep.settings.resplit > 0
    calls, n_segments = count_network_runs(sep, mixture, monkeypatch)
    for kwargs, runs in (({}, named_runs), ({"stems": "vocals"}, named_runs), ({"clusters": 3}, 1)):
        calls[0] = 0
        sep.separate(mixture, 44100, **kwargs)
        assert calls[0] == runs * n_segments, kwargs
