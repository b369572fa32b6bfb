"""The directions of ../shared/ARCHITECTURE.md, read from the source: the batch runner sits below the faces and
above the separator and the chains, and the separator's core knows neither the runner nor the plugin host."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FACES = ("separator.cli", "separator.batch", "plugin_host")  # the separator's face and its worker factory; all of plugin_host


def imports(package: str) -> dict[str, set[str]]:
    """``{module file: every module it imports}``, lazy imports inside functions included."""
    found: dict[str, set[str]] = {}
    for file in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
        found[str(file.relative_to(ROOT))] = names
    return found


def test_the_batch_runner_never_imports_a_face_or_a_chain() -> None:
    wrong = {file: sorted(n for n in names if n.startswith(FACES)) for file, names in imports("batch_runner").items()}
    assert {file: names for file, names in wrong.items() if names} == {}


def test_the_separator_core_never_imports_the_batch_runner_or_the_plugin_host() -> None:
    above = ("batch_runner", "plugin_host")
    core = {f: n for f, n in imports("separator").items() if f not in ("separator/cli.py", "separator/batch.py")}
    wrong = {file: sorted(n for n in names if n.startswith(above)) for file, names in core.items()}
    assert {file: names for file, names in wrong.items() if names} == {}


@pytest.mark.parametrize("module", ["batch_runner", "batch_runner.policy", "plugin_host.osc.jobs"])
def test_importing_the_batch_runner_does_not_import_torch(module: str) -> None:
    probe = f"import sys, {module}; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True, cwd=ROOT)
    assert done.stdout.strip() == "False"
