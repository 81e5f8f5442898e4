"""PSNR/SSIM agree with a straightforward NumPy/SciPy transcription of the published formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.signal import correlate2d

from restormixer_cli.metrics import psnr, ssim

skimage_data = pytest.importorskip("skimage.data")


def np_y(img: np.ndarray) -> np.ndarray:
    """MATLAB rgb2ycbcr luma on a 0..255 float image: 16 + (65.481 R + 128.553 G + 24.966 B) / 255."""
    return 16.0 + (65.481 * img[..., 0] + 128.553 * img[..., 1] + 24.966 * img[..., 2]) / 255.0


def np_prepare(img: np.ndarray, crop: int, y: bool) -> np.ndarray:
    img = img.astype(np.float64)
    if crop:
        img = img[crop:-crop, crop:-crop]
    if y:
        img = np_y(img)[..., None]
    return img


def np_psnr(a, b, crop=0, y=False):
    a, b = np_prepare(a, crop, y), np_prepare(b, crop, y)
    mse = np.mean((a - b) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def np_ssim(a, b, crop=0, y=False):
    a, b = np_prepare(a, crop, y), np_prepare(b, crop, y)
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5**2))
    window = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for ch in range(a.shape[2]):
        x, z = a[..., ch], b[..., ch]
        f = lambda img: correlate2d(img, window, mode="valid")  # noqa: E731
        mx, mz = f(x), f(z)
        sx, sz, sxz = f(x * x) - mx**2, f(z * z) - mz**2, f(x * z) - mx * mz
        values.append(np.mean(((2 * mx * mz + c1) * (2 * sxz + c2)) / ((mx**2 + mz**2 + c1) * (sx + sz + c2))))
    return float(np.mean(values))


def chw(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).to(torch.float64)


@pytest.fixture(scope="module")
def photo_pairs():
    """Real photos (public domain / CC0 samples shipped with scikit-image) and degraded versions."""
    rng = np.random.default_rng(0)
    pairs = []
    for name in ("astronaut", "coffee", "chelsea"):
        clean = getattr(skimage_data, name)()[:160, :200].astype(np.float64)
        noisy = np.clip(np.round(clean + rng.normal(0, 12, clean.shape)), 0, 255)
        pairs.append((noisy, clean))
    return pairs


@pytest.mark.parametrize("crop,y", [(0, False), (4, False), (0, True), (3, True)])
def test_agrees_with_independent_implementation(photo_pairs, crop, y):
    for noisy, clean in photo_pairs:
        assert abs(psnr(chw(noisy), chw(clean), crop, y) - np_psnr(noisy, clean, crop, y)) <= 1e-6
        assert abs(ssim(chw(noisy), chw(clean), crop, y) - np_ssim(noisy, clean, crop, y)) <= 1e-7


def test_identical_images_have_infinite_psnr_and_unit_ssim(photo_pairs):
    _, clean = photo_pairs[0]
    assert math.isinf(psnr(chw(clean), chw(clean)))
    assert ssim(chw(clean), chw(clean)) == pytest.approx(1.0, abs=1e-12)


def test_known_value():
    a = torch.zeros(3, 16, 16, dtype=torch.float64)
    b = torch.full_like(a, 255.0 / 10)  # MSE = 25.5^2 -> PSNR = 20 dB
    assert psnr(a, b) == pytest.approx(20.0, abs=1e-12)


def test_size_mismatch_and_tiny_images_are_errors():
    with pytest.raises(ValueError, match="sizes differ"):
        psnr(torch.zeros(3, 8, 8), torch.zeros(3, 8, 9))
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(torch.zeros(3, 10, 30), torch.zeros(3, 10, 30))


def test_grayscale_passes_through_y_conversion():
    g = torch.rand(1, 20, 20, dtype=torch.float64) * 255
    assert psnr(g, g + 1, y_channel=True) == pytest.approx(psnr(g, g + 1))
