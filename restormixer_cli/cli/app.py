"""The ``restormixer`` command line: thin wrappers over the library's functions."""

from __future__ import annotations

import enum
import json
import logging
import os
import sys
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from .. import DESCRIPTION, __version__
from ..hub.registry import load_registry
from ..inference import PRECISIONS
from ..io import DEFAULT_MAX_PIXELS, DEFAULT_QUALITY
from ..io.formats import DEFAULT_CRF, LOSSY_FORMAT_NAMES, MAX_CRF, OUTPUT_EXTENSIONS, VIDEO_CODECS
from ..serve.queue import DEFAULT_QUEUE
from .messages import print_error, shown

app = typer.Typer(
    name="restormixer",
    help=DESCRIPTION,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True, soft_wrap=True)


def _choices(name: str, values) -> type[enum.Enum]:
    """A str enum, which Typer shows in --help and offers in shell completion."""
    return enum.Enum(name, {value: value for value in values}, type=str)


Task = _choices("Task", sorted(load_registry()))
UPSCALING = "; ".join(f"{name}: {', '.join(map(str, entry.scales))}, default {entry.scales[0]}"
                      for name, entry in load_registry().items() if entry.scales)
Engine = _choices("Engine", ("local", "ray"))
Precision = _choices("Precision", PRECISIONS)
Extension = _choices("Extension", OUTPUT_EXTENSIONS)
Codec = _choices("Codec", VIDEO_CODECS)
USAGE_ERROR = 2


def _devices(incomplete: str) -> list[str]:
    return [d for d in ("auto", "cpu", "cuda", "cuda:0", "mps") if d.startswith(incomplete)]


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a one-line error and return the exit to raise."""
    return typer.Exit(print_error(err, message, code))


def _version(value: bool) -> None:
    if value:
        console.print(f"restormixer {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")] = False,
) -> None:
    # tifffile logs, and Pillow warns of, doubts about files' metadata (corrupt EXIF); what matters
    # reaches the user as a file's one-line error
    logging.getLogger("tifffile").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")


# ------------------------------------------------------------------------------------------ info
@app.command()
def info(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Versions, devices, and the active selective-scan backend."""
    from ..info import environment_report

    try:
        report = environment_report()
    except ValueError as exc:
        raise fail(str(exc))
    if as_json:
        console.print_json(json.dumps(report))
        return
    table = Table(show_header=False, box=None)
    table.add_row("restormixer", report["restormixer"])
    table.add_row("python", f"{report['python']} ({report['platform']})")
    for name, version in report["packages"].items():
        table.add_row(name, version)
    for device, description in report["devices"].items():
        table.add_row(f"device {device}", description)
    scan = report["scan"]
    table.add_row("scan requested", f"{scan['requested']} (RESTORMIXER_SCAN)")
    for device in ("cpu", "cuda", "mps"):
        if device in scan:
            table.add_row(f"scan backend on {device}", scan[device])
    table.add_row("scan backends installed", ", ".join(scan["installed"]))
    console.print(table)


# ---------------------------------------------------------------------------------------- models
@app.command()
def models(as_json: Annotated[bool, typer.Option("--json", help="Print the registry as JSON.")] = False) -> None:
    """The task registry: checkpoints, their status, size and scores."""
    from .models import registry_rows

    if as_json:
        print(json.dumps({name: asdict(entry) for name, entry in load_registry().items()}, indent=2))
        return

    table = Table(title="RestorMixer checkpoints")
    for column in ("task", "status", "size", "scores", "source"):
        table.add_column(column)
    for row in registry_rows():
        table.add_row(row.task, row.status, row.size, row.scores, row.source)
    console.print(table)


