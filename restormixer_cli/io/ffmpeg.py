"""Running the ffmpeg binary that the imageio-ffmpeg wheel ships (no system ffmpeg needed), and
reading what it says about a video file: its first video stream and its frames' timestamps."""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO

import imageio_ffmpeg

from ..signals import HeldSignals

_CONTEXT = re.compile(r"^(\[[^\]]*\] )+")  # the "[h264 @ 0x55d0...] " prefixes of ffmpeg's messages
_ERROR = re.compile(r"\[(?:panic|fatal|error)\] (.*)")
_INFO = re.compile(r"^(?:\[[^\]]* @ [^\]]*\] )?\[info\] ?(.*)")
_STREAM = re.compile(r"^\s*Stream #0:\d+\S*: (\w+): (.*)")
_ALPHA_FORMAT = re.compile(r"^(yuva|rgba|bgra|argb|abgr|gbrap|ya\d|pal8)")
_ALPHA_MODE = re.compile(r"^\s*alpha_mode\s*:\s*1\s*$", re.IGNORECASE)  # a copied tag comes back ALPHA_MODE
_ROTATION = re.compile(r"display ?matrix: rotation of (-?[\d.]+) degrees", re.IGNORECASE)
_SAR = re.compile(r"\bSAR (\d+):(\d+)")  # "64x48 [SAR 4:3 DAR 16:9]": anamorphic pixels, 4/3 as wide as tall
_TOP_LEVEL_COMMA = re.compile(r",\s*(?![^()]*\))")
_NO_PTS = -(2**63)
_DISCARD = 0x4  # AV_PKT_FLAG_DISCARD: a packet decoded only to reach the first shown frame (edit lists)


