"""Haze and fog: atmospheric scattering over a depth proxy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .common import Degradation, linear_to_srgb, log_uniform, srgb_to_linear
from .kernels import gaussian_blur


@dataclass
class HazeStyle:
    """Atmospheric scattering, ``I = J t + A (1 - t)`` in linear light with ``t = exp(-beta d)``: the
    depth proxy ``d`` is a base depth (log-uniform ``depth``) plus, weighted by ``relief``, a
    height cue (far towards the top), a brightness cue (bright regions such as sky tend to be far)
    and a smooth random field, all blurred (haze varies slowly); the airlight ``A`` is a bright,
    slightly tinted grey."""

    beta: tuple[float, float] = (0.3, 1.6)
    depth: tuple[float, float] = (0.2, 0.8)
    relief: tuple[float, float] = (0.0, 0.5)
    airlight: tuple[float, float] = (0.6, 1.0)
    tint: float = 0.06


def haze(style: HazeStyle | None = None) -> Degradation:
    """Haze or fog of random density over a plausible depth layout."""
    style = style or HazeStyle()

    def apply(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        linear = srgb_to_linear(np.clip(img, 0, 1))
        transmission = np.exp(-rng.uniform(*style.beta) * _depth_proxy(img, style, rng))[..., None]
        airlight = rng.uniform(*style.airlight) * (1 + rng.uniform(-style.tint, style.tint, 3)).astype(np.float32)
        hazy = linear * transmission + np.clip(airlight, 0, 1) * (1 - transmission)
        return linear_to_srgb(np.clip(hazy, 0, 1)).astype(np.float32)

    return apply


def _depth_proxy(img: np.ndarray, style: HazeStyle, rng: np.random.Generator) -> np.ndarray:
    """The depth ``d`` of :class:`HazeStyle`: a base depth plus a random mix of the three cues."""
    h, w = img.shape[:2]
    height = np.linspace(1.0, 0.0, h, dtype=np.float32)[:, None].repeat(w, 1) ** rng.uniform(0.5, 2.0)
    brightness = gaussian_blur(img.mean(axis=2), max(h, w) / 16)
    field = gaussian_blur(rng.standard_normal((h, w)).astype(np.float32), max(h, w) / 8)
    field = (field - field.min()) / max(float(np.ptp(field)), 1e-6)
    cues = rng.dirichlet(np.ones(3))
    relief = cues[0] * height + cues[1] * brightness + cues[2] * field
    return log_uniform(rng, *style.depth) + rng.uniform(*style.relief) * relief
