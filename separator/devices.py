"""Choosing the torch device: ``auto`` takes CUDA when there is one."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import torch

from separator.errors import SeparationError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; ``"cuda"`` without a GPU is an error.

    Raises:
        SeparationError: unknown device name, or CUDA asked for and absent.
    """
    if isinstance(device, torch.device):
        return device
    name = device.lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise SeparationError("device 'cuda' was asked for but no CUDA GPU is available; use --device cpu or auto")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise SeparationError(f"unknown device {device!r}; valid options: {', '.join(DEVICES)}")


def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX), read from ``/proc/cpuinfo``
    (``False`` where it is missing: not Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


@functools.cache
def bfloat16_lstm() -> bool:
    """Whether torch runs an LSTM under bfloat16 autocast on this CPU: a 4-frame probe, once per process.

    oneDNN has no bfloat16 LSTM for CPUs without AVX-512 (e.g. AMD EPYC before Zen 4), where torch raises
    "could not create a primitive descriptor for the LSTM forward propagation primitive"."""
    lstm = torch.nn.LSTM(4, 4, batch_first=True)
    try:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            lstm(torch.zeros(1, 4, 4))
    except RuntimeError:
        return False
    return True


NO_BFLOAT16 = "this CPU cannot run the network's LSTM in bfloat16 (torch needs AVX-512 for it)"


def network_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The dtype the network computes in for a :class:`~separator.settings.SplitSettings` ``precision``:
    ``"auto"`` is bfloat16 on a CPU with :func:`native_bfloat16`, float32 elsewhere.

    Raises:
        SeparationError: ``"bfloat16"`` asked for on a CPU where :func:`bfloat16_lstm` fails.
    """
    if precision == "bfloat16" and device.type == "cpu" and not bfloat16_lstm():
        raise SeparationError(f'precision = "bfloat16": {NO_BFLOAT16}; use precision = "auto" (float32 here) or "float32"')
    if precision == "bfloat16" or (precision == "auto" and device.type == "cpu" and native_bfloat16() and bfloat16_lstm()):
        return torch.bfloat16
    return torch.float32


THREADS_ENV = "SEPARATOR_THREADS"
In = TypeVar("In")
Out = TypeVar("Out")


def thread_count(threads: int | None = None) -> int | None:
    """The CPU threads asked for: ``threads``, else ``$SEPARATOR_THREADS``, else ``None`` (torch's default:
    one per core).

    Raises:
        SeparationError: not a whole number ≥ 1.
    """
    value: object = threads
    if value is None:
        env = os.environ.get(THREADS_ENV, "").strip()
        if not env:
            return None
        value = int(env) if env.isdigit() else env
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        source = "threads" if threads is not None else THREADS_ENV
        raise SeparationError(f"{source} must be a whole number of threads ≥ 1, got {value!r}")
    return value


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, else every core)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def measuring_threads(threads: int | None = None) -> int:
    """A thread count fixed for a whole measurement: ``threads``, else ``$SEPARATOR_THREADS``, else every
    available core. A measurement must not follow the machine's load (:class:`CpuShare`): another count rounds
    the network's sums differently, and scores then move between runs of the same command."""
    return thread_count(threads) or available_cores()


def use_threads(threads: int | None = None) -> CpuShare | None:
    """Give torch's CPU work ``threads`` threads (see :func:`thread_count`); when none is asked for, a
    :class:`CpuShare` that fits the threads to the cores other programs leave free as the work goes.

    torch's thread pool is the process's: the last call wins.
    """
    count = thread_count(threads)
    if count is None:
        return CpuShare()
    if count != torch.get_num_threads():
        torch.set_num_threads(count)
    return None


class CpuShare:
    """Threads that fit the cores other processes leave free, measured as the split goes.

    A producer's machine is never idle: with every core's thread in torch's pool, a core taken by another
    program makes the pool's threads wait for each other at every parallel step (and spin while they
    wait), so the split slows by far more than the lost core. Before each piece of work, :meth:`adapt`
    reads how busy the machine was since the last call (``/proc/stat``, less this process's own time from
    ``/proc/self/stat``; niced background work counts as free, it yields to us) and gives torch the cores
    left. Where ``/proc`` is missing (not Linux), torch's default stands.
    """

    def __init__(self, cores: int | None = None) -> None:
        self.cores = available_cores() if cores is None else cores
        self.last = _cpu_times()
        self.threads = torch.get_num_threads()

    def adapt(self) -> int:
        """Set torch's threads to the cores left free since the last call; returns the count."""
        now = _cpu_times()
        if now is None or self.last is None:
            return self.threads
        (busy, total, own), (busy0, total0, own0) = now, self.last
        self.last = now
        if total - total0 < 5:  # under 50 ms of machine time (at 100 ticks/s per core): keep the count
            return self.threads
        machine_cores = os.cpu_count() or self.cores
        others = max(0.0, (busy - busy0) - (own - own0)) / (total - total0) * machine_cores
        threads = max(1, min(self.cores, self.cores - int(others + 0.5)))
        if threads != self.threads:
            torch.set_num_threads(threads)
            self.threads = threads
        return threads


def _cpu_times() -> tuple[int, int, int] | None:
    """``(busy ticks of every core, all ticks, this process's ticks)``; busy leaves out niced work and idling."""
    try:
        fields = [int(v) for v in open("/proc/stat", encoding="ascii").readline().split()[1:]]
        own = open("/proc/self/stat", encoding="ascii").read().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    busy = user + system + irq + softirq + steal
    return busy, busy + nice + idle + iowait, int(own[11]) + int(own[12])


def keep_freed_memory() -> bool:
    """Let glibc keep the memory of freed tensors for the next ones (a process-wide setting, for command lines).

    A split allocates and frees tensors of tens of megabytes per segment; glibc serves each from fresh
    pages (``mmap``) and returns them at once, so every segment pays page faults for all of them (a
    third of the CPU time went to the kernel). Serving them from the heap and keeping up to 1 GB of freed
    memory removes most of that. Worker threads share the main heap (one arena): a thread's own arena
    grows in 64 MB heaps, and glibc maps anything larger afresh each time whatever the settings (with
    two workers the kernel's share of a 3-minute split doubled). Returns whether the setting took
    (``False`` off glibc).
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_max, m_arena_max = -1, -4, -8
    return all(bool(mallopt(option, value)) for option, value in ((m_mmap_max, 0), (m_trim_threshold, 1 << 30), (m_arena_max, 1)))


def map_in_order(fn: Callable[[In], Out], items: Iterable[In], workers: int) -> Iterator[Out]:
    """``fn`` of each item, in the items' order, computed by up to ``workers`` threads at once.

    The items are drawn in the calling thread (a file's reader stays in one thread), at most one
    ahead of the work in flight, so memory holds ``workers + 1`` items' results at most. torch and
    numpy release the GIL in their kernels, so the threads share the cores. Closing the iterator
    early (an error downstream, Ctrl-C) cancels the items not started and waits for those running.
    """
    if workers <= 1:
        yield from map(fn, items)
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix="separator")
    pending: deque[Future[Out]] = deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def one_thread_each() -> Iterator[None]:
    """torch's intra-op threads set to 1 for the block, for work that runs in several threads of its own
    (:func:`map_in_order`): one pool's threads per worker would ask for more cores than there are."""
    before = torch.get_num_threads()
    if before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if before != 1:
            torch.set_num_threads(before)
