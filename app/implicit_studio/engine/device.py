"""Device selection: ``auto`` picks CUDA when present, else the CPU."""

from __future__ import annotations

from ..errors import InputError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def select_device(name: str = "auto"):
    """Return the torch.device for ``name`` (one of ``auto``, ``cpu``, ``cuda``, ``cuda:N``)."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError("--device cuda was asked for, but no CUDA device is available")
        return torch.device(name)
    raise InputError(f"unknown device {name!r}: choose one of {', '.join(DEVICE_CHOICES)}")
