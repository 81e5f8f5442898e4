"""`restormixer eval` at work: pairing, progress, the per-image table and reports."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from ..io import DEFAULT_MAX_PIXELS
from ..io.discovery import list_media
from ..io.write_plan import WritePlan
from ..metrics.evaluate import EvalReport, EvalSettings, ImageScore, evaluate_pairs, format_score, pair_folders
from .common import STDOUT, USAGE_ERROR, print_error, shown


def _table(report: EvalReport, quiet: bool) -> Table:
    s = report.settings
    mod_crop = f", mod crop {s.mod_crop}" if s.mod_crop > 1 else ""
    table = Table(title=f"PSNR/SSIM ({'Y channel' if s.y_channel else 'RGB'}, crop {s.crop_border}{mod_crop})")
    table.add_column("image")
    table.add_column("PSNR (dB)", justify="right")
    table.add_column("SSIM", justify="right")
    if not quiet:
        for score in report.scored:
            table.add_row(shown(score.name), format_score(score.psnr, 2), format_score(score.ssim, 4))
    mean = report.summary
    infinite = mean["infinite_psnr"]
    label = f"mean of {mean['count']}" + (f" ({infinite} infinite)" if infinite else "")
    table.add_row(f"[bold]{label}", f"[bold]{format_score(mean['psnr'], 2)}", f"[bold]{format_score(mean['ssim'], 4)}")
    if any(s.sixteen_bit for s in report.scored):
        table.caption = "16-bit images scored on the 0..255 scale (values scaled from 0..65535)"
    return table


def run_eval(pred: Path, gt: Path, *, settings: EvalSettings, console: Console, err: Console, suffix: str = "",
             json_report: Path | None = None, csv_report: Path | None = None, quiet: bool = False,
             overwrite: bool = False, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> int:
    """Score the predictions in ``pred`` against the ground truth in ``gt`` (paired by relative path
    and stem, ``suffix`` stripped from predictions), show the table and write the reports (a path,
    :data:`STDOUT` or None); returns the exit code (1 when a pair could not be scored). Files with
    more than ``max_pixels`` pixels (None: no limit) are not scored."""
    if json_report == STDOUT and csv_report == STDOUT:
        return print_error(err, "--json - and --csv - both write to standard output: give one report a file name",
                           USAGE_ERROR)
    try:
        pairs, unpaired_pred, unpaired_gt = pair_folders(pred, gt, suffix)
        _claim_reports(pred, gt, json_report, csv_report, overwrite)
    except (ValueError, FileNotFoundError) as exc:
        return print_error(err, exc)
    report = EvalReport(settings, _scores(pairs, settings, max_pixels, quiet, err), unpaired_pred, unpaired_gt)
    _warn_unscored(report, err)
    (err if STDOUT in (json_report, csv_report) else console).print(_table(report, quiet))
    try:
        if json_report:
            report.write_json(sys.stdout if json_report == STDOUT else json_report)
        if csv_report:
            report.write_csv(sys.stdout if csv_report == STDOUT else csv_report)
    except OSError as exc:
        return print_error(err, f"cannot write the report: {exc.strerror or exc} ({exc.filename})")
    if not report.scored:
        return print_error(err, "no image pairs could be scored")
    unscored = [score for score in report.images if score.error]
    if unscored:  # the means leave them out: a benchmark score over fewer images must not pass as complete
        return print_error(err, f"{len(unscored)} of {len(report.images)} pair(s) could not be scored; "
                                "the means leave them out")
    return 0


def _claim_reports(pred: Path, gt: Path, json_report: Path | None, csv_report: Path | None, overwrite: bool) -> None:
    """Check that the report files may be written: none is an input, none exists unless ``overwrite``
    (ValueError otherwise)."""
    plan = WritePlan([*list_media(pred), *list_media(gt)], overwrite)
    for report_path, what in ((json_report, "the JSON report"), (csv_report, "the CSV report")):
        if report_path and report_path != STDOUT:
            plan.claim(report_path, what)


def _scores(pairs: list[tuple[str, Path, Path]], settings: EvalSettings, max_pixels: int | None, quiet: bool,
            err: Console) -> list[ImageScore]:
    """Every pair's scores, with a progress bar on ``err`` unless ``quiet``."""
    progress = Progress(TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[name]}"),
                        console=err, transient=True, disable=quiet)
    with progress:
        bar = progress.add_task("scoring", total=len(pairs), name="")
        return evaluate_pairs(pairs, settings, on_image=lambda score: progress.update(bar, advance=1, name=shown(score.name)),
                              max_pixels=max_pixels)


def _warn_unscored(report: EvalReport, err: Console) -> None:
    """Name on ``err`` the pairs that could not be scored and the files left unpaired."""
    for score in report.images:
        if score.error:
            err.print(f"[red]skipped[/] {shown(score.name)}: {shown(score.error)}", highlight=False)
    for label, names in (("prediction", report.unpaired_pred), ("ground truth", report.unpaired_gt)):
        if names:
            listed = ", ".join(names[:5]) + (f" (+{len(names) - 5} more)" if len(names) > 5 else "")
            err.print(f"[yellow]unpaired {shown(label)}:[/] {shown(listed)}", highlight=False)
