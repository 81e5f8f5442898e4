"""The training loop: resumable, validated, logged; single process or DDP under torchrun."""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.distributed as dist
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..io.atomic import atomic_path
from ..inference.devices import precision_dtype
from ..io.formats import quantize
from ..metrics import psnr, ssim
from ..model import RestorMixer
from ..model.checkpoint import load_weights_file
from ..resize import upscale
from ..signals import sigterm_as_interrupt
from .config import TrainConfig
from .data import DownscalePatchSampler, ImagePair, PatchSampler, load_training_images, load_validation_set
from .degradations import Degradation, make_degradation
from .losses import MultiScaleDualDomainLoss

if TYPE_CHECKING:
    from matplotlib.axes import Axes

CHECKPOINT = "checkpoint.pt"
CONFIG = "config.json"
METRICS = "metrics.jsonl"
PLOT = "progress.png"


class TrainingInterrupted(Exception):
    """Raised after Ctrl-C / SIGTERM once the checkpoint is safely written."""

    def __init__(self, step: int):
        super().__init__(f"training interrupted at step {step}; checkpoint saved, run the same command to resume")
        self.step = step


@dataclass
class Distributed:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed(device_type: str) -> Distributed:
    """Join the process group that torchrun describes in the environment, if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed()
    dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return Distributed(dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", "0")))


def process_device(device: torch.device, distributed: Distributed) -> torch.device:
    """The device of this process: under multi-GPU DDP, the GPU of its local rank on its node."""
    if device.type == "cuda" and distributed.world > 1:
        return torch.device("cuda", distributed.local_rank)
    return device


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warmup, then cosine decay from ``lr`` to ``min_lr`` at ``steps``."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = min(1.0, (step - config.warmup) / max(1, config.steps - config.warmup))
    return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1 + math.cos(math.pi * progress))


def _as_8bit(img: torch.Tensor) -> torch.Tensor:
    """[0, 1] float image -> 0..255 float values as an 8-bit file would store them."""
    return torch.from_numpy(quantize(img.numpy())).float()


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)


@torch.inference_mode()
def validate(model: torch.nn.Module, pairs: list[ImagePair], device: torch.device, y_channel: bool,
             crop_border: int) -> dict[str, float]:
    """Mean PSNR/SSIM of the model's outputs, and of the degraded inputs, as 8-bit images."""
    model.eval()
    scores = {"psnr": [], "ssim": [], "input_psnr": [], "input_ssim": []}
    for pair in pairs:
        degraded = _to_tensor(pair.degraded)
        target = _as_8bit(_to_tensor(pair.clean))
        scale = pair.clean.shape[0] // pair.degraded.shape[0]
        restored = model(degraded[None].to(device), scale=scale)[0].float().cpu()
        baseline = upscale(degraded, scale) if scale > 1 else degraded  # what bicubic enlargement gives
        for prefix, img in (("", restored), ("input_", baseline)):
            scores[prefix + "psnr"].append(psnr(_as_8bit(img), target, crop_border, y_channel))
            scores[prefix + "ssim"].append(ssim(_as_8bit(img), target, crop_border, y_channel))
    return {k: float(np.mean(v)) for k, v in scores.items()}


def start_from_identity(model: RestorMixer) -> None:
    """Zero the layers that produce the residual images, so that training starts from output = input."""
    with torch.no_grad():
        model.decoder.output.main[1].weight.zero_()
        for head in model.decoder.decoder_out_conv:
            head.main[0].weight.zero_()


def load_initial_weights(model: RestorMixer, path: Path) -> None:
    """Start from a checkpoint's weights; upscaling tails it lacks (a same-size checkpoint, the
    authors' keys) keep their initialisation, which adds nothing to the bicubic enlargement."""
    state = load_weights_file(path).state_dict
    missing, unexpected = model.load_state_dict(state, strict=False)
    untrained_tails = all(k.startswith("upsampler.") for k in missing)
    if unexpected or not untrained_tails:
        model.load_state_dict(state, strict=True)  # raises, naming the keys that do not fit


def _initial_model(config: TrainConfig) -> RestorMixer:
    """The model a run starts from: ``init``'s weights, the identity, or a fresh initialisation."""
    model = RestorMixer(**config.model_config)
    if config.init:
        load_initial_weights(model, Path(config.init))
    elif config.identity_init:
        start_from_identity(model)
    return model


