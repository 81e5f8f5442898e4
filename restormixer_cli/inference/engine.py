"""Restoring whole images with a model: tiles on the device, the image in host memory."""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn as nn

from ..io.images import ImageData
from ..model import SIZE_MULTIPLE
from ..resize import resize_to, upscaled_region
from . import DEFAULT_OVERLAP
from .checks import check_tiling
from .kinds import restore_any
from .tiling import Tile, blend_weights, plan_tiles

MIN_TILE = 64
#: Peak activation memory per tile pixel of the default model in fp32 on CPU (about 3 KiB measured,
#: see BENCHMARKS.md; rounded up), used to size tiles automatically.
BYTES_PER_PIXEL = 4 * 1024

TileCallback = Callable[[int, int], None]


#: The eight flips/rotations of the square's symmetry group: (quarter turns, mirrored).
_ORIENTATIONS = [(k, flip) for k in range(4) for flip in (False, True)]


def _orient(x: torch.Tensor, quarter_turns: int, flip: bool) -> torch.Tensor:
    x = torch.rot90(x, quarter_turns, (-2, -1))
    return x.flip(-1) if flip else x


def _unorient(x: torch.Tensor, quarter_turns: int, flip: bool) -> torch.Tensor:
    x = x.flip(-1) if flip else x
    return torch.rot90(x, -quarter_turns, (-2, -1))


class NonFiniteOutput(RuntimeError):
    """The model produced NaN/Inf even in fp32: the image is not written."""


@dataclass
class InferenceSettings:
    """How to run a model: device, compute precision, tile size (0 = whole image, None = auto).

    ``self_ensemble`` averages the outputs for the 8 flips/rotations of each tile (8x the compute).
    ``channels_last`` selects the memory layout of weights and tiles (None: channels-last on CPUs only).
    """

    device: torch.device = torch.device("cpu")
    precision: torch.dtype = torch.float32
    tile: int | None = None
    overlap: int = DEFAULT_OVERLAP
    batch_size: int = 1
    self_ensemble: bool = False
    channels_last: bool | None = None

    def __post_init__(self) -> None:
        check_tiling(self.tile, self.overlap, self.batch_size)

    @property
    def memory_format(self) -> torch.memory_format:
        """Channels-last when asked for, or by default on CPUs (where it was measured, BENCHMARKS.md)."""
        channels_last = self.device.type == "cpu" if self.channels_last is None else self.channels_last
        return torch.channels_last if channels_last else torch.contiguous_format


def free_memory_bytes(device: torch.device) -> int:
    """Memory available for activations on ``device`` (CUDA: free device memory; else free RAM)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4 * 2**30


def auto_tile_size(device: torch.device, precision: torch.dtype, batch_size: int = 1,
                   bytes_per_pixel: int = BYTES_PER_PIXEL) -> int:
    """Largest tile (multiple of 64, 64..1024 on GPUs, ..512 on CPUs) whose activations fit in half the free memory."""
    scale = 0.5 if precision in (torch.float16, torch.bfloat16) else 1.0
    budget = free_memory_bytes(device) * 0.5 / batch_size
    side = int(math.sqrt(budget / (bytes_per_pixel * scale)))
    upper = 1024 if device.type in ("cuda", "mps") else 512
    return max(MIN_TILE, min(upper, side // 64 * 64))


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm that directly follows a (transposed) convolution into it.

    Returns the same model, modified in place; outputs stay equal up to float rounding.
    """
    convs = (nn.Conv2d, nn.ConvTranspose2d)
    for parent in model.modules():
        children = list(parent.named_children())
        for (_, conv), (bn_name, bn) in zip(children, children[1:]):
            if isinstance(conv, convs) and isinstance(bn, nn.BatchNorm2d) and conv.out_channels == bn.num_features:
                _fold_into(conv, bn)
                setattr(parent, bn_name, nn.Identity())
    return model


