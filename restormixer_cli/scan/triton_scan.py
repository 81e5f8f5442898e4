"""Selective scan in Triton, forward and backward, for CUDA GPUs without mamba-ssm.

One program per (batch, channel) row walks the sequence in chunks of ``BLOCK_L`` steps. Within a
chunk, the (N, BLOCK_L) tile of decays and inputs is solved by a parallel associative scan over
time; the state carried from the previous chunk is added with the cumulative decays, so only
products of decays are formed (nothing overflows). States and accumulation are fp32 whatever the
input dtype (fp32, fp16, bf16); inputs are read through their strides, without copies.

The forward pass saves the state at the start of every chunk when a gradient is needed; the
backward pass recomputes each chunk's states from it and runs the adjoint recurrence (a reverse
associative scan) chunk by chunk from the end. The gradients of B and C, which the channels of a
group share, are summed with atomic adds, so their last bits depend on scheduling.

Kernels are compiled for CUDA tensors; with ``TRITON_INTERPRET=1`` set before this module is
imported, Triton's interpreter runs them on CPU tensors (slowly: for tests).
"""

from __future__ import annotations

import contextlib

import torch
import triton
import triton.language as tl

from .reference import discretize

#: Elements of the (state, time) tile each program holds per chunk.
TILE_ELEMENTS = 2048


@triton.jit
def _compose(decay_left, state_left, decay_right, state_right):
    """Two steps of h = decay * h + state, left (earlier) then right, as one step."""
    return decay_left * decay_right, state_left * decay_right + state_right


@triton.jit
def _row(u_ptr, su_b, su_d, dt_ptr, sdt_b, sdt_d, A_ptr, B_ptr, sB_b, sB_g, sB_n, C_ptr, sC_b, sC_g, sC_n, D_ptr,
         dim, n_state, per_group, BLOCK_N: tl.constexpr):
    """This program's (batch, channel) row: its index, batch, group, state lanes, A row, D, and where
    its u, delta, B and C start."""
    row = tl.program_id(0).to(tl.int64)
    b, d = row // dim, row % dim
    g = d // per_group
    n = tl.arange(0, BLOCK_N)
    n_ok = n < n_state
    a = tl.load(A_ptr + d * n_state + n, mask=n_ok, other=0.0)[:, None]
    skip = tl.load(D_ptr + d)
    u_row = u_ptr + b * su_b + d * su_d
    dt_row = dt_ptr + b * sdt_b + d * sdt_d
    B_rows = B_ptr + b * sB_b + g * sB_g + n[:, None] * sB_n
    C_rows = C_ptr + b * sC_b + g * sC_g + n[:, None] * sC_n
    return row, b, g, n, n_ok, a, skip, u_row, dt_row, B_rows, C_rows


@triton.jit
def _chunk(chunk, length, n_ok, u_row, su_l, dt_row, sdt_l, B_rows, sB_l, C_rows, sC_l, BLOCK_L: tl.constexpr):
    """One chunk's time steps, their masks, and its u, delta (BLOCK_L) and B, C (BLOCK_N, BLOCK_L) in fp32."""
    t = chunk * BLOCK_L + tl.arange(0, BLOCK_L)
    t_ok = t < length
    tile_ok = n_ok[:, None] & t_ok[None, :]
    u = tl.load(u_row + t * su_l, mask=t_ok, other=0.0).to(tl.float32)
    dt = tl.load(dt_row + t * sdt_l, mask=t_ok, other=0.0).to(tl.float32)
    Bt = tl.load(B_rows + t[None, :] * sB_l, mask=tile_ok, other=0.0).to(tl.float32)
    Ct = tl.load(C_rows + t[None, :] * sC_l, mask=tile_ok, other=0.0).to(tl.float32)
    return t, t_ok, tile_ok, u, dt, Bt, Ct


