"""Reading and writing image files faithfully.

What a restored file keeps from its input: EXIF orientation is applied on reading (and reset to
"normal" in the output's EXIF), ICC profile and EXIF metadata are carried over, grayscale stays
grayscale, an alpha channel passes through unchanged, and 16-bit PNG/TIFF stay 16-bit. Palette and
CMYK images are converted to RGB(A). Tags that describe how the input stored its pixels (bit depth,
sample format, compression, strips, ...) never travel: the writer describes its own pixels. Every
file is decoded again after writing, before it takes its final name.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pillow_heif
import png
import tifffile
from PIL import ExifTags, Image, UnidentifiedImageError

from . import DEFAULT_MAX_PIXELS, DEFAULT_QUALITY, os_problem
from .atomic import atomic_path
from .formats import FORMATS, FileFormat, dequantize, quantize

pillow_heif.register_heif_opener()  # HEIC/HEIF, the photos of most phones, as a Pillow format

_READABLE = {fmt.name for fmt in FORMATS.values()} | {"MPO"}  # MPO: a JPEG with extra pictures
_ORIENTATION = 0x0112
_ICC_TIFF_TAG = 34675


#: TIFF/EXIF IFD0 tags that describe a file's pixel layout rather than the picture: copied into
#: another file they contradict its real layout (TIFF 6.0 baseline and extensions, SGI, Photoshop layers).
_LAYOUT_TAGS = frozenset({
    254, 255, 256, 257, 258, 259, 262, 263, 264, 265, 266, 273, 277, 278, 279, 280, 281, 284, 288, 289,
    290, 291, 292, 293, 301, 317, 320, 321, 322, 323, 324, 325, 330, 332, 333, 334, 336, 338, 339, 340,
    341, 342, 347, 512, 513, 514, 515, 517, 518, 519, 520, 521, 529, 530, 531, 532,
    32995, 32996, 32997, 32998, 37724, _ICC_TIFF_TAG,
})


Image.MAX_IMAGE_PIXELS = None  # read_image checks DEFAULT_MAX_PIXELS (or the caller's limit) instead


class ImageReadError(ValueError):
    """The file is not a readable image of a supported kind."""


class ImageTooLarge(ImageReadError):
    """The image has more pixels than the caller's limit."""


class ImageWriteError(OSError):
    """A written file does not decode back to the image that was written."""


@dataclass
class ImageData:
    """Pixels in [0, 1] plus what must survive into the output file."""

    pixels: np.ndarray  # (H, W, 1) grayscale or (H, W, 3) RGB, float32
    alpha: np.ndarray | None = None  # (H, W) float32 in [0, 1]
    bit_depth: int = 8
    icc_profile: bytes | None = None
    exif: bytes | None = None
    source_format: str = ""

    @property
    def is_gray(self) -> bool:
        return self.pixels.shape[2] == 1

    @property
    def rgb(self) -> np.ndarray:
        """(H, W, 3) float32 view for the model (grayscale replicated)."""
        return np.repeat(self.pixels, 3, axis=2) if self.is_gray else self.pixels

    @property
    def planes(self) -> np.ndarray:
        """(H, W, C) float planes as a file stores them: colour, then alpha if any."""
        return self.pixels if self.alpha is None else np.concatenate([self.pixels, self.alpha[..., None]], axis=2)

    @property
    def size(self) -> tuple[int, int]:
        return self.pixels.shape[1], self.pixels.shape[0]

    def with_pixels(self, rgb: np.ndarray) -> "ImageData":
        """Same metadata with new RGB pixels (averaged back to one channel for grayscale images)."""
        pixels = rgb.mean(axis=2, keepdims=True) if self.is_gray else rgb
        return replace(self, pixels=pixels.astype(np.float32, copy=False))


def _png_header(path: Path) -> tuple[int, int] | None:
    """(bit depth, colour type) of a PNG file, or None if it is not one."""
    with open(path, "rb") as f:
        head = f.read(26)
    if len(head) < 26 or head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return head[24], head[25]