@torch.no_grad()
def _fold_into(conv: nn.Conv2d | nn.ConvTranspose2d, bn: nn.BatchNorm2d) -> None:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    if isinstance(conv, nn.ConvTranspose2d):
        groups = conv.groups
        w = conv.weight.view(groups, -1, *conv.weight.shape[1:])
        w.mul_(scale.view(groups, 1, -1, 1, 1))
    else:
        conv.weight.mul_(scale.view(-1, 1, 1, 1))
    conv.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias)


def prepare_model(model: nn.Module, settings: InferenceSettings, compile: bool = False) -> nn.Module:
    """Eval mode, BatchNorm folded, on the device in the settings' memory format; optionally torch.compile'd."""
    model = fold_batchnorm(model.eval())
    model = model.to(settings.device, memory_format=settings.memory_format)
    return torch.compile(model) if compile else model


class Restorer:
    """Runs a prepared model over images of any size, tile by tile, with feathered blending.

    With ``scale`` > 1 (super-resolution) outputs are ``scale`` times larger: a model with a tail for
    that factor (``model.upscales``) enlarges tiles of the input itself; any other model restores the
    bicubic enlargement (:func:`~restormixer_cli.resize.upscale`). Alpha is upscaled alone. Tiles are
    measured in the model's input pixels. With ``outscale`` (any factor, as Real-ESRGAN's
    ``--outscale``) the model's output is then resized to ``outscale`` times the input's size (MATLAB
    bicubic, antialiased when shrinking).
    """

    def __init__(self, model: nn.Module, settings: InferenceSettings, on_notice: Callable[[str], None] | None = None,
                 source: str = "", weights_sha256: str = "", scale: int = 1, outscale: float | None = None):
        if scale < 1:
            raise ValueError(f"scale must be 1 or more, not {scale}")
        if outscale is not None and not outscale > 0:
            raise ValueError(f"outscale must be positive, not {outscale}")
        self.model = model
        self.scale = scale
        self.enlarges = scale > 1 and scale in getattr(getattr(model, "_orig_mod", model), "upscales", ())
        self.outscale = outscale
        self.source = source
        self.weights_sha256 = weights_sha256
        self.settings = settings
        self.notice = on_notice or (lambda message: warnings.warn(message, stacklevel=2))
        self.tile = settings.tile  # None: automatic, from free memory
        self.balanced = settings.tile is None  # automatic tiles are evened out over the image

    def at_scale(self, scale: int, outscale: float | None = None) -> "Restorer":
        """A restorer with the same model and settings that upscales ``scale`` times, then resizes to
        ``outscale`` if given (a super-resolution model serves several factors)."""
        if (scale, outscale) == (self.scale, self.outscale):
            return self
        return Restorer(self.model, self.settings, self.notice, self.source, self.weights_sha256, scale, outscale)

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) of the output for an input of ``width`` x ``height``: ``scale`` times larger,
        or ``outscale`` times, rounded to whole pixels."""
        if self.outscale is None:
            return width * self.scale, height * self.scale
        return max(1, round(width * self.outscale)), max(1, round(height * self.outscale))

    @property
    def largest_factor(self) -> float:
        """How many times larger than the input the largest image a restore holds is (on each side)."""
        return max(self.scale, self.outscale or 1)

    def routed(self, image: torch.Tensor) -> tuple[Restorer, None]:
        """The restorer for ``image`` (a clip's first frame) and the route taken: this one, and no
        route (the default's router picks one per image)."""
        return self, None

    def _autocast(self, dtype: torch.dtype):
        if dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.settings.device.type, dtype=dtype)

    def _to_device(self, batch: torch.Tensor) -> torch.Tensor:
        """Tiles onto the device; to a GPU from page-locked memory, so that the copy runs asynchronously."""
        device = self.settings.device
        if device.type == "cuda":
            batch = batch.pin_memory()
        return batch.to(device, non_blocking=True)

    def _forward(self, batch: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        memory_format = self.settings.memory_format
        x = self._to_device(batch)

        def run(t: torch.Tensor) -> torch.Tensor:
            t = t.contiguous(memory_format=memory_format)
            return (self.model(t, scale=self.scale) if self.enlarges else self.model(t)).float()

        with self._autocast(dtype):
            if not self.settings.self_ensemble:
                return run(x).cpu()
            outputs = (_unorient(run(_orient(x, k, flip)), k, flip) for k, flip in _ORIENTATIONS)
            return (sum(outputs) / len(_ORIENTATIONS)).cpu()

    def _run_batch(self, batch: torch.Tensor) -> torch.Tensor:
        """Model outputs for a batch of tiles; reduced-precision NaN/Inf tiles are redone in fp32."""
        dtype = self.settings.precision
        out = self._forward(batch, dtype)
        bad = ~torch.isfinite(out).flatten(1).all(1)
        if dtype != torch.float32 and bad.any():
            self.notice(f"{int(bad.sum())} tile(s) overflowed in {str(dtype).removeprefix('torch.')}; redone in fp32")
            out[bad] = self._forward(batch[bad], torch.float32)
            bad = ~torch.isfinite(out).flatten(1).all(1)
        if bad.any():
            raise NonFiniteOutput("the model produced NaN/Inf values; the output would be wrong")
        return out

    def __call__(self, image: object) -> object:
        """Restore a ``PIL.Image``, a numpy array ((H, W) or (H, W, C); uint8, uint16 or float in
        [0, 1]), a float tensor ((C, H, W) or (B, C, H, W)), an image file's path or its bytes; returns
        the same kind and dtype (a ``PIL.Image`` for a path, the bytes of a file in the same format for
        bytes), ``scale`` times larger. Alpha passes through unchanged (upscaled alone)."""
        return restore_any(image, self.restore_data)

    def restore_data(self, image: ImageData, on_tile: TileCallback | None = None) -> ImageData:
        """The restored image, with the input's metadata, alpha and bit depth."""
        tensor = torch.from_numpy(np.ascontiguousarray(image.rgb)).permute(2, 0, 1)
        return self.with_restored_pixels(image, self.restore(tensor, on_tile))

    def with_restored_pixels(self, image: ImageData, restored: torch.Tensor) -> ImageData:
        """``image`` with ``restored`` (at :meth:`output_size`, from :meth:`restore` or
        :meth:`restore_batch`) as its pixels, and its alpha resized alone (bicubic, clipped)."""
        result = image.with_pixels(restored.permute(1, 2, 0).numpy())
        if image.alpha is None or restored.shape[-2:] == image.alpha.shape:
            return result
        alpha = resize_to(torch.from_numpy(image.alpha), *restored.shape[-2:]).clamp_(0, 1)
        return replace(result, alpha=alpha.numpy())

    def restore(self, image: torch.Tensor, on_tile: TileCallback | None = None) -> torch.Tensor:
        """Restore a (3, H, W) float image in [0, 1]; returns it at :meth:`output_size` (3, H * scale,
        W * scale without ``outscale``), float32 on the CPU, clipped to [0, 1]."""
        return self.restore_batch(image[None], on_tile)[0]

    @torch.inference_mode()
    def restore_batch(self, images: torch.Tensor, on_tile: TileCallback | None = None) -> torch.Tensor:
        """Restore (N, 3, H, W) float images of one size in [0, 1] (video frames); returns them at
        :meth:`output_size`, float32 on the CPU, clipped to [0, 1]. Whole images, or their
        tiles, go through the model ``batch_size`` at a time; each image comes out as
        :meth:`restore` would give it."""
        restored = self._restore_at_model_scale(images, on_tile)
        width, height = self.output_size(images.shape[-1], images.shape[-2])
        if restored.shape[-2:] == (height, width):
            return restored
        return resize_to(restored, height, width).clamp_(0, 1)

    def _restore_at_model_scale(self, images: torch.Tensor, on_tile: TileCallback | None) -> torch.Tensor:
        """(N, 3, H * scale, W * scale): the model's output, tile by tile."""
        while True:
            tile = self.tile if self.tile is not None else auto_tile_size(
                self.settings.device, self.settings.precision, self.settings.batch_size)
            try:
                return self._restore_tiled(images, tile, on_tile)
            except torch.OutOfMemoryError:
                if self.settings.device.type != "cuda" or (tile and tile // 2 < MIN_TILE):
                    raise
                torch.cuda.empty_cache()
                current = tile or max(images.shape[-2:]) * self._input_grid
                self.tile = max(MIN_TILE, current // 2 // SIZE_MULTIPLE * SIZE_MULTIPLE)
                self.notice(f"out of GPU memory with tile {current}; retrying with tile {self.tile}")

    @property
    def _input_grid(self) -> int:
        """Model input pixels per image pixel along a side: ``scale`` when the model restores the
        bicubic enlargement, 1 when it enlarges by itself."""
        return 1 if self.enlarges else self.scale

    def _restore_tiled(self, images: torch.Tensor, tile: int, on_tile: TileCallback | None) -> torch.Tensor:
        count, _, height, width = images.shape
        grid, enlarged_by = self._input_grid, self.scale // self._input_grid
        overlap, size = self.settings.overlap, self.settings.batch_size
        tiles = plan_tiles(height * grid, width * grid, tile, overlap, balanced=self.balanced)
        height, width, overlap = height * self.scale, width * self.scale, overlap * enlarged_by
        if len(tiles) == 1:
            out = torch.cat([self._run_batch(self._model_input(images[first : first + size], tiles[0]))
                             for first in range(0, count, size)])
            if on_tile:
                on_tile(1, 1)
            return out.clamp_(0, 1)
        output = torch.zeros(count, 3, height, width)
        weight_sum = torch.zeros(1, height, width)
        work = [(index, t) for index in range(count) for t in tiles]  # every image's tiles, image by image
        for first in range(0, len(work), size):
            group = work[first : first + size]
            batch = torch.stack([self._model_input(images[index], t) for index, t in group])
            for (index, t), restored in zip(group, self._run_batch(batch)):
                t = Tile(t.top * enlarged_by, t.left * enlarged_by, t.height * enlarged_by, t.width * enlarged_by)
                weight = blend_weights(t, height, width, overlap)
                self._accumulate(output[index], weight_sum if index == 0 else None, t, restored, weight)
            if on_tile:
                on_tile(first + len(group), len(work))
        return output.div_(weight_sum).clamp_(0, 1)

    def _model_input(self, images: torch.Tensor, tile: Tile) -> torch.Tensor:
        """The model's input for ``tile`` of its input grid: the images' pixels there, for a model
        that restores a bicubic enlargement upscaled from the input pixels that region needs."""
        if self.enlarges:
            return images[..., tile.slices[0], tile.slices[1]]
        return upscaled_region(images, self.scale, *tile.slices)

    @staticmethod
    def _accumulate(output: torch.Tensor, weight_sum: torch.Tensor | None, tile: Tile, restored: torch.Tensor,
                    weight: torch.Tensor) -> None:
        """Add a weighted tile to ``output`` and, once per tile position (``weight_sum`` given), its weight."""
        region = (slice(None), *tile.slices)
        output[region].addcmul_(restored, weight)
        if weight_sum is not None:
            weight_sum[region].add_(weight)


def restore_image(model: nn.Module, image: object, settings: InferenceSettings | None = None) -> object:
    """Restore one image of any kind :class:`Restorer` accepts; returns the same kind.

    ``model`` should come from :func:`prepare_model` (or be in eval mode on ``settings.device``).
    """
    return Restorer(model, settings or InferenceSettings())(image)
