"""CI and the README agree: the developer commands are the ones ``.ci/run`` runs, the Quick start never
writes one folder twice, and CI fails when the VST3 plugins its tests need cannot be fetched."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FETCH = ROOT / ".ci" / "fetch-vst3"


def readme_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_the_readme_shows_the_developer_commands_exactly_as_ci_runs_them() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    steps = [ci[i + 1] for i, line in enumerate(ci) if line.startswith("# --- README: Developer set-up, step")]
    assert steps == ['pip install -e ".[dev]" && pip install --no-deps tinysoundfont', "pytest"]
    assert "\n".join(steps) + "\n" in readme_blocks()


def test_the_readme_starts_with_a_user_install_and_a_first_split() -> None:
    first = [line.split("#")[0].strip() for line in readme_blocks()[0].splitlines()]
    assert first[0] == "pip install torch --index-url https://download.pytorch.org/whl/cpu && pip install ."
    assert first[1].startswith("separator split examples/mixture.flac -o ")


def test_the_quick_start_run_top_to_bottom_never_writes_one_folder_twice() -> None:
    commands = [line.split("  #")[0] for block in readme_blocks()[:2] for line in block.splitlines()]
    written: dict[str, str] = {}
    for command in commands:
        words = shlex.split(command)
        if words[:2] not in (["separator", "split"], ["plugin-host", "run"]) or "--skip-existing" in words:
            continue
        out = Path(words[words.index("-o") + 1]).as_posix().rstrip("/")
        assert out not in written, f"{command!r} writes {out}/ again, after {written[out]!r}"
        written[out] = command
    assert len(written) >= 4


def fetch(tmp_path: Path, tool: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FETCH_TEST_VST3": tool}
    return subprocess.run([str(FETCH), str(tmp_path / "vst3")], env=env, capture_output=True, text=True, check=False, timeout=60)


def fake_tool(tmp_path: Path, body: str) -> str:
    tool = tmp_path / "fetch-test-vst3"
    tool.write_text(f'#!/usr/bin/env bash\nset -eu\nmkdir -p "$1"\n{body}\n')
    tool.chmod(0o755)
    return str(tool)


@pytest.mark.parametrize(("body", "why"), [(None, "is missing"), ("exit 1", "could not fetch"), ("true", "left no .vst3 plugin")])
def test_ci_fails_in_one_line_when_no_vst3_plugin_can_be_fetched(tmp_path: Path, body: str | None, why: str) -> None:
    result = fetch(tmp_path, str(tmp_path / "absent") if body is None else fake_tool(tmp_path, body))
    assert result.returncode == 1
    assert why in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_ci_goes_on_when_the_plugins_arrive(tmp_path: Path) -> None:
    assert fetch(tmp_path, fake_tool(tmp_path, 'mkdir "$1/Reverb.vst3"')).returncode == 0


def test_ci_runs_the_fetch_and_stops_when_it_fails() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "set -euo pipefail" in ci
    assert re.search(r"^\.ci/fetch-vst3 \"\$PLUGIN_HOST_TEST_VST3_DIR\"$", ci, flags=re.M)


CHECK_DISK = ROOT / ".ci" / "check-disk"


def test_ci_fails_in_one_line_when_the_disk_is_too_full(tmp_path: Path) -> None:
    result = subprocess.run([str(CHECK_DISK), str(tmp_path), "1000000"], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert f"MB free in {tmp_path}; CI needs 1000000 GB" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_ci_goes_on_when_the_disk_has_room(tmp_path: Path) -> None:
    assert subprocess.run([str(CHECK_DISK), str(tmp_path), "0"], check=False).returncode == 0


def test_ci_checks_the_disk_and_removes_everything_it_makes_outside_the_checkout() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    before_venv = ci.split("python3 -m venv")[0]
    assert re.search(r"^\.ci/check-disk ", before_venv, flags=re.M)
    assert re.search(r"^scratch=\$\(mktemp -d\)\ntrap 'rm -rf \"\$scratch\"' EXIT$", before_venv, flags=re.M)
    assert ci.count("mktemp") == 1, "every temporary folder of CI lies under $scratch"
    assert "venv=$scratch/venv" in ci and "sounds=$scratch/sounds" in ci
