"""Snow: depth layers of flakes (some smeared into streaks), defocused discs in front of the lens,
and a veil."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .common import Degradation, linear_to_srgb, log_uniform, srgb_to_linear
from .kernels import gaussian_blur, gaussian_kernel, motion_kernel, smear, splat
from .precipitation import at_depth, bright_radiance, fall_angle, layer_depths


@dataclass
class SnowStyle:
    """Distributions sampled for each image, from the farthest flake layer to the nearest.

    Flakes fall in ``layers`` depth layers: far layers hold many tiny sharp flakes, near ones fewer,
    larger, softer ones (each range is (far, near), drawn around the interpolation at the layer's
    depth, as :class:`RainStyle` does); ``density`` is scaled per image by a log-uniform ``amount``
    (a few flakes to a blizzard) and every size by ``scale``. On ``streak_chance`` of the images the
    flakes fall fast enough to smear into streaks along one angle. On ``bokeh_chance`` of them,
    flakes right in front of the lens show as large, faint, defocused discs (some smeared too).
    Layer opacity is log-uniform, so faint flakes are as common as bright ones; flakes are
    composited in linear light towards a radiance near the image's bright end (on ``screen_chance``
    of the images screen-blended in sRGB instead, the benchmarks' look), and a veil of that radiance
    covers ``veil_chance`` of the images (real snowy photos are often clear, and a model that always
    lifts a veil darkens them).
    """

    layers: tuple[int, int] = (2, 4)
    scale: tuple[float, float] = (0.5, 1.5)
    amount: tuple[float, float] = (0.15, 2.5)
    density: tuple[float, float] = (4000.0, 250.0)  # flakes per megapixel
    radius: tuple[float, float] = (0.5, 4.0)
    opacity: tuple[float, float] = (0.25, 1.0)
    streak_chance: float = 0.35
    streak: tuple[float, float] = (3.0, 30.0)
    angle_sd: float = 20.0
    max_angle: float = 60.0
    bokeh_chance: float = 0.5
    bokeh_density: tuple[float, float] = (10.0, 150.0)
    bokeh_radius: tuple[float, float] = (6.0, 30.0)
    bokeh_opacity: tuple[float, float] = (0.08, 0.5)
    screen_chance: float = 0.3
    veil_chance: float = 0.4
    veil: tuple[float, float] = (0.02, 0.25)


def synthetic_snow(style: SnowStyle | None = None) -> Degradation:
    """Snow: depth layers of flakes (tiny to large, some streaked), defocused discs and a veil."""
    style = style or SnowStyle()

    def apply(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = img.shape[:2]
        screen = rng.random() < style.screen_chance
        out = np.clip(img, 0, 1) if screen else srgb_to_linear(np.clip(img, 0, 1))
        radiance = 1.0 if screen else bright_radiance(out, rng, (1.0, 1.5), 0.5)
        if rng.random() < style.veil_chance:
            out = out + (radiance * rng.uniform(0.75, 1.0) - out) * rng.uniform(*style.veil)
        for coverage in _snow_layers((h, w), style, rng):
            out = out + (radiance * rng.uniform(0.85, 1.0) - out) * coverage[..., None]
        out = np.clip(out, 0, 1)
        return (out if screen else linear_to_srgb(out)).astype(np.float32)

    return apply


def _snow_layers(shape: tuple[int, int], style: SnowStyle, rng: np.random.Generator) -> list[np.ndarray]:
    """Coverage in [0, 1] of every flake layer, far to near, then the defocused discs if any."""
    megapixels = shape[0] * shape[1] / 1e6
    zoom, amount = rng.uniform(*style.scale), log_uniform(rng, *style.amount)
    angle = fall_angle(rng, style.angle_sd, style.max_angle)
    streaky = rng.random() < style.streak_chance
    layers = []
    for depth in layer_depths(rng, style.layers):
        radius = at_depth(rng, style.radius, depth, 0.3) * zoom
        motion = at_depth(rng, style.streak, depth) * zoom if streaky else rng.uniform(0, 3)
        count = at_depth(rng, style.density, depth, 1.0) * amount * megapixels / zoom**2
        flake = gaussian_kernel(radius) * (2 * np.pi * radius**2)  # peak about 1
        coverage = _flakes(shape, count, flake, motion, angle, rng)
        layers.append(np.clip(coverage * log_uniform(rng, *style.opacity), 0, 1))
    if rng.random() < style.bokeh_chance:
        radius = log_uniform(rng, *style.bokeh_radius) * zoom
        disc = _disc_kernel(radius, radius * rng.uniform(0.05, 0.3))
        motion = radius * rng.uniform(0.5, 2.0) if streaky else 0.0
        count = log_uniform(rng, *style.bokeh_density) * megapixels / zoom**2
        coverage = _flakes(shape, count, disc, motion, angle, rng)
        layers.append(np.clip(coverage * log_uniform(rng, *style.bokeh_opacity), 0, 1))
    return layers


def _flakes(shape: tuple[int, int], count: float, kernel: torch.Tensor, motion: float, angle: float,
            rng: np.random.Generator) -> np.ndarray:
    """Coverage of ``count`` (Poisson mean) copies of a flake, smeared by ``motion`` px along ``angle``."""
    if motion >= 2:
        kernel = smear(kernel, motion_kernel(motion, angle + rng.normal(0, 5)))
        kernel = kernel / kernel.max()
    n = rng.poisson(count)
    ys, xs = rng.integers(0, shape[0], n), rng.integers(0, shape[1], n)
    return splat(shape, ys, xs, rng.uniform(0.6, 1.0, n).astype(np.float32), kernel.numpy())


def _disc_kernel(radius: float, softness: float) -> torch.Tensor:
    """A defocused point: an anti-aliased disc blurred by ``softness`` px, peak 1."""
    c = int(np.ceil(radius + 3 * softness)) + 1
    yy, xx = np.mgrid[-c : c + 1, -c : c + 1].astype(np.float32)
    disc = np.clip(radius + 0.5 - np.hypot(yy, xx), 0, 1)
    disc = gaussian_blur(disc, softness)
    return torch.from_numpy(disc / disc.max())
