"""Exporting a training run in Hugging Face Hub layout, and uploading it."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import save_file

from ..hub.layout import CONFIG_NAME, WEIGHTS_NAME
from ..io.atomic import atomic_path
from ..refusals import Refusal
from .config import TrainConfig
from .trainer import CHECKPOINT, CONFIG, read_metrics

_CARD = """---
library_name: restormixer
tags:
- image-restoration
- {task}
license: mit
---

# RestorMixer ({task})

RestorMixer (arXiv 2504.10967) trained with `restormixer train` for **{task}**.

- configuration: {model_config}
- training data: {train}
- synthetic degradation: {degradation}
- steps: {steps} (batch {batch}, patch {patch}), EMA {ema}
- weights stored in {storage} (loaded as fp32)

## Validation

{scores}

Load with `restormixer restore INPUT --weights <this repo or folder>`.
"""


_SPLITS = {"train", "test", "val", "valid", "validation"}


def dataset_name(folder: str) -> str:
    """A data folder's name without its location: ``x/rain12`` -> ``rain12``, ``x/bsds500/train`` -> ``bsds500/train``."""
    path = Path(folder)
    return f"{path.parent.name}/{path.name}" if path.name.lower() in _SPLITS else path.name


def _psnr_text(value: float) -> str:
    return "infinite: some are identical to their targets" if math.isinf(value) else f"{value:.2f} dB"


def _scores_text(run_dir: Path, config: TrainConfig) -> tuple[str, dict | None]:
    vals = [r for r in read_metrics(run_dir) if "val_psnr" in r]
    if not vals:
        return "No validation was run.", None
    last = vals[-1]
    space = "Y channel" if config.y_channel else "RGB"
    subset = f"first {config.val_limit} images of " if config.val_limit else ""
    text = (f"On {subset}`{dataset_name(config.val)}` ({space}, crop {config.crop_border}) at step {last['step']}: "
            f"PSNR {last['val_psnr']:.2f} dB, SSIM {last['val_ssim']:.4f} "
            f"(degraded input: {_psnr_text(last['val_input_psnr'])}, {last['val_input_ssim']:.4f}).")
    return text, last


EXPORTED = (WEIGHTS_NAME, CONFIG_NAME, "README.md")


class ExportExists(Refusal, ValueError):
    """The export folder holds files an export writes, and the export may not replace them."""
_FP16_MAX = torch.finfo(torch.float16).max


def half_precision(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The floating-point tensors in fp16, which halves a checkpoint's size; loading reads them back
    as fp32 (:func:`~restormixer_cli.model.checkpoint.load_weights_file`). On the shipped checkpoints PSNR
    moved by at most 0.002 dB per task (BENCHMARKS.md, "fp16 storage of the weights"). A tensor with
    values beyond fp16's range stays as it is."""
    return {name: tensor.half() if _fits_fp16(tensor) else tensor for name, tensor in state.items()}


def _fits_fp16(tensor: torch.Tensor) -> bool:
    return tensor.is_floating_point() and (tensor.numel() == 0 or float(tensor.abs().max()) <= _FP16_MAX)


def export_run(run_dir: Path, out: Path, overwrite: bool = False, fp16: bool = True) -> Path:
    """Write ``model.safetensors`` (EMA weights if the run kept them; stored in fp16 unless not
    ``fp16``, see :func:`half_precision`), ``config.json`` and ``README.md`` to ``out``; ValueError
    if ``out`` is the run folder, or holds any of them and not ``overwrite``."""
    run_dir, out = Path(run_dir), Path(out)
    checkpoint = run_dir / CHECKPOINT
    if not checkpoint.exists():
        raise ValueError(f"{run_dir}: no {CHECKPOINT}; is this a training run folder?")
    if out.resolve() == run_dir.resolve():
        raise ValueError(f"{out} is the run folder: its config.json would be replaced; export to another folder")
    existing = [name for name in EXPORTED if (out / name).exists()]
    if existing and not overwrite:
        raise ExportExists("{out} already holds {files}; {allow_overwrite} to replace them", out=out,
                           files=", ".join(existing))
    config = TrainConfig.load(run_dir / CONFIG)
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError) as exc:
        raise ValueError(f"{checkpoint}: cannot read the checkpoint, damaged or truncated "
                         f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    weights = {k: v.contiguous() for k, v in (state.get("ema") or state["model"]).items()}
    weights = half_precision(weights) if fp16 else weights
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / WEIGHTS_NAME) as tmp:
        save_file(weights, str(tmp), metadata={"format": "pt", "task": config.task, "step": str(state["step"])})
    with atomic_path(out / CONFIG_NAME) as tmp:
        tmp.write_text(json.dumps(config.model_config, indent=2) + "\n")
    scores, _ = _scores_text(run_dir, config)
    card = _CARD.format(task=config.task, model_config=config.model_config,
                        train=", ".join(dataset_name(p) for p in config.train),
                        degradation=config.synthesis, steps=state["step"], batch=config.batch, patch=config.patch,
                        ema=config.ema or "off", storage="fp16" if fp16 else "fp32", scores=scores)
    with atomic_path(out / "README.md") as tmp:
        tmp.write_text(card)
    return out


def push_to_hub(folder: Path, repo_id: str) -> str:
    """Upload an exported folder to ``repo_id`` (created if needed); returns the commit URL."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, exist_ok=True)
    return str(api.upload_folder(folder_path=str(folder), repo_id=repo_id, commit_message="Upload RestorMixer checkpoint"))
