"""What is wrong with a photo, measured with classic estimators; the default's route is built on them.

- **noise**: the standard deviation of white noise, from the smallest principal components of the
  photo's 7x7 patches (Chen, Zhu and Heng, ICCV 2015). Texture and edges live in a few large
  components; white noise spreads evenly over all of them, so the components that are left when the
  largest are removed until their mean equals their median measure the noise alone.
- **low light**: the photo's mean luminance, and its highlights: the level that its brightest pixels
  (0.5%, in their brightest colour) reach. An underexposed photo has none near white, while almost
  every photo exposed as meant has some.
- **haze**: the dark channel (He, Sun and Tang, CVPR 2009): in a clear photo most 15x15 windows hold
  a pixel that is dark in some colour; haze adds airlight, which lifts them all.
- **JPEG**: how much larger the steps between 8x8 blocks are than the steps inside them.
- **rain and snow**: what the derain and desnow checkpoints take out of a photo (:func:`removal`):
  how much, how much of it runs in one direction (the coherence of the structure tensor of the
  change) and which. Streaks of rain fall one way, near the vertical; the fine texture these
  checkpoints also touch runs every way, and brick courses or blinds run across.

A learned classifier trained on the project's own syntheses was tried first: it saw the synthetic
degradations but missed real camera noise (see BENCHMARKS.md); these estimators do not learn the
synthesis, so they carry over to real photos.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

PATCH = 7
#: Patches used for the noise estimate: enough for a stable covariance, few enough to stay fast.
MAX_PATCHES = 60_000
LUMA = (0.299, 0.587, 0.114)
#: Pixels at each side of a probe crop left out of :func:`removal` (the networks pad there).
PROBE_MARGIN = 4
#: The share of a photo's pixels that :func:`highlights` takes as its brightest.
HIGHLIGHT_SHARE = 0.005
SOBEL = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8


@dataclass(frozen=True)
class Diagnosis:
    """Measurements of one photo: noise sigma (0-255), mean luminance, highlights and dark channel
    (0-1), and the JPEG blockiness ratio (1: no block edges)."""

    noise_sigma: float
    brightness: float
    highlights: float
    dark_channel: float
    blockiness: float


def noise_sigma(image: torch.Tensor) -> float:
    """The standard deviation (0-255 scale) of white noise in a (3, H, W) image in [0, 1]."""
    h, w = image.shape[-2:]
    if min(h, w) < PATCH:
        return 0.0
    stride = max(1, int((3 * (h - PATCH + 1) * (w - PATCH + 1) / MAX_PATCHES) ** 0.5))
    patches = F.unfold(image[:, None], PATCH, stride=stride).double()  # (3, 49, N); the image stays float32
    patches = patches.permute(1, 0, 2).reshape(PATCH * PATCH, -1)
    patches = patches - patches.mean(1, keepdim=True)
    eigenvalues = torch.linalg.eigvalsh(patches @ patches.T / patches.shape[1]).flip(0).clamp_min(0)
    for first in range(len(eigenvalues)):
        tail = eigenvalues[first:]
        tau = tail.mean()
        if tau <= tail.median():
            return float(tau.sqrt()) * 255
    return float(eigenvalues[-1].sqrt()) * 255


def luminance(image: torch.Tensor) -> torch.Tensor:
    """The luma of a (..., 3, H, W) image: (..., H, W)."""
    return sum(weight * channel for weight, channel in zip(LUMA, image.unbind(-3)))


def highlights(image: torch.Tensor, share: float = HIGHLIGHT_SHARE) -> float:
    """The level (0-1, in steps of 1/256) that the brightest ``share`` of a (3, H, W) image's pixels
    reach in their brightest colour."""
    counts = torch.histc(image.amax(0).clamp(0, 1), bins=256, min=0, max=1)
    below = counts.cumsum(0) < (1 - share) * counts.sum()
    return float(below.sum() + 1) / 256


def dark_channel(image: torch.Tensor, window: int = 15) -> float:
    """The mean of the photo's dark channel: the darkest colour value within each window, measured
    on a copy averaged over 4x4 pixels so that noise does not pull the minimum down."""
    if min(image.shape[-2:]) >= 4 * window:
        image = F.avg_pool2d(image[None], 4)[0]
        window = max(3, window // 4 | 1)
    darkest = image.min(0).values[None, None]
    return float(-F.max_pool2d(-darkest, window, stride=1, padding=window // 2).mean())


def blockiness(luma: torch.Tensor) -> float:
    """Mean absolute step of an (H, W) luma across the 8x8 block boundaries over the mean step elsewhere."""
    ratios = []
    for steps in ((luma[:, 1:] - luma[:, :-1]).abs(), (luma[1:] - luma[:-1]).abs().T):
        if steps.shape[1] < 16:
            continue
        at_edge = torch.zeros(steps.shape[1], dtype=torch.bool)
        at_edge[7::8] = True
        ratios.append(float(steps[:, at_edge].mean() / steps[:, ~at_edge].mean().clamp_min(1e-6)))
    return sum(ratios) / len(ratios) if ratios else 1.0


@dataclass(frozen=True)
class Removal:
    """What a checkpoint took out of a photo's crops: the median over the crops of each one's RMS
    change of luma (0-255 scale), and how much of the change runs in one direction (0: every way,
    1: all one way)."""

    amount: float
    alignment: float
    tilt: float  # degrees between the change's dominant lines and the vertical (0-90)


def removal(before: torch.Tensor, after: torch.Tensor) -> Removal:
    """What changed from ``before`` to ``after``, (N, 3, H, W) crops in [0, 1]. Each crop's median
    change is taken off first (a checkpoint's slight shift of a whole crop is not rain), and the
    amount is the median crop's: weather covers the whole frame, while a bright object that a
    checkpoint takes for snow fills a few crops."""
    m = PROBE_MARGIN
    change = luminance((before - after).float())[:, None, m:-m, m:-m] * 255
    change = change - change.flatten(1).median(1).values[:, None, None, None]
    gx, gy = F.conv2d(change, SOBEL[None, None]), F.conv2d(change, SOBEL.T[None, None])
    jxx, jyy, jxy = (gx * gx).sum(), (gy * gy).sum(), (gx * gy).sum()
    coherence = ((jxx - jyy) ** 2 + 4 * jxy**2).sqrt() / (jxx + jyy).clamp_min(1e-9)
    # the gradients' dominant angle from the horizontal is the lines' angle from the vertical
    tilt = math.degrees(abs(0.5 * math.atan2(float(2 * jxy), float(jxx - jyy))))
    return Removal(float(change.pow(2).mean((1, 2, 3)).sqrt().quantile(0.5)), float(coherence), tilt)


@torch.inference_mode()
def diagnose(image: torch.Tensor) -> Diagnosis:
    """The measurements of a (3, H, W) float image in [0, 1]."""
    image = image.float().cpu()
    luma = luminance(image)
    return Diagnosis(noise_sigma(image), float(luma.mean()), highlights(image), dark_channel(image), blockiness(luma))
