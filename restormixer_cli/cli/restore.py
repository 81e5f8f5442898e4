"""`restormixer restore`: option checks, progress display, summary and report."""

from __future__ import annotations

import io
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from PIL import Image
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TaskID, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.table import Table
from rich.text import Text

from .. import __version__
from ..api import load_restorer, upscaling_factor
from ..hub.download import HubError
from ..hub.loading import WeightsError
from ..hub.registry import default_task
from ..inference.engine import InferenceSettings, Restorer
from ..inference.files import (Existing, FileRestorer, FileResult, Job, OutputOptions, RestoreRun, plan_restore,
                               restore_jobs)
from ..inference.remote import plan_remote
from ..io import DEFAULT_MAX_PIXELS, DEFAULT_QUALITY
from ..io.atomic import write_text_atomic
from ..io.formats import DEFAULT_CRF, FORMATS, IMAGE_FORMAT_NAMES, MEDIA_EXTENSIONS, extension_for
from ..io.storage import is_uri
from ..io.video import clip_kind
from ..io.write_plan import PlanError
from ..metrics.evaluate import EvalSettings, format_score, frame_scores, inf_as_text, mean_scores
from ..scan import resolve_backend
from ..signals import sigterm_as_interrupt
from .app import USAGE_ERROR
from .messages import print_error, print_note, shown


STDOUT = Path("-")  # standard input or output: `restore - -o -`, `--json -`


@dataclass
class RestoreRequest:
    inputs: list[str]
    output: Path | str = Path("restored")  # a str: a URI
    output_is_folder: bool = False  # -o ended with a slash: a folder, even if named like a file (photos.jpg/)
    task: str | None = None
    weights: str | None = None
    scale: int | None = None
    outscale: float | None = None
    tile: int | None = None
    tile_overlap: int = 32
    device: str = "auto"
    precision: str = "auto"
    batch_size: int = 1
    self_ensemble: bool = False
    suffix: str = ""
    ext: str = "same"
    existing: Existing = "error"
    gt: Path | None = None
    y_channel: bool = False
    crop_border: int = 0
    compare: Path | None = None
    json_report: Path | None = None
    compile: bool = False
    endpoint: str | None = None
    quiet: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    quality: int = DEFAULT_QUALITY
    crf: int = DEFAULT_CRF
    codec: str | None = None
    engine: str = "local"
    address: str | None = None
    workers: int = 1
    gpus_per_worker: float = 0.0


def _summary(results: list[FileResult], elapsed: float) -> Table:
    done = [r for r in results if r.status == "done"]
    table = Table(title="restore summary")
    for column in ("done", "skipped", "failed", "megapixels", "time"):
        table.add_column(column, justify="right")
    table.add_row(str(len(done)), str(sum(r.status == "skipped" for r in results)),
                  str(sum(r.status == "failed" for r in results)),
                  f"{sum(r.megapixels for r in done):.2f}", f"{elapsed:.1f} s")
    mean = _mean_scores(results)
    if mean["count"]:
        infinite = f" ({mean['infinite_psnr']} infinite)" if mean["infinite_psnr"] else ""
        kinds = {"frames" if r.frames else "images" for r in done if r.psnr is not None}
        unit = " and ".join(sorted(kinds))
        table.caption = (f"mean PSNR {format_score(mean['psnr'], 2)} dB{infinite}, "
                         f"mean SSIM {mean['ssim']:.4f} over {mean['count']} {unit}")
    return table


def _mean_scores(results: list[FileResult]) -> dict:
    """Mean scores over every scored image and video frame."""
    return mean_scores(*frame_scores(r for r in results if r.status == "done" and r.psnr is not None))


def _write_report(path: Path, request: RestoreRequest, restorer: Restorer, results: list[FileResult],
                  elapsed: float) -> None:
    settings = restorer.settings
    on_ray = request.engine == "ray"  # each worker resolves the requested device and precision itself
    report = {
        "restormixer": __version__,
        "weights": restorer.source,
        "weights_sha256": restorer.weights_sha256,
        "device": request.device if on_ray else str(settings.device),
        "precision": request.precision if on_ray else str(settings.precision).removeprefix("torch."),
        "scan_backend": "auto" if on_ray else resolve_backend(None, settings.device),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(request).items()
                     if k not in ("inputs", "json_report", "quiet")},
        "files": [{k: inf_as_text(v) for k, v in asdict(r).items()} for r in results],
        "summary": {status: sum(r.status == status for r in results) for status in ("done", "skipped", "failed")},
        "seconds": elapsed,
    }
    if request.gt is not None:
        report["mean"] = {k: inf_as_text(v) for k, v in _mean_scores(results).items()}
    text = json.dumps(report, indent=2) + "\n"
    if path == STDOUT:
        sys.stdout.write(text)
    else:
        write_text_atomic(path, text)


class _RateColumn(ProgressColumn):
    """Steps per second of the tasks that name their unit (video frames: "fps")."""

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit")
        return Text(f"{task.speed:.2f} {unit}" if unit and task.speed else "")