def _optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on the weights only: not on biases, norms or the scan's A_logs and Ds."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 or name.endswith(("A_logs", "Ds")) else decay).append(p)
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr, betas=(0.9, 0.99),
    )


class _EMA:
    """Exponential moving average of parameters; buffers (BatchNorm statistics) are copied."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        torch._foreach_lerp_(list(self.model.parameters()), list(model.parameters()), 1 - decay)
        for mine, theirs in zip(self.model.buffers(), model.buffers()):
            mine.copy_(theirs)


class _StepBatches(torch.utils.data.Sampler):
    """Index lists of the batches from ``step`` on, for one rank of ``world``."""

    def __init__(self, step: int, batch: int, rank: int, world: int):
        self.step, self.batch, self.rank, self.world = step, batch, rank, world

    def __iter__(self) -> Iterator[list[int]]:
        step = self.step
        while True:
            first = (step * self.world + self.rank) * self.batch
            yield list(range(first, first + self.batch))
            step += 1


class Trainer:
    """Owns the model, optimiser, data and run folder of one training run."""

    def __init__(self, config: TrainConfig, run_dir: Path, device: torch.device, console: Console | None = None):
        self.config, self.run_dir = config, run_dir
        self.console = console or Console(stderr=True)
        self.dist = _init_distributed(device.type)
        self.device = process_device(device, self.dist)
        if self.device.type == "cuda" and self.device.index is not None:
            torch.cuda.set_device(self.device)
        torch.manual_seed(config.seed)
        self.model = _initial_model(config)
        self.model.to(device, memory_format=torch.channels_last)
        self.ema = _EMA(self.model, config.ema) if config.ema > 0 else None
        self.optimizer = _optimizer(self.model, config)
        self.net = self.model
        if self.dist.world > 1:
            ids = [device.index] if device.type == "cuda" else None
            self.net = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        self.loss = MultiScaleDualDomainLoss(config.fft_weight)
        self.autocast_dtype = self._autocast_dtype()
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.autocast_dtype == torch.float16)
        self.step = 0

    def _autocast_dtype(self) -> torch.dtype | None:
        choice = self.config.precision
        if choice == "auto":
            if self.device.type != "cuda":
                return None
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        dtype = precision_dtype(choice)
        return None if dtype == torch.float32 else dtype

    # -- checkpoints -------------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        if not self.dist.main:
            return
        state = {
            "step": self.step,
            "model": self.model.state_dict(),
            "ema": self.ema.model.state_dict() if self.ema else None,
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "model_config": self.config.model_config,
        }
        with atomic_path(self.run_dir / CHECKPOINT) as tmp:
            torch.save(state, tmp)

    def load_checkpoint(self) -> bool:
        path = self.run_dir / CHECKPOINT
        if not path.exists():
            return False
        state = torch.load(path, map_location=self.device, weights_only=True)
        self.model.load_state_dict(state["model"])
        if self.ema and state.get("ema"):
            self.ema.model.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        if self.dist.main:
            self._drop_metrics_after(self.step)
        return True

    def _drop_metrics_after(self, step: int) -> None:
        """Forget logged steps past the checkpoint (a run killed between checkpoints redoes them)."""
        path = self.run_dir / METRICS
        kept = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
        with atomic_path(path) as tmp:
            tmp.write_text("".join(line + "\n" for line in kept))

    def final_weights(self) -> dict[str, torch.Tensor]:
        """The weights to publish: the EMA if enabled, else the raw model."""
        return (self.ema.model if self.ema else self.model).state_dict()

    # -- logging -------------------------------------------------------------------------------
    def log(self, record: dict) -> None:
        if self.dist.main:
            with open(self.run_dir / METRICS, "a") as f:
                f.write(json.dumps(record) + "\n")

    # -- the loop ------------------------------------------------------------------------------
    def _batches(self, sampler: PatchSampler | DownscalePatchSampler) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches from this step on: batch ``s`` of this rank holds the sampler's items
        ``(s * world + rank) * batch`` onwards, so a resumed run sees the same stream. With
        ``workers``, that many processes synthesise them ahead of the training step."""
        cfg = self.config
        loader = torch.utils.data.DataLoader(
            sampler, batch_sampler=_StepBatches(self.step, cfg.batch, self.dist.rank, self.dist.world),
            num_workers=cfg.workers, pin_memory=self.device.type == "cuda", persistent_workers=cfg.workers > 0,
            prefetch_factor=4 if cfg.workers else None)
        return iter(loader)

    def train_step(self, degraded: torch.Tensor, clean: torch.Tensor) -> dict[str, float]:
        cfg = self.config
        self.net.train()
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(cfg, self.step)
        autocast = (
            torch.autocast(self.device.type, dtype=self.autocast_dtype)
            if self.autocast_dtype else contextlib.nullcontext()
        )
        scale = clean.shape[-1] // degraded.shape[-1]  # > 1: a batch of one enlargement factor
        with autocast:
            outputs = self.net(degraded.to(self.device, memory_format=torch.channels_last), multiscale=True,
                               scale=scale)
        loss, parts = self.loss(outputs, clean.to(self.device))
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip or float("inf"))
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema:
            self.ema.update(self.model, self.step)
        self.step += 1
        return {"loss": float(loss.detach()), **parts, "grad_norm": float(grad_norm), "lr": self.optimizer.param_groups[0]["lr"]}

    def run(self, sampler: PatchSampler | DownscalePatchSampler, val_pairs: list[ImagePair]) -> dict | None:
        """Train until ``config.steps`` (or the time limit); returns the last validation scores."""
        cfg = self.config
        started = time.monotonic()
        last_val = None
        progress = self._progress()
        batches = self._batches(sampler)
        with progress, sigterm_as_interrupt():
            bar = progress.add_task(f"train {cfg.task}", total=cfg.steps, completed=self.step, status="")
            try:
                while self.step < cfg.steps:
                    record = self._logged_step(batches)
                    progress.update(bar, completed=self.step,
                                    status=f"loss {record['loss']:.4f} lr {record['lr']:.2e} {record['sec_per_step']:.2f}s/it")
                    if self.step % cfg.ckpt_every == 0:
                        self.save_checkpoint()
                    if val_pairs and self._validation_due():
                        last_val = self.validate(val_pairs)
                        progress.console.print(
                            f"step {self.step}: val PSNR {last_val['psnr']:.2f} dB SSIM {last_val['ssim']:.4f} "
                            f"(input {last_val['input_psnr']:.2f} dB)"
                        )
                    if self._out_of_time(started):
                        progress.console.print(f"time limit reached at step {self.step}; checkpoint saved")
                        break
            except KeyboardInterrupt:
                self.save_checkpoint()
                raise TrainingInterrupted(self.step) from None
        self.save_checkpoint()
        return last_val

    def _progress(self) -> Progress:
        """The progress bar of the run, shown by the main process only."""
        return Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=self.console, disable=not self.dist.main, transient=False,
        )

    def _logged_step(self, batches: Iterator[tuple[torch.Tensor, torch.Tensor]]) -> dict:
        """One training step on the next batch, logged with its step number and duration (batch wait included)."""
        t0 = time.monotonic()
        record = self.train_step(*next(batches))
        record.update(step=self.step, sec_per_step=time.monotonic() - t0)
        self.log(record)
        return record

    def _validation_due(self) -> bool:
        """Whether the main process validates after this step: every ``val_every`` steps and at the end."""
        return self.dist.main and (self.step % self.config.val_every == 0 or self.step == self.config.steps)

    def _out_of_time(self, started: float) -> bool:
        """Whether the time limit is reached; under DDP every rank takes rank 0's decision."""
        limit = self.config.time_limit_min
        if not limit:
            return False
        over = torch.tensor([float(time.monotonic() - started > limit * 60)], device=self.device)
        if self.dist.world > 1:
            dist.broadcast(over, src=0)
        return bool(over.item())

    def validate(self, pairs: list[ImagePair]) -> dict[str, float]:
        model = self.ema.model if self.ema else self.model
        scores = validate(model, pairs, self.device, self.config.y_channel, self.config.crop_border)
        self.log({"step": self.step, **{f"val_{k}": v for k, v in scores.items()}})
        return scores


