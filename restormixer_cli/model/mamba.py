"""Visual state-space blocks (the paper's EMVM part): 2-D selective scans over image features."""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..scan import selective_scan
from .blocks import Mlp


def _init_step_projection(rank: int, inner: int, dt_min=1e-3, dt_max=0.1, floor=1e-4):
    """Mamba's dt projection init: uniform weights, bias = softplus^-1 of log-uniform steps."""
    bound = rank**-0.5
    weight = torch.empty(inner, rank).uniform_(-bound, bound)
    dt = torch.exp(torch.rand(inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)).clamp(min=floor)
    bias = dt + torch.log(-torch.expm1(-dt))
    return weight, bias


class SS2D(nn.Module):
    """Selective scan over a 2-D feature map along one or three scan orders.

    ``directions=1`` scans the map row by row at full resolution. ``directions=3`` first halves the
    resolution with a strided depthwise 7x7 conv, scans column-major, reversed row-major and reversed
    column-major orders, and upsamples back. Its merge reproduces the reference implementation
    exactly: the reversed row-major result is added twice (once reinterpreted as column-major) and
    the reversed column-major result is never used, so that scan is not computed at all.
    """

    def __init__(
        self,
        d_model: int,
        directions: int,
        d_state: int = 16,
        expand: float = 2.0,
        d_conv: int = 3,
        scan_backend: str | None = None,
    ):
        super().__init__()
        if directions not in (1, 3):
            raise ValueError(f"directions must be 1 or 3, got {directions}")
        self.directions = directions
        self.d_state = d_state
        self.d_inner = int(expand * d_model)
        self.dt_rank = math.ceil(d_model / 16)
        self.scan_backend = scan_backend
        inner, k = self.d_inner, directions

        self.in_proj = nn.Linear(d_model, inner * 2, bias=False)
        self.conv2d = nn.Conv2d(inner, inner, d_conv, padding=(d_conv - 1) // 2, groups=inner)
        x_proj = torch.empty(k, self.dt_rank + 2 * d_state, inner)
        for w in x_proj:
            nn.init.kaiming_uniform_(w, a=math.sqrt(5))
        self.x_proj_weight = nn.Parameter(x_proj)
        steps = [_init_step_projection(self.dt_rank, inner) for _ in range(k)]
        self.dt_projs_weight = nn.Parameter(torch.stack([w for w, _ in steps]))
        self.dt_projs_bias = nn.Parameter(torch.stack([b for _, b in steps]))
        self.A_logs = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(k * inner, 1))
        self.Ds = nn.Parameter(torch.ones(k * inner))
        self.out_norm = nn.LayerNorm(inner)
        self.out_proj = nn.Linear(inner, d_model, bias=False)
        if directions == 3:
            self.conv2d1_b1 = nn.Conv2d(d_model, d_model, 7, stride=2, padding=3, groups=d_model)
            self.upsample = nn.ConvTranspose2d(
                d_model, d_model, 3, stride=2, padding=1, output_padding=1, groups=d_model
            )

    def _scan(self, xs: torch.Tensor, used: int) -> torch.Tensor:
        """Selective scan of xs (B, used, D, L) with the parameters of the first ``used`` orders."""
        b, _, d, length = xs.shape
        proj = torch.einsum("bkdl,kcd->bkcl", xs, self.x_proj_weight[:used])
        dts, Bs, Cs = torch.split(proj, [self.dt_rank, self.d_state, self.d_state], dim=2)
        dts = torch.einsum("bkrl,kdr->bkdl", dts, self.dt_projs_weight[:used])
        y = selective_scan(
            xs.float().reshape(b, used * d, length),
            dts.float().reshape(b, used * d, length),
            -torch.exp(self.A_logs[: used * d].float()),
            Bs.float(),
            Cs.float(),
            self.Ds[: used * d].float(),
            delta_bias=self.dt_projs_bias[:used].float().reshape(-1),
            delta_softplus=True,
            backend=self.scan_backend,
        )
        return y.view(b, used, d, length)

    def _mix(self, x: torch.Tensor) -> torch.Tensor:
        """(B, D, H, W) -> scanned sequence (B, D, H*W) in row-major order."""
        b, d, h, w = x.shape
        if self.directions == 1:
            return self._scan(x.reshape(b, 1, d, h * w), 1)[:, 0]
        column_major = x.transpose(2, 3).reshape(b, d, h * w)
        reversed_row_major = x.reshape(b, d, h * w).flip(-1)
        y = self._scan(torch.stack([column_major, reversed_row_major], dim=1), 2)
        from_columns = y[:, 0].view(b, d, w, h).transpose(2, 3).reshape(b, d, h * w)
        from_reversed = y[:, 1].flip(-1)
        reinterpreted = from_reversed.view(b, d, w, h).transpose(2, 3).reshape(b, d, h * w)
        return from_reversed + from_columns + reinterpreted

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, H, W, C) channels-last -> same shape."""
        if self.directions == 3:
            x = self.conv2d1_b1(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        b, h, w, _ = x.shape
        x, z = self.in_proj(x).chunk(2, dim=-1)
        x = F.silu(self.conv2d(x.permute(0, 3, 1, 2)))
        y = self._mix(x).transpose(1, 2).reshape(b, h, w, -1)
        y = self.out_norm(y) * F.silu(z)
        out = self.out_proj(y)
        if self.directions == 3:
            out = self.upsample(out.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return out


class VSSBlock(nn.Module):
    """Visual state-space block: one- and three-order SS2D in parallel, scaled residuals, channel MLP."""

    def __init__(self, dim: int, d_state: int = 16, expand: float = 2.0, scan_backend: str | None = None):
        super().__init__()
        self.skip_scale = nn.Parameter(torch.ones(dim))
        self.skip_scale2 = nn.Parameter(torch.ones(dim))
        self.ln_1 = nn.LayerNorm(dim, eps=1e-6)
        self.self_attention_1 = SS2D(dim, 1, d_state, expand, scan_backend=scan_backend)
        self.self_attention_3 = SS2D(dim, 3, d_state, expand, scan_backend=scan_backend)
        self.conv_blk = Mlp(dim, dim)
        self.ln_2 = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) -> same shape; H and W must be even."""
        x = x.permute(0, 2, 3, 1)
        normed = self.ln_1(x)
        x = x * self.skip_scale + (self.self_attention_1(normed) + self.self_attention_3(normed))
        x = x * self.skip_scale2 + self.conv_blk(self.ln_2(x))
        return x.permute(0, 3, 1, 2).contiguous()
