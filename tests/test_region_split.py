"""``plugin-host daw split``, the command DAW scripts run: through a running OSC server (real UDP on loopback)
when one answers, else here with the shipped model; either way machine-readable lines on stdout."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from osc_support import assert_stems_sum_to, mixture, write_mixture

from plugin_host.control.osc.service import ServeOptions, Service
from separator import Separator
from stembase import audio as audio_io
from stemsplit.plugin_host_cli import main

STEMS = ["drums", "bass", "guitar", "vocals", "other"]
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def music(tmp_path: Path) -> Path:
    """A folder holding mix.wav (3 s, 44.1 kHz stereo)."""
    write_mixture(tmp_path / "music" / "mix.wav")
    return tmp_path / "music"


@pytest.fixture
def server(music: Path, separator: Separator) -> Iterator[Service]:
    service = Service(ServeOptions(port=0, roots=[str(music)]), separator=separator).start()
    yield service
    service.stop()


def free_port() -> int:
    """A UDP port nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def daw_split(*args: object) -> tuple[int, list[str]]:
    """Run the command in this process: ``(exit code, stdout lines)``."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["daw", "split", *map(str, args)])
    return code, out.getvalue().splitlines()


def check_lines(lines: list[str], folder: Path, names: list[str]) -> list[Path]:
    """Progress lines (0..1, never going back), then one ``done`` per stem in order, then ``ok``; the paths."""
    progress = [float(line.split()[1]) for line in lines if line.startswith("progress ")]
    assert progress and progress == sorted(progress) and 0.0 <= progress[0] and progress[-1] == 1.0, lines
    tail = lines[len(progress) :]
    assert [line.split(" ", 1)[0] for line in tail] == ["done"] * len(names) + ["ok"], lines
    paths = [Path(line.split(" ", 1)[1]) for line in tail[:-1]]
    assert [p.resolve() for p in paths] == [(folder / f"{name}.wav").resolve() for name in names]  # the server names real paths
    return paths


@pytest.mark.parametrize(("start", "length"), [(0.5, 1.25), (2.0, None)])
def test_with_a_server_the_range_is_split_there_and_relayed(server: Service, music: Path, start: float, length: float | None) -> None:
    folder = music / "region"
    extra = ["--length", length] if length is not None else []
    code, lines = daw_split(music / "mix.wav", folder, "--start", start, *extra, "--server", f"127.0.0.1:{server.address[1]}")
    assert code == 0
    paths = check_lines(lines, folder, STEMS)
    first = round(start * 44100)
    part = mixture()[:, first : first + round(length * 44100)] if length is not None else mixture()[:, first:]
    assert_stems_sum_to(paths, part, atol=1e-4)
    (job,) = server.control.jobs.jobs()  # the server did the work
    assert job.state == "done" and [p.resolve() for p in job.outputs] == [p.resolve() for p in paths]


def test_channel_files_are_joined_for_the_range_and_the_joined_file_is_removed(server: Service, music: Path) -> None:
    left, right = music / "mix-L.wav", music / "mix-R.wav"  # Ardour keeps each channel in a file of its own
    audio_io.save(left, mixture()[:1], 44100)
    audio_io.save(right, mixture()[1:], 44100)
    folder = music / "joined"
    address = f"127.0.0.1:{server.address[1]}"
    code, lines = daw_split(left, folder, "--channel-file", right, "--clusters", 2, "--start", 1, "--length", 1.5, "--server", address)
    assert code == 0
    paths = check_lines(lines, folder, ["source1", "source2"])
    stems = [audio_io.load(p)[0] for p in paths]
    np.testing.assert_allclose(sum(stems), mixture()[:, 44100 : 44100 + 66150], atol=1e-4)  # both channels, in order
    assert sorted(p.name for p in folder.iterdir()) == ["source1.wav", "source2.wav"]  # no joined file left


def test_a_server_that_refuses_is_an_error_line_not_a_local_split(server: Service, music: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    code, lines = daw_split(music / "mix.wav", outside, "--stems", "vocals", "--server", f"127.0.0.1:{server.address[1]}")
    assert code == 1 and lines[-1].startswith(f"error {outside}: outside the allowed roots") and len(lines) == 2, lines
    assert not outside.exists()
    code, lines = daw_split(music / "mix.wav", music / "r", "--start", 2.5, "--length", 1, "--server", f"127.0.0.1:{server.address[1]}")
    assert code == 1 and lines[-1].startswith(f"error {music.resolve() / 'mix.wav'}: the range 2.5 s + 1 s ends after the end"), lines


def test_without_a_server_it_splits_here_and_prints_the_same_lines(music: Path) -> None:
    folder = music / "here"
    argv = ["daw", "split", str(music / "mix.wav"), str(folder), "--stems", "vocals", "--start", "1", "--length", "0.75"]
    argv += ["--server", f"127.0.0.1:{free_port()}"]  # nobody answers /ping there
    run = "from stemsplit.plugin_host_cli import run; run()"
    done = subprocess.run([sys.executable, "-c", run, *argv], capture_output=True, text=True, timeout=300, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""  # DAW scripts may read stderr and stdout as one stream
    paths = check_lines(done.stdout.splitlines(), folder, ["vocals", "other"])
    assert_stems_sum_to(paths, mixture()[:, 44100 : 44100 + 33075], atol=1e-5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "4"], "start 4 s is at or after the end of the file (3.000 s long); start before it"),
        (["--length", "-1"], "length -1 s is not a range; use a length above 0 s, or none to split to the end"),
    ],
)
def test_with_no_server_a_bad_range_is_one_error_line_and_exit_code_1(music: Path, args: list[str], message: str) -> None:
    code, lines = daw_split(music / "mix.wav", music / "x", *args, "--no-server")
    assert (code, lines) == (1, ["progress 0.00", f"error {(music / 'mix.wav').absolute()}: {message}"])
    assert not (music / "x").exists()
