"""Split settings: one set, owned by the model file, and each setting moving a split the way it promises.

Measured on generated songs (bundled SoundFont) with the shipped model; each test changes one setting
from the shipped value and checks the direction of the change, not merely that something changed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import generated_song, watch_network_runs

import separator.separate as separate_module
from separator import SeparationError, Separator
from separator.devices import bfloat16_lstm
from separator.features import stft_size
from separator.model import load_checkpoint
from separator.settings import _RANGES, SplitSettings, read_overrides
from separator.training.metrics import si_sdr

RATE = 44100


@pytest.fixture(scope="module")
def network() -> torch.nn.Module:
    return load_checkpoint(separate_module.DEFAULT_MODEL, "cpu")[0]


def song(index: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """``(mixture (2, n), stems (5, 2, n))`` of a generated 4-s song (song 4: drums, bass, guitar)."""
    stems, _ = generated_song(index)
    return stems.sum(0), stems


def sharpness(masks: np.ndarray) -> float:
    """Mean over bins of the largest mask: 1 for binary masks, 1/n for flat ones."""
    return float(masks.max(0).mean())


# -- one set of settings ------------------------------------------------------------------------------


def test_a_separator_of_a_loaded_network_splits_as_from_pretrained(network: torch.nn.Module) -> None:
    mix, _ = song()
    assert Separator(network, "cpu").settings == Separator.from_pretrained(device="cpu").settings
    a = Separator(network, "cpu").separate(mix, RATE)
    b = Separator.from_pretrained(device="cpu").separate(mix, RATE)
    for name in a:  # the same up to float rounding (the thread count may differ between the two runs)
        np.testing.assert_allclose(a[name], b[name], atol=1e-5)


def test_the_model_file_stores_every_setting_and_a_fresh_network_gets_the_same_defaults(network: torch.nn.Module) -> None:
    _, extra = load_checkpoint(separate_module.DEFAULT_MODEL, "cpu")
    stored = SplitSettings.from_dict(extra["inference"])
    assert stored == network.split_settings == SplitSettings()  # the dataclass's defaults are the shipped model's


def test_settings_come_as_one_object_or_single_overrides_and_bad_ones_are_refused(network: torch.nn.Module) -> None:
    sep = Separator(network, "cpu", settings=SplitSettings(pan=0.0), percussive=0.0)
    assert (sep.settings.pan, sep.settings.percussive, sep.settings.hardness) == (0.0, 0.0, 3.0)
    with pytest.raises(SeparationError, match=r"unknown split setting 'pann'; valid settings: segment_seconds"):
        Separator(network, "cpu", pann=1.0)
    with pytest.raises(SeparationError, match=r"blend must be a number from 0 to 1, got 1.5"):
        SplitSettings(blend=1.5)


def test_every_number_is_checked_against_its_range() -> None:
    """A setting added without a range would take any value a file gives (2,000 for a weight) in silence."""
    whole = {"fit_points", "seed", "extra_clusters"}  # checked as whole numbers
    numbers = {f.name for f in dataclasses.fields(SplitSettings) if isinstance(getattr(SplitSettings(), f.name), (int, float))}
    assert numbers - whole - {"reference_db"} <= set(_RANGES), sorted(numbers - whole - set(_RANGES))
    for name in sorted(set(_RANGES) - {"reference_db"}):
        low, high = _RANGES[name]
        too_big = high * 2 + 1 if math.isfinite(high) else None
        for bad in (low - 1, too_big):
            if bad is not None:
                with pytest.raises(SeparationError, match=rf"^{name} must be a number from"):
                    SplitSettings().replace(**{name: bad})


@pytest.mark.parametrize(
    "name,text,message",
    [
        ("s.toml", "pan = 0.5\nhardness = inf\n", None),
        ("s.json", '{"pan": 0.5, "hardness": 3}', None),
        ("bad.toml", "pan = ", "not valid TOML"),
        ("bad.json", '{"pan": ', "not valid JSON"),
        ("unknown.json", '{"panning": 1}', "unknown split setting 'panning'"),
        ("range.json", '{"presence": 2}', "presence must be a number from 0 to 1, got 2"),
    ],
)
def test_a_settings_file_is_toml_or_json_and_a_bad_one_is_one_line_naming_it(
    tmp_path: Path, name: str, text: str, message: str | None
) -> None:
    path = tmp_path / name
    path.write_text(text)
    if message is None:
        assert read_overrides(path)["pan"] == 0.5
        return
    with pytest.raises(SeparationError) as caught:
        read_overrides(path)
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value) and "\n" not in str(caught.value)


# -- each setting moves the split the way it promises ------------------------------------------------


def test_more_pan_evidence_separates_a_hard_panned_pair_better(network: torch.nn.Module) -> None:
    """Drums hard left, bass hard right: the bins' own stereo position tells them apart."""
    _, stems = song()
    drums, bass = stems[0].mean(0), stems[1].mean(0)
    mix = np.stack([drums, bass]).astype(np.float32)
    truth = {"drums": np.stack([drums, 0 * bass]), "bass": np.stack([0 * drums, bass])}

    def quality(pan: float) -> float:
        out = Separator(network, "cpu", pan=pan).separate(mix, RATE)
        return float(np.mean([si_sdr(out[n].reshape(-1), truth[n].reshape(-1)) for n in truth]))

    off, on = quality(0.0), quality(2.0)
    assert on > off + 1.0, (off, on)


