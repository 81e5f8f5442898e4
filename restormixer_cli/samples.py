"""Sample photos for the demo: public-domain / CC0 images shipped with scikit-image, degraded with a fixed seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .hub.registry import Task
from .training.data import write_degraded_pairs
from .training.degradations import make_degradation

#: scikit-image sample name -> licence, as stated in scikit-image's documentation.
SAMPLE_PHOTOS = {
    "astronaut": "public domain (NASA)",
    "coffee": "CC0 (Rachel Michetti)",
    "chelsea": "CC0 (Stefan van der Walt)",
    "rocket": "public domain (SpaceX)",
}
SAMPLE_WIDTH = 320
SEED = 2025


def load_sample_photos() -> dict[str, np.ndarray]:
    """8-bit RGB photos, resized to SAMPLE_WIDTH pixels wide. Needs scikit-image (the ``demo`` extra)."""
    try:
        from skimage import data
    except ImportError as exc:
        raise RuntimeError("the demo's sample photos come from scikit-image: pip install 'restormixer-cli[demo]'") from exc
    photos = {}
    for name in SAMPLE_PHOTOS:
        img = Image.fromarray(getattr(data, name)()).convert("RGB")
        height = round(img.height * SAMPLE_WIDTH / img.width) // 8 * 8
        photos[name] = np.asarray(img.resize((SAMPLE_WIDTH, height), Image.Resampling.LANCZOS))
    return photos


def write_degraded_samples(task: Task, folder: Path) -> tuple[Path, Path]:
    """Write ``folder/input`` (degraded as the task's inputs are, 8-bit PNG) and ``folder/target``; returns both."""
    degradation = make_degradation(task.demo_degradation)
    return write_degraded_pairs(load_sample_photos().items(), degradation, folder, SEED)
