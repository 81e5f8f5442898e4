"""`restormixer demo`: every embedded checkpoint on degraded sample photos, with metrics and pictures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import DEVICE_HELP, complete_device, console, err


def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's images and pictures.")] = Path("demo"),
    device: Annotated[str, typer.Option(help=DEVICE_HELP, autocompletion=complete_device)] = "auto",
) -> None:
    """Restore sample photos degraded with a fixed seed, for every embedded checkpoint; print PSNR/SSIM."""
    from .demo_run import run_demo  # PyTorch and the models

    raise typer.Exit(run_demo(out, device, console, err))