@app.command("download-weights")
def download_weights(
    tasks: Annotated[Optional[list[Task]], typer.Argument(help="Tasks to download (see `restormixer models`).")] = None,
    all_tasks: Annotated[bool, typer.Option("--all", help="Every task's checkpoint (also what no task names means).")] = False,
    repo: Annotated[Optional[str], typer.Option(help="Download from this hub repo instead of the registry.")] = None,
    filename: Annotated[str, typer.Option(help="File to download with --repo.")] = "model.safetensors",
    revision: Annotated[str, typer.Option(help="Branch, tag or commit with --repo.")] = "main",
    endpoint: Annotated[Optional[str], typer.Option(help="Hub endpoint (default: $HF_ENDPOINT or huggingface.co).")] = None,
) -> None:
    """Download checkpoints into the Hugging Face cache (verified by sha256); a task whose hub repository is
    not published yet names its embedded copy, which restore uses."""
    from .models import download_tasks
    from ..hub.download import HubError

    try:
        fetched = download_tasks([t.value for t in tasks or []], all_tasks, repo, filename, revision, endpoint)
    except (HubError, ValueError) as exc:
        raise fail(str(exc))
    for item in fetched:
        where = "" if item.downloaded else "not published on the hub yet; the embedded copy is used: "
        console.print(f"{shown(item.label)}: {where}{shown(item.path)}", highlight=False)


# --------------------------------------------------------------------------------------- restore
RESTORE_EXAMPLES = """
Examples:

  restormixer restore photo.jpg --task derain

  restormixer restore photos/ 'more/*.png' --task desnow -o out/ --suffix _clean

  restormixer restore noisy/ --task denoise --gt clean/ --compare side_by_side/ --json report.json

  restormixer restore big.tif --task derain --tile 256 --device cuda --precision fp16

  restormixer restore clip.mp4 --task derain -o clean.mp4 --crf 16

  restormixer restore small/ --task sr --scale 4 -o large/

  restormixer restore small.jpg --task sr --outscale 3.5

  restormixer restore s3://archive/scans/ -o s3://archive/clean/ --task denoise --engine ray --address auto --workers 8 --gpus-per-worker 1
"""


