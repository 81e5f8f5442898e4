"""What the default's choice costs: measuring a photo and probing it for rain and snow, against
restoring it with one checkpoint, at several photo sizes, in the same process.

    python benchmarks/default_overhead.py [--sizes 256,512,1024,2048] [--threads 1] [--repeats 3]

For each size, scikit-image's astronaut photo resized to it, with Gaussian noise of sigma 15, is
routed by the default (the classic measurements, then the derain and desnow checkpoints on the
probe crops, after `denoise` on them) and restored by `denoise` alone; both are timed after a
warm-up, the best of ``--repeats``. Prints seconds and the routing's time as a share of the
restoration's. Needs scikit-image (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from PIL import Image
from skimage import data

from restormixer_cli.api import load_restorer


def noisy_photo(size: int) -> torch.Tensor:
    """The astronaut photo as a (3, size, size) image in [0, 1] with noise of sigma 15, in 8 bits."""
    photo = np.asarray(Image.fromarray(data.astronaut()).resize((size, size), Image.Resampling.LANCZOS), np.float32)
    noisy = photo + np.random.default_rng(size).normal(0, 15, photo.shape)
    return torch.from_numpy(noisy.clip(0, 255).round().astype(np.float32) / 255).permute(2, 0, 1)


def best_seconds(run, repeats: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="256,512,1024,2048")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    default, denoise = load_restorer(device="cpu"), load_restorer("denoise", device="cpu")
    print("| photo | route | routing (measure + probe) | denoise alone | routing / denoise |")
    print("|---|---|---|---|---|")
    for size in map(int, args.sizes.split(",")):
        photo = noisy_photo(size)
        route = default.routed(photo)[1]
        routing = best_seconds(lambda: default.routed(photo), args.repeats)
        restoring = best_seconds(lambda: denoise.restore(photo), args.repeats)
        print(f"| {size}x{size} | {route} | {routing:.2f} s | {restoring:.2f} s | {routing / restoring:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
