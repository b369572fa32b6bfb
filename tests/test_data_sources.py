"""Sound sources of the training-data generator: detection, renderers, choice and the shard format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import missing

from separator.classes import CLASSES
from separator.training.data import make
from separator.training.data.compose import compose
from separator.training.data.make import Recipe, make_dataset
from separator.training.data.oneshots import classify
from separator.training.data.render import bundled_soundfont
from separator.training.data.sources import KIND_CLASSES, Source, SourcePaths, class_weights, detect_sources, missing_sources, plan_sources

SR = 22050
TIMGM = bundled_soundfont() or ""


def _nothing_installed(tmp_path: Path) -> SourcePaths:
    (tmp_path / "empty").mkdir(exist_ok=True)
    empty = str(tmp_path / "empty")
    return SourcePaths(
        soundfonts=None,
        soundfont_dirs=(empty,),
        timidity_cfg=str(tmp_path / "empty" / "freepats.cfg"),
        chuck_dir=empty,
        exadrums_dir=empty,
        fillets_dir=empty,
        gcin_dir=empty,
        sounds_dirs=(empty,),
        bin_path=empty,
    )


def test_detection_without_any_package_finds_only_the_formant_singer_and_the_procedural_instruments_and_names_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("separator.training.data.render.bundled_soundfont", lambda: None)
    found = detect_sources(_nothing_installed(tmp_path))
    assert [s.id for s in found] == ["sing:formant", "synth:procedural"]
    assert found[1].classes == ("drums", "bass", "guitar", "other")
    missing = missing_sources(found)
    assert missing["speech:fillets-nl"] == "apt-get install fillets-ng-data-nl"
    assert missing["timidity:freepats"] == "apt-get install timidity freepats"
    assert "minuet-data" in missing["sf:GeneralUser_GS"]
    assert "pip download --no-deps foxdot" in missing["oneshots:foxdot"]


def _write_pack(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in names:
        hit = rng.standard_normal(2000) * np.exp(-np.arange(2000) / 300)
        soundfile.write(folder / name, hit.astype(np.float32), 44100)


def test_a_one_shot_pack_under_a_sounds_root_becomes_a_source_and_reserved_packs_are_ignored(tmp_path: Path) -> None:
    _write_pack(tmp_path / "mykit", ["kick.wav", "Snare 2.wav", "hihat-open.wav", "notes.wav"])
    _write_pack(tmp_path / "sonic-pi-samples", ["kick.wav", "snare.wav"])
    paths = SourcePaths(**{**_nothing_installed(tmp_path).__dict__, "soundfonts": (), "sounds_dirs": (str(tmp_path),)})
    found = {s.id: s for s in detect_sources(paths)}
    assert set(found) == {"oneshots:mykit", "sing:formant", "synth:procedural"}
    assert sorted(Path(f).name for f in found["oneshots:mykit"].files) == ["Snare 2.wav", "hihat-open.wav", "kick.wav"]


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("BD_Acou_01.wav", "kick"),
        ("4_deep_drum.wav", "kick"),
        ("Snr_Acou_01.wav", "snare"),
        ("hihat-open.wav", "open_hat"),
        ("Closedhat02.wav", "closed_hat"),
        ("hh01.wav", "closed_hat"),
        ("RideBell.wav", "ride"),
        ("Crash_High.wav", "crash"),
        ("Tom01.wav", "tom"),
        ("alt_rimshot_0.wav", "rim"),
        ("0_shaker.wav", "perc"),
        ("geetar.wav", None),
    ],
)
def test_one_shots_are_classified_by_file_name(name: str, category: str | None) -> None:
    assert classify(name) == category


def test_draw_shares_give_recorded_sounds_a_large_part() -> None:
    sources = [
        Source("sf:TimGM6mb", "sf", CLASSES, "a.sf2"),
        Source("sf:GeneralUser_GS", "sf", CLASSES, "b.sf2", weight=2.0),
        Source("kit:Black_Pearl_4", "kit", ("drums",), "c.sf2"),
        Source("oneshots:chuck", "oneshots", ("drums",), files=("kick.wav",)),
        Source("speech:fillets-nl", "speech", ("vocals",), files=("a.ogg",)),
        Source("speech:espeak", "speech", ("vocals",)),
        Source("sing:formant", "sing", ("vocals",)),
    ]
    drums = class_weights(sources, "drums")
    assert drums["kit:Black_Pearl_4"] + drums["oneshots:chuck"] == pytest.approx(0.5)
    assert drums["sf:GeneralUser_GS"] == pytest.approx(2 * drums["sf:TimGM6mb"])
    vocals = class_weights(sources, "vocals")
    assert vocals["speech:fillets-nl"] == pytest.approx(0.4)
    assert vocals["speech:espeak"] == pytest.approx(0.2) and vocals["sing:formant"] == pytest.approx(0.2)
    assert sum(vocals.values()) == pytest.approx(1.0)


def test_only_falls_back_to_every_source_for_a_class_it_cannot_play_and_says_so() -> None:
    sources = [Source("sf:TimGM6mb", "sf", CLASSES, "a.sf2"), Source("speech:gcin", "speech", ("vocals",), files=("a.ogg",))]
    plan = plan_sources(sources, only=["GCIN"])
    assert set(plan.weights["vocals"]) == {"speech:gcin"}
    assert set(plan.weights["bass"]) == {"sf:TimGM6mb"}
    assert any(note.startswith("bass: no source matches --only GCIN") for note in plan.notes)
    assert plan_sources(sources, exclude=["sf:"]).weights["bass"] == {}


# --- renderers -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def found() -> dict[str, Source]:
    return {s.id: s for s in detect_sources(SourcePaths(soundfonts=(TIMGM,) if TIMGM else ()))}


RENDERED = [
    ("timidity:freepats", "drums", "apt-get install timidity freepats"),
    ("timidity:freepats", "bass", "apt-get install timidity freepats"),
    ("oneshots:chuck", "drums", "apt-get install chuck-data"),
    ("oneshots:exadrums", "drums", "apt-get install exadrums"),
    ("oneshots:foxdot", "drums", "see docs/training-data.md to fetch FoxDot's one-shots"),
    ("speech:fillets-nl", "vocals", "apt-get install fillets-ng-data-nl"),
    ("speech:fillets-cs", "vocals", "apt-get install fillets-ng-data-cs"),
    ("speech:gcin", "vocals", "apt-get install gcin-voice"),
    ("speech:flite-slt", "vocals", "apt-get install flite"),
    ("speech:flite-kal", "vocals", "apt-get install flite"),
    ("sing:formant", "vocals", ""),
    ("synth:procedural", "drums", ""),
    ("synth:procedural", "bass", ""),
    ("synth:procedural", "guitar", ""),
    ("synth:procedural", "other", ""),
]


def _render(source: Source, name: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    song = compose(rng, bars=2)
    recipe = Recipe(seconds=1.0, sample_rate=SR, soundfonts=[], use_espeak=False)
    if name == "drums":
        return make._render_drums(source, song, recipe, rng)
    if name == "vocals":
        return make._render_voice(source, song, recipe, rng)
    return make._render_program(source, song, name, song.programs[name], recipe, rng)


@pytest.mark.parametrize(("source_id", "name", "install"), RENDERED, ids=[f"{s}-{n}" for s, n, _ in RENDERED])
def test_each_renderer_gives_one_second_of_audible_stereo_reproducibly(
    found: dict[str, Source], source_id: str, name: str, install: str
) -> None:
    if source_id not in found:
        missing(f"{source_id} is not installed here ({install})")
    audio = _render(found[source_id], name, seed=3)
    assert audio.shape == (2, SR) and audio.dtype == np.float32
    assert np.isfinite(audio).all()
    assert np.sqrt(np.mean(audio**2)) > 1e-3, "silent"
    np.testing.assert_array_equal(audio, _render(found[source_id], name, seed=3))


# --- choice of sources and the shards --------------------------------------------------------


def _tiny_set(tmp_path: Path, **choice: list[str]) -> dict[str, np.ndarray]:
    recipe = Recipe(seed=5, seconds=1.0, sample_rate=SR, soundfonts=[TIMGM], use_espeak=False, augment=False, **choice)
    make_dataset(tmp_path, 3, recipe, shard_size=3)
    with np.load(tmp_path / "shard-00000.npz") as data:
        return dict(data)


@pytest.mark.skipif(not TIMGM, reason="needs TimGM6mb (pip install pretty_midi)")
def test_exclude_leaves_out_exactly_the_matching_sources(tmp_path: Path) -> None:
    sources = _tiny_set(tmp_path, exclude=["timidity", "ONESHOTS", "kit:", "Synth:"])["sources"]
    used = {part for row in sources for entry in row if entry for part in entry.split("+")}
    assert used and not any(p in s.lower() for s in used for p in ("timidity", "oneshots", "kit:", "synth:"))
    assert all(entry == "sf:TimGM6mb" for entry in sources[:, CLASSES.index("drums")] if entry)


@pytest.mark.skipif(not TIMGM, reason="needs TimGM6mb (pip install pretty_midi)")
def test_only_draws_every_part_from_the_matching_sources(tmp_path: Path) -> None:
    sources = _tiny_set(tmp_path, only=["sf:TimGM6mb", "sing"])["sources"]
    used = {part for row in sources for entry in row if entry for part in entry.split("+")}
    assert used and used <= {"sf:TimGM6mb", "sing:formant"}
    recipe = json.loads((tmp_path / "recipe.json").read_text())
    assert sum(recipe["drawn"]["bass"].values()) == sum(bool(e) for e in sources[:, CLASSES.index("bass")])


@pytest.mark.skipif(not TIMGM, reason="needs TimGM6mb (pip install pretty_midi)")
def test_shards_hold_stereo_float16_stems_presence_labels_and_source_ids(tmp_path: Path) -> None:
    data = _tiny_set(tmp_path, only=["sf:TimGM6mb", "sing"])
    n_slots = len(CLASSES)
    assert data["stems"].shape == (3, n_slots, 2, SR) and data["stems"].dtype == np.float16
    assert data["present"].shape == (3, n_slots) and data["present"].dtype == bool
    assert data["labels"].dtype == np.int8
    np.testing.assert_array_equal(data["labels"], np.tile(np.arange(n_slots), (3, 1)))
    assert data["sources"].shape == (3, n_slots)
    np.testing.assert_array_equal(data["sources"] != "", data["present"])
    assert int(data["sample_rate"]) == SR


def test_make_data_without_sources_for_some_classes_is_an_error_naming_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only voices found (no SoundFont, no kit): a vocals-only data set is refused, unless asked for."""
    from stemsplit.separator_cli import main

    voices = [Source("speech:espeak", "speech", ("vocals",), "espeak"), Source("sing:formant", "sing", ("vocals",))]
    monkeypatch.setattr(make, "detect_sources", lambda paths=None: voices)
    monkeypatch.setattr(make, "_PLANS", {})
    out = tmp_path / "data"
    args = ["make-data", str(out), "--songs", "2", "--seconds", "1", "--shard-size", "2", "--no-espeak"]
    assert main(args) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, errors
    assert errors[0].startswith("error: no sound source plays drums, bass, guitar, other, so no song would have them; install one: ")
    assert "pip install pretty_midi" in errors[0] and "--allow-missing" in errors[0]
    assert not out.exists(), "refused before any work"
    assert main([*args, "--allow-missing"]) == 0
    with np.load(out / "shard-00000.npz") as data:
        assert not data["present"][:, : CLASSES.index("vocals")].any()