@app.command(epilog=RESTORE_EXAMPLES)
def restore(
    inputs: Annotated[list[str], typer.Argument(help="Images, videos, animated GIF/WebP, folders (recursive) or glob patterns; paths or URIs (s3://bucket/prefix/).")],
    output: Annotated[str, typer.Option("--output", "-o", help="Output folder or URI prefix (mirrors input folders).")] = "restored",
    task: Annotated[Optional[Task], typer.Option(help="Checkpoint to restore with (see `restormixer models`; default: the one marked default there).")] = None,
    weights: Annotated[Optional[str], typer.Option(help="Weights file, hub-layout folder, or hub repo_id\\[@revision].")] = None,
    scale: Annotated[Optional[int], typer.Option(help=f"Super-resolution: how many times larger ({UPSCALING}).", min=1)] = None,
    outscale: Annotated[Optional[float], typer.Option(help="Super-resolution: any final factor, such as 3.5: the model upscales by --scale (default: its smallest at or above it), then the result is resized (bicubic).")] = None,
    tile: Annotated[Optional[int], typer.Option(help="Tile size in pixels; 0 = whole image; default: fit memory.")] = None,
    tile_overlap: Annotated[int, typer.Option(help="Overlap between tiles in pixels.")] = 32,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.", autocompletion=_devices)] = "auto",
    precision: Annotated[Precision, typer.Option(help="auto: fp16 on CUDA, fp32 elsewhere.")] = "auto",
    batch_size: Annotated[int, typer.Option(help="Tiles (or whole video frames) per forward pass.")] = 1,
    self_ensemble: Annotated[bool, typer.Option("--self-ensemble", help="Average over 8 flips/rotations (8x slower, slightly better).")] = False,
    suffix: Annotated[str, typer.Option(help="Appended to output file stems.")] = "",
    ext: Annotated[Extension, typer.Option(help="Output format of images (same: the input's); videos keep theirs.", case_sensitive=False)] = "same",
    skip_existing: Annotated[bool, typer.Option("--skip-existing", help="Keep outputs that exist (resume a run).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace outputs, comparison pictures and reports that exist.")] = False,
    gt: Annotated[Optional[Path], typer.Option(help="Ground-truth folder: print PSNR/SSIM per image (per video: mean over frames).")] = None,
    y_channel: Annotated[bool, typer.Option("--y-channel", help="With --gt: score on the Y channel.")] = False,
    crop_border: Annotated[int, typer.Option(help="With --gt: pixels cropped from each side before scoring.", min=0)] = 0,
    compare: Annotated[Optional[Path], typer.Option(help="Folder for side-by-side comparison pictures (videos for videos).")] = None,
    json_report: Annotated[Optional[Path], typer.Option("--json", help="Write a JSON report: every file, and mean scores with --gt.")] = None,
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the model (minutes of compilation first; the gain is not measured on CPU).")] = False,
    endpoint: Annotated[Optional[str], typer.Option(help="Hub endpoint for downloads.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")] = False,
    max_pixels: Annotated[int, typer.Option(help="Refuse images with more pixels than this (0 = no limit).", min=0)] = DEFAULT_MAX_PIXELS,
    quality: Annotated[int, typer.Option(help=f"{LOSSY_FORMAT_NAMES} quality of the outputs.", min=1, max=100)] = DEFAULT_QUALITY,
    crf: Annotated[int, typer.Option(help="Video quality: constant rate factor, lower is better.", min=0, max=MAX_CRF)] = DEFAULT_CRF,
    codec: Annotated[Optional[Codec], typer.Option(help="Video encoder, where the container takes it (default: H.264; VP9 for WebM).")] = None,
    engine: Annotated[Engine, typer.Option(help="local: this process; ray: Ray workers (needs the ray extra: pip install 'restormixer-cli\\[ray]').")] = "local",
    address: Annotated[Optional[str], typer.Option(help="With --engine ray: the cluster (auto, ray://HOST:PORT); default: a local Ray instance.")] = None,
    workers: Annotated[int, typer.Option(help="With --engine ray: workers, each loading the model once.", min=1)] = 1,
    gpus_per_worker: Annotated[float, typer.Option(help="With --engine ray: GPUs each worker reserves (0: CPU).", min=0)] = 0.0,
) -> None:
    """Restore images, videos and animations: files, folders and glob patterns."""
    from ..io.storage import is_uri
    from .restore import RestoreRequest, run_restore

    if skip_existing and overwrite:
        raise fail("--skip-existing and --overwrite exclude each other", USAGE_ERROR)
    if Engine(engine).value == "local" and (address is not None or workers != 1 or gpus_per_worker):
        raise fail("--address, --workers and --gpus-per-worker need --engine ray", USAGE_ERROR)
    request = RestoreRequest(
        inputs=inputs, output=output if is_uri(output) else Path(output),
        output_is_folder=output.endswith(("/", os.sep)), task=task.value if task else None,
        weights=weights, scale=scale, outscale=outscale, tile=tile,
        tile_overlap=tile_overlap, device=device, precision=Precision(precision).value, batch_size=batch_size,
        self_ensemble=self_ensemble, suffix=suffix, ext=Extension(ext).value,
        existing="skip" if skip_existing else "overwrite" if overwrite else "error",
        gt=gt, y_channel=y_channel, crop_border=crop_border, compare=compare, json_report=json_report,
        compile=compile, endpoint=endpoint, quiet=quiet, max_pixels=max_pixels, quality=quality, crf=crf,
        codec=Codec(codec).value if codec else None, engine=Engine(engine).value, address=address, workers=workers,
        gpus_per_worker=gpus_per_worker,
    )
    raise typer.Exit(run_restore(request, console, err))


# ------------------------------------------------------------------------------------------ eval
@app.command("eval")
def evaluate(
    pred: Annotated[Path, typer.Option(help="Folder of restored images and videos.")],
    gt: Annotated[Path, typer.Option(help="Folder of ground-truth images and videos.")],
    y_channel: Annotated[bool, typer.Option("--y-channel", help="Score luma only (MATLAB BT.601).")] = False,
    crop_border: Annotated[int, typer.Option(help="Pixels cropped from each side before scoring.", min=0)] = 0,
    mod_crop: Annotated[int, typer.Option(help="Crop each ground truth top-left to a multiple of this many pixels first, for super-resolution test sets whose originals' sides are not a multiple of the scale: give the scale (1: no crop).", min=1)] = 1,
    suffix: Annotated[str, typer.Option(help="Suffix stripped from prediction stems, e.g. _restored.")] = "",
    json_report: Annotated[Optional[Path], typer.Option("--json", help="Write the report as JSON.")] = None,
    csv_report: Annotated[Optional[Path], typer.Option("--csv", help="Write the report as CSV.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the mean and errors.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing report files.")] = False,
    max_pixels: Annotated[int, typer.Option(help="Refuse images with more pixels than this (0 = no limit).", min=0)] = DEFAULT_MAX_PIXELS,
) -> None:
    """PSNR/SSIM of restored images (and videos, frame by frame) against ground truth (BasicSR / MATLAB conventions)."""
    from ..metrics.evaluate import EvalSettings
    from .evaluate import run_eval

    raise typer.Exit(run_eval(pred, gt, settings=EvalSettings(y_channel, crop_border, mod_crop), console=console, err=err,
                              suffix=suffix, json_report=json_report, csv_report=csv_report, quiet=quiet,
                              overwrite=overwrite, max_pixels=max_pixels or None))


