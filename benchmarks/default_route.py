"""What the default (no --task) does to photos with one degradation, mixtures, and none.

Clean photos (e.g. the CBSD68 images) are degraded by each case's synthesis with a fixed seed and
stored in 8 bits, as a file would be; then the degraded input, the default (the degradation
route picked from the photo's measurements), every specialised checkpoint and the all-in-one checkpoint are scored against
the clean photo (RGB PSNR/SSIM, as the denoising benchmarks score). Prints a table per case, how
often each route was taken, and the targets: the default within 0.5 dB of the best single checkpoint
on single degradations, ahead of every single checkpoint on mixtures, clean photos at 40 dB or
more, and no case worse than its input::

    python benchmarks/default_route.py --clean DIR [--limit 12] [--crop 256] [--cases rain,snow] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import torch

from restormixer_cli.api import load_restorer
from restormixer_cli.metrics import eight_bit_levels, psnr, ssim
from restormixer_cli.training.data import clean_files, load_training_images
from restormixer_cli.training.degradations import make_degradation

CHECKPOINTS = ("denoise", "derain", "desnow", "all-in-one")
SINGLE = ("noise:15", "noise:25", "noise:50", "camera-noise", "rain", "snow", "haze", "low-light", "jpeg")
MIXTURES = ("rain+noise:15", "snow+camera-noise", "haze+noise:15", "rain+jpeg", "noise:25+jpeg", "mixed:0")
CASES = ("none", *SINGLE, *MIXTURES)


def _central(image: np.ndarray, size: int) -> np.ndarray:
    """The central ``size`` x ``size`` crop of an image (the whole image when ``size`` is 0)."""
    if not size:
        return image
    top, left = max(0, (image.shape[0] - size) // 2), max(0, (image.shape[1] - size) // 2)
    return image[top : top + size, left : left + size]


def _scores(output: torch.Tensor, clean: torch.Tensor) -> tuple[float, float]:
    restored = eight_bit_levels(output.permute(1, 2, 0).numpy())
    return psnr(restored, clean, 0, False), ssim(restored, clean, 0, False)


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    images = [_central(image, args.crop) for image in load_training_images([args.clean])[1][: args.limit]]
    names = [p.stem for p in clean_files(args.clean)][: args.limit]
    restorers = {task: load_restorer(task, device="cpu") for task in CHECKPOINTS}
    default = load_restorer(device="cpu")
    results: dict = {}
    for case in args.cases:
        degrade = make_degradation(case)
        table, routes = defaultdict(list), Counter()
        for i, (name, image) in enumerate(zip(names, images)):
            clean = image.astype(np.float32) / 255
            degraded = eight_bit_levels(degrade(clean, np.random.default_rng([0, i]))) / 255
            target = eight_bit_levels(clean)
            table["input"].append(_scores(degraded, target))
            outputs = {task: restorer.restore(degraded) for task, restorer in restorers.items()}
            for task, output in outputs.items():
                table[task].append(_scores(output, target))
            chain, route = default.routed(degraded)
            routes[" then ".join(route.tasks) or "unchanged"] += 1
            single = len(route.tasks) == 1 and route.tasks[0] in outputs
            table["default"].append(_scores(outputs[route.tasks[0]] if single else chain.restore(degraded), target))
        results[case] = {
            "scores": {k: [float(np.mean([p for p, _ in v])), float(np.mean([s for _, s in v]))] for k, v in table.items()},
            "routes": dict(routes),
        }
        _print_case(case, results[case])
    return results


def _print_case(case: str, result: dict) -> None:
    row = " | ".join(f"{p:.2f} / {s:.3f}" for p, s in result["scores"].values())
    routes = ", ".join(f"{k} x{v}" for k, v in result["routes"].items())
    print(f"| {case} | {row} | {routes} |", flush=True)


def verdict(results: dict) -> list[str]:
    """The targets that are not met, one line each (none: all met)."""
    misses = []
    for case, result in results.items():
        scores = {k: v[0] for k, v in result["scores"].items()}
        best = max(scores[t] for t in CHECKPOINTS)
        if case != "none" and scores["default"] < scores["input"] - 0.01:
            misses.append(f"{case}: the default ({scores['default']:.2f}) is worse than the input ({scores['input']:.2f})")
        if case in SINGLE and scores["default"] < best - 0.5:
            misses.append(f"{case}: the default ({scores['default']:.2f}) is more than 0.5 dB below the best checkpoint ({best:.2f})")
        if case in MIXTURES and scores["default"] <= best:
            misses.append(f"{case}: the default ({scores['default']:.2f}) does not beat every checkpoint ({best:.2f})")
        if case == "none" and scores["default"] < 40:
            misses.append(f"clean photos: the default changes them ({scores['default']:.2f} dB)")
    return misses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clean", type=Path, required=True, help="clean photos (e.g. the CBSD68 images)")
    parser.add_argument("--limit", type=int, default=12)
    parser.add_argument("--crop", type=int, default=256, help="score the central crop of this size (0: whole photos)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cases", type=lambda text: text.split(","), default=list(CASES),
                        help=f"comma-separated cases to run (default: all of {','.join(CASES)})")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    for case in args.cases:
        try:
            make_degradation(case)
        except ValueError as exc:
            parser.error(str(exc))
    print(f"| case | {' | '.join(['input', *CHECKPOINTS, 'default'])} | routes |")
    print("|" + "---|" * (len(CHECKPOINTS) + 4))
    results = run(args)
    misses = verdict(results)
    print("\n".join(misses) if misses else "all targets met")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
