"""Noise: white Gaussian, a camera pipeline's sensor noise, and blind noise of unknown kind and
strength."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .common import Degradation, as_8bit, linear_to_srgb, log_uniform, srgb_to_linear
from .jpeg import jpeg_roundtrip
from .kernels import gaussian_blur


def gaussian_noise(sigma: float, grey_share: float = 0.0) -> Degradation:
    """Additive white Gaussian noise with standard deviation ``sigma`` on the 0..255 scale, unclipped;
    ``grey_share`` of its variance is the same in all three channels (noise of brightness only, as a
    camera's colour noise reduction or a grey photo leaves it), the rest independent per channel."""

    def apply(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        noise = rng.normal(0.0, sigma / 255.0, img.shape).astype(np.float32)
        if grey_share == 0:
            return img + noise
        grey = rng.normal(0.0, sigma / 255.0, (*img.shape[:-1], 1)).astype(np.float32)
        return img + math.sqrt(1 - grey_share) * noise + math.sqrt(grey_share) * grey

    return apply


_BAYER_INTERPOLATION = {  # bilinear demosaicing kernels for the sparse red/blue and the green sites
    "rb": torch.tensor([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=torch.float32) / 4,
    "g": torch.tensor([[0, 1, 0], [1, 4, 1], [0, 1, 0]], dtype=torch.float32) / 4,
}


def _demosaic(raw: np.ndarray) -> np.ndarray:
    """Keep each channel at its RGGB Bayer sites and interpolate it bilinearly elsewhere: the spatial
    correlation that demosaicing gives sensor noise."""
    h, w = raw.shape[:2]
    masks = np.zeros((3, h, w), np.float32)
    masks[0, 0::2, 0::2] = 1
    masks[1, 0::2, 1::2] = masks[1, 1::2, 0::2] = 1
    masks[2, 1::2, 1::2] = 1
    sparse = torch.from_numpy(np.ascontiguousarray(raw.transpose(2, 0, 1)) * masks)[:, None]
    out = [F.conv2d(F.pad(sparse[c : c + 1], (1, 1, 1, 1), mode="reflect"), _BAYER_INTERPOLATION[k][None, None])
           for c, k in enumerate(("rb", "g", "rb"))]
    return torch.cat(out)[:, 0].permute(1, 2, 0).numpy()


def _reduce_chroma(noise: np.ndarray, sigma: float, kept: float) -> np.ndarray:
    """Blur the colour part of (H, W, 3) noise and keep ``kept`` of it; the grey part stays."""
    grey = noise.mean(axis=2, keepdims=True)
    chroma = np.stack([gaussian_blur(noise[..., c] - grey[..., 0], sigma) for c in range(3)], axis=2)
    return grey + kept * chroma


@dataclass
class CameraNoiseStyle:
    """Ranges for camera noise: Poisson-Gaussian noise on the Bayer sensor in linear light (``shot``:
    variance per unit signal, ``read``: standard deviation, both log-uniform), white-balance gains of
    red and blue, a colour-correction matrix of ``saturation`` strength mixing the channels, in-camera
    chroma noise reduction (a blur of ``chroma_blur`` px keeping ``chroma_kept`` of the colour noise)
    on ``chroma_chance`` of the images, sRGB gamma, 8-bit quantisation and, on ``jpeg_chance`` of the
    images, JPEG compression."""

    shot: tuple[float, float] = (1e-4, 1e-2)
    read: tuple[float, float] = (5e-4, 1e-2)
    red_gain: tuple[float, float] = (1.4, 2.6)
    blue_gain: tuple[float, float] = (1.2, 2.2)
    saturation: tuple[float, float] = (0.0, 0.5)
    chroma_chance: float = 0.7
    chroma_blur: tuple[float, float] = (0.5, 2.5)
    chroma_kept: tuple[float, float] = (0.2, 0.8)
    jpeg_chance: float = 0.6
    jpeg_quality: tuple[int, int] = (60, 96)


def camera_noise(style: CameraNoiseStyle | None = None) -> Degradation:
    """Sensor noise as a camera's pipeline leaves it: signal-dependent, correlated in space and
    across channels, amplified in the shadows by the gamma curve, often JPEG-compressed."""
    style = style or CameraNoiseStyle()

    def apply(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        linear = srgb_to_linear(np.clip(img, 0, 1))
        gains = np.array([rng.uniform(*style.red_gain), 1.0, rng.uniform(*style.blue_gain)], np.float32)
        raw = linear / gains
        variance = log_uniform(rng, *style.shot) * raw + log_uniform(rng, *style.read) ** 2
        noise = _demosaic(rng.standard_normal(raw.shape).astype(np.float32) * np.sqrt(variance)) * gains
        mixing = rng.dirichlet(np.ones(3), size=3)
        ccm = np.eye(3) + rng.uniform(*style.saturation) * (np.eye(3) - mixing)
        noise = noise @ ccm.T.astype(np.float32)
        if rng.random() < style.chroma_chance:
            noise = _reduce_chroma(noise, rng.uniform(*style.chroma_blur), rng.uniform(*style.chroma_kept))
        noisy = linear_to_srgb(np.clip(linear + noise, 0, 1))
        if rng.random() < style.jpeg_chance:
            return jpeg_roundtrip(noisy, int(rng.integers(*style.jpeg_quality)))
        return as_8bit(noisy)

    return apply


def blind_noise(max_sigma: float = 50.0, camera_chance: float = 0.5, clip_chance: float = 0.3,
                grey_chance: float = 0.5) -> Degradation:
    """Noise of unknown kind and strength: camera noise on ``camera_chance`` of the images, otherwise
    white Gaussian noise with sigma uniform in [0, max_sigma] (on ``clip_chance`` of those clipped and
    quantised to 8 bits, as a saved file would be), on ``grey_chance`` of them with a share of its
    variance, uniform in [0, 1], the same in all channels: a model that only ever saw independent
    channels leaves brightness-only noise in place as if it were texture."""
    camera = camera_noise()

    def apply(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.random() < camera_chance:
            return camera(img, rng)
        grey_share = rng.uniform(0, 1) if grey_chance and rng.random() < grey_chance else 0.0
        noisy = gaussian_noise(rng.uniform(0, max_sigma), grey_share)(img, rng)
        return as_8bit(noisy) if rng.random() < clip_chance else noisy

    return apply
