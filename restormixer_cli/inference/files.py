"""Restoring image files: inputs to mirrored outputs, safely, with per-file results.

The one restore pipeline: :func:`plan_restore` finds the inputs and plans every write before any
work, :func:`restore_jobs` runs the plan file by file. The command line, the Python API and the
demo all go through both."""

from __future__ import annotations

import errno
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..io import DEFAULT_QUALITY
from ..io.atomic import remove_stale_parts
from ..io.discovery import InputFile, expand_inputs
from ..io.formats import FORMATS, OUTPUT_EXTENSIONS
from ..io.images import DEFAULT_MAX_PIXELS, ImageData, ImageReadError, read_image, write_image
from ..io.write_plan import PlanError, WritePlan, check_folder
from ..metrics.evaluate import EvalSettings, ImageScore, find_ground_truth, score_pair
from .compare import write_comparison
from .engine import NonFiniteOutput, Restorer

Existing = Literal["error", "skip", "overwrite"]


@dataclass
class FileJob:
    source: InputFile
    output: Path
    comparison: Path | None = None


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
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    output_file: Path | None = None  # the one output of a single input, instead of a mirrored folder
    quality: int = DEFAULT_QUALITY  # JPEG and WebP

    def __post_init__(self) -> None:
        self.ext = self.ext.lower().lstrip(".")
        if self.ext not in OUTPUT_EXTENSIONS:
            raise ValueError(f"unknown output extension {self.ext!r}: use {', '.join(OUTPUT_EXTENSIONS)}")
        if self.gt_dir is not None and not Path(self.gt_dir).is_dir():
            raise ValueError(f"{self.gt_dir}: ground-truth folder does not exist")
        if not 1 <= self.quality <= 100:
            raise ValueError(f"quality must be from 1 to 100, not {self.quality}")
        if any(sep in self.suffix for sep in ("/", "\\")):
            raise ValueError("suffix must not contain path separators")


def output_path(source: InputFile, options: OutputOptions) -> Path:
    if options.output_file is not None:
        return options.output_file
    suffix = source.path.suffix.lower() if options.ext == "same" else f".{options.ext}"
    if suffix not in FORMATS:
        suffix = ".png"
    relative = source.relative.with_name(source.relative.stem + options.suffix + suffix)
    return options.output_dir / relative


def is_restore_report(path: Path) -> bool:
    """Whether ``path`` holds a JSON report that restore wrote (a resumed run may replace it)."""
    try:
        report = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(report, dict) and {"files", "summary", "settings"} <= report.keys()


def comparison_path(source: InputFile, options: OutputOptions) -> Path | None:
    if options.compare_dir is None:
        return None
    return options.compare_dir / source.relative.with_suffix(".png")


def plan_jobs(sources: list[InputFile], options: OutputOptions, reports: Iterable[Path] = ()) -> list[FileJob]:
    """Map inputs to outputs and comparison pictures; raise PlanError if any write (``reports``
    included) would replace an input, repeat, go to an unusable folder, or replace an existing file
    without ``existing="overwrite"``. With ``existing="skip"`` existing outputs (and their
    comparison pictures) are kept, and a previous restore report may be replaced."""
    if options.output_file is not None and len(sources) != 1:
        raise PlanError(f"an output file ({options.output_file}) takes exactly one input image, not {len(sources)}; "
                        "give an output folder")
    check_folder(options.output_dir, "output folder")
    if options.compare_dir is not None:
        check_folder(options.compare_dir, "comparison folder")
    jobs = [FileJob(s, output_path(s, options), comparison_path(s, options)) for s in sources]
    plan = WritePlan((s.path for s in sources), overwrite=options.existing == "overwrite")
    for report in reports:
        resumed = options.existing == "skip" and is_restore_report(report)
        plan.claim(report, "the report", check_existing=not resumed)
    for job in jobs:
        plan.claim(job.output, f"the output of {job.source.path}", check_existing=False)
        if job.comparison is not None:
            resumed = options.existing == "skip" and job.output.exists()
            plan.claim(job.comparison, f"the comparison picture of {job.source.path}", check_existing=not resumed)
    if options.existing == "error":
        existing = [j.output for j in jobs if j.output.exists()]
        if existing:
            more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
            raise PlanError(f"{existing[0]}{more} already exist; pass --skip-existing to resume or --overwrite to replace")
    return jobs


def plan_restore(inputs: Iterable[str | Path], options: OutputOptions, reports: Iterable[Path] = ()) -> list[FileJob]:
    """Find the input images (files, folders, glob patterns; the run's own output and comparison
    folders skipped) and plan their outputs with :func:`plan_jobs`."""
    own = [] if options.output_file is not None else [options.output_dir]
    own += [options.compare_dir] if options.compare_dir is not None else []
    return plan_jobs(expand_inputs([str(spec) for spec in inputs], exclude=own), options, reports)


@dataclass
class RestoreRun:
    """What :func:`restore_jobs` did: one result per file it reached, and why it stopped early, if it did."""

    results: list[FileResult] = field(default_factory=list)
    interrupted: int = 0  # the exit status of the signal that stopped the run (130 Ctrl-C, 143 SIGTERM)
    disk_full: Path | None = None  # the output that could not be written


def restore_jobs(jobs: list[FileJob], runner: "FileRestorer",
                 on_start: Callable[[FileJob], None] = lambda job: None,
                 on_result: Callable[[FileResult], None] = lambda result: None,
                 on_tile: Callable[[int, int], None] | None = None) -> RestoreRun:
    """Restore planned jobs in order. A file that fails is recorded and the run goes on; Ctrl-C
    (or SIGTERM turned into KeyboardInterrupt) and a full disk stop the run, leaving only complete
    outputs behind."""
    for folder in {job.output.parent for job in jobs} | {job.comparison.parent for job in jobs if job.comparison}:
        remove_stale_parts(folder)
    run = RestoreRun()
    for job in jobs:
        on_start(job)
        try:
            result = runner.run(job, on_tile)
        except KeyboardInterrupt as exc:
            run.interrupted = getattr(exc, "exit_code", 130)
            break
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            run.disk_full = job.output
            run.results.append(FileResult(str(job.source.path), None, "failed", error="disk full"))
            break
        run.results.append(result)
        on_result(result)
    return run


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
            image = read_image(job.source.path, self.options.max_pixels)
        except ImageReadError as exc:
            return FileResult(str(job.source.path), None, "failed", error=str(exc))
        result.width, result.height = image.size
        try:
            restored = self.restorer.restore_data(image, on_tile)
            result.notes = self._format_notes(image, job.output)
            job.output.parent.mkdir(parents=True, exist_ok=True)
            write_image(job.output, restored, self.options.quality)
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
                    gt = read_image(gt_path, options.max_pixels)
                    written = read_image(job.output)
                    score = score_pair(job.source.relative.as_posix(), written, gt, options.eval_settings)
                except ImageReadError as exc:
                    score = ImageScore(job.source.relative.as_posix(), error=f"ground truth: {exc}")
                result.ground_truth = str(gt_path)
                if score.error:
                    result.notes.append(score.error)
                result.psnr, result.ssim = score.psnr, score.ssim
        if job.comparison is not None:
            job.comparison.parent.mkdir(parents=True, exist_ok=True)
            write_comparison(job.comparison, image, restored, gt, result.psnr, result.ssim)
