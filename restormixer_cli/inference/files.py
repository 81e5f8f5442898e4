"""Restoring image files: inputs to mirrored outputs, safely, with per-file results."""

from __future__ import annotations

import errno
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ..io.discovery import InputFile
from ..io.images import FORMATS, ImageData, ImageReadError, read_image, write_image
from ..metrics.evaluate import EvalSettings, ImageScore, find_ground_truth, score_pair
from .compare import write_comparison
from .engine import NonFiniteOutput, Restorer

OUTPUT_EXTENSIONS = ("png", "jpg", "tif", "webp", "bmp", "same")
Existing = Literal["error", "skip", "overwrite"]


class PlanError(ValueError):
    """The run cannot start: outputs would overwrite inputs, collide, or already exist."""


@dataclass
class FileJob:
    source: InputFile
    output: Path


@dataclass
class FileResult:
    input: str
    output: str | None
    status: Literal["done", "skipped", "failed"]
    error: str | None = None
    width: int | None = None
    height: int | None = None
    seconds: float = 0.0
    psnr: float | None = None
    ssim: float | None = None
    ground_truth: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def megapixels(self) -> float:
        return (self.width or 0) * (self.height or 0) / 1e6


@dataclass
class OutputOptions:
    output_dir: Path = Path("restored")
    suffix: str = ""
    ext: str = "same"
    existing: Existing = "error"
    gt_dir: Path | None = None
    compare_dir: Path | None = None
    eval_settings: EvalSettings = field(default_factory=EvalSettings)

    def __post_init__(self) -> None:
        self.ext = self.ext.lower().lstrip(".")
        if self.ext not in OUTPUT_EXTENSIONS:
            raise ValueError(f"unknown output extension {self.ext!r}: use {', '.join(OUTPUT_EXTENSIONS)}")
        if self.gt_dir is not None and not Path(self.gt_dir).is_dir():
            raise ValueError(f"{self.gt_dir}: ground-truth folder does not exist")
        if any(sep in self.suffix for sep in ("/", "\\")):
            raise ValueError("suffix must not contain path separators")


def output_path(source: InputFile, options: OutputOptions) -> Path:
    suffix = source.path.suffix.lower() if options.ext == "same" else f".{options.ext}"
    if suffix not in FORMATS:
        suffix = ".png"
    relative = source.relative.with_name(source.relative.stem + options.suffix + suffix)
    return options.output_dir / relative


def plan_jobs(sources: list[InputFile], options: OutputOptions) -> list[FileJob]:
    """Map inputs to outputs; raise PlanError if any output would replace an input, repeat, or
    (with ``existing="error"``) already exist."""
    jobs = [FileJob(s, output_path(s, options)) for s in sources]
    inputs = {s.path.resolve() for s in sources}
    seen: dict[Path, Path] = {}
    for job in jobs:
        target = job.output.resolve()
        if target in inputs:
            raise PlanError(f"output {job.output} would overwrite an input; choose another -o folder or a --suffix")
        if target in seen:
            raise PlanError(f"{seen[target]} and {job.source.path} would both be written to {job.output}; "
                            "use --ext same or separate runs")
        seen[target] = job.source.path
    if options.existing == "error":
        existing = [j.output for j in jobs if j.output.exists()]
        if existing:
            more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
            raise PlanError(f"{existing[0]}{more} already exist; pass --skip-existing to resume or --overwrite to replace")
    return jobs


def _restore_pixels(restorer: Restorer, image: ImageData, on_tile) -> ImageData:
    tensor = torch.from_numpy(np.ascontiguousarray(image.rgb)).permute(2, 0, 1)
    restored = restorer.restore(tensor, on_tile).permute(1, 2, 0).numpy()
    return image.with_pixels(restored)


class FileRestorer:
    """Restores planned jobs one by one; a failing file is recorded and the run goes on."""

    def __init__(self, restorer: Restorer, options: OutputOptions):
        self.restorer = restorer
        self.options = options

    def run(self, job: FileJob, on_tile: Callable[[int, int], None] | None = None) -> FileResult:
        result = FileResult(str(job.source.path), str(job.output), "done")
        if job.output.exists() and self.options.existing == "skip":
            result.status = "skipped"
            return result
        started = time.perf_counter()
        try:
            image = read_image(job.source.path)
        except ImageReadError as exc:
            return FileResult(str(job.source.path), None, "failed", error=str(exc))
        result.width, result.height = image.size
        try:
            restored = _restore_pixels(self.restorer, image, on_tile)
            result.notes = self._format_notes(image, job.output)
            job.output.parent.mkdir(parents=True, exist_ok=True)
            write_image(job.output, restored)
        except NonFiniteOutput as exc:
            return self._failed(result, str(exc))
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise
            return self._failed(result, f"cannot write {job.output}: {exc.strerror or exc}")
        result.seconds = time.perf_counter() - started
        self._score(job, image, restored, result)
        return result

    @staticmethod
    def _failed(result: FileResult, error: str) -> FileResult:
        result.status, result.error, result.output = "failed", error, None
        return result

    @staticmethod
    def _format_notes(image: ImageData, output: Path) -> list[str]:
        fmt = FORMATS[output.suffix.lower()]
        notes = []
        if image.bit_depth == 16 and not fmt.sixteen_bit:
            notes.append(f"16-bit input written as 8-bit {fmt.name}")
        if image.alpha is not None and not fmt.alpha:
            notes.append(f"alpha channel dropped: {fmt.name} cannot store it")
        return notes

    def _score(self, job: FileJob, image: ImageData, restored: ImageData, result: FileResult) -> None:
        options = self.options
        score: ImageScore | None = None
        gt: ImageData | None = None
        if options.gt_dir is not None:
            gt_path = find_ground_truth(job.source.relative, options.gt_dir)
            if gt_path is None:
                result.notes.append("no ground truth found")
            else:
                try:
                    gt = read_image(gt_path)
                    written = read_image(job.output)
                    score = score_pair(job.source.relative.as_posix(), written, gt, options.eval_settings)
                except ImageReadError as exc:
                    score = ImageScore(job.source.relative.as_posix(), error=f"ground truth: {exc}")
                result.ground_truth = str(gt_path)
                if score.error:
                    result.notes.append(score.error)
                result.psnr, result.ssim = score.psnr, score.ssim
        if options.compare_dir is not None:
            target = options.compare_dir / job.source.relative.with_suffix(".png")
            target.parent.mkdir(parents=True, exist_ok=True)
            write_comparison(target, image, restored, gt, result.psnr, result.ssim)
