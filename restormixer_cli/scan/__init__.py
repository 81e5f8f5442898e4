"""Selective scan (the S6 recurrence of Mamba) with interchangeable backends.

Backends, all with mamba-ssm's ``selective_scan_fn`` calling convention:

- ``mamba``: mamba-ssm's CUDA kernel (CUDA tensors, when the package imports);
- ``triton``: Triton kernels, forward and backward (CUDA tensors, when triton imports; CPU
  tensors too under ``TRITON_INTERPRET=1``, Triton's interpreter, for tests);
- ``numba``: compiled CPU kernel, forward and backward (CPU tensors, when numba imports);
- ``torch``: vectorised pure PyTorch, any device, autograd backward;
- ``reference``: exact sequential loop, for tests.

``auto`` (the default) picks, on CUDA, mamba if it imports, else triton if it imports and passes a
tiny check on the device, else torch; on CPU numba, else torch; torch elsewhere. The environment
variable ``RESTORMIXER_SCAN`` overrides ``auto``; an explicit backend argument overrides both.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable

import torch

from .chunked import selective_scan_chunked
from .reference import selective_scan_reference

BACKENDS = ("auto", "mamba", "triton", "numba", "torch", "reference")
ENV_VAR = "RESTORMIXER_SCAN"

ScanFn = Callable[..., torch.Tensor]


def _load_mamba() -> ScanFn:
    module = importlib.import_module("mamba_ssm.ops.selective_scan_interface")
    return module.selective_scan_fn


def _load_triton() -> ScanFn:
    return importlib.import_module("restormixer_cli.scan.triton_scan").selective_scan_triton


def _load_numba() -> ScanFn:
    return importlib.import_module("restormixer_cli.scan.numba_cpu").selective_scan_numba


_LOADERS: dict[str, Callable[[], ScanFn]] = {
    "mamba": _load_mamba,
    "triton": _load_triton,
    "numba": _load_numba,
    "torch": lambda: selective_scan_chunked,
    "reference": lambda: selective_scan_reference,
}
_loaded: dict[str, ScanFn | None] = {}
#: The packages that provide the optional backends; ``auto``'s preferences per device type.
_PACKAGES = {"mamba": "mamba-ssm", "triton": "triton", "numba": "numba"}
_AUTO_ORDER = {"cuda": ("mamba", "triton"), "cpu": ("numba",)}
_checked: dict[tuple[str, str], bool] = {}


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


def interpreting_triton() -> bool:
    """Whether Triton kernels run in its interpreter (``TRITON_INTERPRET=1``), on CPU tensors."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def _devices(name: str) -> tuple[str, ...]:
    """Device types whose tensors an optional backend accepts."""
    if name == "triton":
        return ("cuda", "cpu") if interpreting_triton() else ("cuda",)
    return ("cuda",) if name == "mamba" else ("cpu",)


def backend_works(name: str, device: torch.device | str) -> bool:
    """Whether ``name`` imports and matches the reference on a tiny case on ``device`` (checked once per device)."""
    key = (name, str(torch.device(device)))
    if key not in _checked:
        fn = load_backend(name)
        _checked[key] = fn is not None and _matches_reference(fn, torch.device(device))
    return _checked[key]


def _matches_reference(fn: ScanFn, device: torch.device) -> bool:
    """Whether ``fn`` runs on ``device`` and agrees with the reference on a tiny fixed case."""
    g = torch.Generator().manual_seed(0)
    case = [torch.randn(1, 2, 8, generator=g), torch.randn(1, 2, 8, generator=g), -torch.rand(2, 4, generator=g),
            torch.randn(1, 1, 4, 8, generator=g), torch.randn(1, 1, 4, 8, generator=g), torch.randn(2, generator=g)]
    expected = selective_scan_reference(*case, delta_softplus=True)
    try:
        with torch.no_grad():
            y = fn(*(t.to(device) for t in case), delta_softplus=True).cpu()
    except Exception:  # a compiler, driver or architecture problem: fall back to another backend
        return False
    return bool(torch.allclose(y, expected, rtol=1e-3, atol=1e-4))


def _usable(name: str, device: torch.device | str) -> bool:
    """Whether ``auto`` may pick ``name``: Triton must also compile and run (it needs a C compiler and a
    supported GPU); the others only need to import."""
    return backend_works(name, device) if name == "triton" else load_backend(name) is not None


def resolve_backend(name: str | None = None, device: torch.device | str = "cpu") -> str:
    """The backend that will actually run on ``device``; raises if an explicit one cannot."""
    choice = requested_backend(name)
    device_type = torch.device(device).type
    if choice == "auto":
        return next((candidate for candidate in _AUTO_ORDER.get(device_type, ()) if _usable(candidate, device)),
                    "torch")
    if choice in _PACKAGES:
        if load_backend(choice) is None:
            raise RuntimeError(f"selective-scan backend {choice!r} needs the {_PACKAGES[choice]} package, "
                               "which does not import")
        if device_type not in _devices(choice):
            raise RuntimeError(f"selective-scan backend {choice!r} runs on {' or '.join(_devices(choice))} tensors, "
                               f"not {device_type}")
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
