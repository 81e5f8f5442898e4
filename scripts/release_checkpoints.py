"""Validate the project's checkpoints on the development data and (optionally) package them.

    # score the embedded checkpoints (what docs/checkpoints.md quotes):
    python scripts/release_checkpoints.py --data DATA

    # package training runs as the embedded checkpoints and record their scores in the registry:
    python scripts/release_checkpoints.py --data DATA --runs RUNS_DIR --write

    # score other weights (a training export, an older release) the same way:
    python scripts/release_checkpoints.py --data DATA --tasks derain --weights derain=OLD_FOLDER

Scores come from the user's path: `restormixer degrade` writes the synthetic validation pairs as
8-bit PNGs (fixed seed), `restormixer restore --gt` restores and scores them, and `restormixer eval`
scores the degraded inputs. Paired sets (Rain12, real camera noise) are used as they are.
Super-resolution sets (``downscale:S``) are restored with ``--scale S``, scored with S border pixels
cropped, and compared with bicubic upscaling (the model's own input) instead of the input.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from restormixer_cli.hub.layout import sha256_of
from restormixer_cli.hub.registry import REGISTRY_FILE, Task, ValidationSet, load_registry
from restormixer_cli.training.config import TrainConfig
from restormixer_cli.training.data import write_bicubic
from restormixer_cli.training.export import dataset_name, export_run
from restormixer_cli.training.trainer import read_metrics

PACKAGE = Path(__file__).resolve().parent.parent / "restormixer_cli"
REPO_PREFIX = "restormixer/restormixer-"


def _cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "restormixer_cli", *args], check=True, stdout=subprocess.DEVNULL)


def _mean(report: Path, key: str) -> dict:
    return json.loads(report.read_text())[key]


def score(vset: ValidationSet, y_channel: bool, data: Path, weights: Path, work: Path) -> dict:
    """PSNR/SSIM of the restored 8-bit outputs and of the degraded inputs (bicubic upscaling for
    super-resolution), through the CLI."""
    pairs = data / vset.folder
    if vset.degradation:
        pairs = work / "pairs"
        _cli("degrade", str(data / vset.folder), "--degradation", vset.degradation, "--seed", "0", "-o", str(pairs),
             "--overwrite")
    scoring = (["--y-channel"] if y_channel else []) + (["--crop-border", str(vset.scale)] if vset.scale > 1 else [])
    upscaling = ["--scale", str(vset.scale)] if vset.scale > 1 else []
    baseline = write_bicubic(pairs / "input", vset.scale, work / "bicubic") if vset.scale > 1 else pairs / "input"
    restored = work / "restored"
    _cli("restore", str(pairs / "input"), "-o", str(restored), "--weights", str(weights), "--gt", str(pairs / "target"),
         "--overwrite", "--device", "cpu", "--quiet", "--json", str(work / "restore.json"), *upscaling, *scoring)
    _cli("eval", "--pred", str(baseline), "--gt", str(pairs / "target"), "--quiet",
         "--json", str(work / "input.json"), *scoring)
    restored_mean, input_mean = _mean(work / "restore.json", "mean"), _mean(work / "input.json", "mean")
    return {"dataset": vset.dataset, "images": restored_mean["count"], "channel": "Y" if y_channel else "RGB",
            "baseline": "bicubic" if vset.scale > 1 else "degraded input",
            "psnr": _rounded(restored_mean["psnr"]), "ssim": round(restored_mean["ssim"], 4),
            "input_psnr": _rounded(input_mean["psnr"]), "input_ssim": round(input_mean["ssim"], 4)}


def _rounded(psnr: float | str) -> float | None:
    """A mean PSNR for the registry; None when infinite (inputs identical to their targets: the ``none`` set)."""
    return None if float(psnr) == float("inf") else round(float(psnr), 4)


def score_all(task: Task, data: Path, weights: Path) -> list[dict]:
    results = []
    for vset in task.validation:
        with tempfile.TemporaryDirectory() as work:
            results.append(score(vset, task.y_channel, data, weights, Path(work)))
    return results


def training_record(run: Path, previous: dict) -> dict:
    """What the run did; a run that started from the shipped checkpoint (``init``) adds to its record."""
    config = TrainConfig.load(run / "config.json")
    steps = [r for r in read_metrics(run) if "loss" in r]
    hours = sum(r["sec_per_step"] for r in steps) / 3600
    degradation = config.synthesis
    record = {
        "summary": f"{steps[-1]['step']} steps, batch {config.batch} x {config.patch}px, {hours:.1f} h of training on a 2-core CPU",
        "model": f"base_channel {config.base_channel}, blocks {config.num_blocks} (the paper's is 32, [4, 4, 4])",
        "data": [dataset_name(p) for p in config.train],
        "degradation": degradation,
        "steps": steps[-1]["step"],
        "batch": config.batch,
        "patch": config.patch,
        "lr": config.lr,
        "ema": config.ema,
        "hardware": "a 2-core x86-64 CPU, at times shared with another training run",
        "hours": round(hours, 2),
    }
    if config.init and not previous:  # started from another task's weights
        record["summary"] += f", starting from the {Path(config.init).parent.name} checkpoint's weights"
    elif config.init:
        earlier = re.sub(r"^\d+ steps in all: ", "", previous["summary"])  # one total, not one per round
        record["summary"] = (f"{previous['steps'] + record['steps']} steps in all: {earlier}, then "
                             f"fine-tuned for {record['steps']} steps ({degradation}, {hours:.1f} h)")
        record.update(fine_tuned_from=previous, steps=previous["steps"] + record["steps"],
                      hours=round(previous["hours"] + hours, 2))
    return record


def package(task: str, run: Path, data: Path, registry: dict) -> list[dict]:
    target = PACKAGE / "weights" / task
    export_run(run, target, overwrite=True)
    weights = target / "model.safetensors"
    config = json.loads((target / "config.json").read_text())
    scores = score_all(load_registry()[task], data, target)
    append_to_card(target / "README.md", scores)
    registry["tasks"][task].update(
        available=True, repo_id=REPO_PREFIX + task, filename="model.safetensors", revision="main",
        sha256=sha256_of(weights), published=False, embedded=task, size_bytes=weights.stat().st_size,
        config=config, training=training_record(run, registry["tasks"][task]["training"]), scores=scores,
        note="hub repository not yet published; the embedded copy is used",
    )
    return scores


def _shown_psnr(psnr: float | None) -> str:
    return "identical" if psnr is None else f"{psnr:.2f} dB"


def append_to_card(card: Path, scores: list[dict]) -> None:
    lines = [f"- {s['dataset']} ({s['images']} images, {s['channel']}, 8-bit files, `restormixer restore --gt`): "
             f"PSNR {s['psnr']:.2f} dB, SSIM {s['ssim']:.4f} ({s['baseline']}: "
             f"{_shown_psnr(s['input_psnr'])}, "
             f"{s['input_ssim']:.4f})" for s in scores]
    card.write_text(card.read_text() + "\n## Full validation\n\n" + "\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="development data folder (cbsd68/, rain12/, ...)")
    parser.add_argument("--runs", type=Path, help="folder with one training run per task (denoise/, derain/, ...)")
    tasks = load_registry()
    parser.add_argument("--tasks", default=",".join(t for t, entry in tasks.items() if entry.validation))
    parser.add_argument("--weights", action="append", default=[], metavar="TASK=PATH",
                        help="score these weights for TASK instead of the embedded ones")
    parser.add_argument("--write", action="store_true", help="package the runs and update registry.json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    registry_path = PACKAGE / "hub" / REGISTRY_FILE
    registry = json.loads(registry_path.read_text())
    chosen = dict(item.split("=", 1) for item in args.weights)
    for task in args.tasks.split(","):
        if args.write:
            results = package(task, args.runs / task, args.data, registry)
        else:
            weights = Path(chosen.get(task, PACKAGE / "weights" / task))
            if not weights.exists():
                print(f"{task}: no checkpoint at {weights}")
                continue
            results = score_all(tasks[task], args.data, weights)
        for r in results:
            print(f"{task:8} {r['dataset']} ({r['images']} images, {r['channel']}): PSNR {r['psnr']:.2f} dB, "
                  f"SSIM {r['ssim']:.4f}; {r['baseline']} {_shown_psnr(r['input_psnr'])}, {r['input_ssim']:.4f}")
    if args.write:
        registry_path.write_text(json.dumps(registry, indent=2) + "\n")


if __name__ == "__main__":
    main()
