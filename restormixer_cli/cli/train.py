"""`restormixer train`: train (or resume) a checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..inference.checks import check_threads
from .common import DEVICE_HELP, USAGE_ERROR, Task, Threads, complete_device, console, err, fail


def train(
    task: Annotated[str, typer.Option(help=f"Task name: {', '.join(Task.__members__)} or your own.")],
    train_dirs: Annotated[list[Path], typer.Option("--train", help="Training folder: input/+target/ pairs, or clean images (repeatable).")],
    out: Annotated[Path, typer.Option(help="Run folder (created, or resumed if it holds a run).")],
    val: Annotated[Optional[Path], typer.Option(help="Validation folder (pairs, or clean images degraded with a fixed seed).")] = None,
    config: Annotated[Optional[Path], typer.Option(help="JSON file with TrainConfig fields; options below override it.")] = None,
    degradation: Annotated[Optional[str], typer.Option(help="Synthetic degradation for clean images (see `restormixer degrade --help`), e.g. rain, snow+low-light, sr.")] = None,
    val_degradation: Annotated[Optional[str], typer.Option(help="Degradation of clean validation images (default: --degradation); e.g. mixed:0 so that every validation image is degraded.")] = None,
    steps: Annotated[Optional[int], typer.Option(help="Total optimisation steps.")] = None,
    batch: Annotated[Optional[int], typer.Option(help="Patches per step (per process).")] = None,
    patch: Annotated[Optional[int], typer.Option(help="Patch size (multiple of 16).")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Peak learning rate.")] = None,
    base_channel: Annotated[Optional[int], typer.Option(help="Model width.")] = None,
    num_blocks: Annotated[Optional[str], typer.Option(help="Blocks per stage, e.g. 4,4,4.")] = None,
    val_every: Annotated[Optional[int], typer.Option(help="Validate every N steps.")] = None,
    val_limit: Annotated[Optional[int], typer.Option(help="Validate on the first N images only (0 = all).")] = None,
    ckpt_every: Annotated[Optional[int], typer.Option(help="Checkpoint every N steps.")] = None,
    time_limit: Annotated[Optional[float], typer.Option(help="Stop (resumably) after this many minutes.")] = None,
    device: Annotated[str, typer.Option(help=DEVICE_HELP, autocompletion=complete_device)] = "auto",
    threads: Threads = 0,
    workers: Annotated[Optional[int], typer.Option(help="Processes that synthesise batches ahead of the GPU (default 0).")] = None,
) -> None:
    """Train (or resume) a RestorMixer checkpoint. Under torchrun, trains with DDP."""
    from .train_run import build_train_config, run_training  # PyTorch

    overrides = dict(degradation=degradation, val_degradation=val_degradation, steps=steps, batch=batch, patch=patch, lr=lr, base_channel=base_channel,
                     num_blocks=num_blocks, val_every=val_every, val_limit=val_limit, ckpt_every=ckpt_every,
                     time_limit_min=time_limit, workers=workers)
    try:
        check_threads(threads)
        cfg = build_train_config(task, train_dirs, val, config, overrides)
    except (ValueError, OSError) as exc:
        raise fail(exc, USAGE_ERROR)
    raise typer.Exit(run_training(cfg, out, device, threads, console, err))
