"""`restormixer degrade`: synthetic degradations written as a paired folder, to preview them or to
build a validation set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import console, err


def degrade(
    inputs: Annotated[list[str], typer.Argument(help="Clean images: files, folders or glob patterns.")],
    degradation: Annotated[str, typer.Option(help="noise[:SIGMA], grey-noise[:SIGMA] (the same noise in all channels), blind-noise, camera-noise, rain, light-rain (the light classic streaks of Rain100L-type sets), snow, haze, low-light, jpeg, mixed[:CLEAN] (CLEAN: the fraction left unchanged, default 0.1), none (clean copies), sr[:SCALE] or downscale:SCALE (low-resolution inputs, MATLAB bicubic); several joined by + (rain+haze).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for input/ (degraded) and target/ (clean).")],
    seed: Annotated[int, typer.Option(help="Seed: the same seed and inputs give the same images.")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing files in OUT.")] = False,
) -> None:
    """Degrade clean images synthetically, as training does: preview a degradation or build a paired
    validation set for `restore --gt` / `eval` / `train --val`."""
    from .degrade_run import run_degrade  # PyTorch

    raise typer.Exit(run_degrade(inputs, out, degradation, seed, overwrite, console, err))
