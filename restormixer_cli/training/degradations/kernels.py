"""Small filters the syntheses draw with: Gaussian blur, line and Gaussian kernels, and stamping a
kernel at sparse points."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def gaussian_blur(layer: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a (H, W) float layer (torch, separable, reflect padding)."""
    if sigma <= 0.05:
        return layer
    radius = max(1, int(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    t = torch.from_numpy(np.ascontiguousarray(layer, dtype=np.float32))[None, None]
    pad = min(radius, t.shape[-1] - 1, t.shape[-2] - 1)
    mode = "reflect" if pad == radius else "replicate"
    t = F.pad(t, (radius, radius, radius, radius), mode=mode)
    t = F.conv2d(F.conv2d(t, g.view(1, 1, -1, 1)), g.view(1, 1, 1, -1))
    return t[0, 0].numpy()


def motion_kernel(length: float, angle_deg: float, width: float = 1.0, taper: bool = False) -> torch.Tensor:
    """Normalised line kernel of the given length and direction (anti-aliased); with ``taper`` the
    line fades out towards both ends, as a falling drop's streak does."""
    size = int(np.ceil(length)) | 1
    c = size // 2
    yy, xx = np.mgrid[-c : c + 1, -c : c + 1].astype(np.float32)
    theta = np.deg2rad(angle_deg)
    along = xx * np.sin(theta) + yy * np.cos(theta)
    across = xx * np.cos(theta) - yy * np.sin(theta)
    k = np.clip(width - np.abs(across), 0, 1) * (np.abs(along) <= length / 2)
    if taper:
        k = k * np.cos(np.pi * np.clip(along / length, -0.5, 0.5)) ** 0.5
    k = k / max(k.sum(), 1e-6)
    return torch.from_numpy(k.astype(np.float32))


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """Normalised 2-D Gaussian, 2 * ceil(3 sigma) + 1 pixels wide."""
    radius = max(1, int(np.ceil(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def smear(kernel: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
    """Full 2-D convolution of two small odd-sized kernels (a flake smeared along a motion)."""
    pad = motion.shape[-1] - 1
    return F.conv2d(F.pad(kernel[None, None], (pad, pad, pad, pad)), motion[None, None])[0, 0]


def splat(shape: tuple[int, int], ys: np.ndarray, xs: np.ndarray, values: np.ndarray,
          kernel: np.ndarray) -> np.ndarray:
    """Sum of ``kernel`` copies centred on sparse points: the convolution of a sparse image, at a
    cost proportional to the points rather than the pixels."""
    ky, kx = np.nonzero(kernel)
    c = kernel.shape[0] // 2
    yy = ys[:, None] + (ky - c)[None]
    xx = xs[:, None] + (kx - c)[None]
    inside = (yy >= 0) & (yy < shape[0]) & (xx >= 0) & (xx < shape[1])
    out = np.zeros(shape, np.float32)
    np.add.at(out, (yy[inside], xx[inside]), (values[:, None] * kernel[ky, kx][None])[inside])
    return out
