"""SI-SDR metrics, the oracle ceiling and the evaluation table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import generated_song

from separator.classes import CLASSES
from separator.training.evaluate import format_table, oracle_binary_mask
from separator.training.metrics import best_permutation, si_sdr, si_sdr_improvement
from stembase import audio as audio_io
from stemsplit.separator_cli import main


def test_si_sdr_is_scale_invariant_and_rewards_less_noise() -> None:
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((2, 10000))
    noise = rng.standard_normal((2, 10000))
    assert si_sdr(3 * (ref + 0.1 * noise), ref) == pytest.approx(si_sdr(ref + 0.1 * noise, ref))
    assert si_sdr(ref + 0.1 * noise, ref) == pytest.approx(20.0, abs=0.3)
    assert si_sdr(ref + 0.01 * noise, ref) > si_sdr(ref + 0.1 * noise, ref) + 15


def test_improvement_of_the_mixture_itself_is_zero() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(1000), rng.standard_normal(1000)
    assert si_sdr_improvement(a + b, a, a + b) == 0.0


def test_best_permutation_matches_shuffled_estimates() -> None:
    rng = np.random.default_rng(2)
    refs = [rng.standard_normal(500) for _ in range(3)]
    estimates = [refs[2] + 0.01, refs[0] * 2, refs[1]]
    assert best_permutation(estimates, refs) == [1, 2, 0]


def test_oracle_binary_mask_is_a_high_ceiling_on_generated_music() -> None:
    stems, present = generated_song(2, seconds=3.0)
    refs = stems[present]
    mix = refs.sum(0)
    estimates = oracle_binary_mask(refs, 44100)
    gains = [si_sdr_improvement(e, r, mix) for e, r in zip(estimates, refs, strict=True)]
    assert np.mean(gains) > 10.0
    np.testing.assert_allclose(estimates.sum(0), mix, atol=1e-4)


def test_table_lists_every_mode_and_stem() -> None:
    result = {"songs": 3, "named": {"mean": 7.5, "drums": 9.0}, "blind": {"mean": 6.25}, "oracle": {"mean": 15.0}}
    table = format_table(result)
    assert "named stems" in table and "oracle binary mask" in table and "mixture (no-op)" in table
    assert "7.50" in table and "6.25" in table and "(3 songs)" in table


def test_evaluation_and_the_solo_stem_confusion_read_tracker_style_shards_with_unknown_sources(separator, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Sources without a class are scored in blind mode as "unknown"; heard alone, each source's output
    shares sum to 1 and a drum part mostly comes out as drums."""
    from separator.training.evaluate import confusion, evaluate_model, format_confusion

    stems, present = generated_song(1, seconds=2.0)
    assert present[0] and present[1], "song 1 has drums and bass"
    six = np.zeros((1, 6, 2, stems.shape[-1]), np.float16)
    six[0, 0], six[0, 1] = stems[0], stems[1]
    six[0, 2] = stems[2:].sum(0)  # everything else: one source with no class
    labels = np.array([[0, 1, -1, -1, -1, -1]], np.int8)
    np.savez(
        tmp_path / "shard-00000.npz",
        stems=six,
        present=np.array([[True, True, True, False, False, False]]),
        labels=labels,
        sample_rate=44100,
    )
    result = evaluate_model(separator, tmp_path, oracle=False)
    assert "per_song" not in result  # only when asked: training logs every validation's result
    assert set(result["blind"]) == {"mean", "drums", "bass", "unknown"}
    assert set(result["named"]) == {"mean", "drums", "bass"}  # no class, no named score
    in_mix = evaluate_model(separator, tmp_path, oracle=False, in_mix=True)["in_mix"]
    assert set(in_mix) == {"drums", "bass", "unknown"}
    for true, row in in_mix.items():
        assert list(row) == ["drums", "bass", "guitar", "vocals", "other"]
        assert abs(sum(row.values()) - 1.0) < 0.1, true  # the stems add up to the mix; the parts barely correlate
    assert max(in_mix["drums"], key=in_mix["drums"].get) == "drums"
    assert max(in_mix["bass"], key=in_mix["bass"].get) == "bass"
    assert format_confusion(in_mix, "in the mix → share").splitlines()[0].startswith("in the mix → share")
    table = confusion(separator, tmp_path)
    assert set(table) == {"drums", "bass", "unknown"}
    for row in table.values():
        assert abs(sum(row.values()) - 1.0) < 1e-6 and list(row) == ["drums", "bass", "guitar", "vocals", "other"]
    assert max(table["drums"], key=table["drums"].get) == "drums"
    assert format_confusion(table).splitlines()[2].startswith("drums")


