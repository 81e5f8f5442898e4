"""Check and measure the GPU path: CUDA tests, scan kernels, fp32/fp16/bf16 speed, quality and memory.

Made for a GPU machine that has PyTorch, Triton and the project's other needs except pypng (no
mamba-ssm needed), but no network; it receives the checkout plus the carried (git-ignored) wheel
folder and returns one file:

    # here, once: the wheel the machine lacks (the same folder scripts/gpu_train.py uses)
    pip download --no-deps --only-binary=:all: -d .gpu_pack/wheels pypng

    # there, from the checkout's root (under 8 minutes on one GPU); the summary lands in OUT
    pip install --no-index --no-deps --target /tmp/site .gpu_pack/wheels/*.whl
    PYTHONPATH=/tmp/site:. python3 scripts/gpu_check.py --out OUT

It runs, each part on its own so that one failure leaves the others' results:

1. the tests marked ``cuda`` (pytest -m cuda): the Triton scan against the reference on CUDA, the
   engine on CUDA against the CPU, fp16/bf16 against fp32, the out-of-memory retry;
2. selective-scan speed per backend (triton, also at other chunk lengths; torch; mamba-ssm when it
   imports) at the sizes of a 1024-px tile's first stage (forward) and of a training batch
   (forward and backward), with each one's deviation from the PyTorch scan;
3. full-model throughput (paper configuration) in MP/s for fp32, fp16 and bf16 at 1024x1024 (one
   tile) and 4096x4096 (automatic tiles), peak device memory, and channels-last against the default;
4. PSNR of fp16 and bf16 outputs against fp32 (and against the clean images) for the shipped
   denoise checkpoint on the sample photos with Gaussian noise (sigma 25);
5. the out-of-memory retry: a whole 2048x2048 image under a per-process memory cap of a few GiB.

It writes ``OUT/summary.json``. ``--dry-run`` does the same with a tiny model, tiny sizes and the
PyTorch scan on the CPU, to test the script without a GPU (the test suite does).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from restormixer_cli.hub.registry import get_task
from restormixer_cli.inference.engine import InferenceSettings, Restorer, prepare_model
from restormixer_cli.io.formats import quantize
from restormixer_cli.metrics.quality import psnr
from restormixer_cli.model import RestorMixer
from restormixer_cli.model.checkpoint import load_weights_file
from restormixer_cli.model.restormixer import build_model
from restormixer_cli.samples import load_sample_photos
from restormixer_cli.scan import ENV_VAR, load_backend, resolve_backend
from restormixer_cli.training.degradations import gaussian_noise

ROOT = Path(__file__).resolve().parent.parent
#: Where the tests marked ``cuda`` live (listed, so that no other test module needs to import there).
CUDA_TESTS = ("tests/test_triton_scan.py", "tests/test_cuda.py")
PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
MiB = 2**20


@dataclass(frozen=True)
class Plan:
    """What to run: the real sizes on a GPU, or tiny ones on the CPU (``--dry-run``)."""

    device: torch.device
    model_config: dict
    sizes: tuple[int, int]  # one tile, then a tiled image
    big_tile: int | None  # None: automatic
    scan_forward: tuple[int, int, int, int]  # batch, channels, groups, length
    scan_training: tuple[int, int, int, int]
    photo_crop: int | None
    oom_image: int
    oom_headroom_mib: int
    repeats: int  # timed runs of a tile-sized image (their median counts)

    @classmethod
    def make(cls, dry_run: bool) -> Plan:
        if dry_run:
            return cls(device=torch.device("cpu"), model_config=dict(base_channel=8, num_blocks=[2, 2, 2]),
                       sizes=(64, 128), big_tile=64, scan_forward=(1, 8, 1, 256), scan_training=(2, 8, 2, 64),
                       photo_crop=64, oom_image=128, oom_headroom_mib=64, repeats=1)
        return cls(device=torch.device("cuda"), model_config={}, sizes=(1024, 4096), big_tile=None,
                   scan_forward=(1, 64, 1, 1024 * 1024), scan_training=(16, 128, 2, 128 * 128),
                   photo_crop=None, oom_image=2048, oom_headroom_mib=3072, repeats=3)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median_seconds(fn: Callable[[], object], device: torch.device, repeats: int, warm_up: bool = True) -> float:
    """Median wall time of ``fn``, by default after one warm-up call (compilation, autotuning, allocator)."""
    if warm_up:
        fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_mib(device: torch.device) -> float | None:
    return round(torch.cuda.max_memory_allocated(device) / MiB, 1) if device.type == "cuda" else None


def environment(plan: Plan) -> dict:
    """Versions, the device and the scan backend the model uses there."""
    report = {"python": platform.python_version(), "torch": torch.__version__, "device": str(plan.device),
              "scan_backend": resolve_backend(None, plan.device),
              "mamba_ssm": load_backend("mamba") is not None}
    try:
        import triton

        report["triton"] = triton.__version__
    except ImportError:
        report["triton"] = None
    if plan.device.type == "cuda":
        props = torch.cuda.get_device_properties(plan.device)
        report.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                      cuda=torch.version.cuda, cudnn_tf32=torch.backends.cudnn.allow_tf32,
                      matmul_tf32=torch.backends.cuda.matmul.allow_tf32)
    return report


def cuda_tests() -> dict:
    """pytest -m cuda in a subprocess: its exit status and summary line."""
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider", *CUDA_TESTS],
                          cwd=ROOT, capture_output=True, text=True, timeout=240)
    lines = done.stdout.strip().splitlines()
    return {"returncode": done.returncode, "summary": lines[-1] if lines else "",
            "seconds": round(time.monotonic() - start, 1),
            "output_tail": "" if done.returncode == 0 else (done.stdout + done.stderr)[-4000:]}


def _scan_case(batch: int, dim: int, groups: int, length: int, device: torch.device, n_state: int = 16) -> dict:
    g = torch.Generator(device).manual_seed(0)
    return dict(u=torch.randn(batch, dim, length, device=device, generator=g),
                delta=torch.randn(batch, dim, length, device=device, generator=g) * 0.5 - 1.0,
                A=-torch.exp(torch.randn(dim, n_state, device=device, generator=g)),
                B=torch.randn(batch, groups, n_state, length, device=device, generator=g),
                C=torch.randn(batch, groups, n_state, length, device=device, generator=g),
                D=torch.randn(dim, device=device, generator=g),
                delta_bias=torch.randn(dim, device=device, generator=g) * 0.3)


def _scan_once(case: dict, scan: Callable[..., torch.Tensor], backward: bool) -> torch.Tensor:
    leaves = {k: v.detach().requires_grad_(backward) for k, v in case.items()}
    with torch.set_grad_enabled(backward):
        y = scan(**leaves, delta_softplus=True)
        if backward:
            y.sum().backward()
    return y.detach()


def _scan_variants(plan: Plan) -> dict[str, Callable[..., torch.Tensor]]:
    """The scans to time: PyTorch's; on a GPU also Triton's (at its default and other chunk lengths) and mamba-ssm's."""
    variants = {"torch": load_backend("torch")}
    if plan.device.type != "cuda":
        return variants
    triton_scan = load_backend("triton")
    if triton_scan is not None:
        variants["triton"] = triton_scan
        for chunk in (32, 64, 256):
            variants[f"triton chunk={chunk}"] = functools.partial(triton_scan, chunk=chunk)
    if load_backend("mamba") is not None:
        variants["mamba"] = load_backend("mamba")
    return variants


