"""Presets as the server sees them: where a name is looked up, where a save goes, what a network-loaded preset may read.

A name (``karaoke``) is looked up in the server's preset folder first, then in
the preset library (:func:`plugin_host.preset.search_dirs`); a path must lie
inside a root. A preset loaded by a message may host a VST3 plugin (or load its
``.vstpreset`` state) only when the operator passed ``--allow-vst3``, and may read
impulse responses only inside the roots or its own folder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from plugin_host import preset
from plugin_host.catalog import resolve
from plugin_host.control.osc.security import PathPolicy, PathRefused
from plugin_host.errors import PresetError
from plugin_host.params import not_found

PRESET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class PresetStore:
    """Finds, checks and places preset files for one server.

    Args:
        paths: the roots messages may use.
        folder: where ``/preset/save NAME`` writes and where names are looked up first (default ``ROOT/presets``).
        allow_vst3: presets loaded by a message may load VST3 plugins and their state files.
    """

    def __init__(self, paths: PathPolicy, folder: Path | None = None, allow_vst3: bool = False) -> None:
        self.paths, self.allow_vst3 = paths, allow_vst3
        self.folder = Path(os.path.realpath(folder or paths.roots[0] / "presets"))

    def find(self, name_or_path: str, trusted: bool = False) -> Path:
        """The file of a preset named by a message (or, ``trusted``, by the operator).

        Raises:
            PresetError: not a name, or no preset of that name.
            PathRefused: a path outside the roots (unless ``trusted``).
        """
        if looks_like_path(name_or_path):
            return preset.find_preset(name_or_path) if trusted else self.paths.input_file(name_or_path)
        if not PRESET_NAME.match(name_or_path):
            raise PresetError(
                f"{name_or_path!r} is neither a preset name (letters, digits, '_', '-', '.') nor a path to a .yaml/.yml/.json file"
            )
        for suffix in preset.SUFFIXES:
            candidate = self.folder / f"{name_or_path}{suffix}"
            if candidate.is_file():
                return candidate
        found = preset.find_preset(name_or_path)
        if found.parent.resolve() not in {d.resolve() for d in preset.search_dirs()}:  # a stray file in the working directory
            raise PresetError(not_found("Preset", name_or_path, [i.name for i in self.list()]))
        return found

    def check(self, data: dict[str, Any], path: Path) -> None:
        """Refuse what a preset loaded by a message may not do.

        Raises:
            PresetError: it hosts a VST3 plugin and ``--allow-vst3`` was not given.
            PathRefused: it reads a file outside the roots and its own folder.
        """
        base = Path(os.path.realpath(path)).parent
        for kind, text in referenced_files(data["chain"]):
            if kind in ("vst3", "state") and not self.allow_vst3:
                raise PresetError(
                    f"{path.name} loads the VST3 plugin {text}; presets loaded over OSC may load VST3 plugins "
                    "only when the server runs with --allow-vst3"
                )
            real = Path(os.path.realpath(resolve(text, base)))
            if not (real.is_relative_to(base) or any(real.is_relative_to(r) for r in self.paths.roots)):
                raise PathRefused(
                    f"{path.name} reads {text}, outside the allowed roots and the preset's folder; start the server with --root to allow it"
                )

    def save_path(self, name_or_path: str) -> Path:
        """Where ``/preset/save`` writes: ``FOLDER/NAME.yaml`` for a name (replaced if there), a new file in the roots for a path.

        Raises:
            PresetError: neither a name nor a path.
            PathRefused: a path outside the roots, or an existing file (without ``--overwrite``).
        """
        if looks_like_path(name_or_path):
            return self.paths.output_file(name_or_path)
        if not PRESET_NAME.match(name_or_path):
            raise PresetError(
                f"{name_or_path!r} is neither a preset name (letters, digits, '_', '-', '.') nor a path to a .yaml/.yml/.json file"
            )
        return self.folder / f"{name_or_path}.yaml"

    def list(self) -> list[preset.PresetInfo]:
        """The presets in the preset folder, then the library's (a name in the preset folder wins)."""
        own = [_info(p) for p in sorted(self.folder.glob("*")) if p.suffix.lower() in preset.SUFFIXES and not p.name.startswith(".")]
        names = {i.name for i in own}
        return own + [i for i in preset.list_presets() if i.name not in names]


def looks_like_path(text: str) -> bool:
    """A path, not a name: it holds a separator or ends in a preset suffix."""
    return "/" in text or os.sep in text or Path(text).suffix.lower() in preset.SUFFIXES


def referenced_files(entries: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
    """``(kind, path as written)`` of every file a preset's stages read: ``vst3``, ``state``, ``impulse_response``."""
    for entry in entries:
        for key in ("vst3", "state"):
            if key in entry:
                yield key, str(entry[key])
        ir = entry.get("params", {}).get("impulse_response_filename") if entry.get("plugin") == "Convolution" else None
        if ir:
            yield "impulse_response", str(ir)
        for kind in ("chain", "mix"):
            yield from referenced_files(entry.get(kind, []))
        for route in entry.get("split", {}).get("routes", {}).values():
            yield from referenced_files(route.get("chain", []))


def _info(path: Path) -> preset.PresetInfo:
    try:
        return preset.PresetInfo(path.stem, path, str(preset.load_preset(path).get("description", "")))
    except PresetError as exc:
        return preset.PresetInfo(path.stem, path, "", str(exc))
