"""Restoring image, video and animation files, safely, with per-file results.

The one restore pipeline: :mod:`.plan` finds the inputs and plans every write before any work,
:func:`restore_jobs` runs the plan file by file. The command line, the Python API, the server and
the demo all go through both; the Ray engine (:mod:`.ray_engine`) makes the same
:meth:`Job.restore` call on its workers, and :mod:`.remote`'s jobs restore files named by URI.
:class:`FileRestorer` hands the frames of videos and animations to :mod:`.video` and treats their
files as it treats images'."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import torch

from ..io import DEFAULT_QUALITY
from ..io.atomic import remove_stale_parts
from ..io.discovery import InputFile, Unreadable
from ..io.formats import DEFAULT_CRF, FORMATS, MAX_CRF, OUTPUT_EXTENSIONS, VIDEO_CODECS
from ..io.images import DEFAULT_MAX_PIXELS, ImageData, ImageReadError, read_image, write_image
from ..io.video import ClipReadError, ClipWriteError, Encoding
from ..metrics.evaluate import EvalSettings, find_ground_truth, score_files
from ..signals import StopSignals
from .compare import write_comparison, write_comparison_video
from .engine import NonFiniteOutput, Restorer
from .video import ClipRestorer, FrameCallback

Existing = Literal["error", "skip", "overwrite"]
MAX_SUFFIX_BYTES = 100  # of a file name's 255, so that a long stem still fits


class Job(Protocol):
    """One input file's work, whatever engine runs it and wherever its files live."""

    @property
    def input(self) -> str:
        """The input (a path or a URI), as results name it."""

    @property
    def name(self) -> str:
        """The input's file name, for progress displays."""

    @property
    def target(self) -> str:
        """Where its output goes (a path or a URI), for messages."""

    def local_outputs(self) -> list[Path]:
        """The local files it writes (temporary files of a killed attempt lie beside them)."""

    def restore(self, runner: FileRestorer, on_tile: Callable[[int, int], None] | None = None,
                on_frame: FrameCallback | None = None) -> FileResult:
        """Restore it with ``runner``: one call, the same for every engine."""


@dataclass
class FileJob:
    """A local input file, its output and its comparison picture."""

    source: InputFile
    output: Path
    comparison: Path | None = None
    clip: bool = False  # a video or animation, restored frame by frame

    @property
    def input(self) -> str:
        return str(self.source.path)

    @property
    def name(self) -> str:
        return self.source.path.name

    @property
    def target(self) -> str:
        return str(self.output)

    def local_outputs(self) -> list[Path]:
        return [self.output] + ([self.comparison] if self.comparison is not None else [])

    def restore(self, runner: FileRestorer, on_tile: Callable[[int, int], None] | None = None,
                on_frame: FrameCallback | None = None) -> FileResult:
        return runner.run(self, on_tile, on_frame)


@dataclass
class FileResult:
    input: str
    output: str | None
    status: Literal["done", "skipped", "failed"]
    error: str | None = None
    width: int | None = None  # of the input (super-resolution outputs are scale times larger)
    height: int | None = None
    seconds: float = 0.0
    psnr: float | None = None
    ssim: float | None = None
    ground_truth: str | None = None
    route: str | None = None  # the default's choice of checkpoints for this file, and why
    notes: list[str] = field(default_factory=list)
    frames: int | None = None  # videos and animations: frames restored
    frame_rate: float | None = None  # their frames per second
    duration: float | None = None  # their length in seconds
    fps: float | None = None  # frames restored per second
    frame_psnr: list[float] | None = None  # with ground truth: each frame's scores (psnr, ssim: the means)
    frame_ssim: list[float] | None = None

    @property
    def megapixels(self) -> float:
        return (self.width or 0) * (self.height or 0) * (self.frames or 1) / 1e6


@dataclass
class OutputOptions:
    """How restored files are written: under which name and format, what to do with existing
    outputs, the lossy formats' quality, videos' encoding, the pixel limit, and the ground truth and
    comparison folders of a scored run. Where they go is the run's output (:mod:`.plan`)."""

    suffix: str = ""
    ext: str = "same"
    existing: Existing = "error"
    gt_dir: Path | None = None
    compare_dir: Path | None = None
    eval_settings: EvalSettings = field(default_factory=EvalSettings)
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    quality: int = DEFAULT_QUALITY  # lossy image formats (JPEG, WebP, ...), animated WebP
    crf: int = DEFAULT_CRF  # videos: constant rate factor, lower is better
    codec: str | None = None  # videos: encoder, where the container takes it (None: the container's default)

    def __post_init__(self) -> None:
        self.ext = self.ext.lower().lstrip(".")
        if self.ext not in OUTPUT_EXTENSIONS:
            raise ValueError(f"unknown output extension {self.ext!r}: use {', '.join(OUTPUT_EXTENSIONS)}")
        if self.gt_dir is not None and not Path(self.gt_dir).is_dir():
            raise ValueError(f"{self.gt_dir}: ground-truth folder does not exist")
        if not 1 <= self.quality <= 100:
            raise ValueError(f"quality must be from 1 to 100, not {self.quality}")
        if any(sep in self.suffix for sep in ("/", "\\")) or not self.suffix.isprintable():
            raise ValueError("suffix must not contain path separators or control characters")
        if len(os.fsencode(self.suffix)) > MAX_SUFFIX_BYTES:
            raise ValueError(f"suffix is longer than {MAX_SUFFIX_BYTES} bytes: file names have at most 255")
        if not 0 <= self.crf <= MAX_CRF:
            raise ValueError(f"crf must be from 0 to {MAX_CRF}, not {self.crf}")
        if self.codec is not None and self.codec not in VIDEO_CODECS:
            raise ValueError(f"unknown video codec {self.codec!r}: use {', '.join(VIDEO_CODECS)}")

    @property
    def encoding(self) -> Encoding:
        return Encoding(self.codec, self.crf, self.quality)


