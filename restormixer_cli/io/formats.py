"""The image, video and animation formats restormixer reads and writes, what each can store, and
the one rounding rule between [0, 1] floats and the integers a file holds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FileFormat:
    """A file format and what it can store."""

    name: str  # Pillow's name for it
    title: str  # what people call it
    extensions: tuple[str, ...]  # the first is the one outputs get
    sixteen_bit: bool
    alpha: bool
    metadata: bool  # ICC profile and EXIF
    media_type: str  # what HTTP calls it
    lossy: bool = False  # compressed with a quality setting (restore --quality)


_ALL = (
    FileFormat("PNG", "PNG", (".png",), sixteen_bit=True, alpha=True, metadata=True, media_type="image/png"),
    FileFormat("JPEG", "JPEG", (".jpg", ".jpeg"), sixteen_bit=False, alpha=False, metadata=True,
               media_type="image/jpeg", lossy=True),
    FileFormat("TIFF", "TIFF", (".tif", ".tiff"), sixteen_bit=True, alpha=True, metadata=True, media_type="image/tiff"),
    FileFormat("WEBP", "WebP", (".webp",), sixteen_bit=False, alpha=True, metadata=True, media_type="image/webp",
               lossy=True),
    FileFormat("BMP", "BMP", (".bmp",), sixteen_bit=False, alpha=False, metadata=False, media_type="image/bmp"),
    # Phone cameras' formats; read and written in 8 bits (HEIF through pillow-heif, AVIF through Pillow)
    FileFormat("HEIF", "HEIC", (".heic", ".heif"), sixteen_bit=False, alpha=True, metadata=True,
               media_type="image/heic", lossy=True),
    FileFormat("AVIF", "AVIF", (".avif",), sixteen_bit=False, alpha=True, metadata=True, media_type="image/avif",
               lossy=True),
)

#: Formats by lower-case extension.
FORMATS = {ext: fmt for fmt in _ALL for ext in fmt.extensions}

#: File name endings that are taken for images when a folder is searched.
IMAGE_EXTENSIONS = frozenset(FORMATS)

def _listing(names: list[str], conjunction: str) -> str:
    return f"{', '.join(names[:-1])} {conjunction} {names[-1]}"


#: The image formats by name, for messages: "PNG, JPEG, ... or AVIF".
IMAGE_FORMAT_NAMES = _listing([fmt.title for fmt in _ALL], "or")

#: A file picker's ``accept`` list for the image formats: media types and extensions.
IMAGE_ACCEPT = ",".join([*dict.fromkeys(fmt.media_type for fmt in _ALL), *FORMATS])

#: The formats ``quality`` applies to, for help texts: "JPEG, WebP, ... and AVIF".
LOSSY_FORMAT_NAMES = _listing([fmt.title for fmt in _ALL if fmt.lossy], "and")

#: What ``restore --ext`` accepts: an output format, or the input's own.
OUTPUT_EXTENSIONS = (*(fmt.extensions[0].lstrip(".") for fmt in _ALL), "same")


@dataclass(frozen=True)
class VideoCodec:
    """A video encoder of the bundled ffmpeg, and how restore uses it."""

    name: str  # ffmpeg's encoder name
    pixel_formats: tuple[str, str]  # what 8-bit and deeper (10-bit and up) sources are stored as
    quality: tuple[str, ...] = ()  # ffmpeg options; "{crf}" is replaced by the chosen value
    log: tuple[str, ...] = ()  # options that keep the encoder's own messages to errors
    alpha_formats: tuple[str, str] | None = None  # the same with transparency, where the encoder can store it


#: Encoders restore writes videos with: H.264 and H.265 (4:2:0, 8 or 10 bit), VP9 (alpha in 8 bits),
#: and FFV1 (lossless RGB, 8 or 16 bit, alpha at either).
VIDEO_CODECS = {codec.name: codec for codec in (
    VideoCodec("libx264", ("yuv420p", "yuv420p10le"), ("-crf", "{crf}")),
    VideoCodec("libx265", ("yuv420p", "yuv420p10le"), ("-crf", "{crf}"), ("-x265-params", "log-level=error")),
    VideoCodec("libvpx-vp9", ("yuv420p", "yuv420p10le"), ("-crf", "{crf}", "-b:v", "0"),
               alpha_formats=("yuva420p", "yuva420p")),
    VideoCodec("ffv1", ("bgr0", "gbrp16le"), alpha_formats=("bgra", "gbrap16le")),
)}

#: ffmpeg's own VP8 and VP9 decoders ignore the alpha side stream; libvpx's decode it.
ALPHA_DECODERS = {"vp8": "libvpx", "vp9": "libvpx-vp9"}

#: ``restore --crf`` (lower is better) unless chosen: visually close to the source with H.264.
DEFAULT_CRF = 18
MAX_CRF = 51


@dataclass(frozen=True)
class VideoFormat:
    """A video container and the encoders restore may write into it."""

    name: str  # ffmpeg's muxer name
    extensions: tuple[str, ...]
    codecs: tuple[str, ...]  # the first is the default
    rotation: bool  # can store a display rotation
    alpha_codecs: tuple[str, ...] = ()  # the encoders whose alpha channel it can hold
    audio_codecs: tuple[str, ...] | None = None  # the audio codecs it holds (None: any), copied as they are
    audio_encoder: str = "aac"  # for other audio, re-encoded


_PCM = ("pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be", "pcm_s32le", "pcm_f32le", "pcm_u8")
_VIDEO = (
    VideoFormat("mp4", (".mp4", ".m4v"), ("libx264", "libx265", "libvpx-vp9", "ffv1"), rotation=True,
                alpha_codecs=("ffv1",), audio_codecs=("aac", "mp3", "opus", "flac", "alac", "ac3", "eac3")),
    VideoFormat("mov", (".mov",), ("libx264", "libx265", "ffv1"), rotation=True, alpha_codecs=("ffv1",),
                audio_codecs=("aac", "mp3", "alac", "ac3", "eac3", *_PCM)),
    # VP9 keeps alpha in a side stream that only Matroska and WebM carry
    VideoFormat("matroska", (".mkv",), ("libx264", "libx265", "libvpx-vp9", "ffv1"), rotation=True,
                alpha_codecs=("libvpx-vp9", "ffv1")),
    VideoFormat("webm", (".webm",), ("libvpx-vp9",), rotation=True, alpha_codecs=("libvpx-vp9",),
                audio_codecs=("opus", "vorbis"), audio_encoder="libopus"),
    VideoFormat("avi", (".avi",), ("libx264", "libx265", "libvpx-vp9", "ffv1"), rotation=False,
                alpha_codecs=("ffv1",), audio_codecs=("mp3", "ac3", "pcm_s16le", "pcm_u8"), audio_encoder="libmp3lame"),
)

#: Video containers (read and written with the bundled ffmpeg) by lower-case extension.
VIDEO_FORMATS = {ext: fmt for fmt in _VIDEO for ext in fmt.extensions}

#: Animations (read and written with Pillow) by lower-case extension: a GIF always is one, a WebP
#: only when it holds several frames (else it is an image).
ANIMATION_FORMATS = {".gif": "GIF", ".webp": "WEBP"}

#: File name endings that are taken for inputs when a folder is searched: images, videos, animations.
MEDIA_EXTENSIONS = IMAGE_EXTENSIONS | frozenset(VIDEO_FORMATS) | frozenset(ANIMATION_FORMATS)


def extension_for(pillow_format: str | None) -> str | None:
    """The output extension of a format as Pillow names it (``"JPEG"`` -> ``".jpg"``), if supported."""
    if pillow_format == "MPO":  # a camera's JPEG with extra pictures: read as its first, a JPEG
        pillow_format = "JPEG"
    return next((fmt.extensions[0] for fmt in _ALL if fmt.name == pillow_format), None)


def quantize(pixels: np.ndarray, bits: int = 8) -> np.ndarray:
    """uint8 (or, with ``bits=16``, uint16) levels of [0, 1] float pixels, clipped and rounded to nearest."""
    peak = 2**bits - 1
    scaled = np.multiply(pixels, peak, dtype=np.float32)
    np.clip(np.round(scaled, out=scaled), 0, peak, out=scaled)
    return scaled.astype(np.uint16 if bits == 16 else np.uint8)


def dequantize(levels: np.ndarray, bits: int = 8) -> np.ndarray:
    """[0, 1] float32 pixels of uint8 (or, with ``bits=16``, uint16) levels: the inverse of :func:`quantize`."""
    return (levels.astype(np.float32) / float(2**bits - 1)).astype(np.float32)
