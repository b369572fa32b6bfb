"""Threads used deliberately: a count asked for is kept; otherwise the split takes the cores other programs leave."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import torch

from separator import SeparationError, devices
from separator.devices import CpuShare, thread_count, use_threads


@pytest.fixture(autouse=True)
def _restore_threads():  # type: ignore[no-untyped-def]
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_a_thread_count_comes_from_the_argument_else_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEPARATOR_THREADS", raising=False)
    assert thread_count() is None and thread_count(3) == 3
    monkeypatch.setenv("SEPARATOR_THREADS", "1")
    assert thread_count() == 1 and thread_count(2) == 2
    monkeypatch.setenv("SEPARATOR_THREADS", "two")
    with pytest.raises(SeparationError, match=r"SEPARATOR_THREADS must be a whole number of threads ≥ 1, got 'two'"):
        thread_count()
    with pytest.raises(SeparationError, match=r"threads must be a whole number of threads ≥ 1, got 0"):
        thread_count(0)


def test_an_asked_count_is_set_and_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEPARATOR_THREADS", raising=False)
    assert use_threads(1) is None and torch.get_num_threads() == 1
    assert isinstance(use_threads(None), CpuShare)


def test_the_threads_follow_the_cores_other_programs_leave(monkeypatch: pytest.MonkeyPatch) -> None:
    """Four cores; another program busy on 1.8 of them, then on none (this process's own time never counts)."""
    monkeypatch.setattr(devices.os, "cpu_count", lambda: 4)
    ticks = iter([(0, 0, 0), (180 + 50, 400, 50), (230 + 100, 800, 150), (330, 1200, 150)])
    monkeypatch.setattr(devices, "_cpu_times", lambda: next(ticks))
    share = CpuShare(cores=4)
    assert share.adapt() == 2 and torch.get_num_threads() == 2  # 1.8 cores taken: two left
    assert share.adapt() == 4  # only our own work: every core
    assert share.adapt() == 4  # an idle machine


@pytest.mark.skipif(not os.path.exists("/proc/stat") or (os.cpu_count() or 1) < 2, reason="needs Linux's /proc and two cores")
def test_a_core_kept_busy_by_another_process_is_left_to_it() -> None:
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        share = CpuShare()
        time.sleep(1.0)
        assert share.adapt() <= share.cores - 1
    finally:
        hog.kill()
        hog.wait()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_memory_is_kept_for_the_next_tensors_on_glibc() -> None:
    probe = "from separator.devices import keep_freed_memory; print(keep_freed_memory())"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "True"
