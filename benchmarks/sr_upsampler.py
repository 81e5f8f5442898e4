"""Super-resolution: which upsampler, at equal CPU time?

The ``sr`` task runs the authors' same-size network on a bicubic enlargement of the input (VDSR's way).
The alternative is a pixel-shuffle tail (EDSR's and SwinIR's way): the network runs on the small
input and a learned sub-pixel convolution enlarges its last features. This trains both from the
same starting weights, on the same images, for the same process CPU time, then scores them on a
validation folder (B100 is BSDS500 ``val``) at x2 and x4, Y channel, border = scale, as the
literature scores super-resolution.

Each variant trains in its own process (run the two side by side, one thread each), then ``score``
compares them::

    python benchmarks/sr_upsampler.py train --variant bicubic --init W --train DIR... --minutes 45 --out bicubic
    python benchmarks/sr_upsampler.py train --variant pixel-shuffle --init W --train DIR... --minutes 45 --out ps
    python benchmarks/sr_upsampler.py score bicubic ps --val DIR

Recipes: each variant as it would be trained. ``bicubic``: 64 px high-resolution patches, the
``sr`` training's deep-supervised loss on the enlargement. ``pixel-shuffle``: 48 px low-resolution
patches (96-192 px high-resolution), the same loss on the enlarged output only, one tail per scale
(MDSR's way of serving several scales with one body), output = bicubic enlargement + tail. Both
start as bicubic enlargement (the layers that add the residual at zero), batch 8, scale 2, 3 or 4
drawn per step, AdamW 3e-4 with a cosine decay over the CPU-time budget (so each run ends
annealed), no EMA. The ``sr`` checkpoint's own training differs: EMA, a step-count schedule, and a
scale drawn per image (with one per batch the bicubic input's BatchNorm statistics fit no single
scale, which ``score --recalibrate`` shows). Score it with the others by saving its weights as a
run: ``torch.save({"variant": "bicubic", "state": weights}, RUN / "model.pt")``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from restormixer_cli.io.images import read_rgb
from restormixer_cli.metrics import psnr
from restormixer_cli.model import RestorMixer
from restormixer_cli.model.checkpoint import load_weights_file
from restormixer_cli.resize import upscale, upscale_planes
from restormixer_cli.training.data import clean_files, load_training_images
from restormixer_cli.training.degradations import crop_to_scale, downscale
from restormixer_cli.training.losses import MultiScaleDualDomainLoss
from restormixer_cli.training.trainer import start_from_identity

SCALES = (2, 3, 4)
CONFIG = dict(base_channel=24, num_blocks=(2, 2, 2))


class PixelShuffleSR(nn.Module):
    """The network on the small image; a per-scale sub-pixel tail on its last full-resolution
    features, added to the bicubic enlargement."""

    def __init__(self, body: RestorMixer, scales: tuple[int, ...] = SCALES):
        super().__init__()
        c = body.config["base_channel"]
        self.body = body
        self.tails = nn.ModuleDict({
            str(s): nn.Sequential(nn.Conv2d(c, c * s * s, 3, padding=1), nn.PixelShuffle(s),
                                  nn.LeakyReLU(0.2), nn.Conv2d(c, 3, 3, padding=1))
            for s in scales
        })
        for tail in self.tails.values():
            nn.init.zeros_(tail[-1].weight)
            nn.init.zeros_(tail[-1].bias)
        self._features: torch.Tensor | None = None
        body.decoder.dcnn_stage.register_forward_hook(self._keep_features)

    def _keep_features(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        self._features = output

    def forward(self, small: torch.Tensor, scale: int) -> torch.Tensor:
        h, w = small.shape[-2:]
        self.body(small)
        features = self._features[..., :h, :w]  # the body pads to a multiple of 8
        return upscale(small, scale) + self.tails[str(scale)](features)


def _model(variant: str, init: Path | None) -> nn.Module:
    """The variant's network; from ``init`` it starts as bicubic enlargement (its residual layers at zero)."""
    body = RestorMixer(**CONFIG)
    if init:
        body.load_state_dict(load_weights_file(init).state_dict)
        start_from_identity(body)
    return PixelShuffleSR(body) if variant == "pixel-shuffle" else body