def _progress(console: Console, quiet: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), _RateColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), TextColumn("{task.fields[name]}"), console=console, disable=quiet, transient=True,
    )


def run_restore(request: RestoreRequest, console: Console, err: Console) -> int:
    """Run a restore request; returns the process exit code (0 only if every file succeeded).
    ``-`` as an input reads an image from standard input; ``-o -`` writes the result to standard output."""
    if STDOUT not in (request.output, *map(Path, request.inputs)):
        return _run(request, console, err)
    if request.output == STDOUT and request.json_report == STDOUT:
        return print_error(err, "-o - and --json - both write to standard output: give the report a file name",
                           USAGE_ERROR)
    with tempfile.TemporaryDirectory(prefix="restormixer-") as scratch:
        inputs = list(request.inputs)
        labels = {}  # the scratch files, as messages and the report name them
        if "-" in inputs:
            data = sys.stdin.buffer.read()
            try:
                with Image.open(io.BytesIO(data)) as img:
                    suffix = extension_for(img.format)
            except OSError:
                suffix = None
            if suffix is None:
                return print_error(err, f"standard input is not a {IMAGE_FORMAT_NAMES} image")
            stdin_file = Path(scratch) / f"stdin{suffix}"
            stdin_file.write_bytes(data)
            inputs[inputs.index("-")] = str(stdin_file)
            labels[str(stdin_file)] = "standard input"
        output = request.output
        if output == STDOUT:
            if len(inputs) != 1 or Path(inputs[0]).is_dir():
                return print_error(err, "-o - (standard output) takes exactly one input image", USAGE_ERROR)
            if Path(inputs[0]).suffix.lower() not in FORMATS or clip_kind(Path(inputs[0])):
                return print_error(err, "-o - (standard output) takes an image, not a video or animation: "
                                        "give an output file", USAGE_ERROR)
            suffix = Path(inputs[0]).suffix.lower() if request.ext == "same" else f".{request.ext}"
            output = Path(scratch) / "out" / f"stdout{suffix if suffix in FORMATS else '.png'}"
            labels[str(output)] = "standard output"
        code = _run(replace(request, inputs=inputs, output=output), err, err, labels)
        if request.output == STDOUT and code == 0:
            sys.stdout.buffer.write(output.read_bytes())
            sys.stdout.buffer.flush()
        return code


def _restorer_args(request: RestoreRequest) -> dict:
    """:func:`load_restorer`'s arguments."""
    return dict(task=request.task, weights=request.weights, device=request.device, precision=request.precision,
                tile=request.tile, tile_overlap=request.tile_overlap, batch_size=request.batch_size,
                self_ensemble=request.self_ensemble, compile=request.compile, endpoint=request.endpoint,
                scale=request.scale, outscale=request.outscale)


def _plan(request: RestoreRequest, scale: int) -> tuple[OutputOptions, list[Job]]:
    """The output options and the jobs: local files through the local planner, URIs through the remote one."""
    remote = any(map(is_uri, [request.output, *request.inputs]))
    output = Path() if remote else Path(request.output)
    to_file = (not remote and not request.output_is_folder and output.suffix.lower() in MEDIA_EXTENSIONS
               and not output.is_dir())
    # super-resolution benchmarks made their inputs from ground truths cropped to a multiple of the scale
    scoring = EvalSettings(request.y_channel, request.crop_border, mod_crop=scale)
    options = OutputOptions(output.parent if to_file else output, request.suffix, request.ext,
                            request.existing, request.gt, request.compare, scoring, request.max_pixels or None,
                            output_file=output if to_file else None, quality=request.quality,
                            crf=request.crf, codec=request.codec)
    if remote:
        return options, plan_remote(request.inputs, str(request.output), options)
    reports = [request.json_report] if request.json_report and request.json_report != STDOUT else []
    return options, plan_restore(request.inputs, options, reports)


def _relabel(result: FileResult, labels: dict[str, str]) -> None:
    """Name the scratch files of a piped run in ``result`` as ``labels`` say (standard input and output)."""
    def said(text: str | None) -> str | None:
        for path, label in labels.items():
            text = text and text.replace(path, label)
        return text

    result.input, result.output, result.error = said(result.input), said(result.output), said(result.error)


