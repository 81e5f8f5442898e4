"""The Triton selective scan agrees with the exact reference, forward and backward.

Without a GPU the kernels run in Triton's interpreter on CPU tensors (``TRITON_INTERPRET=1``, set in
conftest.py); shapes stay small because the interpreter is slow. With a GPU they run compiled on CUDA
(marked ``cuda``). Either way tests/test_scan.py's helpers build the cases and compare.
"""

from __future__ import annotations

import functools

import pytest
import torch

from restormixer_cli.scan import interpreting_triton, resolve_backend, selective_scan
from restormixer_cli.scan.reference import selective_scan_reference

from .test_scan import random_case, relative_error

pytest.importorskip("triton")

from restormixer_cli.scan.triton_scan import selective_scan_triton  # noqa: E402  (after the skip)

DEVICES = [
    pytest.param("cpu", marks=pytest.mark.skipif(not interpreting_triton(), reason="needs TRITON_INTERPRET=1")),
    pytest.param("cuda", marks=pytest.mark.cuda),
]


def run(scan, case: dict, device: str, softplus: bool = True, grad_out: torch.Tensor | None = None):
    """Output of ``scan`` on ``device`` and, given ``grad_out``, the gradients of every input."""
    leaves = {k: (v.detach().to(device).requires_grad_(True) if v is not None else None) for k, v in case.items()}
    y = scan(**leaves, delta_softplus=softplus)
    if grad_out is None:
        return y.detach().cpu(), {}
    (y * grad_out.to(device)).sum().backward()
    return y.detach().cpu(), {k: v.grad.cpu() for k, v in leaves.items() if v is not None}


def assert_matches_reference(case: dict, device: str, softplus: bool = True, tolerance: float = 1e-4,
                             chunk: int | None = None) -> None:
    """Triton output within 1e-4 of the reference (run on the same values in fp32); gradients within ``tolerance``."""
    grad_out = torch.randn(case["u"].shape, generator=torch.Generator().manual_seed(1))
    upcast = {k: v.float() if v is not None else None for k, v in case.items()}
    y_ref, g_ref = run(selective_scan_reference, upcast, "cpu", softplus, grad_out)
    y, g = run(functools.partial(selective_scan_triton, chunk=chunk), case, device, softplus, grad_out)
    assert y.dtype == torch.float32
    assert relative_error(y, y_ref) <= 1e-4
    assert g.keys() == g_ref.keys()
    for name in g_ref:
        assert g[name].dtype == case[name].dtype, name
        assert relative_error(g[name].float(), g_ref[name]) <= tolerance, name


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "shape,chunk",
    [
        (dict(batch=1, groups=1, dim_per_group=2, n_state=4, length=37), 16),  # three chunks, the last one partial
        (dict(batch=2, groups=2, dim_per_group=2, n_state=3, length=20), None),  # N padded to 4, one chunk
    ],
)
def test_forward_and_backward_match_reference(device, shape, chunk):
    assert_matches_reference(random_case(**shape), device, chunk=chunk)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("with_d,with_bias,softplus", [(False, False, False), (True, False, True), (False, True, True)])
def test_optional_arguments(device, with_d, with_bias, softplus):
    case = random_case(batch=1, groups=2, dim_per_group=1, n_state=4, length=24, with_d=with_d, with_bias=with_bias)
    if not softplus:
        case["delta"] = case["delta"].abs() * 0.1  # positive step sizes without softplus
    assert_matches_reference(case, device, softplus, chunk=16)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype,tolerance", [(torch.float16, 1e-3), (torch.bfloat16, 1e-2)])
def test_half_precision_inputs(device, dtype, tolerance):
    """fp16/bf16 u, B and C: fp32 state and output; gradients in the inputs' dtypes, as exact as those allow."""
    case = random_case(batch=1, groups=1, dim_per_group=2, n_state=4, length=24)
    case.update({k: case[k].to(dtype) for k in ("u", "B", "C")})
    assert_matches_reference(case, device, tolerance=tolerance, chunk=16)


@pytest.mark.parametrize("device", DEVICES)
def test_inference_mode_matches_training_forward(device):
    """Without autograd no chunk states are kept; the output is the same."""
    case = {k: v.to(device) for k, v in random_case(batch=1, groups=1, dim_per_group=2, n_state=4, length=20).items()}
    with torch.inference_mode():
        y = selective_scan(**case, delta_softplus=True, backend="triton")
    assert torch.equal(y.cpu(), run(selective_scan_triton, case, device)[0])


@pytest.mark.cuda
def test_model_sized_scan_on_cuda():
    """A 128x128 feature map scanned in two orders (L = 16384, 128 channels): forward and backward
    against the vectorised PyTorch scan, itself checked against the reference in tests/test_scan.py."""
    case = {k: v.cuda() for k, v in random_case(batch=1, groups=2, dim_per_group=64, length=16384, seed=5).items()}
    grad_out = torch.randn(case["u"].shape, device="cuda")
    results = []
    for backend in ("torch", "triton"):
        leaves = {k: v.clone().requires_grad_(True) for k, v in case.items()}
        y = selective_scan(**leaves, delta_softplus=True, backend=backend)
        (y * grad_out).sum().backward()
        results.append((y.detach(), {k: v.grad for k, v in leaves.items()}))
    (y_ref, g_ref), (y, g) = results
    assert relative_error(y, y_ref) <= 1e-4
    for name in g_ref:
        assert relative_error(g[name], g_ref[name]) <= 1e-4, name


@pytest.mark.cuda
def test_auto_uses_a_fast_kernel_on_cuda():
    """With triton installed, ``auto`` on CUDA is mamba-ssm or triton, never the PyTorch fallback."""
    assert resolve_backend("auto", "cuda") in ("mamba", "triton")