# --------------------------------------------------------------------------------------- degrade
@app.command()
def degrade(
    inputs: Annotated[list[str], typer.Argument(help="Clean images: files, folders or glob patterns.")],
    degradation: Annotated[str, typer.Option(help="noise[:SIGMA], blind-noise, camera-noise, rain, snow, haze, low-light, jpeg, mixed[:CLEAN] (CLEAN: the fraction left unchanged, default 0.1), none (clean copies), sr[:SCALE] or downscale:SCALE (low-resolution inputs, MATLAB bicubic); several joined by + (rain+haze).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for input/ (degraded) and target/ (clean).")],
    seed: Annotated[int, typer.Option(help="Seed: the same seed and inputs give the same images.")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing files in OUT.")] = False,
) -> None:
    """Degrade clean images synthetically, as training does: preview a degradation or build a paired
    validation set for `restore --gt` / `eval` / `train --val`."""
    from .degrade import run_degrade

    raise typer.Exit(run_degrade(inputs, out, degradation, seed, overwrite, console, err))


# ----------------------------------------------------------------------------------------- train
@app.command()
def train(
    task: Annotated[str, typer.Option(help=f"Task name: {', '.join(Task.__members__)} or your own.")],
    train_dirs: Annotated[list[Path], typer.Option("--train", help="Training folder: input/+target/ pairs, or clean images (repeatable).")],
    out: Annotated[Path, typer.Option(help="Run folder (created, or resumed if it holds a run).")],
    val: Annotated[Optional[Path], typer.Option(help="Validation folder (pairs, or clean images degraded with a fixed seed).")] = None,
    config: Annotated[Optional[Path], typer.Option(help="JSON file with TrainConfig fields; options below override it.")] = None,
    degradation: Annotated[Optional[str], typer.Option(help="Synthetic degradation for clean images (see `restormixer degrade --help`), e.g. rain, snow+low-light, sr.")] = None,
    val_degradation: Annotated[Optional[str], typer.Option(help="Degradation of clean validation images (default: --degradation); e.g. mixed:0 so that every validation image is degraded.")] = None,
    steps: Annotated[Optional[int], typer.Option(help="Total optimisation steps.")] = None,
    batch: Annotated[Optional[int], typer.Option(help="Patches per step (per process).")] = None,
    patch: Annotated[Optional[int], typer.Option(help="Patch size (multiple of 16).")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Peak learning rate.")] = None,
    base_channel: Annotated[Optional[int], typer.Option(help="Model width.")] = None,
    num_blocks: Annotated[Optional[str], typer.Option(help="Blocks per stage, e.g. 4,4,4.")] = None,
    val_every: Annotated[Optional[int], typer.Option(help="Validate every N steps.")] = None,
    val_limit: Annotated[Optional[int], typer.Option(help="Validate on the first N images only (0 = all).")] = None,
    ckpt_every: Annotated[Optional[int], typer.Option(help="Checkpoint every N steps.")] = None,
    time_limit: Annotated[Optional[float], typer.Option(help="Stop (resumably) after this many minutes.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.", autocompletion=_devices)] = "auto",
    threads: Annotated[int, typer.Option(help="CPU threads (0 = PyTorch default).")] = 0,
    workers: Annotated[Optional[int], typer.Option(help="Processes that synthesise batches ahead of the GPU (default 0).")] = None,
) -> None:
    """Train (or resume) a RestorMixer checkpoint. Under torchrun, trains with DDP."""
    from .training import build_train_config, run_training

    overrides = dict(degradation=degradation, val_degradation=val_degradation, steps=steps, batch=batch, patch=patch, lr=lr, base_channel=base_channel,
                     num_blocks=num_blocks, val_every=val_every, val_limit=val_limit, ckpt_every=ckpt_every,
                     time_limit_min=time_limit, workers=workers)
    try:
        cfg = build_train_config(task, train_dirs, val, config, overrides)
    except (ValueError, OSError) as exc:
        raise fail(str(exc), USAGE_ERROR)
    raise typer.Exit(run_training(cfg, out, device, threads, console, err))


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="Training run folder.")],
    out: Annotated[Path, typer.Option(help="Output folder in hub layout.")],
    push: Annotated[Optional[str], typer.Option(help="Also upload to this hub repo.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace the files of an earlier export in --out.")] = False,
    fp32: Annotated[bool, typer.Option("--fp32", help="Store the weights in fp32 (default: fp16, half the size; they load as fp32).")] = False,
) -> None:
    """Write a run's weights in hub layout: model.safetensors, config.json, README.md."""
    from ..training.export import export_run, push_to_hub

    try:
        folder = export_run(run_dir, out, overwrite=overwrite, fp16=not fp32)
        console.print(f"exported to {shown(folder)}")
        if push:
            console.print(f"uploaded: {shown(push_to_hub(folder, push))}")
    except (ValueError, OSError, RuntimeError) as exc:
        raise fail(str(exc))


