"""Exposure: underexposed, noisy photos, and clean scenes shown at another exposure."""

from __future__ import annotations

import numpy as np

from .common import Degradation, linear_to_srgb, log_uniform, srgb_to_linear
from .noise import camera_noise


def low_light(exposure: tuple[float, float] = (3.0, 25.0)) -> Degradation:
    """An underexposed photo: linear light divided by a log-uniform factor in ``exposure``, then the
    camera's signal-dependent noise (:func:`camera_noise`), strongest relative to the dark signal."""
    camera = camera_noise()

    def apply(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        dark = srgb_to_linear(np.clip(img, 0, 1)) / log_uniform(rng, *exposure)
        return camera(linear_to_srgb(dark).astype(np.float32), rng)

    return apply


def reexposed(img: np.ndarray, rng: np.random.Generator, factors: tuple[float, float]) -> np.ndarray:
    """The same scene at another exposure (a dim room, dusk), not a degradation: linear light times a
    log-uniform factor in ``factors``, clipped. Applied to a clean image before it is degraded, it
    shows a model dim photos that are meant to stay dim."""
    linear = srgb_to_linear(np.clip(img, 0, 1)) * log_uniform(rng, *factors)
    return linear_to_srgb(np.clip(linear, 0, 1)).astype(np.float32)