def check_validation_sizes(pairs: list[ImagePair], crop_border: int) -> None:
    """Raise ValueError for validation images too small to score (SSIM needs 11x11 after the crop)."""
    smallest = 11 + 2 * crop_border
    for pair in pairs:
        (h, w), (dh, dw) = pair.clean.shape[:2], pair.degraded.shape[:2]
        scale = h // dh if dh else 0
        if min(h, w) < smallest or scale < 1 or (h, w) != (dh * scale, dw * scale):
            raise ValueError(f"validation image {pair.name} is {w}x{h} (degraded {dw}x{dh}); scoring needs "
                             f"sizes of at least {smallest}x{smallest}, the degraded one the same or smaller "
                             f"by a whole factor")


def _check_same_run(previous: TrainConfig, config: TrainConfig, run_dir: Path) -> None:
    """Raise ValueError unless ``config`` continues the run ``previous`` started (same task and model)."""
    if previous.model_config != config.model_config or previous.task != config.task:
        raise ValueError(f"{run_dir} holds a run of another task or model configuration; use a new --out")


def _validation_pairs(config: TrainConfig) -> list[ImagePair]:
    """The run's validation pairs (none without ``val``), checked to be large enough to score."""
    val_degradation = make_degradation(config.val_degradation) if config.val_degradation else None
    pairs = (
        load_validation_set(Path(config.val), val_degradation, seed=0, limit=config.val_limit) if config.val else []
    )
    check_validation_sizes(pairs, config.crop_border)
    return pairs


