"""`restormixer eval`: PSNR/SSIM of restored files against their ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..io import DEFAULT_MAX_PIXELS
from .common import console, err


def evaluate(
    pred: Annotated[Path, typer.Option(help="Folder of restored images and videos.")],
    gt: Annotated[Path, typer.Option(help="Folder of ground-truth images and videos.")],
    y_channel: Annotated[bool, typer.Option("--y-channel", help="Score luma only (MATLAB BT.601).")] = False,
    crop_border: Annotated[int, typer.Option(help="Pixels cropped from each side before scoring.", min=0)] = 0,
    mod_crop: Annotated[int, typer.Option(help="Crop each ground truth top-left to a multiple of this many pixels first, for super-resolution test sets whose originals' sides are not a multiple of the scale: give the scale (1: no crop).", min=1)] = 1,
    suffix: Annotated[str, typer.Option(help="Suffix stripped from prediction stems, e.g. _restored.")] = "",
    json_report: Annotated[Optional[Path], typer.Option("--json", help="Write the report as JSON.")] = None,
    csv_report: Annotated[Optional[Path], typer.Option("--csv", help="Write the report as CSV.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the mean and errors.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing report files.")] = False,
    max_pixels: Annotated[int, typer.Option(help="Refuse images with more pixels than this (0 = no limit).", min=0)] = DEFAULT_MAX_PIXELS,
) -> None:
    """PSNR/SSIM of restored images (and videos, frame by frame) against ground truth (BasicSR / MATLAB conventions)."""
    from ..metrics.evaluate import EvalSettings
    from .evaluate_run import run_eval  # PyTorch

    raise typer.Exit(run_eval(pred, gt, settings=EvalSettings(y_channel, crop_border, mod_crop), console=console,
                              err=err, suffix=suffix, json_report=json_report, csv_report=csv_report, quiet=quiet,
                              overwrite=overwrite, max_pixels=max_pixels or None))
