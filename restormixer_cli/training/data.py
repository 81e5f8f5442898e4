"""Training and validation data: paired folders and clean images with synthetic degradation."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..io.atomic import atomic_path
from ..io.discovery import list_images
from ..io.formats import IMAGE_EXTENSIONS, quantize
from ..io.images import ImageReadError, read_rgb
from ..resize import upscale_planes
from .degradations import Degradation, crop_to_scale, downscale, reexposed


@dataclass
class ImagePair:
    name: str
    degraded: np.ndarray  # (H, W, 3) float32 in [0, 1] (may exceed it for noise)
    clean: np.ndarray


def is_paired_folder(folder: Path) -> bool:
    """A paired folder holds ``input/`` and ``target/`` subfolders with matching file names."""
    return (folder / "input").is_dir() and (folder / "target").is_dir()


def paired_files(folder: Path) -> list[tuple[Path, Path]]:
    """(input, target) paths matched by relative path and stem; raises if nothing matches."""
    targets = {p.relative_to(folder / "target").with_suffix(""): p for p in list_images(folder / "target")}
    pairs = []
    for p in list_images(folder / "input"):
        key = p.relative_to(folder / "input").with_suffix("")
        if key in targets:
            pairs.append((p, targets[key]))
    if not pairs:
        raise ValueError(f"{folder}: no input/target files with matching names")
    return pairs


def clean_files(folder: Path) -> list[Path]:
    files = list_images(folder)
    if not files:
        raise ValueError(f"{folder}: no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
    return files


def to_float(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float32) / 255.0


def load_validation_set(folder: Path, degradation: Degradation | None, seed: int, limit: int = 0) -> list[ImagePair]:
    """Paired folder as is, or clean images degraded with a fixed seed per image."""
    if is_paired_folder(folder):
        files = paired_files(folder)[: limit or None]
        return [ImagePair(a.stem, to_float(read_named(a)), to_float(read_named(b))) for a, b in files]
    if degradation is None:
        raise ValueError(f"{folder} is not a paired folder (input/ + target/), so a degradation is needed")
    pairs = []
    for i, path in enumerate(clean_files(folder)[: limit or None]):
        clean = to_float(crop_to_scale(read_named(path), degradation))
        pairs.append(ImagePair(path.stem, degradation(clean, np.random.default_rng([seed, i])), clean))
    return pairs


def write_degraded_pairs(images: Iterable[tuple[str, np.ndarray]], degradation: Degradation, folder: Path,
                         seed: int) -> tuple[Path, Path]:
    """Degrade 8-bit RGB images (the i-th with the generator seeded ``[seed, i]``, as
    :func:`load_validation_set` does; cropped to a multiple of a downscaling factor) and write a
    paired folder of 8-bit PNGs: ``folder/input`` and ``folder/target``; returns both."""
    inputs, targets = folder / "input", folder / "target"
    for sub in (inputs, targets):
        sub.mkdir(parents=True, exist_ok=True)
    for i, (name, image) in enumerate(images):
        image = crop_to_scale(image, degradation)
        degraded = degradation(to_float(image), np.random.default_rng([seed, i]))
        # both encoded before either is renamed: a stopped run does not pair a new target with an old input
        with atomic_path(targets / f"{name}.png") as clean_tmp, atomic_path(inputs / f"{name}.png") as degraded_tmp:
            Image.fromarray(image).save(clean_tmp, "PNG")
            Image.fromarray(quantize(degraded)).save(degraded_tmp, "PNG")
    return inputs, targets


def write_bicubic(inputs: Path, scale: int, folder: Path) -> Path:
    """The images of ``inputs`` bicubic-upscaled ``scale`` times (what the ``sr`` model starts from),
    as 8-bit PNGs of the same names in ``folder``: the baseline super-resolution is judged against."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in list_images(inputs):
        enlarged = upscale_planes(to_float(read_named(path)), scale)
        with atomic_path(folder / f"{path.stem}.png") as tmp:
            Image.fromarray(quantize(enlarged)).save(tmp, "PNG")
    return folder


def _augment(arrays: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """The same random flip / 90-degree rotation for every array."""
    k, flip = int(rng.integers(4)), bool(rng.integers(2))
    out = []
    for a in arrays:
        a = np.rot90(a, k)
        out.append(np.ascontiguousarray(a[:, ::-1] if flip else a))
    return out


def random_crop(arrays: list[np.ndarray], size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """The same random ``size`` x ``size`` window of every array (reflect-padded when smaller)."""
    h, w = arrays[0].shape[:2]
    if h < size or w < size:
        pad = ((0, max(0, size - h)), (0, max(0, size - w)), (0, 0))
        arrays = [np.pad(a, pad, mode="reflect") for a in arrays]
        h, w = arrays[0].shape[:2]
    y, x = int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))
    return [a[y : y + size, x : x + size] for a in arrays]


