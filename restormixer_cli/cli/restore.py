"""`restormixer restore`: its options, the request they make (:mod:`.restore_request`), and
standard input and output. The request's checks need neither PyTorch nor a model, so that a usage
error answers at once; the run itself, which loads them, is :mod:`.restore_run`."""

from __future__ import annotations

import io
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer
from PIL import Image
from rich.console import Console

from ..hub.registry import load_registry
from ..inference import DEFAULT_OVERLAP
from ..inference.spec import RestorerSpec
from ..io import DEFAULT_MAX_PIXELS, DEFAULT_QUALITY
from ..io.formats import DEFAULT_CRF, FORMATS, IMAGE_FORMAT_NAMES, LOSSY_FORMAT_NAMES, MAX_CRF, extension_for
from ..io.video import clip_kind
from ..signals import StopSignals
from .common import (DEVICE_HELP, USAGE_ERROR, Codec, Engine, Extension, Precision, Task, Threads, complete_device,
                     console, err, fail, is_stdout, print_error)
from .restore_request import RestoreRequest

EXAMPLES = """
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
UPSCALING = "; ".join(f"{name}: {', '.join(map(str, entry.scales))}, default {entry.scales[0]}"
                      for name, entry in load_registry().items() if entry.scales)


def restore(
    inputs: Annotated[list[str], typer.Argument(help="Images, videos, animated GIF/WebP, folders (recursive) or glob patterns; paths or URIs (s3://bucket/prefix/).")],
    output: Annotated[str, typer.Option("--output", "-o", help="Output folder or URI prefix (mirrors input folders).")] = "restored",
    task: Annotated[Optional[Task], typer.Option(help="Checkpoint to restore with (see `restormixer models`; default: the one marked default there).")] = None,
    weights: Annotated[Optional[str], typer.Option(help="Weights file, hub-layout folder, or hub repo_id\\[@revision].")] = None,
    scale: Annotated[Optional[int], typer.Option(help=f"Super-resolution: how many times larger ({UPSCALING}).", min=1)] = None,
    outscale: Annotated[Optional[float], typer.Option(help="Super-resolution: any final factor, such as 3.5: the model upscales by --scale (default: its smallest at or above it), then the result is resized (bicubic).")] = None,
    tile: Annotated[Optional[int], typer.Option(help="Tile size in pixels; 0 = whole image; default: fit memory.")] = None,
    tile_overlap: Annotated[int, typer.Option(help="Overlap between tiles in pixels.")] = DEFAULT_OVERLAP,
    device: Annotated[str, typer.Option(help=DEVICE_HELP, autocompletion=complete_device)] = "auto",
    precision: Annotated[Precision, typer.Option(help="auto: fp16 on CUDA, fp32 elsewhere.")] = "auto",
    batch_size: Annotated[int, typer.Option(help="Tiles (or whole video frames) per forward pass.")] = 1,
    threads: Threads = 0,
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
    if skip_existing and overwrite:
        raise fail("--skip-existing and --overwrite exclude each other", USAGE_ERROR)
    try:
        spec = RestorerSpec(task.value if task else None, weights, device, Precision(precision).value, tile,
                            tile_overlap, batch_size, self_ensemble, compile, endpoint, scale, outscale)
        request = RestoreRequest(
            inputs, output, spec, suffix, Extension(ext).value,
            "skip" if skip_existing else "overwrite" if overwrite else "error", gt, y_channel, crop_border, compare,
            json_report, quiet, max_pixels, quality, crf, Codec(codec).value if codec else None, Engine(engine).value,
            address, workers, gpus_per_worker, threads)
    except ValueError as exc:
        raise fail(exc, USAGE_ERROR)
    raise typer.Exit(run_restore(request, console, err))


def run_restore(request: RestoreRequest, console: Console, err: Console) -> int:
    """Run a restore request; returns the process exit code (0 only if every file succeeded).
    ``-`` as an input reads an image from standard input; ``-o -`` writes the result to standard output."""
    from .restore_run import run_files  # PyTorch and the model, once the options are known to work

    if not any(map(is_stdout, [request.output, *request.inputs])):
        with StopSignals() as stops:
            return run_files(request, console, err, stops)
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
        if is_stdout(output):
            if len(inputs) != 1 or Path(inputs[0]).is_dir():
                return print_error(err, "-o - (standard output) takes exactly one input image", USAGE_ERROR)
            if Path(inputs[0]).suffix.lower() not in FORMATS or clip_kind(Path(inputs[0])):
                return print_error(err, "-o - (standard output) takes an image, not a video or animation: "
                                        "give an output file", USAGE_ERROR)
            suffix = Path(inputs[0]).suffix.lower() if request.ext == "same" else f".{request.ext}"
            output = str(Path(scratch) / "out" / f"stdout{suffix if suffix in FORMATS else '.png'}")
            labels[output] = "standard output"
        with StopSignals() as stops:  # the restored image goes out whole, or not at all
            code = run_files(replace(request, inputs=inputs, output=output), err, err, stops, labels)
            if is_stdout(request.output) and code == 0:
                sys.stdout.buffer.write(Path(output).read_bytes())
                sys.stdout.buffer.flush()
        return stops.exit_code or code