def _run(request: RestoreRequest, console: Console, err: Console, labels: dict[str, str] | None = None) -> int:
    if request.task is None and request.weights is None:
        request = replace(request, task=default_task())
        if request.task is None:
            return print_error(err, "give --task (see `restormixer models`) or --weights", USAGE_ERROR)
    try:  # the options' own limits, before any work
        scale = upscaling_factor(request.task, request.scale, request.outscale)
        InferenceSettings(tile=request.tile, overlap=request.tile_overlap, batch_size=request.batch_size)
    except ValueError as exc:
        return print_error(err, exc, USAGE_ERROR)
    restorer_args = _restorer_args(request)
    # The Ray driver only checks the weights (and names them in the report): workers pick their devices.
    checked = {**restorer_args, "device": "cpu", "precision": "fp32"} if request.engine == "ray" else restorer_args
    try:
        options, jobs = _plan(request, scale)
        restorer = load_restorer(**checked, notice=lambda message: print_note(err, message))
    except (ValueError, FileNotFoundError, PlanError, WeightsError, HubError, RuntimeError) as exc:
        return print_error(err, exc)
    if not request.quiet:
        where = f"{request.workers} Ray worker(s)" if request.engine == "ray" else restorer.settings.device
        err.print(f"restoring {len(jobs)} file(s) with {shown(restorer.source)} on {where}", highlight=False)
    started = time.perf_counter()
    with _progress(err, request.quiet) as progress, sigterm_as_interrupt():
        overall = progress.add_task("files", total=len(jobs), name="")

        def on_result(result: FileResult) -> None:
            _relabel(result, labels or {})
            progress.advance(overall)
            _print_result(result, request, progress.console)

        if request.engine == "ray":
            try:
                run = _run_on_ray(request, jobs, restorer_args, options, on_result)
            except (ValueError, RuntimeError, ConnectionError) as exc:
                return print_error(err, exc)
        else:
            run = _run_locally(jobs, FileRestorer(restorer, options), progress, overall, on_result)
    elapsed = time.perf_counter() - started
    results, interrupted = run.results, run.interrupted
    if run.disk_full is not None:
        print_error(err, f"disk full while writing {run.disk_full}; stopping")
    if not request.quiet:
        (err if request.json_report == STDOUT else console).print(_summary(results, elapsed))
    if request.json_report:
        try:
            _write_report(request.json_report, request, restorer, results, elapsed)
        except OSError as exc:
            print_error(err, f"cannot write the report {request.json_report}: {exc.strerror or exc}")
            return interrupted or 1
    failed = [r for r in results if r.status == "failed"]
    if interrupted:
        err.print(f"interrupted after {len(results)} of {len(jobs)} files; finished outputs are complete, "
                  "rerun with --skip-existing to resume")
        return interrupted
    if failed:
        err.print(f"[bold red]{len(failed)} of {len(jobs)} file(s) failed[/]", highlight=False)
        return 1
    unscored = [r for r in results if request.gt and r.status == "done" and r.psnr is None]
    if unscored:  # as `eval` does: a mean over fewer images than asked for is not a result
        err.print(f"[bold red]{len(unscored)} of {len(jobs)} output(s) could not be scored[/]"
                  f"{'' if request.quiet else ' (the notes above say why)'}", highlight=False)
        return 1
    return 0


def _run_locally(jobs: list[Job], runner: FileRestorer, progress: Progress, overall: TaskID,
                 on_result: Callable[[FileResult], None]) -> RestoreRun:
    """Restore in this process, showing the file, tile and frame under way."""
    tiles = progress.add_task("tiles", total=None, name="", visible=False)
    frames = progress.add_task("frames", total=None, name="", visible=False, unit="fps")

    def on_start(job: Job) -> None:
        progress.update(overall, name=shown(job.name))
        progress.reset(frames, total=None, visible=False)

    def on_local_result(result: FileResult) -> None:
        progress.update(tiles, visible=False, completed=0)
        progress.update(frames, visible=False)
        on_result(result)

    return restore_jobs(
        jobs, runner, on_start=on_start, on_result=on_local_result,
        on_tile=lambda done, total: progress.update(tiles, completed=done, total=total, visible=total > 1),
        on_frame=lambda done, total: progress.update(frames, completed=done, total=total, visible=True))


def _run_on_ray(request: RestoreRequest, jobs: list[Job], restorer_args: dict, options: OutputOptions,
                on_result: Callable[[FileResult], None]) -> RestoreRun:
    """Restore on Ray workers; results arrive as workers finish them."""
    from ..inference.ray_engine import RayOptions, restore_on_ray

    ray_options = RayOptions(request.address, request.workers, request.gpus_per_worker)
    return restore_on_ray(jobs, restorer_args, options, ray_options, on_result)


def _print_result(result: FileResult, request: RestoreRequest, console: Console) -> None:
    if result.status == "failed":
        console.print(f"[red]failed[/] {shown(result.input)}: {shown(result.error)}", highlight=False)
        return
    if request.quiet:
        return
    for note in result.notes:
        print_note(console, f"{result.input}: {note}")
    if result.status == "skipped":
        console.print(f"skipped {shown(result.input)} (output exists)", highlight=False)
    else:
        frames = f"  {result.frames} frames, {result.fps:.2f} fps" if result.frames and result.fps else ""
        scores = (f"  PSNR {format_score(result.psnr, 2)} dB  SSIM {format_score(result.ssim, 4)}"
                  if result.psnr is not None else "")
        console.print(f"{shown(result.input)} -> {shown(result.output)}{frames}{scores}", highlight=False)
