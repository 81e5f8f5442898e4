"""`restormixer restore`: the request, its option checks and standard input and output. The checks
need neither PyTorch nor a model, so that a usage error answers at once; the run itself, which
loads them, is :mod:`.restore_run`."""

from __future__ import annotations

import io
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image
from rich.console import Console

from ..hub.registry import default_task, upscaling_factor
from ..inference.checks import check_device_and_precision, check_tiling
from ..io import DEFAULT_MAX_PIXELS, DEFAULT_QUALITY
from ..io.formats import DEFAULT_CRF, FORMATS, IMAGE_FORMAT_NAMES, extension_for
from ..io.video import clip_kind
from ..signals import StopSignals
from .app import USAGE_ERROR
from .messages import print_error

if TYPE_CHECKING:
    from ..inference.files import Existing


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


def checked_request(request: RestoreRequest) -> RestoreRequest:
    """``request`` with the default task filled in; ValueError (a usage error) for options that
    cannot work, found without loading anything."""
    if request.task is None and request.weights is None:
        request = replace(request, task=default_task())
        if request.task is None:
            raise ValueError("give --task (see `restormixer models`) or --weights")
    if request.output == STDOUT and request.json_report == STDOUT:
        raise ValueError("-o - and --json - both write to standard output: give the report a file name")
    if request.gt is None and (request.y_channel or request.crop_border):
        raise ValueError("--y-channel and --crop-border say how to score against --gt: give --gt, or leave them out")
    upscaling_factor(request.task, request.scale, request.outscale)
    check_tiling(request.tile, request.tile_overlap, request.batch_size)
    check_device_and_precision(request.device, request.precision)
    return request


def run_restore(request: RestoreRequest, console: Console, err: Console) -> int:
    """Run a restore request; returns the process exit code (0 only if every file succeeded).
    ``-`` as an input reads an image from standard input; ``-o -`` writes the result to standard output."""
    try:
        request = checked_request(request)
    except ValueError as exc:
        return print_error(err, exc, USAGE_ERROR)
    from .restore_run import run_files  # PyTorch and the model, once the options are known to work

    if STDOUT not in (request.output, *map(Path, request.inputs)):
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
        if output == STDOUT:
            if len(inputs) != 1 or Path(inputs[0]).is_dir():
                return print_error(err, "-o - (standard output) takes exactly one input image", USAGE_ERROR)
            if Path(inputs[0]).suffix.lower() not in FORMATS or clip_kind(Path(inputs[0])):
                return print_error(err, "-o - (standard output) takes an image, not a video or animation: "
                                        "give an output file", USAGE_ERROR)
            suffix = Path(inputs[0]).suffix.lower() if request.ext == "same" else f".{request.ext}"
            output = Path(scratch) / "out" / f"stdout{suffix if suffix in FORMATS else '.png'}"
            labels[str(output)] = "standard output"
        with StopSignals() as stops:  # the restored image goes out whole, or not at all
            code = run_files(replace(request, inputs=inputs, output=output), err, err, stops, labels)
            if request.output == STDOUT and code == 0:
                sys.stdout.buffer.write(output.read_bytes())
                sys.stdout.buffer.flush()
        return stops.exit_code or code
