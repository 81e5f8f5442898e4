"""Shared fixtures: a tiny model, its weights on disk, and small generated images."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

FIXTURES = Path(__file__).parent / "fixtures"
TINY_CONFIG = {"base_channel": 8, "num_blocks": [2, 2, 2]}

# A suite started in the background (`make test &`, nohup, some CI runners) inherits SIGINT ignored,
# and so would every restore the Ctrl-C tests start: give them the terminal's default.
signal.signal(signal.SIGINT, signal.default_int_handler)

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
if not torch.cuda.is_available():
    # Triton's interpreter runs the triton scan backend on CPU tensors; it must be chosen before
    # the kernels are defined, i.e. before restormixer_cli.scan.triton_scan is first imported.
    os.environ.setdefault("TRITON_INTERPRET", "1")
torch.set_num_threads(2)


def pytest_collection_modifyitems(config, items) -> None:
    """Tests marked ``cuda`` are skipped where no CUDA GPU is available."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if item.get_closest_marker("cuda"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def parity_tiny() -> dict:
    """The authors' small-configuration case: weights, input and the three outputs."""
    from safetensors import safe_open

    path = FIXTURES / "parity_tiny.safetensors"
    tensors = load_file(path)
    with safe_open(path, "pt") as f:
        config = json.loads(f.metadata()["config"])
    return {
        "config": {"base_channel": config["base_channel"], "num_blocks": config["num_res"]},
        "weights": {k.removeprefix("weights."): v for k, v in tensors.items() if k.startswith("weights.")},
        "input": tensors["case.input"],
        "outputs": [tensors[f"case.out{i}"] for i in range(3)],
    }


@pytest.fixture(scope="session")
def official_shapes() -> dict:
    return json.loads((FIXTURES / "official_state_dict_shapes.json").read_text())


def make_tiny_model(seed: int = 0):
    from restormixer_cli.model import RestorMixer

    torch.manual_seed(seed)
    model = RestorMixer(**TINY_CONFIG).eval()
    # Small random perturbations so that every branch (and not only the identity path) matters.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return model


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """A tiny RestorMixer checkpoint as model.safetensors + config.json (hub layout)."""
    folder = tmp_path_factory.mktemp("tiny_weights")
    model = make_tiny_model()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps(TINY_CONFIG))
    return folder


def textured_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth-plus-texture RGB float image in [0, 1], like a photo crop."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([
        0.5 + 0.4 * np.sin(xx / 7.0 + c) * np.cos(yy / 11.0 - c) for c in range(3)
    ], axis=-1)
    noise = rng.normal(0, 0.05, (height, width, 3)).astype(np.float32)
    return np.clip(base + noise, 0, 1).astype(np.float32)


SUBPROCESS_ENV = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def interrupt_when(cmd: list[str], ready, timeout: float = 180, sig: int = signal.SIGINT) -> tuple[int, str]:
    """Start ``cmd``, send it ``sig`` (default SIGINT, Ctrl-C) once ``ready()`` holds; return (exit code, output)."""
    # A shell starts background jobs with SIGINT ignored, and children inherit that; a terminal's Ctrl-C is
    # what is simulated here, so the child gets the default disposition (Python then raises KeyboardInterrupt).
    proc = subprocess.Popen(cmd, env=SUBPROCESS_ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            raise AssertionError(f"ended before it could be interrupted:\n{proc.stdout.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("timed out waiting to interrupt")
        time.sleep(0.05)
    proc.send_signal(sig)
    output, _ = proc.communicate(timeout=120)
    return proc.returncode, output


_PR_CAPBSET_DROP = 24
_ROOT_FILE_ACCESS = (1, 2)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH: root reads whatever the permissions say


def _without_root_file_access() -> None:
    """In a child about to start a program: give up the capabilities that let root ignore permission
    bits, so that they hold for it as for anyone (the files stay root's, so owner bits apply)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in _ROOT_FILE_ACCESS:
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.fixture
def permissions_hold(tmp_path) -> dict:
    """Keyword arguments for ``subprocess.run`` under which a file without read permission cannot be
    read, even by root (who gives up the capabilities to read it anyway); skips where that cannot be."""
    options = {"preexec_fn": _without_root_file_access} if os.geteuid() == 0 else {}
    locked = tmp_path / "permission_probe"
    locked.write_bytes(b"x")
    locked.chmod(0)
    try:
        probe = subprocess.run([sys.executable, "-c", f"open({str(locked)!r}).close()"], capture_output=True,
                               **options)
    except (OSError, subprocess.SubprocessError):
        pytest.skip("cannot give up root's access to every file here")
    finally:
        locked.unlink()
    if probe.returncode == 0:
        pytest.skip("permission bits do not stop reads here")
    return options
