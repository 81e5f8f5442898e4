"""Scoring restored images and videos against ground truth: pairing folders, per-file scores
(a video's or animation's frame by frame), summaries over every scored frame."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np
import torch

from ..io import DEFAULT_MAX_PIXELS
from ..io.atomic import write_text_atomic
from ..io.discovery import is_media_path, list_media
from ..io.images import ImageData, ImageReadError, read_image
from ..io.video import ClipReadError, clip_kind, probe_clip, read_clip
from .quality import psnr, ssim


@dataclass(frozen=True)
class EvalSettings:
    """How predictions are scored against ground truth.

    ``y_channel``: on MATLAB's BT.601 luma instead of RGB; ``crop_border``: pixels left out on each
    side; ``mod_crop``: each ground truth first cropped top-left to a multiple of this many pixels
    (1: not cropped), as super-resolution benchmarks made their low-resolution inputs from originals
    whose sides need not be a multiple of the scale.
    """

    y_channel: bool = False
    crop_border: int = 0
    mod_crop: int = 1

    def __post_init__(self) -> None:
        if self.crop_border < 0:
            raise ValueError("crop border must be >= 0")
        if self.mod_crop < 1:
            raise ValueError("mod crop must be >= 1")


def mean_scores(psnrs: list[float], ssims: list[float]) -> dict:
    """Mean PSNR and SSIM, image count and how many PSNRs are infinite (identical images make the mean infinite)."""
    if not psnrs:
        return {"psnr": None, "ssim": None, "count": 0, "infinite_psnr": 0}
    return {"psnr": float(np.mean(psnrs)), "ssim": float(np.mean(ssims)), "count": len(psnrs),
            "infinite_psnr": sum(1 for p in psnrs if math.isinf(p))}


def format_score(value: float | None, digits: int) -> str:
    """A score for display: fixed digits, "inf" for identical images, "-" when there is none."""
    if value is None:
        return "-"
    return "inf" if math.isinf(value) else f"{value:.{digits}f}"


def inf_as_text(value: object) -> object:
    """JSON has no infinity: an infinite PSNR (alone or in a list) is written as the string "inf"."""
    if isinstance(value, list):
        return [inf_as_text(item) for item in value]
    return "inf" if isinstance(value, float) and math.isinf(value) else value


@dataclass
class ImageScore:
    """A file's scores; for a video or animation, the means over its frames and each frame's."""

    name: str
    psnr: float | None = None
    ssim: float | None = None
    error: str | None = None
    sixteen_bit: bool = False
    frame_psnr: list[float] | None = None
    frame_ssim: list[float] | None = None
    gt_crop: str | None = None  # where mod crop cut the ground truth: "250x361 to 248x360"


def frame_scores(scored: Iterable) -> tuple[list[float], list[float]]:
    """The PSNR and SSIM of every frame of scored files (ImageScore or restore results): an image is
    one frame, a video or animation has one pair of scores per frame."""
    scored = list(scored)
    return ([p for s in scored for p in (s.frame_psnr or [s.psnr])],
            [q for s in scored for q in (s.frame_ssim or [s.ssim])])


@dataclass
class EvalReport:
    """Every scored pair of a run and the files that found no partner, with the settings they were scored with."""

    settings: EvalSettings
    images: list[ImageScore] = field(default_factory=list)
    unpaired_pred: list[str] = field(default_factory=list)
    unpaired_gt: list[str] = field(default_factory=list)

    @property
    def scored(self) -> list[ImageScore]:
        return [s for s in self.images if s.error is None]

    @property
    def summary(self) -> dict:
        """Mean PSNR/SSIM over the scored images and video frames, their count and how many PSNRs are infinite."""
        return mean_scores(*frame_scores(self.scored))

    def to_json(self) -> dict:
        """The report as ``{"settings", "images", "mean", "count", ...}`` (inf PSNR written as "inf")."""
        images = [{k: inf_as_text(v) for k, v in asdict(s).items() if v is not None} for s in self.images]
        summary = self.summary
        return {
            "settings": {**asdict(self.settings), "scale": "0..255 (16-bit images scaled from 0..65535)"},
            "images": images,
            "mean": {"psnr": inf_as_text(summary["psnr"]), "ssim": summary["ssim"]},
            "count": summary["count"],
            "infinite_psnr": summary["infinite_psnr"],
            "errors": sum(1 for s in self.images if s.error),
            "unpaired_pred": self.unpaired_pred,
            "unpaired_gt": self.unpaired_gt,
        }

    def write_json(self, target: Path | TextIO) -> None:
        """Write the JSON report to a file (atomically) or an open text stream."""
        _write(target, json.dumps(self.to_json(), indent=2) + "\n")

    def write_csv(self, target: Path | TextIO) -> None:
        """Write the CSV report to a file (atomically) or an open text stream."""
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer)
        writer.writerow(["name", "psnr", "ssim", "error"])
        for s in self.images:
            writer.writerow([s.name, s.psnr if s.psnr is not None else "", s.ssim if s.ssim is not None else "", s.error or ""])
        mean = self.summary
        writer.writerow(["mean", mean["psnr"] if mean["psnr"] is not None else "", mean["ssim"] if mean["ssim"] is not None else "", ""])
        _write(target, buffer.getvalue())


def _write(target: Path | TextIO, text: str) -> None:
    if isinstance(target, (str, Path)):
        write_text_atomic(Path(target), text)
    else:
        target.write(text)


def to_255(image: ImageData) -> torch.Tensor:
    """(C, H, W) float64 tensor on the 0..255 scale: the file's exact integer levels, 16-bit ones
    scaled from 0..65535."""
    peak = float(2**image.bit_depth - 1)
    levels = torch.from_numpy(image.pixels).permute(2, 0, 1).to(torch.float64).mul_(peak).round_()
    return levels * (255.0 / peak)


def _match_channels(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Grayscale against colour: replicate the grayscale image."""
    if a.shape[0] == 1 and b.shape[0] == 3:
        a = a.expand(3, -1, -1)
    elif b.shape[0] == 1 and a.shape[0] == 3:
        b = b.expand(3, -1, -1)
    return a, b


