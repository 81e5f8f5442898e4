"""`restormixer export`: a training run's weights in hub layout, optionally uploaded."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import console, fail, shown


def export(
    run_dir: Annotated[Path, typer.Argument(help="Training run folder.")],
    out: Annotated[Path, typer.Option(help="Output folder in hub layout.")],
    push: Annotated[Optional[str], typer.Option(help="Also upload to this hub repo.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace the files of an earlier export in --out.")] = False,
    fp32: Annotated[bool, typer.Option("--fp32", help="Store the weights in fp32 (default: fp16, half the size; they load as fp32).")] = False,
) -> None:
    """Write a run's weights in hub layout: model.safetensors, config.json, README.md."""
    from ..training.export import export_run, push_to_hub

    try:
        folder = export_run(run_dir, out, overwrite=overwrite, fp16=not fp32)
        console.print(f"exported to {shown(folder)}")
        if push:
            console.print(f"uploaded: {shown(push_to_hub(folder, push))}")
    except (ValueError, OSError, RuntimeError) as exc:
        raise fail(exc)
