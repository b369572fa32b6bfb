"""Scripts that run inside a DAW and split a region into stems through the project's faces.

The scripts are package data (``plugin_host/control/daw/<daw>/*.lua``); they talk to the project only
through ``plugin-host daw split`` (which uses a running ``plugin-host serve`` when one answers).
:func:`install` copies them where the DAW looks, with the absolute path of this environment's
``plugin-host`` written in, so a DAW started from a desktop menu (without this virtual
environment on its ``PATH``) still finds it.

>>> [s.name for s in shipped("ardour")]
['split_into_stems.lua']
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from plugin_host.errors import PluginHostError
from stembase.outputs import FileWriteError, write_atomic

__all__ = ["DAWS", "DawError", "Script", "default_dirs", "install", "shipped"]

#: DAWs with shipped scripts, and what a user needs to know about each.
DAWS: dict[str, str] = {
    "ardour": "Ardour 7/8 EditorAction (Edit > Lua Scripts > Script Manager > Add/Set); verified in Ardour 7.3",
    "reaper": "REAPER ReaScript (Actions > Show action list > New action > Load ReaScript); not run here",
}

PLACEHOLDER = "@PLUGIN_HOST@"


class DawError(PluginHostError):
    """An unknown DAW, or a script folder that cannot be written."""


@dataclass(frozen=True)
class Script:
    """One shipped script: its DAW, file name and first description line."""

    daw: str
    name: str
    summary: str


def _folder(daw: str):  # type: ignore[no-untyped-def]
    if daw not in DAWS:
        raise DawError(f"unknown DAW {daw!r}; choose one of: {', '.join(DAWS)}")
    return resources.files(__package__).joinpath(daw)


def _summary(text: str) -> str:
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("name") and "=" in line:
            return line.split("=", 1)[1].strip().strip('",')
        if line.startswith("-- @description"):
            return line.split("@description", 1)[1].strip()
    return ""


def shipped(daw: str) -> list[Script]:
    """The scripts shipped for ``daw``, sorted by name."""
    folder = _folder(daw)
    out = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".lua"):
            out.append(Script(daw, entry.name, _summary(entry.read_text(encoding="utf-8"))))
    return out


def script_text(daw: str, name: str, command: str | None = None) -> str:
    """A shipped script's text with ``command`` (default: this environment's ``plugin-host``) written in."""
    text = _folder(daw).joinpath(name).read_text(encoding="utf-8")
    literal = (command or plugin_host_command()).replace("\\", "\\\\").replace('"', '\\"')
    return text.replace(PLACEHOLDER, literal)


def plugin_host_command() -> str:
    """The absolute path of this environment's ``plugin-host`` (beside the running Python)."""
    beside = Path(sys.executable).parent / ("plugin-host.exe" if os.name == "nt" else "plugin-host")
    if beside.exists():
        return str(beside)
    return shutil.which("plugin-host") or "plugin-host"


def default_dirs(daw: str, home: Path | None = None) -> list[Path]:
    """Where ``daw`` looks for scripts: every Ardour version folder that exists (else Ardour 8's),
    REAPER's resource folder on this system."""
    _folder(daw)
    home = home or Path.home()
    if daw == "ardour":
        config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
        if sys.platform == "darwin":
            config = home / "Library" / "Preferences"
        found = [config / f"Ardour{v}" if sys.platform == "darwin" else config / f"ardour{v}" for v in (6, 7, 8, 9)]
        existing = [d / "scripts" for d in found if d.is_dir()]
        return existing or [found[2] / "scripts"]
    if sys.platform == "darwin":
        return [home / "Library" / "Application Support" / "REAPER" / "Scripts"]
    if os.name == "nt":
        return [Path(os.environ.get("APPDATA") or home / "AppData" / "Roaming") / "REAPER" / "Scripts"]
    return [Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "REAPER" / "Scripts"]


def install(daw: str, dirs: list[Path] | None = None, command: str | None = None) -> list[Path]:
    """Copy the scripts for ``daw`` into ``dirs`` (default :func:`default_dirs`); returns the files written.

    Raises:
        DawError: unknown DAW, or a folder that cannot be created or written.
    """
    written = []
    for folder in dirs or default_dirs(daw):
        for script in shipped(daw):
            try:
                written.append(write_atomic(folder / script.name, script_text(daw, script.name, command)))
            except FileWriteError as exc:
                raise DawError(f"cannot install the {daw} scripts: {exc}; choose another folder with --dir") from exc
    return written
