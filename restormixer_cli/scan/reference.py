"""Exact sequential selective scan: the ground truth every other backend is tested against."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def discretize(
    delta: torch.Tensor, delta_bias: torch.Tensor | None, delta_softplus: bool
) -> torch.Tensor:
    """Step sizes as Mamba computes them: optional bias, then optional softplus (in fp32)."""
    delta = delta.float()
    if delta_bias is not None:
        delta = delta + delta_bias.float()[None, :, None]
    return F.softplus(delta) if delta_softplus else delta


def expand_groups(bc: torch.Tensor, dim: int) -> torch.Tensor:
    """(batch, groups, N, L) -> (batch, dim, N, L): each group serves dim // groups channels."""
    return bc.float().repeat_interleave(dim // bc.shape[1], dim=1)


def selective_scan_reference(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
) -> torch.Tensor:
    """Run the recurrence h_t = exp(dt_t A) h_{t-1} + dt_t B_t u_t, y_t = C_t h_t + D u_t step by step.

    Shapes follow mamba-ssm's ``selective_scan_fn``: u, delta (batch, dim, L); A (dim, N);
    B, C (batch, groups, N, L); D, delta_bias (dim,). Returns y (batch, dim, L) in fp32.
    """
    u = u.float()
    dt = discretize(delta, delta_bias, delta_softplus)
    dim = u.shape[1]
    Bx = expand_groups(B, dim)
    Cx = expand_groups(C, dim)
    A = A.float()
    h = u.new_zeros(u.shape[0], dim, A.shape[1])
    ys = []
    for t in range(u.shape[2]):
        dt_t = dt[:, :, t, None]
        h = torch.exp(dt_t * A) * h + dt_t * Bx[..., t] * u[:, :, t, None]
        ys.append((h * Cx[..., t]).sum(-1))
    y = torch.stack(ys, dim=-1)
    if D is not None:
        y = y + u * D.float()[None, :, None]
    return y