def test_more_percussive_evidence_moves_a_held_tone_out_of_the_drums(network: torch.nn.Module) -> None:
    _, stems = song()
    t = np.arange(stems.shape[-1]) / RATE
    tone = (0.05 * np.sin(2 * np.pi * 1760 * t)).astype(np.float32)  # a held note inside the cymbals' bands
    mix = stems[0] + tone

    def tone_in_drums(percussive: float) -> float:
        drums = Separator(network, "cpu", percussive=percussive).separate(mix, RATE)["drums"].mean(0)
        return float(np.dot(drums, tone) / np.dot(tone, tone))  # the share of the tone the drums stem holds

    assert tone_in_drums(1.0) < tone_in_drums(0.0)


def test_blind_mode_weighs_the_percussive_evidence_with_its_own_setting(network: torch.nn.Module) -> None:
    """``blind_percussive`` moves the held tone out of the most drum-like source; ``percussive`` (named mode's)
    leaves blind mode as it is."""
    _, stems = song()
    t = np.arange(stems.shape[-1]) / RATE
    tone = (0.05 * np.sin(2 * np.pi * 1760 * t)).astype(np.float32)
    mix = stems[0] + tone

    def tone_in_source1(**settings: float) -> float:
        drums = Separator(network, "cpu", **settings).separate(mix, RATE, clusters=2)["source1"].mean(0)
        return float(np.dot(drums, tone) / np.dot(tone, tone))

    assert SplitSettings().blind_percussive == 0.35 and SplitSettings().percussive == 0.5
    assert tone_in_source1(blind_percussive=1.0) < tone_in_source1(blind_percussive=0.0)
    assert tone_in_source1(percussive=0.0) == pytest.approx(tone_in_source1(percussive=1.0), abs=1e-6)


@pytest.mark.parametrize("mode", [{}, {"clusters": 3}])
def test_hardness_sharpens_the_cluster_masks_to_binary_at_infinity(network: torch.nn.Module, mode: dict) -> None:
    mix, _ = song()
    clusters_only = {"blend": 1.0, "blind_blend": 1.0}
    soft, hard, binary = (
        Separator(network, "cpu", hardness=h, **clusters_only).masks(mix, RATE, **mode)[1] for h in (0.5, 3.0, float("inf"))
    )
    assert sharpness(soft) < sharpness(hard) < sharpness(binary) == 1.0
    assert set(np.unique(binary)) <= {0.0, 1.0}


@pytest.mark.parametrize("setting,mode", [("blend", {}), ("blind_blend", {"clusters": 3})])
def test_blend_weighs_the_cluster_masks_against_the_mask_heads(network: torch.nn.Module, setting: str, mode: dict) -> None:
    """At 1 the masks are the (binary) cluster masks alone; lower values mix in the mask head's soft masks."""
    mix, _ = song()
    masks = {w: Separator(network, "cpu", hardness=float("inf"), **{setting: w}).masks(mix, RATE, **mode)[1] for w in (0, 0.25, 1)}
    assert set(np.unique(masks[1])) <= {0.0, 1.0} and sharpness(masks[0]) < 1.0
    np.testing.assert_allclose(masks[0.25], 0.25 * masks[1] + 0.75 * masks[0], atol=1e-5)


def test_naming_by_masks_takes_the_mask_heads_masks_whatever_the_clusters(network: torch.nn.Module) -> None:
    mix, _ = song()
    heads = [Separator(network, "cpu", naming="masks", seed=s).masks(mix, RATE)[1] for s in (0, 1)]
    np.testing.assert_array_equal(heads[0], heads[1])  # no k-means: the seed does not matter
    blend0 = Separator(network, "cpu", naming="clusters", blend=0.0).masks(mix, RATE)[1]
    np.testing.assert_allclose(blend0, heads[0], atol=1e-6)  # the same head masks, grouped by class


