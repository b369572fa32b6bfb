"""Preset files: find them by name or path, list them, load and check them, save them atomically.

Presets are YAML (``.yaml``/``.yml``, the primary format) or JSON (``.json``).
A name (``karaoke``) is looked up in the folders of ``$PLUGIN_HOST_PRESETS``
(separated by ``os.pathsep``), then in :data:`PRESET_DIRS` (the ``presets/``
folder shipped next to the package); the first match wins.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from plugin_host.errors import PresetError
from plugin_host.params import not_found
from plugin_host.schema import normalize

PRESETS_ENV = "PLUGIN_HOST_PRESETS"
# The repository's presets/ (editable installs); a wheel installs them under <prefix>/share.
_REPO_PRESETS = Path(__file__).resolve().parent.parent / "presets"
SHIPPED_PRESETS = _REPO_PRESETS if _REPO_PRESETS.is_dir() else Path(sys.prefix) / "share" / "stemsplit" / "presets"
PRESET_DIRS: list[Path] = [SHIPPED_PRESETS]
SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class PresetInfo:
    """A preset found in a preset folder.

    Attributes:
        name: what ``find_preset`` accepts (the file name without its suffix).
        path: the file.
        description: the preset's own description.
        error: why the file does not load, or ``None`` when it does.
    """

    name: str
    path: Path
    description: str
    error: str | None = None


def search_dirs() -> list[Path]:
    """The folders searched for preset names, in order: ``$PLUGIN_HOST_PRESETS``, then :data:`PRESET_DIRS`."""
    extra = [Path(p).expanduser() for p in os.environ.get(PRESETS_ENV, "").split(os.pathsep) if p]
    return extra + list(PRESET_DIRS)


def list_presets() -> list[PresetInfo]:
    """Every preset in the search folders, sorted by name; a name found twice is taken from the first folder."""
    found: dict[str, PresetInfo] = {}
    for folder in search_dirs():
        for path in sorted(folder.glob("*")) if folder.is_dir() else []:
            if path.suffix.lower() in SUFFIXES and path.stem not in found and not path.name.startswith("."):
                found[path.stem] = _info(path)
    return sorted(found.values(), key=lambda i: i.name)


def _info(path: Path) -> PresetInfo:
    try:
        data = load_preset(path)
    except PresetError as exc:
        return PresetInfo(path.stem, path, "", str(exc))
    return PresetInfo(path.stem, path, str(data.get("description", "")))


def _looks_like_path(text: str) -> bool:
    return Path(text).suffix.lower() in SUFFIXES or "/" in text or os.sep in text


def find_preset(name_or_path: str | Path) -> Path:
    """The file of a preset given by name (``karaoke``) or path (``my/bus.yaml``).

    Raises:
        PresetError: no such file, or no preset of that name (the message lists the names there are).
    """
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    if isinstance(name_or_path, Path) or _looks_like_path(str(name_or_path)):
        raise PresetError(f"preset file not found: {path}")
    for folder in search_dirs():
        for suffix in SUFFIXES:
            candidate = folder / f"{name_or_path}{suffix}"
            if candidate.is_file():
                return candidate
    raise PresetError(not_found("Preset", name_or_path, [i.name for i in list_presets()]))


def read(path: Path) -> Any:
    """The parsed YAML or JSON of a preset file (not yet checked).

    Raises:
        PresetError: unreadable, or a syntax error (with its line).
    """
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise PresetError(f"unsupported preset file type {suffix or '(none)'!r}. Valid options: {', '.join(SUFFIXES)}", path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PresetError(f"cannot read the preset ({getattr(exc, 'strerror', None) or exc})", path) from None
    try:
        return json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise PresetError(f"line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg})", path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise PresetError(f"{where}invalid YAML ({getattr(exc, 'problem', None) or exc})", path) from None


def load_preset(name_or_path: str | Path) -> dict[str, Any]:
    """A preset by name or path, checked, in canonical form (see :mod:`plugin_host.schema`).

    VST3 files, state files and impulse responses must exist; the plugins themselves
    are loaded (and their parameters checked) by :meth:`plugin_host.Chain.from_preset`.

    Raises:
        PresetError: the file is missing, unreadable or invalid; the message names the file, key path and problem.
    """
    path = find_preset(name_or_path)
    return normalize(read(path), file=path, base_dir=path.parent.resolve(), default_name=path.stem)


def save_preset(data: dict[str, Any], path: str | Path) -> Path:
    """Check ``data`` and write it to ``path`` (YAML or JSON by suffix) under a temporary name, then rename.

    Relative paths inside ``data`` are taken from ``path``'s folder.

    Raises:
        PresetError: ``data`` is not a valid preset, the suffix is unknown, or the file cannot be written.
    """
    path = Path(path).expanduser()
    if path.suffix.lower() not in SUFFIXES:
        raise PresetError(f"unsupported preset file type {path.suffix or '(none)'!r}. Valid options: {', '.join(SUFFIXES)}", path)
    canonical = normalize(data, file=path, base_dir=path.parent.resolve(), default_name=path.stem)
    text = (
        json.dumps(canonical, indent=2) + "\n"
        if path.suffix.lower() == ".json"
        else yaml.safe_dump(canonical, sort_keys=False, allow_unicode=True)
    )
    try:
        _write_atomic(path, text)
    except OSError as exc:
        raise PresetError(f"cannot write the preset ({exc.strerror or exc})", path) from None
    return path


def _write_atomic(path: Path, text: str) -> None:
    """Write under a hidden temporary name in the same folder, then rename (permissions follow the umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.part")
    try:
        with open(tmp, "x", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