def test_mix_shares_say_how_much_of_a_source_each_stem_holds() -> None:
    from separator.training.evaluate import mix_shares

    rng = np.random.default_rng(3)
    kick, bass = rng.standard_normal((2, 2, 4000))
    perfect = {"drums": kick, "bass": bass}
    np.testing.assert_allclose(mix_shares(perfect, kick), [1.0, np.dot(bass.ravel(), kick.ravel()) / np.dot(kick.ravel(), kick.ravel())])
    leaky = {"drums": 0.7 * kick, "bass": bass + 0.3 * kick}  # the bass stem took 30 % of the kick
    shares = mix_shares(leaky, kick)
    assert shares[0] == pytest.approx(0.7) and shares[1] == pytest.approx(0.3, abs=0.03)
    assert mix_shares(leaky, np.zeros_like(kick)) is None  # a silent source has no shares


def test_karaoke_row_scores_what_the_karaoke_preset_keeps(separator, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The karaoke row is the SI-SDRi of ``split stems: [vocals]``'s "other" stem (the vocals muted)
    against the sum of every source but the vocals; the shipped model removes some of the voice."""
    from separator.training.evaluate import evaluate_model, karaoke_improvement

    stems, present = generated_song(3, seconds=3.0)
    assert present[3], "song 3 has vocals"
    np.savez(tmp_path / "shard-00000.npz", stems=stems[None].astype(np.float16), present=present[None], sample_rate=44100)
    result = evaluate_model(separator, tmp_path, oracle=False, karaoke=True)
    refs = stems[present].astype(np.float16).astype(np.float32)
    by_hand = karaoke_improvement(separator, refs, int(np.flatnonzero(present).tolist().index(3)), 44100)
    assert set(result["karaoke"]) == {"mean"} and result["karaoke"]["mean"] == pytest.approx(by_hand, abs=1e-3)
    assert by_hand > 1.0
    assert "karaoke accompaniment" in format_table(result)
    assert "karaoke" not in evaluate_model(separator, tmp_path, oracle=False)


def test_a_silent_estimate_of_an_audible_source_scores_far_below_the_mixture() -> None:
    """Silence holds none of the source: it must not score 0 dB SI-SDR, which would rank a stem
    left silent above the unprocessed mixture whenever the source is quieter than the rest."""
    from separator.training.metrics import SILENT_DB

    rng = np.random.default_rng(3)
    quiet, loud = 0.1 * rng.standard_normal(4000), rng.standard_normal(4000)
    mix = quiet + loud
    assert si_sdr(np.zeros_like(quiet), quiet) == SILENT_DB == -30.0
    assert si_sdr_improvement(np.zeros_like(quiet), quiet, mix) < -10.0
    assert si_sdr_improvement(1e-3 * quiet + 1e-9 * loud, quiet, mix) > 19.0  # quiet but right is still right


def test_skipping_songs_leaves_out_the_first_ones_across_shards(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``--skip-songs N`` leaves out the songs settings were tuned on; the count runs across shards."""
    from separator.training.evaluate import load_songs

    for shard in range(2):  # song i is a constant i + 1 in both sources
        stems = np.stack([np.full((2, 2, 100), 2 * shard + i + 1, np.float16) for i in range(2)])  # (songs, sources, ch, n)
        np.savez(tmp_path / f"shard-0000{shard}.npz", stems=stems, present=np.ones((2, 2), bool), sample_rate=8000)
    values = lambda songs: [int(refs[0, 0, 0]) for refs, _ in songs]  # noqa: E731
    assert values(load_songs(tmp_path)[0]) == [1, 2, 3, 4]
    assert values(load_songs(tmp_path, skip=3)[0]) == [4]
    assert values(load_songs(tmp_path, max_songs=2, skip=1)[0]) == [2, 3]


def _multitrack(folder: Path, names: dict[str, str], seconds: float = 2.0) -> Path:
    """``folder/<song>/<file>.wav`` from generated song 1 (drums, bass, …) plus its ``mixture.wav``; ``names``
    maps a class to the file name it is written under."""
    stems, present = generated_song(1, seconds=seconds)
    song = folder / "song-a"
    for index, cls in enumerate(("drums", "bass", "guitar", "vocals", "other")):
        if present[index] and cls in names:
            audio_io.save(song / f"{names[cls]}.wav", stems[index], 44100)
    audio_io.save(song / "mixture.wav", sum(stems[CLASSES.index(c)] for c in names), 44100)
    return folder


@pytest.mark.parametrize(
    "names,stem_map",
    [
        ({"drums": "drums", "bass": "bass", "vocals": "vocals", "other": "other"}, []),
        ({"drums": "Kit", "bass": "bass DI"}, ["--stem-map", "kit*=drums"]),
    ],
    ids=["musdb", "own stems with a stem map"],
)
def test_evaluate_scores_multitrack_folders_as_train_reads_them(
    names: dict[str, str], stem_map: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _multitrack(tmp_path / "multitracks", names)
    out = tmp_path / "scores.json"
    assert main(["evaluate", "--data", str(data), "--device", "cpu", "--no-oracle", "--json", str(out), *stem_map]) == 0
    result = json.loads(out.read_text())
    assert result["songs"] == 1 and "drums" in result["named"]
    assert ("bass" in result["named"]) == (stem_map == []), "an unmapped, non-class name is scored in blind mode only"
    assert "(1 songs)" in capsys.readouterr().out
    (song,) = result["per_song"]  # the JSON also holds the scores song by song, for scripts/compare-scores.py
    assert song["song"] == 0 and len(song["named"]) == len(result["named"]) - 1  # one score per named class
    for mode in ("named", "blind"):
        assert np.mean(song[mode]) == pytest.approx(result[mode]["mean"])


@pytest.mark.parametrize(("asked", "env", "expected"), [([], "", "cores"), (["--threads", "1"], "", 1), ([], "2", 2)])
def test_evaluate_splits_with_a_fixed_thread_count_not_one_that_follows_the_machine_s_load(
    asked: list[str], env: str, expected: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from separator.devices import available_cores
    from separator.separate import Separator

    made: list[Separator] = []
    original = Separator.from_pretrained.__func__  # type: ignore[attr-defined]

    def recorded(cls, *args, **kwargs):  # type: ignore[no-untyped-def]
        made.append(original(cls, *args, **kwargs))
        return made[-1]

    monkeypatch.setattr(Separator, "from_pretrained", classmethod(recorded))
    monkeypatch.setenv("SEPARATOR_THREADS", env)
    data = _multitrack(tmp_path / "multitracks", {"drums": "drums", "bass": "bass"})
    before = torch.get_num_threads()
    try:
        assert main(["evaluate", "--data", str(data), "--device", "cpu", "--no-oracle", *asked]) == 0
        (sep,) = made
        assert sep._cpu is None  # no CpuShare: the count stays as set for the whole run
        assert torch.get_num_threads() == (available_cores() if expected == "cores" else expected)
    finally:
        torch.set_num_threads(before)  # torch's pool is the process's: leave it to the other tests as it was


def test_evaluate_confusion_prints_where_each_stem_goes_in_the_mix_and_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _multitrack(tmp_path / "multitracks", {"drums": "drums", "bass": "bass"})
    out = tmp_path / "scores.json"
    assert main(["evaluate", "--data", str(data), "--device", "cpu", "--no-oracle", "--confusion", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "in the mix → share" in printed and "heard alone → share" in printed
    result = json.loads(out.read_text())
    assert set(result["in_mix"]) == set(result["confusion"]) == {"drums", "bass"}
    assert max(result["in_mix"]["drums"], key=result["in_mix"]["drums"].get) == "drums"


def _folder(path: Path, wavs: int = 0) -> Path:
    path.mkdir()
    for i in range(wavs):
        audio_io.save(path / f"{i}.wav", np.zeros((1, 100), np.float32), 8000)
    return path


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda d: d / "nowhere", "--data folder not found"),
        (lambda d: _folder(d / "empty"), "no songs found; expected shard-*.npz files"),
        (lambda d: _folder(d / "wavs", wavs=2), "no songs found; expected shard-*.npz files"),
    ],
    ids=["missing", "empty", "a folder of WAVs"],
)
def test_evaluate_on_a_wrong_folder_is_one_line_and_a_usage_error(make, message: str, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    folder = make(tmp_path)
    assert main(["evaluate", "--data", str(folder), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {folder}: {message}"), err