def _mod_crop(image: torch.Tensor, multiple: int) -> torch.Tensor:
    """A (C, H, W) image cropped top-left to a multiple of ``multiple`` pixels in each dimension."""
    height, width = image.shape[1:]
    return image[:, : height - height % multiple, : width - width % multiple]


def score_pair(name: str, pred: ImageData, gt: ImageData, settings: EvalSettings) -> ImageScore:
    """PSNR/SSIM of one prediction against its ground truth (mod-cropped as ``settings`` say); a size
    mismatch becomes an error entry, never a resize."""
    a, b = _match_channels(to_255(pred), _mod_crop(to_255(gt), settings.mod_crop))
    sixteen = pred.bit_depth == 16 or gt.bit_depth == 16
    if a.shape != b.shape:
        return ImageScore(name, error=f"size mismatch: prediction {pred.size[0]}x{pred.size[1]}, "
                                      f"ground truth {gt.size[0]}x{gt.size[1]}", sixteen_bit=sixteen)
    cropped = f"{gt.size[0]}x{gt.size[1]} to {pred.size[0]}x{pred.size[1]}" if gt.size != pred.size else None
    try:
        return ImageScore(name, psnr(a, b, settings.crop_border, settings.y_channel),
                          ssim(a, b, settings.crop_border, settings.y_channel), sixteen_bit=sixteen, gt_crop=cropped)
    except ValueError as exc:
        return ImageScore(name, error=str(exc), sixteen_bit=sixteen)


def _key(path: Path, root: Path, suffix: str) -> Path:
    relative = path.relative_to(root).with_suffix("")
    if suffix and relative.name.endswith(suffix) and relative.name != suffix:
        relative = relative.with_name(relative.name[: -len(suffix)])
    return relative


def _matching(candidates: list[Path], suffix: str) -> Path | None:
    """The ground truth among files of one stem: the one with the prediction's extension, else the
    only one; None when several differ from it (``a.png`` next to ``a.bmp``: no guessing)."""
    same = [c for c in candidates if c.suffix.lower() == suffix.lower()]
    return same[0] if same else candidates[0] if len(candidates) == 1 else None


def pair_folders(pred_dir: Path, gt_dir: Path, suffix: str = "") -> tuple[list[tuple[str, Path, Path]], list[str], list[str]]:
    """Match predictions to ground truth by relative path and stem (extensions may differ).

    ``suffix`` is stripped from prediction stems first. Returns (pairs, unpaired predictions,
    unpaired ground truth).
    """
    for folder in (pred_dir, gt_dir):
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"{folder}: {'not a folder' if Path(folder).exists() else 'no such folder'}")
    gts: dict[Path, list[Path]] = {}
    for p in list_media(gt_dir):
        gts.setdefault(_key(p, gt_dir, ""), []).append(p)
    pairs, unpaired_pred = [], []
    for p in list_media(pred_dir):
        key = _key(p, pred_dir, suffix)
        gt = _matching(gts.get(key, []), p.suffix)
        if gt is not None:
            pairs.append((key.as_posix(), p, gt))
            gts[key].remove(gt)
        else:
            unpaired_pred.append(p.relative_to(pred_dir).as_posix())
    unpaired_gt = sorted(p.relative_to(gt_dir).as_posix() for left in gts.values() for p in left)
    return pairs, unpaired_pred, unpaired_gt