# ----------------------------------------------------------------------------------------- serve
SERVE_EXAMPLES = """
Examples:

  restormixer serve                                   # http://127.0.0.1:7860, every available task

  restormixer serve --task denoise --device cuda --port 8000

  curl -F file=@photo.jpg 'http://127.0.0.1:7860/restore?task=denoise' -o restored.jpg
"""


@app.command(epilog=SERVE_EXAMPLES)
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on; 0.0.0.0 opens the server to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 7860,
    task: Annotated[Optional[list[Task]], typer.Option(help="Task to serve (repeatable; default: every available task).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.", autocompletion=_devices)] = "auto",
    precision: Annotated[Precision, typer.Option(help="auto: fp16 on CUDA, fp32 elsewhere.")] = "auto",
    tile: Annotated[Optional[int], typer.Option(help="Tile size in pixels; 0 = whole image; default: fit memory.")] = None,
    tile_overlap: Annotated[int, typer.Option(help="Overlap between tiles in pixels.")] = 32,
    max_upload_mb: Annotated[float, typer.Option(help="Refuse request bodies larger than this many MiB.", min=0.001)] = 50,
    max_pixels: Annotated[int, typer.Option(help="Refuse images with more pixels than this (0 = no limit).", min=0)] = 16_000_000,
    queue: Annotated[int, typer.Option(help="Requests in progress at once: the running one and those waiting their turn; more get HTTP 429.", min=1)] = DEFAULT_QUEUE,
    timeout: Annotated[float, typer.Option(help="Seconds a request may take (upload, wait, restore); then HTTP 503.", min=0.001)] = 300,
) -> None:
    """Serve a web page and an HTTP API that restore uploaded images (needs the serve extra)."""
    from .serve import run_serve

    limits = dict(max_upload_bytes=int(max_upload_mb * 2**20), max_pixels=max_pixels or None, queue=queue,
                  timeout=timeout)
    raise typer.Exit(run_serve(host, port, [t.value for t in task or []], device, Precision(precision).value, tile,
                               tile_overlap, limits, err))


# ------------------------------------------------------------------------------------------ demo
@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's images and pictures.")] = Path("demo"),
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.", autocompletion=_devices)] = "auto",
) -> None:
    """Restore sample photos degraded with a fixed seed, for every embedded checkpoint; print PSNR/SSIM."""
    from .demo import run_demo

    raise typer.Exit(run_demo(out, device, console, err))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt as exc:  # SIGTERM too, where a command turns it into one (Terminated: 143)
        err.print("interrupted")
        sys.exit(getattr(exc, "exit_code", 130))