def test_a_higher_presence_threshold_leaves_fewer_stems_present(network: torch.nn.Module, monkeypatch: pytest.MonkeyPatch) -> None:
    """Clusters are fitted for the stems present (plus ``extra_clusters``): count them through k-means."""
    mix, _ = song()
    ks: list[int] = []
    real = separate_module.kmeans
    monkeypatch.setattr(separate_module, "kmeans", lambda x, k, **kw: ks.append(k) or real(x, k, **kw))
    for presence in (0.0, 0.01, 0.2):
        Separator(network, "cpu", presence=presence, extra_clusters=0).masks(mix, RATE)
    assert ks[0] == 5 and ks[0] >= ks[1] > ks[2], ks
    ks.clear()
    Separator(network, "cpu", presence=0.01, extra_clusters=2).masks(mix, RATE)
    Separator(network, "cpu", presence=0.01, extra_clusters=0).masks(mix, RATE)
    assert ks[0] == ks[1] + 2  # extra clusters: that many more than the stems present


def test_fit_points_bounds_the_bins_k_means_sees_and_the_seed_makes_it_repeatable(
    network: torch.nn.Module, monkeypatch: pytest.MonkeyPatch
) -> None:
    mix, _ = song()
    sizes: list[int] = []
    real = separate_module.kmeans
    monkeypatch.setattr(separate_module, "kmeans", lambda x, k, **kw: sizes.append(len(x)) or real(x, k, **kw))
    small = Separator(network, "cpu", fit_points=500).separate(mix, RATE, clusters=3)
    again = Separator(network, "cpu", fit_points=500).separate(mix, RATE, clusters=3)
    assert sizes[0] <= 500 and sizes[0] == sizes[1]
    for name in small:
        np.testing.assert_allclose(small[name], again[name], atol=1e-5)


def test_class_weight_clusters_the_class_posteriors_beside_the_embeddings(
    network: torch.nn.Module, monkeypatch: pytest.MonkeyPatch
) -> None:
    mix, _ = song()
    dims: list[int] = []
    real = separate_module.kmeans
    monkeypatch.setattr(separate_module, "kmeans", lambda x, k, **kw: dims.append(x.shape[1]) or real(x, k, **kw))
    for weight in (0.0, 1.0):
        Separator(network, "cpu", class_weight=weight).masks(mix, RATE, clusters=3)
    assert dims == [network.embed_dim, network.embed_dim + len(network.classes)]


def test_mask_power_sharpens_the_mask_heads_masks(network: torch.nn.Module) -> None:
    mix, _ = song()
    sharp = [sharpness(Separator(network, "cpu", naming="masks", mask_power=p).masks(mix, RATE)[1]) for p in (0.5, 1.0, 3.0)]
    assert sharp[0] < sharp[1] < sharp[2]


def test_without_a_reference_level_a_quiet_copy_splits_differently(network: torch.nn.Module) -> None:
    """The reference level makes loud and quiet copies split alike (tests/test_separate.py); without it they do not."""
    mix, _ = song(0)
    differences = {}
    for reference in (-28.0, None):
        sep = Separator(network, "cpu", reference_db=reference)
        loud, quiet = sep.separate(2.0 * mix, RATE), sep.separate(0.05 * mix, RATE)
        error = sum(float(np.sum((40 * quiet[n] - loud[n]) ** 2)) for n in loud)
        differences[reference] = error / float(np.sum((2.0 * mix) ** 2))  # the stems' error against the mixture's energy
    assert differences[-28.0] < 1e-4 and differences[None] > 1e-3, differences


def test_segments_bound_what_the_network_sees_at_once(network: torch.nn.Module, monkeypatch: pytest.MonkeyPatch) -> None:
    mix, _ = song()
    frames: list[int] = []
    watch_network_runs(network, monkeypatch, lambda feats: frames.append(feats.shape[1]))
    out = Separator(network, "cpu", segment_seconds=1.5, overlap_seconds=0.5).separate(mix, RATE)
    hop = stft_size(RATE)[1]
    assert max(frames) == int(1.5 * RATE) // hop + 1 and len(frames) == 2 * 4  # 4 s in segments 1 s apart, each heard with its bass
    np.testing.assert_allclose(sum(out.values()), mix, atol=1e-5)


