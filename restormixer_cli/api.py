"""The Python API: everything the command line does, as plain functions.

>>> import restormixer_cli
>>> clean = restormixer_cli.restore(pil_image, task="derain")        # same kind back: PIL, numpy, torch
>>> restorer = restormixer_cli.load_restorer(task="denoise")         # load once, call many times
>>> clean = restorer(noisy_array)
>>> results = restormixer_cli.restore_paths("noisy/", "restored/", restorer)   # files, written faithfully
>>> results = restormixer_cli.restore_paths_on_ray("s3://bucket/in/", "s3://bucket/out/", task="derain")
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path

from .hub.registry import default_task, get_task, upscaling_factor
from .inference.devices import resolve_device, resolve_precision
from .inference.engine import InferenceSettings, Restorer, prepare_model
from .inference.files import FileRestorer, FileResult, Job, OutputOptions, RestoreRun, plan_restore, restore_jobs
from .inference.ray_engine import RayOptions, restore_on_ray
from .inference.remote import plan_remote
from .inference.router import AutoRestorer
from .io.storage import is_uri
from .model.pretrained import resolve_weights
from .model.restormixer import build_model


def load_restorer(task: str | None = None, weights: str | None = None, device: str = "auto",
                  precision: str = "auto", tile: int | None = None, tile_overlap: int = 32, batch_size: int = 1,
                  self_ensemble: bool = False, compile: bool = False, endpoint: str | None = None,
                  notice: Callable[[str], None] = lambda message: None, scale: int | None = None,
                  outscale: float | None = None) -> Restorer:
    """A ready-to-run restorer for ``task`` (registry checkpoint; with neither it nor ``weights``, the
    default task) or explicit ``weights``; ``scale`` is the upscaling factor of a super-resolution
    task or of weights that enlarge (default: their first), ``outscale`` any final factor (3.5: the
    model upscales by ``scale``, by default the task's smallest factor at or above it, then the result
    is resized)."""
    task = task if task is not None or weights is not None else default_task()
    scale = upscaling_factor(task, scale, outscale)
    torch_device = resolve_device(device)
    settings = InferenceSettings(torch_device, resolve_precision(precision, torch_device), tile, tile_overlap, batch_size,
                                 self_ensemble)
    if task is not None and get_task(task).kind == "router":
        if weights is not None:
            raise ValueError(f"task {task!r} picks the checkpoints of other tasks; it takes no weights")

        def load_task(name: str) -> Restorer:
            return load_restorer(name, None, device, precision, tile, tile_overlap, batch_size, self_ensemble,
                                 compile, endpoint, notice)
        return AutoRestorer(load_task, settings)
    loaded = resolve_weights(task, weights, endpoint, notice=notice)
    model = build_model(loaded)
    if model.upscales and scale not in model.upscales:  # weights with upscaling tails enlarge by those only
        if task is not None or scale != 1:
            served = ", ".join(map(str, model.upscales))
            raise ValueError(f"{loaded.source or 'these weights'} enlarge by {served}, not by {scale}")
        scale = min((s for s in model.upscales if s >= (outscale or 0)), default=max(model.upscales))
    model = prepare_model(model, settings, compile=compile)
    return Restorer(model, settings, on_notice=notice, source=loaded.source, weights_sha256=loaded.sha256, scale=scale,
                    outscale=outscale)


def restore(image: object, task: str | None = None, weights: str | None = None, **options) -> object:
    """Restore one image with ``task``'s checkpoint (or ``weights``); returns the same kind of image.

    ``image`` may be a ``PIL.Image``, a numpy array ((H, W) or (H, W, C); uint8, uint16 or float in
    [0, 1]), a float tensor ((C, H, W) or (B, C, H, W)), an image file's path (a ``PIL.Image``
    comes back) or the bytes of an image file (the bytes of a file in the same format come back,
    metadata kept). ``options`` are :func:`load_restorer`'s; to restore many images, load once.
    """
    return load_restorer(task, weights, **options)(image)


def restore_paths(inputs: str | Path | list[str | Path], output_dir: str | Path, restorer: Restorer,
                  options: OutputOptions | None = None) -> list[FileResult]:
    """Restore files, folders and glob patterns (images, videos, animations) into ``output_dir``; one
    result per input file (a file that cannot be read or written is a ``"failed"`` result and the
    others go on).

    Raises PlanError before any work if an output would replace an input or exists already,
    OSError (ENOSPC) if the disk fills up, and KeyboardInterrupt after Ctrl-C; outputs written
    before either are complete, the one in progress is not left behind."""
    options = options or OutputOptions()
    return _results(restore_jobs(_plan_paths(inputs, output_dir, options), FileRestorer(restorer, options)))


def restore_paths_on_ray(inputs: str | Path | list[str | Path], output_dir: str | Path,
                         options: OutputOptions | None = None, ray_options: RayOptions | None = None,
                         **restorer_args: object) -> list[FileResult]:
    """:func:`restore_paths` on Ray workers (the ``ray`` extra), each loading
    ``load_restorer(**restorer_args)`` once; ``ray_options`` says where (default: a Ray instance
    started for the run, or the one this process is connected to) and how many workers. Results
    come in input order; the same failures, stops and exceptions as :func:`restore_paths`."""
    options = options or OutputOptions()
    jobs = _plan_paths(inputs, output_dir, options)
    return _results(restore_on_ray(jobs, restorer_args, options, ray_options or RayOptions()))


def _plan_paths(inputs: str | Path | list[str | Path], output_dir: str | Path, options: OutputOptions) -> list[Job]:
    """The jobs for local inputs and outputs, or for s3:// and gs:// URIs on either side."""
    specs = [str(spec) for spec in ([inputs] if isinstance(inputs, (str, Path)) else inputs)]
    if any(map(is_uri, [str(output_dir), *specs])):
        options.output_dir = Path()
        return plan_remote(specs, str(output_dir), options)
    options.output_dir = Path(output_dir)
    return plan_restore(specs, options)


def _results(run: RestoreRun) -> list[FileResult]:
    """A run's results, or the exception that says why it stopped early."""
    if run.interrupted:
        raise KeyboardInterrupt
    if run.disk_full is not None:
        raise OSError(errno.ENOSPC, "disk full", str(run.disk_full))
    return run.results
