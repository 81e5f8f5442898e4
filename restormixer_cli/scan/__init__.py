"""Selective scan (the S6 recurrence of Mamba) with interchangeable backends.

Backends, all with mamba-ssm's ``selective_scan_fn`` calling convention:

- ``mamba``: mamba-ssm's CUDA kernel (CUDA tensors, when the package imports);
- ``numba``: compiled CPU kernel, forward and backward (CPU tensors, when numba imports);
- ``torch``: vectorised pure PyTorch, any device, autograd backward;
- ``reference``: exact sequential loop, for tests.

``auto`` (the default) picks mamba on CUDA, numba on CPU, torch otherwise. The environment
variable ``RESTORMIXER_SCAN`` overrides ``auto``; an explicit backend argument overrides both.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable

import torch

from .chunked import selective_scan_chunked
from .reference import selective_scan_reference

BACKENDS = ("auto", "mamba", "numba", "torch", "reference")
ENV_VAR = "RESTORMIXER_SCAN"

ScanFn = Callable[..., torch.Tensor]


def _load_mamba() -> ScanFn:
    module = importlib.import_module("mamba_ssm.ops.selective_scan_interface")
    return module.selective_scan_fn


def _load_numba() -> ScanFn:
    return importlib.import_module("restormixer_cli.scan.numba_cpu").selective_scan_numba


_LOADERS: dict[str, Callable[[], ScanFn]] = {
    "mamba": _load_mamba,
    "numba": _load_numba,
    "torch": lambda: selective_scan_chunked,
    "reference": lambda: selective_scan_reference,
}
_loaded: dict[str, ScanFn | None] = {}


def load_backend(name: str) -> ScanFn | None:
    """The scan function of a backend, or None if its package does not import here."""
    if name not in _loaded:
        try:
            _loaded[name] = _LOADERS[name]()
        except (ImportError, OSError):
            _loaded[name] = None
    return _loaded[name]


def requested_backend(name: str | None = None) -> str:
    """The backend asked for: the argument, else ``$RESTORMIXER_SCAN``, else ``auto``."""
    choice = (name or os.environ.get(ENV_VAR) or "auto").strip().lower()
    if choice not in BACKENDS:
        raise ValueError(f"unknown selective-scan backend {choice!r}; choose one of {', '.join(BACKENDS)}")
    return choice


def resolve_backend(name: str | None = None, device: torch.device | str = "cpu") -> str:
    """The backend that will actually run on ``device``; raises if an explicit one cannot."""
    choice = requested_backend(name)
    device_type = torch.device(device).type
    if choice == "auto":
        preferred = {"cuda": "mamba", "cpu": "numba"}.get(device_type)
        if preferred and load_backend(preferred) is not None:
            return preferred
        return "torch"
    if choice in ("mamba", "numba"):
        needs = "cuda" if choice == "mamba" else "cpu"
        if load_backend(choice) is None:
            package = "mamba-ssm" if choice == "mamba" else "numba"
            raise RuntimeError(f"selective-scan backend {choice!r} needs the {package} package, which does not import")
        if device_type != needs:
            raise RuntimeError(f"selective-scan backend {choice!r} runs on {needs} tensors, not {device_type}")
    return choice


def selective_scan(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    backend: str | None = None,
) -> torch.Tensor:
    """y = selective scan of u (batch, dim, L); see the backends for the full contract. Returns fp32."""
    fn = load_backend(resolve_backend(backend, u.device))
    return fn(u, delta, A, B, C, D, delta_bias=delta_bias, delta_softplus=delta_softplus)
