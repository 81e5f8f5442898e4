"""`restormixer demo` at work: every embedded checkpoint on degraded sample photos, with metrics and pictures."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ..api import load_restorer, restore_paths
from ..hub.registry import default_task, load_registry
from ..inference.files import OutputOptions
from ..metrics.evaluate import EvalSettings, evaluate_folders, mean_scores
from ..samples import SAMPLE_PHOTOS, write_degraded_samples
from ..training.data import write_bicubic
from .common import print_error, print_note, shown


def run_demo(out: Path, device: str, console: Console, err: Console) -> int:
    """Each embedded checkpoint on sample photos with its training degradation and, for the tasks that
    keep the size, the default (no ``--task``) on the same photos, with the routes it took."""
    tasks = [e for e in load_registry().values() if e.available and e.embedded_path and e.degradation]
    if not tasks:
        return print_error(err, "no embedded checkpoints in this installation")
    default = load_restorer(device=device, notice=lambda m: print_note(err, m)) if default_task() else None
    table = Table(title="restormixer demo: sample photos, synthetic degradation (fixed seed)")
    for column in ("task", "images", "metric", "input", "restored", "gain", "default's route"):
        table.add_column(column, justify="right" if column not in ("task", "metric", "default's route") else "left")
    for entry in tasks:
        task = entry.task
        folder = out / task
        shutil.rmtree(folder, ignore_errors=True)
        try:
            inputs, truth = write_degraded_samples(entry, folder)
            restorer = load_restorer(task=task, device=device, notice=lambda m: print_note(err, m))
        except (RuntimeError, ValueError) as exc:
            return print_error(err, exc)
        scale = entry.scales[0] if entry.scales else 1
        settings = EvalSettings(y_channel=entry.y_channel, crop_border=scale if scale > 1 else 0)
        err.print(f"{task}: restoring {len(SAMPLE_PHOTOS)} photos with {shown(restorer.source)}", highlight=False)
        results = restore_paths([str(inputs)], folder / "restored", restorer,
                                OutputOptions(gt_dir=truth, compare_dir=folder / "compare", eval_settings=settings))
        failed = [r for r in results if r.status != "done"]
        if failed:
            return print_error(err, f"{failed[0].input}: {failed[0].error}")
        baseline = write_bicubic(inputs, scale, folder / "bicubic") if scale > 1 else inputs
        before = evaluate_folders(baseline, truth, settings).summary
        after = mean_scores([r.psnr for r in results], [r.ssim for r in results])
        metric = "PSNR Y (dB)" if settings.y_channel else "PSNR RGB (dB)"
        psnr_in, psnr_out, ssim_in, ssim_out = before["psnr"], after["psnr"], before["ssim"], after["ssim"]
        table.add_row(task if scale == 1 else f"{task} x{scale}", str(len(results)), metric, f"{psnr_in:.2f}", f"{psnr_out:.2f}", f"{psnr_out - psnr_in:+.2f}")
        table.add_row("", "", "SSIM", f"{ssim_in:.4f}", f"{ssim_out:.4f}", f"{ssim_out - ssim_in:+.4f}")
        if scale == 1 and default is not None:
            routed = restore_paths([str(inputs)], folder / "default", default,
                                   OutputOptions(gt_dir=truth, eval_settings=settings))
            by_default = mean_scores([r.psnr for r in routed], [r.ssim for r in routed])
            routes = Counter(" then ".join(r.route.split(" -> ")[1:]) for r in routed if r.route)
            table.add_row("  default", str(len(routed)), metric, f"{psnr_in:.2f}", f"{by_default['psnr']:.2f}",
                          f"{by_default['psnr'] - psnr_in:+.2f}",
                          ", ".join(f"{route} x{count}" for route, count in routes.most_common()))
    table.caption = (f"photos: scikit-image samples ({', '.join(SAMPLE_PHOTOS)}); input: the degraded photo "
                     "(for super-resolution, its bicubic upscale); default: no --task, the same photos; "
                     f"side-by-side pictures in {shown(out)}/<task>/compare/")
    console.print(table)
    return 0
