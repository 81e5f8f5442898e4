"""The denoise checkpoint against what a user could run instead: CBM3D, OpenCV's non-local means and
scikit-image's total-variation filter, side by side, with CPU seconds per megapixel.

Two kinds of test images:

* clean photos (e.g. CBSD68) with white Gaussian noise of each ``--sigmas`` (seed 0 per image), saved
  in 8 bits as a file would be. CBM3D is given the true sigma, as its authors evaluate it; the
  non-local means strength and the total-variation weight are tuned per sigma on the same images
  (the best of a small grid), which is what a careful user would do;
* real camera noise, a paired folder (``input/``, ``target/``, e.g. the CC pairs): each classic
  method gets the one parameter (CBM3D's sigma, the filter strength, the weight) that is best on
  these pairs, again the best of a grid.

The checkpoint is blind: it gets no parameter. RGB PSNR/SSIM on 8-bit outputs. Needs the ``bench``
extra (``bm3d`` is free for non-commercial use only)::

    python benchmarks/denoise_classic.py --clean CBSD68_DIR --real CC_DIR [--limit N] [--json out.json]

After a new checkpoint, ``--checkpoint-only`` rescores it alone.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from restormixer_cli.api import load_restorer
from restormixer_cli.io.formats import quantize
from restormixer_cli.metrics import eight_bit_levels, psnr, ssim
from restormixer_cli.training.data import clean_files, load_training_images, paired_files
from restormixer_cli.io.images import read_rgb

Denoiser = Callable[[np.ndarray, float], np.ndarray]  # (H, W, 3) float in [0, 1], parameter -> same


def cbm3d(noisy: np.ndarray, sigma: float) -> np.ndarray:
    import bm3d

    return bm3d.bm3d_rgb(noisy, sigma / 255)


def non_local_means(noisy: np.ndarray, strength: float) -> np.ndarray:
    import cv2

    out = cv2.fastNlMeansDenoisingColored(quantize(noisy), None, strength, strength, 7, 21)
    return out.astype(np.float32) / 255


def total_variation(noisy: np.ndarray, weight: float) -> np.ndarray:
    from skimage.restoration import denoise_tv_chambolle

    return denoise_tv_chambolle(noisy, weight=weight, channel_axis=-1)


#: Each classic method with its parameter grid: for Gaussian noise as multiples of sigma, for real noise absolute.
CLASSIC: dict[str, tuple[Denoiser, tuple[float, ...], tuple[float, ...]]] = {
    "CBM3D": (cbm3d, (1.0,), (4, 6, 8, 10, 13, 16, 20)),
    "OpenCV non-local means": (non_local_means, (0.4, 0.6, 0.8, 1.0), (3, 5, 7, 9, 12)),
    "scikit-image TV": (total_variation, (0.002, 0.003, 0.004, 0.006), (0.02, 0.04, 0.06, 0.08, 0.12)),
}


def _score(output: np.ndarray, clean: np.ndarray) -> tuple[float, float]:
    a, b = eight_bit_levels(output), eight_bit_levels(clean)
    return psnr(a, b, 0, False), ssim(a, b, 0, False)


def _run(pairs: list[tuple[np.ndarray, np.ndarray]], denoise: Callable[[np.ndarray], np.ndarray]) -> dict:
    """Mean PSNR/SSIM over ``pairs`` of (noisy, clean), and CPU seconds per megapixel."""
    scores, cpu, pixels = [], 0.0, 0
    for noisy, clean in pairs:
        started = time.process_time()
        output = np.clip(denoise(noisy), 0, 1)
        cpu += time.process_time() - started
        pixels += noisy.shape[0] * noisy.shape[1]
        scores.append(_score(output, clean))
    return {"psnr": float(np.mean([p for p, _ in scores])), "ssim": float(np.mean([s for _, s in scores])),
            "cpu_s_per_mp": cpu / (pixels / 1e6)}


def compare(pairs: list[tuple[np.ndarray, np.ndarray]], sigma: float | None, classic: bool = True) -> dict:
    """Every method on ``pairs`` (the classic ones only if ``classic``); a classic method's parameter
    is the best of its grid (scaled by ``sigma`` for Gaussian noise, absolute for real noise when
    ``sigma`` is None)."""
    restorer = load_restorer("denoise", device="cpu")
    results = {"noisy input": _run(pairs, lambda x: x),
               "restormixer denoise (blind)": _run(pairs, lambda x: restorer(x))}
    for name, (method, relative, absolute) in CLASSIC.items() if classic else ():
        grid = [sigma * r for r in relative] if sigma else list(absolute)
        tried = {p: _run(pairs, lambda x, p=p: method(x, p)) for p in grid}
        best = max(tried, key=lambda p: tried[p]["psnr"])
        results[name] = {**tried[best], "parameter": best}
    return results


def gaussian_pairs(folder: Path, sigma: float, limit: int) -> list[tuple[np.ndarray, np.ndarray]]:
    pairs = []
    for i, image in enumerate(load_training_images([folder])[1][:limit]):
        clean = image.astype(np.float32) / 255
        noisy = clean + np.random.default_rng([0, i]).normal(0, sigma / 255, clean.shape).astype(np.float32)
        pairs.append((quantize(noisy).astype(np.float32) / 255, clean))
    return pairs


def real_pairs(folder: Path, limit: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(read_rgb(a).astype(np.float32) / 255, read_rgb(b).astype(np.float32) / 255)
            for a, b in paired_files(folder)[:limit]]


def _print(title: str, results: dict) -> None:
    print(f"\n{title}\n\n| method | PSNR | SSIM | CPU s / MP | parameter |\n|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['cpu_s_per_mp']:.1f} | {r.get('parameter', '')} |",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clean", type=Path, help="clean photos for Gaussian noise (e.g. CBSD68)")
    parser.add_argument("--real", type=Path, help="a paired folder of real noisy photos (input/, target/)")
    parser.add_argument("--sigmas", default="15,25,50")
    parser.add_argument("--limit", type=int, default=0, help="images per set (0: all)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--checkpoint-only", action="store_true",
                        help="score the checkpoint alone (the classic methods' scores do not change with it)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    limit = args.limit or None
    report = {}
    if args.clean:
        print(f"{len(clean_files(args.clean)[:limit])} images of {args.clean.name}")
        for sigma in map(float, args.sigmas.split(",")):
            report[f"gaussian {sigma:g}"] = compare(gaussian_pairs(args.clean, sigma, limit), sigma,
                                                     not args.checkpoint_only)
            _print(f"Gaussian noise, sigma {sigma:g}", report[f"gaussian {sigma:g}"])
    if args.real:
        report["real"] = compare(real_pairs(args.real, limit), None, not args.checkpoint_only)
        _print(f"Real camera noise, {args.real.name}", report["real"])
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