def scan_speed(plan: Plan) -> list[dict]:
    """Milliseconds per scan for each variant, and its largest deviation from the PyTorch scan."""
    variants = _scan_variants(plan)
    results = []
    for shape, backward in ((plan.scan_forward, False), (plan.scan_training, True)):
        case = _scan_case(*shape, plan.device)
        expected = _scan_once(case, variants["torch"], False)
        for name, scan in variants.items():
            _reset_peak(plan.device)
            seconds = _median_seconds(lambda: _scan_once(case, scan, backward), plan.device, repeats=5)
            error = float((_scan_once(case, scan, False) - expected).abs().max() / expected.abs().max())
            results.append({"scan": name, "batch_dim_groups_length": shape,
                            "pass": "forward+backward" if backward else "forward", "ms": round(seconds * 1e3, 2),
                            "max_rel_error_vs_torch": error, "peak_mib": _peak_mib(plan.device)})
            print(json.dumps(results[-1]), flush=True)
    return results


def _restorer(model: torch.nn.Module, plan: Plan, precision: str, tile: int | None,
              channels_last: bool | None = None) -> tuple[Restorer, list[str]]:
    notices: list[str] = []
    settings = InferenceSettings(plan.device, PRECISIONS[precision], tile, channels_last=channels_last)
    return Restorer(prepare_model(model, settings), settings, notices.append), notices


