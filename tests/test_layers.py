"""The directions of docs/architecture.md, read from the source: every module imports only its own room and the
rooms below it, and no two packages import each other. No module is exempt by name."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("stembase", "separator", "batch_runner", "stemreports", "plugin_host", "stemsplit")

# Lowest first; a module belongs to the room of its longest matching prefix.
ROOMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("base", ("stembase",)),
    ("core", ("separator",)),
    ("training", ("separator.training",)),
    ("work", ("batch_runner",)),
    ("reports", ("stemreports",)),
    ("chains", ("plugin_host",)),
    ("control", ("plugin_host.control",)),
    ("faces", ("stemsplit",)),
)
RANK = {name: rank for rank, (name, _) in enumerate(ROOMS)}


def room_of(module: str) -> str | None:
    """The room of a dotted module name, ``None`` for modules outside the project (numpy, torch…)."""
    best: tuple[int, str] | None = None
    for name, prefixes in ROOMS:
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), name)
    return best[1] if best else None


def module_name(file: Path) -> str:
    parts = list(file.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """``{module: every project module it imports}``, lazy imports inside functions included."""
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for file in sorted((ROOT / package).rglob("*.py")):
            names: set[str] = set()
            here = module_name(file)
            parent = here if file.name == "__init__.py" else here.rpartition(".")[0]
            for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom):
                    base = ".".join(parent.split(".")[: len(parent.split(".")) - node.level + 1]) if node.level else ""
                    source = ".".join(part for part in (base, node.module or "") if part)  # relative imports resolved
                    names.update([source] + [f"{source}.{alias.name}" for alias in node.names])
            found[here] = {n for n in names if room_of(n) is not None and n.split(".")[0] in PACKAGES}
    return found


def upward(module: str, imported: str) -> bool:
    """Whether ``imported`` sits in a room above ``module``'s (``from stembase import audio`` counts as
    ``stembase.audio`` when that is a module, else as ``separator``)."""
    here, there = room_of(module), room_of(imported)
    assert here is not None and there is not None
    return RANK[there] > RANK[here]


def resolve(name: str) -> str:
    """``from a import b``: ``a.b`` when it is a module of ours, else ``a``."""
    path = ROOT.joinpath(*name.split("."))
    if path.with_suffix(".py").exists() or (path / "__init__.py").exists():
        return name
    return name.rsplit(".", 1)[0]


def test_no_module_imports_a_room_above_its_own() -> None:
    wrong = {module: sorted(resolve(n) for n in names if upward(module, resolve(n))) for module, names in imports().items()}
    assert {module: names for module, names in wrong.items() if names} == {}


def test_no_two_packages_import_each_other() -> None:
    edges = {(m.split(".")[0], resolve(n).split(".")[0]) for m, names in imports().items() for n in names}
    mutual = sorted((a, b) for a, b in edges if a < b and (b, a) in edges)
    assert mutual == []


def test_the_batch_runner_stands_on_the_base_alone() -> None:
    """It runs the separator and the chains only through the worker factories the faces hand it."""
    wrong = {m: sorted(n for n in names if not n.startswith(("stembase", "batch_runner"))) for m, names in imports().items()}
    assert {m: n for m, n in wrong.items() if m.startswith("batch_runner") and n} == {}


def test_the_base_imports_nothing_of_the_project_above_it() -> None:
    wrong = {m: sorted(names) for m, names in imports().items() if m.startswith("stembase")}
    assert {m: [n for n in names if not n.startswith("stembase")] for m, names in wrong.items()} == {m: [] for m in wrong}


def test_splitting_a_song_loads_no_training_code() -> None:
    probe = (
        "import sys, numpy as np; from separator import Separator; "
        "Separator.from_pretrained().separate(np.zeros((2, 44100), np.float32), 44100); "
        "print(sorted(m for m in sys.modules if m.startswith('separator.training')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True, cwd=ROOT)
    assert done.stdout.strip() == "[]"


def test_training_imports_apart_from_the_faces() -> None:
    faces_and_work = "{'stemsplit', 'plugin_host', 'batch_runner'}"
    probe = f"import sys, separator.training.train; print(sorted({{m.split('.')[0] for m in sys.modules}} & {faces_and_work}))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True, cwd=ROOT)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("module", ["batch_runner", "batch_runner.policy", "plugin_host.control.osc.jobs", "plugin_host.control.live.plan"])
def test_importing_the_batch_runner_does_not_import_torch(module: str) -> None:
    probe = f"import sys, {module}; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True, cwd=ROOT)
    assert done.stdout.strip() == "False"
