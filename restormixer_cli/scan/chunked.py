"""Vectorised selective scan in plain PyTorch (CPU, CUDA, MPS; autograd gives the backward).

The sequence is cut into chunks of ``chunk`` steps. All chunks advance together, one step at a
time (a loop over the chunk length, not over the sequence), which yields every state relative to
its chunk start. The chunk-end states are then chained by a doubling (Hillis-Steele) scan over the
chunks and added back with the cumulative decays. Only products of decays are formed, never their
inverses, so nothing overflows whatever the step sizes are.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .reference import discretize

DEFAULT_CHUNK = 16


def doubling_linear_scan(decay: torch.Tensor, inp: torch.Tensor) -> torch.Tensor:
    """Solve h_i = decay_i * h_{i-1} + inp_i (h_{-1} = 0) along dim -2 in log2(length) passes."""
    step = 1
    while step < decay.shape[-2]:
        inp = torch.cat([inp[..., :step, :], inp[..., step:, :] + decay[..., step:, :] * inp[..., :-step, :]], -2)
        decay = torch.cat([decay[..., :step, :], decay[..., step:, :] * decay[..., :-step, :]], -2)
        step *= 2
    return inp


def _scan_within_chunks(decay: torch.Tensor, inp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """States from a zero start at each chunk, and decays accumulated since the chunk start."""
    state = torch.zeros_like(inp[..., 0, :])
    accumulated = torch.ones_like(decay[..., 0, :])
    states, decays = [], []
    for t in range(decay.shape[-2]):
        state = decay[..., t, :] * state + inp[..., t, :]
        accumulated = accumulated * decay[..., t, :]
        states.append(state)
        decays.append(accumulated)
    return torch.stack(states, -2), torch.stack(decays, -2)


def selective_scan_chunked(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    chunk: int = DEFAULT_CHUNK,
) -> torch.Tensor:
    """Same contract as :func:`selective_scan_reference`, computed without a loop over time."""
    u = u.float()
    batch, dim, length = u.shape
    groups, n_state = B.shape[1], B.shape[2]
    chunk = max(1, min(chunk, length))
    padding = -length % chunk
    n_chunks = (length + padding) // chunk

    def chunked(t: torch.Tensor) -> torch.Tensor:
        """(b, ..., L) -> (b, ..., n_chunks, chunk), zero-padded at the end."""
        return F.pad(t, (0, padding)).unflatten(-1, (n_chunks, chunk))

    dt = discretize(delta, delta_bias, delta_softplus)
    # (b, groups, dim/groups, n_chunks, chunk, N); B and C broadcast over the channels of a group.
    dt_g = chunked(dt).reshape(batch, groups, dim // groups, n_chunks, chunk, 1)
    u_g = chunked(u).reshape(batch, groups, dim // groups, n_chunks, chunk, 1)
    A_g = A.float().reshape(1, groups, dim // groups, 1, 1, n_state)
    B_g = chunked(B.float()).permute(0, 1, 3, 4, 2).unsqueeze(2)
    C_g = chunked(C.float()).permute(0, 1, 3, 4, 2).unsqueeze(2)

    local, local_decay = _scan_within_chunks(torch.exp(dt_g * A_g), (dt_g * u_g) * B_g)
    if n_chunks > 1:
        ends = doubling_linear_scan(local_decay[..., -1, :], local[..., -1, :])
        carry_in = F.pad(ends[..., :-1, :], (0, 0, 1, 0))
        local = local + local_decay * carry_in.unsqueeze(-2)
    y = (local * C_g).sum(-1).reshape(batch, dim, n_chunks * chunk)[..., :length]
    if D is not None:
        y = y + u * D.float()[None, :, None]
    return y
