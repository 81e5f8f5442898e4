"""Device and precision selection."""

from __future__ import annotations

import torch

from . import PRECISIONS
from .checks import check_device, check_precision, check_threads

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def use_cpu_threads(threads: int) -> None:
    """Run this process's CPU work (PyTorch, and the CPU selective scan, which follows it) on
    ``threads`` threads; 0 keeps PyTorch's default, every core."""
    check_threads(threads)
    if threads:
        torch.set_num_threads(threads)


def mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> first CUDA GPU, else MPS, else CPU; ``cpu``, ``cuda``, ``cuda:N``, ``mps`` as given.

    Raises ValueError for an unknown or unavailable device.
    """
    check_device(name)
    name = name.strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if mps_available() else torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} requested but CUDA is not available in this PyTorch build/machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    elif device.type == "mps" and not mps_available():
        raise ValueError("device 'mps' requested but MPS is not available")
    return device


def precision_dtype(name: str) -> torch.dtype:
    """The dtype of an explicit precision name (``fp32``, ``fp16``, ``bf16``)."""
    if name not in _DTYPES:
        raise ValueError(f"unknown precision {name!r}: use {', '.join(PRECISIONS)}")
    return _DTYPES[name]


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    """``auto`` -> fp16 on CUDA, fp32 elsewhere. Raises ValueError for unknown or unsupported choices."""
    check_precision(name, device.type)
    name = name.strip().lower()
    if name == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    return precision_dtype(name)
