"""Reading and writing videos (through the bundled ffmpeg) and animated GIF/WebP (through Pillow),
frame by frame.

Frames come and go as RGB :class:`ImageData`, upright (a video's display rotation applied), 16-bit
for videos of more than 8 bits per sample. A video is streamed through pipes, never
held whole in memory. What a restored video keeps from its source: frame count, frame rate and
start time, size, display rotation (where the container stores one), bit depth (10-bit and up
stays 10-bit or more), the pixel aspect ratio of anamorphic video (SAR), the colour description
(matrix, range, primaries, transfer), an alpha
channel where the output's encoder can store one (VP9, FFV1), every audio stream (copied, not
re-encoded) and the container's metadata. Subtitles, chapters and data streams are not kept. A
variable frame rate is refused. An animation keeps each frame's duration, its loop count and its
transparency (on or off per pixel in a GIF); its writer holds every frame in memory (GIF and WebP
writers need them all), and a GIF writer merges identical consecutive frames.
"""

from __future__ import annotations

import errno
import math
import os
import re
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from . import DEFAULT_MAX_PIXELS, DEFAULT_QUALITY, os_problem
from .ffmpeg import Process, ProbeError, probe
from .formats import (ALPHA_DECODERS, ANIMATION_FORMATS, DEFAULT_CRF, VIDEO_CODECS, VIDEO_FORMATS, VideoCodec,
                      VideoFormat, dequantize, quantize)
from .images import ImageData

ClipKind = Literal["video", "animation"]
_DEEP = re.compile(r"(\d+)[lb]e$")  # "yuv420p10le": 10 bits; "rgb48le": 3 x 16 bits
_FRAME_RATES = (1, Fraction(1000, 1001))  # whole rates, and NTSC's (24000/1001, 30000/1001, ...)
#: The matrices ffmpeg's scale filter converts RGB with, by the colour space names streams carry.
_MATRICES = {"bt709": "bt709", "fcc": "fcc", "bt470bg": "bt470", "smpte170m": "smpte170m", "smpte240m": "smpte240m",
             "bt2020nc": "bt2020", "bt2020c": "bt2020"}
#: Primaries and transfer functions that ffmpeg's setparams filter can give frames.
_PRIMARIES = {"bt709", "bt470m", "bt470bg", "smpte170m", "smpte240m", "film", "bt2020", "smpte428", "smpte431",
              "smpte432", "jedec-p22", "ebu3213"}
_TRANSFERS = {"bt709", "bt470m", "bt470bg", "gamma22", "gamma28", "smpte170m", "smpte240m", "linear", "log100",
              "log316", "iec61966-2-4", "bt1361e", "iec61966-2-1", "bt2020-10", "bt2020-12", "smpte2084", "smpte428",
              "arib-std-b67"}


class ClipReadError(ValueError):
    """The file is not a readable video or animation; the message is one line."""


class ClipWriteError(OSError):
    """A video or animation could not be written, or does not read back as written."""


@dataclass(frozen=True)
class ClipInfo:
    """A video or animation: its frames, and what a restored copy must keep."""

    kind: ClipKind
    width: int  # of the upright frames
    height: int
    frames: int
    frame_rate: Fraction  # frames per second (an animation's mean)
    bit_depth: int = 8  # 16: frames are read and written as 16-bit (sources of more than 8 bits)
    rotation: int = 0  # counter-clockwise degrees a player turns the stored frames: 0, 90, 180 or 270
    start: Fraction = Fraction(0)  # seconds before the first frame (audio may start earlier)
    colour: tuple[tuple[str, str], ...] = ()  # the colour description: (ffmpeg option, value) pairs
    durations: tuple[int, ...] = ()  # an animation's frame durations in milliseconds
    loop: int | None = None  # how often an animation repeats (0: forever; None: it plays once)
    alpha: bool = False  # the frames have transparency
    decoder: str | None = None  # the ffmpeg decoder to read them with (None: ffmpeg's choice)
    audio: tuple[str, ...] = ()  # a video's audio codecs, one per stream
    pixel_aspect: Fraction = Fraction(1)  # width / height of an upright frame's pixel (SAR; 1 but for anamorphic video)

    @property
    def duration(self) -> float:
        """Seconds the frames last."""
        return sum(self.durations) / 1000 if self.durations else float(self.frames / self.frame_rate)


