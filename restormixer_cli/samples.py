"""Sample photos for the demo: public-domain / CC0 images shipped with scikit-image, degraded with a fixed seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .training.config import TASK_DEFAULTS
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


def write_degraded_samples(task: str, folder: Path) -> tuple[Path, Path]:
    """Write ``folder/input`` (degraded, 8-bit PNG) and ``folder/ground_truth`` for a task; returns both."""
    degrade = make_degradation(TASK_DEFAULTS[task].degradation)
    inputs, truth = folder / "input", folder / "ground_truth"
    for sub in (inputs, truth):
        sub.mkdir(parents=True, exist_ok=True)
    for i, (name, photo) in enumerate(load_sample_photos().items()):
        clean = photo.astype(np.float32) / 255
        degraded = degrade(clean, np.random.default_rng([SEED, i]))
        Image.fromarray(photo).save(truth / f"{name}.png")
        Image.fromarray((np.clip(degraded, 0, 1) * 255).round().astype(np.uint8)).save(inputs / f"{name}.png")
    return inputs, truth
