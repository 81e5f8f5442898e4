"""Validate the project's checkpoints on the development data and (optionally) package them.

    # score the embedded checkpoints (what the README quotes):
    python scripts/release_checkpoints.py --data DATA

    # package training runs as the embedded checkpoints and record their scores in the registry:
    python scripts/release_checkpoints.py --data DATA --runs RUNS_DIR --write

Validation follows each task's recipe: denoise on CBSD68 with Gaussian noise sigma 25 added in float
(seed 0, unclipped, as the literature does), derain on Rain12 (Y channel), desnow on CBSD68 with
synthetic snow (seed 0). Scores are PSNR/SSIM of 8-bit outputs, next to the degraded inputs' own.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from restormixer_cli.hub.download import sha256_of
from restormixer_cli.hub.loading import build_model, load_weights_file
from restormixer_cli.hub.registry import REGISTRY_FILE
from restormixer_cli.inference.engine import fold_batchnorm
from restormixer_cli.training.config import TASK_DEFAULTS, TrainConfig
from restormixer_cli.training.data import load_validation_set
from restormixer_cli.training.degradations import make_degradation
from restormixer_cli.training.export import dataset_name, export_run
from restormixer_cli.training.trainer import read_metrics, validate

PACKAGE = Path(__file__).resolve().parent.parent / "restormixer_cli"
VALIDATION = {  # task -> (folder under --data, dataset label)
    "denoise": ("cbsd68", "CBSD68, Gaussian noise sigma 25 (seed 0)"),
    "derain": ("rain12", "Rain12"),
    "desnow": ("cbsd68", "CBSD68, synthetic snow (seed 0)"),
}
REPO_PREFIX = "restormixer/restormixer-"


def score(task: str, data: Path, weights: Path) -> dict:
    folder, label = VALIDATION[task]
    pairs = load_validation_set(data / folder, make_degradation(TASK_DEFAULTS[task].degradation), seed=0)
    model = fold_batchnorm(build_model(load_weights_file(weights)))
    start = time.perf_counter()
    scores = validate(model, pairs, torch.device("cpu"), TASK_DEFAULTS[task].y_channel, crop_border=0)
    return {"dataset": label, "images": len(pairs), "channel": "Y" if TASK_DEFAULTS[task].y_channel else "RGB",
            **{k: round(v, 4) for k, v in scores.items()}, "seconds": round(time.perf_counter() - start, 1)}


def training_record(run: Path) -> dict:
    config = TrainConfig.load(run / "config.json")
    steps = [r for r in read_metrics(run) if "loss" in r]
    hours = sum(r["sec_per_step"] for r in steps) / 3600
    return {
        "summary": f"{steps[-1]['step']} steps, batch {config.batch} x {config.patch}px, {hours:.1f} h of training on a 2-core CPU",
        "model": f"base_channel {config.base_channel}, blocks {config.num_blocks} (the paper's is 32, [4, 4, 4])",
        "data": [dataset_name(p) for p in config.train],
        "degradation": config.degradation,
        "steps": steps[-1]["step"],
        "batch": config.batch,
        "patch": config.patch,
        "lr": config.lr,
        "ema": config.ema,
        "hardware": "a 2-core x86-64 CPU, at times shared with another training run",
        "hours": round(hours, 2),
    }


def package(task: str, run: Path, data: Path, registry: dict) -> None:
    target = PACKAGE / "weights" / task
    export_run(run, target)
    weights = target / "model.safetensors"
    config = json.loads((target / "config.json").read_text())
    scores = score(task, data, weights)
    append_to_card(target / "README.md", scores)
    entry = registry["tasks"][task]
    entry.update(
        available=True, repo_id=REPO_PREFIX + task, filename="model.safetensors", revision="main",
        sha256=sha256_of(weights), published=False, embedded=task, size_bytes=weights.stat().st_size,
        config=config, training=training_record(run), scores=[scores],
        note="hub repository not yet published; the embedded copy is used",
    )


def append_to_card(card: Path, scores: dict) -> None:
    card.write_text(card.read_text() + (
        f"\nFull validation set, {scores['dataset']} ({scores['images']} images, {scores['channel']}, 8-bit outputs): "
        f"PSNR {scores['psnr']:.2f} dB, SSIM {scores['ssim']:.4f} "
        f"(degraded input: {scores['input_psnr']:.2f} dB, {scores['input_ssim']:.4f}).\n"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="development data folder (cbsd68/, rain12/)")
    parser.add_argument("--runs", type=Path, help="folder with one training run per task (denoise/, derain/, ...)")
    parser.add_argument("--tasks", default=",".join(VALIDATION))
    parser.add_argument("--write", action="store_true", help="package the runs and update registry.json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    registry_path = PACKAGE / "hub" / REGISTRY_FILE
    registry = json.loads(registry_path.read_text())
    for task in args.tasks.split(","):
        if args.write:
            package(task, args.runs / task, args.data, registry)
            result = registry["tasks"][task]["scores"][0]
        else:
            weights = PACKAGE / "weights" / task
            if not weights.exists():
                print(f"{task}: no embedded checkpoint")
                continue
            result = score(task, args.data, weights)
        print(f"{task:8} {result['dataset']} ({result['images']} images, {result['channel']}): "
              f"PSNR {result['psnr']:.2f} dB, SSIM {result['ssim']:.4f}; "
              f"degraded input {result['input_psnr']:.2f} dB, {result['input_ssim']:.4f}")
    if args.write:
        registry_path.write_text(json.dumps(registry, indent=2) + "\n")


if __name__ == "__main__":
    main()