@dataclass(frozen=True)
class Encoding:
    """How restored videos are encoded: encoder (None: the container's default), its constant rate
    factor, and the quality of animated WebP."""

    codec: str | None = None
    crf: int = DEFAULT_CRF
    quality: int = DEFAULT_QUALITY


def clip_kind(path: Path) -> ClipKind | None:
    """Whether ``path`` is named (or, for WebP, made) like a video or an animation; None for an image."""
    suffix = Path(path).suffix.lower()
    if suffix in VIDEO_FORMATS:
        return "video"
    if suffix not in ANIMATION_FORMATS:
        return None
    if ANIMATION_FORMATS[suffix] == "GIF":
        return "animation"
    try:
        with Image.open(path) as img:
            return "animation" if getattr(img, "n_frames", 1) > 1 else None
    except (OSError, ValueError):
        return None  # the image reader reports what is wrong with it


def is_clip_output(path: Path) -> bool:
    """Whether a clip can be written to ``path``: a video container or an animation format."""
    return Path(path).suffix.lower() in VIDEO_FORMATS.keys() | ANIMATION_FORMATS.keys()


def turn(frame: np.ndarray, degrees: int) -> np.ndarray:
    """``frame`` turned counter-clockwise by a multiple of 90 degrees."""
    return np.ascontiguousarray(np.rot90(frame, degrees // 90)) if degrees % 360 else frame


def _turned_aspect(aspect: Fraction, degrees: int) -> Fraction:
    """The pixel aspect ratio of frames turned by ``degrees`` (a quarter turn swaps width and height)."""
    return 1 / aspect if degrees % 180 else aspect


def probe_clip(path: Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> ClipInfo:
    """Describe a video or animation; raises ClipReadError with a one-line reason when it cannot be
    restored (unreadable, truncated, variable frame rate, frames over ``max_pixels``)."""
    path = Path(path)
    try:  # ffmpeg would call an unreadable file corrupt; non-blocking, so that a FIFO does not wait for a writer
        os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
    except OSError as exc:
        raise ClipReadError(os_problem(exc)) from None
    if path.stat().st_size == 0:
        raise ClipReadError("empty file (0 bytes)")
    info = _probe_video(path) if clip_kind(path) == "video" else _probe_animation(path)
    if max_pixels and info.width * info.height > max_pixels:
        raise ClipReadError(f"{info.width}x{info.height} frames are over the limit of {max_pixels / 1e6:g} "
                            "megapixels (max-pixels); raise the limit if the video is genuine")
    return info


def read_clip(path: Path, info: ClipInfo) -> Iterator[ImageData]:
    """The upright frames of a clip that :func:`probe_clip` described, one at a time. Raises
    ClipReadError if they cannot all be decoded."""
    return _read_video(Path(path), info) if info.kind == "video" else _read_animation(Path(path), info.alpha)


def write_clip(path: Path, info: ClipInfo, frames: Iterable[ImageData], encoding: Encoding = Encoding(),
               source: Path | None = None) -> list[str]:
    """Write upright frames of a clip like ``info`` to ``path`` (a video container or animation
    format, by extension), copying audio and metadata from ``source`` when it is a video. Checks
    that the file reads back with every frame. Returns notes on what the output could not keep."""
    if Path(path).suffix.lower() in VIDEO_FORMATS:
        return _write_video(Path(path), info, frames, encoding, source if info.kind == "video" else None)
    return _write_animation(Path(path), info, frames, encoding.quality)


# ------------------------------------------------------------------------------------------ videos
def _probe_video(path: Path) -> ClipInfo:
    try:
        found = probe(path)
    except ProbeError as exc:
        raise ClipReadError(str(exc)) from None
    seconds = [pts * found.time_base for pts in found.pts]
    rate = _frame_rate(seconds, found.time_base, found.frame_duration * found.time_base)
    width, height = (found.height, found.width) if found.rotation in (90, 270) else (found.width, found.height)
    return ClipInfo("video", width, height, len(seconds), rate, bit_depth=_bit_depth(found.pixel_format),
                    rotation=found.rotation, start=seconds[0], colour=found.colour,
                    alpha=found.alpha, decoder=ALPHA_DECODERS.get(found.codec) if found.alpha else None,
                    audio=found.audio, pixel_aspect=_turned_aspect(found.sample_aspect, found.rotation))


def _bit_depth(pixel_format: str) -> int:
    """16 for pixel formats of 9 to 16 bits per sample (read and written as 16-bit), else 8."""
    bits = _DEEP.search(pixel_format)
    return 16 if bits and (8 < int(bits.group(1)) <= 16 or int(bits.group(1)) in (48, 64)) else 8


def _frame_rate(times: list[Fraction], tick: Fraction, first_duration: Fraction) -> Fraction:
    """The constant frame rate of frames shown at ``times`` (seconds, rounded to ``tick``): a whole
    or NTSC rate when one fits the rounding, else the exact mean. Raises ClipReadError when a
    frame is more than half a frame away from a constant rate (a variable frame rate)."""
    if len(times) == 1:
        return 1 / first_duration if first_duration > 0 else Fraction(25)
    span, count = times[-1] - times[0], len(times) - 1
    if span <= 0:
        raise ClipReadError("the frames' timestamps do not increase")
    interval = span / count
    if max(abs(t - times[0] - k * interval) for k, t in enumerate(times)) > interval / 2:
        gaps = [float(b - a) * 1000 for a, b in zip(times, times[1:])]
        raise ClipReadError(f"variable frame rate (frames {min(gaps):.1f} to {max(gaps):.1f} ms apart) is not "
                            "supported; convert it to a constant rate first (ffmpeg -i IN -fps_mode cfr OUT)")
    low, high = count / (span + tick), (count / (span - tick) if span > tick else math.inf)
    for unit in _FRAME_RATES:
        candidate = round(count / span / unit) * unit
        if candidate and low <= candidate <= high:
            return Fraction(candidate)
    return count / span


def _raw_format(bit_depth: int, alpha: bool) -> tuple[str, int]:
    """The rawvideo pixel format frames travel through pipes in, and its channel count."""
    return ("rgba64le" if bit_depth == 16 else "rgba", 4) if alpha else ("rgb48le" if bit_depth == 16 else "rgb24", 3)


def _read_video(path: Path, info: ClipInfo) -> Iterator[ImageData]:
    deep = info.bit_depth == 16
    raw, channels = _raw_format(info.bit_depth, info.alpha)
    stored = (info.height, info.width) if info.rotation in (0, 180) else (info.width, info.height)
    frame_bytes = stored[0] * stored[1] * channels * (2 if deep else 1)
    decoder = ["-c:v", info.decoder] if info.decoder else []
    args = ["-v", "error", "-noautorotate", *decoder, "-i", str(path), "-map", "0:v:0", "-fps_mode", "passthrough",
            "-f", "rawvideo", "-pix_fmt", raw, "-"]
    count = 0
    with Process(args, stdout=subprocess.PIPE) as ffmpeg:
        while data := ffmpeg.stdout.read(frame_bytes):
            if len(data) < frame_bytes:
                raise ClipReadError(f"corrupt video: frame {count + 1} is incomplete")
            levels = np.frombuffer(data, "<u2" if deep else np.uint8).reshape(*stored, channels)
            planes = dequantize(turn(levels, info.rotation), info.bit_depth)
            count += 1
            yield ImageData(planes[..., :3], planes[..., 3] if info.alpha else None, bit_depth=info.bit_depth)
        failure = ffmpeg.finish()
    if failure:
        raise ClipReadError(f"corrupt video ({failure})")
    if count != info.frames:
        raise ClipReadError(f"corrupt video: {count} of its {info.frames} frames could be decoded")


def _codec(fmt: VideoFormat, requested: str | None, alpha: bool) -> tuple[VideoCodec, list[str]]:
    """The encoder for a container: the requested one if the container takes it, else its default;
    for a source with alpha, the first that keeps alpha at a chosen quality (VP9 in WebM or
    Matroska), if the container has one (lossless FFV1 only when asked for)."""
    if requested is not None and requested not in fmt.codecs:
        return VIDEO_CODECS[fmt.codecs[0]], [f"{fmt.name} cannot hold {requested}; encoded with {fmt.codecs[0]}"]
    keeping_alpha = [name for name in fmt.alpha_codecs if VIDEO_CODECS[name].quality]
    if requested is None and alpha and keeping_alpha:
        return VIDEO_CODECS[keeping_alpha[0]], []
    return VIDEO_CODECS[requested or fmt.codecs[0]], []


def _write_video(path: Path, info: ClipInfo, frames: Iterable[ImageData], encoding: Encoding,
                 source: Path | None) -> list[str]:
    fmt = VIDEO_FORMATS[path.suffix.lower()]
    codec, notes = _codec(fmt, encoding.codec, info.alpha)
    rotation = info.rotation if fmt.rotation else 0
    if info.rotation and not rotation:
        notes.append(f"{fmt.name} stores no display rotation: frames written upright")
    width, height = (info.height, info.width) if rotation in (90, 270) else (info.width, info.height)
    alpha = info.alpha and codec.name in fmt.alpha_codecs
    pixel_format = (codec.alpha_formats if alpha else codec.pixel_formats)[info.bit_depth == 16]
    if (width % 2 or height % 2) and pixel_format.startswith("yuv420"):  # x264 and x265 need even sizes for 4:2:0
        pixel_format = pixel_format.replace("420", "444")
        notes.append(f"odd frame size {width}x{height}: colour stored at full resolution ({pixel_format}), "
                     "which some players cannot play")
    if info.alpha and not alpha:
        keeps = " or ".join(f"--codec {name}" for name in fmt.alpha_codecs)
        notes.append(f"alpha channel dropped: {codec.name} in {fmt.name} cannot store it ({keeps} keeps it)")
    if alpha and info.bit_depth == 16 and not _DEEP.search(pixel_format):
        notes.append(f"stored in 8 bits: {codec.name} keeps alpha only in 8 bits (--codec ffv1 keeps both)")
    raw, _ = _raw_format(info.bit_depth, alpha)
    args = ["-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", raw, "-s", f"{width}x{height}",
            "-framerate", str(info.frame_rate)]
    args += ["-noautorotate", "-display_rotation", str(rotation)] if rotation else []
    args += ["-itsoffset", str(float(info.start))] if info.start else []
    args += ["-i", "-"]
    if source is not None:
        audio, audio_notes = _audio_args(fmt, info.audio)
        notes += audio_notes
        args += ["-i", str(source), "-map", "0:v", "-map", "1:a?", *audio, "-map_metadata", "1",
                 "-map_metadata:s:v:0", "1:s:v:0"]
    filters, tags = _colour_args(dict(info.colour), yuv=pixel_format.startswith("yuv"))
    aspect = _turned_aspect(info.pixel_aspect, rotation)  # of the frames as stored
    filters += [f"setsar={aspect.numerator}/{aspect.denominator}"] if aspect != 1 else []
    args += ["-c:v", codec.name, "-pix_fmt", pixel_format, *(option.format(crf=encoding.crf) for option in codec.quality),
             *codec.log, *(["-vf", ",".join(filters)] if filters else []), *tags, "-f", fmt.name, str(path)]
    written = 0
    with Process(args, stdin=subprocess.PIPE) as ffmpeg:
        for frame in frames:
            try:
                levels = quantize(frame.planes if alpha else frame.pixels, info.bit_depth)
                ffmpeg.stdin.write(turn(levels, -rotation).astype(levels.dtype.newbyteorder("<")).tobytes())
            except BrokenPipeError:
                break  # ffmpeg stopped: finish() says why
            written += 1
        failure = ffmpeg.finish()
    if failure:
        if "No space left on device" in failure:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        raise ClipWriteError(f"ffmpeg could not write the {fmt.name} video with {codec.name} ({failure})")
    _check_video(path, written, (width, height), alpha)
    return notes


def _audio_args(fmt: VideoFormat, codecs: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """ffmpeg's options for the audio streams, and a note: copied packet for packet where the
    container holds their codec, else re-encoded with the container's audio encoder."""
    foreign = sorted({codec for codec in codecs if fmt.audio_codecs is not None and codec not in fmt.audio_codecs})
    if not foreign:
        return ["-c:a", "copy"], []
    return (["-c:a", fmt.audio_encoder, "-b:a", "192k"],
            [f"audio re-encoded with {fmt.audio_encoder}: {fmt.name} cannot hold {', '.join(foreign)}"])


def _colour_args(colour: dict[str, str], yuv: bool) -> tuple[list[str], list[str]]:
    """The ffmpeg filters and options that give the written frames the source's colour description:
    primaries and transfer function, and for YUV storage the source's matrix and range, used to
    convert the RGB frames and recorded in the file."""
    matrix = _MATRICES.get(colour.get("colorspace", "")) if yuv else None
    scale = [f"out_color_matrix={matrix}"] if matrix else []
    scale += [f"out_range={colour['color_range']}"] if yuv and "color_range" in colour else []
    params = [f"{key}={colour[key]}" for key, known in (("color_primaries", _PRIMARIES), ("color_trc", _TRANSFERS))
              if colour.get(key) in known]
    filters = ([f"scale={':'.join(scale)}"] if scale else []) + ([f"setparams={':'.join(params)}"] if params else [])
    tags = ["-colorspace", colour["colorspace"]] if matrix else []
    if yuv and "color_range" in colour:
        tags += ["-color_range", colour["color_range"]]
    return filters, tags


def _check_video(path: Path, frames: int, size: tuple[int, int], alpha: bool) -> None:
    """Raise ClipWriteError unless the written video lists ``frames`` frames of ``size``, with an
    alpha channel if ``alpha``."""
    try:
        found = probe(path)
    except ProbeError as exc:
        raise ClipWriteError(f"the written video does not read back ({exc})") from None
    if len(found.pts) != frames or (found.width, found.height) != size:
        raise ClipWriteError(f"the written video has {len(found.pts)} frames of {found.width}x{found.height}, "
                             f"not {frames} of {size[0]}x{size[1]}")
    if alpha and not found.alpha:
        raise ClipWriteError("the written video has no alpha channel")


# -------------------------------------------------------------------------------------- animations
def _probe_animation(path: Path) -> ClipInfo:
    try:
        with Image.open(path) as img:
            width, height = img.size
            alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
            loop = img.info.get("loop")
            durations = []
            for frame in ImageSequence.Iterator(img):
                frame.load()
                durations.append(int(frame.info.get("duration", 0)))
    except UnidentifiedImageError:
        raise ClipReadError("not an animation, or a format that cannot be read") from None
    except (OSError, ValueError, EOFError) as exc:
        raise ClipReadError(f"corrupt or truncated animation ({_first_line(exc)})") from None
    total = sum(durations)
    rate = Fraction(len(durations) * 1000, total) if total else Fraction(10)
    return ClipInfo("animation", width, height, len(durations), rate, durations=tuple(durations),
                    loop=None if loop is None else int(loop), alpha=alpha)


def _read_animation(path: Path, alpha: bool) -> Iterator[ImageData]:
    try:
        with Image.open(path) as img:
            for frame in ImageSequence.Iterator(img):
                planes = dequantize(np.asarray(frame.convert("RGBA" if alpha else "RGB")))
                yield ImageData(planes[..., :3], planes[..., 3] if alpha else None)
    except (OSError, ValueError, EOFError) as exc:
        raise ClipReadError(f"corrupt or truncated animation ({_first_line(exc)})") from None


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _write_animation(path: Path, info: ClipInfo, frames: Iterable[ImageData], quality: int) -> list[str]:
    fmt = ANIMATION_FORMATS[path.suffix.lower()]
    pictures = [_picture(frame, fmt) for frame in frames]
    durations = list(info.durations) or [round(1000 / info.frame_rate)] * len(pictures)
    options = {"loop": info.loop} if info.loop is not None else {}
    if fmt == "WEBP":
        options.update(quality=quality, method=4)
    elif info.alpha:
        options.update(disposal=2)  # whole frames: each replaces the last, so none shows through another's holes
    pictures[0].save(path, format=fmt, save_all=True, append_images=pictures[1:], duration=durations[: len(pictures)],
                     **options)
    _check_animation(path, pictures[0].size)
    notes = ["audio dropped: animations have no sound"] if info.audio else []
    return notes + ([f"video of more than 8 bits written as 8-bit {fmt}"] if info.bit_depth == 16 else [])


def _picture(frame: ImageData, fmt: str) -> Image.Image:
    """A frame as Pillow writes it: 8-bit RGB(A); an opaque GIF frame with its own adaptive palette of
    256 colours (Pillow's GIF writer gives one with transparency a palette entry for it)."""
    picture = Image.fromarray(quantize(frame.planes))
    return picture.convert("P", palette=Image.Palette.ADAPTIVE) if fmt == "GIF" and frame.alpha is None else picture


def _check_animation(path: Path, size: tuple[int, int]) -> None:
    try:
        with Image.open(path) as img:
            img.seek(img.n_frames - 1)
            img.load()
            decoded = img.size
    except Exception as exc:  # any decoder failure means the file is not usable
        raise ClipWriteError(f"the written animation does not decode ({type(exc).__name__}: {exc})") from None
    if decoded != size:
        raise ClipWriteError(f"the written animation decodes as {decoded[0]}x{decoded[1]}, not {size[0]}x{size[1]}")
