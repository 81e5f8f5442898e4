"""Tiled inference throughput and peak memory.

    python benchmarks/inference_speed.py [--threads 2] [--memory-sizes 2048,4096] [--base-channel 32 --num-blocks 4,4,4]

1. Throughput: megapixels per second restoring a 1024x1024 image at the default (automatic) tile
   size, with the inference optimisations (BatchNorm folding, channels-last, inference mode) and,
   in the same process, without them, as a ratio.
2. Peak resident memory of `restore` on PNG files of each --memory-sizes side, each in a fresh
   process: first the peak after restoring one tile-sized image (model, runtime and activations),
   then the peak for the file. The growth should be the image buffers and nothing more.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from restormixer_cli.inference.engine import InferenceSettings, Restorer, auto_tile_size, prepare_model
from restormixer_cli.model import RestorMixer


def textured(size: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    base = np.stack([0.5 + 0.4 * np.sin(xx / (9 + c) + c) * np.cos(yy / 13.0) for c in range(3)], -1)
    return np.clip(base + rng.normal(0, 0.05, base.shape), 0, 1).astype(np.float32)


def build(config: dict) -> RestorMixer:
    torch.manual_seed(0)
    return RestorMixer(**config).eval()


def throughput(config: dict, threads: int) -> None:
    torch.set_num_threads(threads)
    image = torch.from_numpy(textured(1024)).permute(2, 0, 1)
    settings = InferenceSettings()
    tile = auto_tile_size(settings.device, settings.precision)
    runs = {
        "plain eval model": Restorer(build(config), settings),
        "optimised (default)": Restorer(prepare_model(build(config), settings), settings),
    }
    print(f"1024x1024, tile {tile} (auto), overlap {settings.overlap}, {threads} threads, model {config}")
    baseline = None
    for name, restorer in runs.items():
        restorer.restore(image[:, :256, :256])  # warm-up
        start = time.perf_counter()
        restorer.restore(image)
        elapsed = time.perf_counter() - start
        baseline = baseline or elapsed
        print(f"  {name:<22} {elapsed:7.2f} s  {1.048576 / elapsed:6.3f} MP/s  {baseline / elapsed:5.2f}x")


def memory_child(path: str, config: dict, threads: int) -> None:
    """Restore one file through the command-line pipeline; print RSS figures as JSON."""
    from restormixer_cli.inference.files import FileJob, FileRestorer, OutputOptions
    from restormixer_cli.io.discovery import InputFile

    torch.set_num_threads(threads)
    settings = InferenceSettings()
    restorer = Restorer(prepare_model(build(config), settings), settings)
    tile = auto_tile_size(settings.device, settings.precision)
    restorer.restore(torch.rand(3, tile, tile))  # one full tile: the model's own peak
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    source = Path(path)
    out = source.with_name("restored.png")
    start = time.perf_counter()
    FileRestorer(restorer, OutputOptions(existing="overwrite")).run(FileJob(InputFile(source, Path(source.name)), out))
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"before": before, "peak": peak, "seconds": elapsed, "tile": tile}))


def memory(sizes: list[int], config: dict, threads: int) -> None:
    print(f"peak resident memory of restore (fresh process per size, tile auto, {threads} threads)")
    print(f"  {'image':>11} {'one tile':>10} {'peak':>9} {'growth':>9} {'image buffers':>14} {'time':>8}")
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "input.png"
            Image.fromarray((textured(size) * 255).astype(np.uint8)).save(path)
            out = subprocess.run([sys.executable, __file__, "--memory-child", str(path), "--config", json.dumps(config),
                                  "--threads", str(threads)], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        mib = 2**20
        # float32 RGB input + float32 RGB output + weight plane + 8-bit decode/encode buffers
        buffers = size * size * (12 + 12 + 4 + 3 + 3)
        print(f"  {size:>5}x{size:<5} {r['before'] / mib:>6.0f} MiB {r['peak'] / mib:>5.0f} MiB "
              f"{(r['peak'] - r['before']) / mib:>5.0f} MiB {buffers / mib:>10.0f} MiB {r['seconds']:>7.1f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-sizes", default="2048,4096")
    parser.add_argument("--base-channel", type=int, default=32)
    parser.add_argument("--num-blocks", default="4,4,4")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, json.loads(args.config), args.threads)
        return
    config = {"base_channel": args.base_channel, "num_blocks": [int(b) for b in args.num_blocks.split(",")]}
    throughput(config, args.threads)
    if args.memory_sizes:
        memory([int(s) for s in args.memory_sizes.split(",")], config, args.threads)


if __name__ == "__main__":
    main()
