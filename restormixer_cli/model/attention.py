"""Window multi-head self-attention block (the paper's MWSA part)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from .blocks import Mlp


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * H/window * W/window, window * window, C)."""
    return rearrange(x, "b (nh wh) (nw ww) c -> (b nh nw) (wh ww) c", wh=window, ww=window)


def window_merge(windows: torch.Tensor, window: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`."""
    return rearrange(windows, "(b nh nw) (wh ww) c -> b (nh wh) (nw ww) c", nh=h // window, nw=w // window, wh=window)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside each window, without position bias."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n_windows, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(n_windows, tokens, 3, self.num_heads, dim // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
        return self.proj(out.transpose(1, 2).reshape(n_windows, tokens, dim))


class WindowAttentionBlock(nn.Module):
    """Pre-norm window attention and MLP, both residual, on (B, C, H, W) feature maps.

    Feature maps are zero-padded on the bottom/right to a multiple of the window and cropped back
    afterwards; padded positions take part in attention, as in the reference implementation.
    """

    def __init__(self, dim: int, window_size: int, num_heads: int, mlp_ratio: float = 2.66):
        super().__init__()
        self.window_size = window_size
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, _, h, w = x.shape
        win = self.window_size
        x = F.pad(x, (0, -w % win, 0, -h % win)).permute(0, 2, 3, 1)
        hp, wp = x.shape[1:3]
        attended = self.attn(window_partition(self.norm1(x), win))
        x = x + window_merge(attended, win, hp, wp)
        x = x + self.mlp(self.norm2(x))
        return x.permute(0, 3, 1, 2)[:, :, :h, :w].contiguous()