def find_ground_truth(relative: Path, gt_dir: Path) -> Path | None:
    """The ground-truth file for an input's relative path: same folder and stem, any image or video
    extension (the input's first, as :func:`pair_folders` chooses); ValueError when several others
    would do."""
    folder = gt_dir / relative.parent
    if not folder.is_dir():
        return None
    candidates = [c for c in sorted(folder.iterdir())
                  if c.is_file() and c.stem == relative.stem and is_media_path(c)]
    match = _matching(candidates, relative.suffix) if candidates else None
    if candidates and match is None:
        raise ValueError(f"several ground truths of that name: {', '.join(c.name for c in candidates)}")
    return match


def score_clips(name: str, pred: Path, gt: Path, settings: EvalSettings,
                max_pixels: int | None = DEFAULT_MAX_PIXELS) -> ImageScore:
    """Mean and per-frame PSNR/SSIM of two videos' or animations' frame pairs (upright frames, each
    scored and mod-cropped as :func:`score_pair` does images); an unreadable clip, a frame count or
    size mismatch becomes an error entry."""
    try:
        pred_info, gt_info = probe_clip(pred, max_pixels), probe_clip(gt, max_pixels)
    except ClipReadError as exc:
        return ImageScore(name, error=str(exc))
    if pred_info.frames != gt_info.frames:
        return ImageScore(name, error=f"frame count mismatch: prediction {pred_info.frames}, ground truth {gt_info.frames}")
    frames: list[ImageScore] = []
    try:
        with closing(read_clip(pred, pred_info)) as preds, closing(read_clip(gt, gt_info)) as gts:
            for number, (a, b) in enumerate(zip(preds, gts), 1):
                frames.append(score_pair(name, a, b, settings))
                if frames[-1].error:
                    return ImageScore(name, error=f"frame {number}: {frames[-1].error}")
    except ClipReadError as exc:
        return ImageScore(name, error=str(exc))
    psnrs, ssims = frame_scores(frames)
    return ImageScore(name, float(np.mean(psnrs)), float(np.mean(ssims)), sixteen_bit=frames[0].sixteen_bit,
                      frame_psnr=psnrs, frame_ssim=ssims, gt_crop=frames[0].gt_crop)


def score_files(name: str, pred: Path, gt: Path, settings: EvalSettings,
                max_pixels: int | None = DEFAULT_MAX_PIXELS) -> ImageScore:
    """PSNR/SSIM of a prediction file against its ground truth: two images, or two clips frame by
    frame; an unreadable file becomes an error entry that says which one it is."""
    kinds = (clip_kind(pred) is not None, clip_kind(gt) is not None)
    if kinds[0] != kinds[1]:
        return ImageScore(name, error=f"the {'prediction' if kinds[0] else 'ground truth'} is a video or animation, "
                                      "the other an image")
    if kinds[0]:
        return score_clips(name, pred, gt, settings, max_pixels)
    images: list[ImageData] = []
    for side, path in (("prediction", pred), ("ground truth", gt)):
        try:
            images.append(read_image(path, max_pixels))
        except ImageReadError as exc:
            return ImageScore(name, error=f"{side}: {exc}")
    return score_pair(name, *images, settings)


def evaluate_pairs(pairs: list[tuple[str, Path, Path]], settings: EvalSettings,
                   on_image: Callable[[ImageScore], None] | None = None,
                   max_pixels: int | None = DEFAULT_MAX_PIXELS) -> list[ImageScore]:
    """Score (name, prediction, ground truth) files, images or clips; unreadable files, files of more
    than ``max_pixels`` pixels and size mismatches become errors."""
    scores = []
    for name, pred_path, gt_path in pairs:
        score = score_files(name, pred_path, gt_path, settings, max_pixels)
        scores.append(score)
        if on_image:
            on_image(score)
    return scores


def evaluate_folders(pred_dir: Path, gt_dir: Path, settings: EvalSettings, suffix: str = "") -> EvalReport:
    """Pair the folders and score every pair."""
    pairs, unpaired_pred, unpaired_gt = pair_folders(Path(pred_dir), Path(gt_dir), suffix)
    return EvalReport(settings, evaluate_pairs(pairs, settings), unpaired_pred, unpaired_gt)
