"""Video restoration: throughput in frames per second, and temporal stability (flicker).

    python benchmarks/video_speed.py [--task derain] [--size 128] [--frames 24] [--threads 2] [--batch-sizes 1,4]

A static scene (one clean frame, repeated) under fresh synthetic rain in every frame (the training
code's degradation) is written as a lossless FFV1 video and restored through the restore pipeline
(FileRestorer, as the command line runs it: decode, restore, H.264 encode at the default CRF).

1. Throughput: frames per second of the pipeline at each batch size, and of the engine alone on the
   same frames already in memory (the same process's baseline: the rest is decoding and encoding).
2. Temporal stability: the mean absolute difference between consecutive frames (0..255) of the
   restored video against the rainy input's, as a ratio, for the engine's frames (rounded to 8 bits)
   and for the written H.264 file. On a static scene the clean video's is 0, so every bit of it is
   flicker; the mean absolute error to the clean frame shows whether a steadier video is also a
   closer one.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from restormixer_cli.api import load_restorer
from restormixer_cli.inference.files import FileJob, FileRestorer, OutputOptions
from restormixer_cli.io.discovery import InputFile
from restormixer_cli.io.images import ImageData
from restormixer_cli.io.video import ClipInfo, Encoding, probe_clip, read_clip, write_clip
from restormixer_cli.training.degradations import make_degradation


def static_scene(size: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    base = np.stack([0.5 + 0.4 * np.sin(xx / (9 + c) + c) * np.cos(yy / 13.0) for c in range(3)], -1)
    return np.clip(base + rng.normal(0, 0.03, base.shape), 0, 1).astype(np.float32)


def rainy_video(path: Path, clean: np.ndarray, frames: int) -> None:
    """The clean frame under fresh rain in every frame, written losslessly at 24 fps."""
    rng, rain = np.random.default_rng(1), make_degradation("rain")
    size = clean.shape[0]
    info = ClipInfo("video", size, size, frames, frame_rate=Fraction(24))
    rainy = (ImageData(np.clip(rain(clean, rng), 0, 1).astype(np.float32)) for _ in range(frames))
    write_clip(path, info, rainy, Encoding(codec="ffv1"))


def levels(path: Path) -> np.ndarray:
    """(N, H, W, 3) float64 frames of a video on the 0..255 scale."""
    return np.stack([np.round(frame.pixels * 255.0) for frame in read_clip(path, probe_clip(path))]).astype(np.float64)


def flicker(frames: np.ndarray) -> float:
    """Mean absolute difference between consecutive frames."""
    return float(np.abs(np.diff(frames, axis=0)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="derain")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-sizes", default="1,4")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clean = static_scene(args.size)
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "rain.mkv"
        rainy_video(source, clean, args.frames)
        print(f"{args.task} checkpoint, {args.frames} frames of {args.size}x{args.size}, {args.threads} threads, CPU")
        print(f"{'batch':>5} {'engine fps':>11} {'pipeline fps':>13} {'pipeline/engine':>16}")
        rainy, output = levels(source), Path(scratch) / "restored.mkv"
        frames = torch.from_numpy(rainy / 255.0).float().permute(0, 3, 1, 2)
        for batch_size in map(int, args.batch_sizes.split(",")):
            restorer = load_restorer(task=args.task, device="cpu", batch_size=batch_size)
            restorer.restore_batch(frames[:batch_size])  # warm-up
            start = time.perf_counter()
            restored = torch.cat([restorer.restore_batch(frames[first : first + batch_size])
                                  for first in range(0, args.frames, batch_size)])
            engine = args.frames / (time.perf_counter() - start)
            job = FileJob(InputFile(source, Path(source.name)), output, clip=True)
            result = FileRestorer(restorer, OutputOptions(existing="overwrite")).run(job)
            assert result.status == "done", result.error
            print(f"{batch_size:>5} {engine:>11.2f} {result.fps:>13.2f} {result.fps / engine:>16.2f}")
        target = np.round(clean * 255.0)
        rows = {"rainy input": rainy, "restored frames": np.round(restored.permute(0, 2, 3, 1).numpy() * 255.0),
                "restored H.264": levels(output)}
        print(f"{'':>16} {'flicker':>8} {'error to clean':>15} {'flicker ratio':>14}")
        for name, video in rows.items():
            print(f"{name:>16} {flicker(video):>8.2f} {np.abs(video - target).mean():>15.2f} "
                  f"{flicker(video) / flicker(rainy):>14.3f}")


if __name__ == "__main__":
    main()
