"""Side-by-side comparison pictures: labelled panels, such as input | restored | ground truth with scores."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ..io.atomic import atomic_path
from ..io.formats import quantize
from ..io.images import ImageData
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
    """One RGB picture with labelled panels side by side (each scaled to the first's height, at most
    ``max_height``)."""
    height = min(max_height, columns[0][1].pixels.shape[0])
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
