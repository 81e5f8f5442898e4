"""Resolution: the bicubic downscaling of super-resolution benchmarks, and what the ``sr`` model
sees (the same, upscaled back)."""

from __future__ import annotations

import numpy as np

from ...resize import imresize, upscale_planes
from .common import Degradation, as_8bit


def downscale(scale: int) -> Degradation:
    """The low-resolution image super-resolution benchmarks use: MATLAB-style bicubic downscaling by
    ``scale`` (antialiased), ceil(H / scale) x ceil(W / scale) pixels, stored in 8 bits. Its
    ``scale`` attribute tells pair writers to crop clean images to a multiple of it first."""

    def apply(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return as_8bit(imresize(img, 1 / scale))

    apply.scale = scale
    return apply


def crop_to_scale(image: np.ndarray, degradation: Degradation) -> np.ndarray:
    """``image`` cropped (bottom and right) to a multiple of the degradation's downscaling factor, as
    super-resolution benchmarks crop their ground truth; unchanged for same-size degradations."""
    scale = getattr(degradation, "scale", 1)
    h, w = image.shape[0] // scale * scale, image.shape[1] // scale * scale
    if not (h and w):
        raise ValueError(f"{image.shape[1]}x{image.shape[0]} pixels is smaller than the downscaling factor {scale}")
    return image[:h, :w]


def super_resolution(scales: tuple[int, ...] = (2, 3, 4)) -> Degradation:
    """What the ``sr`` model sees: an image downscaled by a random one of ``scales`` (as
    :func:`downscale` does) and upscaled back to its size as restoring does (:func:`upscale_planes`)."""

    def apply(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        scale = int(rng.choice(scales))
        return upscale_planes(downscale(scale)(img, rng), scale)[: img.shape[0], : img.shape[1]]

    return apply
