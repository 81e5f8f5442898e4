"""What every degradation family shares: the degradation type, log-uniform draws, sRGB <-> linear
light and 8-bit storage."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ...io.formats import quantize

Degradation = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """A number drawn uniformly on a log scale between ``low`` and ``high``."""
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def srgb_to_linear(img: np.ndarray) -> np.ndarray:
    """sRGB values in [0, 1] as linear light."""
    return np.where(img <= 0.04045, img / 12.92, ((img + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(img: np.ndarray) -> np.ndarray:
    """Linear light in [0, 1] as sRGB values."""
    return np.where(img <= 0.0031308, img * 12.92, 1.055 * np.power(img, 1 / 2.4) - 0.055)


def as_8bit(img: np.ndarray) -> np.ndarray:
    """The image as an 8-bit file stores it (clipped, rounded), as float32 in [0, 1]."""
    return quantize(img).astype(np.float32) / 255