def test_export_stores_the_settings_a_file_gives(tmp_path: Path) -> None:
    from stemsplit.separator_cli import main

    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"pan": 1.0, "percussive": 0.25}))
    out = tmp_path / "model.pt"
    assert main(["export", str(separate_module.DEFAULT_MODEL), "-o", str(out), "--settings", str(settings)]) == 0
    assert Separator.from_pretrained(out, device="cpu").settings == SplitSettings(pan=1.0, percussive=0.25)


@pytest.mark.skipif(not bfloat16_lstm(), reason="torch has no bfloat16 LSTM on this CPU (no AVX-512): the error test below runs")
def test_bfloat16_splits_as_float32_does_to_within_its_rounding(network: torch.nn.Module, monkeypatch: pytest.MonkeyPatch) -> None:
    """``precision`` changes the network's arithmetic, not the split: the stems agree to ~30 dB and score alike."""
    mix, stems = song()
    modes: list[tuple[bool, torch.dtype]] = []
    autocast = lambda feats: modes.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))  # noqa: E731
    watch_network_runs(network, monkeypatch, autocast)
    exact = Separator(network, "cpu", precision="float32").separate(mix, RATE)
    assert not any(enabled for enabled, _ in modes)
    modes.clear()
    fast = Separator(network, "cpu", precision="bfloat16").separate(mix, RATE)
    assert modes and all(m == (True, torch.bfloat16) for m in modes)
    for i, name in enumerate(("drums", "bass", "guitar")):
        agreement = 10 * np.log10(np.sum(exact[name] ** 2) / np.sum((exact[name] - fast[name]) ** 2))
        assert agreement > 25, (name, agreement)
        assert abs(si_sdr(fast[name], stems[i]) - si_sdr(exact[name], stems[i])) < 0.5


def test_auto_precision_is_bfloat16_only_on_a_cpu_that_computes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from separator import devices

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(devices, "native_bfloat16", lambda: True)
    monkeypatch.setattr(devices, "bfloat16_lstm", lambda: True)
    assert devices.network_dtype("auto", cpu) == torch.bfloat16 and devices.network_dtype("auto", cuda) == torch.float32
    assert devices.network_dtype("float32", cpu) == torch.float32 and devices.network_dtype("bfloat16", cuda) == torch.bfloat16
    monkeypatch.setattr(devices, "native_bfloat16", lambda: False)
    assert devices.network_dtype("auto", cpu) == torch.float32
    assert SplitSettings().precision == "auto"  # the default: as fast as the CPU allows, float32 where bfloat16 is slow
    with pytest.raises(SeparationError, match="precision must be one of float32, bfloat16, auto, got 'half'"):
        SplitSettings(precision="half")


def test_the_bfloat16_probe_tells_whether_the_network_runs_in_bfloat16_here() -> None:
    """``devices.bfloat16_lstm`` answers what running the network under bfloat16 autocast does on this CPU."""
    from separator.model import ChimeraNet

    model = ChimeraNet(hidden=16, layers=2, embed_dim=8).eval()
    try:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            model(torch.randn(1, 30, 128))
        runs = True
    except RuntimeError as exc:
        assert "LSTM" in str(exc)
        runs = False
    assert bfloat16_lstm() is runs


def test_bfloat16_asked_for_on_a_cpu_without_it_is_one_line_naming_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``precision = "bfloat16"`` where torch cannot run the LSTM in it: a settings error, not a oneDNN traceback;
    ``auto`` is float32 there even when the CPU reports bfloat16 instructions."""
    from separator import devices
    from stemsplit.separator_cli import main

    monkeypatch.setattr(devices, "bfloat16_lstm", lambda: False)
    monkeypatch.setattr(devices, "native_bfloat16", lambda: True)
    message = 'precision = "bfloat16": this CPU cannot run the network\'s LSTM in bfloat16 (torch needs AVX-512 for it); '
    with pytest.raises(SeparationError, match=re.escape(message + 'use precision = "auto" (float32 here) or "float32"')):
        devices.network_dtype("bfloat16", torch.device("cpu"))
    assert devices.network_dtype("auto", torch.device("cpu")) == torch.float32
    assert devices.network_dtype("bfloat16", torch.device("cuda")) == torch.bfloat16
    mix, _ = song()
    wav = tmp_path / "mix.wav"
    sf.write(wav, mix.T, RATE)
    settings = tmp_path / "bf16.toml"
    settings.write_text('precision = "bfloat16"\n')
    assert main(["split", str(wav), "-o", str(tmp_path / "out"), "--settings", str(settings)]) != 0
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], errors
    assert not list((tmp_path / "out").glob("**/*.wav"))