def _patches(images: list[np.ndarray], rng: np.random.Generator, scale: int, size: int,
             count: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``count`` random (8-bit bicubic-downscaled, clean) pairs of ``size`` px clean patches."""
    small, clean = [], []
    for _ in range(count):
        image = images[int(rng.integers(len(images)))]
        y, x = int(rng.integers(image.shape[0] - size + 1)), int(rng.integers(image.shape[1] - size + 1))
        patch = np.rot90(image[y : y + size, x : x + size], int(rng.integers(4)))
        patch = np.ascontiguousarray(patch[:, ::-1] if rng.integers(2) else patch, dtype=np.float32) / 255
        small.append(downscale(scale)(patch, rng))
        clean.append(patch)
    return small, clean


def _patch_sources(folders: list[Path]) -> list[np.ndarray]:
    """The clean images of ``folders`` large enough for every scale's patch (192 px at x4)."""
    return [im for im in load_training_images(folders)[1] if min(im.shape[:2]) >= 48 * max(SCALES)]


def _tensor(arrays: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def _step_inputs(variant: str, images: list[np.ndarray], rng: np.random.Generator, batch: int,
                 scale: int | None = None) -> tuple[int, torch.Tensor, torch.Tensor]:
    """(scale, model inputs, clean targets) of a step: one scale per batch (one tail per step),
    ``scale`` or a random one."""
    scale = scale or int(rng.choice(SCALES))
    if variant == "pixel-shuffle":
        small, clean = _patches(images, rng, scale, 48 * scale, batch)
        return scale, _tensor(small), _tensor(clean)
    small, clean = _patches(images, rng, scale, 64, batch)  # 64 px, as the sr training crops
    return scale, _tensor([upscale_planes(s, scale)[:64, :64] for s in small]), _tensor(clean)


def _learning_rate(step: int, used: float, peak: float = 3e-4, warmup: int = 50, floor: float = 1e-6) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * min(1.0, used)))


def train(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = _model(args.variant, args.init).train()
    images = _patch_sources(args.train)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.99), weight_decay=1e-4)
    loss_fn = MultiScaleDualDomainLoss()
    rng = np.random.default_rng(0)
    args.out.mkdir(parents=True, exist_ok=True)
    budget, started, step = args.minutes * 60, time.process_time(), 0
    with open(args.out / "log.jsonl", "w") as log:
        while (used := (time.process_time() - started) / budget) < 1:
            scale, inputs, clean = _step_inputs(args.variant, images, rng, args.batch)
            for group in optimizer.param_groups:
                group["lr"] = _learning_rate(step, used)
            outputs = model(inputs, scale) if args.variant == "pixel-shuffle" else model(inputs, multiscale=True)
            loss, _ = loss_fn(outputs if isinstance(outputs, list) else [outputs], clean)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            step += 1
            if step % 25 == 0:
                record = {"step": step, "cpu_min": used * args.minutes, "loss": float(loss.detach())}
                log.write(json.dumps(record) + "\n")
                log.flush()
    torch.save({"variant": args.variant, "steps": step, "state": model.state_dict()}, args.out / "model.pt")
    print(f"{args.variant}: {step} steps in {args.minutes} CPU minutes")


@torch.no_grad()
def _recalibrate(model: nn.Module, variant: str, images: list[np.ndarray], scale: int, batches: int = 60) -> None:
    """Re-estimate the model's BatchNorm statistics on training batches of ``scale`` alone."""
    rng = np.random.default_rng(1)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # a plain average over the batches
    model.train()
    for _ in range(batches):
        _, inputs, _ = _step_inputs(variant, images, rng, 8, scale)
        if variant == "pixel-shuffle":
            model(inputs, scale)
        else:
            model(inputs)


