"""Compiled CPU selective scan (numba), forward and backward.

Layout is what makes this fast: the state dimension N is innermost and contiguous, so the update
of all N states at one time step is a single SIMD loop. ``math.exp`` would block that
vectorisation, so a branch-free exp (range reduction, degree-7 polynomial, exponent built by bit
manipulation) is used instead. The backward pass recomputes
the states of one channel at a time into a scratch buffer rather than storing (B, D, L, N) states
during the forward pass.
"""

from __future__ import annotations


import contextlib
from collections.abc import Iterator

import numba
import numpy as np
import torch
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

from .reference import discretize

# Every fast-math flag except the no-NaN/no-Inf assumptions, so that NaN inputs stay visible.
_FASTMATH = {"contract", "arcp", "reassoc", "nsz", "afn"}
_JIT = dict(fastmath=_FASTMATH, cache=True)

@intrinsic
def _bits_to_float64(typingctx, bits):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@njit(inline="always", **_JIT)
def _exp(x):
    """exp of a float32, evaluated in float64 and rounded back (max relative error ~6e-8).

    Single-constant range reduction in double precision stays exact under the re-association that
    fast-math allows; a float32 Cody-Waite split would not.
    """
    x = min(max(np.float64(x), -87.0), 88.0)
    k = np.floor(x * 1.4426950408889634 + 0.5)
    f = x - k * 0.6931471805599453
    p = 0.0001984126984126984
    p = p * f + 0.001388888888888889
    p = p * f + 0.008333333333333333
    p = p * f + 0.041666666666666664
    p = p * f + 0.16666666666666666
    p = p * f + 0.5
    p = p * f + 1.0
    p = p * f + 1.0
    return np.float32(p * _bits_to_float64((np.int64(k) + np.int64(1023)) << np.int64(52)))


@njit(parallel=True, **_JIT)
def _forward_kernel(u, delta, A, B, C, D, y):
    """u, delta (step sizes), y: (batch, dim, L); A: (dim, N); B, C: (batch, groups, L, N); D: (dim,)."""
    batch, dim, length = u.shape
    n_state = A.shape[1]
    per_group = dim // B.shape[1]
    for row in prange(batch * dim):
        b = row // dim
        d = row % dim
        g = d // per_group
        a = A[d]
        h = np.zeros(n_state, np.float32)
        for t in range(length):
            dt = delta[b, d, t]
            x = dt * u[b, d, t]
            acc = np.float32(0.0)
            for n in range(n_state):
                h[n] = _exp(dt * a[n]) * h[n] + x * B[b, g, t, n]
                acc += h[n] * C[b, g, t, n]
            y[b, d, t] = acc + D[d] * u[b, d, t]


@njit(parallel=True, **_JIT)
def _backward_kernel(u, delta, A, B, C, D, grad_y,
                     grad_u, grad_delta, grad_A, grad_B, grad_C, grad_D):
    """Gradients of :func:`_forward_kernel`.

    One parallel item per (batch, group), so that the group's grad_B and grad_C slices have a single
    writer. grad_A and grad_D are per-batch partial sums (reduced by the caller); grad_B and grad_C
    must arrive zeroed.
    """
    batch, dim, length = u.shape
    groups = B.shape[1]
    n_state = A.shape[1]
    per_group = dim // groups
    for item in prange(batch * groups):
        b = item // groups
        g = item % groups
        states = np.empty((length + 1, n_state), np.float32)  # states[t + 1] = h_t, states[0] = 0
        decays = np.empty((length, n_state), np.float32)
        grad_h = np.empty(n_state, np.float32)
        grad_a = np.empty(n_state, np.float32)
        for d in range(g * per_group, (g + 1) * per_group):
            a = A[d]
            states[0, :] = 0.0
            for t in range(length):
                dt = delta[b, d, t]
                x = dt * u[b, d, t]
                for n in range(n_state):
                    decay = _exp(dt * a[n])
                    decays[t, n] = decay
                    states[t + 1, n] = decay * states[t, n] + x * B[b, g, t, n]
            grad_h[:] = 0.0
            grad_a[:] = 0.0
            grad_skip = np.float32(0.0)
            for t in range(length - 1, -1, -1):
                gy = grad_y[b, d, t]
                ut = u[b, d, t]
                dt = delta[b, d, t]
                grad_dt = np.float32(0.0)
                grad_x = np.float32(0.0)
                for n in range(n_state):
                    gh = grad_h[n] + gy * C[b, g, t, n]
                    grad_C[b, g, t, n] += gy * states[t + 1, n]
                    g_decay = gh * states[t, n] * decays[t, n]
                    grad_a[n] += g_decay * dt
                    grad_dt += g_decay * a[n] + gh * B[b, g, t, n] * ut
                    grad_B[b, g, t, n] += gh * dt * ut
                    grad_x += gh * B[b, g, t, n]
                    grad_h[n] = gh * decays[t, n]
                grad_u[b, d, t] = grad_x * dt + gy * D[d]
                grad_skip += gy * ut
                grad_delta[b, d, t] = grad_dt
            grad_A[b, d, :] = grad_a
            grad_D[b, d] = grad_skip


