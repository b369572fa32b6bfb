"""Threads used deliberately: a count asked for is kept; otherwise the split takes the cores other programs leave."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
import torch

import separator.separate as separate_module
from separator import SeparationError, Separator, devices
from separator.devices import CpuShare, available_cores, map_in_order, measuring_threads, one_thread_each, thread_count, use_threads
from separator.model import load_checkpoint


@pytest.fixture(autouse=True)
def _restore_threads(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """These tests are about the threads themselves: without the session's fixed count (conftest.py)."""
    monkeypatch.delenv("SEPARATOR_THREADS", raising=False)
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


@pytest.mark.skipif(not os.path.exists("/proc/stat") or (os.cpu_count() or 1) < 2, reason="needs Linux's /proc and two cores")
def test_with_a_core_taken_every_core_keeps_a_segment_worker_and_torchs_own_threads_make_way() -> None:
    """Workers never wait for each other, so they keep their share of a taken core; torch's threads would."""
    before = torch.get_num_threads()
    separator = Separator.from_pretrained()
    plan = separator._plan(separator.stem_names(), None, 44100, 60 * 44100)
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)
        assert separator._cpu is not None
        assert separator._workers(plan) == separator._cpu.cores
        assert torch.get_num_threads() <= separator._cpu.cores - 1
    finally:
        hog.kill()
        hog.wait()
        torch.set_num_threads(before)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_memory_is_kept_for_the_next_tensors_on_glibc_in_worker_threads_too() -> None:
    """100 MB freed in a worker thread stays in the process for the next tensors (without the setting, or
    with a heap per thread, glibc hands it back to the kernel at once and maps it afresh next time)."""
    probe = textwrap.dedent(
        """
        import sys, threading
        import numpy as np
        from separator.devices import keep_freed_memory

        took = keep_freed_memory() if sys.argv[1] == "kept" else True
        rss = lambda: next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS")) // 1024
        before, after = rss(), []

        def work():
            block = np.ones(100 * 2**20 // 8)
            del block
            after.append(rss())

        worker = threading.Thread(target=work)
        worker.start()
        worker.join()
        print(took, after[0] - before)
        """
    )

    def kept_mb(mode: str) -> tuple[str, int]:
        done = subprocess.run([sys.executable, "-c", probe, mode], capture_output=True, text=True, timeout=120, check=True)
        took, mb = done.stdout.split()
        return took, int(mb)

    assert kept_mb("default")[1] < 20
    took, mb = kept_mb("kept")
    assert took == "True" and 90 <= mb <= 110


def test_work_shared_by_threads_comes_back_in_order_with_few_items_drawn_ahead() -> None:
    drawn: list[int] = []

    def items() -> Iterator[int]:
        for i in range(20):
            drawn.append(i)
            yield i

    def uneven(i: int) -> int:
        time.sleep(0.01 * (i % 3))  # later items often finish first
        return i * i

    results = []
    for value in map_in_order(uneven, items(), 3):
        results.append(value)
        assert len(drawn) - len(results) <= 3 + 1  # the workers' items and one more: memory stays bounded
    assert results == [i * i for i in range(20)]


def test_a_workers_error_reaches_the_caller_and_the_items_not_started_are_dropped() -> None:
    started: list[int] = []

    def work(i: int) -> int:
        started.append(i)
        if i == 2:
            raise ValueError("segment 2 cannot be read")
        time.sleep(0.05)
        return i

    with pytest.raises(ValueError, match="segment 2 cannot be read"):
        list(map_in_order(work, range(50), 2))
    assert len(started) <= 2 + 3


def test_one_thread_each_lends_torch_one_thread_and_gives_the_count_back() -> None:
    torch.set_num_threads(2)
    with one_thread_each():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores")
def test_two_threads_split_the_segments_between_them_and_give_what_one_gives() -> None:
    """Pass 1 (features, network) and pass 2 (masks, inverse STFT) run one segment per thread, and the stems
    are the same whatever the thread count."""
    from conftest import generated_song

    mix = generated_song(4)[0].sum(0)
    model = load_checkpoint(separate_module.DEFAULT_MODEL, "cpu")[0]
    threads_seen: set[str] = set()
    apply_masks = separate_module.apply_masks

    def recording(*args, **kwargs):  # type: ignore[no-untyped-def]
        threads_seen.add(threading.current_thread().name)
        return apply_masks(*args, **kwargs)

    one = Separator(model, "cpu", threads=1, segment_seconds=1.5, overlap_seconds=0.5).separate(mix, 44100)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(separate_module, "apply_masks", recording)
        two = Separator(model, "cpu", threads=2, segment_seconds=1.5, overlap_seconds=0.5).separate(mix, 44100)
    assert len(threads_seen) == 2 and all(name.startswith("separator") for name in threads_seen)
    # the same bit for bit: every segment runs on one thread either way, and k-means's restarts too
    for name in one:
        np.testing.assert_array_equal(two[name], one[name])


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores")
def test_a_track_of_one_segment_keeps_every_thread_for_its_own_tensor_work() -> None:
    """A short file or a live window is one segment: no worker threads, torch keeps the asked count."""
    from conftest import generated_song, watch_network_runs

    mix = generated_song(1)[0].sum(0)
    model = load_checkpoint(separate_module.DEFAULT_MODEL, "cpu")[0]
    seen: list[tuple[int, str]] = []
    with pytest.MonkeyPatch.context() as patch:
        watch_network_runs(model, patch, lambda feats: seen.append((torch.get_num_threads(), threading.current_thread().name)))
        Separator(model, "cpu", threads=2).separate(mix, 44100)
    assert seen and all(threads == 2 for threads, _ in seen)


def test_a_measurement_keeps_the_count_asked_for_else_the_environment_s_else_every_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEPARATOR_THREADS", raising=False)
    assert measuring_threads(3) == 3 and measuring_threads() == available_cores()
    monkeypatch.setenv("SEPARATOR_THREADS", "1")
    assert measuring_threads() == 1 and measuring_threads(2) == 2
