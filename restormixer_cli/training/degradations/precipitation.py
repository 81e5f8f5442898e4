"""What rain and snow share: depth layers from far to near, one fall direction per image, and the
radiance of drops and flakes that reflect the scene's bright surroundings."""

from __future__ import annotations

import numpy as np

from .common import log_uniform

_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)  # Rec. 709 weights of linear R, G, B


def layer_depths(rng: np.random.Generator, layers: tuple[int, int]) -> np.ndarray:
    """Depths in [0, 1], far to near, of a number of layers drawn from ``layers`` (inclusive)."""
    return np.linspace(0.0, 1.0, rng.integers(layers[0], layers[1] + 1))


def at_depth(rng: np.random.Generator, far_near: tuple[float, float], depth: float, spread: float = 0.5) -> float:
    """A value around the log-interpolation of (far, near) at ``depth`` in [0, 1], within x/(1 + spread)."""
    far, near = far_near
    centre = far * (near / far) ** depth
    return log_uniform(rng, centre / (1 + spread), centre * (1 + spread))


def fall_angle(rng: np.random.Generator, sd: float, most: float) -> float:
    """Degrees from vertical: normal with standard deviation ``sd``, clipped to +-``most``."""
    return float(np.clip(rng.normal(0, sd), -most, most))


def bright_radiance(linear: np.ndarray, rng: np.random.Generator, boost: tuple[float, float], floor: float) -> float:
    """The scene's bright end (95th percentile of its linear luminance) times a factor drawn from
    ``boost``, clipped to [``floor``, 1]."""
    luminance = linear @ _LUMA
    return float(np.clip(np.percentile(luminance, 95) * rng.uniform(*boost), floor, 1.0))