@triton.jit
def _forward_kernel(
    u_ptr, su_b, su_d, su_l,
    dt_ptr, sdt_b, sdt_d, sdt_l,
    A_ptr, B_ptr, sB_b, sB_g, sB_n, sB_l,
    C_ptr, sC_b, sC_g, sC_n, sC_l,
    D_ptr, y_ptr, states_ptr,
    dim, length, n_state, per_group, n_chunks,
    SAVE_STATES: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_L: tl.constexpr,
):
    """y (batch, dim, L), contiguous fp32; states (batch, dim, n_chunks, N): the state before each chunk."""
    row, b, g, n, n_ok, a, skip, u_row, dt_row, B_rows, C_rows = _row(
        u_ptr, su_b, su_d, dt_ptr, sdt_b, sdt_d, A_ptr, B_ptr, sB_b, sB_g, sB_n, C_ptr, sC_b, sC_g, sC_n, D_ptr,
        dim, n_state, per_group, BLOCK_N)
    last = (tl.arange(0, BLOCK_L) == BLOCK_L - 1)[None, :]
    h = tl.zeros([BLOCK_N], dtype=tl.float32)
    for chunk in range(0, n_chunks):
        t, t_ok, tile_ok, u, dt, Bt, Ct = _chunk(chunk, length, n_ok, u_row, su_l, dt_row, sdt_l, B_rows, sB_l,
                                                 C_rows, sC_l, BLOCK_L)
        if SAVE_STATES:
            tl.store(states_ptr + (row * n_chunks + chunk) * n_state + n, h, mask=n_ok)
        decays, local = tl.associative_scan((tl.exp(dt[None, :] * a), Bt * (dt * u)[None, :]), 1, _compose)
        hs = local + decays * h[:, None]
        tl.store(y_ptr + row * length + t, tl.sum(hs * Ct, axis=0) + skip * u, mask=t_ok)
        h = tl.sum(tl.where(last, hs, 0.0), axis=1)


@triton.jit
def _backward_kernel(
    u_ptr, su_b, su_d, su_l,
    dt_ptr, sdt_b, sdt_d, sdt_l,
    A_ptr, B_ptr, sB_b, sB_g, sB_n, sB_l,
    C_ptr, sC_b, sC_g, sC_n, sC_l,
    D_ptr, states_ptr, gy_ptr,
    gu_ptr, gdt_ptr, gA_ptr, gB_ptr, gC_ptr, gD_ptr,
    dim, length, n_state, per_group, n_chunks, groups,
    BLOCK_N: tl.constexpr, BLOCK_L: tl.constexpr,
):
    """Gradients of :func:`_forward_kernel`. gy, gu, gdt: (batch, dim, L) contiguous; gA (batch, dim, N)
    and gD (batch, dim) per-batch partial sums; gB, gC (batch, groups, N, L) contiguous, zeroed, atomic."""
    row, b, g, n, n_ok, a, skip, u_row, dt_row, B_rows, C_rows = _row(
        u_ptr, su_b, su_d, dt_ptr, sdt_b, sdt_d, A_ptr, B_ptr, sB_b, sB_g, sB_n, C_ptr, sC_b, sC_g, sC_n, D_ptr,
        dim, n_state, per_group, BLOCK_N)
    grad_bc_rows = ((b * groups + g) * n_state + n[:, None]) * length
    first = (tl.arange(0, BLOCK_L) == 0)[None, :]
    grad_h_next = tl.zeros([BLOCK_N], dtype=tl.float32)  # gradient of the state after the chunk
    grad_a = tl.zeros([BLOCK_N], dtype=tl.float32)
    grad_skip = tl.zeros([BLOCK_L], dtype=tl.float32)
    for step in range(0, n_chunks):
        chunk = n_chunks - 1 - step
        t, t_ok, tile_ok, u, dt, Bt, Ct = _chunk(chunk, length, n_ok, u_row, su_l, dt_row, sdt_l, B_rows, sB_l,
                                                 C_rows, sC_l, BLOCK_L)
        dt_next = tl.load(dt_row + (t + 1) * sdt_l, mask=t + 1 < length, other=0.0).to(tl.float32)
        gy = tl.load(gy_ptr + row * length + t, mask=t_ok, other=0.0)
        h0 = tl.load(states_ptr + (row * n_chunks + chunk) * n_state + n, mask=n_ok, other=0.0)
        x = Bt * (dt * u)[None, :]
        decays, local = tl.associative_scan((tl.exp(dt[None, :] * a), x), 1, _compose)
        hs = local + decays * h0[:, None]
        # grad_h_t = C_t gy_t + exp(dt_{t+1} A) grad_h_{t+1}: the same recurrence, backwards in time.
        carried, local_grad = tl.associative_scan((tl.exp(dt_next[None, :] * a), Ct * gy[None, :]), 1, _compose,
                                                  reverse=True)
        grad_h = local_grad + carried * grad_h_next[:, None]
        grad_h_next = tl.sum(tl.where(first, grad_h, 0.0), axis=1)
        tl.atomic_add(gC_ptr + grad_bc_rows + t[None, :], hs * gy[None, :], mask=tile_ok)
        tl.atomic_add(gB_ptr + grad_bc_rows + t[None, :], grad_h * (dt * u)[None, :], mask=tile_ok)
        grad_decay = grad_h * (hs - x)  # grad_h_t * exp(dt_t A) h_{t-1}, without the previous state
        grad_hB = tl.sum(grad_h * Bt, axis=0)
        tl.store(gu_ptr + row * length + t, dt * grad_hB + gy * skip, mask=t_ok)
        tl.store(gdt_ptr + row * length + t, tl.sum(grad_decay * a, axis=0) + u * grad_hB, mask=t_ok)
        grad_a += tl.sum(grad_decay * dt[None, :], axis=1)
        grad_skip += gy * u
    tl.store(gA_ptr + row * n_state + n, grad_a, mask=n_ok)
    tl.store(gD_ptr + row, tl.sum(grad_skip, axis=0))