def _timed_restore(model: torch.nn.Module, plan: Plan, precision: str, size: int, tile: int | None,
                   channels_last: bool | None = None, repeats: int = 1) -> dict:
    """Median seconds (no warm-up), MP/s and peak device memory of restoring a random size x size image."""
    restorer, notices = _restorer(model, plan, precision, tile, channels_last)
    image = torch.rand(3, size, size, generator=torch.Generator().manual_seed(size))
    _reset_peak(plan.device)
    seconds = _median_seconds(lambda: restorer.restore(image), plan.device, repeats, warm_up=False)
    return {"precision": precision, "size": size, "tile": "auto" if tile is None else tile or "whole image",
            "channels_last": restorer.settings.memory_format == torch.channels_last,
            "seconds": round(seconds, 3), "mp_per_s": round(size * size / 1e6 / seconds, 3),
            "peak_mib": _peak_mib(plan.device), "notices": notices}


def throughput(plan: Plan, deadline: float) -> list[dict]:
    """MP/s and peak memory per precision: one tile-sized image, then a tiled one if time allows."""
    torch.manual_seed(0)
    model = RestorMixer(**plan.model_config)
    small, big = plan.sizes
    results = []
    for precision in PRECISIONS:
        _timed_restore(model, plan, precision, small, 0)  # warm-up: kernels compiled, allocator grown
        runs = [_timed_restore(model, plan, precision, small, 0, channels_last, plan.repeats)
                for channels_last in (False, True)]
        estimate = min(r["seconds"] for r in runs) * (big / small) ** 2 * 1.6  # overlaps and blending
        if time.monotonic() + estimate < deadline:
            runs.append(_timed_restore(model, plan, precision, big, plan.big_tile))
        else:
            runs.append({"precision": precision, "size": big, "skipped": f"about {estimate:.0f} s, over the budget"})
        for run in runs:
            print(json.dumps(run), flush=True)
        results += runs
    return results