def command(*args: str) -> list[str]:
    """An ffmpeg command line with the bundled binary that never reads the terminal."""
    return [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", *args]


def first_message(log: str) -> str:
    """The first line of an ffmpeg log without its "[demuxer @ 0x...]" prefixes ("" when it is empty)."""
    for line in log.splitlines():
        line = _CONTEXT.sub("", line).strip()
        if line:
            return line
    return ""


class Process:
    """A running ffmpeg in its own session (a terminal's Ctrl-C reaches only this process, which
    then stops it), with its messages kept in a temporary file (a full pipe would stall it). A
    context manager: ffmpeg starts on entering the block, is killed when the block raises, and is
    always waited for."""

    def __init__(self, args: list[str], stdin: int | None = None, stdout: int | None = None):
        self._command = command(*args)
        self._pipes = {"stdin": stdin, "stdout": stdout}

    def __enter__(self) -> "Process":
        self._log = tempfile.TemporaryFile()
        try:
            self.popen = _spawn(self._command, **self._pipes, stderr=self._log, start_new_session=True)
        except BaseException:
            self._log.close()
            raise
        return self

    @property
    def stdin(self) -> IO[bytes]:
        assert self.popen.stdin is not None
        return self.popen.stdin

    @property
    def stdout(self) -> IO[bytes]:
        assert self.popen.stdout is not None
        return self.popen.stdout

    def __exit__(self, kind, error, traceback) -> None:
        if error is not None:
            self.popen.kill()
        for pipe in (self.popen.stdin, self.popen.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:  # BrokenPipeError: ffmpeg ended with input still buffered
                    pass
        self.popen.wait()
        self._log.close()

    def finish(self) -> str | None:
        """Close ffmpeg's input and wait for it to end; None if it succeeded, else its first message."""
        if self.popen.stdin is not None:
            try:
                self.popen.stdin.close()
            except OSError:
                pass
        code = self.popen.wait()
        if code == 0:
            return None
        self._log.seek(0)
        return first_message(self._log.read().decode(errors="replace")) or f"ffmpeg exited with status {code}"


def _spawn(args: list[str], **options) -> subprocess.Popen:
    """``subprocess.Popen(args, **options)`` that leaves no child behind when Ctrl-C or SIGTERM
    arrive while it starts (during the fork, most likely): Popen would raise before it holds the
    child's pid and let the child run on, here writing into a file its caller has already removed.
    The signal is handled once the child is known, which is then killed."""
    with HeldSignals() as held:
        popen = subprocess.Popen(args, **options)
    try:
        held.deliver()
    except BaseException:
        popen.kill()
        popen.wait()
        raise
    return popen


@dataclass(frozen=True)
class Probe:
    """What ffmpeg reports about a file's first video stream, without decoding it."""

    width: int  # as stored, before any display rotation
    height: int
    pixel_format: str  # the decoder's, such as "yuv420p" or "yuv420p10le"
    colour: tuple[tuple[str, str], ...]  # the colour description: (ffmpeg option, value) pairs
    rotation: int  # counter-clockwise degrees a player turns the stored frames: 0, 90, 180 or 270
    time_base: Fraction
    pts: tuple[int, ...]  # the shown frames' presentation times in time_base units, sorted
    frame_duration: int  # the first frame's duration in time_base units (0: unknown)
    alpha: bool = False  # the frames have transparency
    codec: str = ""  # the stream's codec, such as "h264" or "vp9"
    audio: tuple[str, ...] = ()  # the codecs of the file's audio streams, such as "aac" or "opus"
    sample_aspect: Fraction = Fraction(1)  # width / height of a stored pixel (SAR): 1 but for anamorphic video


class ProbeError(ValueError):
    """The file is not a readable video; the message is one line."""


def probe(path: Path) -> Probe:
    """Describe ``path``'s first video stream by listing its packets (a stream copy, no decoding).
    Raises ProbeError when the file has no video stream or ffmpeg reports any error: a truncated
    or corrupt file is refused here rather than restored in part."""
    done = subprocess.run(command("-loglevel", "level+info", "-i", str(path), "-map", "0:v:0", "-c", "copy",
                                  "-f", "framecrc", "-"), capture_output=True, start_new_session=True)
    log = done.stderr.decode(errors="replace")
    header = [m.group(1) for m in map(_INFO.match, log.splitlines()) if m]
    header = header[: next((i for i, line in enumerate(header) if line.startswith(("Stream mapping", "Output #"))),
                           len(header))]
    streams = [m.groups() for m in map(_STREAM.match, header) if m]
    errors = [m.group(1).strip() for m in map(_ERROR.search, log.splitlines()) if m]
    if streams and not any(kind == "Video" for kind, _ in streams):
        raise ProbeError("no video stream")
    if errors or done.returncode != 0 or not streams:
        raise ProbeError(f"corrupt or truncated video ({errors[0] if errors else first_message(log) or 'unreadable'})")
    packets = _packets(done.stdout.decode(errors="replace"))
    if not packets["pts"]:
        raise ProbeError("the video has no frames")
    description = next(description for kind, description in streams if kind == "Video")
    pixel_format, colour = _pixel_format(description)
    stream = _first_video_stream(header)
    # VP8 and VP9 keep transparency in a side stream: the decoder reports a yuv420p format
    alpha = bool(_ALPHA_FORMAT.match(pixel_format)) or any(map(_ALPHA_MODE.match, stream))
    audio = tuple(_codec_name(text) for kind, text in streams if kind == "Audio")
    return Probe(packets["width"], packets["height"], pixel_format, colour, _rotation(stream), packets["time_base"],
                 tuple(sorted(packets["pts"])), packets["duration"], alpha, _codec_name(description), audio,
                 _sample_aspect(description))


def _sample_aspect(description: str) -> Fraction:
    """The sample aspect ratio in a stream's description (1 when it gives none, or an unknown 0:1)."""
    found = _SAR.search(description)
    return Fraction(int(found[1]), int(found[2])) if found and int(found[1]) and int(found[2]) else Fraction(1)


def _codec_name(description: str) -> str:
    """The codec at the start of a stream's description ("aac (LC) (mp4a / 0x6134), 48000 Hz, ...")."""
    return description.split(" ", 1)[0].rstrip(",")


def _packets(listing: str) -> dict:
    """Size, time base and the shown frames' timestamps from a ``framecrc`` listing of one stream."""
    found: dict = {"pts": [], "duration": 0, "time_base": Fraction(1, 1), "width": 0, "height": 0}
    for line in listing.splitlines():
        if line.startswith("#tb 0:"):
            found["time_base"] = Fraction(line.split(":", 1)[1].strip())
        elif line.startswith("#dimensions 0:"):
            found["width"], found["height"] = map(int, line.split(":", 1)[1].strip().split("x"))
        elif line.startswith("0,"):
            fields = [field.strip() for field in line.split(",")]
            flags = next((int(f[2:], 16) for f in fields[6:] if f.startswith("F=0x")), 0)
            if flags & _DISCARD:
                continue
            dts, pts, duration = int(fields[1]), int(fields[2]), int(fields[3])
            found["pts"].append(dts if pts == _NO_PTS else pts)
            if len(found["pts"]) == 1:
                found["duration"] = duration
    return found


def _pixel_format(description: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The pixel format and the colour description from a stream line such as
    ``h264 (High), yuv420p(tv, bt709/unknown/unknown, progressive), 1920x1080, ...``."""
    parts = _TOP_LEVEL_COMMA.split(description)
    if len(parts) < 2:
        return "", ()
    name, _, details = parts[1].partition("(")
    colour: list[tuple[str, str]] = []
    for item in (item.strip() for item in details.rstrip(")").split(",")):
        if item in ("tv", "pc"):
            colour.append(("color_range", item))
        elif item and item != "progressive" and "first" not in item:  # field order is not colour
            names = item.split("/") if "/" in item else [item] * 3
            colour += [(option, value) for option, value in zip(("colorspace", "color_primaries", "color_trc"), names)
                       if value not in ("unknown", "reserved")]
    return name.strip(), tuple(colour)


def _first_video_stream(header: list[str]) -> list[str]:
    """The lines below the first video stream's own: its metadata and side data."""
    lines, in_video, seen_video = [], False, False
    for line in header:
        stream = _STREAM.match(line)
        if stream:
            in_video = stream.group(1) == "Video" and not seen_video
            seen_video = seen_video or in_video
        elif in_video:
            lines.append(line)
    return lines


def _rotation(stream: list[str]) -> int:
    """The display rotation of a video stream (from its side data), in whole quarter turns."""
    for line in stream:
        if rotation := _ROTATION.search(line):
            return round(float(rotation.group(1)) / 90) % 4 * 90
    return 0