class PatchSampler(torch.utils.data.Dataset):
    """Random training patches from paired images and/or clean images with a synthetic degradation.

    Item ``i`` is a pure function of ``(seed, i)``: resuming at step s replays the same stream.
    Synthetic degradations are applied to a crop with a margin, then cropped to the patch, so that
    streaks and flakes do not fade at the patch border.
    """

    MARGIN = 24

    def __init__(
        self,
        paired: list[tuple[np.ndarray, np.ndarray]],
        clean: list[np.ndarray],
        degradation: Degradation | None,
        patch: int,
        seed: int,
        paired_fraction: float = 0.5,
        length: int = 10**9,
        exposure: tuple[float, float] | None = None,
    ):
        if not paired and not clean:
            raise ValueError("no training images")
        if clean and degradation is None:
            raise ValueError("clean training images need a degradation")
        self.paired, self.clean, self.degradation = paired, clean, degradation
        self.patch, self.seed, self.length = patch, seed, length
        self.paired_fraction = paired_fraction if paired and clean else float(bool(paired))
        self.exposure = exposure  # clean images re-exposed by a factor in this range before degradation

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, index])
        if rng.random() < self.paired_fraction:
            degraded, clean = self.paired[int(rng.integers(len(self.paired)))]
            degraded, clean = (to_float(a) for a in random_crop([degraded, clean], self.patch, rng))
        else:
            image = self.clean[int(rng.integers(len(self.clean)))]
            (region,) = random_crop([image], self.patch + 2 * self.MARGIN, rng)
            region = to_float(region)
            if self.exposure:
                region = reexposed(region, rng, self.exposure)
            m = slice(self.MARGIN, self.MARGIN + self.patch)
            degraded, clean = self.degradation(region, rng)[m, m], region[m, m]
        degraded, clean = _augment([degraded, clean], rng)
        return (torch.from_numpy(degraded).permute(2, 0, 1), torch.from_numpy(clean).permute(2, 0, 1))


def read_named(path: Path) -> np.ndarray:
    """read_rgb, with the file's name in the error."""
    try:
        return read_rgb(path)
    except (ImageReadError, OSError) as exc:
        raise ValueError(f"{path}: {exc}") from None


def load_training_images(folders: list[Path]) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[np.ndarray]]:
    """uint8 images of every folder: paired folders give pairs, other folders clean images."""
    paired, clean = [], []
    for folder in folders:
        if is_paired_folder(folder):
            paired += [(read_named(a), read_named(b)) for a, b in paired_files(folder)]
        else:
            clean += [read_named(p) for p in clean_files(folder)]
    return paired, clean


class DownscalePatchSampler(torch.utils.data.Dataset):
    """(low-resolution, clean) training patches for a model that enlarges: a clean patch of
    ``patch * scale`` px, flipped or rotated, and its bicubic downscale (8 bits), as super-resolution
    benchmarks make their inputs.

    Every item of a step has that step's ``scale`` (one tail per step), drawn from ``scales`` by
    ``(seed, step)`` with ``items_per_step`` items a step (the batch times the number of processes);
    item ``i`` is a pure function of ``(seed, i)``, so that a resumed run replays the same stream.
    """

    def __init__(self, clean: list[np.ndarray], scales: list[int], patch: int, seed: int, items_per_step: int,
                 length: int = 10**9):
        if not clean:
            raise ValueError("no clean training images (a run that enlarges makes its pairs from clean images)")
        self.clean, self.scales, self.patch, self.seed = clean, scales, patch, seed
        self.items_per_step, self.length = items_per_step, length

    def __len__(self) -> int:
        return self.length

    def scale_of(self, index: int) -> int:
        step = index // self.items_per_step
        return int(np.random.default_rng([self.seed, step, 1]).choice(self.scales))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, index])
        scale = self.scale_of(index)
        image = self.clean[int(rng.integers(len(self.clean)))]
        (clean,) = _augment(random_crop([image], self.patch * scale, rng), rng)
        clean = to_float(clean)
        small = downscale(scale)(clean, rng)
        return (torch.from_numpy(small).permute(2, 0, 1), torch.from_numpy(clean).permute(2, 0, 1))
