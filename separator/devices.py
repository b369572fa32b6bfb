"""Choosing the torch device: ``auto`` takes CUDA when there is one."""

from __future__ import annotations

import os

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


THREADS_ENV = "SEPARATOR_THREADS"


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


def use_threads(threads: int | None = None) -> None:
    """Give torch's CPU work ``threads`` threads (see :func:`thread_count`); nothing changes when none is asked for.

    torch's thread pool is the process's: the last call wins.
    """
    count = thread_count(threads)
    if count is not None and count != torch.get_num_threads():
        torch.set_num_threads(count)