def test_make_data_refuses_only_patterns_that_match_no_installed_source_naming_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A leave-out set asked for on a machine without its held-out packages is refused before any work: without
    the check every class fell back to the training sources, and the set measured nothing held out."""
    from stemsplit.separator_cli import main

    sources = [Source("synth:procedural", "synth", KIND_CLASSES["synth"]), Source("sing:formant", "sing", ("vocals",))]
    monkeypatch.setattr(make, "detect_sources", lambda paths=None: sources)
    monkeypatch.setattr(make, "_PLANS", {})
    out = tmp_path / "val-out"
    args = ["make-data", str(out), "--songs", "2", "--seconds", "1", "--shard-size", "2", "--no-espeak"]
    assert main([*args, "--only", "sf_GMbank,exadrums,nosuch"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: --only: sf_GMbank names sf:sf_GMbank, not installed (apt-get install csound-soundfont); "
        "exadrums names oneshots:exadrums, not installed (apt-get install exadrums); "
        "nosuch matches no source found here or known (docs/training-data.md lists them); "
        "install it, or pass --allow-missing to draw those classes from every source"
    ]
    assert not out.exists(), "refused before any work"
    assert main([*args, "--only", "synth,exadrums"]) == 2, "one unmatched pattern is enough"
    assert main([*args, "--only", "synth", "--exclude", "procedural"]) == 2, "an excluded source is not found"
    capsys.readouterr()
    assert main([*args, "--only", "synth,sing"]) == 0
    assert main([*args[:1], str(tmp_path / "fallback"), *args[2:], "--only", "exadrums", "--allow-missing"]) == 0
    with np.load(tmp_path / "fallback" / "shard-00000.npz") as data:
        drawn = {part for ids in data["sources"][data["present"]].tolist() for part in ids.split("+")}  # layers: a+b
        assert drawn <= {"synth:procedural", "sing:formant"}


def test_make_data_into_a_folder_under_a_file_is_one_line_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from stemsplit.separator_cli import main

    blocker = tmp_path / "songs.npz"
    blocker.write_bytes(b"not a folder")
    assert main(["make-data", str(blocker / "data"), "--songs", "2", "--seconds", "1"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        f"error: {blocker}: a folder above the output folder ({blocker / 'data'}) is a file; "
        "choose another output folder with the OUTDIR argument"
    ]
    assert blocker.read_bytes() == b"not a folder"
