"""Choosing the torch device: ``auto`` takes CUDA when there is one."""

from __future__ import annotations

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
