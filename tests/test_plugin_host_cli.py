"""The ``plugin-host`` command line, called in-process: run, presets list/show/validate, messages and exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from plugin_host_fixtures import noise, write

from stembase import audio as audio_io
from stemsplit.plugin_host_cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, get_parser, main


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    write(folder / "one.wav", noise(0.5, 2, seed=1))
    write(folder / "two.wav", noise(0.5, 1, seed=2))
    return folder


def test_run_writes_outputs_and_prints_a_summary_table(
    inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("batch_runner.progress._is_terminal", lambda stream: True)  # the bar is drawn on terminals only
    assert main(["run", "master-bus", str(inputs), "-o", str(tmp_path / "out"), "--jobs", "2"]) == EXIT_OK
    out, err = capsys.readouterr()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["one.wav", "two.wav"]
    assert "plugin-host run master-bus: 2 files, jobs 2" in out
    assert [line.split()[:2] for line in out.splitlines()[2:6]] == [["done", "2"], ["skipped", "0"], ["failed", "0"], ["total", "2"]]
    assert "real-time factor" in out
    assert "1.0/1.0 s" in err  # the progress bar counts seconds of audio


def test_a_failed_file_is_reported_and_makes_the_exit_code_non_zero(
    inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (inputs / "bad.wav").write_text("not audio")
    code = main(["run", "master-bus", str(inputs), "-o", str(tmp_path / "out"), "-q"])
    out, err = capsys.readouterr()
    assert code == EXIT_FAILED
    assert out == ""  # quiet: no table
    assert f"failed: {inputs / 'bad.wav'}: not a readable audio file" in err
    assert (tmp_path / "out" / "one.wav").exists() and (tmp_path / "out" / "two.wav").exists()


def test_skip_existing_and_overwrite(inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = str(tmp_path / "out")
    assert main(["run", "master-bus", str(inputs), "-o", out_dir, "-q"]) == EXIT_OK
    assert main(["run", "master-bus", str(inputs), "-o", out_dir, "-q"]) == EXIT_FAILED
    assert "output exists; use --skip-existing to keep it or --overwrite to replace it" in capsys.readouterr().err
    assert main(["run", "master-bus", str(inputs), "-o", out_dir, "--skip-existing"]) == EXIT_OK
    assert [line.split()[:2] for line in capsys.readouterr().out.splitlines()[2:4]] == [["done", "0"], ["skipped", "2"]]
    assert main(["run", "master-bus", str(inputs), "-o", out_dir, "--overwrite", "-q"]) == EXIT_OK
    with pytest.raises(SystemExit) as info:
        main(["run", "master-bus", str(inputs), "-o", out_dir, "--overwrite", "--skip-existing"])
    assert info.value.code == EXIT_USAGE


def test_format_and_bit_depth(inputs: Path, tmp_path: Path) -> None:
    assert (
        main(["run", "master-bus", str(inputs / "one.wav"), "-o", str(tmp_path / "out"), "--format", "flac", "--bit-depth", "16", "-q"])
        == EXIT_OK
    )
    audio, rate = audio_io.load(tmp_path / "out" / "one.flac")
    assert rate == 44100 and audio.shape[0] == 2


def test_clipping_at_an_integer_bit_depth_is_warned_about(inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    preset = tmp_path / "hot.yaml"
    preset.write_text(yaml.safe_dump({"format": 1, "chain": [{"plugin": "Gain", "params": {"gain_db": 30}}]}))
    assert main(["run", str(preset), str(inputs / "one.wav"), "-o", str(tmp_path / "out"), "--bit-depth", "24", "-q"]) == EXIT_OK
    assert "1 output(s) peak above 0 dBFS and clip at 24-bit: one.wav (+" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "text"),
    [
        (["run", "karoke", "x.wav", "-o", "out"], 'plugin-host: error: Preset named "karoke" not found. Valid options: acapella'),
        (["presets", "show", "nope"], 'plugin-host: error: Preset named "nope" not found.'),
    ],
)
def test_errors_before_any_work_are_one_line_and_exit_2(argv: list[str], text: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith(text)
    assert len(err.strip().splitlines()) == 1


def test_presets_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets", "list"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["acapella", "drum-bus", "karaoke", "master-bus", "stems", "vocal-polish"]
    assert "Remove the vocals" in lines[2]


def test_presets_show_prints_the_canonical_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets", "show", "drum-bus"]) == EXIT_OK
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["name"] == "drum-bus"
    assert shown["chain"][0]["split"]["routes"]["drums"]["chain"][0]["params"]["ratio"] == 4.0


def test_presets_show_params_lists_what_osc_and_midi_can_move(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets", "show", "master-bus", "--params"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "glue.ratio = 2  [1, 100] log" in out
    assert "limiter.ceiling_db = -1.2 dB  [-60, 0] linear" in out


def test_presets_validate_checks_every_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(yaml.safe_dump({"format": 1, "name": "good", "chain": [{"plugin": "Gain"}]}))
    bad.write_text(yaml.safe_dump({"format": 1, "chain": [{"plugin": "Compressor", "params": {"ratio": 0.5}}]}))
    assert main(["presets", "validate", str(good), str(bad)]) == EXIT_FAILED
    out, err = capsys.readouterr()
    assert out == f"ok: {good} (good: 1 plugin stages)\n"
    assert err == f"error: {bad}: chain[0].params.ratio: Value received for parameter 'ratio' (0.5) is out of range [1, 100]\n"


def test_the_parser_has_the_documented_commands() -> None:
    parser = get_parser()
    args = parser.parse_args(["run", "karaoke", "a.wav", "b/", "-o", "out", "-j", "2", "--format", "flac", "--bit-depth", "24"])
    assert (args.preset, args.inputs, args.out, args.jobs, args.ext, args.bit_depth) == ("karaoke", ["a.wav", "b/"], "out", 2, "flac", "24")
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "karaoke", "a.wav"])  # -o is required
