"""Checks of the settings a restore runs with that need neither a model nor PyTorch, so that the
command line refuses a bad option at once, before it loads anything."""

from __future__ import annotations

import re

from ..model import SIZE_MULTIPLE
from . import PRECISIONS

DEVICES = "auto, cpu, cuda, cuda:N or mps"
_DEVICE = re.compile(r"auto|(cpu|cuda|mps)(:\d+)?")


def check_device(name: str) -> None:
    """ValueError unless ``name`` is a device name restore knows (whether it exists here is not checked)."""
    if not _DEVICE.fullmatch(name.strip().lower()):
        raise ValueError(f"unknown device {name!r}: use {DEVICES}")


def check_precision(name: str, device_type: str | None = None) -> None:
    """ValueError unless ``name`` is a precision that a device of ``device_type`` (None: any) runs."""
    name = name.strip().lower()
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r}: use {', '.join(PRECISIONS)}")
    if name == "fp16" and device_type == "cpu":
        raise ValueError("fp16 is not supported on CPU; use bf16 or fp32")


def check_threads(threads: int) -> None:
    """ValueError unless ``threads`` is a CPU thread count: 0 (PyTorch's default, every core) or more."""
    if threads < 0:
        raise ValueError(f"threads must be 0 (every core) or more, not {threads}")


def check_device_and_precision(device: str, precision: str) -> None:
    """:func:`check_device`, then :func:`check_precision` for that kind of device (for ``auto``, any)."""
    check_device(device)
    check_precision(precision, device.strip().lower().partition(":")[0])


def check_tiling(tile: int | None, overlap: int, batch_size: int) -> None:
    """ValueError unless the tile size (0: whole image, None: automatic), the overlap between tiles
    and the batch size can work together."""
    if tile is not None and tile < 0:
        raise ValueError("tile size must be >= 0 (0 = whole image)")
    if tile and tile < 2 * SIZE_MULTIPLE:
        raise ValueError(f"tile size must be 0 or at least {2 * SIZE_MULTIPLE}")
    if overlap < 0:
        raise ValueError("tile overlap must be >= 0")
    if tile and overlap > 3 * tile // 4:
        raise ValueError(f"tile overlap {overlap} is more than 3/4 of the tile size {tile}: tiles would "
                         "repeat most of their work; use a smaller overlap or a larger tile")
    if batch_size < 1:
        raise ValueError("batch size must be >= 1")
