"""Training step time for the full and the reduced configuration, fp32 against variants, as ratios.

    python benchmarks/training_speed.py [--configs full,reduced] [--patches 64,128] [--batch 8]
        [--warmup 3] [--steps 6] [--compile] [--only torch.compile] [--tiny]

For every configuration and patch size, each variant trains from the same weights on the same
fixed batches through the project's Trainer (AdamW, multi-scale L1 + FFT loss, EMA, gradient
clipping). The first ``--warmup`` steps of every variant are discarded: a process's first steps are
several times slower (compilation of the numba scan, allocator growth). The table gives seconds per
step after warm-up, training pixels per second and the ratio to the fp32 baseline measured in the
same process. ``--only`` keeps the named variants (by the first word of their name; the fp32
baseline always runs). ``--tiny`` uses a base-8 model for a quick smoke run.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from restormixer_cli.training.config import TrainConfig
from restormixer_cli.training.trainer import Trainer

CONFIGS = {
    "full": {"base_channel": 32, "num_blocks": [4, 4, 4]},
    "reduced": {"base_channel": 24, "num_blocks": [2, 2, 2]},
    "tiny": {"base_channel": 8, "num_blocks": [2, 2, 2]},
}


@dataclass(frozen=True)
class Variant:
    name: str
    precision: str = "fp32"
    prepare: Callable[[Trainer], None] = lambda trainer: None
    threads: int | None = None


def _torch_scan(trainer: Trainer) -> None:
    trainer.model.set_scan_backend("torch")


def _compiled(trainer: Trainer) -> None:
    # every attention block is the same code at another window size: each is a recompilation, and
    # past the default limit of 8 the rest would run uncompiled
    torch._dynamo.config.recompile_limit = 64
    trainer.net = torch.compile(trainer.model, dynamic=False)


def variants(with_compile: bool, with_torch_scan: bool, only: set[str] | None = None) -> list[Variant]:
    chosen = [
        Variant("fp32 (baseline)"),
        Variant("bf16 autocast", precision="bf16"),
        *([Variant("vectorised PyTorch scan", prepare=_torch_scan)] if with_torch_scan else []),
        Variant("1 thread", threads=1),
    ]
    if with_compile:
        chosen.append(Variant("torch.compile", prepare=_compiled))
    if only is not None:
        chosen = [v for v in chosen if v is chosen[0] or v.name.split()[0] in only]
    return chosen


@contextlib.contextmanager
def threads(count: int | None) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(count or previous)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def seconds_per_step(model_config: dict, patch: int, batch: int, variant: Variant, warmup: int, steps: int) -> float:
    config = TrainConfig(task="benchmark", train=[], patch=patch, batch=batch, steps=10**6, warmup=10,
                         precision=variant.precision, **model_config)
    generator = torch.Generator().manual_seed(0)
    batches = [(torch.rand(batch, 3, patch, patch, generator=generator),
                torch.rand(batch, 3, patch, patch, generator=generator)) for _ in range(2)]
    with tempfile.TemporaryDirectory() as run_dir, threads(variant.threads):
        torch.manual_seed(0)
        trainer = Trainer(config, Path(run_dir), torch.device("cpu"))
        variant.prepare(trainer)
        times = []
        for i in range(warmup + steps):
            start = time.perf_counter()
            trainer.train_step(*batches[i % 2])
            times.append(time.perf_counter() - start)
    return statistics.median(times[warmup:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="full,reduced")
    parser.add_argument("--patches", default="64,128")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--compile", action="store_true", help="also measure torch.compile (minutes of compilation)")
    parser.add_argument("--only", help="comma-separated variants to measure besides the baseline: bf16, "
                                           "vectorised, 1, torch.compile")
    parser.add_argument("--tiny", action="store_true", help="a base-8 model only, for a smoke run")
    parser.add_argument("--torch-scan-max-patch", type=int, default=64,
                        help="measure the PyTorch scan up to this patch size only: it holds every scan state in "
                             "memory (the full model at 128 px was killed at 24 GiB)")
    args = parser.parse_args()
    names = ["tiny"] if args.tiny else args.configs.split(",")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, "
          f"median of {args.steps} steps after {args.warmup} warm-up steps")
    print(f"{'config':8} {'patch':>5}  {'variant':26} {'s/step':>8} {'Mpx/s':>7} {'vs fp32':>8}")
    for name in names:
        for patch in (int(p) for p in args.patches.split(",")):
            baseline = None
            only = set(args.only.split(",")) if args.only else None
            for variant in variants(args.compile, patch <= args.torch_scan_max_patch, only):
                seconds = seconds_per_step(CONFIGS[name], patch, args.batch, variant, args.warmup, args.steps)
                baseline = baseline or seconds
                pixels = args.batch * patch * patch / seconds / 1e6
                print(f"{name:8} {patch:>5}  {variant.name:26} {seconds:8.3f} {pixels:7.3f} {baseline / seconds:7.2f}x",
                      flush=True)


if __name__ == "__main__":
    main()
