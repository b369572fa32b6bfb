"""`plugin-host daw list|install`: the DAW scripts ship as package data and install where the DAW looks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import missing

from plugin_host.control import daw


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["plugin-host", "daw", *args], check=False, capture_output=True, text=True, timeout=60)


def test_list_shows_every_shipped_script_per_daw() -> None:
    done = _cli("list")
    assert done.returncode == 0, done.stderr
    assert "ardour" in done.stdout and "reaper" in done.stdout
    assert "split_into_stems.lua" in done.stdout
    assert "Split Region into Stems" in done.stdout


@pytest.mark.parametrize("name", ["ardour", "reaper"])
def test_install_writes_the_scripts_with_this_environments_command(name: str, tmp_path: Path) -> None:
    done = _cli("install", name, "--dir", str(tmp_path / "scripts"))
    assert done.returncode == 0, done.stderr
    script = tmp_path / "scripts" / "split_into_stems.lua"
    assert str(script) in done.stdout
    text = script.read_text()
    assert daw.PLACEHOLDER not in text
    command = daw.plugin_host_command()
    assert Path(command).is_absolute() and Path(command).parent == Path(sys.executable).parent
    assert f'"{command}"' in text
    assert not list((tmp_path / "scripts").glob(".*.part")), "no temporary file is left"


def test_install_into_a_file_is_a_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = _cli("install", "ardour", "--dir", str(blocker))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(blocker) in lines[0] and "--dir" in lines[0]


def test_an_unknown_daw_is_refused_with_the_choices() -> None:
    done = _cli("install", "logic")
    assert done.returncode == 2
    assert "ardour" in done.stderr and "reaper" in done.stderr


def test_default_folders_follow_each_daws_conventions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    if sys.platform.startswith("linux"):
        # no Ardour configuration yet: Ardour 8's folder
        assert daw.default_dirs("ardour") == [tmp_path / "cfg" / "ardour8" / "scripts"]
        (tmp_path / "cfg" / "ardour7").mkdir(parents=True)
        (tmp_path / "cfg" / "ardour8").mkdir(parents=True)
        assert daw.default_dirs("ardour") == [tmp_path / "cfg" / "ardour7" / "scripts", tmp_path / "cfg" / "ardour8" / "scripts"]
        assert daw.default_dirs("reaper") == [tmp_path / "cfg" / "REAPER" / "Scripts"]


@pytest.mark.parametrize("name", ["ardour", "reaper"])
def test_the_shipped_scripts_are_valid_lua(name: str) -> None:
    luac = shutil.which("luac5.4") or shutil.which("luac5.3") or shutil.which("luac")
    if luac is None:
        missing("no Lua compiler: apt-get install lua5.4")
    for script in daw.shipped(name):
        text = daw.script_text(name, script.name, command="/opt/x/plugin-host")
        done = subprocess.run([luac, "-p", "-"], check=False, input=text, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, f"{script.name}: {done.stderr}"
