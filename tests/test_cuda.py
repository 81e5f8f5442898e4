"""The model and the inference engine on a CUDA GPU: parity, agreement with the CPU, reduced
precision, out-of-memory retry.

All marked ``cuda``: skipped without a GPU; scripts/gpu_check.py runs them on one.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from restormixer_cli.hub.registry import get_task
from restormixer_cli.inference.engine import InferenceSettings, Restorer, prepare_model, restore_image
from restormixer_cli.metrics.quality import psnr
from restormixer_cli.model import RestorMixer
from restormixer_cli.model.checkpoint import load_weights_file
from restormixer_cli.model.restormixer import build_model

from .conftest import make_tiny_model, textured_image

pytestmark = pytest.mark.cuda
CUDA = torch.device("cuda")


def restored(model: torch.nn.Module, image: np.ndarray, **settings) -> np.ndarray:
    settings = InferenceSettings(**settings)
    return restore_image(prepare_model(model, settings), image, settings)


def psnr_db(a: np.ndarray, b: np.ndarray) -> float:
    return psnr(torch.from_numpy(a).permute(2, 0, 1) * 255, torch.from_numpy(b).permute(2, 0, 1) * 255)


@pytest.mark.parametrize("backend", ["triton", "torch"])
def test_parity_with_authors_outputs_on_cuda(parity_tiny, backend, monkeypatch):
    """The outputs the authors' code computed, reproduced on the GPU with each scan (TF32 off: fp32 convolutions)."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    model = RestorMixer(**parity_tiny["config"], scan_backend=backend).eval()
    model.load_state_dict(parity_tiny["weights"], strict=True)
    with torch.no_grad():
        outputs = model.to(CUDA)(parity_tiny["input"].to(CUDA), multiscale=True)
    for out, expected in zip(outputs, parity_tiny["outputs"]):
        assert float((out.cpu() - expected).abs().max()) <= 1e-3


def test_cuda_matches_cpu_tile_by_tile():
    """Tiled fp32 on the GPU (its scan backend, pinned copies, TF32 convolutions) against the CPU."""
    image = textured_image(200, 264)
    cpu = restored(make_tiny_model(), image, tile=128)
    gpu = restored(make_tiny_model(), image, device=CUDA, tile=128)
    assert psnr_db(gpu, cpu) > 50


@pytest.mark.parametrize("precision,min_db", [(torch.float16, 40.0), (torch.bfloat16, 32.0)])
def test_reduced_precision_stays_close_to_fp32(precision, min_db):
    """The shipped denoise checkpoint on a noisy image: fp16/bf16 output against fp32's."""
    model = build_model(load_weights_file(get_task("denoise").embedded_path))
    clean = textured_image(256, 320, seed=3)
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 25 / 255, clean.shape), 0, 1).astype(np.float32)
    full = restored(model, noisy, device=CUDA)
    reduced = restored(model, noisy, device=CUDA, precision=precision)
    assert np.isfinite(reduced).all()
    assert psnr_db(reduced, full) > min_db


def test_out_of_memory_retries_with_smaller_tiles():
    """A whole 1024x1024 image under a memory cap: the tile is halved until the image fits."""
    settings = InferenceSettings(device=CUDA, tile=0)
    notices = []
    restorer = Restorer(prepare_model(make_tiny_model(), settings), settings, notices.append)
    torch.cuda.empty_cache()
    cap = torch.cuda.memory_allocated() + 48 * 2**20
    torch.cuda.set_per_process_memory_fraction(cap / torch.cuda.get_device_properties(CUDA).total_memory)
    try:
        out = restorer.restore(torch.rand(3, 1024, 1024))
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    assert notices and "out of GPU memory with tile 1024" in notices[0]
    assert 64 <= restorer.tile <= 512
    assert out.shape == (3, 1024, 1024) and torch.isfinite(out).all()