@dataclass
class UnreadableJob:
    """An input that could not be listed or read while the inputs were found: its job is a failed
    result, so that the run names it and ends with status 1, and the other inputs go on."""

    input: str
    name: str
    reason: str
    target: str = ""  # it writes nothing

    @classmethod
    def of(cls, problem: Unreadable) -> UnreadableJob:
        return cls(str(problem.path), problem.path.name, problem.reason)

    def local_outputs(self) -> list[Path]:
        return []

    def restore(self, runner: FileRestorer, on_tile: Callable[[int, int], None] | None = None,
                on_frame: FrameCallback | None = None) -> FileResult:
        return FileResult(self.input, None, "failed", error=self.reason)


@dataclass
class RestoreRun:
    """What :func:`restore_jobs` did: one result per file it reached, and why it stopped early, if it did."""

    results: list[FileResult] = field(default_factory=list)
    interrupted: int = 0  # the exit status of the signal that stopped the run (130 Ctrl-C, 143 SIGTERM)
    disk_full: str | None = None  # the output that could not be written


def remove_stale_outputs(jobs: Iterable[Job]) -> None:
    """Delete the temporary files that killed runs left in the folders ``jobs`` write to."""
    for folder in {path.parent for job in jobs for path in job.local_outputs()}:
        remove_stale_parts(folder)


def restore_jobs(jobs: list[Job], runner: FileRestorer,
                 on_start: Callable[[Job], None] = lambda job: None,
                 on_result: Callable[[FileResult], None] = lambda result: None,
                 on_tile: Callable[[int, int], None] | None = None,
                 on_frame: FrameCallback | None = None) -> RestoreRun:
    """Restore planned jobs in order (``on_tile`` follows an image's tiles, ``on_frame`` a video's
    frames). A file that fails is recorded and the run goes on; Ctrl-C and a full disk stop the run,
    leaving only complete outputs behind. With the runner's ``stops`` entered by the caller, Ctrl-C
    and SIGTERM stop the file under way (an image being written is finished first), and one that
    arrives between files (in ``on_result``) stops the run before the next: the run always returns,
    its ``interrupted`` saying by which signal."""
    stops = runner.stops
    remove_stale_outputs(jobs)
    run = RestoreRun()
    for job in jobs:
        on_start(job)
        result: FileResult | None = None
        try:
            with stops.interruptible():
                result = job.restore(runner, on_tile, on_frame)
        except KeyboardInterrupt as exc:  # the job's result is kept if it came just before
            run.interrupted = getattr(exc, "exit_code", 130)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            run.disk_full = job.target
            run.results.append(disk_full_result(job))
            break
        if result is not None:
            run.results.append(result)
            on_result(result)
        if run.interrupted:
            break
    run.interrupted = run.interrupted or stops.exit_code  # a signal during the last file's on_result
    return run


def disk_full_result(job: Job) -> FileResult:
    """The result of a job whose output did not fit on the disk (the run stops there)."""
    return FileResult(job.input, None, "failed", error="disk full")


