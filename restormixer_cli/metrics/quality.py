"""PSNR and SSIM as the image-restoration literature computes them.

Conventions of BasicSR's ``calculate_psnr`` / ``calculate_ssim`` (which reproduce the MATLAB scripts
used by most papers): images on the 0..255 scale in float64, ``crop_border`` pixels removed from
every side, optional luma only (MATLAB BT.601 ``rgb2ycbcr``, not rounded), SSIM with an 11x11
Gaussian window (sigma 1.5) and "valid" filtering, averaged over channels.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..io.formats import quantize

#: BT.601 luma weights on 0..1 RGB, giving Y on the 0..255 scale (with the +16 offset).
Y_WEIGHTS = (65.481, 128.553, 24.966)
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5


def eight_bit_levels(image: np.ndarray) -> torch.Tensor:
    """An (H, W, 3) float image in [0, 1] as the (3, H, W) float tensor of the 8-bit levels (0-255) a
    saved file holds: what PSNR and SSIM score."""
    return torch.from_numpy(quantize(image).astype(np.float32)).permute(2, 0, 1)


def to_y_channel(img: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) RGB on 0..255 -> (..., 1, H, W) Y on 0..255. Other channel counts pass through."""
    if img.shape[-3] != 3:
        return img
    w = img.new_tensor(Y_WEIGHTS).view(3, 1, 1) / 255.0
    return 16.0 + (img * w).sum(-3, keepdim=True)


def _prepare(img: torch.Tensor, crop_border: int, y_channel: bool) -> torch.Tensor:
    img = img.to(torch.float64)
    if crop_border:
        img = img[..., crop_border:-crop_border, crop_border:-crop_border]
    return to_y_channel(img) if y_channel else img


def _check_pair(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.shape != target.shape:
        raise ValueError(f"image sizes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")


def psnr(pred: torch.Tensor, target: torch.Tensor, crop_border: int = 0, y_channel: bool = False) -> float:
    """PSNR in dB of two (C, H, W) images on the 0..255 scale; inf when they are identical."""
    _check_pair(pred, target)
    mse = torch.mean((_prepare(pred, crop_border, y_channel) - _prepare(target, crop_border, y_channel)) ** 2)
    mse = float(mse)
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def _gaussian_window(device: torch.device) -> torch.Tensor:
    coords = torch.arange(SSIM_WINDOW, dtype=torch.float64, device=device) - SSIM_WINDOW // 2
    g = torch.exp(-(coords**2) / (2 * SSIM_SIGMA**2))
    return g / g.sum()


def _filter_valid(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filtering of (N, 1, H, W) keeping only fully covered positions."""
    x = F.conv2d(x, g.view(1, 1, -1, 1))
    return F.conv2d(x, g.view(1, 1, 1, -1))


def ssim(pred: torch.Tensor, target: torch.Tensor, crop_border: int = 0, y_channel: bool = False) -> float:
    """Mean SSIM of two (C, H, W) images on the 0..255 scale, averaged over channels."""
    _check_pair(pred, target)
    a = _prepare(pred, crop_border, y_channel)
    b = _prepare(target, crop_border, y_channel)
    if min(a.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels after cropping")
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    g = _gaussian_window(a.device)
    stacked = torch.stack([a, b, a * a, b * b, a * b]).flatten(0, -3).unsqueeze(1)
    mu_a, mu_b, aa, bb, ab = _filter_valid(stacked, g).unflatten(0, (5, -1)).unbind(0)
    var_a, var_b, cov = aa - mu_a**2, bb - mu_b**2, ab - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(ssim_map.mean())