def _prepare(u, delta, A, B, C, D):
    f32 = dict(dtype=torch.float32)
    return (
        u.detach().to(**f32),  # any strides: the model's u is sequence-major and copying it costs more than strided reads
        delta.detach().to(**f32).contiguous(),
        A.detach().to(**f32).contiguous(),
        B.detach().to(**f32).transpose(2, 3).contiguous(),
        C.detach().to(**f32).transpose(2, 3).contiguous(),
        D.detach().to(**f32).contiguous(),
    )


def _numpy(*tensors: torch.Tensor):
    return [t.numpy() for t in tensors]


@contextlib.contextmanager
def _on_threads(threads: int) -> Iterator[None]:
    """Numba's kernels on ``threads`` threads. Numba's OpenMP layer leaves the calling thread's
    OpenMP thread count at the size of its own pool, which would widen PyTorch's (the count that
    torch.set_num_threads asked for) for everything after the scan: it is put back."""
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class _SelectiveScan(torch.autograd.Function):
    """Scan with precomputed step sizes: (u, dt, A, B, C, D) -> y."""

    @staticmethod
    def forward(ctx, u, dt, A, B, C, D):
        prepared = _prepare(u, dt, A, B, C, D)
        batch, dim, length = u.shape
        # y is (batch, dim, L) with sequence-major memory, which is what the model reads next.
        y = torch.empty(batch, length, dim).transpose(1, 2)
        # Autograd runs backward on a thread of its own, where torch's thread count is the default:
        # the count asked for (torch.set_num_threads) is read here, on the caller's thread.
        ctx.threads = torch.get_num_threads()
        with _on_threads(ctx.threads):
            _forward_kernel(*_numpy(*prepared, y))
        ctx.save_for_backward(*prepared)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        u, dt, A, B, C, D = ctx.saved_tensors
        batch, dim, _ = u.shape
        grad_u, grad_dt = torch.empty_like(u), torch.empty_like(dt)
        grad_B, grad_C = torch.zeros_like(B), torch.zeros_like(C)
        grad_A = u.new_empty(batch, *A.shape)
        grad_D = u.new_empty(batch, dim)
        with _on_threads(ctx.threads):
            _backward_kernel(*_numpy(u, dt, A, B, C, D, grad_y.float().contiguous(),
                                     grad_u, grad_dt, grad_A, grad_B, grad_C, grad_D))
        return grad_u, grad_dt, grad_A.sum(0), grad_B.transpose(2, 3), grad_C.transpose(2, 3), grad_D.sum(0)


@torch.compiler.disable  # numba-compiled code is opaque to TorchDynamo: run it eagerly between graphs
def selective_scan_numba(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
) -> torch.Tensor:
    """Same contract as :func:`selective_scan_reference`; CPU tensors only."""
    dt = discretize(delta, delta_bias, delta_softplus)
    if D is None:
        D = u.new_zeros(u.shape[1], dtype=torch.float32)
    return _SelectiveScan.apply(u, dt, A, B, C, D)
