"""The image file formats restormixer reads and writes, what each can store, and the one rounding
rule from [0, 1] floats to the integers a file holds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FileFormat:
    """A file format and what it can store."""

    name: str  # Pillow's name for it
    extensions: tuple[str, ...]  # the first is the one outputs get
    sixteen_bit: bool
    alpha: bool
    metadata: bool  # ICC profile and EXIF


_ALL = (
    FileFormat("PNG", (".png",), sixteen_bit=True, alpha=True, metadata=True),
    FileFormat("JPEG", (".jpg", ".jpeg"), sixteen_bit=False, alpha=False, metadata=True),
    FileFormat("TIFF", (".tif", ".tiff"), sixteen_bit=True, alpha=True, metadata=True),
    FileFormat("WEBP", (".webp",), sixteen_bit=False, alpha=True, metadata=True),
    FileFormat("BMP", (".bmp",), sixteen_bit=False, alpha=False, metadata=False),
)

#: Formats by lower-case extension.
FORMATS = {ext: fmt for fmt in _ALL for ext in fmt.extensions}

#: File name endings that are taken for images when a folder is searched.
IMAGE_EXTENSIONS = frozenset(FORMATS)

#: What ``restore --ext`` accepts: an output format, or the input's own.
OUTPUT_EXTENSIONS = (*(fmt.extensions[0].lstrip(".") for fmt in _ALL), "same")


def extension_for(pillow_format: str | None) -> str | None:
    """The output extension of a format as Pillow names it (``"JPEG"`` -> ``".jpg"``), if supported."""
    return next((fmt.extensions[0] for fmt in _ALL if fmt.name == pillow_format), None)


def quantize(pixels: np.ndarray, bits: int = 8) -> np.ndarray:
    """uint8 (or, with ``bits=16``, uint16) levels of [0, 1] float pixels, clipped and rounded to nearest."""
    peak = 2**bits - 1
    scaled = np.multiply(pixels, peak, dtype=np.float32)
    np.clip(np.round(scaled, out=scaled), 0, peak, out=scaled)
    return scaled.astype(np.uint16 if bits == 16 else np.uint8)
