"""Rain: depth layers of tapered streaks and a veil composited in linear light, or the synthetic
benchmarks' classic streaks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .common import Degradation, linear_to_srgb, log_uniform, srgb_to_linear
from .kernels import gaussian_blur, motion_kernel, splat
from .precipitation import at_depth, bright_radiance, fall_angle, layer_depths


@dataclass
class RainStyle:
    """Distributions sampled for each image, from the farthest rain layer to the nearest.

    Rain falls in ``layers`` depth layers along one direction per image (normal around vertical,
    ``angle_sd`` degrees, clipped to ``max_angle``), jittered per streak group. Far layers hold
    many short, thin, sharp, faint streaks; near layers few long, wide, defocused ones: each range
    below is (far, near), and a layer's value is drawn around the interpolation at its depth.
    ``scale`` zooms every size (the same rain photographed at another resolution). Streaks are
    drops that reflect the bright surroundings: they are composited in linear light towards a
    radiance near the image's bright end, so they show over dark backgrounds and fade over bright
    ones. On ``veil_chance`` of the images, rain accumulation (the mist of distant rain) adds a veil
    of that radiance, stronger towards the top on half of them. On ``classic_chance`` of the images
    the rain is instead :class:`ClassicRainStyle`'s, the look of the synthetic benchmarks, on
    ``light_share`` of those in its light-rain preset (:data:`LIGHT_CLASSIC_RAIN`).
    """

    layers: tuple[int, int] = (2, 4)
    classic_chance: float = 0.4
    light_share: float = 0.5
    angle_sd: float = 12.0
    max_angle: float = 40.0
    scale: tuple[float, float] = (0.5, 1.5)
    density: tuple[float, float] = (9000.0, 150.0)  # streaks per megapixel
    length: tuple[float, float] = (18.0, 100.0)
    width: tuple[float, float] = (0.6, 2.5)
    blur: tuple[float, float] = (0.2, 2.5)
    opacity: tuple[float, float] = (0.3, 0.15)
    veil_chance: float = 0.5
    veil: tuple[float, float] = (0.03, 0.3)


@dataclass
class ClassicRainStyle:
    """Rain as the synthetic benchmarks (Rain12, Rain100L/H) draw it: 1-3 layers of uniform motion-
    blurred streaks (seeds per megapixel, length and width in px, blur) added to the sRGB image
    (``additive`` of the time, else screen-blended) with a log-uniform opacity."""

    density: tuple[float, float] = (500.0, 5000.0)
    angle_sd: float = 15.0
    max_angle: float = 45.0
    length: tuple[float, float] = (10.0, 50.0)
    width: tuple[float, float] = (0.5, 2.0)
    blur: tuple[float, float] = (0.0, 0.8)
    opacity: tuple[float, float] = (0.05, 0.95)
    layers: tuple[int, int] = (1, 3)
    additive: float = 0.7


#: The light synthetic rain of Rain100L-type benchmarks: on the RainTrainL pairs' clean images it
#: gives the rain layer their statistics (mean 0.018 of the range, 11% of the pixels above 0.05,
#: 99th percentile 0.19; the default style's are 0.049, 22% and 0.32).
LIGHT_CLASSIC_RAIN = ClassicRainStyle(opacity=(0.1, 0.5), layers=(1, 2), density=(1000.0, 4000.0), length=(10.0, 40.0))


def synthetic_rain(style: RainStyle | None = None, classic: ClassicRainStyle | None = None) -> Degradation:
    """Rain: depth layers of tapered, motion-blurred streaks and a veil, composited in linear light
    (or, on a share of the images, the benchmarks' classic streaks)."""
    style, classic = style or RainStyle(), classic or ClassicRainStyle()

    def apply(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.random() < style.classic_chance:
            return _classic_rain(img, rng, LIGHT_CLASSIC_RAIN if rng.random() < style.light_share else classic)
        return _layered_rain(img, rng, style)

    return apply


def _layered_rain(img: np.ndarray, rng: np.random.Generator, style: RainStyle) -> np.ndarray:
    """The image seen through :class:`RainStyle`'s veil and depth layers of streaks."""
    h, w = img.shape[:2]
    linear = srgb_to_linear(np.clip(img, 0, 1))
    radiance = bright_radiance(linear, rng, (0.9, 1.4), 0.35)
    angle = fall_angle(rng, style.angle_sd, style.max_angle)
    zoom = rng.uniform(*style.scale)
    if rng.random() < style.veil_chance:
        veil = np.full((h, 1), rng.uniform(*style.veil), np.float32)
        if rng.random() < 0.5:
            veil = veil * np.linspace(1.3, 0.6, h, dtype=np.float32)[:, None]
        linear = linear + (radiance - linear) * veil[..., None]
    for depth in layer_depths(rng, style.layers):
        coverage = _rain_layer((h, w), depth, angle, zoom, style, rng)[..., None]
        linear = linear + (radiance * rng.uniform(0.8, 1.1) - linear) * coverage
    return linear_to_srgb(np.clip(linear, 0, 1)).astype(np.float32)


def _rain_layer(shape: tuple[int, int], depth: float, angle: float, zoom: float, style: RainStyle,
                rng: np.random.Generator) -> np.ndarray:
    """Coverage in [0, 1] of one depth layer of streaks, each a line tapered at both ends."""
    h, w = shape
    length = at_depth(rng, style.length, depth) * zoom
    width = at_depth(rng, style.width, depth, 0.3) * zoom
    density = at_depth(rng, style.density, depth, 1.0) / zoom**2
    blur = at_depth(rng, style.blur, depth, 0.5) * zoom
    layer = np.zeros(shape, np.float32)
    groups = 3
    for _ in range(groups):
        n = rng.poisson(density * h * w / 1e6 / groups)
        ys, xs = rng.integers(0, h, n), rng.integers(0, w, n)
        kernel = motion_kernel(length * rng.uniform(0.7, 1.3), angle + rng.normal(0, 2.5), width, taper=True).numpy()
        pad = int(3 * blur) + 1
        peak = gaussian_blur(np.pad(kernel, pad), blur).max()  # a lone streak's brightest pixel after the blur
        layer += splat(shape, ys, xs, rng.uniform(0.5, 1.0, n).astype(np.float32), kernel / peak)
    return np.clip(gaussian_blur(layer, blur) * at_depth(rng, style.opacity, depth), 0, 1)


def _classic_rain(img: np.ndarray, rng: np.random.Generator, style: ClassicRainStyle) -> np.ndarray:
    """The image with :class:`ClassicRainStyle`'s streaks added or screen-blended in sRGB."""
    h, w = img.shape[:2]
    angle = fall_angle(rng, style.angle_sd, style.max_angle)
    rain = np.zeros((h, w), np.float32)
    for _ in range(rng.integers(style.layers[0], style.layers[1] + 1)):
        n = rng.poisson(rng.uniform(*style.density) * h * w / 1e6)
        ys, xs, values = rng.integers(0, h, n), rng.integers(0, w, n), rng.uniform(0.3, 1.0, n)
        kernel = motion_kernel(rng.uniform(*style.length), angle + rng.normal(0, 3), rng.uniform(*style.width))
        streaks = splat((h, w), ys, xs, values.astype(np.float32), (kernel / kernel.max()).numpy())
        rain += gaussian_blur(streaks, rng.uniform(*style.blur)) * log_uniform(rng, *style.opacity)
    rain = np.clip(rain, 0, 1)
    if rng.random() < style.additive:
        return np.clip(img + rain[..., None], 0, 1).astype(np.float32)
    return _screen(img, rain).astype(np.float32)


def _screen(img: np.ndarray, layer: np.ndarray) -> np.ndarray:
    """Blend a [0, 1] white light layer over the image: out = 1 - (1 - img) * (1 - layer)."""
    return 1.0 - (1.0 - img) * (1.0 - layer[..., None])
