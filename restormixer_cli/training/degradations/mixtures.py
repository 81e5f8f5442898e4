"""Composition: degradations one after the other, the all-in-one model's random mixtures, and the
clean image left as it is."""

from __future__ import annotations

import numpy as np

from .common import Degradation
from .exposure import low_light
from .haze import haze
from .jpeg import jpeg_artifacts
from .noise import blind_noise
from .rain import synthetic_rain
from .snow import synthetic_snow


def unchanged() -> Degradation:
    """No degradation: the clean image itself (what a model should leave alone)."""
    return lambda img, rng: img


def compose(*steps: Degradation) -> Degradation:
    """The degradations applied one after the other, with the same generator."""

    def apply(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for step in steps:
            img = step(img, rng)
        return img

    return apply


def mixed(most: int = 3, clean: float = 0.1) -> Degradation:
    """What the all-in-one model sees: one to ``most`` of haze, rain or snow, low light, noise and JPEG
    artefacts (fewer more often; JPEG from quality 10 to 90), applied in the order light meets them
    (scene, then camera, then file). A fraction ``clean`` of the images stay as they are: a model that never
    saw a good photo alters one."""
    scene = {"haze": haze(), "rain": synthetic_rain(), "snow": synthetic_snow()}
    # grey_chance 0 draws nothing more, so the mixtures (the all-in-one's mixed:0 validation) stay the same images
    camera = {"low-light": low_light(), "noise": blind_noise(grey_chance=0.0), "jpeg": jpeg_artifacts((10, 90))}
    order = ["haze", "rain", "snow", "low-light", "noise", "jpeg"]
    steps = {**scene, **camera}
    counts = np.arange(1, most + 1)

    def apply(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.random() < clean:
            return img
        count = int(rng.choice(counts, p=(1 / counts) / (1 / counts).sum()))
        chosen = set(rng.choice(order, size=count, replace=False))
        if {"rain", "snow"} <= chosen:  # one kind of precipitation at a time
            chosen.discard(str(rng.choice(["rain", "snow"])))
        return compose(*(steps[name] for name in order if name in chosen))(img, rng)

    return apply
