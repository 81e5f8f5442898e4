"""Synthetic degradations for training and validation on clean images.

Every function takes a clean float32 image (H, W, 3) in [0, 1] and a ``numpy.random.Generator``, so
that a seed reproduces the degraded image exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

Degradation = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _blur(layer: np.ndarray, sigma: float) -> np.ndarray:
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


def _motion_kernel(length: float, angle_deg: float, width: float = 1.0) -> torch.Tensor:
    """Normalised line kernel of the given length and direction (anti-aliased)."""
    size = int(np.ceil(length)) | 1
    c = size // 2
    yy, xx = np.mgrid[-c : c + 1, -c : c + 1].astype(np.float32)
    theta = np.deg2rad(angle_deg)
    along = xx * np.sin(theta) + yy * np.cos(theta)
    across = xx * np.cos(theta) - yy * np.sin(theta)
    k = np.clip(width - np.abs(across), 0, 1) * (np.abs(along) <= length / 2)
    k = k / max(k.sum(), 1e-6)
    return torch.from_numpy(k.astype(np.float32))


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    """Normalised 2-D Gaussian, 2 * ceil(3 sigma) + 1 pixels wide."""
    radius = max(1, int(np.ceil(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def _smear(kernel: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
    """Full 2-D convolution of two small odd-sized kernels (a flake smeared along a motion)."""
    pad = motion.shape[-1] - 1
    return F.conv2d(F.pad(kernel[None, None], (pad, pad, pad, pad)), motion[None, None])[0, 0]


def _splat(shape: tuple[int, int], ys: np.ndarray, xs: np.ndarray, values: np.ndarray,
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


def _screen(img: np.ndarray, layer: np.ndarray, color: float | np.ndarray = 1.0) -> np.ndarray:
    """Blend a [0, 1] light layer over the image: out = 1 - (1 - img) * (1 - layer * color)."""
    return 1.0 - (1.0 - img) * (1.0 - layer[..., None] * color)


def gaussian_noise(sigma: float) -> Degradation:
    """Additive white Gaussian noise with standard deviation ``sigma`` on the 0..255 scale, unclipped."""

    def apply(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return img + rng.normal(0.0, sigma / 255.0, img.shape).astype(np.float32)

    return apply


@dataclass
class RainStyle:
    """Distributions sampled for each image.

    Streaks: seeds per megapixel, length and width (px), blur; the image's direction is normal
    around vertical (``angle_sd`` degrees, clipped to ``max_angle``) with a small jitter per layer;
    rain adds light (``additive`` of the time, else screen-blended) with a log-uniform opacity, so
    that faint, dense rain (as in Rain12) is as common as bright streaks.
    """

    density: tuple[float, float] = (500.0, 5000.0)
    angle_sd: float = 15.0
    max_angle: float = 45.0
    length: tuple[float, float] = (10.0, 50.0)
    width: tuple[float, float] = (0.5, 2.0)
    blur: tuple[float, float] = (0.0, 0.8)
    opacity: tuple[float, float] = (0.05, 0.95)
    layers: tuple[int, int] = (1, 3)
    additive: float = 0.7


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def synthetic_rain(style: RainStyle | None = None) -> Degradation:
    """Rain streaks: random seeds smeared along a direction (motion blur), in 1-3 layers."""
    style = style or RainStyle()

    def apply(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = img.shape[:2]
        angle = float(np.clip(rng.normal(0, style.angle_sd), -style.max_angle, style.max_angle))
        rain = np.zeros((h, w), np.float32)
        for _ in range(rng.integers(style.layers[0], style.layers[1] + 1)):
            n = rng.poisson(rng.uniform(*style.density) * h * w / 1e6)
            ys, xs, values = rng.integers(0, h, n), rng.integers(0, w, n), rng.uniform(0.3, 1.0, n)
            kernel = _motion_kernel(rng.uniform(*style.length), angle + rng.normal(0, 3), rng.uniform(*style.width))
            streaks = _splat((h, w), ys, xs, values.astype(np.float32), (kernel / kernel.max()).numpy())
            rain += _blur(streaks, rng.uniform(*style.blur)) * _log_uniform(rng, *style.opacity)
        rain = np.clip(rain, 0, 1)
        if rng.random() < style.additive:
            return np.clip(img + rain[..., None], 0, 1).astype(np.float32)
        return _screen(img, rain).astype(np.float32)

    return apply


@dataclass
class SnowStyle:
    """Ranges for snow: flake count per megapixel, flake radius (px), motion length, layer opacity
    (log-uniform: faint flakes as common as bright ones), and a bright veil on ``veil_chance`` of the
    images (real snowy photos are often clear, and a model that always lifts a veil darkens them)."""

    density: tuple[float, float] = (400.0, 4000.0)
    radius: tuple[float, float] = (0.5, 6.0)
    motion: tuple[float, float] = (0.0, 9.0)
    angle: tuple[float, float] = (-40.0, 40.0)
    opacity: tuple[float, float] = (0.25, 1.0)
    veil: tuple[float, float] = (0.0, 0.25)
    veil_chance: float = 0.4
    layers: tuple[int, int] = (2, 4)


def synthetic_snow(style: SnowStyle | None = None) -> Degradation:
    """Snow: layers of soft flakes (small/far to large/near), optional motion smear, and a bright veil."""
    style = style or SnowStyle()

    def apply(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = img.shape[:2]
        veil = rng.uniform(*style.veil) if rng.random() < style.veil_chance else 0.0
        out = img * (1 - veil) + veil * rng.uniform(0.75, 0.95)
        n_layers = rng.integers(style.layers[0], style.layers[1] + 1)
        angle = rng.uniform(*style.angle)
        for depth in np.linspace(0.0, 1.0, n_layers):
            radius = style.radius[0] + depth * (style.radius[1] - style.radius[0]) * rng.uniform(0.6, 1.0)
            count = rng.uniform(*style.density) * h * w / 1e6 * (1.0 - 0.6 * depth)
            n = rng.poisson(count)
            ys, xs, values = rng.integers(0, h, n), rng.integers(0, w, n), rng.uniform(0.6, 1.0, n)
            flake = _gaussian_kernel(radius) * (2 * np.pi * radius**2)  # peak about 1
            motion = rng.uniform(*style.motion) * (0.5 + depth)
            if motion >= 2:
                flake = _smear(flake, _motion_kernel(motion, angle + rng.normal(0, 5)))
            flakes = _splat((h, w), ys, xs, values.astype(np.float32), flake.numpy())
            out = _screen(out, np.clip(flakes * _log_uniform(rng, *style.opacity), 0, 1))
        return out.astype(np.float32)

    return apply


DEGRADATIONS: dict[str, Callable[[], Degradation]] = {
    "noise": lambda: gaussian_noise(25.0),
    "rain": synthetic_rain,
    "snow": synthetic_snow,
}


def make_degradation(name: str) -> Degradation:
    """``noise`` / ``noise:SIGMA`` / ``rain`` / ``snow``."""
    kind, _, arg = name.partition(":")
    if kind == "noise" and arg:
        return gaussian_noise(float(arg))
    if kind not in DEGRADATIONS or arg:
        raise ValueError(f"unknown degradation {name!r}: use noise[:SIGMA], rain or snow")
    return DEGRADATIONS[kind]()
