"""`restormixer train` at work: configuration from file and options, then the training run."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

from rich.console import Console

from ..inference.devices import resolve_device, use_cpu_threads
from ..training.config import TrainConfig
from ..training.trainer import TrainingInterrupted, train
from .common import print_error, shown


def build_train_config(task: str, train_dirs: list[Path], val: Path | None, config_file: Path | None,
                       overrides: dict) -> TrainConfig:
    """Defaults, then the JSON file's fields, then the options given on the command line."""
    data: dict = {}
    if config_file:
        try:
            data = json.loads(Path(config_file).read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{config_file}: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{config_file}: expected a JSON object of TrainConfig fields")
        known = {f.name for f in fields(TrainConfig)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{config_file}: unknown fields {', '.join(unknown)}")
    for folder in [*train_dirs, *([val] if val else [])]:
        if not folder.is_dir():
            raise ValueError(f"{folder}: no such folder")
    data.update(task=task, train=[str(p) for p in train_dirs], val=str(val) if val else data.get("val"))
    for key, value in overrides.items():
        if value is None:
            continue
        if key == "num_blocks":
            try:
                value = [int(v) for v in str(value).split(",")]
            except ValueError:
                raise ValueError(f"--num-blocks takes three whole numbers, e.g. 4,4,4, not {value!r}") from None
        data[key] = value
    return TrainConfig(**data)


def run_training(config: TrainConfig, out: Path, device: str, threads: int, console: Console, err: Console) -> int:
    use_cpu_threads(threads)
    try:
        scores = train(config, out, resolve_device(device), err)
    except TrainingInterrupted as exc:
        err.print(shown(exc))
        return 130
    except (ValueError, OSError) as exc:
        return print_error(err, exc)
    if scores:
        console.print(f"final validation: PSNR {scores['psnr']:.2f} dB, SSIM {scores['ssim']:.4f} "
                      f"(input {scores['input_psnr']:.2f} dB / {scores['input_ssim']:.4f})")
    console.print(f"run folder: {shown(out)} (export with: restormixer export {shown(out)} --out DIR)")
    return 0
