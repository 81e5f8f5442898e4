"""Bicubic resizing as MATLAB's ``imresize`` does it (Keys cubic, a = -0.5; kernel widened when
shrinking, so downscaling is antialiased; symmetric edges). Super-resolution benchmarks make their
low-resolution images this way, and the ``sr`` task upscales its inputs this way before the model."""

from __future__ import annotations

import math

import numpy as np
import torch

_KERNEL_WIDTH = 4.0


def _cubic(x: torch.Tensor) -> torch.Tensor:
    a = x.abs()
    near = (1.5 * a**3 - 2.5 * a**2 + 1) * (a <= 1)
    far = (-0.5 * a**3 + 2.5 * a**2 - 4 * a + 2) * ((a > 1) & (a <= 2))
    return near + far


def contributions(in_length: int, out_length: int, scale: float,
                  antialias: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(indices, weights), each (out_length, taps): output pixel i is ``sum(weights[i] * input[indices[i]])``."""
    shrink = scale < 1 and antialias
    width = _KERNEL_WIDTH / scale if shrink else _KERNEL_WIDTH
    out = torch.arange(1, out_length + 1, dtype=torch.float64)
    centre = out / scale + 0.5 * (1 - 1 / scale)  # 1-based input coordinate of each output pixel
    left = torch.floor(centre - width / 2)
    taps = math.ceil(width) + 2
    indices = left[:, None] + torch.arange(taps, dtype=torch.float64)[None]  # 1-based
    distance = centre[:, None] - indices
    weights = scale * _cubic(scale * distance) if shrink else _cubic(distance)
    weights = weights / weights.sum(1, keepdim=True)
    used = weights.abs().sum(0) > 0
    indices, weights = indices[:, used], weights[:, used]
    mirrored = torch.cat([torch.arange(in_length), torch.arange(in_length - 1, -1, -1)])
    return mirrored[(indices.long() - 1) % (2 * in_length)], weights


def _resize_last_axis(x: torch.Tensor, out_length: int, scale: float, antialias: bool) -> torch.Tensor:
    indices, weights = contributions(x.shape[-1], out_length, scale, antialias)
    weights = weights.to(x.device, x.dtype)
    indices = indices.to(x.device)
    out = x[..., indices[:, 0]] * weights[:, 0]
    for tap in range(1, indices.shape[1]):  # one tap at a time: memory stays one output's size
        out.addcmul_(x[..., indices[:, tap]], weights[:, tap])
    return out


def imresize(image: torch.Tensor | np.ndarray, scale: float, antialias: bool = True) -> torch.Tensor | np.ndarray:
    """Resize the last two axes of a float tensor (..., H, W), or of a numpy image (H, W) or (H, W, C),
    by ``scale``: the output has ceil(H * scale) x ceil(W * scale) pixels. Values are not clipped."""
    if isinstance(image, np.ndarray):
        planes = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
        planes = planes[None] if image.ndim == 2 else planes.permute(2, 0, 1)
        out = imresize(planes, scale, antialias).numpy()
        return out[0] if image.ndim == 2 else np.ascontiguousarray(out.transpose(1, 2, 0))
    if scale <= 0:
        raise ValueError(f"scale must be positive, not {scale}")
    height, width = image.shape[-2:]
    size = (math.ceil(height * scale - 1e-9), math.ceil(width * scale - 1e-9))
    return _resize(image, size, (scale, scale), antialias)


def resize_to(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The last two axes of a float tensor (..., H, W) resized to ``height`` x ``width``, as MATLAB's
    ``imresize(image, [height width])`` does (each axis by its own factor; antialiased when shrinking).
    Values are not clipped."""
    return _resize(image, (height, width), (height / image.shape[-2], width / image.shape[-1]), antialias=True)


def _resize(image: torch.Tensor, size: tuple[int, int], scales: tuple[float, float], antialias: bool) -> torch.Tensor:
    x = _resize_last_axis(image.float().transpose(-1, -2), size[0], scales[0], antialias).transpose(-1, -2)
    return _resize_last_axis(x, size[1], scales[1], antialias)


def upscale(image: torch.Tensor, scale: int) -> torch.Tensor:
    """The ``sr`` task's model input: a (..., H, W) image bicubic-upscaled ``scale`` times, clipped to [0, 1]."""
    return imresize(image, scale).clamp_(0, 1)


_UPSCALE_REACH = 2  # input pixels the upscaling kernel reaches on either side of an output pixel


def upscaled_region(image: torch.Tensor, scale: int, rows: slice, cols: slice) -> torch.Tensor:
    """``upscale(image, scale)[..., rows, cols]`` for output ``rows`` and ``cols`` (slices with start
    and stop), computed from the input pixels they depend on only: tiles of a large super-resolution
    output are made without the whole upscaled image in memory."""
    def source(span: slice, length: int) -> tuple[slice, slice]:
        first = max(0, span.start // scale - _UPSCALE_REACH)
        last = min(length, -(-span.stop // scale) + _UPSCALE_REACH)
        return slice(first, last), slice(span.start - first * scale, span.stop - first * scale)

    if scale == 1:
        return image[..., rows, cols]
    (in_rows, out_rows), (in_cols, out_cols) = source(rows, image.shape[-2]), source(cols, image.shape[-1])
    return upscale(image[..., in_rows, in_cols].float(), scale)[..., out_rows, out_cols]


def upscale_planes(planes: np.ndarray, scale: int) -> np.ndarray:
    """:func:`upscale` for an (H, W, C) float array (image pixels, alpha): (H * scale, W * scale, C) float32."""
    enlarged = upscale(torch.from_numpy(np.ascontiguousarray(planes, dtype=np.float32)).permute(2, 0, 1), scale)
    return enlarged.permute(1, 2, 0).numpy()
