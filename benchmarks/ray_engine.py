"""The Ray engine against the local engine on the same images, and a Ray worker's peak memory.

    python benchmarks/ray_engine.py [--images 24] [--size 256] [--task denoise] [--memory-sizes 512x512,4000x3000]

1. Throughput: the same --images PNGs of --size pixels restored by the local engine (this
   process, all cores' threads) and by the Ray engine with 1 and 2 workers (one thread each, on
   a local Ray instance started once beforehand), each timed from the call to the last result
   (for Ray: actor start-up and model loading included), as ratios against the local engine.
2. Memory: the peak resident memory (VmHWM) of the one Ray worker (a fresh one each time)
   restoring one image of each --memory-sizes (WIDTHxHEIGHT), tiled as usual: the first, one
   CPU tile (512 px), gives the model's own peak; the growth beyond it should be the image buffers.
   --images 0 skips the throughput part.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import ray
import torch
from PIL import Image

from restormixer_cli.api import load_restorer
from restormixer_cli.inference.files import FileRestorer, OutputOptions, restore_jobs
from restormixer_cli.inference.plan import plan_run
from restormixer_cli.inference.ray_engine import RayOptions, restore_on_ray
from restormixer_cli.inference.spec import RestorerSpec

MIB = 2**20


def textured(height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([0.5 + 0.4 * np.sin(xx / (9 + c) + c) * np.cos(yy / 13.0) for c in range(3)], -1)
    noisy = np.clip(base + rng.normal(0, 0.1, base.shape), 0, 1)
    return (noisy * 255).astype(np.uint8)


def write_images(folder: Path, count: int, height: int, width: int) -> None:
    folder.mkdir(parents=True)
    for i in range(count):
        Image.fromarray(textured(height, width, i)).save(folder / f"{i:03d}.png")


def timed_local(source: Path, out: Path, task: str) -> float:
    options = OutputOptions()
    started = time.perf_counter()
    run = restore_jobs(plan_run([source], out, options), FileRestorer(load_restorer(task, device="cpu"), options))
    assert all(r.status == "done" for r in run.results)
    return time.perf_counter() - started


def timed_ray(source: Path, out: Path, task: str, workers: int) -> float:
    options = OutputOptions()
    started = time.perf_counter()
    run = restore_on_ray(plan_run([source], out, options), RestorerSpec(task, device="cpu"), options,
                         RayOptions(workers=workers))
    assert all(r.status == "done" for r in run.results)
    return time.perf_counter() - started


class WorkerPeak:
    """The highest VmHWM (peak resident memory) of this process's Ray restore workers while running."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            for child in psutil.Process().children(recursive=True):
                try:
                    if "RestoreWorker" in " ".join(child.cmdline()):
                        status = Path(f"/proc/{child.pid}/status").read_text()
                        hwm = next(line for line in status.splitlines() if line.startswith("VmHWM"))
                        self.peak = max(self.peak, int(hwm.split()[1]) * 1024)
                except (psutil.Error, OSError, StopIteration):
                    pass
            time.sleep(0.05)

    def __enter__(self) -> WorkerPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def throughput(tmp: Path, count: int, size: int, task: str) -> None:
    source = tmp / "in"
    write_images(source, count, size, size)
    local = timed_local(source, tmp / "local", task)
    print(f"{count} images of {size}x{size}, task {task}, {torch.get_num_threads()} threads locally, "
          f"1 thread per Ray worker")
    print(f"  {'engine':<16} {'seconds':>8} {'images/s':>9} {'vs local':>9}")
    print(f"  {'local':<16} {local:8.1f} {count / local:9.3f} {1.0:8.2f}x")
    for workers in (1, 2):
        seconds = timed_ray(source, tmp / f"ray{workers}", task, workers)
        print(f"  {f'ray, {workers} worker(s)':<16} {seconds:8.1f} {count / seconds:9.3f} {local / seconds:8.2f}x")


def memory(tmp: Path, sizes: list[tuple[int, int]], task: str) -> None:
    print(f"peak resident memory (VmHWM) of one Ray worker, tile auto, task {task}")
    for width, height in sizes:
        source = tmp / f"mem{height}x{width}"
        write_images(source, 1, height, width)
        with WorkerPeak() as watch:
            seconds = timed_ray(source, tmp / f"memout{height}x{width}", task, workers=1)
        buffers = height * width * (12 + 12 + 4 + 3 + 3)  # float32 in + out + blend weights + 8-bit decode/encode
        print(f"  {width:>5}x{height:<5} peak {watch.peak / MIB:6.0f} MiB  image buffers {buffers / MIB:5.0f} MiB  "
              f"{seconds:6.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--task", default="denoise")
    parser.add_argument("--memory-sizes", default="512x512,4000x3000", help="WIDTHxHEIGHT,...; empty: skip")
    args = parser.parse_args()
    started = time.perf_counter()
    ray.init(num_cpus=2, object_store_memory=200 * MIB, include_dashboard=False, logging_level="WARNING")
    print(f"ray.init (local instance, 2 CPUs): {time.perf_counter() - started:.1f} s; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        if args.images:
            throughput(Path(tmp), args.images, args.size, args.task)
        if args.memory_sizes:
            sizes = [tuple(int(v) for v in size.split("x")) for size in args.memory_sizes.split(",")]
            memory(Path(tmp), sizes, args.task)
    ray.shutdown()
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
