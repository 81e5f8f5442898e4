"""Every selective-scan backend agrees with the exact sequential reference, forward and backward."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from restormixer_cli import scan
from restormixer_cli.scan import resolve_backend, selective_scan

FAST_BACKENDS = ["torch", "numba"]


def random_case(batch=2, groups=2, dim_per_group=8, n_state=16, length=100, seed=0, with_d=True, with_bias=True):
    g = torch.Generator().manual_seed(seed)
    dim = groups * dim_per_group
    return dict(
        u=torch.randn(batch, dim, length, generator=g),
        delta=torch.randn(batch, dim, length, generator=g) * 0.5 - 1.0,
        A=-torch.exp(torch.randn(dim, n_state, generator=g)),
        B=torch.randn(batch, groups, n_state, length, generator=g),
        C=torch.randn(batch, groups, n_state, length, generator=g),
        D=torch.randn(dim, generator=g) if with_d else None,
        delta_bias=torch.randn(dim, generator=g) * 0.3 if with_bias else None,
    )


def relative_error(x: torch.Tensor, ref: torch.Tensor) -> float:
    return float((x - ref).abs().max() / ref.abs().max().clamp_min(1e-12))


def run(backend: str, case: dict, softplus: bool = True, grad_out: torch.Tensor | None = None):
    leaves = {k: (v.clone().requires_grad_(True) if v is not None else None) for k, v in case.items()}
    y = selective_scan(**leaves, delta_softplus=softplus, backend=backend)
    grads = {}
    if grad_out is not None:
        (y * grad_out).sum().backward()
        grads = {k: v.grad for k, v in leaves.items() if v is not None}
    return y.detach(), grads


@pytest.mark.parametrize("backend", FAST_BACKENDS)
@pytest.mark.parametrize(
    "shape",
    [
        dict(batch=1, groups=1, dim_per_group=16, length=64),  # one scan order (SS2D, directions=1)
        dict(batch=2, groups=2, dim_per_group=8, length=257),  # two orders, odd length
        dict(batch=1, groups=3, dim_per_group=4, n_state=4, length=33),
    ],
)
def test_forward_and_backward_match_reference(backend, shape):
    case = random_case(**shape)
    grad_out = torch.randn(shape["batch"], shape["groups"] * shape["dim_per_group"], shape["length"])
    y_ref, g_ref = run("reference", case, grad_out=grad_out)
    y, g = run(backend, case, grad_out=grad_out)
    assert relative_error(y, y_ref) <= 1e-4
    assert g.keys() == g_ref.keys()
    for name in g_ref:
        assert relative_error(g[name], g_ref[name]) <= 1e-4, name


@pytest.mark.parametrize("backend", FAST_BACKENDS)
@pytest.mark.parametrize("with_d,with_bias,softplus", [(False, False, False), (True, False, True), (False, True, True)])
def test_optional_arguments(backend, with_d, with_bias, softplus):
    case = random_case(with_d=with_d, with_bias=with_bias, length=40)
    if not softplus:
        case["delta"] = case["delta"].abs() * 0.1  # positive step sizes without softplus
    y_ref, _ = run("reference", case, softplus)
    y, _ = run(backend, case, softplus)
    assert relative_error(y, y_ref) <= 1e-4


@pytest.mark.parametrize("backend", FAST_BACKENDS)
def test_long_sequence(backend):
    """L = 16384: the length of a 128x128 feature map scanned row by row (256x256 input)."""
    case = random_case(batch=1, groups=1, dim_per_group=4, length=16384, seed=3)
    y_ref, _ = run("reference", case)
    y, _ = run(backend, case)
    assert relative_error(y, y_ref) <= 1e-4


def test_long_sequence_gradients_numba():
    """Backward through 16384 reference steps takes minutes; the torch backend, itself checked
    against the reference above, is the oracle here."""
    case = random_case(batch=1, groups=2, dim_per_group=2, length=16384, seed=4)
    grad_out = torch.randn(1, 4, 16384)
    _, g_ref = run("torch", case, grad_out=grad_out)
    _, g = run("numba", case, grad_out=grad_out)
    for name in g_ref:
        assert relative_error(g[name], g_ref[name]) <= 1e-4, name


def test_numba_backward_keeps_the_callers_thread_count(monkeypatch):
    """torch.set_num_threads(1) (restormixer train --threads 1) holds in backward too, which autograd
    runs on a thread of its own: two one-thread runs on two cores must not both take both cores."""
    numba = pytest.importorskip("numba")
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has a single thread here")
    from restormixer_cli.scan import numba_cpu

    seen = []
    original = numba_cpu._backward_kernel
    monkeypatch.setattr(numba_cpu, "_backward_kernel", lambda *a: (seen.append(numba.get_num_threads()), original(*a)))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run("numba", random_case(length=16), grad_out=torch.ones(2, 16, 16))
    finally:
        torch.set_num_threads(before)
    assert seen == [1]


_FIRST_SCAN = """
import torch
from restormixer_cli.scan import selective_scan
torch.set_num_threads(1)
u = torch.rand(1, 4, 16)
selective_scan(u, u, -torch.rand(4, 2), torch.rand(1, 1, 2, 16), torch.rand(1, 1, 2, 16), backend="numba")
print(torch.get_num_threads())
"""


def test_a_numba_scan_leaves_pytorchs_thread_count_as_it_was():
    """Numba's OpenMP layer, when it starts its threads (the first scan of a process), sets the
    calling thread's OpenMP count to its pool's size: without putting it back, `restore --threads 1`
    ran everything after the first scan on every core."""
    pytest.importorskip("numba")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"} | {"NUMBA_NUM_THREADS": "2"}
    done = subprocess.run([sys.executable, "-c", _FIRST_SCAN], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1"]


def test_extreme_step_sizes_stay_finite():
    """Huge and tiny step sizes: decays underflow to 0 or stay at 1, nothing overflows."""
    case = random_case(length=64)
    case["delta"] = torch.linspace(-30, 40, 64).expand_as(case["delta"]).contiguous()
    y_ref, _ = run("reference", case)
    for backend in FAST_BACKENDS:
        y, _ = run(backend, case)
        assert torch.isfinite(y).all()
        assert relative_error(y, y_ref) <= 1e-4


def test_auto_resolution_and_environment(monkeypatch):
    monkeypatch.delenv(scan.ENV_VAR, raising=False)
    assert resolve_backend(None, "cpu") == "numba"
    monkeypatch.setenv(scan.ENV_VAR, "torch")
    assert resolve_backend(None, "cpu") == "torch"
    assert resolve_backend("reference", "cpu") == "reference"  # an argument beats the environment
    monkeypatch.setenv(scan.ENV_VAR, "bogus")
    with pytest.raises(ValueError, match="unknown selective-scan backend"):
        resolve_backend(None, "cpu")


def test_auto_on_cuda_prefers_mamba_then_a_working_triton_then_torch(monkeypatch):
    """No GPU needed: which backends import, and whether triton passed its check, are set by hand."""
    monkeypatch.delenv(scan.ENV_VAR, raising=False)
    monkeypatch.setitem(scan._loaded, "mamba", scan.selective_scan_reference)
    assert resolve_backend(None, "cuda") == "mamba"
    monkeypatch.setitem(scan._loaded, "mamba", None)
    monkeypatch.setitem(scan._checked, ("triton", "cuda"), True)
    assert resolve_backend(None, "cuda") == "triton"
    monkeypatch.setitem(scan._checked, ("triton", "cuda"), False)  # imports, but cannot compile or run there
    assert resolve_backend(None, "cuda") == "torch"


def test_backend_check_runs_a_tiny_case(monkeypatch):
    """``backend_works`` compares with the reference; an error, a wrong result or a missing package is a no."""
    monkeypatch.setattr(scan, "_checked", {})
    assert scan.backend_works("torch", "cpu")
    monkeypatch.setitem(scan._loaded, "torch", lambda *args, **kwargs: torch.zeros(1, 2, 8))
    assert not scan.backend_works("torch", "cpu:0")  # wrong results
    monkeypatch.setitem(scan._loaded, "torch", lambda *args, **kwargs: 1 / 0)
    assert not scan.backend_works("torch", "meta")  # raises
    monkeypatch.setitem(scan._loaded, "numba", None)
    assert not scan.backend_works("numba", "cpu")  # does not import


def test_unavailable_backends_fail_clearly(monkeypatch):
    with pytest.raises(RuntimeError, match="mamba-ssm|runs on cuda"):
        resolve_backend("mamba", "cpu")
    with pytest.raises(RuntimeError, match="runs on cpu tensors"):
        resolve_backend("numba", "mps")
    triton_installed = scan.load_backend("triton") is not None  # imported before the interpreter is switched off
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    if triton_installed:
        with pytest.raises(RuntimeError, match="runs on cuda tensors, not cpu"):
            resolve_backend("triton", "cpu")
    monkeypatch.setitem(scan._loaded, "numba", None)
    assert resolve_backend("auto", "cpu") == "torch"
