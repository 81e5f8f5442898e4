"""JPEG compression: the round trip cameras make and the heavy artefacts of low qualities."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from ...io.formats import quantize
from .common import Degradation


def jpeg_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode as a 4:2:0 JPEG, as cameras and phones save."""
    buffer = io.BytesIO()
    Image.fromarray(quantize(img)).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer), dtype=np.float32) / 255


def jpeg_artifacts(quality: tuple[int, int] = (10, 60)) -> Degradation:
    """Heavy JPEG compression (blocks, ringing, colour bleeding) at a quality drawn from ``quality``."""

    def apply(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return jpeg_roundtrip(img, int(rng.integers(quality[0], quality[1] + 1)))

    return apply
