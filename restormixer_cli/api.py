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

from .inference import DEFAULT_OVERLAP
from .inference.engine import Restorer
from .inference.files import FileRestorer, FileResult, OutputOptions, RestoreRun, restore_jobs
from .inference.plan import plan_run
from .inference.ray_engine import RayOptions, restore_on_ray
from .inference.spec import RestorerSpec, build_restorer


def load_restorer(task: str | None = None, weights: str | None = None, device: str = "auto",
                  precision: str = "auto", tile: int | None = None, tile_overlap: int = DEFAULT_OVERLAP,
                  batch_size: int = 1, self_ensemble: bool = False, compile: bool = False,
                  endpoint: str | None = None, notice: Callable[[str], None] = lambda message: None,
                  scale: int | None = None, outscale: float | None = None) -> Restorer:
    """A ready-to-run restorer for ``task`` (registry checkpoint; with neither it nor ``weights``, the
    default task) or explicit ``weights``; ``scale`` is the upscaling factor of a super-resolution
    task or of weights that enlarge (default: their first), ``outscale`` any final factor (3.5: the
    model upscales by ``scale``, by default the task's smallest factor at or above it, then the result
    is resized). ``notice`` hears what is worth telling while it loads."""
    spec = RestorerSpec(task, weights, device, precision, tile, tile_overlap, batch_size, self_ensemble, compile,
                        endpoint, scale, outscale)
    return build_restorer(spec, notice)


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
    return _results(restore_jobs(plan_run(_listed(inputs), output_dir, options), FileRestorer(restorer, options)))


def restore_paths_on_ray(inputs: str | Path | list[str | Path], output_dir: str | Path,
                         options: OutputOptions | None = None, ray_options: RayOptions | None = None,
                         **restorer_args: object) -> list[FileResult]:
    """:func:`restore_paths` on Ray workers (the ``ray`` extra), each loading
    ``load_restorer(**restorer_args)`` once (arguments that cannot work are a ValueError before
    anything starts); ``ray_options`` says where (default: a Ray instance started for the run, or
    the one this process is connected to) and how many workers. Results come in input order; the
    same failures, stops and exceptions as :func:`restore_paths`."""
    options = options or OutputOptions()
    spec = RestorerSpec(**restorer_args)
    jobs = plan_run(_listed(inputs), output_dir, options)
    return _results(restore_on_ray(jobs, spec, options, ray_options or RayOptions()))


def _listed(inputs: str | Path | list[str | Path]) -> list[str | Path]:
    """One input as a list of one."""
    return [inputs] if isinstance(inputs, (str, Path)) else inputs


def _results(run: RestoreRun) -> list[FileResult]:
    """A run's results, or the exception that says why it stopped early."""
    if run.interrupted:
        raise KeyboardInterrupt
    if run.disk_full is not None:
        raise OSError(errno.ENOSPC, "disk full", str(run.disk_full))
    return run.results
