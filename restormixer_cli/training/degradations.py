"""Synthetic degradations for training and validation on clean images.

Every function takes a clean float32 image (H, W, 3) in [0, 1] and a ``numpy.random.Generator``, so
that a seed reproduces the degraded image exactly.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..io.formats import quantize
from ..resize import imresize, upscale_planes

Degradation = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _blur(layer: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a (H, W) float layer (torch, separable, reflect padding)."""
    if sigma <= 0.05:
        return layer
    radius = max(1, int(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    t = torch.from_numpy(np.ascontiguousarray(layer, dtype=np.float32))[None, None]
    pad = min(radius, t.shape[-1] - 1, t.shape[-2] - 1)
    mode = "reflect" if pad == radius else "replicate"
    t = F.pad(t, (radius, radius, radius, radius), mode=mode)
    t = F.conv2d(F.conv2d(t, g.view(1, 1, -1, 1)), g.view(1, 1, 1, -1))
    return t[0, 0].numpy()


def _motion_kernel(length: float, angle_deg: float, width: float = 1.0, taper: bool = False) -> torch.Tensor:
    """Normalised line kernel of the given length and direction (anti-aliased); with ``taper`` the
    line fades out towards both ends, as a falling drop's streak does."""
    size = int(np.ceil(length)) | 1
    c = size // 2
    yy, xx = np.mgrid[-c : c + 1, -c : c + 1].astype(np.float32)
    theta = np.deg2rad(angle_deg)
    along = xx * np.sin(theta) + yy * np.cos(theta)
    across = xx * np.cos(theta) - yy * np.sin(theta)
    k = np.clip(width - np.abs(across), 0, 1) * (np.abs(along) <= length / 2)
    if taper:
        k = k * np.cos(np.pi * np.clip(along / length, -0.5, 0.5)) ** 0.5
    k = k / max(k.sum(), 1e-6)
    return torch.from_numpy(k.astype(np.float32))


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    """Normalised 2-D Gaussian, 2 * ceil(3 sigma) + 1 pixels wide."""
    radius = max(1, int(np.ceil(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def _smear(kernel: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
    """Full 2-D convolution of two small odd-sized kernels (a flake smeared along a motion)."""
    pad = motion.shape[-1] - 1
    return F.conv2d(F.pad(kernel[None, None], (pad, pad, pad, pad)), motion[None, None])[0, 0]


def _splat(shape: tuple[int, int], ys: np.ndarray, xs: np.ndarray, values: np.ndarray,
           kernel: np.ndarray) -> np.ndarray:
    """Sum of ``kernel`` copies centred on sparse points: the convolution of a sparse image, at a
    cost proportional to the points rather than the pixels."""
    ky, kx = np.nonzero(kernel)
    c = kernel.shape[0] // 2
    yy = ys[:, None] + (ky - c)[None]
    xx = xs[:, None] + (kx - c)[None]
    inside = (yy >= 0) & (yy < shape[0]) & (xx >= 0) & (xx < shape[1])
    out = np.zeros(shape, np.float32)
    np.add.at(out, (yy[inside], xx[inside]), (values[:, None] * kernel[ky, kx][None])[inside])
    return out


def _screen(img: np.ndarray, layer: np.ndarray, color: float | np.ndarray = 1.0) -> np.ndarray:
    """Blend a [0, 1] light layer over the image: out = 1 - (1 - img) * (1 - layer * color)."""
    return 1.0 - (1.0 - img) * (1.0 - layer[..., None] * color)


def gaussian_noise(sigma: float) -> Degradation:
    """Additive white Gaussian noise with standard deviation ``sigma`` on the 0..255 scale, unclipped."""

    def apply(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return img + rng.normal(0.0, sigma / 255.0, img.shape).astype(np.float32)

    return apply


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _srgb_to_linear(img: np.ndarray) -> np.ndarray:
    return np.where(img <= 0.04045, img / 12.92, ((img + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(img: np.ndarray) -> np.ndarray:
    return np.where(img <= 0.0031308, img * 12.92, 1.055 * np.power(img, 1 / 2.4) - 0.055)


def _as_8bit(img: np.ndarray) -> np.ndarray:
    """The image as an 8-bit file stores it (clipped, rounded), as float32 in [0, 1]."""
    return quantize(img).astype(np.float32) / 255


def jpeg_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode as a 4:2:0 JPEG, as cameras and phones save."""
    buffer = io.BytesIO()
    Image.fromarray(quantize(img)).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer), dtype=np.float32) / 255


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
    chroma = np.stack([_blur(noise[..., c] - grey[..., 0], sigma) for c in range(3)], axis=2)
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
        linear = _srgb_to_linear(np.clip(img, 0, 1))
        gains = np.array([rng.uniform(*style.red_gain), 1.0, rng.uniform(*style.blue_gain)], np.float32)
        raw = linear / gains
        variance = _log_uniform(rng, *style.shot) * raw + _log_uniform(rng, *style.read) ** 2
        noise = _demosaic(rng.standard_normal(raw.shape).astype(np.float32) * np.sqrt(variance)) * gains
        mixing = rng.dirichlet(np.ones(3), size=3)
        ccm = np.eye(3) + rng.uniform(*style.saturation) * (np.eye(3) - mixing)
        noise = noise @ ccm.T.astype(np.float32)
        if rng.random() < style.chroma_chance:
            noise = _reduce_chroma(noise, rng.uniform(*style.chroma_blur), rng.uniform(*style.chroma_kept))
        noisy = _linear_to_srgb(np.clip(linear + noise, 0, 1))
        if rng.random() < style.jpeg_chance:
            return jpeg_roundtrip(noisy, int(rng.integers(*style.jpeg_quality)))
        return _as_8bit(noisy)

    return apply


def blind_noise(max_sigma: float = 50.0, camera_chance: float = 0.5, clip_chance: float = 0.3) -> Degradation:
    """Noise of unknown kind and strength: camera noise on ``camera_chance`` of the images, otherwise
    white Gaussian noise with sigma uniform in [0, max_sigma] (on ``clip_chance`` of those clipped and
    quantised to 8 bits, as a saved file would be)."""
    camera = camera_noise()

    def apply(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.random() < camera_chance:
            return camera(img, rng)
        noisy = gaussian_noise(rng.uniform(0, max_sigma))(img, rng)
        return _as_8bit(noisy) if rng.random() < clip_chance else noisy

    return apply


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


def _at_depth(rng: np.random.Generator, far_near: tuple[float, float], depth: float, spread: float = 0.5) -> float:
    """A value around the log-interpolation of (far, near) at ``depth`` in [0, 1], within x/(1 + spread)."""
    far, near = far_near
    centre = far * (near / far) ** depth
    return _log_uniform(rng, centre / (1 + spread), centre * (1 + spread))


def _rain_layer(shape: tuple[int, int], depth: float, angle: float, zoom: float, style: RainStyle,
                rng: np.random.Generator) -> np.ndarray:
    """Coverage in [0, 1] of one depth layer of streaks, each a line tapered at both ends."""
    h, w = shape
    length = _at_depth(rng, style.length, depth) * zoom
    width = _at_depth(rng, style.width, depth, 0.3) * zoom
    density = _at_depth(rng, style.density, depth, 1.0) / zoom**2
    blur = _at_depth(rng, style.blur, depth, 0.5) * zoom
    layer = np.zeros(shape, np.float32)
    groups = 3
    for _ in range(groups):
        n = rng.poisson(density * h * w / 1e6 / groups)
        ys, xs = rng.integers(0, h, n), rng.integers(0, w, n)
        kernel = _motion_kernel(length * rng.uniform(0.7, 1.3), angle + rng.normal(0, 2.5), width, taper=True).numpy()
        pad = int(3 * blur) + 1
        peak = _blur(np.pad(kernel, pad), blur).max()  # a lone streak's brightest pixel after the blur
        layer += _splat(shape, ys, xs, rng.uniform(0.5, 1.0, n).astype(np.float32), kernel / peak)
    return np.clip(_blur(layer, blur) * _at_depth(rng, style.opacity, depth), 0, 1)


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


def _classic_rain(img: np.ndarray, rng: np.random.Generator, style: ClassicRainStyle) -> np.ndarray:
    h, w = img.shape[:2]
    angle = float(np.clip(rng.normal(0, style.angle_sd), -style.max_angle, style.max_angle))
    rain = np.zeros((h, w), np.float32)
    for _ in range(rng.integers(style.layers[0], style.layers[1] + 1)):
        n = rng.poisson(rng.uniform(*style.density) * h * w / 1e6)
        ys, xs, values = rng.integers(0, h, n), rng.integers(0, w, n), rng.uniform(0.3, 1.0, n)
        kernel = _motion_kernel(rng.uniform(*style.length), angle + rng.normal(0, 3), rng.uniform(*style.width))
        streaks = _splat((h, w), ys, xs, values.astype(np.float32), (kernel / kernel.max()).numpy())
        rain += _blur(streaks, rng.uniform(*style.blur)) * _log_uniform(rng, *style.opacity)
    rain = np.clip(rain, 0, 1)
    if rng.random() < style.additive:
        return np.clip(img + rain[..., None], 0, 1).astype(np.float32)
    return _screen(img, rain).astype(np.float32)


def synthetic_rain(style: RainStyle | None = None, classic: ClassicRainStyle | None = None) -> Degradation:
    """Rain: depth layers of tapered, motion-blurred streaks and a veil, composited in linear light
    (or, on a share of the images, the benchmarks' classic streaks)."""
    style, classic = style or RainStyle(), classic or ClassicRainStyle()

    def apply(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.random() < style.classic_chance:
            return _classic_rain(img, rng, LIGHT_CLASSIC_RAIN if rng.random() < style.light_share else classic)
        h, w = img.shape[:2]
        linear = _srgb_to_linear(np.clip(img, 0, 1))
        luminance = linear @ np.array([0.2126, 0.7152, 0.0722], np.float32)
        radiance = float(np.clip(np.percentile(luminance, 95) * rng.uniform(0.9, 1.4), 0.35, 1.0))
        angle = float(np.clip(rng.normal(0, style.angle_sd), -style.max_angle, style.max_angle))
        zoom = rng.uniform(*style.scale)
        if rng.random() < style.veil_chance:
            veil = np.full((h, 1), rng.uniform(*style.veil), np.float32)
            if rng.random() < 0.5:
                veil = veil * np.linspace(1.3, 0.6, h, dtype=np.float32)[:, None]
            linear = linear + (radiance - linear) * veil[..., None]
        for depth in np.linspace(0.0, 1.0, rng.integers(style.layers[0], style.layers[1] + 1)):
            coverage = _rain_layer((h, w), depth, angle, zoom, style, rng)[..., None]
            linear = linear + (radiance * rng.uniform(0.8, 1.1) - linear) * coverage
        return _linear_to_srgb(np.clip(linear, 0, 1)).astype(np.float32)

    return apply


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


def _disc_kernel(radius: float, softness: float) -> torch.Tensor:
    """A defocused point: an anti-aliased disc blurred by ``softness`` px, peak 1."""
    c = int(np.ceil(radius + 3 * softness)) + 1
    yy, xx = np.mgrid[-c : c + 1, -c : c + 1].astype(np.float32)
    disc = np.clip(radius + 0.5 - np.hypot(yy, xx), 0, 1)
    disc = _blur(disc, softness)
    return torch.from_numpy(disc / disc.max())


def _flakes(shape: tuple[int, int], count: float, kernel: torch.Tensor, motion: float, angle: float,
            rng: np.random.Generator) -> np.ndarray:
    """Coverage of ``count`` (Poisson mean) copies of a flake, smeared by ``motion`` px along ``angle``."""
    if motion >= 2:
        kernel = _smear(kernel, _motion_kernel(motion, angle + rng.normal(0, 5)))
        kernel = kernel / kernel.max()
    n = rng.poisson(count)
    ys, xs = rng.integers(0, shape[0], n), rng.integers(0, shape[1], n)
    return _splat(shape, ys, xs, rng.uniform(0.6, 1.0, n).astype(np.float32), kernel.numpy())


def _snow_layers(shape: tuple[int, int], style: SnowStyle, rng: np.random.Generator) -> list[np.ndarray]:
    """Coverage in [0, 1] of every flake layer, far to near, then the defocused discs if any."""
    megapixels = shape[0] * shape[1] / 1e6
    zoom, amount = rng.uniform(*style.scale), _log_uniform(rng, *style.amount)
    angle = float(np.clip(rng.normal(0, style.angle_sd), -style.max_angle, style.max_angle))
    streaky = rng.random() < style.streak_chance
    layers = []
    for depth in np.linspace(0.0, 1.0, rng.integers(style.layers[0], style.layers[1] + 1)):
        radius = _at_depth(rng, style.radius, depth, 0.3) * zoom
        motion = _at_depth(rng, style.streak, depth) * zoom if streaky else rng.uniform(0, 3)
        count = _at_depth(rng, style.density, depth, 1.0) * amount * megapixels / zoom**2
        flake = _gaussian_kernel(radius) * (2 * np.pi * radius**2)  # peak about 1
        coverage = _flakes(shape, count, flake, motion, angle, rng)
        layers.append(np.clip(coverage * _log_uniform(rng, *style.opacity), 0, 1))
    if rng.random() < style.bokeh_chance:
        radius = _log_uniform(rng, *style.bokeh_radius) * zoom
        disc = _disc_kernel(radius, radius * rng.uniform(0.05, 0.3))
        motion = radius * rng.uniform(0.5, 2.0) if streaky else 0.0
        count = _log_uniform(rng, *style.bokeh_density) * megapixels / zoom**2
        coverage = _flakes(shape, count, disc, motion, angle, rng)
        layers.append(np.clip(coverage * _log_uniform(rng, *style.bokeh_opacity), 0, 1))
    return layers


def synthetic_snow(style: SnowStyle | None = None) -> Degradation:
    """Snow: depth layers of flakes (tiny to large, some streaked), defocused discs and a veil."""
    style = style or SnowStyle()

    def apply(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = img.shape[:2]
        screen = rng.random() < style.screen_chance
        out = np.clip(img, 0, 1) if screen else _srgb_to_linear(np.clip(img, 0, 1))
        luminance = out @ np.array([0.2126, 0.7152, 0.0722], np.float32)
        radiance = 1.0 if screen else float(np.clip(np.percentile(luminance, 95) * rng.uniform(1.0, 1.5), 0.5, 1.0))
        if rng.random() < style.veil_chance:
            out = out + (radiance * rng.uniform(0.75, 1.0) - out) * rng.uniform(*style.veil)
        for coverage in _snow_layers((h, w), style, rng):
            out = out + (radiance * rng.uniform(0.85, 1.0) - out) * coverage[..., None]
        out = np.clip(out, 0, 1)
        return (out if screen else _linear_to_srgb(out)).astype(np.float32)

    return apply


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


def _depth_proxy(img: np.ndarray, style: HazeStyle, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    height = np.linspace(1.0, 0.0, h, dtype=np.float32)[:, None].repeat(w, 1) ** rng.uniform(0.5, 2.0)
    brightness = _blur(img.mean(axis=2), max(h, w) / 16)
    field = _blur(rng.standard_normal((h, w)).astype(np.float32), max(h, w) / 8)
    field = (field - field.min()) / max(float(np.ptp(field)), 1e-6)
    cues = rng.dirichlet(np.ones(3))
    relief = cues[0] * height + cues[1] * brightness + cues[2] * field
    return _log_uniform(rng, *style.depth) + rng.uniform(*style.relief) * relief


def haze(style: HazeStyle | None = None) -> Degradation:
    """Haze or fog of random density over a plausible depth layout."""
    style = style or HazeStyle()

    def apply(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        linear = _srgb_to_linear(np.clip(img, 0, 1))
        transmission = np.exp(-rng.uniform(*style.beta) * _depth_proxy(img, style, rng))[..., None]
        airlight = rng.uniform(*style.airlight) * (1 + rng.uniform(-style.tint, style.tint, 3)).astype(np.float32)
        hazy = linear * transmission + np.clip(airlight, 0, 1) * (1 - transmission)
        return _linear_to_srgb(np.clip(hazy, 0, 1)).astype(np.float32)

    return apply


def low_light(exposure: tuple[float, float] = (3.0, 25.0)) -> Degradation:
    """An underexposed photo: linear light divided by a log-uniform factor in ``exposure``, then the
    camera's signal-dependent noise (:func:`camera_noise`), strongest relative to the dark signal."""
    camera = camera_noise()

    def apply(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        dark = _srgb_to_linear(np.clip(img, 0, 1)) / _log_uniform(rng, *exposure)
        return camera(_linear_to_srgb(dark).astype(np.float32), rng)

    return apply


def reexposed(img: np.ndarray, rng: np.random.Generator, factors: tuple[float, float]) -> np.ndarray:
    """The same scene at another exposure (a dim room, dusk), not a degradation: linear light times a
    log-uniform factor in ``factors``, clipped. Applied to a clean image before it is degraded, it
    shows a model dim photos that are meant to stay dim."""
    linear = _srgb_to_linear(np.clip(img, 0, 1)) * _log_uniform(rng, *factors)
    return _linear_to_srgb(np.clip(linear, 0, 1)).astype(np.float32)


def jpeg_artifacts(quality: tuple[int, int] = (10, 60)) -> Degradation:
    """Heavy JPEG compression (blocks, ringing, colour bleeding) at a quality drawn from ``quality``."""

    def apply(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return jpeg_roundtrip(img, int(rng.integers(quality[0], quality[1] + 1)))

    return apply


def unchanged() -> Degradation:
    """No degradation: the clean image itself (what a model should leave alone)."""
    return lambda img, rng: img


def compose(*steps: Degradation) -> Degradation:
    """The degradations applied one after the other, with the same generator."""

    def apply(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for step in steps:
            img = step(img, rng)
        return img

    return apply


def mixed(most: int = 3, clean: float = 0.1) -> Degradation:
    """What the all-in-one model sees: one to ``most`` of haze, rain or snow, low light, noise and JPEG
    artefacts (fewer more often; JPEG from quality 10 to 90), applied in the order light meets them
    (scene, then camera, then file). A fraction ``clean`` of the images stay as they are: a model that never
    saw a good photo alters one."""
    scene = {"haze": haze(), "rain": synthetic_rain(), "snow": synthetic_snow()}
    camera = {"low-light": low_light(), "noise": blind_noise(), "jpeg": jpeg_artifacts((10, 90))}
    order = ["haze", "rain", "snow", "low-light", "noise", "jpeg"]
    steps = {**scene, **camera}
    counts = np.arange(1, most + 1)

    def apply(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.random() < clean:
            return img
        count = int(rng.choice(counts, p=(1 / counts) / (1 / counts).sum()))
        chosen = set(rng.choice(order, size=count, replace=False))
        if {"rain", "snow"} <= chosen:  # one kind of precipitation at a time
            chosen.discard(str(rng.choice(["rain", "snow"])))
        return compose(*(steps[name] for name in order if name in chosen))(img, rng)

    return apply


def downscale(scale: int) -> Degradation:
    """The low-resolution image super-resolution benchmarks use: MATLAB-style bicubic downscaling by
    ``scale`` (antialiased), ceil(H / scale) x ceil(W / scale) pixels, stored in 8 bits. Its
    ``scale`` attribute tells pair writers to crop clean images to a multiple of it first."""

    def apply(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return _as_8bit(imresize(img, 1 / scale))

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


DEGRADATIONS: dict[str, Callable[[], Degradation]] = {
    "noise": lambda: gaussian_noise(25.0),
    "blind-noise": blind_noise,
    "camera-noise": camera_noise,
    "rain": synthetic_rain,
    "snow": synthetic_snow,
    "haze": haze,
    "low-light": low_light,
    "jpeg": jpeg_artifacts,
    "mixed": mixed,
    "none": unchanged,
    "sr": super_resolution,
}


def _is_fraction(text: str) -> bool:
    try:
        return 0 <= float(text) <= 1
    except ValueError:
        return False


MAX_SCALE = 8  # beyond it a benchmark-sized image shrinks to a few pixels


def _number(name: str, text: str, low: float, high: float) -> float:
    """The number in a degradation's name, checked against its range (ValueError naming both)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not low <= value <= high:  # NaN fails too
        raise ValueError(f"degradation {name!r}: {text!r} is not a number from {low:g} to {high:g}")
    return value


def make_degradation(name: str) -> Degradation:
    """``noise`` / ``noise:SIGMA`` / ``blind-noise`` / ``blind-noise:MAX_SIGMA`` / ``camera-noise`` / ``rain`` / ``snow`` / ``haze`` /
    ``low-light`` / ``jpeg`` / ``mixed`` / ``mixed:CLEAN`` (the fraction left unchanged, 0.1 by default) /
    ``none`` / ``sr`` / ``sr:SCALE`` / ``downscale:SCALE``, or several joined by ``+`` (applied left to
    right, e.g. ``rain+haze``)."""
    if "+" in name:
        return compose(*(make_degradation(part) for part in name.split("+")))
    kind, _, arg = name.partition(":")
    if kind == "noise" and arg:
        return gaussian_noise(_number(name, arg, 0, 255))
    if kind == "blind-noise" and arg:
        return blind_noise(max_sigma=_number(name, arg, 1, 255))
    if kind in ("sr", "downscale") and arg.isdigit() and int(arg) >= 2:
        scale = int(_number(name, arg, 2, MAX_SCALE))
        return super_resolution((scale,)) if kind == "sr" else downscale(scale)
    if kind == "mixed" and _is_fraction(arg):
        return mixed(clean=float(arg))
    if kind not in DEGRADATIONS or arg:
        choices = ["noise[:SIGMA]", *list(DEGRADATIONS)[1:-1], "sr[:SCALE]", "downscale:SCALE"]
        choices[choices.index("mixed")] = "mixed[:CLEAN]"
        choices[choices.index("blind-noise")] = "blind-noise[:MAX_SIGMA]"
        raise ValueError(f"unknown degradation {name!r}: use {', '.join(choices)}, or several joined by +")
    return DEGRADATIONS[kind]()
