"""Train the paper's full configuration for every task on a GPU machine, within a fixed time.

Made for a GPU machine that has PyTorch (and the project's other needs except pypng) but no network,
receives at most 64 MiB of files with the checkout and returns a handful of result files:

    # here, once: compact JPEG copies of the training data (about 40 MiB) and the pypng wheel
    python scripts/gpu_train.py pack --data DATA --out .gpu_pack
    pip download --no-deps --only-binary=:all: -d .gpu_pack/wheels pypng

    # there (the checkout plus .gpu_pack); results land in OUT:
    pip install --no-index --no-deps --target /tmp/site .gpu_pack/wheels/*.whl
    PYTHONPATH=/tmp/site:. python3 scripts/gpu_train.py run --pack .gpu_pack --out "$OUT" --minutes 9

    # here again: validate and ship what came back
    python scripts/release_checkpoints.py --data DATA --weights derain=OUT/derain ...

``run`` first times a few steps to size every task's run to its share of the minutes (the cosine
schedule needs its length in advance), then trains each task from scratch and writes
``OUT/<task>/model.safetensors`` + ``config.json`` (EMA weights) and ``OUT/summary.json``: seven
files. ``run --dry-run`` does the same with a tiny model for a few steps on whatever device there
is, to test the script without a GPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from restormixer_cli.inference.devices import resolve_device
from restormixer_cli.io.discovery import list_images
from restormixer_cli.io.images import read_rgb
from restormixer_cli.training.config import TrainConfig
from restormixer_cli.training.export import export_run
from restormixer_cli.training.trainer import read_metrics, train

#: Training folders under --data, and the longest side kept for clean photos (px).
CLEAN_SOURCES = ("bsds500/train", "bsds500/test", "clean_sun80")
PAIRED_SOURCES = ("rain100h",)
MAX_SIDE = 640
PACK_LIMIT_MIB = 44  # the checkout (~16 MiB) travels too, within 64 MiB


@dataclass(frozen=True)
class Task:
    name: str
    degradation: str
    paired: bool = False


TASKS = (Task("denoise", "blind-noise"), Task("derain", "rain", paired=True), Task("desnow", "snow"))


def _save_jpeg(array, path: Path, quality: int) -> None:
    image = Image.fromarray(array)
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", quality=quality, subsampling=0)


def pack(data: Path, out: Path) -> int:
    """Write out/clean/*.jpg and out/rain100h/{input,target}/*.jpg; returns the size in bytes."""
    for source in CLEAN_SOURCES:
        for path in list_images(data / source):
            _save_jpeg(read_rgb(path), out / "clean" / f"{source.replace('/', '_')}_{path.stem}.jpg", 90)
    for source in PAIRED_SOURCES:
        for side in ("input", "target"):
            for path in list_images(data / source / side):
                _save_jpeg(read_rgb(path), out / source / side / f"{path.stem}.jpg", 95)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    if size > PACK_LIMIT_MIB * 2**20:
        raise SystemExit(f"pack is {size / 2**20:.1f} MiB, over {PACK_LIMIT_MIB} MiB: lower MAX_SIDE or the qualities")
    return size


def _config(task: Task, pack_dir: Path, steps: int, dry_run: bool, workers: int) -> TrainConfig:
    folders = [str(pack_dir / "clean")] + ([str(pack_dir / s) for s in PAIRED_SOURCES] if task.paired else [])
    model = dict(base_channel=8, num_blocks=[2, 2, 2]) if dry_run else dict(base_channel=32, num_blocks=[4, 4, 4])
    shape = dict(batch=2, patch=32) if dry_run else dict(batch=16, patch=128)
    return TrainConfig(task=task.name, train=folders, degradation=task.degradation, steps=steps,
                       warmup=max(1, steps // 20), lr=1e-3, paired_fraction=0.3, val_every=10**9,
                       ckpt_every=max(1, steps // 4), workers=workers, **model, **shape)


def seconds_per_step(pack_dir: Path, device: torch.device, dry_run: bool, workers: int, steps: int) -> float:
    """Median time of a training step after warm-up, measured on a throwaway run."""
    with tempfile.TemporaryDirectory() as scratch:
        train(_config(TASKS[1], pack_dir, steps, dry_run, workers), Path(scratch), device)
        times = [r["sec_per_step"] for r in read_metrics(Path(scratch)) if "loss" in r]
    return statistics.median(times[len(times) // 2:])


def run(pack_dir: Path, out: Path, minutes: float, dry_run: bool, workers: int) -> dict:
    started = time.monotonic()
    device = resolve_device("cpu" if dry_run else "auto")
    per_step = seconds_per_step(pack_dir, device, dry_run, workers, steps=4 if dry_run else 30)
    summary: dict = {"device": str(device), "torch": torch.__version__, "seconds_per_step": per_step, "tasks": {}}
    for i, task in enumerate(TASKS):
        left = minutes * 60 - (time.monotonic() - started)
        budget = left / (len(TASKS) - i) - (10 if not dry_run else 0)  # start-up, export
        steps = 3 if dry_run else max(50, int(budget / per_step * 0.9))
        config = _config(task, pack_dir, steps, dry_run, workers)
        config.time_limit_min = max(0.1, budget / 60)
        task_start = time.monotonic()
        with tempfile.TemporaryDirectory() as run_dir:
            train(config, Path(run_dir), device)
            export_run(Path(run_dir), out / task.name, overwrite=True)
            losses = [r["loss"] for r in read_metrics(Path(run_dir)) if "loss" in r]
        (out / task.name / "README.md").unlink(missing_ok=True)  # the model card is written when shipped
        summary["tasks"][task.name] = {"steps": len(losses), "planned_steps": steps, "seconds": time.monotonic() - task_start,
                                       "first_loss": losses[0], "last_loss": statistics.mean(losses[-20:]),
                                       "config": config.model_config, "batch": config.batch, "patch": config.patch}
        print(json.dumps({task.name: summary["tasks"][task.name]}), flush=True)
    summary["seconds"] = time.monotonic() - started
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="compact JPEG copies of the training data")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("run", help="train every task within --minutes")
    r.add_argument("--pack", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--minutes", type=float, default=9.0)
    r.add_argument("--workers", type=int, default=12, help="processes synthesising batches")
    r.add_argument("--dry-run", action="store_true", help="tiny model, a few steps, any device")
    args = parser.parse_args()
    if args.command == "pack":
        print(f"packed {pack(args.data, args.out) / 2**20:.1f} MiB into {args.out}")
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        run(args.pack, args.out, args.minutes, args.dry_run, 0 if args.dry_run else args.workers)


if __name__ == "__main__":
    main()