def _noisy_photos(crop: int | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(clean, noisy) float images in [0, 1]: the sample photos with sigma-25 noise, rounded to 8 bits."""
    noise = gaussian_noise(25.0)
    pairs = []
    for i, photo in enumerate(load_sample_photos().values()):
        clean = photo[:crop, :crop].astype(np.float32) / 255.0
        noisy = quantize(np.clip(noise(clean, np.random.default_rng([0, i])), 0, 1)).astype(np.float32) / 255.0
        pairs.append((clean, noisy))
    return pairs


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)


def _mean_psnr(images: list[torch.Tensor], references: list[torch.Tensor]) -> float | None:
    """Mean PSNR in dB over pairs of [0, 1] images; None if every pair is identical."""
    value = statistics.mean(psnr(image * 255, reference * 255) for image, reference in zip(images, references))
    return round(value, 3) if math.isfinite(value) else None


def precision_psnr(plan: Plan) -> dict:
    """Mean PSNR (dB) of each precision's output against fp32's and against the clean photos."""
    model = build_model(load_weights_file(get_task("denoise").embedded_path))
    pairs = [(_to_tensor(clean), _to_tensor(noisy)) for clean, noisy in _noisy_photos(plan.photo_crop)]
    clean = [image for image, _ in pairs]
    outputs = {precision: [_restorer(model, plan, precision, None)[0].restore(noisy) for _, noisy in pairs]
               for precision in PRECISIONS}
    report: dict = {"images": len(pairs), "checkpoint": "denoise (embedded)", "noise_sigma": 25}
    for precision, restored in outputs.items():
        report[precision] = {"psnr_vs_clean_db": _mean_psnr(restored, clean),
                             "psnr_vs_fp32_db": _mean_psnr(restored, outputs["fp32"])}
    return report


def oom_retry(plan: Plan) -> dict:
    """A whole image (tile 0) under a memory cap: the engine must halve its tile until the image fits."""
    if plan.device.type != "cuda":
        return {"skipped": "the retry happens on CUDA out-of-memory errors only"}
    torch.manual_seed(0)
    restorer, notices = _restorer(RestorMixer(**plan.model_config), plan, "fp16", 0)
    torch.cuda.empty_cache()
    cap = torch.cuda.memory_allocated(plan.device) + plan.oom_headroom_mib * MiB
    torch.cuda.set_per_process_memory_fraction(cap / torch.cuda.get_device_properties(plan.device).total_memory,
                                               plan.device)
    image = torch.rand(3, plan.oom_image, plan.oom_image, generator=torch.Generator().manual_seed(1))
    try:
        start = time.perf_counter()
        out = restorer.restore(image)
        seconds = time.perf_counter() - start
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, plan.device)
        torch.cuda.empty_cache()
    return {"image": plan.oom_image, "cap_mib": round(cap / MiB), "final_tile": restorer.tile, "notices": notices,
            "seconds": round(seconds, 2), "finite": bool(torch.isfinite(out).all())}


def run(out: Path, dry_run: bool, minutes: float) -> dict:
    """Every part in turn, each within the time left; writes and returns the summary."""
    started = time.monotonic()
    deadline = started + minutes * 60
    plan = Plan.make(dry_run)
    parts: dict[str, Callable[[], object]] = {
        "environment": lambda: environment(plan),
        "cuda_tests": cuda_tests,
        "scan_speed": lambda: scan_speed(plan),
        "throughput": lambda: throughput(plan, deadline - 90),  # leaves time for the two parts after it
        "precision_psnr": lambda: precision_psnr(plan),
        "oom_retry": lambda: oom_retry(plan),
    }
    summary: dict = {"dry_run": dry_run, "errors": {}}
    for name, part in parts.items():
        part_start = time.monotonic()
        try:
            summary[name] = part()
        except Exception:  # record it and go on: the other parts' numbers still come back
            summary["errors"][name] = traceback.format_exc()[-3000:]
        print(f"{name}: {time.monotonic() - part_start:.1f} s", flush=True)
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")  # partial results survive a kill
    summary["seconds"] = round(time.monotonic() - started, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for summary.json")
    parser.add_argument("--minutes", type=float, default=7.5, help="time budget; the tiled runs are skipped past it")
    parser.add_argument("--dry-run", action="store_true", help="tiny model and sizes, PyTorch scan, CPU")
    args = parser.parse_args()
    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU here: use --dry-run to test the script on a CPU")
    if args.dry_run:
        os.environ[ENV_VAR] = "torch"  # the model's scan: no kernel to compile on the CPU
    args.out.mkdir(parents=True, exist_ok=True)
    summary = run(args.out, args.dry_run, args.minutes)
    raise SystemExit(1 if summary["errors"] or summary.get("cuda_tests", {}).get("returncode") not in (0, 5) else 0)


if __name__ == "__main__":
    main()
