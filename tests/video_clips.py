"""Small videos made on the fly with the bundled ffmpeg, and what ffmpeg itself says about a video
(independently of restormixer's own probing): its frames' timestamps, its streams, its pixels."""

from __future__ import annotations

import re
import subprocess
import wave
from fractions import Fraction
from pathlib import Path

import numpy as np

from restormixer_cli.io.ffmpeg import command
from restormixer_cli.training.degradations import make_degradation

from .conftest import textured_image


def rainy_frames(count: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """(count, H, W, 3) uint8 frames of one static scene under fresh synthetic rain (the training
    code's) in every frame."""
    rng = np.random.default_rng(seed)
    clean = textured_image(height, width, seed)
    rain = make_degradation("rain")
    return np.stack([(np.clip(rain(clean, rng), 0, 1) * 255).round().astype(np.uint8) for _ in range(count)])


def sine_wav(path: Path, seconds: float, rate: int = 16000, hertz: float = 440.0) -> Path:
    """A mono 16-bit WAV file of a sine tone."""
    t = np.arange(round(seconds * rate)) / rate
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.sin(2 * np.pi * hertz * t) * 8000).astype("<i2").tobytes())
    return path


def encode(path: Path, frames: np.ndarray, rate: str = "12", output_args: tuple[str, ...] = ("-c:v", "libx264"),
           input_args: tuple[str, ...] = (), audio: Path | None = None) -> Path:
    """Encode RGB or RGBA frames (uint8, or uint16 for deep sources) into ``path``, with an audio file muxed in."""
    height, width = frames.shape[1:3]
    deep = frames.dtype == np.uint16
    raw = ("rgba64le" if deep else "rgba") if frames.shape[3] == 4 else ("rgb48le" if deep else "rgb24")
    args = ["-v", "error", "-y", *input_args, "-f", "rawvideo", "-pix_fmt", raw,
            "-s", f"{width}x{height}", "-framerate", rate, "-i", "-"]
    args += ["-i", str(audio)] if audio else []
    subprocess.run(command(*args, *output_args, str(path)), input=frames.astype("<u2" if deep else np.uint8).tobytes(),
                   check=True)
    return path


def packets(path: Path, stream: str) -> list[str]:
    """ffmpeg's listing (timestamps, sizes, checksums) of one stream's packets, copied without decoding."""
    listing = subprocess.run(command("-v", "error", "-i", str(path), "-map", f"0:{stream}", "-c", "copy",
                                     "-f", "framecrc", "-"), capture_output=True, text=True, check=True).stdout
    return [line for line in listing.splitlines() if not line.startswith("#software")]


def frame_times(path: Path) -> list[Fraction]:
    """The presentation times (seconds) of the first video stream's frames, in display order."""
    listing = packets(path, "v:0")
    tick = Fraction(next(line for line in listing if line.startswith("#tb 0:")).split(":")[1].strip())
    return sorted(int(line.split(",")[2]) * tick for line in listing if line.startswith("0,"))


def header(path: Path) -> str:
    """What ffmpeg prints about the file's streams."""
    return subprocess.run(command("-i", str(path)), capture_output=True, text=True).stderr


def container_duration(path: Path) -> str:
    return re.search(r"Duration: ([\d:.]+)", header(path)).group(1)


def video_stream(path: Path) -> str:
    """ffmpeg's description of the first video stream, and its side data."""
    text = header(path)
    start = text.index(": Video: ")
    return text[start: text.find("Stream #", start)]


def decode(path: Path, deep: bool = False) -> np.ndarray:
    """(N, H, W, 3) frames as a player shows them (rotation applied), 8 or 16 bits."""
    text = video_stream(path)
    width, height = map(int, re.search(r", (\d+)x(\d+)", text).groups())
    rotation = re.search(r"rotation of (-?[\d.]+) degrees", text, re.IGNORECASE)
    if rotation and round(float(rotation.group(1))) % 180:
        width, height = height, width
    raw = subprocess.run(command("-v", "error", "-i", str(path), "-map", "0:v:0", "-fps_mode", "passthrough", "-f",
                                 "rawvideo", "-pix_fmt", "rgb48le" if deep else "rgb24", "-"),
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, "<u2" if deep else np.uint8).reshape(-1, height, width, 3)


def extract_frames(video: Path, folder: Path) -> None:
    """Every frame of a video as numbered PNG files, extracted by ffmpeg alone."""
    folder.mkdir(parents=True)
    subprocess.run(command("-v", "error", "-i", str(video), "-map", "0:v:0", "-fps_mode", "passthrough",
                           str(folder / "%04d.png")), check=True)