def _block_sizes(n_state: int, length: int, chunk: int | None) -> tuple[int, int]:
    """(BLOCK_N, BLOCK_L): the state padded to a power of two; chunks of about TILE_ELEMENTS / BLOCK_N
    steps (or ``chunk``, rounded up to a power of two), no longer than the sequence needs, at least 16."""
    block_n = triton.next_power_of_2(n_state)
    block_l = triton.next_power_of_2(chunk or TILE_ELEMENTS // block_n)
    return block_n, max(16, min(block_l, triton.next_power_of_2(length)))


def _strided(*tensors: torch.Tensor) -> list:
    """Each tensor followed by its strides, as the kernels take them."""
    return [item for t in tensors for item in (t, *t.stride())]


def _on_device(t: torch.Tensor):
    """Launch on ``t``'s GPU (Triton uses the current one)."""
    return torch.cuda.device(t.device) if t.device.type == "cuda" else contextlib.nullcontext()


class _SelectiveScan(torch.autograd.Function):
    """Scan with precomputed step sizes: (u, dt, A, B, C, D) -> y."""

    @staticmethod
    def forward(ctx, u, dt, A, B, C, D, chunk, save):
        batch, dim, length = u.shape
        groups, n_state = B.shape[1], B.shape[2]
        block_n, block_l = _block_sizes(n_state, length, chunk)
        n_chunks = triton.cdiv(length, block_l)
        A, D = A.detach().float().contiguous(), D.detach().float().contiguous()
        y = torch.empty(batch, dim, length, device=u.device, dtype=torch.float32)
        states = y.new_empty(batch, dim, n_chunks, n_state) if save else y
        with _on_device(u):
            _forward_kernel[(batch * dim,)](
                *_strided(u, dt), A, *_strided(B, C), D, y, states,
                dim, length, n_state, dim // groups, n_chunks,
                SAVE_STATES=save, BLOCK_N=block_n, BLOCK_L=block_l,
            )
        if save:
            ctx.save_for_backward(u, dt, A, B, C, D, states)
            ctx.blocks = block_n, block_l
        return y

    @staticmethod
    def backward(ctx, grad_y):
        u, dt, A, B, C, D, states = ctx.saved_tensors
        batch, dim, length = u.shape
        groups, n_state = B.shape[1], B.shape[2]
        block_n, block_l = ctx.blocks
        f32 = dict(device=u.device, dtype=torch.float32)
        grad_u, grad_dt = torch.empty(batch, dim, length, **f32), torch.empty(batch, dim, length, **f32)
        grad_B, grad_C = torch.zeros(B.shape, **f32), torch.zeros(C.shape, **f32)
        grad_A, grad_D = torch.empty(batch, dim, n_state, **f32), torch.empty(batch, dim, **f32)
        with _on_device(u):
            _backward_kernel[(batch * dim,)](
                *_strided(u, dt), A, *_strided(B, C), D, states, grad_y.float().contiguous(),
                grad_u, grad_dt, grad_A, grad_B, grad_C, grad_D,
                dim, length, n_state, dim // groups, states.shape[2], groups,
                BLOCK_N=block_n, BLOCK_L=block_l,
            )
        return (grad_u.to(u.dtype), grad_dt, grad_A.sum(0), grad_B.to(B.dtype), grad_C.to(C.dtype),
                grad_D.sum(0), None, None)


@torch.compiler.disable  # hand-written kernels behind an autograd.Function: run them eagerly between graphs
def selective_scan_triton(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    chunk: int | None = None,
) -> torch.Tensor:
    """Same contract as :func:`selective_scan_reference`; CUDA tensors (CPU under ``TRITON_INTERPRET=1``).

    u, B and C may be fp32, fp16 or bf16; ``chunk`` (a power of two) overrides the time steps per tile.
    """
    dt = discretize(delta, delta_bias, delta_softplus)
    if D is None:
        D = u.new_zeros(u.shape[1], dtype=torch.float32)
    # Chunk-start states are kept for the backward pass only when one can follow.
    save = torch.is_grad_enabled() and any(t.requires_grad for t in (u, dt, A, B, C, D))
    return _SelectiveScan.apply(u, dt, A, B, C, D, chunk, save)
