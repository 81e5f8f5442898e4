"""The kinds of image people hold in Python, to and from the engine's ImageData and back.

Accepted: ``PIL.Image.Image`` (any mode; 16-bit grayscale stays 16-bit, modes I and F keep their
mode, bilevel comes back as L, palette and other colour spaces as RGB(A)), numpy arrays (H, W) or
(H, W, C) with C in 1..4, of uint8, uint16 or float in [0, 1], torch tensors (C, H, W) or
(B, C, H, W) of floats in [0, 1], paths of image files, and the bytes of an image file (as
``rembg.remove(bytes)`` takes them). Each comes back as the same kind, shape and dtype (a path comes
back as a ``PIL.Image.Image``; bytes as the bytes of a file in the same format, written as
``restormixer restore`` writes files: metadata, alpha and 16 bits kept), larger by the restorer's
scale. Float pixels slightly outside [0, 1] are clipped; NaN, infinity or values far outside (0-255
floats) are a ValueError.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from os import PathLike
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..io.formats import extension_for, quantize
from ..io.images import ImageData, eight_bit_mode, identify_image, read_image, write_image

ToOriginal = Callable[[ImageData], object]
_BITS = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16}
_FLOAT_SLACK = 0.1  # float pixels this far outside [0, 1] are clipped; further is a mistake (0-255 values)


def _from_array(arr: np.ndarray) -> tuple[ImageData, ToOriginal]:
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 2, 3, 4)):
        raise ValueError(f"expected an (H, W) or (H, W, C) array with C from 1 to 4, not shape {arr.shape}")
    dtype, squeeze = arr.dtype, arr.ndim == 2
    bits = _BITS.get(dtype.newbyteorder("="))  # big-endian uint16 (FITS, raw sensor dumps) is uint16 too
    if bits is None and not np.issubdtype(dtype, np.floating):
        raise TypeError(f"expected uint8, uint16 or float pixels, not {dtype}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"the image is empty ({arr.shape[1]}x{arr.shape[0]} pixels)")
    if bits is None:
        _check_float_range(arr)
    planes = arr.reshape(arr.shape[0], arr.shape[1], -1)
    color, alpha = (planes[..., :-1], planes[..., -1]) if planes.shape[2] in (2, 4) else (planes, None)
    color = np.asarray(_unit_range(color, bits), dtype=np.float32)  # what the model computes in
    alpha = None if alpha is None else _unit_range(alpha, bits)
    image = ImageData(np.clip(color, 0, 1), alpha, bit_depth=16 if bits == 16 else 8)

    def back(restored: ImageData) -> np.ndarray:
        out = (quantize(restored.planes, bits) if bits else restored.planes).astype(dtype, copy=False)
        return out[..., 0] if squeeze else out

    return image, back


def _unit_range(values: np.ndarray, bits: int | None) -> np.ndarray:
    """Integer pixels of ``bits`` bits as float32 in [0, 1]; float pixels as they are, in their own
    dtype, so that alpha, which passes through, comes back exactly."""
    return values.astype(np.float32) / (2**bits - 1) if bits else values


def _check_float_range(arr: np.ndarray) -> None:
    """Float pixels must be finite and in [0, 1]; small excursions (resampling overshoot) are clipped."""
    if not np.isfinite(arr).all():
        raise ValueError("the image has NaN or infinite pixels")
    low, high = float(arr.min()), float(arr.max())
    if low < -_FLOAT_SLACK or high > 1 + _FLOAT_SLACK:
        raise ValueError(f"float pixels must lie in [0, 1], not {low:g}..{high:g}"
                         + (" (0-255 values: divide by 255)" if high > 2 else ""))


def _from_pil(img: Image.Image) -> tuple[ImageData, ToOriginal]:
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        image, back = _from_array(np.asarray(img, dtype=np.uint16))
        return image, lambda restored: Image.fromarray(back(restored))
    if img.mode == "I":  # 32-bit integers holding 16-bit values, as Pillow reads some 16-bit files
        values = np.asarray(img, dtype=np.int64)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise ValueError(f"mode I pixels must lie in 0..65535, not {values.min()}..{values.max()}")
        image, back = _from_array(values.astype(np.uint16))
        return image, lambda restored: Image.fromarray(back(restored).astype(np.int32), "I")
    if img.mode == "F":
        image, back = _from_array(np.asarray(img, dtype=np.float32))
        return image, lambda restored: Image.fromarray(back(restored), "F")
    mode = eight_bit_mode(img)
    image, back = _from_array(np.asarray(img.convert(mode)))
    return image, lambda restored: Image.fromarray(back(restored), mode)


def _from_tensor(tensor: torch.Tensor) -> list[tuple[ImageData, ToOriginal]]:
    if tensor.ndim not in (3, 4) or tensor.shape[-3] not in (1, 3):
        raise ValueError(f"expected a (C, H, W) or (B, C, H, W) tensor with 1 or 3 channels, not {tuple(tensor.shape)}")
    if not tensor.is_floating_point():
        raise TypeError(f"expected a float tensor with values in [0, 1], not {tensor.dtype}")
    if tensor.numel() == 0:
        raise ValueError(f"the tensor is empty (shape {tuple(tensor.shape)})")
    batch = tensor.detach().reshape(-1, *tensor.shape[-3:]).float().cpu()
    return [_from_array(item.permute(1, 2, 0).numpy()) for item in batch]


def _restore_encoded(data: bytes, restore: Callable[[ImageData], ImageData]) -> bytes:
    """The bytes of an image file, restored into a file of the same format (through scratch files:
    the readers and writers of image files keep each format's metadata, alpha and bit depth)."""
    with tempfile.TemporaryDirectory(prefix="restormixer-") as scratch:
        received = Path(scratch, "input")
        received.write_bytes(data)
        source = received.rename(received.with_suffix(extension_for(identify_image(received))))
        target = source.with_name(f"restored{source.suffix}")
        write_image(target, restore(read_image(source)))
        return target.read_bytes()


def restore_any(image: object, restore: Callable[[ImageData], ImageData]) -> object:
    """Apply ``restore`` to any supported kind of image and return the same kind."""
    if isinstance(image, Image.Image):
        data, back = _from_pil(image)
        return back(restore(data))
    if isinstance(image, np.ndarray):
        data, back = _from_array(image)
        return back(restore(data))
    if isinstance(image, torch.Tensor):
        outputs = [torch.from_numpy(back(restore(data))) for data, back in _from_tensor(image)]
        stacked = torch.stack([o.reshape(o.shape[0], o.shape[1], -1).permute(2, 0, 1) for o in outputs])
        return stacked.reshape(*image.shape[:-2], *stacked.shape[-2:]).to(device=image.device, dtype=image.dtype)
    if isinstance(image, (bytes, bytearray)):
        return _restore_encoded(bytes(image), restore)
    if isinstance(image, (str, PathLike)):
        restored = restore(read_image(Path(image)))
        arr = quantize(restored.planes)
        return Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)
    raise TypeError(f"cannot restore a {type(image).__name__}: give a PIL image, a numpy array, a torch tensor, "
                    "the path of an image file or its bytes")
