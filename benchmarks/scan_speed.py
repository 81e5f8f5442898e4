"""Full-model forward time per selective-scan backend, in one process, as ratios to the reference.

    python benchmarks/scan_speed.py [--size 256] [--threads 2] [--repeats 3]

Reports, for the default RestorMixer (base 32, blocks 4,4,4) on one SIZE x SIZE input: forward
seconds (best of --repeats; the reference runs once), seconds spent inside the scan, the scan's share,
and the speed-up over the exact sequential reference scan.
"""

from __future__ import annotations

import argparse
import time
from contextlib import contextmanager

import torch

import restormixer_cli.model.mamba as mamba_module
from restormixer_cli.model import RestorMixer
from restormixer_cli.scan import resolve_backend


@contextmanager
def scan_timer():
    """Accumulate wall time spent in the model's selective-scan calls."""
    original = mamba_module.selective_scan
    spent = [0.0]

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start

    mamba_module.selective_scan = timed
    try:
        yield spent
    finally:
        mamba_module.selective_scan = original


def measure(model: RestorMixer, x: torch.Tensor, backend: str, repeats: int) -> tuple[float, float]:
    model.set_scan_backend(backend)
    with torch.inference_mode():
        if repeats > 1:
            model(x)  # warm-up (compilation, allocator)
        best = (float("inf"), 0.0)
        for _ in range(repeats):
            with scan_timer() as spent:
                start = time.perf_counter()
                model(x)
                elapsed = time.perf_counter() - start
            best = min(best, (elapsed, spent[0]))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default="reference,torch,auto")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = RestorMixer().eval()
    x = torch.rand(1, 3, args.size, args.size)
    print(f"RestorMixer default config, input 1x3x{args.size}x{args.size}, {args.threads} threads, "
          f"auto = {resolve_backend('auto', 'cpu')}")
    print(f"{'backend':<10} {'forward s':>10} {'scan s':>8} {'scan %':>7} {'speed-up':>9}")
    baseline = None
    for backend in args.backends.split(","):
        repeats = 1 if backend == "reference" else args.repeats
        elapsed, in_scan = measure(model, x, backend, repeats)
        baseline = baseline or elapsed
        print(f"{backend:<10} {elapsed:>10.3f} {in_scan:>8.3f} {100 * in_scan / elapsed:>6.1f}% "
              f"{baseline / elapsed:>8.2f}x", flush=True)


if __name__ == "__main__":
    main()
