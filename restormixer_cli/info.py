"""What `restormixer info` reports: versions, devices and the active selective-scan backend."""

from __future__ import annotations

import importlib.metadata
import platform

import torch

from . import __version__
from .inference.devices import mps_available
from .scan import BACKENDS, load_backend, requested_backend, resolve_backend

_PACKAGES = ("torch", "numba", "numpy", "triton", "mamba-ssm", "causal-conv1d", "huggingface-hub", "safetensors",
             "pillow")


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _scan_backend(device: str) -> str:
    try:
        return resolve_backend(None, device)
    except (RuntimeError, ValueError) as exc:
        return f"unavailable ({exc})"


def environment_report() -> dict:
    """Versions, devices and scan backends, as plain data."""
    devices = {"cpu": f"{torch.get_num_threads()} threads"}
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            devices[f"cuda:{i}"] = f"{props.name}, {props.total_memory / 2**30:.1f} GiB"
    if mps_available():
        devices["mps"] = "available"
    scan = {"requested": requested_backend(), "cpu": _scan_backend("cpu")}
    if torch.cuda.is_available():
        scan["cuda"] = _scan_backend("cuda")
    if mps_available():
        scan["mps"] = _scan_backend("mps")
    scan["installed"] = [name for name in BACKENDS if name != "auto" and load_backend(name) is not None]
    return {
        "restormixer": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in _PACKAGES},
        "devices": devices,
        "scan": scan,
    }
