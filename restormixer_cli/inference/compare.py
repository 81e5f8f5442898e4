"""Side-by-side comparisons: labelled panels, such as input | restored | ground truth with scores,
as a picture for an image and as a video for a video or animation."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from contextlib import ExitStack, closing
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from ..io.atomic import atomic_path
from ..io.formats import dequantize, quantize
from ..io.images import ImageData
from ..io.video import probe_clip, read_clip, write_clip
from ..metrics.evaluate import format_score

_GAP = 8
_BACKGROUND = (24, 24, 24)
_TEXT = (240, 240, 240)


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one fixed-size bitmap font
        return ImageFont.load_default()


def _panel(image: ImageData, height: int) -> Image.Image:
    panel = Image.fromarray(quantize(image.rgb), "RGB")
    if panel.height != height:
        panel = panel.resize((max(1, round(panel.width * height / panel.height)), height), Image.Resampling.LANCZOS)
    return panel


def _caption(psnr: float | None, ssim: float | None) -> str:
    if psnr is None or ssim is None:
        return "restored"
    return f"restored: PSNR {format_score(psnr, 2)} dB, SSIM {ssim:.4f}"


def side_by_side(columns: list[tuple[str, ImageData]], max_height: int = 512) -> Image.Image:
    """One RGB picture with labelled panels side by side (each scaled to the tallest's height, at most
    ``max_height``: a super-resolution input is shown enlarged)."""
    height = min(max_height, max(image.pixels.shape[0] for _, image in columns))
    panels = [(label, _panel(img, height)) for label, img in columns]
    font = _font(max(12, height // 24))
    label_height = font.getbbox("Ag")[3] + 2 * _GAP
    width = sum(p.width for _, p in panels) + _GAP * (len(panels) + 1)
    canvas = Image.new("RGB", (width, height + label_height + _GAP), _BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    x = _GAP
    for label, panel in panels:
        canvas.paste(panel, (x, label_height))
        draw.text((x, _GAP), label, fill=_TEXT, font=font)
        x += panel.width + _GAP
    return canvas


def comparison_picture(degraded: ImageData, restored: ImageData, ground_truth: ImageData | None = None,
                       psnr: float | None = None, ssim: float | None = None, max_height: int = 512) -> Image.Image:
    """input | restored (scores in its label) | ground truth, when given."""
    columns = [("input", degraded), (_caption(psnr, ssim), restored)]
    if ground_truth is not None:
        columns.append(("ground truth", ground_truth))
    return side_by_side(columns, max_height)


def write_comparison(path: Path, degraded: ImageData, restored: ImageData, ground_truth: ImageData | None = None,
                     psnr: float | None = None, ssim: float | None = None) -> None:
    picture = comparison_picture(degraded, restored, ground_truth, psnr, ssim)
    with atomic_path(Path(path)) as tmp:
        picture.save(tmp, format="PNG")


def write_comparison_video(path: Path, degraded: Path, restored: Path, ground_truth: Path | None = None,
                           psnrs: list[float] | None = None, ssims: list[float] | None = None) -> None:
    """input | restored (each frame's scores in its label) | ground truth, frame by frame, as a video
    (its container by ``path``'s extension) at the input's frame rate, without audio."""
    sources = [degraded, restored, *([ground_truth] if ground_truth is not None else [])]
    infos = [probe_clip(source, None) for source in sources]
    with ExitStack() as stack:
        readers = [stack.enter_context(closing(read_clip(source, info))) for source, info in zip(sources, infos)]
        pictures = (_even(comparison_picture(columns[0], columns[1], columns[2] if len(columns) > 2 else None,
                                             psnrs[number] if psnrs else None, ssims[number] if ssims else None))
                    for number, columns in enumerate(zip(*readers)))
        first = next(pictures)
        frames: Iterator[ImageData] = (ImageData(dequantize(np.asarray(p))) for p in itertools.chain([first], pictures))
        info = dataclasses.replace(infos[0], width=first.width, height=first.height, bit_depth=8, rotation=0,
                                   colour=(), alpha=False)
        with atomic_path(Path(path)) as tmp:
            write_clip(tmp, info, frames)


def _even(picture: Image.Image) -> Image.Image:
    """``picture`` with a background column and row added where its size is odd (4:2:0 video needs even sizes)."""
    return ImageOps.expand(picture, (0, 0, picture.width % 2, picture.height % 2), fill=_BACKGROUND)