class FileRestorer:
    """Restores planned jobs one by one; a failing file is recorded and the run goes on."""

    def __init__(self, restorer: Restorer, options: OutputOptions, stops: StopSignals | None = None):
        self.restorer = restorer
        self.options = options
        self.stops = stops or StopSignals()  # not entered: a Ctrl-C between files raises where it lands
        # the pixel limit bounds what is held in memory: the output, which super-resolution enlarges
        self.input_limit = int(options.max_pixels // restorer.largest_factor**2) if options.max_pixels else None
        self.clips = ClipRestorer(restorer, options.encoding, self.input_limit)

    def run(self, job: FileJob, on_tile: Callable[[int, int], None] | None = None,
            on_frame: FrameCallback | None = None) -> FileResult:
        result = FileResult(str(job.source.path), str(job.output), "done")
        if job.output.exists() and self.options.existing == "skip":
            result.status = "skipped"
            return result
        return self._run_clip(job, result, on_frame) if job.clip else self._run_image(job, result, on_tile)

    def _run_image(self, job: FileJob, result: FileResult, on_tile: Callable[[int, int], None] | None) -> FileResult:
        started = time.perf_counter()
        try:
            image = read_image(job.source.path, self.input_limit)
        except ImageReadError as exc:
            return FileResult(str(job.source.path), None, "failed", error=str(exc))
        result.width, result.height = image.size
        try:
            runner, route = self.restorer.routed(torch.from_numpy(np.ascontiguousarray(image.rgb)).permute(2, 0, 1))
            result.route = route and str(route)
            restored = runner.restore_data(image, on_tile)
        except NonFiniteOutput as exc:
            return self._failed(result, str(exc))
        self.stops.defer_rest()  # an image being written is finished and recorded; a signal stops the run after it
        return self._write_image(job, result, image, restored, started)

    def _write_image(self, job: FileJob, result: FileResult, image: ImageData, restored: ImageData,
                     started: float) -> FileResult:
        """Write a restored image, then score it and draw its comparison picture."""
        result.notes = self._format_notes(image, job.output)
        try:
            job.output.parent.mkdir(parents=True, exist_ok=True)
            write_image(job.output, restored, self.options.quality)
        except OSError as exc:
            return self._write_failed(result, job, exc)
        result.seconds = time.perf_counter() - started
        self._score(job, result)
        if job.comparison is not None:
            job.comparison.parent.mkdir(parents=True, exist_ok=True)
            gt = self._ground_truth_image(result)
            write_comparison(job.comparison, image, restored, gt, result.psnr, result.ssim)
        return result

    def _run_clip(self, job: FileJob, result: FileResult, on_frame: FrameCallback | None) -> FileResult:
        """Restore a video or animation frame by frame; as for an image, a file that cannot be read
        or written is a failed result and only a complete output is left behind."""
        started = time.perf_counter()
        try:
            info = self.clips.probe(job.source.path)
        except ClipReadError as exc:
            return FileResult(str(job.source.path), None, "failed", error=str(exc))
        result.width, result.height, result.frames = info.width, info.height, info.frames
        result.frame_rate, result.duration = float(info.frame_rate), info.duration
        try:
            result.notes, route = self.clips.restore(job.source.path, info, job.output, on_frame)
            result.route = route and str(route)
        except (ClipReadError, ClipWriteError, NonFiniteOutput) as exc:
            return self._failed(result, str(exc))
        except OSError as exc:
            return self._write_failed(result, job, exc)
        result.seconds = time.perf_counter() - started
        result.fps = info.frames / result.seconds
        self._score(job, result)
        if job.comparison is not None:
            job.comparison.parent.mkdir(parents=True, exist_ok=True)
            scored = result.frame_psnr is not None
            try:
                write_comparison_video(job.comparison, job.source.path, job.output,
                                       Path(result.ground_truth) if scored else None, result.frame_psnr, result.frame_ssim)
            except (ClipReadError, ClipWriteError) as exc:  # the restored video itself is complete
                result.notes.append(f"no comparison video: {exc}")
        return result

    @staticmethod
    def _failed(result: FileResult, error: str) -> FileResult:
        result.status, result.error, result.output = "failed", error, None
        return result

    @classmethod
    def _write_failed(cls, result: FileResult, job: FileJob, exc: OSError) -> FileResult:
        """A failed result for an output that could not be written; a full disk stops the run instead."""
        if exc.errno == errno.ENOSPC:
            raise exc
        return cls._failed(result, f"cannot write {job.output}: {exc.strerror or exc}")

    @staticmethod
    def _format_notes(image: ImageData, output: Path) -> list[str]:
        fmt = FORMATS[output.suffix.lower()]
        notes = []
        if image.bit_depth == 16 and not fmt.sixteen_bit:
            notes.append(f"16-bit input written as 8-bit {fmt.name}")
        if image.alpha is not None and not fmt.alpha:
            notes.append(f"alpha channel dropped: {fmt.name} cannot store it")
        return notes

    def _score(self, job: FileJob, result: FileResult) -> None:
        """With a ground-truth folder: score the written output against its ground truth (an image,
        or a video or animation frame by frame)."""
        options = self.options
        if options.gt_dir is None:
            return
        try:
            gt_path = find_ground_truth(job.source.relative, options.gt_dir)
        except ValueError as exc:
            result.notes.append(str(exc))
            return
        if gt_path is None:
            result.notes.append("no ground truth found")
            return
        score = score_files(job.source.relative.as_posix(), job.output, gt_path, options.eval_settings,
                            options.max_pixels)
        result.ground_truth = str(gt_path)
        if score.error:
            result.notes.append(score.error)
        if score.gt_crop:
            result.notes.append(f"ground truth cropped top-left from {score.gt_crop} "
                                f"(a multiple of {options.eval_settings.mod_crop})")
        result.psnr, result.ssim = score.psnr, score.ssim
        result.frame_psnr, result.frame_ssim = score.frame_psnr, score.frame_ssim

    def _ground_truth_image(self, result: FileResult) -> ImageData | None:
        """The ground-truth image, if there is a readable one, for the comparison picture."""
        if result.ground_truth is None:
            return None
        try:
            return read_image(Path(result.ground_truth), self.options.max_pixels)
        except ImageReadError:
            return None
