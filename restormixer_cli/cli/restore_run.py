"""`restormixer restore` at work: weights loaded, files restored with a progress display, then the
summary and the report. Ctrl-C and SIGTERM stop it after the current file, always with both."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TaskID, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.table import Table
from rich.text import Text

from .. import __version__
from ..hub.download import HubError
from ..inference.devices import use_cpu_threads
from ..inference.engine import Restorer
from ..inference.files import FileRestorer, FileResult, Job, OutputOptions, RestoreRun, restore_jobs
from ..inference.plan import plan_run
from ..inference.spec import build_restorer
from ..io.atomic import write_text_atomic
from ..io.write_plan import PlanError
from ..metrics.evaluate import EvalSettings, format_score, frame_scores, inf_as_text, mean_scores
from ..model.checkpoint import WeightsError
from ..scan import resolve_backend
from ..signals import StopSignals
from .common import USAGE_ERROR, is_stdout, print_error, print_note, shown
from .restore_request import RestoreRequest


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


def _report_written(request: RestoreRequest, restorer: Restorer, results: list[FileResult], elapsed: float,
                    err: Console) -> bool:
    """Write the ``--json`` report; False, with the reason shown, if it cannot be written."""
    try:
        _write_report(request.json_report, request, restorer, results, elapsed)
    except OSError as exc:
        print_error(err, f"cannot write the report {request.json_report}: {exc.strerror or exc}")
        return False
    return True


def _write_report(path: Path, request: RestoreRequest, restorer: Restorer, results: list[FileResult],
                  elapsed: float) -> None:
    settings = restorer.settings
    on_ray = request.engine == "ray"  # each worker resolves the requested device and precision itself
    report = {
        "restormixer": __version__,
        "weights": restorer.source,
        "weights_sha256": restorer.weights_sha256,
        "device": request.spec.device if on_ray else str(settings.device),
        "precision": request.spec.precision if on_ray else str(settings.precision).removeprefix("torch."),
        "scan_backend": "auto" if on_ray else resolve_backend(None, settings.device),
        "settings": request.settings(),
        "files": [{k: inf_as_text(v) for k, v in asdict(r).items()} for r in results],
        "summary": {status: sum(r.status == status for r in results) for status in ("done", "skipped", "failed")},
        "seconds": elapsed,
    }
    if request.gt is not None:
        report["mean"] = {k: inf_as_text(v) for k, v in _mean_scores(results).items()}
    text = json.dumps(report, indent=2) + "\n"
    if is_stdout(path):
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


def _plan(request: RestoreRequest) -> tuple[OutputOptions, list[Job]]:
    """The output options and the jobs."""
    # super-resolution benchmarks made their inputs from ground truths cropped to a multiple of the scale
    scoring = EvalSettings(request.y_channel, request.crop_border, mod_crop=request.spec.factor)
    options = OutputOptions(request.suffix, request.ext, request.existing, request.gt, request.compare, scoring,
                            request.max_pixels or None, request.quality, request.crf, request.codec)
    reports = [request.json_report] if request.json_report and not is_stdout(request.json_report) else []
    return options, plan_run(request.inputs, request.output, options, reports, file_allowed=True)


def run_files(request: RestoreRequest, console: Console, err: Console, stops: StopSignals,
              labels: dict[str, str] | None = None) -> int:
    """Restore the files of a checked request; returns the exit code. ``stops``, entered by the
    caller, holds Ctrl-C and SIGTERM until the current file is done, the summary shown and the
    report written. ``labels`` name a piped run's scratch files (standard input and output) in its
    results."""
    if request.engine == "local":  # Ray workers pick their own devices
        use_cpu_threads(request.threads)
        try:
            request.spec.resolve()
        except ValueError as exc:  # a device this machine lacks, or a precision it cannot run
            return print_error(err, exc, USAGE_ERROR)
    try:
        with stops.interruptible():  # finding the inputs and loading the weights may take long
            options, jobs, restorer = _load(request, err)
    except (ValueError, FileNotFoundError, PlanError, WeightsError, HubError, RuntimeError) as exc:
        return print_error(err, exc)
    except KeyboardInterrupt:
        err.print("interrupted before any file was restored")
        return stops.exit_code
    if not request.quiet:
        where = f"{request.workers} Ray worker(s)" if request.engine == "ray" else restorer.settings.device
        err.print(f"restoring {len(jobs)} file(s) with {shown(restorer.source)} on {where}", highlight=False)
    started = time.perf_counter()
    try:
        run = _restore(request, jobs, restorer, options, err, stops, labels or {})
    except (ValueError, RuntimeError, ConnectionError) as exc:
        if request.engine != "ray":  # a bug here, not a Ray cluster that cannot be reached or used
            raise
        return print_error(err, exc)
    return _finish(request, run, len(jobs), restorer, time.perf_counter() - started, console, err, stops)


def _load(request: RestoreRequest, err: Console) -> tuple[OutputOptions, list[Job], Restorer]:
    """The output options, the planned jobs and the restorer."""
    # The Ray driver only checks the weights (and names them in the report): workers pick their devices.
    spec = replace(request.spec, device="cpu", precision="fp32") if request.engine == "ray" else request.spec
    options, jobs = _plan(request)
    return options, jobs, build_restorer(spec, notice=lambda message: print_note(err, message))


def _restore(request: RestoreRequest, jobs: list[Job], restorer: Restorer, options: OutputOptions, err: Console,
             stops: StopSignals, labels: dict[str, str]) -> RestoreRun:
    """Run the jobs here or on Ray, showing their progress and each result."""
    with _progress(err, request.quiet) as progress:
        overall = progress.add_task("files", total=len(jobs), name="")

        def on_result(result: FileResult) -> None:
            _relabel(result, labels)
            progress.advance(overall)
            _print_result(result, request, progress.console)

        if request.engine == "ray":
            return _run_on_ray(request, jobs, options, on_result, stops)
        return _run_locally(jobs, FileRestorer(restorer, options, stops), progress, overall, on_result)


def _relabel(result: FileResult, labels: dict[str, str]) -> None:
    """Name the scratch files of a piped run in ``result`` as ``labels`` say (standard input and output)."""
    def said(text: str | None) -> str | None:
        for path, label in labels.items():
            text = text and text.replace(path, label)
        return text

    result.input, result.output, result.error = said(result.input), said(result.output), said(result.error)


def _finish(request: RestoreRequest, run: RestoreRun, planned: int, restorer: Restorer, elapsed: float,
            console: Console, err: Console, stops: StopSignals) -> int:
    """Show the summary, write the report and say how the run ended; returns the exit code."""
    results = run.results
    if run.disk_full is not None:
        print_error(err, f"disk full while writing {run.disk_full}; stopping")
    if not request.quiet:
        (err if is_stdout(request.json_report) else console).print(_summary(results, elapsed))
    report_lost = request.json_report is not None and not _report_written(request, restorer, results, elapsed, err)
    interrupted = run.interrupted or stops.exit_code  # a signal may come while the summary is shown
    if interrupted:
        err.print(f"interrupted after {len(results)} of {planned} files; finished outputs are complete, "
                  "rerun with --skip-existing to resume")
        return interrupted
    if report_lost:
        return 1
    failed = [r for r in results if r.status == "failed"]
    if failed:
        err.print(f"[bold red]{len(failed)} of {planned} file(s) failed[/]", highlight=False)
        return 1
    unscored = [r for r in results if request.gt and r.status == "done" and r.psnr is None]
    if unscored:  # as `eval` does: a mean over fewer images than asked for is not a result
        err.print(f"[bold red]{len(unscored)} of {planned} output(s) could not be scored[/]"
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


def _run_on_ray(request: RestoreRequest, jobs: list[Job], options: OutputOptions,
                on_result: Callable[[FileResult], None], stops: StopSignals) -> RestoreRun:
    """Restore on Ray workers; results arrive as workers finish them."""
    from ..inference.ray_engine import RayOptions, restore_on_ray

    ray_options = RayOptions(request.address, request.workers, request.gpus_per_worker)
    return restore_on_ray(jobs, request.spec, options, ray_options, on_result, stops)


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
        route = f"  ({result.route})" if result.route else ""
        console.print(f"{shown(result.input)} -> {shown(result.output)}{route}{frames}{scores}", highlight=False)