def _read_png16(path: Path) -> tuple[np.ndarray, int]:
    width, height, rows, info = png.Reader(filename=str(path)).asDirect()
    planes = info["planes"]
    arr = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows]).reshape(height, width, planes)
    return arr, info["bitdepth"]


_ORIENTATIONS = {  # EXIF orientation -> the (H, W, C) array operation that displays it upright
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}


def _orient(arr: np.ndarray, orientation: object) -> np.ndarray:
    """Apply an EXIF orientation to (H, W, C) pixels; a damaged
    tag (several values, not a number) leaves them as they are, as image viewers do."""
    operation = _ORIENTATIONS.get(orientation) if isinstance(orientation, int) else None
    return np.ascontiguousarray(operation(arr)) if operation else arr


def _read_tiff16(path: Path) -> np.ndarray:
    """(H, W, C) pixels of a TIFF's first page, upright."""
    with tifffile.TiffFile(path) as tif:
        return _upright_page(tif.pages[0])


def _upright_page(page: tifffile.TiffPage) -> np.ndarray:
    """(H, W, C) pixels of a TIFF page (planes stored apart or interleaved), its orientation applied."""
    arr = page.asarray()
    if page.axes.startswith("S"):  # separate planes: (C, H, W)
        arr = np.moveaxis(arr, 0, -1)
    orientation = page.tags[_ORIENTATION].value if _ORIENTATION in page.tags else 1
    return _orient(arr[..., None] if arr.ndim == 2 else arr, orientation)


def _exif_bytes(img: Image.Image) -> bytes | None:
    """The picture's EXIF metadata (orientation reset to normal), without pixel-layout tags; None
    when there is none, or when it is too damaged to be written again."""
    exif = img.getexif()
    for tag in _LAYOUT_TAGS & set(exif):
        del exif[tag]
    if not exif:
        return None
    if _ORIENTATION in exif:
        exif[_ORIENTATION] = 1
    try:
        return exif.tobytes()
    except (TypeError, AttributeError, ValueError, struct.error):  # values of the wrong type for their tag
        return None


def _tiff_bits(img: Image.Image) -> int:
    bits = getattr(img, "tag_v2", {}).get(258, (8,))
    return max(bits) if isinstance(bits, tuple) else int(bits)