def _patch_sampler(config: TrainConfig, paired: list[tuple[np.ndarray, np.ndarray]], clean: list[np.ndarray],
                   degradation: Degradation | None, world: int) -> PatchSampler | DownscalePatchSampler:
    """The training patches: downscaled clean images for an enlarging model, else pairs and degraded
    clean images."""
    if config.upscales:
        return DownscalePatchSampler(clean, config.upscales, config.patch, config.seed + 1, config.batch * world)
    return PatchSampler(paired, clean, degradation, config.patch, config.seed + 1, config.paired_fraction,
                        exposure=tuple(config.exposure) if config.exposure else None)


def train(config: TrainConfig, run_dir: Path, device: torch.device, console: Console | None = None) -> dict | None:
    """Create or resume the run in ``run_dir`` and train it; returns the last validation scores."""
    console = console or Console(stderr=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    saved = run_dir / CONFIG
    if saved.exists():
        _check_same_run(TrainConfig.load(saved), config, run_dir)
    degradation = make_degradation(config.degradation) if config.degradation else None
    paired, clean = load_training_images([Path(p) for p in config.train])
    val_pairs = _validation_pairs(config)
    trainer = Trainer(config, run_dir, device, console)
    sampler = _patch_sampler(config, paired, clean, degradation, trainer.dist.world)
    config.save(saved)  # only once the run can start: a failed start leaves the folder reusable
    if trainer.load_checkpoint() and trainer.dist.main:
        console.print(f"resuming {run_dir} at step {trainer.step}")
    try:
        scores = trainer.run(sampler, val_pairs)
    finally:
        if trainer.dist.main:
            write_plot(run_dir)
        if trainer.dist.world > 1:
            dist.destroy_process_group()
    return scores


def read_metrics(run_dir: Path) -> list[dict]:
    path = run_dir / METRICS
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_plot(run_dir: Path) -> Path | None:
    """Loss and validation PSNR against step, as ``progress.png``; None without matplotlib or data."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    records = read_metrics(run_dir)
    losses = [(r["step"], r["loss"]) for r in records if "loss" in r]
    vals = [(r["step"], r["val_psnr"], r["val_input_psnr"]) for r in records if "val_psnr" in r]
    if not losses:
        return None
    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(11, 4))
    _plot_loss(ax_loss, losses)
    _plot_validation(ax_val, vals)
    fig.tight_layout()
    path = run_dir / PLOT
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path


def _plot_loss(ax: Axes, losses: list[tuple[int, float]]) -> None:
    """Each step's training loss, faint, and its running mean over a hundredth of the steps."""
    steps, values = zip(*losses)
    window = max(1, len(values) // 100)
    smooth = np.convolve(values, np.ones(window) / window, mode="valid")
    ax.plot(steps, values, alpha=0.25, lw=0.5)
    ax.plot(steps[window - 1:], smooth)
    ax.set(xlabel="step", ylabel="training loss", yscale="log", title="loss")


def _plot_validation(ax: Axes, vals: list[tuple[int, float, float]]) -> None:
    """Validation PSNR of the restored images and of the degraded inputs against step."""
    if vals:
        s, p, inp = zip(*vals)
        ax.plot(s, p, "o-", label="restored")
        ax.plot(s, inp, "--", label="degraded input")
        ax.legend()
    ax.set(xlabel="step", ylabel="PSNR (dB)", title="validation")
