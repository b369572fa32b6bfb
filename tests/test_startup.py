"""Start-up as a user meets it: commands that do not separate never import torch, Ctrl-C at any
moment of start-up is one line and exit code 130, and the OSC server answers before the model is loaded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from osc_support import OscClient

from plugin_host.control.osc import model as osc_model
from plugin_host.control.osc.model import ModelProvider
from plugin_host.control.osc.service import ServeOptions, Service
from stembase import audio as audio_io

ROOT = Path(__file__).resolve().parent.parent
MIXTURE = ROOT / "examples" / "mixture.flac"

# Runs a command line in a fresh interpreter and prints whether torch was imported by the end.
PROBE = """
import contextlib, importlib, io, sys
module, *argv = sys.argv[1:]
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        code = importlib.import_module(module).main(argv)
    except SystemExit as exit:
        code = exit.code
print(code, "torch" in sys.modules)
"""


@pytest.mark.parametrize(
    ("module", "argv"),
    [
        ("stemsplit.plugin_host_cli", ["--help"]),
        ("stemsplit.plugin_host_cli", ["presets", "list"]),
        ("stemsplit.plugin_host_cli", ["presets", "show", "karaoke"]),
        ("stemsplit.plugin_host_cli", ["presets", "validate", str(ROOT / "presets" / "drum-bus.yaml")]),
        ("stemsplit.plugin_host_cli", ["run", "--help"]),
        ("stemsplit.plugin_host_cli", ["serve", "--help"]),
        ("stemsplit.plugin_host_cli", ["daw", "split", "--help"]),
        ("stemsplit.separator_cli", ["--help"]),
        ("stemsplit.separator_cli", ["split", "--help"]),
    ],
)
def test_commands_that_do_not_separate_never_import_torch(module: str, argv: list[str]) -> None:
    probe = subprocess.run([sys.executable, "-c", PROBE, module, *argv], check=False, capture_output=True, text=True, timeout=120, cwd=ROOT)
    code, torch_imported = probe.stdout.split()
    assert code == "0", probe.stderr
    assert torch_imported == "False", f"{module} {' '.join(argv)} imported torch"


def test_train_options_still_come_from_the_training_config() -> None:
    from stemsplit.separator_cli import get_parser

    args = get_parser().parse_args(["train", "--steps", "5", "--no-stereo"])
    assert args.steps == 5 and args.stereo is False


def test_the_engine_names_on_the_command_line_are_the_engines() -> None:
    from batch_runner import ENGINES as engines
    from stemsplit.plugin_host_cli import ENGINES

    assert engines == ENGINES


COMMANDS = {
    "separator split": ("stemsplit.separator_cli", ["split", "{input}", "-q"]),
    "plugin-host run": ("stemsplit.plugin_host_cli", ["run", "karaoke", "{input}", "-q"]),
}


LOAD = """
import gc, sys
from threadpoolctl import threadpool_info
from stemsplit import separator_cli
code = separator_cli.main(["split", "missing.wav", "-o", sys.argv[1], "-q"])
blas = sorted({pool["num_threads"] for pool in threadpool_info() if pool["internal_api"] == "openblas"})
print(code, blas, gc.isenabled(), gc.get_freeze_count() > 100_000, "torch" in sys.modules)
"""


@pytest.mark.parametrize(("asked", "threads"), [(None, [1]), ("2", [2])])
def test_a_split_runs_numpys_blas_on_one_thread_unless_asked_and_freezes_torchs_objects(
    tmp_path: Path, asked: str | None, threads: list[int]
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"} | ({"OPENBLAS_NUM_THREADS": asked} if asked else {})
    out = subprocess.run([sys.executable, "-c", LOAD, str(tmp_path)], capture_output=True, text=True, check=True, env=env).stdout
    assert out.split(maxsplit=1)[1].strip() == f"{threads} True True True"  # the collector is back on; torch's objects out of its passes


def test_the_separator_command_ends_without_teardown_yet_runs_atexit_and_flushes_what_it_printed(tmp_path: Path) -> None:
    probe = (
        "import atexit, sys; from stemsplit.separator_cli import run; "
        "atexit.register(lambda: print('atexit ran', flush=False)); "
        f"sys.argv = ['separator', 'split', 'missing.wav', '-o', {str(tmp_path)!r}]; run()"
    )
    done = subprocess.run([sys.executable, "-c", probe], check=False, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout.strip().endswith("atexit ran")
    assert "error: " in done.stderr and "missing.wav" in done.stderr


@pytest.fixture(scope="module")
def long_song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example song repeated to eight minutes: no command finishes it within the delays below (a 3-minute
    split took 3.6 s as a whole process on a quick hour of this machine kind, so two minutes could end before
    the 2.5-s interrupt and exit 0)."""
    song, rate = audio_io.load(MIXTURE)
    path = tmp_path_factory.mktemp("long") / "long.wav"
    audio_io.save(path, np.tile(song, (1, 48)), rate)
    return path


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("delay", [0.15, 0.4, 1.0, 2.5])
def test_ctrl_c_during_start_up_is_one_line_and_exit_code_130(tmp_path: Path, long_song: Path, command: str, delay: float) -> None:
    # From the first line of the package on (imports, parsing, torch, the model load, the first file);
    # the interpreter's own first tens of milliseconds, before any of this code, are Python's.
    module, argv = COMMANDS[command]
    argv = [str(long_song) if a == "{input}" else a for a in argv]
    process = subprocess.Popen(
        [sys.executable, "-c", f"from {module} import run; run()", *argv, "-o", str(tmp_path / "out")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "interrupted" in lines[0], err
    assert "Traceback" not in err
    assert not list((tmp_path / "out").rglob("*.wav")), "no half-written stems"


def test_the_osc_server_answers_ping_before_the_model_has_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def slow_model(path: str | None = None, device: str = "auto") -> ModelProvider:
        def load() -> object:
            release.wait(30)
            raise RuntimeError("not needed by this test")

        return ModelProvider(load)  # type: ignore[arg-type]

    monkeypatch.setattr(osc_model.ModelProvider, "pretrained", staticmethod(slow_model))
    service = Service(ServeOptions(port=0, roots=[str(tmp_path)])).start()
    client = OscClient(("127.0.0.1", service.address[1]))
    try:
        assert client.request("/ping", 7)[0].args == (7,)
        assert client.request("/status")[0].args[-1] == "loading"
    finally:
        release.set()
        client.close()
        service.stop()
