"""External VST3 plugins: error paths always; loading, parameters, state files and channel adaptation with real plugins.

The real-plugin tests use the Dragonfly and ZAM plugins that ``fetch-test-vst3 DIR`` unpacks; point
``PLUGIN_HOST_TEST_VST3_DIR`` at DIR (or unpack them into the repo's ``.vst3``). They are skipped only
when no plugin is there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pedalboard
import pytest
import yaml
from plugin_host_fixtures import SR, OracleSeparator, energy_db, noise, song, vst3, write

from plugin_host import Chain, ChainError, PresetError, render_file
from stembase import audio as audio_io

ZAM_COMP, ZAM_COMP_X2, DRAGONFLY = vst3("ZamComp"), vst3("ZamCompX2"), vst3("DragonflyRoomReverb")
needs = pytest.mark.skipif


def preset_error(tmp_path: Path, *stages: dict[str, Any]) -> PresetError:
    path = tmp_path / "fx.yaml"
    path.write_text(yaml.safe_dump({"format": 1, "chain": list(stages)}))
    with pytest.raises(PresetError) as info:
        Chain.from_preset(path)
    return info.value


# -- error paths: no plugin needed -----------------------------------------------------------


def test_a_missing_plugin_file(tmp_path: Path) -> None:
    exc = preset_error(tmp_path, {"vst3": "/nowhere/Comp.vst3"})
    assert str(exc) == f"{tmp_path / 'fx.yaml'}: chain[0].vst3: VST3 plugin file not found: /nowhere/Comp.vst3"


@pytest.mark.parametrize("kind", ["text file", "empty bundle"])
def test_a_file_that_is_not_a_plugin(tmp_path: Path, kind: str) -> None:
    fake = tmp_path / "Fake.vst3"
    fake.write_text("not a plugin") if kind == "text file" else fake.mkdir()
    exc = preset_error(tmp_path, {"vst3": "Fake.vst3"})
    assert exc.key == "chain[0].vst3"
    assert f"{fake} is not a loadable VST3 plugin (" in str(exc)
    assert "unsupported plugin format or scan failure" in str(exc)


def test_a_file_that_is_not_a_vst3_by_name(tmp_path: Path) -> None:
    (tmp_path / "comp.so").write_bytes(b"\x7fELF")
    exc = preset_error(tmp_path, {"vst3": "comp.so"})
    assert f"{tmp_path / 'comp.so'} is not a VST3 plugin (expected a .vst3 bundle or file)" in str(exc)


def test_state_must_be_an_existing_vstpreset(tmp_path: Path) -> None:
    (tmp_path / "Fake.vst3").mkdir()
    (tmp_path / "glue.fxp").write_bytes(b"")
    assert "state file not found:" in str(preset_error(tmp_path, {"vst3": "Fake.vst3", "state": "missing.vstpreset"}))
    exc = preset_error(tmp_path, {"vst3": "Fake.vst3", "state": "glue.fxp"})
    assert (exc.key, exc.problem) == ("chain[0].state", "state must be a .vstpreset file, got 'glue.fxp'")


# -- real plugins ----------------------------------------------------------------------------


@needs(ZAM_COMP_X2 is None, reason="no test VST3 plugins (run fetch-test-vst3 and set PLUGIN_HOST_TEST_VST3_DIR)")
def test_vst3_parameters_are_checked_against_the_plugins_own_ranges(tmp_path: Path) -> None:
    exc = preset_error(tmp_path, {"vst3": str(ZAM_COMP_X2), "params": {"ratio": 0.5}})
    assert str(exc).startswith(
        f"{tmp_path / 'fx.yaml'}: chain[0].params.ratio: Value received for parameter 'ratio' (0.5) is out of range [1, 20]"
    )
    exc = preset_error(tmp_path, {"vst3": str(ZAM_COMP_X2), "params": {"thresh": -20}})
    assert exc.key == "chain[0].params.thresh"
    assert 'Parameter named "thresh" not found. Valid options: ' in str(exc) and "threshold_db" in str(exc)


@needs(ZAM_COMP_X2 is None, reason="no test VST3 plugins")
def test_vst3_parameters_are_live_and_saved(tmp_path: Path) -> None:
    chain = Chain.from_dict(
        {"format": 1, "chain": [{"vst3": str(ZAM_COMP_X2), "name": "glue", "params": {"threshold_db": -24.0, "ratio": 4.0}}]}
    )
    info = {p.name: p for p in chain.parameters()}["threshold_db"]
    assert (info.stage, info.value, info.minimum, info.maximum, info.unit) == ("glue", -24.0, -80.0, 0.0, "dB")
    x = noise(1.0, 2, level=0.3)
    before = chain(x, SR)
    chain.set_param("glue", "ratio", 20.0)
    assert energy_db(chain(x, SR)) < energy_db(before) - 1  # harder compression, quieter output
    saved = Chain.from_preset(chain.save(tmp_path / "glue.yaml"))
    assert saved.get_param("glue", "ratio") == pytest.approx(20.0, abs=0.05)


@needs(ZAM_COMP_X2 is None, reason="no test VST3 plugins")
def test_a_vstpreset_state_file_is_applied_before_the_params(tmp_path: Path) -> None:
    plugin = pedalboard.load_plugin(str(ZAM_COMP_X2))
    plugin.threshold_db, plugin.ratio = -33.0, 7.0
    plugin(np.zeros((2, 512), np.float32), SR)  # the plugin updates its state once it has run
    (tmp_path / "glue.vstpreset").write_bytes(plugin.preset_data)
    path = tmp_path / "fx.yaml"
    path.write_text(
        yaml.safe_dump({"format": 1, "chain": [{"vst3": str(ZAM_COMP_X2), "state": "glue.vstpreset", "params": {"ratio": 2.0}}]})
    )
    chain = Chain.from_preset(path)
    assert chain.get_param(0, "threshold_db") == pytest.approx(-33.0, abs=0.1)
    assert chain.get_param(0, "ratio") == pytest.approx(2.0, abs=0.05)


@needs(ZAM_COMP is None, reason="no test VST3 plugins")
def test_a_mono_only_plugin_runs_once_per_channel_on_stereo_audio() -> None:
    chain = Chain.from_dict(
        {"format": 1, "tail_seconds": 0, "chain": [{"vst3": str(ZAM_COMP), "params": {"threshold_db": -30.0, "ratio": 8.0}}]}
    )
    x = noise(1.0, 2, level=0.3, seed=11)
    x[1] *= 0.1  # different channels: a shared instance would mix their envelopes
    y = chain(x, SR)
    assert y.shape == x.shape
    for ch in range(2):
        alone = pedalboard.load_plugin(str(ZAM_COMP), parameter_values={"threshold_db": -30.0, "ratio": 8.0})
        np.testing.assert_allclose(y[ch], alone(x[ch : ch + 1], SR)[0], atol=1e-6)
    chain.set_param(0, "ratio", 1.0)  # reaches both instances
    np.testing.assert_allclose(chain(x, SR), x, atol=1e-3)


@needs(DRAGONFLY is None, reason="no test VST3 plugins")
def test_a_stereo_only_plugin_turns_a_mono_file_into_stereo(tmp_path: Path) -> None:
    chain = Chain.from_dict({"format": 1, "chain": [{"plugin": "Gain", "params": {"gain_db": -3}}, {"vst3": str(DRAGONFLY)}]})
    assert chain.output_channels(1) == 2
    [out] = render_file(chain, write(tmp_path / "mono.wav", noise(1.0, 1)), tmp_path / "out")
    y, rate = audio_io.load(out)
    assert (y.shape[0], rate) == (2, SR)
    assert y.shape[1] > SR  # the reverb tail is kept
    assert energy_db(y[:, SR:]) > -70


@needs(ZAM_COMP is None, reason="no test VST3 plugins")
def test_a_mono_only_plugin_inside_a_mix_on_stereo_audio_is_refused_with_a_fix() -> None:
    chain = Chain.from_dict({"format": 1, "chain": [{"mix": [{"chain": []}, {"vst3": str(ZAM_COMP)}]}]})
    with pytest.raises(
        ChainError,
        match="accepts mono audio only, and inside a chain or mix it cannot be adapted to 2-channel audio; put it at the top level",
    ):
        chain(noise(0.5, 2), SR)
    assert chain(noise(0.5, 1), SR).shape[0] == 1  # mono audio is fine


@needs(ZAM_COMP_X2 is None, reason="no test VST3 plugins")
def test_copies_of_a_vst3_chain_have_their_own_instances() -> None:
    chain = Chain.from_dict({"format": 1, "chain": [{"vst3": str(ZAM_COMP_X2), "params": {"ratio": 4.0}}]})
    twin = chain.copy()
    twin.set_param(0, "ratio", 10.0)
    assert chain.get_param(0, "ratio") == pytest.approx(4.0, abs=0.05)
    assert twin.get_param(0, "ratio") == pytest.approx(10.0, abs=0.05)


@needs(DRAGONFLY is None, reason="no test VST3 plugins")
def test_a_stereo_only_plugin_on_one_stem_of_a_mono_song_makes_the_mix_stereo() -> None:
    mono = {name: stem[:1] for name, stem in song(0).items()}
    chain = Chain.from_dict(
        {"format": 1, "chain": [{"split": {"stems": ["vocals"], "routes": {"vocals": {"chain": [{"vst3": str(DRAGONFLY)}]}}}}]},
        separator=OracleSeparator([mono]),
    )
    assert chain.output_channels(1) == 2
    out = chain(np.sum(list(mono.values()), axis=0), SR)
    assert out.shape[0] == 2 and out.shape[1] > mono["vocals"].shape[1]
    accompaniment = np.sum([s for n, s in mono.items() if n != "vocals"], axis=0)[0]
    wet = out[:, : accompaniment.shape[0]] - accompaniment  # the untouched mono stem sits on both sides
    assert energy_db(wet) > -60
