"""Do the shipped checkpoints restore the same when their weights are stored in fp16?

    git archive 5581fc8 restormixer_cli/weights | tar -x -C FP32      # the fp32 originals
    python benchmarks/fp16_weights.py --data DATA --originals FP32/restormixer_cli/weights [--tasks derain,sr]
        [--limit N]

Each fp32 checkpoint (``ORIGINALS/<task>/``) is stored again in fp16 as export does
(``half_precision``; loading reads it back as fp32), and both are scored on the task's validation
sets through the user's path (``scripts/release_checkpoints.py``: ``degrade``, ``restore --gt``,
``eval``), every image of each set or its first ``--limit`` images (by name). Prints both mean
PSNR/SSIM per set and their differences. The embedded checkpoints are
stored in fp16 since this was measured (results in BENCHMARKS.md); commit 5581fc8 has them in fp32.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from restormixer_cli.hub.layout import CONFIG_NAME, WEIGHTS_NAME
from restormixer_cli.hub.registry import load_registry
from restormixer_cli.training.export import half_precision

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from release_checkpoints import score_all  # noqa: E402


def fp16_copy(folder: Path, target: Path) -> Path:
    """``folder``'s checkpoint with its weights stored in fp16, in ``target``; SystemExit if they already are."""
    weights = load_file(folder / WEIGHTS_NAME)
    if any(tensor.dtype == torch.float16 for tensor in weights.values()):
        sys.exit(f"{folder}: the weights are stored in fp16 already; give the fp32 originals")
    target.mkdir()
    save_file(half_precision(weights), target / WEIGHTS_NAME)
    shutil.copy(folder / CONFIG_NAME, target / CONFIG_NAME)
    return target


def first_images(data: Path, folder: str, count: int, into: Path) -> None:
    """Links to the first ``count`` images of ``data/folder`` (of both halves of a paired folder) in ``into/folder``."""
    source = data / folder
    halves = ["input", "target"] if (source / "input").is_dir() else [""]
    names = sorted(p.name for p in (source / halves[0]).iterdir() if p.is_file())[:count]
    for half in halves:
        (into / folder / half).mkdir(parents=True, exist_ok=True)
        for name in names:
            (into / folder / half / name).symlink_to(source / half / name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="development data folder (cbsd68/, rain12/, ...)")
    registry = load_registry()
    parser.add_argument("--tasks", default=",".join(t for t, entry in registry.items() if entry.validation))
    parser.add_argument("--originals", type=Path, required=True, help="a folder of fp32 checkpoints, one per task")
    parser.add_argument("--limit", type=int, help="score the first N images of each set only")
    args = parser.parse_args()
    worst = 0.0
    for task in args.tasks.split(","):
        entry = registry[task]
        fp32 = args.originals / task
        with tempfile.TemporaryDirectory() as scratch:
            fp16 = fp16_copy(fp32, Path(scratch) / task)
            data = args.data
            if args.limit:
                data = Path(scratch) / "data"
                for folder in dict.fromkeys(vset.folder for vset in entry.validation):
                    first_images(args.data, folder, args.limit, data)
            sizes = [(folder / WEIGHTS_NAME).stat().st_size / 2**20 for folder in (fp32, fp16)]
            print(f"{task}: {sizes[0]:.2f} MiB in fp32, {sizes[1]:.2f} MiB in fp16", flush=True)
            for full, half in zip(score_all(entry, data, fp32), score_all(entry, data, fp16)):
                change = half["psnr"] - full["psnr"]
                worst = max(worst, abs(change))
                print(f"  {full['dataset']} ({full['images']} images, {full['channel']}): "
                      f"fp32 {full['psnr']:.4f} dB / {full['ssim']:.4f}, fp16 {half['psnr']:.4f} dB / "
                      f"{half['ssim']:.4f}, difference {change:+.4f} dB / {half['ssim'] - full['ssim']:+.4f}",
                      flush=True)
    print(f"largest PSNR difference: {worst:.4f} dB")


if __name__ == "__main__":
    main()
