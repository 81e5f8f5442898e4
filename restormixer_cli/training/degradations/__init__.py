"""Synthetic degradations for training and validation on clean images, one family per module.

Every degradation takes a clean float32 image (H, W, 3) in [0, 1] and a ``numpy.random.Generator``,
so that a seed reproduces the degraded image exactly. :func:`make_degradation` makes one from its
name (``spec``).
"""

from .common import Degradation
from .exposure import low_light, reexposed
from .haze import HazeStyle, haze
from .jpeg import jpeg_artifacts, jpeg_roundtrip
from .mixtures import compose, mixed, unchanged
from .noise import CameraNoiseStyle, blind_noise, camera_noise, gaussian_noise
from .rain import LIGHT_CLASSIC_RAIN, ClassicRainStyle, RainStyle, synthetic_rain
from .resolution import crop_to_scale, downscale, super_resolution
from .snow import SnowStyle, synthetic_snow
from .spec import DEGRADATIONS, MAX_SCALE, make_degradation

__all__ = [
    "DEGRADATIONS", "LIGHT_CLASSIC_RAIN", "MAX_SCALE", "CameraNoiseStyle", "ClassicRainStyle", "Degradation",
    "HazeStyle", "RainStyle", "SnowStyle", "blind_noise", "camera_noise", "compose", "crop_to_scale", "downscale",
    "gaussian_noise", "haze", "jpeg_artifacts", "jpeg_roundtrip", "low_light", "make_degradation", "mixed",
    "reexposed", "super_resolution", "synthetic_rain", "synthetic_snow", "unchanged",
]