def _split_alpha(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    if arr.shape[2] in (2, 4):
        return arr[..., :-1], arr[..., -1]
    return arr, None


def eight_bit_mode(img: Image.Image) -> str:
    """The mode (L, LA, RGB or RGBA) an 8-bit PIL image is restored in: grey stays grey, and alpha,
    a transparent palette entry or a colour key (PNG's tRNS) becomes an alpha channel."""
    transparent = "transparency" in img.info or img.mode in ("LA", "La", "PA", "RGBA", "RGBa")
    grey = img.mode in ("1", "L", "LA", "La")
    return ("L" if grey else "RGB") + ("A" if transparent else "")


def _pixels_from_pil(img: Image.Image) -> tuple[np.ndarray, int]:
    """(H, W, C) integer array (C in 1..4) and its bit depth, from any supported PIL mode."""
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(img, dtype=np.uint16)[..., None], 16
    if mode == "I":
        arr = np.asarray(img, dtype=np.int64)
        if arr.min() < 0 or arr.max() > 65535:
            raise ImageReadError(f"unsupported 32-bit integer pixel range {arr.min()}..{arr.max()}")
        return arr.astype(np.uint16)[..., None], 16
    if mode == "F":
        raise ImageReadError("floating-point images are not supported")
    mode = eight_bit_mode(img)
    arr = np.asarray(img if img.mode == mode else img.convert(mode))
    return (arr[..., None] if arr.ndim == 2 else arr), 8


def _check_single_image(img: Image.Image, max_pixels: int | None) -> None:
    """Refuse, from the header alone, images over the pixel limit and files of several frames."""
    if img.format not in _READABLE:
        raise ImageReadError(f"unsupported image format {img.format}")
    frames = 1 if img.format == "MPO" else getattr(img, "n_frames", 1)  # MPO: read as its first picture
    _check_size_and_frames(img.format, img.size, frames, max_pixels)


def _check_size_and_frames(fmt: str, size: tuple[int, int], frames: int, max_pixels: int | None) -> None:
    width, height = size
    if max_pixels and width * height > max_pixels:
        raise ImageTooLarge(f"{width}x{height} pixels is over the limit of {max_pixels / 1e6:g} megapixels "
                             "(max-pixels); raise the limit if the image is genuine")
    if frames > 1:
        raise ImageReadError(f"{fmt} with {frames} frames or pages: only single images can be restored "
                             "(save the frames as separate files)")


def identify_image(path: Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> str:
    """The Pillow format name of a single image that :func:`read_image` would read, from the file's
    header alone; raises ImageReadError (ImageTooLarge over ``max_pixels``) as it would."""
    try:
        with Image.open(path) as img:
            _check_single_image(img, max_pixels)
            return img.format
    except ImageReadError:
        raise
    except UnidentifiedImageError as exc:
        if not _is_tiff(path):
            raise _decoder_error(exc) from None
        _tiff_page(path, max_pixels)
        return "TIFF"
    except _DECODER_ERRORS as exc:
        raise _decoder_error(exc) from None


def _is_tiff(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF


def _tiff_page(path: Path, max_pixels: int | None) -> tuple[np.ndarray, int, bytes | None]:
    """Upright pixels, bit depth and ICC profile of a single-page TIFF that Pillow cannot open (16-bit
    grey with alpha, for one), checked as :func:`read_image` checks Pillow's images."""
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            _check_size_and_frames("TIFF", (page.imagewidth, page.imagelength), len(tif.pages), max_pixels)
            if page.dtype is not None and page.dtype.kind == "f":
                raise ImageReadError("floating-point images are not supported")
            if page.dtype not in (np.uint8, np.uint16) or page.photometric not in (0, 1, 2):
                raise ImageReadError(f"unsupported TIFF pixels ({page.dtype}, photometric {page.photometric})")
            icc = page.tags[_ICC_TIFF_TAG].value if _ICC_TIFF_TAG in page.tags else None
            arr = _upright_page(page)
    except ImageReadError:
        raise
    except (tifffile.TiffFileError, *_DECODER_ERRORS) as exc:
        raise ImageReadError(f"corrupt or truncated TIFF ({exc})") from None
    if page.photometric == 0:  # min-is-white
        arr = np.iinfo(arr.dtype).max - arr
    return arr, 16 if arr.dtype == np.uint16 else 8, icc


_DECODER_ERRORS = (OSError, SyntaxError, ValueError, struct.error, zlib.error, png.Error)


def _decoder_error(exc: Exception) -> ImageReadError:
    """The one-line ImageReadError for an exception of Pillow's or another decoder's."""
    if isinstance(exc, UnidentifiedImageError):
        return ImageReadError("not an image file, or a format that cannot be read")
    if isinstance(exc, OSError) and exc.errno is not None:  # the system's refusal, not the decoder's
        return ImageReadError(os_problem(exc))
    return ImageReadError(f"corrupt or truncated image ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})")


def read_image(path: Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> ImageData:
    """Read an image file; raises ImageReadError with a one-line reason when it cannot, when it is
    larger than ``max_pixels`` (None: no limit) or when it holds several frames or pages."""
    path = Path(path)
    try:
        if not path.exists():
            raise ImageReadError("no such file")
        if path.stat().st_size == 0:
            raise ImageReadError("empty file (0 bytes)")
        with Image.open(path) as img:
            _check_single_image(img, max_pixels)
            orientation = img.getexif().get(_ORIENTATION, 1)
            img.load()
            source_format = img.format
            icc = img.info.get("icc_profile") or None
            if img.mode == "CMYK":
                icc = None  # a CMYK profile does not describe the converted RGB pixels
            exif = _exif_bytes(img)
            header = _png_header(path) if source_format == "PNG" else None
            if header and header[0] == 16 and header[1] in (2, 4, 6):
                arr, bits = _read_png16(path)
                arr = _orient(arr, orientation)
            elif source_format == "TIFF" and _tiff_bits(img) == 16 and img.mode not in ("I;16", "I;16B", "I"):
                arr, bits = _read_tiff16(path), 16
            else:
                arr, bits = _pixels_from_pil(img)
                arr = _orient(arr, orientation)
    except ImageReadError:
        raise
    except UnidentifiedImageError as exc:
        if not _is_tiff(path):
            raise _decoder_error(exc) from None
        (arr, bits, icc), exif, source_format = _tiff_page(path, max_pixels), None, "TIFF"
    except _DECODER_ERRORS as exc:
        raise _decoder_error(exc) from None
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
        raise ImageReadError(f"unsupported pixel layout {arr.shape}")
    color, alpha = _split_alpha(arr)
    return ImageData(
        pixels=dequantize(color, bits),
        alpha=None if alpha is None else dequantize(alpha, bits),
        bit_depth=bits,
        icc_profile=icc,
        exif=exif,
        source_format=source_format,
    )


def read_rgb(path: Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """An 8-bit RGB array (H, W, 3), read as :func:`read_image` reads (orientation applied, 16-bit
    scaled down); grayscale is replicated to RGB."""
    return quantize(read_image(path, max_pixels).rgb)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _write_png16(path: Path, arr: np.ndarray, icc: bytes | None, exif: bytes | None) -> None:
    """16-bit PNG through pypng, with iCCP / eXIf chunks inserted after the header."""
    height, width, planes = arr.shape
    writer = png.Writer(width, height, greyscale=planes in (1, 2), alpha=planes in (2, 4), bitdepth=16)
    buf = io.BytesIO()
    writer.write(buf, arr.reshape(height, width * planes))
    data = buf.getvalue()
    extra = b""
    if icc:
        extra += _png_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(icc))
    if exif:
        extra += _png_chunk(b"eXIf", exif.removeprefix(b"Exif\x00\x00"))
    end_of_ihdr = 8 + 8 + 13 + 4
    path.write_bytes(data[:end_of_ihdr] + extra + data[end_of_ihdr:])


def _pil_image(arr: np.ndarray) -> Image.Image:
    planes = arr.shape[2]
    if arr.dtype == np.uint16:
        return Image.fromarray(arr[..., 0])  # mode I;16
    return Image.fromarray(arr[..., 0] if planes == 1 else arr)


def file_format(path: Path) -> FileFormat:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"unsupported output format {suffix!r}: use {', '.join(sorted(FORMATS))}")
    return FORMATS[suffix]


def write_image(path: Path, image: ImageData, quality: int = DEFAULT_QUALITY) -> None:
    """Write atomically (temporary file, then rename); the format follows the file extension.
    ``quality`` (1-100) applies to the lossy formats (JPEG, WebP, HEIC, AVIF)."""
    fmt = file_format(path)
    image = replace(image, exif=_exif_with_size(image.exif, image.size))
    bits = 16 if image.bit_depth == 16 and fmt.sixteen_bit else 8
    arr = quantize(image.planes if fmt.alpha else image.pixels, bits)
    with atomic_path(Path(path)) as tmp:
        try:
            _encode(tmp, arr, fmt, image, quality)
        except (RuntimeError, ValueError, TypeError, KeyError, struct.error) as exc:  # encoders' own errors
            raise ImageWriteError(f"the {fmt.name} encoder failed ({type(exc).__name__}: {exc})") from None
        _check_decodes(tmp, fmt, arr)


def _exif_with_size(exif_bytes: bytes | None, size: tuple[int, int]) -> bytes | None:
    """The EXIF with its pixel-dimension tags, where present, set to ``size``: an upscaled or
    re-oriented picture must not claim the camera's width and height."""
    if not exif_bytes:
        return exif_bytes
    exif = Image.Exif()
    exif.load(exif_bytes)
    tags = exif.get_ifd(ExifTags.IFD.Exif)
    dimensions = {ExifTags.Base.ExifImageWidth: size[0], ExifTags.Base.ExifImageHeight: size[1]}
    if all(tags.get(tag) in (None, value) for tag, value in dimensions.items()):
        return exif_bytes
    tags.update({tag: value for tag, value in dimensions.items() if tag in tags})
    return exif.tobytes()


def _encode(path: Path, arr: np.ndarray, fmt: FileFormat, image: ImageData, quality: int) -> None:
    if arr.dtype == np.uint16 and fmt.name == "TIFF":
        tifffile.imwrite(path, arr[..., 0] if arr.shape[2] == 1 else arr, iccprofile=image.icc_profile,
                         compression="zlib", photometric="minisblack" if arr.shape[2] <= 2 else "rgb",
                         extrasamples=[2] if arr.shape[2] in (2, 4) else None, **_tifffile_metadata(image.exif))
    elif arr.dtype == np.uint16 and arr.shape[2] > 1:
        _write_png16(path, arr, image.icc_profile, image.exif)
    else:
        _save_with_pil(path, _pil_image(arr), fmt, image, quality)


def _check_decodes(path: Path, fmt: FileFormat, arr: np.ndarray) -> None:
    """Raise ImageWriteError unless ``path`` decodes to ``arr``'s size: with Pillow, and with tifffile
    for TIFF (Pillow does not decode 16-bit TIFF with several channels)."""
    height, width = arr.shape[:2]
    try:
        if fmt.name != "TIFF" or arr.dtype == np.uint8:
            with Image.open(path) as img:
                img.load()
                decoded = img.size
        if fmt.name == "TIFF":
            pages = tifffile.imread(path)
            decoded = (pages.shape[1], pages.shape[0])
    except Exception as exc:  # any decoder failure means the file is not usable
        raise ImageWriteError(f"the written {fmt.name} file does not decode ({type(exc).__name__}: {exc})") from None
    if decoded != (width, height):
        raise ImageWriteError(f"the written {fmt.name} file decodes as {decoded[0]}x{decoded[1]}, not {width}x{height}")


#: IFD0 text tags that tifffile can write (its writer has no EXIF or GPS sub-IFD; Software, 305, is
#: its own ``software`` argument).
_TIFF_TEXT_TAGS = (270, 271, 272, 306, 315, 33432)


def _tifffile_metadata(exif_bytes: bytes | None) -> dict:
    """tifffile.imwrite arguments for the EXIF that a 16-bit TIFF can keep: description, camera,
    software, date, artist, copyright and resolution."""
    if not exif_bytes:
        return {}
    exif = Image.Exif()
    exif.load(exif_bytes)
    tags = [(tag, "s", 0, exif[tag], True) for tag in _TIFF_TEXT_TAGS
            if isinstance(exif.get(tag), str) and not exif[tag].startswith('{"shape":')]  # tifffile's layout record
    options: dict = {"extratags": tags, "metadata": None}
    if isinstance(exif.get(305), str) and exif[305].isascii():  # tifffile refuses other text there
        options["software"] = exif[305]
    if 282 in exif and 283 in exif:
        options["resolution"] = (float(exif[282]), float(exif[283]))
        options["resolutionunit"] = int(exif.get(296, 2))
    return options


_SAVE_OPTIONS = {
    "JPEG": {"subsampling": 0},
    "WEBP": {"method": 4},
    "TIFF": {"compression": "tiff_adobe_deflate"},
}


def _save_with_pil(path: Path, img: Image.Image, fmt: FileFormat, image: ImageData, quality: int) -> None:
    options = dict(_SAVE_OPTIONS.get(fmt.name, {}))
    if fmt.lossy:
        options["quality"] = quality
    if fmt.metadata and image.icc_profile:
        options["icc_profile"] = image.icc_profile
    if fmt.metadata and image.exif:
        options["exif"] = image.exif
        if fmt.name == "TIFF" and _has_sub_ifds(image.exif):
            # Pillow's compressing (libtiff) TIFF writer cannot write the EXIF and GPS sub-IFDs;
            # its own writer can, uncompressed: the metadata matters more than the file size.
            del options["compression"]
    img.save(path, format=fmt.name, **options)


def _has_sub_ifds(exif_bytes: bytes) -> bool:
    exif = Image.Exif()
    exif.load(exif_bytes)
    return any(tag in exif for tag in (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo, ExifTags.IFD.Interop))