def _load_run(run: Path, scale: int, recalibrate: list[np.ndarray] | None) -> tuple[nn.Module, str]:
    saved = torch.load(run / "model.pt", weights_only=True)
    model = _model(saved["variant"], None)
    model.load_state_dict(saved["state"])
    if recalibrate:
        _recalibrate(model, saved["variant"], recalibrate, scale)
    return model.eval(), saved["variant"]


def _benchmark_pair(path: Path, scale: int) -> tuple[torch.Tensor, np.ndarray]:
    """(1, 3, h, w) low-resolution input and the (H, W, 3) original cropped to a multiple of ``scale``."""
    clean = crop_to_scale(read_rgb(path), downscale(scale)).astype(np.float32) / 255
    return torch.from_numpy(downscale(scale)(clean, None)).permute(2, 0, 1)[None], clean


def _score(run: Path | None, folder: Path, scale: int, limit: int,
           recalibrate: list[np.ndarray] | None = None) -> tuple[float, float]:
    """Mean Y-channel PSNR (border = scale) of a run's model, or of bicubic enlargement (run None),
    and the seconds it took to enlarge the images."""
    if run is not None:
        model, variant = _load_run(run, scale, recalibrate)
    scores, seconds = [], 0.0
    with torch.inference_mode():
        for path in clean_files(folder)[: limit or None]:
            small, clean = _benchmark_pair(path, scale)
            started = time.perf_counter()
            if run is None:
                out = upscale(small, scale)
            elif variant == "pixel-shuffle":
                out = model(small, scale)
            else:
                out = model(upscale(small, scale))
            seconds += time.perf_counter() - started
            as_8bit = (out[0].clamp(0, 1) * 255).round()
            target = torch.from_numpy(clean).permute(2, 0, 1) * 255
            scores.append(psnr(as_8bit, target.round(), crop_border=scale, y_channel=True))
    return float(np.mean(scores)), seconds


def score(args: argparse.Namespace) -> None:
    """One line per scale: each model's PSNR and its time relative to the first run's."""
    torch.set_num_threads(args.threads)
    recalibration_images = _patch_sources(args.recalibrate) if args.recalibrate else None
    for scale in args.scales:
        line = {"scale": scale, "bicubic interpolation": round(_score(None, args.val, scale, args.limit)[0], 2)}
        baseline = None
        for run in args.runs:
            value, seconds = _score(run, args.val, scale, args.limit, recalibration_images)
            baseline = baseline or seconds
            line[run.name] = round(value, 2)
            line[f"{run.name} time"] = f"{seconds / baseline:.2f}x ({seconds:.0f} s)"
        print(json.dumps(line), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    t = commands.add_parser("train")
    t.add_argument("--variant", choices=["bicubic", "pixel-shuffle"], required=True)
    t.add_argument("--init", type=Path, help="starting weights of the network (e.g. the denoise checkpoint)")
    t.add_argument("--train", type=Path, action="append", required=True)
    t.add_argument("--minutes", type=float, default=40.0, help="process CPU time to train for")
    t.add_argument("--batch", type=int, default=8)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--out", type=Path, required=True)
    s = commands.add_parser("score")
    s.add_argument("runs", type=Path, nargs="+")
    s.add_argument("--val", type=Path, required=True)
    s.add_argument("--scales", type=int, nargs="+", default=[2, 4])
    s.add_argument("--limit", type=int, default=0, help="first N images only (0: all)")
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--recalibrate", type=Path, action="append",
                   help="re-estimate BatchNorm statistics on 60 batches of the scored scale from these "
                        "training folders")
    args = parser.parse_args()
    train(args) if args.command == "train" else score(args)


if __name__ == "__main__":
    main()
